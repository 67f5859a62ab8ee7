package flow

// Per-direction TCP reassembly. Sequence numbers are compared modulo 2^32
// (RFC 9293, 3.4: "all arithmetic dealing with sequence numbers must be
// performed modulo 2**32").
//
// Overlaps: bytes already delivered are never replaced by a retransmission
// that carries different ones (the receiving stack has queued the first copy
// too), and among segments buffered ahead of a hole the one starting earlier
// wins. A segment overlapping delivered bytes counts as a retransmission.

// maxAhead is how far beyond the next expected byte a segment may start and
// still be taken for out-of-order data of this connection. A segment further
// off is implausible for ICS traffic (a bogus sequence number in a fuzzed or
// corrupted frame); taking it would resynchronise the stream onto garbage and
// turn every real segment after it into an apparent retransmission. It is
// counted as dropped instead. Acknowledgements still move the stream past
// genuinely lost data.
const maxAhead = 16 << 20

// half is the state of one direction of a connection, named by its sender.
type half struct {
	nextSeq   uint32 // next byte to deliver
	isn       uint32 // sequence number of the SYN, when seen
	finSeq    uint32 // sequence number of the FIN, when seen
	seqKnown  bool
	synSeen   bool
	finSeen   bool
	finished  bool  // every byte up to the FIN delivered (or FIN seen on an ignored flow)
	holeSince int64 // packet time the oldest buffered segment arrived
	buffered  int   // bytes in ooo
	ooo       []oooSegment
}

// oooSegment is a copy of a segment that arrived ahead of a hole, kept sorted
// by sequence number.
type oooSegment struct {
	seq  uint32
	data []byte
}

func seqDiff(a, b uint32) int32 { return int32(a - b) }

func (d Dir) other() Dir { return 1 - d }

// segment applies one segment sent in direction dir to f.
// Table.keyed takes the common segment (a pure ACK or the next in-order
// data) on a fast path of its own and calls segment for the rest.
func (t *Table) segment(f *flow, dir Dir, s *Segment, now int64) {
	if s.RST() {
		t.end(f, CloseRST, now)
		return
	}
	h := &f.half[dir]
	seq := s.Seq
	if s.SYN() {
		if !h.synSeen {
			h.synSeen, h.isn = true, seq
			if !h.seqKnown {
				h.seqKnown, h.nextSeq = true, seq+1
			}
		}
		seq++ // the SYN occupies one sequence number; data (TFO) follows it
	}
	if !h.seqKnown && (len(s.Payload) > 0 || s.FIN()) {
		// Picked up mid-stream: start at the first byte we see.
		h.seqKnown, h.nextSeq = true, seq
	}
	missing := max(s.Missing, 0)
	if s.FIN() && h.seqKnown && !h.finSeen {
		h.finSeen, h.finSeq = true, seq+uint32(len(s.Payload)+missing)
	}
	if len(s.Payload) > 0 && h.seqKnown {
		t.data(f, dir, seq, s.Payload, now)
	}
	if missing > 0 && h.seqKnown && f.stream != nil && h.nextSeq == seq+uint32(len(s.Payload)) {
		// The capture snapped this segment right after what it
		// delivered: its tail is lost, and the stream goes on after it.
		t.gap(f, dir, missing, now)
		h.nextSeq += uint32(missing)
		t.drain(f, dir, now)
	}
	// The rest concerns buffered data and FINs: nearly every segment
	// has neither, and skips it on one test each.
	if s.ACK() && f.stream != nil && len(f.half[dir.other()].ooo) > 0 {
		t.acked(f, dir.other(), s.Ack, now)
	}
	if len(f.half[0].ooo)+len(f.half[1].ooo) > 0 {
		t.giveUpStale(f, now)
	}
	if f.stream != nil && (f.half[0].finSeen || f.half[1].finSeen) {
		t.checkFinished(f, now)
	}
}

// giveUpStale releases holes that no retransmission filled within
// GapTimeout.
func (t *Table) giveUpStale(f *flow, now int64) {
	for d := ClientToServer; d <= ServerToClient && f.stream != nil; d++ {
		if hh := &f.half[d]; len(hh.ooo) > 0 && olderThan(now, hh.holeSince, t.cfg.GapTimeout) {
			t.release(f, d, 0, true, now)
		}
	}
}

// checkFinished marks each direction whose every byte up to its FIN was
// delivered, and ends the connection when both are.
func (t *Table) checkFinished(f *flow, now int64) {
	for d := range f.half {
		hh := &f.half[d]
		if hh.finSeen && !hh.finished && seqDiff(hh.nextSeq, hh.finSeq) >= 0 {
			hh.finished = true
		}
	}
	if f.half[0].finished && f.half[1].finished {
		t.end(f, CloseFIN, now)
	}
}

// data places payload p starting at seq in direction dir.
func (t *Table) data(f *flow, dir Dir, seq uint32, p []byte, now int64) {
	h := &f.half[dir]
	if h.finSeen && seqDiff(seq, h.finSeq) >= 0 {
		t.stats.BytesDropped += uint64(len(p)) // after the FIN: not part of this stream
		return
	}
	diff := seqDiff(seq, h.nextSeq)
	switch {
	case diff > maxAhead || diff < -maxAhead:
		t.stats.BytesDropped += uint64(len(p))
	case diff <= 0:
		skip := int(-diff)
		if skip > 0 {
			// Some or all of it was delivered already.
			t.stats.Retransmissions++
		}
		if skip >= len(p) {
			return
		}
		t.deliver(f, dir, p[skip:], now)
		if len(h.ooo) > 0 {
			t.drain(f, dir, now)
		}
	default:
		t.stats.OutOfOrder++
		t.buffer(f, dir, seq, p, now)
	}
}

