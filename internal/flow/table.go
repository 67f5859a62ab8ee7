package flow

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sluice-ics/sluice/internal/capture"
)

// Config bounds the flow table. Zero fields take the defaults below.
type Config struct {
	// MaxFlows caps the connections tracked at once (default 65,536, about
	// 21 MiB of table: some 330 bytes per flow, see TestMillionFlows). A
	// new connection beyond it evicts the least recently active one, which
	// is closed with CloseEvicted and counted.
	MaxFlows int
	// MaxBufferedPerFlow caps out-of-order bytes held for one direction of
	// one connection (default 1 MiB); MaxSegmentsPerFlow caps the
	// segments (default 1,024). Past either cap the hole before the
	// buffered data is given up as a gap.
	MaxBufferedPerFlow int
	MaxSegmentsPerFlow int
	// MaxBufferedTotal caps out-of-order bytes held across all
	// connections (default 32 MiB): with a full table, the flow layer
	// stays within about 60 MiB, leaving the agent room under its 128 MiB
	// budget.
	MaxBufferedTotal int
	// IdleTimeout closes a connection with no packet for this long, on
	// packet time (default 5 minutes, as Zeek's tcp_inactivity_timeout).
	IdleTimeout time.Duration
	// ClosedLinger keeps a connection that ended with FIN or RST in the
	// table for this long, on packet time (default 1 minute, Linux's
	// TIME-WAIT), to absorb its stragglers: the last ACK, a reset's echo,
	// data sent after a reset (which the receiver discards too). A SYN on
	// the same four-tuple still starts a new connection at once.
	ClosedLinger time.Duration
	// GapTimeout gives up a hole in the byte stream that no
	// retransmission has filled for this long, on packet time (default
	// 5 s, well past any retransmission timeout).
	GapTimeout time.Duration
	// ServerPort reports whether a port is a configured server port (502,
	// 4840, …). It orients connections picked up without their SYN: the
	// side on a server port is the server. Without it, or when both or
	// neither port is one, the lower port is taken as the server.
	ServerPort func(port uint16) bool
	// Observer, when set, learns of every conversation: TCP connections
	// (decoded or not) and datagram conversations (UDP, ICMP, other IP
	// protocols), which the table then tracks too (conversation.go,
	// datagram.go).
	Observer Observer
	// AttemptTimeout ends a connection whose SYN got no answer after this
	// long, on packet time (default 30 s): an unanswered attempt is
	// reported while it still matters (a scan of absent hosts), and
	// attempts are evicted first when the table is full, so a scan cannot
	// push real connections out.
	AttemptTimeout time.Duration
	// DatagramTimeout ends a datagram conversation with no packet for
	// this long (default 1 minute, as Zeek's udp and icmp inactivity
	// timeouts); MaxDatagramConvs caps them (default MaxFlows/4), the
	// least recently active evicted first.
	DatagramTimeout  time.Duration
	MaxDatagramConvs int
}

// Defaults for Config's zero fields.
const (
	DefaultMaxFlows           = 65536
	DefaultMaxBufferedPerFlow = 1 << 20
	DefaultMaxSegmentsPerFlow = 1024
	DefaultMaxBufferedTotal   = 32 << 20
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultGapTimeout         = 5 * time.Second
	DefaultClosedLinger       = time.Minute
	DefaultAttemptTimeout     = 30 * time.Second
	DefaultDatagramTimeout    = time.Minute
)

