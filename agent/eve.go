package agent

import (
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-ics/sluice/internal/jsonw"
)

// Event types of the EVE output, as in Suricata's event_type field.
const (
	EventModbus  = "modbus"
	EventOPCUA   = "opcua"
	EventAlert   = "alert"
	EventAnomaly = "anomaly"
	EventStats   = "stats"
)

// eveFlushAt is the size at which the event buffer is written out. Big
// enough that a write(2) carries hundreds of events, small enough to stay in
// cache.
const eveFlushAt = 128 << 10

// eve writes newline-delimited JSON events in the shape of Suricata's EVE
// log. Events are appended by hand straight into one reused buffer (no
// reflection, no per-event allocation) and written out in large blocks.
//
// The first write error is sticky: every later event is dropped and failure
// reports it, and the agent stops the run on it, so a full disk is an error
// the user sees, never silent loss. An eve is used by one goroutine, except
// that once locked is set, flush and failure may also be called from
// another (the periodic flusher of live capture).
type eve struct {
	w    io.Writer
	buf  []byte
	mark int // start of the event being appended, for abort
	// inEvent is set between begin and end (or abort): an event is being
	// appended (and, locked, mu is held).
	inEvent bool
	// err is the first write error (under mu in locked mode); failed says
	// there is one and may be read from any goroutine without the lock.
	err    error
	failed atomic.Bool
	filter Events
	// written counts events appended (and thus written or to be written).
	written uint64
	// sec and secText cache the rendering of the last whole second seen
	// ("2026-11-21T22:33:00."): events come in time order, so formatting a
	// timestamp is usually six digits, not a calendar computation.
	sec     int64
	secText []byte
	// locked makes begin..end/abort hold mu, so that a periodic flusher
	// (live capture: events must not wait in the buffer while the link is
	// idle) can write the buffer out from another goroutine. Replay leaves
	// it off and pays nothing.
	locked bool
	mu     sync.Mutex
}

// appendTime appends ts quoted, in jsonw.TimeLayout (RFC 3339 UTC,
// microseconds, Z), byte-identical to jsonw.Time but cached per second.
func (e *eve) appendTime(b []byte, ts time.Time) []byte {
	sec := ts.Unix()
	if e.secText == nil || sec != e.sec {
		e.sec = sec
		e.secText = ts.UTC().Truncate(time.Second).AppendFormat(e.secText[:0], "2006-01-02T15:04:05.")
	}
	b = append(b, '"')
	b = append(b, e.secText...)
	b = jsonw.Micros(b, uint32(ts.Nanosecond()/1000))
	return append(b, 'Z', '"')
}

func newEVE(w io.Writer, filter Events) *eve {
	return &eve{w: w, buf: make([]byte, 0, eveFlushAt+16<<10), filter: filter}
}

// wants reports whether an event of type typ passes the filter. Callers ask
// before building an event, so filtered events cost nothing.
func (e *eve) wants(typ string) bool {
	if e.failed.Load() {
		return false
	}
	if e.filter == EventsAlerts {
		return typ == EventAlert || typ == EventStats
	}
	return true
}

// noFlow is the flowID of events that belong to no single connection
// (stats, alerts raised by packet time alone).
const noFlow = ^uint64(0)

// begin opens an event with the envelope fields every event type shares, in
// Suricata's order: timestamp, flow_id (unless flowID is noFlow), event_type
// and then addrs, the pre-rendered address fields of the event's connection
// (see appendAddrs; nil for none). The caller appends `,"<key>":{...}` to
// e.buf and then calls end.
func (e *eve) begin(ts time.Time, typ string, flowID uint64, addrs []byte) {
	e.open(ts)
	e.buf = appendHead(e.buf, typ, flowID, addrs)
}

// beginHead is begin with everything after the timestamp pre-rendered by
// appendHead: a connection renders the head of its own protocol's events
// once, and each transaction's event costs a timestamp and one copy.
func (e *eve) beginHead(ts time.Time, head []byte) {
	e.open(ts)
	e.buf = append(e.buf, head...)
}

// open starts an event: `{"timestamp":"…"`.
func (e *eve) open(ts time.Time) {
	if e.locked {
		e.mu.Lock()
	}
	e.inEvent = true
	e.mark = len(e.buf)
	e.buf = e.appendTime(append(e.buf, `{"timestamp":`...), ts)
}

// appendHead appends the envelope fields that follow the timestamp (see
// begin).
func appendHead(b []byte, typ string, flowID uint64, addrs []byte) []byte {
	if flowID != noFlow {
		b = append(b, `,"flow_id":`...)
		b = jsonw.Uint(b, flowID)
	}
	b = append(b, `,"event_type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	return append(b, addrs...)
}

// appendAddrs appends the address fields of an event: src is the client
// (Modbus master, OPC UA client), dest the server. Streams render them once
// per connection and hand them to begin for every event.
func appendAddrs(b []byte, client, server netip.Addr, cport, sport uint16, ports bool) []byte {
	b = append(b, `,"src_ip":`...)
	b = appendAddr(b, client)
	if ports {
		b = append(b, `,"src_port":`...)
		b = jsonw.Uint(b, uint64(cport))
	}
	b = append(b, `,"dest_ip":`...)
	b = appendAddr(b, server)
	if ports {
		b = append(b, `,"dest_port":`...)
		b = jsonw.Uint(b, uint64(sport))
	}
	return append(b, `,"proto":"TCP"`...)
}

// abort drops the event opened by begin (its content turned out empty).
func (e *eve) abort() {
	e.buf = e.buf[:e.mark]
	e.inEvent = false
	if e.locked {
		e.mu.Unlock()
	}
}

// abandon drops an event left half-written by a panic in the code that
// was appending it (see streamBase.Panicked): without it the partial line
// would stay in the output and, with a periodic flusher, mu would stay
// held and the next event would wait for it forever.
func (e *eve) abandon() {
	if e.inEvent {
		e.abort()
	}
}

// end closes the event opened by begin and writes the buffer out when full.
func (e *eve) end() {
	e.buf = append(e.buf, '}', '\n')
	e.inEvent = false
	e.written++
	if len(e.buf) >= eveFlushAt {
		e.flushLocked()
	}
	if e.locked {
		e.mu.Unlock()
	}
}

// flush writes out what is buffered and returns the sticky error, if any.
// It must not be called between begin and end.
func (e *eve) flush() error {
	if e.locked {
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	return e.flushLocked()
}

func (e *eve) flushLocked() error {
	if e.err != nil {
		e.buf = e.buf[:0]
		return e.err
	}
	if len(e.buf) == 0 {
		return nil
	}
	n, err := e.w.Write(e.buf)
	if err == nil && n < len(e.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		e.err = fmt.Errorf("writing events: %w", err)
		e.failed.Store(true)
	}
	e.buf = e.buf[:0]
	return e.err
}

// failure returns the sticky write error, nil when there is none. Safe from
// any goroutine.
func (e *eve) failure() error {
	if !e.failed.Load() {
		return nil
	}
	if e.locked {
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	return e.err
}

// appendAddr appends a quoted IP address. IPv4-mapped IPv6 addresses are
// written as IPv4, the form every SIEM joins on. AppendTo does not allocate.
func appendAddr(b []byte, a netip.Addr) []byte {
	b = append(b, '"')
	b = a.Unmap().AppendTo(b)
	return append(b, '"')
}
