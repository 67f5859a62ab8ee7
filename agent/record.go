package agent

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-ics/sluice/baselines"
)

// Event types of the EVE output that belong to no protocol, as in Suricata's
// event_type field. A protocol's transaction events take its name
// ("modbus", "opcua": see Protocols).
const (
	EventAlert   = "alert"
	EventAnomaly = "anomaly"
	EventStats   = "stats"
	// EventIncident ("incident") is declared with the incidents
	// (incident.go).
)

// Record is one event as the agent reports it: rendered once as an EVE JSON
// line and handed, with the facts a sink may want without parsing the line,
// to every sink that accepts its type. A Record, its Flow and its Line are
// valid only during Write: a sink that keeps them copies them.
type Record struct {
	// Type is the event_type: a protocol's name, "alert", "anomaly" or
	// "stats".
	Type string
	// Time is the event's packet time.
	Time time.Time
	// Flow is what the event is about: its protocol and parties; nil for
	// the stats event. It is shared by the events of one connection: do
	// not modify it.
	Flow *Flow
	// Function is the function or service of a transaction event
	// ("read_holding_registers", "ReadRequest"), or of the transaction
	// that triggered an alert; empty otherwise.
	Function string
	// Alert is the alert of an "alert" record, nil otherwise. Its
	// Obs/Anomaly pointers are valid only during Write.
	Alert *baselines.Alert
	// Also are the other rules the same request broke, merged into
	// Alert's event (alert.rules, alert.also): Alert is the most severe.
	// Valid only during Write.
	Also []baselines.Alert
	// Incident is the incident of an "incident" record, nil otherwise.
	Incident *Incident
	// Line is the event as EVE JSON, one object without the newline.
	Line []byte
}

// Flow is the protocol and the parties of a record.
type Flow struct {
	// Protocol is the protocol of the connection or of the alert ("" for
	// an alert about no single protocol).
	Protocol string
	// ID is the flow_id of the event's connection; HasID says there is
	// one (alerts raised by packet time alone, such as poll_stopped, have
	// none).
	ID    uint64
	HasID bool
	// Src and Dest are the client and the server (src_ip/src_port,
	// dest_ip/dest_port); invalid when the event names none, port 0 when
	// it names no port.
	Src, Dest netip.AddrPort
	// UDP marks a UDP conversation (DNP3 over UDP); TCP otherwise.
	UDP bool
}

// Sink receives the records of a run: the EVE file, the metrics endpoint,
// the demo's console, a SIEM forwarder. The agent calls Write and Flush
// from the goroutine that runs it; after FlushEvery, Flush also comes from
// another goroutine, so a sink used with FlushEvery must be safe for that.
type Sink interface {
	// Accepts reports whether the sink takes records of event type typ.
	// The agent asks once, when it starts; events no sink accepts are
	// never rendered.
	Accepts(typ string) bool
	// Write takes one record.
	Write(r *Record) error
	// Flush writes out what the sink buffers.
	Flush() error
	// Critical reports whether the sink's failure must stop the run. A
	// critical sink (the EVE file) returns its write error and the agent
	// stops with it: an event is never lost silently, a full disk is an
	// error the user sees. A sink that is not critical (a network
	// forwarder) buffers, counts and retries on its own, and an error it
	// returns is only counted (Stats.SinkErrors): it never stops the
	// monitor.
	Critical() bool
}

// writer renders events and hands each to the sinks that accept its type.
// It is used by the agent's goroutine; flush and failure may also be called
// from the periodic flusher's.
//
// An event is rendered once. When an EVE sink takes it, it is rendered
// straight into that sink's block buffer (the route's direct sink), which
// saves copying every line (some 40 instructions per event, 5 % of a full
// replay); the other sinks get the same line. Otherwise it is rendered into
// the writer's own buffer. Either way a sink sees only whole events: a
// rendering that a decoder panic interrupts is dropped by abandon.
type writer struct {
	sinks []Sink
	// routes holds, per event type, where its events go.
	routes map[string]*route
	// alerts, anomalies and stats are the routes of the agent's own event
	// types, looked up once.
	alerts, anomalies, stats, incidents, flows *route
	// buf is the event being rendered, from mark on: the direct sink's
	// buffer or own. cur is its route while inEvent.
	buf     []byte
	mark    int
	own     []byte
	cur     *route
	inEvent bool
	rec     Record
	// tail closes every event before its brace: the sensor identity
	// (`,"host":"…","site":"…"`, see identityTail), nil when none is set.
	tail []byte
	// flow is the Flow of alerts that belong to no connection.
	flow Flow
	// written counts the records handed to at least one sink.
	written uint64
	// sinkErrors counts errors of sinks that are not critical (the
	// periodic flusher may add to it).
	sinkErrors atomic.Uint64
	// err is the first error of a critical sink (under mu); failed says
	// there is one, readable from any goroutine without the lock, and
	// failedCh is closed when it is set. After it no event is rendered.
	mu       sync.Mutex
	err      error
	failed   atomic.Bool
	failedCh chan struct{}
	// sec and secText cache the rendering of the last whole second seen
	// ("2026-11-21T22:33:00."): events come in time order, so formatting a
	// timestamp is usually six digits, not a calendar computation.
	sec     int64
	secText []byte
}

