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
	TCP uint8 = 6
	UDP uint8 = 17
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
func AppendV1(b []byte, seed uint16, src, dst netip.AddrPort, proto uint8) []byte {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	sp, dp := src.Port(), dst.Port()
	if c := sa.Compare(da); c > 0 || c == 0 && sp > dp {
		sa, da, sp, dp = da, sa, dp, sp
	}
	var in [2 + 16 + 16 + 2 + 4]byte
	buf := binary.BigEndian.AppendUint16(in[:0], seed)
	buf = append(buf, sa.AsSlice()...)
	buf = append(buf, da.AsSlice()...)
	buf = append(buf, proto, 0)
	buf = binary.BigEndian.AppendUint16(buf, sp)
	buf = binary.BigEndian.AppendUint16(buf, dp)
	sum := sha1.Sum(buf)
	return base64.StdEncoding.AppendEncode(append(b, "1:"...), sum[:])
}
