package flow

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/communityid"
)

// Datagram conversations (issue #11 §2): UDP, ICMP and every other IP
// protocol, one conversation per pair of endpoints (per pair of hosts for
// protocols without ports, ICMP included), kept with an Observer only.
// There is nothing to reassemble: a conversation is its counters and the
// first payload of each direction. It ends after DatagramTimeout without a
// packet, when evicted by the cap, or when the table closes.

// dgKey names a conversation whichever way a datagram goes: endpoint a is
// the lesser.
type dgKey struct {
	proto uint8
	a, b  netip.AddrPort
}

// dgConv is one datagram conversation.
type dgConv struct {
	key        dgKey
	prev, next *dgConv
	lastSeen   int64 // ns, packet time
	client     netip.AddrPort
	cnt        counters
	sniff      *sniff
	conn       Conn
}

// datagrams holds the conversations, least recently active at the tail.
type datagrams struct {
	m          map[dgKey]*dgConv
	head, tail *dgConv
}

func newDatagrams(on bool) *datagrams {
	if !on {
		return nil
	}
	return &datagrams{m: map[dgKey]*dgConv{}}
}

func (l *datagrams) pushFront(c *dgConv) {
	c.prev, c.next = nil, l.head
	if l.head != nil {
		l.head.prev = c
	}
	l.head = c
	if l.tail == nil {
		l.tail = c
	}
}

func (l *datagrams) unlink(c *dgConv) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

// due reports whether the least recently active conversation is idle past
// timeout at now.
func (l *datagrams) due(now int64, timeout time.Duration) bool {
	return l.tail != nil && olderThan(now, l.tail.lastSeen, timeout)
}

// datagram is one IP datagram that is not TCP, as the Decoder left it.
type datagram struct {
	proto          uint8
	src, dst       netip.Addr
	sport, dport   uint16 // UDP ports; ICMP type and code
	payload        []byte
	srcMAC, dstMAC [6]byte
	hasMAC         bool
}

// datagram reads, from the layers the Decoder decoded, the IP datagram
// that did not carry TCP. ok is false for anything else (ARP, a fragment
// after the first, a frame without IP).
func (d *Decoder) datagram(out *datagram) bool {
	n := len(d.decoded)
	if n == 0 {
		return false
	}
	*out = datagram{}
	if d.decoded[0] == layers.LayerTypeEthernet {
		copy(out.srcMAC[:], d.eth.SrcMAC)
		copy(out.dstMAC[:], d.eth.DstMAC)
		out.hasMAC = true
	}
	var body []byte
	switch d.decoded[n-1] {
	case layers.LayerTypeIPv4:
		ip := &d.ip4
		if ip.Version != 4 || ip.FragOffset != 0 {
			return false
		}
		out.proto = uint8(ip.Protocol)
		out.src, _ = netip.AddrFromSlice(ip.SrcIP)
		out.dst, _ = netip.AddrFromSlice(ip.DstIP)
		body = ip.Payload
	case layers.LayerTypeIPv6, layers.LayerTypeIPv6HopByHop, layers.LayerTypeIPv6Routing, layers.LayerTypeIPv6Destination:
		ip := &d.ip6
		if ip.Version != 6 {
			return false
		}
		out.src, _ = netip.AddrFromSlice(ip.SrcIP)
		out.dst, _ = netip.AddrFromSlice(ip.DstIP)
		if d.decoded[n-1] == layers.LayerTypeIPv6 {
			out.proto, body = uint8(ip.NextHeader), ip.Payload
		} else {
			out.proto, body = uint8(d.ext6.NextHeader), d.ext6.Payload
		}
	default:
		return false
	}
	if !out.src.IsValid() || !out.dst.IsValid() {
		return false
	}
	out.src, out.dst = out.src.Unmap(), out.dst.Unmap()
	switch out.proto {
	case TransportTCP:
		// TCP the segment path did not take: a fragment, a broken
		// header. Not a conversation of its own.
		return false
	case TransportUDP:
		if len(body) < 8 {
			return false
		}
		out.sport, out.dport = binary.BigEndian.Uint16(body[0:]), binary.BigEndian.Uint16(body[2:])
		end := int(binary.BigEndian.Uint16(body[4:]))
		if end < 8 || end > len(body) {
			end = len(body) // a snapped datagram keeps what was captured
		}
		out.payload = body[8:end]
	case TransportICMP, TransportICMPv6:
		if len(body) < 4 {
			return false
		}
		out.sport, out.dport = uint16(body[0]), uint16(body[1])
		out.payload = body[4:]
	default:
		out.payload = body
	}
	return true
}