// route is where the events of one type go: the EVE sink they are
// rendered into (nil when no EVE sink takes them) and the other sinks that
// take them.
type route struct {
	direct *EVE
	others []Sink
}

func newWriter(sinks []Sink) *writer {
	w := &writer{sinks: sinks, routes: map[string]*route{}, own: make([]byte, 0, 16<<10), failedCh: make(chan struct{})}
	types := []string{EventAlert, EventAnomaly, EventStats, EventIncident, EventFlow}
	for _, m := range modules {
		types = append(types, m.name)
	}
	for _, typ := range types {
		r := &route{}
		for _, s := range sinks {
			if !s.Accepts(typ) {
				continue
			}
			if e, ok := s.(*EVE); ok && r.direct == nil {
				r.direct = e
			} else {
				r.others = append(r.others, s)
			}
		}
		w.routes[typ] = r
	}
	w.alerts, w.anomalies, w.stats = w.routes[EventAlert], w.routes[EventAnomaly], w.routes[EventStats]
	w.incidents = w.routes[EventIncident]
	w.flows = w.routes[EventFlow]
	return w
}

// wants reports whether events routed to r are to be rendered: a sink
// takes them and no critical sink has failed. Callers ask before building
// an event, so events nobody takes cost nothing.
func (w *writer) wants(r *route) bool {
	return (r.direct != nil || len(r.others) > 0) && !w.failed.Load()
}

// open starts rendering an event of route r: sets the record's facts and
// writes `{"timestamp":"…"`. The caller appends the rest of the object to
// buf and calls send.
func (w *writer) open(ts time.Time, typ string, f *Flow, r *route) {
	w.rec.Type, w.rec.Time, w.rec.Flow = typ, ts, f
	if r.direct != nil {
		w.buf = r.direct.reserve()
	} else {
		w.buf = w.own[:0]
	}
	w.mark, w.cur, w.inEvent = len(w.buf), r, true
	w.buf = w.appendTime(append(w.buf, `{"timestamp":`...), ts)
}

// openParties opens an event of type typ that belongs to no connection:
// no flow_id, no ports; src_ip and dest_ip when the parties are valid
// (poll_stopped, a count update, an incident), none otherwise (an anomaly
// of the monitor itself). proto is the Flow's protocol ("" for none).
func (w *writer) openParties(ts time.Time, typ string, r *route, proto string, src, dst netip.Addr) {
	f := &w.flow
	*f = Flow{Protocol: proto}
	if src.IsValid() {
		f.Src, f.Dest = netip.AddrPortFrom(src.Unmap(), 0), netip.AddrPortFrom(dst.Unmap(), 0)
	}
	w.open(ts, typ, f, r)
	w.buf = appendHead(w.buf, typ, 0, false, nil)
	if src.IsValid() {
		w.buf = appendAddrs(w.buf, src, dst, 0, 0, false)
	}
}

// send closes the event opened by open and hands it to its route's sinks.
func (w *writer) send() {
	r := w.cur
	if len(w.tail) != 0 {
		w.buf = append(w.buf, w.tail...)
	}
	w.buf = append(w.buf, '}')
	w.rec.Line = w.buf[w.mark:]
	w.written++
	for _, s := range r.others {
		if err := s.Write(&w.rec); err != nil {
			w.fail(s, err)
		}
	}
	w.inEvent = false
	if r.direct != nil {
		if err := r.direct.commit(w.buf); err != nil {
			w.fail(r.direct, err)
		}
	} else {
		w.own = w.buf
	}
	w.buf, w.rec.Line, w.rec.Alert, w.rec.Function, w.rec.Incident = nil, nil, nil, "", nil
}

// abandon drops an event left half rendered by a panic in the code that
// was rendering it (see conn.Panicked): no sink sees it, and the direct
// sink's lock (live capture) is released, or the next event would wait for
// it forever.
func (w *writer) abandon() {
	if w.inEvent {
		w.inEvent = false
		if d := w.cur.direct; d != nil {
			d.release(w.mark)
		}
		w.buf = nil
	}
}

// fail records a sink's error: sticky and run-stopping for a critical
// sink, counted for the others.
func (w *writer) fail(s Sink, err error) {
	if !s.Critical() {
		w.sinkErrors.Add(1)
		return
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = err
		w.failed.Store(true)
		close(w.failedCh)
	}
	w.mu.Unlock()
}

// flush flushes every sink and returns the first critical error, if any.
func (w *writer) flush() error {
	for _, s := range w.sinks {
		if err := s.Flush(); err != nil {
			w.fail(s, err)
		}
	}
	return w.failure()
}

// failure returns the first error of a critical sink, nil when there is
// none. Safe from any goroutine.
func (w *writer) failure() error {
	if !w.failed.Load() {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
