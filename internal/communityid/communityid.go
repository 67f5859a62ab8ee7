// Package communityid computes the Community ID of a flow (version 1,
// https://github.com/corelight/community-id-spec): the hash Zeek,
// Suricata, Wireshark and many SIEMs write beside a connection, so that
// one flow's records from different tools join on one field.
package communityid

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
)

// Protocol numbers (IANA) of the transports Sluice sees.
const (
	ICMP   uint8 = 1
	TCP    uint8 = 6
	UDP    uint8 = 17
	ICMPv6 uint8 = 58
	SCTP   uint8 = 132
)

// V1 returns the version 1 Community ID, "1:" and the base64 of the SHA-1
// of seed, the two endpoints in a canonical order (the lesser address
// first; equal addresses, the lesser port first), the protocol and a zero
// padding octet, as the specification writes it. IPv4-mapped IPv6
// addresses are hashed as IPv4, as the packets carry them.
func V1(seed uint16, src, dst netip.AddrPort, proto uint8) string {
	return string(AppendV1(nil, seed, src, dst, proto))
}

// AppendV1 appends V1's id to b, allocating nothing when b has room (29
// octets for an id).
//
// For ICMP and ICMPv6 the ports are the message's type and code, or, for a
// message that has an answer (echo, timestamp…), its type and the answer's
// type (ICMPPorts gives them); a message without an answer is one-way and
// keeps its direction. Protocols other than TCP, UDP, SCTP and ICMP have no
// ports: they are not hashed.
func AppendV1(b []byte, seed uint16, src, dst netip.AddrPort, proto uint8) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	sp, dp := src.Port(), dst.Port()
	ports := proto == TCP || proto == UDP || proto == SCTP || proto == ICMP || proto == ICMPv6
	oneWay := false
	if proto == ICMP || proto == ICMPv6 {
		_, _, oneWay = ICMPPorts(proto == ICMPv6, uint8(sp), uint8(dp))
	}
	if c := sa.Compare(da); !oneWay && (c > 0 || c == 0 && ports && sp > dp) {
		sa, da, sp, dp = da, sa, dp, sp
	}
	var in [2 + 16 + 16 + 2 + 4]byte
	buf := binary.BigEndian.AppendUint16(in[:0], seed)
	buf = append(buf, sa.AsSlice()...)
	buf = append(buf, da.AsSlice()...)
	buf = append(buf, proto, 0)
	if ports {
		buf = binary.BigEndian.AppendUint16(buf, sp)
		buf = binary.BigEndian.AppendUint16(buf, dp)
	}
	sum := sha1.Sum(buf)
	return base64.StdEncoding.AppendEncode(append(b, "1:"...), sum[:])
}

// The ICMP messages that have an answer, request first, as the
// specification pairs them.
var (
	icmpPairs  = [...][2]uint8{{8, 0}, {13, 14}, {15, 16}, {10, 9}, {17, 18}}
	icmp6Pairs = [...][2]uint8{{128, 129}, {130, 131}, {133, 134}, {135, 136}, {139, 140}, {144, 145}}
)

// ICMPPorts returns the Community ID's ports of an ICMP (v6: ICMPv6)
// message of type typ and code code: its type and the type that pairs
// with it (a request's answer, an answer's request), or, for a message
// that has none, its type and code, one-way.
func ICMPPorts(v6 bool, typ, code uint8) (sport, dport uint16, oneWay bool) {
	pairs := icmpPairs[:]
	if v6 {
		pairs = icmp6Pairs[:]
	}
	for _, p := range pairs {
		switch typ {
		case p[0]:
			return uint16(typ), uint16(p[1]), false
		case p[1]:
			return uint16(typ), uint16(p[0]), false
		}
	}
	return uint16(typ), uint16(code), true
}

// ICMPRequest reports whether an ICMP message of type typ answers another
// (an echo reply, a timestamp reply), and the type of the request.
func ICMPRequest(v6 bool, typ uint8) (uint8, bool) {
	pairs := icmpPairs[:]
	if v6 {
		pairs = icmp6Pairs[:]
	}
	for _, p := range pairs {
		if typ == p[1] {
			return p[0], true
		}
	}
	return 0, false
}
