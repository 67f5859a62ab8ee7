package modbus

import "time"

// Pairing defaults (issue 2, §4): enough in-flight requests for any real
// master (Modbus/TCP clients rarely pipeline more than a handful), and a
// timeout well above the seconds a slow serial gateway takes.
const (
	DefaultMaxPending = 64
	DefaultTimeout    = 10 * time.Second
)

// Transaction is a request and its response, or one of them alone: a
// request that timed out or was evicted, or an unsolicited response.
//
// A Transaction handed to an emit callback aliases the Pairer's buffers and
// the ADU being processed; it is valid only until the callback returns.
type Transaction struct {
	TransactionID uint16
	UnitID        uint8
	// FunctionCode is the request's code, or for a response alone the
	// response's code without the exception bit.
	FunctionCode FunctionCode

	HasRequest  bool
	Request     Request
	RequestErr  error // decoding error of the request (wraps ErrMalformed)
	RequestTime time.Time

	HasResponse  bool
	Response     Response
	ResponseErr  error
	ResponseTime time.Time

	// Timeout is set on a request emitted without a response: no response
	// came within the timeout, or the request was pushed out of a full
	// pending table, or replaced by a newer request with the same ids.
	Timeout bool
	// CaptureLoss is set instead of Timeout on a request emitted without a
	// response when the capture lost bytes from the server while it was
	// waiting (Pairer.Lost): its response was probably in them. A fact of
	// the capture, not of the device: not a failed request.
	CaptureLoss bool
	// Latency is ResponseTime - RequestTime when both were seen.
	Latency time.Duration
}

// Exception returns the exception code when the response is an exception.
func (t *Transaction) Exception() (ExceptionCode, bool) {
	if t.HasResponse && t.Response.IsException() {
		return t.Response.Exception, true
	}
	return 0, false
}

// Time is the transaction's event time: the request's timestamp, or the
// response's for a response alone.
func (t *Transaction) Time() time.Time {
	if t.HasRequest {
		return t.RequestTime
	}
	return t.ResponseTime
}

// PairStats counts what a Pairer did besides pairing.
type PairStats struct {
	Pending     int    // requests waiting now
	Paired      uint64 // transactions with request and response
	TimedOut    uint64 // requests expired without a response
	Evicted     uint64 // requests pushed out because MaxPending were pending
	Replaced    uint64 // requests superseded by a new request with the same ids
	Unsolicited uint64 // responses without a pending request
	Lost        uint64 // requests emitted unanswered whose response the capture probably lost
}

type pending struct {
	tid  uint16
	unit uint8
	ts   time.Time
	// lost: the capture lost server bytes while the request waited.
	lost bool
	n    int
	pdu  [MaxPDULen]byte
}

// Pairer pairs the requests and responses of one connection by (transaction
// id, unit id), as the Modbus Messaging on TCP/IP Implementation Guide
// V1.0b, 3.1.3 intends, not first-in-first-out: a server may answer
// pipelined requests out of order. The caller keeps one Pairer per
// connection, feeds it the client's ADUs through Request and the server's
// through Response, and calls Expire with packet time.
//
// A Pairer copies each pending request's PDU into a buffer it owns and reuses;
// in steady state it allocates nothing.
type Pairer struct {
	// MaxPending caps the requests awaiting a response (DefaultMaxPending
	// if ≤ 0). When full, the oldest is emitted unanswered and counted in
	// Evicted.
	MaxPending int
	// Timeout is how long, in packet time, a request waits for its
	// response (DefaultTimeout if ≤ 0).
	Timeout time.Duration

	pending []*pending // in arrival order
	free    []*pending
	stats   PairStats
	tx      Transaction
	// afterLoss is set by Lost until the next paired response: requests
	// older than the one it answers were waiting while the server's
	// framer resynchronised, and lost their responses too.
	afterLoss bool
	// clientLoss is set by ClientLost until the next paired response.
	// Meanwhile a request whose response came before it (early) was
	// held back by the reassembler behind the hole: it is marked
	// CaptureLoss, not left to time out.
	clientLoss bool
	early      [4]earlyResponse
	earlyNext  int
}