func (c Config) withDefaults() Config {
	if c.MaxFlows <= 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.MaxBufferedPerFlow <= 0 {
		c.MaxBufferedPerFlow = DefaultMaxBufferedPerFlow
	}
	if c.MaxSegmentsPerFlow <= 0 {
		c.MaxSegmentsPerFlow = DefaultMaxSegmentsPerFlow
	}
	if c.MaxBufferedTotal <= 0 {
		c.MaxBufferedTotal = DefaultMaxBufferedTotal
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.GapTimeout <= 0 {
		c.GapTimeout = DefaultGapTimeout
	}
	if c.ClosedLinger <= 0 {
		c.ClosedLinger = DefaultClosedLinger
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.DatagramTimeout <= 0 {
		c.DatagramTimeout = DefaultDatagramTimeout
	}
	if c.MaxDatagramConvs <= 0 {
		c.MaxDatagramConvs = max(c.MaxFlows/4, 64)
	}
	return c
}

// Stats are the flow table's counters since it was created.
type Stats struct {
	Packets uint64 // frames handed to the table
	Bytes   uint64 // captured bytes of those frames
	// TCPPackets are frames that decoded to a TCP segment; the rest
	// carried something else (ARP, UDP, fragments) or failed to decode.
	TCPPackets   uint64
	DecodeErrors uint64 // malformed or truncated frames, unsupported link types
	// Stray counts segments that belong to no open connection: without
	// payload or SYN for an unknown one, or after a connection closed
	// (the final ACK, a reset's echo, data after a reset). They start no
	// flow; their payload counts in BytesDropped.
	Stray uint64

	FlowsCreated uint64
	FlowsActive  uint64 // open now (not counting closed ones lingering)
	FlowsIgnored uint64 // created but of no interest to the factory
	Evicted      uint64 // closed to respect MaxFlows
	IdleExpired  uint64 // closed by IdleTimeout

	OutOfOrder      uint64 // segments buffered ahead of a hole
	Retransmissions uint64 // segments whose bytes (some or all) were already delivered
	Gaps            uint64 // holes given up (Stream.Gap calls)
	GapBytes        uint64 // bytes those holes spanned
	// BytesDropped is payload seen but never delivered: data after a FIN,
	// far outside the window, or on a connection whose Stream panicked.
	BytesDropped    uint64
	BufferedBytes   uint64 // out-of-order bytes held now
	RecoveredPanics uint64 // Stream calls that panicked (that connection is then ignored)

	// Datagram conversations (with an Observer): created, and closed to
	// respect MaxDatagramConvs.
	DatagramConvs   uint64
	DatagramEvicted uint64
}

// Table tracks TCP connections and reassembles their byte streams for the
// Streams a StreamFactory provides. All time comes from packet timestamps,
// so replaying a capture gives the same calls in the same order every time.
//
// A Table is not safe for concurrent use: feed it from one goroutine.
type Table struct {
	cfg     Config
	factory StreamFactory
	dec     *Decoder
	flows   index
	// Open connections by last packet, most recent at the head: idle
	// expiry and eviction take from the tail. Closed connections lingering
	// to absorb stragglers are apart, by time of closing, so that they
	// expire on their own timeout and are the first to go when the table
	// is full.
	active, closed flowList
	// attempts are connections whose SYN is still unanswered, by time of
	// the SYN (AttemptTimeout); with an Observer only.
	attempts  flowList
	nextID    uint64
	lingering int   // len of closed
	last      *flow // the flow of the previous segment, while tracked
	stats     Stats
	// unsupported counts the frames of each link type the Decoder does
	// not handle (UnsupportedLinkTypes); nil until one comes.
	unsupported map[layers.LinkType]uint64
	lastTS      int64 // latest packet time seen, ns
	// slowOnly turns off keyed's segment fast path, for the tests that
	// check it against the general one (segment).
	slowOnly bool
	// frameLen is the wire length of the frame being handled, counted
	// into its conversation's bytes.
	frameLen int
	// dgrams are the datagram conversations (datagram.go); nil without
	// an Observer.
	dgrams *datagrams
	// sniffHeld is the first bytes held for the Observer, all
	// conversations together (sniffTotal).
	sniffHeld int
}

// NewTable returns an empty table that asks factory for a Stream per new
// connection.
func NewTable(cfg Config, factory StreamFactory) *Table {
	return &Table{
		cfg:     cfg.withDefaults(),
		factory: factory,
		dec:     NewDecoder(),
		flows:   newIndex(),
		dgrams:  newDatagrams(cfg.Observer != nil),
	}
}

// NewID returns a flow id no connection of the table has or will have,
// for a conversation tracked beside it (the agent's UDP conversations):
// flow ids stay unique within the run, in order of first packet.
func (t *Table) NewID() uint64 {
	t.nextID++
	return t.nextID
}

// Config returns the table's configuration, defaults filled in.
func (t *Table) Config() Config { return t.cfg }

// Stats returns the counters so far.
func (t *Table) Stats() Stats {
	s := t.stats
	s.FlowsActive = uint64(t.flows.n - t.lingering)
	return s
}

// Packet handles one captured frame (read, not retained). When the capture
// snapped it (Length exceeds len(Data)), the TCP payload bytes cut off are
// reported to the Stream as a Gap rather than silently shifting the stream.
// It takes the Packet by pointer: a Packet is eight words, which a call by
// value moves through registers and spills around the decoder's call.
func (t *Table) Packet(p *capture.Packet) { t.handle(p) }

// Handle decodes one whole (not snapped) frame of link type lt captured at
// ts and feeds its TCP segment, if any, to the connection it belongs to.
// data is not retained.
func (t *Table) Handle(data []byte, lt layers.LinkType, ts time.Time) {
	t.handle(&capture.Packet{Data: data, Timestamp: ts, Length: len(data), LinkType: lt})
}

func (t *Table) handle(p *capture.Packet) {
	data := p.Data
	t.stats.Packets++
	t.stats.Bytes += uint64(len(data))
	t.frameLen = p.Length
	d := t.dec
	if p.LinkType == layers.LinkTypeEthernet && d.fastEthernet(data) {
		// Decode's fast path, called here directly (one call fewer
		// per packet); it made the flow key too.
		seg := &d.seg
		t.stats.TCPPackets++
		if snapped := p.Length - len(p.Data); snapped <= 0 {
			seg.Missing = 0
		} else {
			seg.Missing = min(seg.Missing, snapped)
		}
		t.keyed(seg, &d.key, d.srcIsA, p.Timestamp.UnixNano())
		return
	}
	seg, err := d.decodeLayers(data, p.LinkType)
	if err != nil {
		t.stats.DecodeErrors++
		if err == ErrLinkType {
			if t.unsupported == nil {
				t.unsupported = map[layers.LinkType]uint64{}
			}
			t.unsupported[p.LinkType]++
		}
		return
	}
	if seg == nil {
		if t.dgrams != nil {
			t.datagram(p)
		}
		return
	}
	t.stats.TCPPackets++
	if snapped := p.Length - len(data); snapped <= 0 {
		seg.Missing = 0
	} else {
		seg.Missing = min(seg.Missing, snapped)
	}
	t.Segment(seg, p.Timestamp)
}

// Segment feeds one decoded TCP segment (from a Decoder) to its connection.
// s.Missing is trusted as bytes lost to snapping.
func (t *Table) Segment(s *Segment, ts time.Time) {
	var k flowKey
	srcIsA := k.set(s)
	t.keyed(s, &k, srcIsA, ts.UnixNano())
}

// keyed is Segment for s with key k, srcIsA as k.set(s) reports, at packet
// time now (ns): the fast Ethernet decoder makes the key from the frame's
// bytes as it decodes them.
func (t *Table) keyed(s *Segment, k *flowKey, srcIsA bool, now int64) {
	if now > t.lastTS {
		t.lastTS = now
	}
	if t.expireDue(now) {
		t.expire(now)
	}

	// Consecutive packets mostly belong to one connection (a request and
	// its response): compare with the last flow before hashing the key.
	f := t.last
	if f == nil || !f.key.equal(k) {
		f = t.flows.get(k, t.flows.hash(k))
	}
	if f != nil && f.closed {
		if !s.SYN() || s.ACK() {
			t.stats.Stray++
			t.stats.BytesDropped += uint64(len(s.Payload))
			return
		}
		t.remove(f, CloseEnd, now) // a new connection on a closed tuple
		f = nil
	}
	if f != nil && s.SYN() && !s.ACK() && f.superseded(s, srcIsA) {
		// A new connection on the same four-tuple (port reuse) while
		// the old one was never seen to end.
		t.remove(f, CloseEnd, now)
		f = nil
	}
	if f == nil {
		if !s.SYN() && len(s.Payload) == 0 {
			// A bare ACK, FIN or RST of a connection we do not
			// track: most often the last ACK after both FINs, or
			// the tail of a reset connection. A flow made of it
			// would carry nothing; one with data or a SYN starts
			// a connection.
			t.stats.Stray++
			return
		}
		f = t.create(*k, s, srcIsA, now)
	} else if f.attempt {
		t.attemptSeen(f, srcIsA != f.clientIsA, now)
	} else {
		t.touch(f, now)
	}
	t.last = f
	dir := ClientToServer
	if srcIsA != f.clientIsA {
		dir = ServerToClient
	}
	f.cnt.count(dir, t.frameLen, s.Flags, len(s.Payload))
	if f.stream == nil {
		// Of no interest but to the Observer: its first bytes, and
		// its end.
		if f.sniff != nil && len(s.Payload) > 0 && f.sniff.add(dir, s.Payload, &t.sniffHeld) {
			t.observeFirst(&f.conn, &f.sniff, now)
		}
		if s.RST() {
			t.end(f, CloseRST, now)
		} else if s.FIN() {
			f.half[dir].finished = true
			if f.half[ClientToServer].finished && f.half[ServerToClient].finished {
				t.end(f, CloseFIN, now)
			}
		}
		return
	}
	// The segment fast path: nearly every segment is a pure ACK or the next
	// in-order data of a connection that holds nothing out of order and
	// has seen no FIN. For those, segment's steps come down to
	// delivering the payload, if any; this does just that, here rather
	// than behind one more call. FuzzTable and TestFastSegmentPath run
	// their inputs both ways (Table.slowOnly) and require the same
	// Stream calls and counters.
	if s.Flags&(flagSYN|flagFIN|flagRST) == 0 && s.Missing <= 0 && !t.slowOnly {
		h0, h1 := &f.half[0], &f.half[1]
		if len(h0.ooo)+len(h1.ooo) == 0 && !h0.finSeen && !h1.finSeen {
			if len(s.Payload) == 0 {
				return
			}
			if h := &f.half[dir]; h.seqKnown && h.nextSeq == s.Seq {
				t.deliver(f, dir, s.Payload, now)
				return
			}
		}
	}
	t.segment(f, dir, s, now)
}

// Flush applies time at ts (packet time, or the wall clock of a quiet live
// source) as packets would: connections idle past IdleTimeout close, and
// holes older than GapTimeout are given up so the data buffered behind them
// reaches its Stream without waiting for the connection's next packet.
// Flush walks every tracked connection, least recently active first (a
// deterministic order): call it when the source is quiet, about once a
// second, not per packet.
func (t *Table) Flush(ts time.Time) {
	now := ts.UnixNano()
	t.expire(now)
	for f := t.active.tail; f != nil; f = f.prev {
		for d := ClientToServer; d <= ServerToClient && f.stream != nil; d++ {
			if h := &f.half[d]; len(h.ooo) > 0 && olderThan(now, h.holeSince, t.cfg.GapTimeout) {
				t.release(f, d, 0, true, now)
			}
		}
	}
}

// Close ends every connection with CloseEnd, least recently active first,
// after handing over whatever out-of-order data they still hold (behind a
// Gap). The table is empty afterwards and may be reused.
func (t *Table) Close() {
	for t.attempts.tail != nil {
		t.remove(t.attempts.tail, CloseEnd, t.lastTS)
	}
	for t.active.tail != nil {
		t.remove(t.active.tail, CloseEnd, t.lastTS)
	}
	for t.closed.tail != nil {
		t.remove(t.closed.tail, CloseEnd, t.lastTS)
	}
	t.closeDatagrams(t.lastTS)
}

// flowKey identifies a connection regardless of direction: endpoint a is the
// lower (address, port) of the two. Each address is held as two big-endian
// 64-bit halves (an IPv4 address in the top 32 bits of the first, as Segment
// holds it in its first 4 bytes), so ordering, comparing and hashing a key
// are a few word operations rather than byte loops: the key is looked at for
// every packet. It is plain memory without padding, compared with equal.
type flowKey struct {
	a, b [2]uint64
	// ports is pa<<32 | pb<<16 | 1 for IPv6: an IPv4 address and the
	// IPv6 address with the same first 4 bytes stay apart.
	ports uint64
}

// set makes k the key of s and reports whether s was sent by endpoint a.
// It fills k in place, word by word: a 40-byte key returned by value went
// through the stack in 16-byte moves over 8-byte stores, which the CPU
// cannot forward from its store buffer, and stalled on every packet.
func (k *flowKey) set(s *Segment) bool {
	// Scalars, not [2]uint64 arrays: the compiler keeps arrays in memory
	// and copies them in 16-byte moves, the same stall again.
	var s0, s1, d0, d1, v6 uint64
	if s.V6 {
		s0, s1 = binary.BigEndian.Uint64(s.Src[:8]), binary.BigEndian.Uint64(s.Src[8:])
		d0, d1 = binary.BigEndian.Uint64(s.Dst[:8]), binary.BigEndian.Uint64(s.Dst[8:])
		v6 = 1
	} else {
		// Read as the decoder wrote them, 4 bytes each (an 8-byte
		// load over a 4-byte store stalls likewise). The other 12
		// bytes are zero for IPv4.
		s0 = uint64(binary.BigEndian.Uint32(s.Src[:4])) << 32
		d0 = uint64(binary.BigEndian.Uint32(s.Dst[:4])) << 32
	}
	sp, dp := uint64(s.SrcPort), uint64(s.DstPort)
	// Big-endian halves order as the bytes do.
	srcFirst := s0 < d0 || s0 == d0 && (s1 < d1 || s1 == d1 && sp <= dp)
	if !srcFirst {
		s0, s1, d0, d1, sp, dp = d0, d1, s0, s1, dp, sp
	}
	k.a[0], k.a[1], k.b[0], k.b[1], k.ports = s0, s1, d0, d1, sp<<32|dp<<16|v6
	return srcFirst
}

// equal is k == o written out word by word: the compiler would call
// memequal for a struct this size.
func (k *flowKey) equal(o *flowKey) bool {
	return k.a == o.a && k.b == o.b && k.ports == o.ports
}

func (k *flowKey) v6() bool   { return k.ports&1 != 0 }
func (k *flowKey) pa() uint16 { return uint16(k.ports >> 32) }
func (k *flowKey) pb() uint16 { return uint16(k.ports >> 16) }

func (k *flowKey) addr(w *[2]uint64) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], w[0])
	binary.BigEndian.PutUint64(b[8:], w[1])
	if k.v6() {
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte(b[:4]))
}