// buffer keeps a copy of a segment that arrived ahead of a hole. When a cap
// would be exceeded, the hole is given up instead: what is buffered goes out
// behind a Gap, then this segment behind another if a hole remains.
func (t *Table) buffer(f *flow, dir Dir, seq uint32, p []byte, now int64) {
	h := &f.half[dir]
	if len(h.ooo) >= t.cfg.MaxSegmentsPerFlow ||
		h.buffered+len(p) > t.cfg.MaxBufferedPerFlow ||
		t.stats.BufferedBytes+uint64(len(p)) > uint64(t.cfg.MaxBufferedTotal) {
		t.release(f, dir, 0, true, now)
		if f.stream == nil {
			return
		}
		if d := seqDiff(seq, h.nextSeq); d > 0 {
			t.gap(f, dir, int(d), now)
			h.nextSeq = seq
		}
		if d := seqDiff(h.nextSeq, seq); d >= 0 && int(d) < len(p) {
			t.deliver(f, dir, p[d:], now)
		}
		return
	}
	// Insert sorted by sequence number; an exact duplicate of a buffered
	// segment (a retransmission of out-of-order data) is not kept twice.
	i := len(h.ooo)
	for i > 0 && seqDiff(h.ooo[i-1].seq, seq) > 0 {
		i--
	}
	if i > 0 && h.ooo[i-1].seq == seq && len(h.ooo[i-1].data) >= len(p) {
		t.stats.Retransmissions++
		return
	}
	if len(h.ooo) == 0 {
		h.holeSince = now
	}
	h.ooo = append(h.ooo, oooSegment{})
	copy(h.ooo[i+1:], h.ooo[i:])
	h.ooo[i] = oooSegment{seq: seq, data: append([]byte(nil), p...)}
	h.buffered += len(p)
	t.stats.BufferedBytes += uint64(len(p))
}

// drain delivers buffered segments that the stream has now reached.
func (t *Table) drain(f *flow, dir Dir, now int64) {
	h := &f.half[dir]
	n := 0
	for n < len(h.ooo) && f.stream != nil {
		sg := h.ooo[n]
		d := seqDiff(h.nextSeq, sg.seq)
		if d < 0 {
			break // still a hole before it
		}
		if int(d) < len(sg.data) {
			t.deliver(f, dir, sg.data[d:], now)
		}
		n++
	}
	if n > 0 {
		t.pop(h, n)
		h.holeSince = now
	}
}

// release gives up the holes before buffered segments that start before upto
// (or all of them when all is set): each hole becomes a Gap, each segment is
// delivered, then whatever became contiguous follows.
func (t *Table) release(f *flow, dir Dir, upto uint32, all bool, now int64) {
	h := &f.half[dir]
	n := 0
	for n < len(h.ooo) && f.stream != nil {
		sg := h.ooo[n]
		if !all && seqDiff(sg.seq, upto) >= 0 {
			break
		}
		if d := seqDiff(sg.seq, h.nextSeq); d > 0 {
			t.gap(f, dir, int(d), now)
			h.nextSeq = sg.seq
		}
		if f.stream == nil {
			break
		}
		if d := seqDiff(h.nextSeq, sg.seq); d >= 0 && int(d) < len(sg.data) {
			t.deliver(f, dir, sg.data[d:], now)
		}
		n++
	}
	t.pop(h, n)
	if f.stream != nil {
		t.drain(f, dir, now)
	}
}

// acked handles an acknowledgement of direction dir's data. When the
// receiver acknowledges bytes beyond a hole that we hold data after, the hole
// was delivered to the receiver but never reached the capture: waiting for a
// retransmission that will not come would only delay everything behind it.
func (t *Table) acked(f *flow, dir Dir, ack uint32, now int64) {
	h := &f.half[dir]
	if !h.seqKnown || len(h.ooo) == 0 || seqDiff(ack, h.nextSeq) <= 0 {
		return
	}
	if seqDiff(ack, h.ooo[0].seq) > 0 {
		t.release(f, dir, ack, false, now)
	}
}

// flushHalf hands over everything buffered in dir behind gaps, before the
// connection ends.
func (t *Table) flushHalf(f *flow, dir Dir, now int64) {
	if len(f.half[dir].ooo) > 0 {
		t.release(f, dir, 0, true, now)
	}
}

func (t *Table) deliver(f *flow, dir Dir, p []byte, now int64) {
	f.half[dir].nextSeq += uint32(len(p))
	t.callData(f, dir, p, now)
}

func (t *Table) gap(f *flow, dir Dir, lost int, now int64) {
	t.stats.Gaps++
	t.stats.GapBytes += uint64(lost)
	t.callGap(f, dir, lost, now)
}

// pop removes the first n buffered segments and releases their bytes.
func (t *Table) pop(h *half, n int) {
	if n == 0 {
		return
	}
	for i := range n {
		h.buffered -= len(h.ooo[i].data)
		t.stats.BufferedBytes -= uint64(len(h.ooo[i].data))
	}
	rest := copy(h.ooo, h.ooo[n:])
	clear(h.ooo[rest:])
	h.ooo = h.ooo[:rest]
	if rest == 0 {
		h.ooo = nil // an idle connection holds no buffer
	}
}

// dropBuffered forgets what dir still buffers (its connection is gone).
func (t *Table) dropBuffered(h *half) {
	t.stats.BytesDropped += uint64(h.buffered)
	t.pop(h, len(h.ooo))
}
