package dnp3

import "time"

// Pairing defaults: a master has one request outstanding per outstation
// (IEEE 1815-2012, 4.2.2.4.3), so a connection holds as many as it reaches
// outstations; the timeout is well above an application response timeout
// (typically seconds).
const (
	DefaultMaxPendingRequests = 64
	DefaultTimeout            = 10 * time.Second
)

// Half is one side of a transaction: a fragment from the master or from
// the outstation.
type Half struct {
	// Link is the link header of the frame that completed the fragment:
	// its source and destination addresses and control octet.
	Link LinkHeader
	// Message is the decoded fragment; its Err says whether it decoded
	// completely.
	Message Message
	// Segments is how many transport segments carried the fragment.
	Segments int
	Time     time.Time
}

// Transaction is a request and its response, or one fragment alone: a
// request that expects no response (confirm, the _nr codes, a broadcast), a request
// whose response never came, an unsolicited response, a response whose
// request was not seen.
//
// A Transaction handed to an emit callback aliases the Pairer's buffers and
// the fragment being processed; it is valid only until the callback
// returns.
type Transaction struct {
	HasRequest  bool
	Request     Half
	HasResponse bool
	Response    Half
	// Timeout is set on a request emitted without the response it
	// expects: none came within the timeout, the request was pushed out of
	// a full pending table or repeated with the same sequence number, or
	// the connection closed.
	Timeout bool
	// Latency is the response's time minus the request's, both seen.
	Latency time.Duration
}

// Time is the transaction's event time: the request's, or the response's
// for a response alone.
func (t *Transaction) Time() time.Time {
	if t.HasRequest {
		return t.Request.Time
	}
	return t.Response.Time
}

// Function returns the request's function code, or the response's for a
// response alone.
func (t *Transaction) Function() FunctionCode {
	if t.HasRequest {
		return t.Request.Message.Function
	}
	return t.Response.Message.Function
}

// PairStats counts what a Pairer did besides pairing.
type PairStats struct {
	Pending     int    // requests waiting now
	Paired      uint64 // transactions with request and response
	Alone       uint64 // requests that expect no response (confirm, _nr codes, broadcasts)
	TimedOut    uint64 // requests expired or flushed without a response
	Evicted     uint64 // requests pushed out because MaxPending were pending
	Replaced    uint64 // requests superseded by a request with the same addresses and sequence
	Unsolicited uint64 // unsolicited responses
	Unpaired    uint64 // solicited responses without a pending request
}

// MinBroadcast is the lowest broadcast destination address: IEEE 1815-2012
// reserves 0xFFFD-0xFFFF of the link-layer addresses for broadcasts, which
// outstations never answer (they set IIN1.0 in their next response).
const MinBroadcast = 0xFFFD

type pendingRequest struct {
	link     LinkHeader
	seq      uint8
	segments int
	ts       time.Time
	buf      []byte
}

// Pairer pairs the fragments of one connection: a master's request and the
// outstation's response by (master address, outstation address,
// application sequence number), as IEEE 1815-2012 4.2.2.4.3 pairs them; a
// response answers the request whose sequence number it repeats, sent to
// the station it comes from. Unsolicited responses (and the confirmations
// a master sends back) are transactions of their own. Which side is which
// comes from the function code, not from the TCP direction, so a master
// that accepts the outstation's TCP connection pairs the same way.
//
// A response of several fragments pairs its first fragment with the
// request; each following fragment (FIR clear, the sequence number one
// more) is a transaction of its own, as in Suricata.
//
// A Pairer copies each pending request into a buffer it owns and reuses,
// and decodes fragments into Messages it reuses: in steady state it
// allocates nothing.
type Pairer struct {
	// MaxPending caps the requests awaiting a response
	// (DefaultMaxPendingRequests if ≤ 0); when full the oldest is emitted
	// unanswered and counted in Evicted.
	MaxPending int
	// Timeout is how long, in packet time, a request waits for its
	// response (DefaultTimeout if ≤ 0).
	Timeout time.Duration

	pending []*pendingRequest // in arrival order
	free    []*pendingRequest
	stats   PairStats
	tx      Transaction
}

// Stats returns the Pairer's counters.
func (p *Pairer) Stats() PairStats {
	s := p.stats
	s.Pending = len(p.pending)
	return s
}

// fromOutstation reports whether a fragment comes from an outstation: its
// function code is a response's or, when the fragment is too short to
// carry one, its link header lacks the DIR bit (set by masters, 9.2.4.1.3.1).
func fromOutstation(f *Fragment) bool {
	if len(f.Data) >= 2 {
		return FunctionCode(f.Data[1]).IsResponse()
	}
	return !f.Link.Control.Dir()
}