// flow is one tracked connection. The fields every packet reads come first
// and the Conn, read when the flow is made, last: a packet touches the first
// 200 of its 280 bytes, one cache line fewer than with the Conn between.
type flow struct {
	key        flowKey
	prev, next *flow
	stream     Stream // nil: ignored
	lastSeen   int64  // ns, packet time
	clientIsA  bool
	closed     bool    // ended by FIN or RST, lingering to absorb stragglers
	attempt    bool    // on the attempts list: its SYN is unanswered
	half       [2]half // by Dir of the sender
	cnt        counters
	sniff      *sniff // first bytes for the Observer, of an ignored flow
	conn       Conn
}

// create starts tracking the connection of s, evicting the least recently
// active one when the table is full, and orients it: the sender of a SYN is
// the client, the sender of a SYN-ACK the server; mid-stream, the side on a
// server port is the server.
func (t *Table) create(k flowKey, s *Segment, srcIsA bool, now int64) *flow {
	for t.flows.n >= t.cfg.MaxFlows {
		if f := t.closed.tail; f != nil {
			t.remove(f, CloseEnd, now) // already closed: nothing is lost
		} else if f := t.attempts.tail; f != nil {
			t.stats.Evicted++
			t.remove(f, CloseEvicted, now)
		} else if f := t.active.tail; f != nil {
			t.stats.Evicted++
			t.remove(f, CloseEvicted, now)
		} else {
			break
		}
	}
	srcIsClient := true
	midStream := true
	switch {
	case s.SYN() && !s.ACK():
		midStream = false
	case s.SYN() && s.ACK():
		srcIsClient = false
	default:
		srcIsClient = !t.isServer(s.SrcPort, s.DstPort)
	}
	f := &flow{key: k, lastSeen: now}
	f.cnt.start = now
	f.conn.Transport = TransportTCP
	f.clientIsA = srcIsA == srcIsClient
	t.nextID++
	f.conn.ID = t.nextID
	f.conn.MidStream = midStream
	src, dst := k.addr(&k.a), k.addr(&k.b)
	sp, dp := k.pa(), k.pb()
	if !srcIsA {
		src, dst, sp, dp = dst, src, dp, sp
	}
	if srcIsClient {
		f.conn.Key = Key{ClientIP: src, ServerIP: dst, ClientPort: sp, ServerPort: dp}
		if s.HasMAC {
			f.conn.ClientMAC, f.conn.ServerMAC = s.SrcMAC, s.DstMAC
		}
	} else {
		f.conn.Key = Key{ClientIP: dst, ServerIP: src, ClientPort: dp, ServerPort: sp}
		if s.HasMAC {
			f.conn.ClientMAC, f.conn.ServerMAC = s.DstMAC, s.SrcMAC
		}
	}
	t.flows.put(f, t.flows.hash(&k))
	if !midStream && t.cfg.Observer != nil {
		f.attempt = true
		t.attempts.pushFront(f)
	} else {
		t.active.pushFront(f)
	}
	t.stats.FlowsCreated++
	f.stream = t.newStream(f, now)
	if f.stream == nil {
		t.stats.FlowsIgnored++
		if t.cfg.Observer != nil {
			f.sniff = &sniff{}
		}
	}
	return f
}

