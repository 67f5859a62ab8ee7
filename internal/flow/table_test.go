package flow

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sluice-ics/sluice/internal/capture"
)

// recorder is a Stream that logs every call as a line, so a scenario's
// expectations read as the sequence of calls.
type recorder struct {
	conn  *Conn
	log   *[]string
	panic string // panic on Data containing this
}

func (r *recorder) Data(dir Dir, data []byte, ts time.Time) {
	if r.panic != "" && strings.Contains(string(data), r.panic) {
		panic("boom")
	}
	*r.log = append(*r.log, fmt.Sprintf("%d %s %q", r.conn.ID, dir, data))
}

func (r *recorder) Gap(dir Dir, lost int, ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("%d %s gap %d", r.conn.ID, dir, lost))
}

func (r *recorder) Close(reason CloseReason, ts time.Time) {
	*r.log = append(*r.log, fmt.Sprintf("%d close %s", r.conn.ID, reason))
}

// harness drives a Table with hand-written segments between a client
// 10.0.0.1:40000 and a server 10.0.0.2:502.
type harness struct {
	t     *testing.T
	tab   *Table
	log   []string
	conns []*Conn
	now   time.Time
	panic string
}

func newHarness(t *testing.T, cfg Config) *harness {
	h := &harness{t: t, now: time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)}
	h.tab = NewTable(cfg, func(c *Conn, ts time.Time) Stream {
		h.conns = append(h.conns, c)
		return &recorder{conn: c, log: &h.log, panic: h.panic}
	})
	return h
}

const (
	cISN = 1000
	sISN = 5000
)

// seg sends a segment. from is "c" or "s"; flags is a subset of "SAFR";
// seq and ack are relative to the ISNs (the SYN is at 0, data at 1).
func (h *harness) seg(from, flags string, seq, ack uint32, payload string) {
	h.now = h.now.Add(time.Millisecond)
	s := Segment{SrcPort: 40000, DstPort: 502, Payload: []byte(payload)}
	copy(s.Src[:], []byte{10, 0, 0, 1})
	copy(s.Dst[:], []byte{10, 0, 0, 2})
	s.Seq, s.Ack = cISN+seq, sISN+ack
	if from == "s" {
		s.Src, s.Dst = s.Dst, s.Src
		s.SrcPort, s.DstPort = s.DstPort, s.SrcPort
		s.Seq, s.Ack = sISN+seq, cISN+ack
	}
	for _, f := range flags {
		s.Flags |= map[rune]uint8{'S': flagSYN, 'A': flagACK, 'F': flagFIN, 'R': flagRST}[f]
	}
	h.tab.Segment(&s, h.now)
}

func (h *harness) handshake() {
	h.seg("c", "S", 0, 0, "")
	h.seg("s", "SA", 0, 1, "")
	h.seg("c", "A", 1, 1, "")
}

func (h *harness) expect(want ...string) {
	h.t.Helper()
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(h.log, want) {
		h.t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(h.log, "\n  "), strings.Join(want, "\n  "))
	}
	h.log = nil
}

