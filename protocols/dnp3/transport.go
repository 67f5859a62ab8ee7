package dnp3

import "time"

// Transport function (IEEE 1815-2012, clause 8): the first octet of a
// user-data frame's data is the transport header, FIN (0x80), FIR (0x40)
// and a 6-bit sequence number; the rest is a segment of an application
// fragment. A fragment is the segments from one with FIR to one with FIN,
// their sequence numbers consecutive modulo 64 (8.2.1).

// TransportHeader is the octet that starts every transport segment.
type TransportHeader uint8

// FIN reports whether the segment is the last of its fragment.
func (h TransportHeader) FIN() bool { return h&0x80 != 0 }

// FIR reports whether the segment is the first of its fragment.
func (h TransportHeader) FIR() bool { return h&0x40 != 0 }

// Seq returns the segment's sequence number (0-63).
func (h TransportHeader) Seq() uint8 { return uint8(h & 0x3F) }

// Reassembly defaults: IEEE 1815-2012 lets a device choose its fragment
// size and recommends 2048 octets (4.2.2.1; many devices use 2048, some
// 4096); a TCP connection rarely carries more than one master/outstation
// pair, a gateway a handful.
const (
	DefaultMaxFragment = 4096
	DefaultMaxPending  = 4
)

// Fragment is a reassembled application-layer fragment.
type Fragment struct {
	// Link is the header of the frame that completed the fragment.
	Link LinkHeader
	// Data is the fragment: application header and objects. It aliases
	// the Reassembler's buffer or the frame's data and is valid only
	// during the emit call.
	Data []byte
	// Segments is how many transport segments carried it.
	Segments int
}

// TransportStats counts what a Reassembler did besides reassembling.
type TransportStats struct {
	Segments   uint64 // transport segments received
	Fragments  uint64 // fragments emitted
	Lost       uint64 // fragments abandoned because a segment went missing: a new FIR arrived first, or a segment came without its FIR
	OutOfOrder uint64 // segments whose sequence number was neither the next nor a repeat (the fragment is abandoned)
	Repeated   uint64 // segments repeating the previous sequence number (discarded, 8.2.1.2)
	Oversize   uint64 // fragments abandoned for exceeding MaxFragment
	Evicted    uint64 // partial fragments abandoned to respect MaxPending
	Empty      uint64 // frames with user data too short for a transport header
}

// partial is a fragment being reassembled: the segments so far from one
// source to one destination.
type partial struct {
	src, dst uint16
	seq      uint8 // of the last segment
	segments int
	age      uint64 // Reassembler.clock at the last segment, for eviction
	buf      []byte
}

// Reassembler rebuilds application fragments from the transport segments
// of one direction of a connection. Segments are reassembled per (source,
// destination) link address pair, so a connection to a gateway that
// carries several outstations keeps their fragments apart. The common case,
// a fragment in one segment, is emitted from the frame's data without a
// copy; longer fragments are copied into buffers that the Reassembler owns
// and reuses.
//
// Missing, repeated and out-of-order segments are counted (Stats); a
// fragment that cannot be completed is abandoned, never emitted half.
type Reassembler struct {
	// MaxFragment caps a fragment's octets (DefaultMaxFragment if ≤ 0).
	MaxFragment int
	// MaxPending caps the fragments reassembled at once
	// (DefaultMaxPending if ≤ 0); the least recently extended one is
	// abandoned for a new one.
	MaxPending int

	parts []*partial
	free  []*partial
	clock uint64
	stats TransportStats
	frag  Fragment
}

// orDefault returns v, or def when v is not positive: the rule of every
// limit in this package's configurable types.
func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Stats returns the Reassembler's counters.
func (r *Reassembler) Stats() TransportStats { return r.stats }

// Pending returns how many fragments are being reassembled.
func (r *Reassembler) Pending() int { return len(r.parts) }

// Reset abandons every partial fragment (after a gap in the stream, the
// segments that follow cannot complete them); they are not counted as lost
// here: the gap is the caller's to report.
func (r *Reassembler) Reset() {
	for len(r.parts) > 0 {
		r.drop(0)
	}
}

// Segment takes the user data of one frame (a transport segment; the caller
// passes only frames of a user-data link function) and calls emit when it
// completes a fragment.
func (r *Reassembler) Segment(f *Frame, emit func(*Fragment)) {
	if len(f.Data) == 0 {
		r.stats.Empty++
		return
	}
	r.stats.Segments++
	r.clock++
	th := TransportHeader(f.Data[0])
	body := f.Data[1:]
	i := r.find(f.Source, f.Dest)
	if th.FIR() {
		if i >= 0 {
			// A new first segment ends the fragment in progress,
			// which lacked its FIN (8.2.1.2).
			r.stats.Lost++
			r.drop(i)
		}
		if th.FIN() {
			r.emit(f.LinkHeader, body, 1, emit)
			return
		}
		if len(body) > orDefault(r.MaxFragment, DefaultMaxFragment) {
			r.stats.Oversize++
			return
		}
		p := r.start(f.Source, f.Dest)
		p.seq, p.segments, p.age = th.Seq(), 1, r.clock
		p.buf = append(p.buf[:0], body...)
		return
	}
	if i < 0 {
		// A later segment whose first was never seen.
		r.stats.Lost++
		return
	}
	p := r.parts[i]
	switch th.Seq() {
	case (p.seq + 1) & 0x3F:
	case p.seq:
		r.stats.Repeated++
		return
	default:
		r.stats.OutOfOrder++
		r.drop(i)
		return
	}
	if len(p.buf)+len(body) > orDefault(r.MaxFragment, DefaultMaxFragment) {
		r.stats.Oversize++
		r.drop(i)
		return
	}
	p.buf = append(p.buf, body...)
	p.seq, p.age = th.Seq(), r.clock
	p.segments++
	if th.FIN() {
		r.emit(f.LinkHeader, p.buf, p.segments, emit)
		r.drop(i)
	}
}

func (r *Reassembler) emit(h LinkHeader, data []byte, segments int, emit func(*Fragment)) {
	r.stats.Fragments++
	r.frag = Fragment{Link: h, Data: data, Segments: segments}
	emit(&r.frag)
}

func (r *Reassembler) find(src, dst uint16) int {
	for i, p := range r.parts {
		if p.src == src && p.dst == dst {
			return i
		}
	}
	return -1
}

// start returns a partial for (src, dst), evicting the least recently
// extended one when MaxPending are in progress.
func (r *Reassembler) start(src, dst uint16) *partial {
	if len(r.parts) >= orDefault(r.MaxPending, DefaultMaxPending) {
		oldest := 0
		for i, p := range r.parts {
			if p.age < r.parts[oldest].age {
				oldest = i
			}
		}
		r.stats.Evicted++
		r.drop(oldest)
	}
	var p *partial
	if n := len(r.free); n > 0 {
		p, r.free = r.free[n-1], r.free[:n-1]
	} else {
		p = &partial{buf: make([]byte, 0, 2*MaxUserData)}
	}
	p.src, p.dst = src, dst
	r.parts = append(r.parts, p)
	return p
}

func (r *Reassembler) drop(i int) {
	p := r.parts[i]
	last := len(r.parts) - 1
	r.parts[i] = r.parts[last]
	r.parts[last] = nil
	r.parts = r.parts[:last]
	p.buf = p.buf[:0]
	r.free = append(r.free, p)
}
