package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/sluice-ics/sluice/internal/communityid"
	"github.com/sluice-ics/sluice/internal/jsonw"
)

// eveFlushAt is the size at which the EVE sink writes its buffer out. Big
// enough that a write(2) carries hundreds of events, small enough to stay in
// cache.
const eveFlushAt = 128 << 10

// EVE is the sink of the EVE log: newline-delimited JSON events in the shape
// of Suricata's, written to an io.Writer in large blocks. It is critical:
// its first write error is sticky, every later record is refused with it,
// and the agent stops the run on it, so a full disk is an error the user
// sees, never silent loss.
type EVE struct {
	w      io.Writer
	filter Events
	buf    []byte
	err    error
	// locked makes Write and Flush take mu, for a periodic flusher on
	// another goroutine (live capture: events must not wait in the buffer
	// while the link is idle). Replay leaves it off and pays nothing.
	locked bool
	mu     sync.Mutex
}

// NewEVE returns the EVE sink writing the events filter selects to w. It
// never closes w.
func NewEVE(w io.Writer, filter Events) *EVE {
	return &EVE{w: w, filter: filter, buf: make([]byte, 0, eveFlushAt+16<<10)}
}

// Locked makes the sink safe for Flush from another goroutine (see
// Agent.FlushEvery) and returns it. Call it before the run.
func (e *EVE) Locked() *EVE {
	e.locked = true
	return e
}

// Accepts implements Sink: every event, or with EventsAlerts the alerts and
// the final stats (the shape a SIEM wants, and the cheapest to run).
func (e *EVE) Accepts(typ string) bool {
	return e.filter == EventsAll || e.filter == EventsNoFlow && typ != EventFlow ||
		typ == EventAlert || typ == EventStats || typ == EventIncident
}

// Critical implements Sink: events must not be lost silently.
func (e *EVE) Critical() bool { return true }

// Write implements Sink: the line and its newline go into the buffer, which
// is written out when full.
func (e *EVE) Write(r *Record) error {
	if e.locked {
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	if e.err != nil {
		return e.err
	}
	e.buf = append(append(e.buf, r.Line...), '\n')
	if len(e.buf) >= eveFlushAt {
		return e.flushLocked()
	}
	return nil
}

// reserve, commit and release let the writer render an event straight into
// the buffer (see writer): reserve returns it (and takes the lock, in
// locked mode), commit takes it back with the event appended, which ends
// the event, and release drops what was appended after mark. Exactly one
// of commit and release follows a reserve.
func (e *EVE) reserve() []byte {
	if e.locked {
		e.mu.Lock()
	}
	return e.buf
}

func (e *EVE) commit(b []byte) error {
	e.buf = append(b, '\n')
	var err error
	if e.err != nil || len(e.buf) >= eveFlushAt {
		err = e.flushLocked()
	}
	if e.locked {
		e.mu.Unlock()
	}
	return err
}

func (e *EVE) release(mark int) {
	e.buf = e.buf[:mark]
	if e.locked {
		e.mu.Unlock()
	}
}

// Flush implements Sink: it writes out what is buffered and returns the
// sticky error, if any.
func (e *EVE) Flush() error {
	if e.locked {
		e.mu.Lock()
		defer e.mu.Unlock()
	}
	return e.flushLocked()
}

func (e *EVE) flushLocked() error {
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
		// A write that failed part-way (a full disk) left the start of
		// an event after the last whole one: take it back where the
		// output allows it, or say it is there.
		if cut := n - (bytes.LastIndexByte(e.buf[:max(n, 0)], '\n') + 1); cut > 0 {
			var cerr error
			switch w := e.w.(type) {
			case TailCutter:
				cerr = w.CutTail(cut)
			case *os.File:
				cerr = CutFileTail(w, cut)
			default:
				cerr = errors.ErrUnsupported
			}
			if cerr != nil {
				e.err = fmt.Errorf("%w (a partial event of %d bytes is left at the end of the output: %v)", e.err, cut, cerr)
			}
		}
	}
	e.buf = e.buf[:0]
	return e.err
}