// earlyResponse is an unsolicited response's ids and time.
type earlyResponse struct {
	tid  uint16
	unit uint8
	ok   bool
	ts   time.Time
}

// ClientLost tells the Pairer that the capture lost bytes the client sent:
// the requests delivered after the hole may come after their responses,
// which were emitted alone.
func (p *Pairer) ClientLost() { p.clientLoss = true }

// answeredEarly reports whether a response with these ids came alone
// within the timeout before ts, and forgets it.
func (p *Pairer) answeredEarly(tid uint16, unit uint8, ts time.Time) bool {
	for i := range p.early {
		e := &p.early[i]
		if e.ok && e.tid == tid && e.unit == unit && since(e.ts, ts) <= p.timeout() {
			e.ok = false
			return true
		}
	}
	return false
}

// Lost tells the Pairer that the capture lost bytes the server sent (a
// reassembly gap): every request waiting now may have lost its response,
// and so may the requests sent until the server's stream is framed again.
// Those emitted without a response are marked CaptureLoss, not Timeout.
func (p *Pairer) Lost() {
	for _, q := range p.pending {
		q.lost = true
	}
	p.afterLoss = true
}

// NewPairer returns a Pairer with the given cap and timeout (defaults when
// zero).
func NewPairer(maxPending int, timeout time.Duration) *Pairer {
	return &Pairer{MaxPending: maxPending, Timeout: timeout}
}

func (p *Pairer) maxPending() int {
	if p.MaxPending > 0 {
		return p.MaxPending
	}
	return DefaultMaxPending
}

func (p *Pairer) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// Stats returns the Pairer's counters.
func (p *Pairer) Stats() PairStats {
	s := p.stats
	s.Pending = len(p.pending)
	return s
}

// Request records a request ADU seen at ts from the client. It may emit
// older requests: one replaced by this one (same ids) or evicted to respect
// MaxPending.
func (p *Pairer) Request(adu ADU, ts time.Time, emit func(*Transaction)) {
	if len(adu.PDU) == 0 {
		return
	}
	for i, q := range p.pending {
		if q.tid == adu.TransactionID && q.unit == adu.UnitID {
			p.stats.Replaced++
			p.emitRequest(i, emit)
			break
		}
	}
	if len(p.pending) >= p.maxPending() {
		p.stats.Evicted++
		p.emitRequest(0, emit)
	}
	var q *pending
	if n := len(p.free); n > 0 {
		q, p.free = p.free[n-1], p.free[:n-1]
	} else {
		q = new(pending)
	}
	q.tid, q.unit, q.ts, q.lost = adu.TransactionID, adu.UnitID, ts, false
	if p.clientLoss && p.answeredEarly(q.tid, q.unit, ts) {
		q.lost = true
	}
	q.n = copy(q.pdu[:], adu.PDU)
	p.pending = append(p.pending, q)
}

// Response records a response ADU seen at ts from the server and emits its
// transaction: paired with the pending request of the same ids, or alone.
func (p *Pairer) Response(adu ADU, ts time.Time, emit func(*Transaction)) {
	if len(adu.PDU) == 0 {
		return
	}
	i := p.find(adu.TransactionID, adu.UnitID)
	if i >= 0 && p.afterLoss {
		// The first response framed after a loss: the requests before
		// the one it answers lost theirs while the framer looked for a
		// header. They are emitted now, in their order, not at their
		// timeout: nothing will answer them.
		p.afterLoss = false
		for ; i > 0; i-- {
			p.pending[0].lost = true
			p.emitUnanswered(0, emit)
		}
	}
	// Every field of t is set below, on each path: zeroing the whole
	// Transaction first would write its 448 bytes once more per response.
	t := &p.tx
	t.TransactionID, t.UnitID = adu.TransactionID, adu.UnitID
	fc := FunctionCode(adu.PDU[0])
	t.HasResponse, t.ResponseTime = true, ts
	t.ResponseErr = t.Response.decode(fc, adu.PDU[1:])
	t.FunctionCode = fc.Base()
	t.Timeout, t.CaptureLoss = false, false
	if i >= 0 {
		p.clientLoss = false
		q := p.pending[i]
		p.fillRequest(t, q)
		t.Latency = since(q.ts, ts)
		// Bit reads carry whole bytes; only the requested bits count.
		if t.Response.Values.bits && (fc == FuncReadCoils || fc == FuncReadDiscreteInputs) && t.RequestErr == nil {
			t.Response.Values = t.Response.Values.Head(int(t.Request.Quantity))
		}
		p.stats.Paired++
		emit(t)
		p.release(i)
		return
	}
	p.stats.Unsolicited++
	// Remembered in case the capture lost client bytes: its request may
	// be behind the hole (ClientLost).
	p.early[p.earlyNext] = earlyResponse{tid: adu.TransactionID, unit: adu.UnitID, ok: true, ts: ts}
	p.earlyNext = (p.earlyNext + 1) % len(p.early)
	t.HasRequest, t.Request, t.RequestErr, t.RequestTime, t.Latency = false, Request{}, nil, time.Time{}, 0
	emit(t)
}