// isServer reports whether the source port is the server's side of a
// connection seen mid-stream.
func (t *Table) isServer(src, dst uint16) bool {
	if sp := t.cfg.ServerPort; sp != nil {
		s, d := sp(src), sp(dst)
		if s != d {
			return s
		}
	}
	if src != dst {
		return src < dst
	}
	return false
}

// superseded reports whether a SYN from the client side starts a new
// connection on this tuple (port reuse) rather than retransmitting the one
// that opened it. A connection picked up mid-stream that now sees a SYN was
// a stale guess or is over either way.
func (f *flow) superseded(s *Segment, srcIsA bool) bool {
	if f.conn.MidStream {
		return true
	}
	if srcIsA != f.clientIsA {
		return false // a SYN from the server side: simultaneous open, keep it
	}
	h := &f.half[ClientToServer]
	return h.synSeen && s.Seq != h.isn
}

// olderThan reports whether packet time now (Unix ns) is more than d after
// then. The difference is taken unsigned and only when now is later: a
// crafted capture can put packets centuries apart (pcapng's if_tsoffset),
// and the signed difference of two times more than 292 years apart wraps,
// which once made a packet from 1700 expire every flow of 2024 as idle.
func olderThan(now, then int64, d time.Duration) bool {
	return now > then && uint64(now)-uint64(then) > uint64(d)
}