func TestInOrderAndFIN(t *testing.T) {
	h := newHarness(t, Config{})
	h.handshake()
	h.seg("c", "A", 1, 1, "req1")
	h.seg("s", "A", 1, 5, "resp1")
	h.seg("c", "A", 5, 6, "req2")
	h.seg("c", "AF", 9, 6, "")
	h.expect(`1 to_server "req1"`, `1 to_client "resp1"`, `1 to_server "req2"`)
	h.seg("s", "AF", 6, 10, "")
	h.expect("1 close fin")
	if c := h.conns[0]; c.MidStream || c.Key != (Key{ClientIP: netip.MustParseAddr("10.0.0.1"), ServerIP: netip.MustParseAddr("10.0.0.2"), ClientPort: 40000, ServerPort: 502}) {
		t.Errorf("conn %+v", c)
	}
	if st := h.tab.Stats(); st.FlowsActive != 0 || st.FlowsCreated != 1 || st.Gaps != 0 || st.Retransmissions != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestRetransmissionAndOverlap(t *testing.T) {
	h := newHarness(t, Config{})
	h.handshake()
	h.seg("c", "A", 1, 1, "abcd")
	h.seg("c", "A", 1, 1, "abcd")   // exact retransmission
	h.seg("c", "A", 3, 1, "cdefgh") // overlaps "cd"
	h.seg("c", "A", 2, 1, "bc")     // wholly old
	h.expect(`1 to_server "abcd"`, `1 to_server "efgh"`)
	if st := h.tab.Stats(); st.Retransmissions != 3 {
		t.Errorf("retransmissions %d, want 3", st.Retransmissions)
	}
}

func TestOutOfOrder(t *testing.T) {
	h := newHarness(t, Config{})
	h.handshake()
	h.seg("c", "A", 9, 1, "ijkl") // ahead: buffered
	h.seg("c", "A", 5, 1, "efgh") // ahead: buffered
	h.seg("c", "A", 7, 1, "ghij") // overlaps both buffered
	h.seg("c", "A", 9, 1, "ijkl") // duplicate of a buffered segment
	h.expect()
	h.seg("c", "A", 1, 1, "abcd") // fills the hole: everything drains in order
	h.expect(`1 to_server "abcd"`, `1 to_server "efgh"`, `1 to_server "ij"`, `1 to_server "kl"`)
	if st := h.tab.Stats(); st.OutOfOrder != 4 || st.BufferedBytes != 0 || st.Gaps != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestGapOnAck(t *testing.T) {
	h := newHarness(t, Config{})
	h.handshake()
	h.seg("c", "A", 1, 1, "abcd")
	h.seg("c", "A", 9, 1, "ijkl") // "efgh" never captured
	h.seg("s", "A", 1, 9, "")     // server acked up to "h": no gap yet, nothing beyond the hole acked
	h.expect(`1 to_server "abcd"`)
	h.seg("s", "A", 1, 13, "") // server acked "ijkl": the hole was lost by the capture
	h.expect(`1 to_server gap 4`, `1 to_server "ijkl"`)
	if st := h.tab.Stats(); st.Gaps != 1 || st.GapBytes != 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestGapOnTimeout(t *testing.T) {
	h := newHarness(t, Config{GapTimeout: time.Second})
	h.handshake()
	h.seg("s", "A", 5, 1, "late") // server bytes 1..4 missing
	h.now = h.now.Add(2 * time.Second)
	h.seg("c", "A", 1, 1, "next") // any packet of the flow checks the hole
	h.expect(`1 to_server "next"`, `1 to_client gap 4`, `1 to_client "late"`)
}

func TestGapOnBufferCap(t *testing.T) {
	h := newHarness(t, Config{MaxBufferedPerFlow: 8})
	h.handshake()
	h.seg("c", "A", 3, 1, "cdef")   // 4 bytes buffered
	h.seg("c", "A", 11, 1, "klmn")  // 8 bytes buffered: at the cap
	h.seg("c", "A", 20, 1, "tuvwx") // over the cap: holes given up
	h.expect(`1 to_server gap 2`, `1 to_server "cdef"`, `1 to_server gap 4`, `1 to_server "klmn"`, `1 to_server gap 5`, `1 to_server "tuvwx"`)
	h.seg("c", "A", 1, 1, "ab") // the retransmission comes too late
	h.expect()
	if st := h.tab.Stats(); st.Gaps != 3 || st.GapBytes != 11 || st.BufferedBytes != 0 || st.Retransmissions != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestGapOnTotalCap(t *testing.T) {
	h := newHarness(t, Config{MaxBufferedTotal: 4})
	h.handshake()
	h.seg("c", "A", 3, 1, "cd")
	h.seg("c", "A", 7, 1, "ghi") // 5 bytes > total cap
	h.expect(`1 to_server gap 2`, `1 to_server "cd"`, `1 to_server gap 2`, `1 to_server "ghi"`)
}

func TestSegmentCountCap(t *testing.T) {
	h := newHarness(t, Config{MaxSegmentsPerFlow: 2})
	h.handshake()
	h.seg("c", "A", 3, 1, "c")
	h.seg("c", "A", 5, 1, "e")
	h.seg("c", "A", 7, 1, "g")
	h.expect(`1 to_server gap 2`, `1 to_server "c"`, `1 to_server gap 1`, `1 to_server "e"`, `1 to_server gap 1`, `1 to_server "g"`)
}

func TestRST(t *testing.T) {
	h := newHarness(t, Config{})
	h.handshake()
	h.seg("c", "A", 1, 1, "ab")
	h.seg("c", "A", 5, 1, "ef") // buffered behind a hole
	h.seg("s", "R", 1, 0, "")
	h.expect(`1 to_server "ab"`, `1 to_server gap 2`, `1 to_server "ef"`, "1 close rst")
	if h.tab.Stats().FlowsActive != 0 {
		t.Error("flow still tracked after RST")
	}
	h.seg("s", "R", 1, 0, "") // a reset of nothing: no new flow
	if st := h.tab.Stats(); st.FlowsCreated != 1 {
		t.Errorf("flows created %d", st.FlowsCreated)
	}
}

func TestMidStreamDirection(t *testing.T) {
	for _, tt := range []struct {
		name       string
		serverPort func(uint16) bool
		firstFrom  string
		wantClient uint16
	}{
		{"response first, server port configured", func(p uint16) bool { return p == 502 }, "s", 40000},
		{"request first, server port configured", func(p uint16) bool { return p == 502 }, "c", 40000},
		{"no configuration: lower port serves", nil, "s", 40000},
		// A server on a port that is not configured, talking to a
		// client whose ephemeral port happens to be configured: the
		// configured port wins over the lower-port rule.
		{"configured port is the higher one", func(p uint16) bool { return p == 40000 }, "c", 502},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{ServerPort: tt.serverPort})
			h.seg(tt.firstFrom, "A", 100, 100, "x")
			c := h.conns[0]
			if !c.MidStream || c.Key.ClientPort != tt.wantClient {
				t.Errorf("conn %+v, want client port %d mid-stream", c.Key, tt.wantClient)
			}
		})
	}
	// Mid-stream bytes flow in order from the first byte seen.
	h := newHarness(t, Config{ServerPort: func(p uint16) bool { return p == 502 }})
	h.seg("s", "A", 100, 50, "tail-of-response")
	h.seg("c", "A", 50, 116, "req")
	h.seg("s", "A", 116, 53, "resp")
	h.expect(`1 to_client "tail-of-response"`, `1 to_server "req"`, `1 to_client "resp"`)
}

func TestSynAckFirst(t *testing.T) {
	h := newHarness(t, Config{})
	h.seg("s", "SA", 0, 1, "")
	h.seg("c", "A", 1, 1, "hello")
	h.seg("s", "A", 1, 6, "world")
	h.expect(`1 to_server "hello"`, `1 to_client "world"`)
	if c := h.conns[0]; c.Key.ServerPort != 502 {
		t.Errorf("conn %+v", c.Key)
	}
}

func TestIdleExpiry(t *testing.T) {
	h := newHarness(t, Config{IdleTimeout: time.Minute})
	h.handshake()
	h.seg("c", "A", 1, 1, "a")
	h.now = h.now.Add(30 * time.Second)
	h.tab.Flush(h.now)
	h.expect(`1 to_server "a"`)
	h.now = h.now.Add(31 * time.Second)
	h.tab.Flush(h.now)
	h.expect("1 close idle")
	// One side finished, then silence: the close says fin.
	h.handshake()
	h.seg("c", "AF", 1, 1, "")
	h.now = h.now.Add(2 * time.Minute)
	h.tab.Flush(h.now)
	h.expect("2 close fin")
	if st := h.tab.Stats(); st.IdleExpired != 2 || st.FlowsActive != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestEvictionAndIDs(t *testing.T) {
	h := newHarness(t, Config{MaxFlows: 2})
	send := func(port uint16) {
		s := Segment{SrcPort: port, DstPort: 502, Flags: flagSYN}
		copy(s.Src[:], []byte{10, 0, 0, 1})
		copy(s.Dst[:], []byte{10, 0, 0, 2})
		h.now = h.now.Add(time.Millisecond)
		h.tab.Segment(&s, h.now)
	}
	send(1)
	send(2)
	send(1) // touch: flow of port 2 is now the least recently active
	send(3)
	h.expect("2 close evicted")
	h.tab.Close()
	h.expect("1 close end", "3 close end")
	if st := h.tab.Stats(); st.Evicted != 1 || st.FlowsCreated != 3 || st.FlowsActive != 0 {
		t.Errorf("stats %+v", st)
	}
	if h.conns[2].ID != 3 {
		t.Errorf("third flow id %d", h.conns[2].ID)
	}
}

func TestPortReuse(t *testing.T) {
	h := newHarness(t, Config{})
	h.handshake()
	h.seg("c", "A", 1, 1, "one")
	h.seg("c", "S", 0, 0, "") // SYN retransmission: same connection
	h.expect(`1 to_server "one"`)
	h.seg("c", "S", 9000, 0, "") // a new ISN: a new connection
	h.expect("1 close end")
	if st := h.tab.Stats(); st.FlowsCreated != 2 || st.FlowsActive != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRecoveredPanic(t *testing.T) {
	h := newHarness(t, Config{})
	h.panic = "bad"
	h.handshake()
	h.seg("c", "A", 1, 1, "ok")
	h.seg("c", "A", 3, 1, "bad")
	h.seg("c", "A", 6, 1, "after")
	h.seg("c", "AF", 11, 1, "")
	h.seg("s", "AF", 1, 12, "")
	h.expect(`1 to_server "ok"`)
	st := h.tab.Stats()
	// The 3 bytes of the Data call that panicked are dropped.
	if st.RecoveredPanics != 1 || st.FlowsActive != 0 || st.BytesDropped != 3 {
		t.Errorf("stats %+v", st)
	}
	// The table goes on with other connections.
	h.panic = ""
	h.handshake()
	h.seg("c", "A", 1, 1, "fine")
	h.expect(`2 to_server "fine"`)
}

// panicky is a Stream that panics in the call named by when and records what
// the table tells it through PanicHandler.
type panicky struct {
	when string // "data", "gap" or "close"
	got  []string
}

func (p *panicky) Data(dir Dir, data []byte, ts time.Time) {
	if p.when == "data" && string(data) == "bad" {
		panic("data " + string(data))
	}
}

func (p *panicky) Gap(dir Dir, lost int, ts time.Time) {
	if p.when == "gap" {
		panic(fmt.Sprintf("gap %d", lost))
	}
}

func (p *panicky) Close(reason CloseReason, ts time.Time) {
	if p.when == "close" {
		panic("close " + reason.String())
	}
}

func (p *panicky) Panicked(r any, dir Dir, ts time.Time) {
	p.got = append(p.got, fmt.Sprintf("%v %s %s", r, dir, ts.Format(time.RFC3339Nano)))
	if p.when == "close" {
		panic("again") // recovered and ignored by the table
	}
}

// TestPanicHandler checks that a Stream implementing PanicHandler is told,
// once, of the panic of each kind of call, with its direction and packet
// time, after the table counted it; the connection is ignored afterwards.
func TestPanicHandler(t *testing.T) {
	for _, tc := range []struct{ when, want string }{
		{"data", "data bad to_client 2026-11-21T22:00:00.005Z"},
		{"gap", "gap 4 to_server 2026-11-21T22:00:00.006Z"},
		{"close", "close fin to_server 2026-11-21T22:00:00.007Z"},
	} {
		t.Run(tc.when, func(t *testing.T) {
			h := newHarness(t, Config{})
			p := &panicky{when: tc.when}
			h.tab.factory = func(c *Conn, ts time.Time) Stream { return p }
			h.handshake()
			h.seg("c", "A", 1, 1, "ok")
			if tc.when == "gap" {
				h.seg("c", "A", 7, 1, "late") // 4 bytes after a hole of 4
				h.seg("s", "A", 1, 11, "")    // acknowledged: the hole is given up
				h.seg("c", "AF", 11, 1, "")
				h.seg("s", "AF", 1, 12, "")
			} else {
				h.seg("s", "A", 1, 3, "bad")
				h.seg("c", "AF", 3, 4, "")
				h.seg("s", "AF", 4, 4, "")
			}
			if len(p.got) != 1 || p.got[0] != tc.want {
				t.Errorf("Panicked calls %q, want [%q]", p.got, tc.want)
			}
			if st := h.tab.Stats(); st.RecoveredPanics != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestIgnoredFlows(t *testing.T) {
	var created int
	tab := NewTable(Config{}, func(c *Conn, ts time.Time) Stream { created++; return nil })
	h := &harness{t: t, tab: tab, now: time.Unix(0, 0)}
	h.handshake()
	h.seg("c", "A", 1, 1, "data")
	h.seg("c", "AF", 5, 1, "")
	h.seg("s", "AF", 1, 6, "")
	st := tab.Stats()
	if created != 1 || st.FlowsIgnored != 1 || st.FlowsActive != 0 {
		t.Errorf("created %d, stats %+v", created, st)
	}
}

func TestSequenceWrap(t *testing.T) {
	h := newHarness(t, Config{})
	s := func(seq uint32, p string) {
		sg := Segment{SrcPort: 40000, DstPort: 502, Seq: seq, Flags: flagACK, Payload: []byte(p)}
		copy(sg.Src[:], []byte{10, 0, 0, 1})
		copy(sg.Dst[:], []byte{10, 0, 0, 2})
		h.tab.Segment(&sg, h.now)
	}
	s(0xfffffffe, "ab")
	s(2, "ef") // after the wrap, ahead of a hole
	s(0, "cd")
	h.expect(`1 to_server "ab"`, `1 to_server "cd"`, `1 to_server "ef"`)
}

// TestHandleFrames runs serialised frames of several link types through
// Handle: the same connection over different encapsulations keys the same.
func TestHandleFrames(t *testing.T) {
	h := newHarness(t, Config{})
	c := tcpSpec{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 502, seq: 1, ack: 1, ack_: true, payload: "req"}
	s := tcpSpec{src: "10.0.0.2", dst: "10.0.0.1", sport: 502, dport: 40000, seq: 1, ack: 4, ack_: true, payload: "resp"}
	ipS, _ := ipTCP(t, s)
	h.tab.Handle(ethFrame(t, withVLAN(c, true, 7, 8)), layers.LinkTypeEthernet, h.now)
	h.tab.Handle(ipS, layers.LinkTypeRaw, h.now)
	h.tab.Handle([]byte{1, 2, 3}, layers.LinkTypeEthernet, h.now)
	h.expect(`1 to_server "req"`, `1 to_client "resp"`)
	if h.conns[0].ClientMAC != [6]byte(macA) || h.conns[0].ServerMAC != [6]byte(macB) {
		t.Errorf("MACs %x %x", h.conns[0].ClientMAC, h.conns[0].ServerMAC)
	}
	if st := h.tab.Stats(); st.Packets != 3 || st.TCPPackets != 2 || st.DecodeErrors != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestClosedLinger(t *testing.T) {
	h := newHarness(t, Config{ClosedLinger: time.Second})
	h.handshake()
	h.seg("c", "A", 1, 1, "req")
	h.seg("c", "AF", 4, 1, "")
	h.seg("s", "AF", 1, 5, "")
	h.seg("c", "A", 5, 2, "") // the last ACK: a straggler, not a new flow
	h.expect(`1 to_server "req"`, "1 close fin")
	st := h.tab.Stats()
	if st.FlowsCreated != 1 || st.FlowsActive != 0 || st.Stray != 1 {
		t.Errorf("after FIN: %+v", st)
	}

	// The same tuple opens again at once: a new connection.
	h.seg("c", "S", 7000, 0, "")
	h.seg("s", "SA", 9000, 7001, "")
	h.expect()
	if st := h.tab.Stats(); st.FlowsCreated != 2 || st.FlowsActive != 1 {
		t.Errorf("after reopening: %+v", st)
	}

	// Reset, then data the receiver would discard.
	h.seg("c", "R", 7001, 0, "")
	h.seg("c", "A", 7001, 9001, "after reset")
	h.expect("2 close rst")
	if st := h.tab.Stats(); st.FlowsCreated != 2 || st.BytesDropped != uint64(len("after reset")) || st.Stray != 2 {
		t.Errorf("after RST: %+v", st)
	}

	// Past the linger, the tuple is forgotten: data starts a flow again.
	h.now = h.now.Add(2 * time.Second)
	h.seg("c", "A", 8000, 9001, "later")
	h.expect(`3 to_server "later"`)
	if !h.conns[2].MidStream {
		t.Error("flow after linger is not mid-stream")
	}
}

// TestSnappedFrames: a capture with a small snap length keeps only the start
// of each segment. The cut-off bytes are a Gap, and the stream continues in
// step; a frame kept whole whose IP header claims more is not believed.
func TestSnappedFrames(t *testing.T) {
	h := newHarness(t, Config{})
	// seg captures a segment keeping only keep bytes of its payload;
	// Length is always the frame's length on the wire.
	seg := func(seq uint32, payload string, keep int) capture.Packet {
		f := ethFrame(t, tcpSpec{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 502, seq: seq, ack: 1, ack_: true, payload: payload})
		return capture.Packet{Data: f[:len(f)-len(payload)+keep], Length: len(f), LinkType: layers.LinkTypeEthernet, Timestamp: h.now}
	}
	h.tab.Packet(new(seg(1, "0123456789", 4))) // snapped: 4 of 10 bytes kept
	h.tab.Packet(new(seg(11, "abcdef", 6)))
	h.expect(`1 to_server "0123"`, `1 to_server gap 6`, `1 to_server "abcdef"`)

	// Kept whole, but the IP length field claims 100 more bytes: a lie,
	// not a loss.
	p := seg(17, "xyz", 3)
	ipLen := int(p.Data[16])<<8 | int(p.Data[17])
	p.Data[16], p.Data[17] = byte((ipLen+100)>>8), byte(ipLen+100)
	h.tab.Packet(&p)
	h.tab.Packet(new(seg(20, "next", 4)))
	h.expect(`1 to_server "xyz"`, `1 to_server "next"`)
	if st := h.tab.Stats(); st.Gaps != 1 || st.GapBytes != 6 {
		t.Errorf("stats %+v", st)
	}
}

// TestFlushGivesUpHoles: a connection that goes quiet with data behind a
// hole gets it on Flush once GapTimeout has passed, not only at idle expiry.
func TestFlushGivesUpHoles(t *testing.T) {
	h := newHarness(t, Config{GapTimeout: time.Second})
	h.handshake()
	h.seg("s", "A", 4, 1, "tail") // server bytes 1..3 never captured
	h.tab.Flush(h.now.Add(500 * time.Millisecond))
	h.expect()
	h.tab.Flush(h.now.Add(2 * time.Second))
	h.expect(`1 to_client gap 3`, `1 to_client "tail"`)
	if st := h.tab.Stats(); st.FlowsActive != 1 || st.BufferedBytes != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestEvictClosedFirst: when the table is full, a closed connection lingering
// for stragglers makes room before any open one is evicted.
func TestEvictClosedFirst(t *testing.T) {
	h := newHarness(t, Config{MaxFlows: 2})
	syn := func(port uint16, flags uint8) {
		s := Segment{SrcPort: port, DstPort: 502, Flags: flags, Seq: 1}
		copy(s.Src[:], []byte{10, 0, 0, 1})
		copy(s.Dst[:], []byte{10, 0, 0, 2})
		h.now = h.now.Add(time.Millisecond)
		h.tab.Segment(&s, h.now)
	}
	syn(1, flagSYN)
	syn(2, flagSYN)
	syn(2, flagRST) // flow 2 closes and lingers; flow 1 is the older open one
	syn(3, flagSYN)
	h.expect("2 close rst")
	if st := h.tab.Stats(); st.Evicted != 0 || st.FlowsActive != 2 {
		t.Errorf("stats %+v", st)
	}
	syn(4, flagSYN) // now an open flow must go: the least recently active
	h.expect("1 close evicted")
}
