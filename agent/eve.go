package agent

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/sluice-ics/sluice/internal/flow"
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
// The first write error is sticky: every later event is dropped and Err
// reports it, and the agent stops the run on it, so a full disk is an error
// the user sees, never silent loss. An eve is not safe for concurrent use.
type eve struct {
	w      io.Writer
	buf    []byte
	mark   int // start of the event being appended, for abort
	err    error
	filter Events
	// written counts events appended (and thus written or to be written).
	written uint64
}

func newEVE(w io.Writer, filter Events) *eve {
	return &eve{w: w, buf: make([]byte, 0, eveFlushAt+16<<10), filter: filter}
}

// wants reports whether an event of type typ passes the filter. Callers ask
// before building an event, so filtered events cost nothing.
func (e *eve) wants(typ string) bool {
	if e.err != nil {
		return false
	}
	if e.filter == EventsAlerts {
		return typ == EventAlert || typ == EventStats
	}
	return true
}

// begin opens an event: the envelope fields every event type shares, in
// Suricata's order. c is nil for events that belong to no connection
// (stats). src is the client (Modbus master, OPC UA client), dest the server.
// The caller appends `,"<proto>":{...}` with e.buf and then calls end.
func (e *eve) begin(ts time.Time, typ string, c *flow.Conn) {
	e.mark = len(e.buf)
	b := e.buf
	b = append(b, `{"timestamp":`...)
	b = jsonw.Time(b, ts)
	if c != nil {
		b = append(b, `,"flow_id":`...)
		b = jsonw.Uint(b, c.ID)
	}
	b = append(b, `,"event_type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if c != nil {
		b = append(b, `,"src_ip":`...)
		b = appendAddr(b, c.Key.ClientIP)
		b = append(b, `,"src_port":`...)
		b = jsonw.Uint(b, uint64(c.Key.ClientPort))
		b = append(b, `,"dest_ip":`...)
		b = appendAddr(b, c.Key.ServerIP)
		b = append(b, `,"dest_port":`...)
		b = jsonw.Uint(b, uint64(c.Key.ServerPort))
		b = append(b, `,"proto":"TCP"`...)
	}
	e.buf = b
}

// abort drops the event opened by begin (its content turned out empty).
func (e *eve) abort() { e.buf = e.buf[:e.mark] }

// end closes the event opened by begin and writes the buffer out when full.
func (e *eve) end() {
	e.buf = append(e.buf, '}', '\n')
	e.written++
	if len(e.buf) >= eveFlushAt {
		e.flush()
	}
}

// flush writes out what is buffered and returns the sticky error, if any.
func (e *eve) flush() error {
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
	}
	e.buf = e.buf[:0]
	return e.err
}

// appendAddr appends a quoted IP address. IPv4-mapped IPv6 addresses are
// written as IPv4, the form every SIEM joins on. AppendTo does not allocate.
func appendAddr(b []byte, a netip.Addr) []byte {
	b = append(b, '"')
	b = a.Unmap().AppendTo(b)
	return append(b, '"')
}