// expireDue reports whether expire has anything to do at now: the same
// tests as its loops' first, cheap enough to inline for every packet.
func (t *Table) expireDue(now int64) bool {
	c, a, at := t.closed.tail, t.active.tail, t.attempts.tail
	return c != nil && olderThan(now, c.lastSeen, t.cfg.ClosedLinger) ||
		a != nil && olderThan(now, a.lastSeen, t.cfg.IdleTimeout) ||
		at != nil && olderThan(now, at.lastSeen, t.cfg.AttemptTimeout) ||
		t.dgrams != nil && t.dgrams.due(now, t.cfg.DatagramTimeout)
}

// expire forgets closed connections that lingered ClosedLinger and closes
// open ones idle longer than IdleTimeout at now. Each list is in time order
// from its tail, so each loop stops at the first flow still in time.
func (t *Table) expire(now int64) {
	for f := t.closed.tail; f != nil && olderThan(now, f.lastSeen, t.cfg.ClosedLinger); f = t.closed.tail {
		t.remove(f, CloseEnd, now)
	}
	for f := t.active.tail; f != nil && olderThan(now, f.lastSeen, t.cfg.IdleTimeout); f = t.active.tail {
		reason := CloseIdle
		if f.half[0].finished || f.half[1].finished {
			reason = CloseFIN // one side finished, the other went quiet
		}
		t.stats.IdleExpired++
		t.remove(f, reason, now)
	}
	for f := t.attempts.tail; f != nil && olderThan(now, f.lastSeen, t.cfg.AttemptTimeout); f = t.attempts.tail {
		t.stats.IdleExpired++
		t.remove(f, CloseIdle, now)
	}
	if t.dgrams != nil {
		t.expireDatagrams(now)
	}
}

