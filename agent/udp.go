package agent

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/communityid"
	"github.com/sluice-ics/sluice/internal/flow"
)

// UDP conversations of the protocols that run over UDP too (DNP3, IEEE
// 1815-2012 Annex C: a datagram carries whole link frames). The flow
// table is TCP's; beside it the agent keeps, for datagrams to or from a
// port of such a protocol, one conversation per pair of endpoints, with
// the protocol's stream as a TCP connection has: the events, baselines and
// alerts are the same, their proto "UDP". Conversations end after
// IdleTimeout of packet time, are bounded in number (the least recently
// seen is closed first) and are closed at the end of a run.

// udpConv is one conversation: its stream, when it was first and last
// seen, and what its flow event says (the datagrams and their wire bytes
// each way).
type udpConv struct {
	s           flow.Stream
	client      netip.AddrPort
	start, last time.Time
	conn        flow.Conn
	pkts, bytes [2]uint64
}

// close ends the conversation's stream and writes its flow event.
func (a *Agent) closeUDP(cv *udpConv, reason flow.CloseReason, ts time.Time) {
	cv.s.Close(reason, ts)
	state := flow.StateNew
	if cv.pkts[flow.ServerToClient] > 0 {
		state = flow.StateEstablished
	}
	a.writeFlow(&cv.conn, &flow.Summary{Start: cv.start, End: cv.last, Pkts: cv.pkts, Bytes: cv.bytes, State: state, Reason: reason})
}

// udpKey names a conversation whichever way a datagram goes.
type udpKey struct{ a, b netip.AddrPort }

func udpKeyOf(x, y netip.AddrPort) udpKey {
	if c := x.Addr().Compare(y.Addr()); c > 0 || c == 0 && x.Port() > y.Port() {
		x, y = y, x
	}
	return udpKey{x, y}
}

// udpTable holds the conversations.
type udpTable struct {
	convs map[udpKey]*udpConv
	max   int
	// ports maps a port to 1 + the registry index of its UDP protocol.
	ports [1 << 16]uint8
}

// newUDPTable returns the table for the UDP protocols of cfg, nil when
// none has a port.
func newUDPTable(cfg *Config) *udpTable {
	t := &udpTable{convs: map[udpKey]*udpConv{}, max: max(cfg.MaxFlows/16, 64)}
	any := false
	for i, m := range modules {
		if !m.udp {
			continue
		}
		for _, p := range cfg.Ports[m.name] {
			t.ports[p] = uint8(i + 1)
			any = true
		}
	}
	if !any {
		return nil
	}
	return t
}

// udpPacket takes the packet when it is a UDP datagram to or from a port
// of a UDP protocol, and reports whether it did.
func (a *Agent) udpPacket(p *capture.Packet) bool {
	src, dst, payload, srcMAC, dstMAC, ok := parseUDP(p.Data, p.LinkType)
	if !ok {
		return false
	}
	t := a.udp
	proto := t.ports[dst.Port()]
	if proto == 0 {
		if proto = t.ports[src.Port()]; proto == 0 {
			return false
		}
	}
	k := udpKeyOf(src, dst)
	cv := t.convs[k]
	if cv == nil {
		cv = a.newUDPConv(k, int(proto)-1, src, dst, srcMAC, dstMAC, p.Timestamp)
	}
	cv.last = p.Timestamp
	dir := flow.ClientToServer
	if src != cv.client {
		dir = flow.ServerToClient
	}
	cv.pkts[dir]++
	cv.bytes[dir] += uint64(p.Length)
	if len(payload) > 0 {
		cv.s.Data(dir, payload, p.Timestamp)
	}
	return true
}

// newUDPConv opens the conversation of a first datagram from src to dst:
// the server is the end on the protocol's port (when both are, as DNP3's
// often are, the receiver of the first datagram).
func (a *Agent) newUDPConv(k udpKey, i int, src, dst netip.AddrPort, srcMAC, dstMAC [6]byte, ts time.Time) *udpConv {
	t := a.udp
	if len(t.convs) >= t.max {
		a.evictUDP(ts)
	}
	client, server, cmac, smac := src, dst, srcMAC, dstMAC
	if t.ports[dst.Port()] == 0 {
		client, server, cmac, smac = dst, src, dstMAC, srcMAC
	}
	c := flow.Conn{ID: a.table.NewID(), ClientMAC: cmac, ServerMAC: smac, Transport: flow.TransportUDP, AppProto: modules[i].name,
		Key: flow.Key{ClientIP: client.Addr(), ServerIP: server.Addr(), ClientPort: client.Port(), ServerPort: server.Port()}}
	cv := &udpConv{client: client, start: ts, last: ts, conn: c}
	cv.s = a.newConn(i, &c, communityid.UDP, &cv.conn.AppProto)
	t.convs[k] = cv
	return cv
}