// TailCutter is an output that can take back the last bytes written to it
// (an *os.File that is a regular file can, without implementing it). When a write fails part-way (a full disk), the EVE sink
// cuts the partial event it left, so that the output ends with a whole
// event and nothing written later is glued to the fragment.
type TailCutter interface {
	// CutTail removes the last n bytes written.
	CutTail(n int) error
}

// CutFileTail removes the last n bytes written to f, which must be a
// regular file whose offset is the end of what was written (a file opened
// for appending, or written from its start).
func CutFileTail(f *os.File, n int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", f.Name())
	}
	end, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if int64(n) > end {
		return fmt.Errorf("%s: cannot cut %d bytes at offset %d", f.Name(), n, end)
	}
	if err := f.Truncate(end - int64(n)); err != nil {
		return err
	}
	_, err = f.Seek(end-int64(n), io.SeekStart)
	return err
}

// appendTime appends ts quoted, in jsonw.TimeLayout (RFC 3339 UTC,
// microseconds, Z), byte-identical to jsonw.Time but cached per second.
func (w *writer) appendTime(b []byte, ts time.Time) []byte {
	sec := ts.Unix()
	if w.secText == nil || sec != w.sec {
		w.sec = sec
		w.secText = ts.UTC().Truncate(time.Second).AppendFormat(w.secText[:0], "2006-01-02T15:04:05.")
	}
	b = append(b, '"')
	b = append(b, w.secText...)
	b = jsonw.Micros(b, uint32(ts.Nanosecond()/1000))
	return append(b, 'Z', '"')
}

// appendHead appends the envelope fields that follow the timestamp, in
// Suricata's order: flow_id (unless hasFlow is false), event_type and then
// addrs, the pre-rendered address fields of the event's connection (see
// appendAddrs; nil for none). A connection renders the head of its
// protocol's events once, so each transaction's event costs a timestamp
// and one copy.
func appendHead(b []byte, typ string, flowID uint64, hasFlow bool, addrs []byte) []byte {
	if hasFlow {
		b = append(b, `,"flow_id":`...)
		b = jsonw.Uint(b, flowID)
	}
	b = append(b, `,"event_type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	return append(b, addrs...)
}

// identityTail renders the fields that end every event when the sensor or
// the site is named: `,"host":"NAME"` as Suricata writes its sensor-name
// (the last field of the object: Suricata adds it when it closes the
// event, in output-json.c), then `,"site":"NAME"`, which Suricata has no
// field for. Nil when neither is set, so events stay byte-identical.
func identityTail(sensor, site string) []byte {
	var b []byte
	if sensor != "" {
		b = jsonw.String(append(b, `,"host":`...), sensor)
	}
	if site != "" {
		b = jsonw.String(append(b, `,"site":`...), site)
	}
	return b
}

// appendAddrs appends the address fields of an event: src is the client
// (Modbus master, OPC UA client), dest the server. Streams render them once
// per connection.
func appendAddrs(b []byte, client, server netip.Addr, cport, sport uint16, ports bool) []byte {
	return appendAddrsProto(b, client, server, cport, sport, ports, communityid.TCP)
}

// appendAddrsProto is appendAddrs for a transport: TCP or UDP (the
// agent's DNP3-over-UDP conversations).
func appendAddrsProto(b []byte, client, server netip.Addr, cport, sport uint16, ports bool, proto uint8) []byte {
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
	if proto == communityid.UDP {
		b = append(b, `,"proto":"UDP"`...)
	} else {
		b = append(b, `,"proto":"TCP"`...)
	}
	if ports {
		// The connection's Community ID, where Suricata writes it: one
		// join key with Zeek, Suricata and Wireshark for the same flow.
		b = append(b, `,"community_id":"`...)
		b = communityid.AppendV1(b, 0, netip.AddrPortFrom(client, cport), netip.AddrPortFrom(server, sport), proto)
		b = append(b, '"')
	}
	return b
}

// appendAddr appends a quoted IP address. IPv4-mapped IPv6 addresses are
// written as IPv4, the form every SIEM joins on. AppendTo does not allocate.
func appendAddr(b []byte, a netip.Addr) []byte {
	b = append(b, '"')
	b = a.Unmap().AppendTo(b)
	return append(b, '"')
}