// attemptSeen handles a packet of a connection whose SYN is unanswered: an
// answer (fromServer) makes it an open connection like any other; the
// client's retransmissions leave it on the attempts list, in the order of
// its first SYN.
func (t *Table) attemptSeen(f *flow, fromServer bool, now int64) {
	if !fromServer {
		return
	}
	t.attempts.unlink(f)
	f.attempt = false
	f.lastSeen = max(f.lastSeen, now)
	t.active.pushFront(f)
}

// openList returns the list an open (not closed) flow is on.
func (t *Table) openList(f *flow) *flowList {
	if f.attempt {
		return &t.attempts
	}
	return &t.active
}

// end closes a connection that finished (FIN both ways) or was reset; it
// lingers, closed, to absorb stragglers (ClosedLinger).
func (t *Table) end(f *flow, reason CloseReason, now int64) {
	t.finish(f, reason, now)
	t.openList(f).unlink(f)
	f.attempt = false
	f.closed = true
	f.half = [2]half{}
	f.lastSeen = max(f.lastSeen, now)
	t.closed.pushFront(f)
	t.lingering++
}

// remove closes a connection unless it already was, and forgets it.
func (t *Table) remove(f *flow, reason CloseReason, now int64) {
	if f.closed {
		t.lingering--
		t.closed.unlink(f)
	} else {
		t.finish(f, reason, now)
		t.openList(f).unlink(f)
	}
	t.flows.remove(f, t.flows.hash(&f.key))
	if t.last == f {
		t.last = nil
	}
}