// evictUDP closes the least recently seen conversation.
func (a *Agent) evictUDP(ts time.Time) {
	var oldest udpKey
	var cv *udpConv
	for k, c := range a.udp.convs {
		if cv == nil || c.last.Before(cv.last) {
			oldest, cv = k, c
		}
	}
	if cv != nil {
		a.closeUDP(cv, flow.CloseEvicted, ts)
		delete(a.udp.convs, oldest)
	}
}

// expireUDP closes the conversations idle for IdleTimeout at now, or all.
func (a *Agent) expireUDP(now time.Time, all bool) {
	if a.udp == nil {
		return
	}
	// In a fixed order: closing writes events.
	var done []udpKey
	for k, c := range a.udp.convs {
		if all || now.Sub(c.last) > a.cfg.IdleTimeout {
			done = append(done, k)
		}
	}
	sortUDPKeys(done, a.udp.convs)
	for _, k := range done {
		c := a.udp.convs[k]
		reason := flow.CloseIdle
		if all {
			reason = flow.CloseEnd
		}
		a.closeUDP(c, reason, now)
		delete(a.udp.convs, k)
	}
}

// sortUDPKeys orders keys by their conversation's last datagram, then by
// the endpoints.
func sortUDPKeys(keys []udpKey, convs map[udpKey]*udpConv) {
	slices.SortFunc(keys, func(x, y udpKey) int {
		return cmp.Or(convs[x].last.Compare(convs[y].last), x.a.Compare(y.a), x.b.Compare(y.b))
	})
}

// surelyNotUDP reports, from two bytes, an untagged Ethernet frame whose
// IPv4 or IPv6 header says it carries something else than UDP (nearly
// every packet of a control network is TCP): parseUDP returns a dozen
// values and costs 35 ns a packet, 8 % of a replay, to say the same.
// Anything else (VLAN tags, other link types, short frames) is left to
// parseUDP.
func surelyNotUDP(p *capture.Packet) bool {
	b := p.Data
	if p.LinkType != layers.LinkTypeEthernet || len(b) < 54 {
		return false
	}
	switch binary.BigEndian.Uint16(b[12:]) {
	case 0x0800:
		return b[23] != 17
	case 0x86dd:
		return b[20] != 17
	}
	return false
}

// parseUDP reads the endpoints and payload of an unfragmented UDP
// datagram over IPv4 or IPv6 (no extension headers), on Ethernet (with
// 802.1Q tags) or raw IP. ok is false for anything else, which the TCP
// flow table then sees.
func parseUDP(b []byte, lt layers.LinkType) (src, dst netip.AddrPort, payload []byte, srcMAC, dstMAC [6]byte, ok bool) {
	frame := b
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return
		}
		et := binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		for et == 0x8100 || et == 0x88a8 {
			if len(b) < 4 {
				return
			}
			et, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
		if et != 0x0800 && et != 0x86dd {
			return
		}
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
	default:
		return
	}
	if len(b) < 1 {
		return
	}
	var sa, da netip.Addr
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		if len(b) < 20 || ihl < 20 || len(b) < ihl || b[9] != 17 {
			return
		}
		if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 {
			return // a fragment: its payload is not a whole datagram
		}
		total := int(binary.BigEndian.Uint16(b[2:]))
		if total >= ihl && total < len(b) {
			b = b[:total] // Ethernet padding
		}
		sa, da = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		b = b[ihl:]
	case 6:
		if len(b) < 40 || b[6] != 17 {
			return
		}
		if n := int(binary.BigEndian.Uint16(b[4:])); 40+n < len(b) {
			b = b[:40+n]
		}
		sa, da = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		b = b[40:]
	default:
		return
	}
	if len(b) < 8 {
		return
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	if n < 8 || n > len(b) {
		return
	}
	if lt == layers.LinkTypeEthernet {
		// Only now: a TCP segment, nearly every packet, returns above.
		copy(dstMAC[:], frame[0:6])
		copy(srcMAC[:], frame[6:12])
	}
	src = netip.AddrPortFrom(sa, binary.BigEndian.Uint16(b[0:]))
	dst = netip.AddrPortFrom(da, binary.BigEndian.Uint16(b[2:]))
	return src, dst, b[8:n], srcMAC, dstMAC, true
}