// Fragment takes one application fragment seen at ts and emits the
// transactions it completes: a response paired with its request or alone,
// a request that expects no response, or older requests it replaces or
// evicts. A request that expects a response waits for it.
func (p *Pairer) Fragment(f *Fragment, ts time.Time, emit func(*Transaction)) {
	if fromOutstation(f) {
		p.response(f, ts, emit)
		return
	}
	if len(f.Data) < 2 || !FunctionCode(f.Data[1]).ExpectsResponse() || f.Link.Dest >= MinBroadcast {
		p.stats.Alone++
		t := &p.tx
		t.HasResponse, t.Timeout, t.Latency = false, false, 0
		p.fillHalf(&t.HasRequest, &t.Request, f.Link, f.Data, f.Segments, ts)
		emit(t)
		return
	}
	seq := AppControl(f.Data[0]).Seq()
	for i, q := range p.pending {
		if q.seq == seq && q.link.Source == f.Link.Source && q.link.Dest == f.Link.Dest {
			p.stats.Replaced++
			p.emitRequest(i, emit)
			break
		}
	}
	if len(p.pending) >= orDefault(p.MaxPending, DefaultMaxPendingRequests) {
		p.stats.Evicted++
		p.emitRequest(0, emit)
	}
	var q *pendingRequest
	if n := len(p.free); n > 0 {
		q, p.free = p.free[n-1], p.free[:n-1]
	} else {
		q = new(pendingRequest)
	}
	q.link, q.seq, q.segments, q.ts = f.Link, seq, f.Segments, ts
	q.buf = append(q.buf[:0], f.Data...)
	p.pending = append(p.pending, q)
}

func (p *Pairer) response(f *Fragment, ts time.Time, emit func(*Transaction)) {
	t := &p.tx
	t.Timeout = false
	p.fillHalf(&t.HasResponse, &t.Response, f.Link, f.Data, f.Segments, ts)
	if len(f.Data) >= 2 && FunctionCode(f.Data[1]) != FuncUnsolicitedResponse {
		seq := AppControl(f.Data[0]).Seq()
		for i, q := range p.pending {
			if q.seq != seq || q.link.Source != f.Link.Dest || q.link.Dest != f.Link.Source {
				continue
			}
			p.fillHalf(&t.HasRequest, &t.Request, q.link, q.buf, q.segments, q.ts)
			t.Latency = ts.Sub(q.ts)
			p.stats.Paired++
			emit(t)
			p.release(i)
			return
		}
		p.stats.Unpaired++
	} else {
		p.stats.Unsolicited++
	}
	t.HasRequest, t.Latency = false, 0
	emit(t)
}

// fillHalf decodes a fragment into one side of p.tx.
func (p *Pairer) fillHalf(has *bool, h *Half, link LinkHeader, data []byte, segments int, ts time.Time) {
	*has = true
	h.Link, h.Segments, h.Time = link, segments, ts
	h.Message.Parse(data)
}

// Expire emits, as timed out, every request that has waited longer than
// Timeout at packet time now.
func (p *Pairer) Expire(now time.Time, emit func(*Transaction)) { p.expire(now, false, emit) }

// Flush emits every pending request as unanswered, for the end of a
// connection. Flushed requests count as timed out.
func (p *Pairer) Flush(emit func(*Transaction)) { p.expire(time.Time{}, true, emit) }

func (p *Pairer) expire(now time.Time, all bool, emit func(*Transaction)) {
	to := orDefault(p.Timeout, DefaultTimeout)
	for i := 0; i < len(p.pending); {
		if all || now.Sub(p.pending[i].ts) > to {
			p.stats.TimedOut++
			p.emitRequest(i, emit)
		} else {
			i++
		}
	}
}

// emitRequest emits pending request i alone, as unanswered, and removes it.
func (p *Pairer) emitRequest(i int, emit func(*Transaction)) {
	q := p.pending[i]
	t := &p.tx
	t.HasResponse, t.Timeout, t.Latency = false, true, 0
	p.fillHalf(&t.HasRequest, &t.Request, q.link, q.buf, q.segments, q.ts)
	emit(t)
	p.release(i)
}

func (p *Pairer) release(i int) {
	q := p.pending[i]
	copy(p.pending[i:], p.pending[i+1:])
	p.pending[len(p.pending)-1] = nil
	p.pending = p.pending[:len(p.pending)-1]
	p.free = append(p.free, q)
}
