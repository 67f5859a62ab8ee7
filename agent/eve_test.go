package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/internal/jsonw"
)

func testConn(client, server string, cport, sport uint16) *flow.Conn {
	return &flow.Conn{ID: 42, Key: flow.Key{
		ClientIP: netip.MustParseAddr(client), ServerIP: netip.MustParseAddr(server),
		ClientPort: cport, ServerPort: sport,
	}}
}

// writeEvent renders one event through w as the agent does: the envelope
// of connection c (nil for none), then `,"x":1`.
func writeEvent(w *writer, ts time.Time, typ string, c *flow.Conn) {
	w.open(ts, typ, nil, w.routes[typ])
	if c == nil {
		w.buf = appendHead(w.buf, typ, 0, false, nil)
	} else {
		w.buf = appendHead(w.buf, typ, c.ID, true, nil)
		w.buf = appendAddrs(w.buf, c.Key.ClientIP, c.Key.ServerIP, c.Key.ClientPort, c.Key.ServerPort, true)
	}
	w.buf = append(w.buf, `,"x":1`...)
	w.send()
}

func TestEVEEnvelope(t *testing.T) {
	ts := time.Date(2026, 11, 21, 22, 33, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		typ  string
		conn *flow.Conn
		want string
	}{
		{"ipv4", "modbus", testConn("10.0.1.10", "10.0.0.1", 40000, 502),
			`{"timestamp":"2026-11-21T21:33:00.123456Z","flow_id":42,"event_type":"modbus","src_ip":"10.0.1.10","src_port":40000,"dest_ip":"10.0.0.1","dest_port":502,"proto":"TCP","community_id":"1:GDbq2piQA+CkSrIq70j2+IPEIhU=","x":1}` + "\n"},
		{"ipv6", "opcua", testConn("::1", "fe80::1", 50312, 4840),
			`{"timestamp":"2026-11-21T21:33:00.123456Z","flow_id":42,"event_type":"opcua","src_ip":"::1","src_port":50312,"dest_ip":"fe80::1","dest_port":4840,"proto":"TCP","community_id":"1:NKSy+Ir7ieParOzJRQFR7xu0ryg=","x":1}` + "\n"},
		{"ipv4-mapped written as ipv4", EventAlert, testConn("::ffff:192.168.0.1", "::ffff:192.168.0.2", 1, 2),
			`{"timestamp":"2026-11-21T21:33:00.123456Z","flow_id":42,"event_type":"alert","src_ip":"192.168.0.1","src_port":1,"dest_ip":"192.168.0.2","dest_port":2,"proto":"TCP","community_id":"1:6mBXzK2YsrJCv7RBlXzrz+e9GJc=","x":1}` + "\n"},
		{"no connection", EventStats, nil,
			`{"timestamp":"2026-11-21T21:33:00.123456Z","event_type":"stats","x":1}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			e := NewEVE(&out, EventsAll)
			w := newWriter([]Sink{e})
			writeEvent(w, ts, tc.typ, tc.conn)
			if err := w.flush(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			var m map[string]any
			if err := json.Unmarshal(out.Bytes(), &m); err != nil {
				t.Errorf("not JSON: %v", err)
			}
		})
	}
}

func TestEVEFilter(t *testing.T) {
	for _, tc := range []struct {
		filter Events
		typ    string
		want   bool
	}{
		{EventsAll, "modbus", true},
		{EventsAll, EventAnomaly, true},
		{EventsAlerts, "modbus", false},
		{EventsAlerts, "opcua", false},
		{EventsAlerts, EventAnomaly, false},
		{EventsAlerts, EventAlert, true},
		{EventsAlerts, EventStats, true},
	} {
		if got := NewEVE(nil, tc.filter).Accepts(tc.typ); got != tc.want {
			t.Errorf("%v Accepts(%s) = %v, want %v", tc.filter, tc.typ, got, tc.want)
		}
		if w := newWriter([]Sink{NewEVE(nil, tc.filter)}); w.wants(w.routes[tc.typ]) != tc.want {
			got := !tc.want
			t.Errorf("%v: writer wants %s = %v, want %v", tc.filter, tc.typ, got, tc.want)
		}
	}
}

type failWriter struct {
	n     int
	calls int
}

func (f *failWriter) Write(p []byte) (int, error) {
	f.calls++
	if f.calls > f.n {
		return 0, syscall.ENOSPC
	}
	return len(p), nil
}

// A write error (full disk) of the EVE sink is sticky and reported, never
// swallowed, and the writer stops rendering.
func TestEVEWriteErrorSticky(t *testing.T) {
	fw := &failWriter{n: 1}
	e := NewEVE(fw, EventsAll)
	w := newWriter([]Sink{e})
	c := testConn("10.0.0.1", "10.0.0.2", 1, 502)
	for i := 0; i < 100000 && w.wants(w.routes["modbus"]); i++ {
		select {
		case <-w.failedCh:
			t.Fatalf("failure signalled before the failed write (event %d)", i)
		default:
		}
		writeEvent(w, time.Unix(0, 0), "modbus", c)
	}
	// Agent.Failed: a monitor learns of the failure at once.
	select {
	case <-w.failedCh:
	default:
		t.Fatal("the failure is not signalled (Agent.Failed)")
	}
	if fw.calls < 2 {
		t.Fatalf("only %d writes", fw.calls)
	}
	if err := w.failure(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("failure = %v, want ENOSPC", err)
	}
	if err := w.flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush error = %v, want ENOSPC", err)
	}
	if w.wants(w.alerts) {
		t.Error("a writer whose EVE sink failed still renders events")
	}
	if err := e.Write(&Record{Line: []byte("{}")}); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Write after the failure = %v, want the sticky ENOSPC", err)
	}
}

func TestEVEShortWrite(t *testing.T) {
	w := newWriter([]Sink{NewEVE(shortWriter{}, EventsAll)})
	writeEvent(w, time.Unix(0, 0), EventStats, nil)
	if err := w.flush(); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write not reported: %v", err)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

// An event half rendered when a decoder panicked is never handed to a
// sink, whether it was rendered into an EVE sink's buffer or the writer's
// own, and a locked EVE sink is not left locked.
func TestEVEHalfRenderedEventDropped(t *testing.T) {
	for _, locked := range []bool{false, true} {
		var out bytes.Buffer
		eve := NewEVE(&out, EventsAll)
		if locked {
			eve.Locked()
		}
		other := &recordSink{}
		w := newWriter([]Sink{eve, other})
		writeEvent(w, time.Unix(0, 0), EventStats, nil)
		w.open(time.Unix(1, 0), "modbus", nil, w.routes["modbus"])
		w.buf = append(w.buf, `,"flow_id":3,"half`...) // the panic strikes here
		w.abandon()
		writeEvent(w, time.Unix(2, 0), EventStats, nil)
		done := make(chan error, 1)
		go func() { done <- w.flush() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("locked %v: flush hangs: the abandoned event kept the EVE sink's lock", locked)
		}
		want := `{"timestamp":"1970-01-01T00:00:00.000000Z","event_type":"stats","x":1}` + "\n" +
			`{"timestamp":"1970-01-01T00:00:02.000000Z","event_type":"stats","x":1}` + "\n"
		if got := out.String(); got != want {
			t.Errorf("locked %v: got %q, want %q", locked, got, want)
		}
		if len(other.got) != 2 {
			t.Errorf("locked %v: the other sink got %d records, want the 2 whole ones", locked, len(other.got))
		}
	}
}

// An event rendered straight into an EVE sink's buffer and one rendered
// apart and copied into a second EVE sink are the same bytes, and every
// other sink gets the same line.
func TestEVEDirectAndCopiedAgree(t *testing.T) {
	var direct, copied bytes.Buffer
	other := &recordSink{}
	w := newWriter([]Sink{NewEVE(&direct, EventsAll), NewEVE(&copied, EventsAll), other})
	if r := w.routes["modbus"]; r.direct == nil || len(r.others) != 2 {
		t.Fatalf("route %+v: want the first EVE sink direct, the rest others", r)
	}
	c := testConn("10.0.0.1", "10.0.0.2", 1, 502)
	for i := 0; i < 5000; i++ { // past eveFlushAt: the direct buffer is written out and reused
		writeEvent(w, time.Unix(int64(i), 0), "modbus", c)
	}
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if direct.Len() < eveFlushAt || !bytes.Equal(direct.Bytes(), copied.Bytes()) {
		t.Errorf("direct %d bytes, copied %d bytes: not the same", direct.Len(), copied.Len())
	}
	var lines []byte
	for _, r := range other.got {
		lines = append(append(lines, r.Line...), '\n')
	}
	if !bytes.Equal(lines, direct.Bytes()) {
		t.Error("the other sink's lines differ from the EVE output")
	}
}

// recordSink keeps copies of the records it is given; with fail set,
// Write returns an error.
type recordSink struct {
	accepts  func(string) bool
	critical bool
	fail     error
	got      []Record
}

func (r *recordSink) Accepts(typ string) bool { return r.accepts == nil || r.accepts(typ) }
func (r *recordSink) Flush() error            { return nil }
func (r *recordSink) Critical() bool          { return r.critical }
func (r *recordSink) Write(rec *Record) error {
	c := *rec
	c.Line = bytes.Clone(rec.Line)
	r.got = append(r.got, c)
	return r.fail
}

// A sink that is not critical may fail: its errors are counted, the other
// sinks and the run go on.
func TestSinkNotCriticalCounted(t *testing.T) {
	var out bytes.Buffer
	flaky := &recordSink{fail: errors.New("collector unreachable")}
	w := newWriter([]Sink{flaky, NewEVE(&out, EventsAll)})
	for i := 0; i < 3; i++ {
		writeEvent(w, time.Unix(int64(i), 0), EventStats, nil)
	}
	if err := w.flush(); err != nil {
		t.Fatalf("flush = %v, want nil: a sink that is not critical must not stop the run", err)
	}
	if n := w.sinkErrors.Load(); n != 3 {
		t.Errorf("sink errors = %d, want 3", n)
	}
	if n := bytes.Count(out.Bytes(), []byte("\n")); n != 3 {
		t.Errorf("EVE got %d events, want 3", n)
	}
	if !w.wants(w.stats) {
		t.Error("writer stopped after errors of a sink that is not critical")
	}
}

// Each sink gets only the types it accepts, and events no sink accepts are
// not rendered at all.
func TestSinkRoutes(t *testing.T) {
	alertsOnly := &recordSink{accepts: func(typ string) bool { return typ == EventAlert }}
	all := &recordSink{}
	w := newWriter([]Sink{alertsOnly, all})
	writeEvent(w, time.Unix(0, 0), "modbus", testConn("10.0.0.1", "10.0.0.2", 1, 502))
	writeEvent(w, time.Unix(1, 0), EventAlert, nil)
	if len(alertsOnly.got) != 1 || alertsOnly.got[0].Type != EventAlert {
		t.Errorf("alerts-only sink got %+v", alertsOnly.got)
	}
	if len(all.got) != 2 || all.got[0].Type != "modbus" || !bytes.HasPrefix(all.got[0].Line, []byte(`{"timestamp":"1970-01-01T00:00:00.000000Z","flow_id":42`)) {
		t.Errorf("all sink got %+v", all.got)
	}
	if w := newWriter([]Sink{alertsOnly}); w.wants(w.routes["modbus"]) {
		t.Error("modbus events are rendered though no sink takes them")
	}
}

func TestEVEZeroAlloc(t *testing.T) {
	w := newWriter([]Sink{NewEVE(discard{}, EventsAll)})
	c := testConn("2001:db8::1", "10.0.0.2", 65535, 502)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	allocs := testing.AllocsPerRun(1000, func() {
		writeEvent(w, ts, "modbus", c)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event, want 0", allocs)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkEVEEnvelope(b *testing.B) {
	b.ReportAllocs()
	w := newWriter([]Sink{NewEVE(discard{}, EventsAll)})
	c := testConn("10.0.1.10", "10.0.0.1", 40000, 502)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < b.N; i++ {
		writeEvent(w, ts, "modbus", c)
	}
}

// The cached timestamp rendering must match jsonw.Time for every instant,
// including before 1970 and across second boundaries in any order.
func TestEVETimeMatchesJSONW(t *testing.T) {
	e := newWriter(nil)
	times := []time.Time{
		time.Date(2026, 11, 21, 22, 33, 0, 123456789, time.UTC),
		time.Date(2026, 11, 21, 22, 33, 0, 999999999, time.UTC),
		time.Date(2026, 11, 21, 22, 33, 1, 0, time.UTC),
		time.Date(2026, 11, 21, 22, 33, 0, 1000, time.FixedZone("x", -7200)),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC),
		time.Unix(0, 0),
		{},
	}
	// Every microsecond value in a second, each digit pair included.
	for us := 0; us < 1000000; us += 7 {
		times = append(times, time.Date(2026, 11, 21, 22, 33, 0, us*1000+999, time.UTC))
	}
	for _, ts := range times {
		got := string(e.appendTime(nil, ts))
		if want := string(jsonw.Time(nil, ts)); got != want {
			t.Errorf("appendTime(%v) = %s, want %s", ts, got, want)
		}
	}
}

// With a sensor or a site, every event ends with "host" (where Suricata
// writes its sensor-name) and "site", escaped; without, nothing changes.
func TestEVEIdentity(t *testing.T) {
	for _, tc := range []struct {
		sensor, site, tail string
	}{
		{"", "", `}`},
		{"dam-1", "", `,"host":"dam-1"}`},
		{"", "north", `,"site":"north"}`},
		{`dam "1"`, `<north>\`, `,"host":"dam \"1\"","site":"\u003cnorth\u003e\\"}`},
	} {
		var out bytes.Buffer
		w := newWriter([]Sink{NewEVE(&out, EventsAll)})
		w.tail = identityTail(tc.sensor, tc.site)
		writeEvent(w, time.Unix(0, 0), "modbus", testConn("10.0.0.1", "10.0.0.2", 1, 502))
		writeEvent(w, time.Unix(0, 0), EventStats, nil)
		w.flush()
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		for _, l := range lines {
			if !strings.HasSuffix(l, `"x":1`+tc.tail) || !json.Valid([]byte(l)) {
				t.Errorf("sensor %q site %q: %s, want it to end with %s", tc.sensor, tc.site, l, tc.tail)
			}
		}
	}
}

// An alert record names the function of the transaction that triggered it,
// for sinks that forward alerts (syslog's CEF cs5); alerts raised without a
// transaction have none.
func TestAlertRecordFunction(t *testing.T) {
	sink := &alertFuncs{}
	var out bytes.Buffer
	cfg := DefaultConfig(&out)
	cfg.Sinks = append(cfg.Sinks, sink)
	cfg.LearnFor = time.Minute
	cfg.Sensor, cfg.Site = "dam-1", "north"
	f, err := capture.OpenFile("../testdata/sim_rogue_master.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Run(context.Background(), cfg, f); err != nil {
		t.Fatal(err)
	}
	// The last are the updates of repeats at the end of the run: no
	// transaction, no function. new_device and new_master are one alert
	// (the first request); the HMI's reads of the gate the rogue write
	// moves raise process alerts (issue #14 §1).
	want := []string{"new_master read_holding_registers", "unexpected_write write_single_register",
		"process_value_out_of_range read_input_registers", "process_value_out_of_range read_input_registers",
		"process_value_out_of_range read_input_registers", "new_master ", "process_value_out_of_range ", "process_value_out_of_range ",
		"process_value_out_of_range "}
	if !slices.Equal(sink.got, want) {
		t.Errorf("alerts and functions %q, want %q", sink.got, want)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasSuffix(l, `,"host":"dam-1","site":"north"}`) {
			t.Errorf("event without the identity: %s", l)
		}
	}
}

// alertFuncs keeps "rule function" of each alert record (the record's
// Alert is valid only during Write).
type alertFuncs struct{ got []string }

func (a *alertFuncs) Accepts(typ string) bool { return typ == EventAlert }
func (a *alertFuncs) Flush() error            { return nil }
func (a *alertFuncs) Critical() bool          { return false }
func (a *alertFuncs) Write(r *Record) error {
	a.got = append(a.got, r.Alert.Rule.String()+" "+r.Function)
	return nil
}

// fullDisk takes the first room bytes written to it, then fails with
// ENOSPC part-way through a write, as a file on a full disk does.
type fullDisk struct {
	bytes.Buffer
	room int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if d.Len()+len(p) <= d.room {
		return d.Buffer.Write(p)
	}
	n := d.room - d.Len()
	d.Buffer.Write(p[:n])
	return n, syscall.ENOSPC
}

type cuttingDisk struct{ fullDisk }

func (d *cuttingDisk) CutTail(n int) error {
	d.Truncate(d.Len() - n)
	return nil
}

// A write that fails part-way leaves no partial event where the output can
// take it back (a TailCutter, a regular file), and the error says so where
// it cannot.
func TestEVEPartialWriteCut(t *testing.T) {
	c := testConn("10.0.0.1", "10.0.0.2", 1, 502)
	fill := func(w *writer) {
		for i := 0; i < 100000 && w.wants(w.routes["modbus"]); i++ {
			writeEvent(w, time.Unix(0, 0), "modbus", c)
		}
		w.flush()
	}
	cd := &cuttingDisk{fullDisk{room: eveFlushAt + 1000}}
	w := newWriter([]Sink{NewEVE(cd, EventsAll)})
	fill(w)
	if b := cd.Bytes(); len(b) == 0 || b[len(b)-1] != '\n' {
		t.Errorf("cut output ends with %q, want a whole event", b[max(0, len(b)-20):])
	}
	if err := w.failure(); !errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "partial") {
		t.Errorf("failure %v, want ENOSPC alone", err)
	}

	fd := &fullDisk{room: eveFlushAt + 1000}
	w = newWriter([]Sink{NewEVE(fd, EventsAll)})
	fill(w)
	if err := w.failure(); !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "a partial event of") {
		t.Errorf("failure %v, want ENOSPC and the partial event named", err)
	}

	// A regular file, opened for appending as the monitor does.
	path := filepath.Join(t.TempDir(), "eve.json")
	os.WriteFile(path, []byte("{\"a\":1}\n"), 0o600)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("{\"b\":2}\n{\"c\":"))
	if err := CutFileTail(f, 5); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("{\"d\":4}\n"))
	if b, _ := os.ReadFile(path); string(b) != "{\"a\":1}\n{\"b\":2}\n{\"d\":4}\n" {
		t.Errorf("file after the cut: %q", b)
	}
}