// find returns the index of the pending request with these ids, or -1.
func (p *Pairer) find(tid uint16, unit uint8) int {
	for i, q := range p.pending {
		if q.tid == tid && q.unit == unit {
			return i
		}
	}
	return -1
}

// Expire emits, as timed out, every request that has waited longer than
// Timeout at packet time now.
func (p *Pairer) Expire(now time.Time, emit func(*Transaction)) {
	to := p.timeout()
	for len(p.pending) > 0 && since(p.pending[0].ts, now) > to {
		p.emitUnanswered(0, emit)
	}
	// Requests arrive in time order, but a capture's clock can step back:
	// check the rest too.
	for i := 0; i < len(p.pending); {
		if since(p.pending[i].ts, now) > to {
			p.emitUnanswered(i, emit)
			continue
		}
		i++
	}
}

// emitUnanswered emits pending request i as one that waited in vain and
// counts it: timed out, or lost with the capture's bytes.
func (p *Pairer) emitUnanswered(i int, emit func(*Transaction)) {
	if p.pending[i].lost {
		p.stats.Lost++
	} else {
		p.stats.TimedOut++
	}
	p.emitRequest(i, emit)
}

// Flush emits every pending request as unanswered (Timeout set, or
// CaptureLoss), for the end of a connection. Flushed requests count as
// timed out (or lost).
func (p *Pairer) Flush(emit func(*Transaction)) {
	for len(p.pending) > 0 {
		p.emitUnanswered(0, emit)
	}
}

func (p *Pairer) reset() *Transaction {
	p.tx = Transaction{}
	return &p.tx
}

func (p *Pairer) fillRequest(t *Transaction, q *pending) {
	pdu := q.pdu[:q.n]
	t.HasRequest, t.RequestTime = true, q.ts
	t.FunctionCode = FunctionCode(pdu[0])
	t.RequestErr = t.Request.decode(t.FunctionCode, pdu[1:])
}

// emitRequest emits pending request i alone and removes it.
func (p *Pairer) emitRequest(i int, emit func(*Transaction)) {
	q := p.pending[i]
	t := p.reset()
	t.TransactionID, t.UnitID = q.tid, q.unit
	t.Timeout, t.CaptureLoss = !q.lost, q.lost
	p.fillRequest(t, q)
	emit(t)
	p.release(i)
}

func (p *Pairer) release(i int) {
	q := p.pending[i]
	if last := len(p.pending) - 1; i < last {
		// Keep arrival order (Expire and Flush emit oldest first). The
		// common case, the one pending request answered, needs no copy.
		copy(p.pending[i:], p.pending[i+1:])
	}
	p.pending[len(p.pending)-1] = nil
	p.pending = p.pending[:len(p.pending)-1]
	p.free = append(p.free, q)
}

// since returns now.Sub(then) for packet times, which carry no monotonic
// clock reading. Sub checks for overflow with an Add and an Equal, which
// cost more than the subtraction (about a third of pairing a response);
// two times less than 2^32 s (136 years) apart cannot overflow, and further
// apart since falls back on Sub, which saturates.
func since(then, now time.Time) time.Duration {
	if ds := now.Unix() - then.Unix(); ds > -1<<32 && ds < 1<<32 {
		return time.Duration(ds)*time.Second + time.Duration(now.Nanosecond()-then.Nanosecond())
	}
	return now.Sub(then)
}