// datagram counts one non-TCP frame into its conversation.
func (t *Table) datagram(p *capture.Packet) {
	var dg datagram
	if !t.dec.datagram(&dg) {
		return
	}
	now := p.Timestamp.UnixNano()
	if now > t.lastTS {
		t.lastTS = now
	}
	if t.expireDue(now) {
		t.expire(now)
	}
	src, dst := netip.AddrPortFrom(dg.src, dg.sport), netip.AddrPortFrom(dg.dst, dg.dport)
	if !HasPorts(dg.proto) {
		src, dst = netip.AddrPortFrom(dg.src, 0), netip.AddrPortFrom(dg.dst, 0)
	}
	k := dgKey{proto: dg.proto, a: src, b: dst}
	if c := k.a.Addr().Compare(k.b.Addr()); c > 0 || c == 0 && k.a.Port() > k.b.Port() {
		k.a, k.b = k.b, k.a
	}
	l := t.dgrams
	c := l.m[k]
	if c == nil {
		c = t.newDatagramConv(k, &dg, src, dst, now)
	} else {
		c.lastSeen = max(c.lastSeen, now)
		if l.head != c {
			l.unlink(c)
			l.pushFront(c)
		}
	}
	dir := ClientToServer
	if src != c.client {
		dir = ServerToClient
	}
	c.cnt.count(dir, p.Length, 0, len(dg.payload))
	if c.sniff != nil && len(dg.payload) > 0 && c.sniff.add(dir, dg.payload, &t.sniffHeld) {
		t.observeFirst(&c.conn, &c.sniff, now)
	}
}

// HasPorts reports whether a transport's conversations are told apart by
// port (TCP, UDP) or only by host pair (ICMP and the rest): whether Conn's
// ports are ports.
func HasPorts(transport uint8) bool { return transport == TransportTCP || transport == TransportUDP }

// newDatagramConv starts the conversation of a first datagram from src to
// dst. Its sender is the client unless the datagram is plainly an answer:
// from a well-known port to an ephemeral one, or an ICMP reply.
func (t *Table) newDatagramConv(k dgKey, dg *datagram, src, dst netip.AddrPort, now int64) *dgConv {
	l := t.dgrams
	for len(l.m) >= t.cfg.MaxDatagramConvs && l.tail != nil {
		t.stats.DatagramEvicted++
		t.endDatagram(l.tail, CloseEvicted, now)
	}
	answer := false
	switch dg.proto {
	case TransportUDP:
		answer = dg.sport < 1024 && dg.dport >= 1024
	case TransportICMP, TransportICMPv6:
		_, answer = communityid.ICMPRequest(dg.proto == TransportICMPv6, uint8(dg.sport))
	}
	c := &dgConv{key: k, lastSeen: now, client: src, sniff: &sniff{}}
	c.cnt.start = now
	cli, srv, cmac, smac := dg.src, dg.dst, dg.srcMAC, dg.dstMAC
	cport, sport := dg.sport, dg.dport
	if answer {
		c.client = dst
		cli, srv, cmac, smac = srv, cli, smac, cmac
		cport, sport = dg.dport, dg.sport
	}
	switch dg.proto {
	case TransportICMP, TransportICMPv6:
		// The Community ID's ports, from the client's side: the
		// request's type and the type of its answer, or, for a
		// message with no answer, its type and code.
		v6, typ := dg.proto == TransportICMPv6, uint8(dg.sport)
		if req, ok := communityid.ICMPRequest(v6, typ); ok {
			typ = req
		}
		cport, sport, _ = communityid.ICMPPorts(v6, typ, uint8(dg.dport))
	case TransportUDP:
	default:
		cport, sport = 0, 0
	}
	t.nextID++
	c.conn = Conn{ID: t.nextID, Transport: dg.proto,
		Key: Key{ClientIP: cli, ServerIP: srv, ClientPort: cport, ServerPort: sport}}
	if dg.hasMAC {
		c.conn.ClientMAC, c.conn.ServerMAC = cmac, smac
	}
	l.m[k] = c
	l.pushFront(c)
	t.stats.DatagramConvs++
	return c
}

// endDatagram reports and forgets a conversation.
func (t *Table) endDatagram(c *dgConv, reason CloseReason, now int64) {
	l := t.dgrams
	l.unlink(c)
	delete(l.m, c.key)
	if c.sniff != nil {
		t.observeFirst(&c.conn, &c.sniff, now)
	}
	sum := c.cnt.summary(c.cnt.datagramState(), reason, c.lastSeen)
	t.observeEnd(&c.conn, &sum)
}

// expireDatagrams ends the conversations idle past DatagramTimeout at now.
func (t *Table) expireDatagrams(now int64) {
	for t.dgrams.due(now, t.cfg.DatagramTimeout) {
		t.endDatagram(t.dgrams.tail, CloseIdle, now)
	}
}

// closeDatagrams ends every conversation, least recently active first.
func (t *Table) closeDatagrams(now int64) {
	if t.dgrams == nil {
		return
	}
	for t.dgrams.tail != nil {
		t.endDatagram(t.dgrams.tail, CloseEnd, now)
	}
}