// finish delivers what the flow still buffers and closes its Stream.
func (t *Table) finish(f *flow, reason CloseReason, now int64) {
	for d := ClientToServer; d <= ServerToClient && f.stream != nil; d++ {
		t.flushHalf(f, d, now)
		// Bytes before a FIN that never reached the capture: the
		// stream's last message is incomplete, and its framer should
		// know rather than wait.
		if h := &f.half[d]; f.stream != nil && h.finSeen && seqDiff(h.finSeq, h.nextSeq) > 0 {
			t.gap(f, d, int(seqDiff(h.finSeq, h.nextSeq)), now)
			h.nextSeq = h.finSeq
		}
	}
	if f.stream != nil {
		if f.half[0].finSeen && f.half[1].finSeen && (reason == CloseEnd || reason == CloseIdle) {
			// Both sides sent their FIN; only lost bytes kept the
			// connection open.
			reason = CloseFIN
		}
		t.callClose(f, reason, now)
	}
	for d := range f.half {
		t.dropBuffered(&f.half[d])
	}
	if t.cfg.Observer != nil {
		if f.sniff != nil {
			t.observeFirst(&f.conn, &f.sniff, now)
		}
		end := f.lastSeen // the last packet, not the clock that ended it,
		if reason == CloseFIN || reason == CloseRST {
			end = max(end, now) // unless the FIN or reset ended it
		}
		sum := f.cnt.summary(f.cnt.tcpState(), reason, end)
		t.observeEnd(&f.conn, &sum)
	}
}

// flowList is a doubly linked list of flows through their prev/next fields.
type flowList struct{ head, tail *flow }

func (l *flowList) pushFront(f *flow) {
	f.prev, f.next = nil, l.head
	if l.head != nil {
		l.head.prev = f
	}
	l.head = f
	if l.tail == nil {
		l.tail = f
	}
}

// moveToFront is kept out of line so that touch, its caller for every
// packet, stays within the inlining budget.
//
//go:noinline
func (l *flowList) moveToFront(f *flow) {
	l.unlink(f)
	l.pushFront(f)
}

func (l *flowList) unlink(f *flow) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		l.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		l.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// touch records activity: the flow moves to the head of the LRU list. It is
// small enough to inline: the flow is often at the head already.
func (t *Table) touch(f *flow, now int64) {
	f.lastSeen = max(f.lastSeen, now)
	if t.active.head != f {
		t.active.moveToFront(f)
	}
}

// The Stream calls run under recover: a panic in one connection's protocol
// glue is counted, that connection is ignored from then on (its Stream told
// through PanicHandler), and the run continues. Each is its own small
// function so the deferred recover costs no allocation.

func (t *Table) newStream(f *flow, now int64) (s Stream) {
	defer func() {
		if r := recover(); r != nil {
			t.stats.RecoveredPanics++
			s = nil
		}
	}()
	return t.factory(&f.conn, time.Unix(0, now).UTC())
}

func (t *Table) callData(f *flow, dir Dir, data []byte, now int64) {
	// Called for nearly every packet: the deferred closure calls
	// recover only when Data did not return (a call to recover costs
	// some 20 instructions), and calls it itself, as it must.
	// The closure captures as few words as it can (n, not data; now,
	// not the time.Time): it is built on every call.
	n := len(data)
	returned := false
	defer func() {
		if !returned {
			t.recovered(f, dir, n, time.Unix(0, now).UTC(), recover())
		}
	}()
	f.stream.Data(dir, data, time.Unix(0, now).UTC())
	returned = true
}

func (t *Table) callGap(f *flow, dir Dir, lost int, now int64) {
	ts := time.Unix(0, now).UTC()
	defer func() { t.recovered(f, dir, 0, ts, recover()) }()
	f.stream.Gap(dir, lost, ts)
}

func (t *Table) callClose(f *flow, reason CloseReason, now int64) {
	ts := time.Unix(0, now).UTC()
	defer func() { t.recovered(f, ClientToServer, 0, ts, recover()) }()
	f.stream.Close(reason, ts)
	f.stream = nil
}

// recovered handles r, what recover returned after a Stream call in dir at
// ts (nil: the call did not panic). A panic is counted, the n bytes the call
// was handed are dropped, the connection is ignored from then on, and its
// Stream, when a PanicHandler, is told.
func (t *Table) recovered(f *flow, dir Dir, n int, ts time.Time, r any) {
	if r == nil {
		return
	}
	t.stats.RecoveredPanics++
	t.stats.BytesDropped += uint64(n)
	s := f.stream
	f.stream = nil
	if h, ok := s.(PanicHandler); ok {
		panicked(h, r, dir, ts)
	}
}

// panicked calls h.Panicked under a recover of its own: a panic there is
// ignored (the first one is counted already).
func panicked(h PanicHandler, r any, dir Dir, ts time.Time) {
	defer func() { _ = recover() }()
	h.Panicked(r, dir, ts)
}
