package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/internal/jsonw"
)

func testConn(client, server string, cport, sport uint16) *flow.Conn {
	return &flow.Conn{ID: 42, Key: flow.Key{
		ClientIP: netip.MustParseAddr(client), ServerIP: netip.MustParseAddr(server),
		ClientPort: cport, ServerPort: sport,
	}}
}

func TestEVEEnvelope(t *testing.T) {
	ts := time.Date(2026, 11, 21, 22, 33, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		typ  string
		conn *flow.Conn
		want string
	}{
		{"ipv4", EventModbus, testConn("10.0.1.10", "10.0.0.1", 40000, 502),
			`{"timestamp":"2026-11-21T21:33:00.123456Z","flow_id":42,"event_type":"modbus","src_ip":"10.0.1.10","src_port":40000,"dest_ip":"10.0.0.1","dest_port":502,"proto":"TCP","x":1}` + "\n"},
		{"ipv6", EventOPCUA, testConn("::1", "fe80::1", 50312, 4840),
			`{"timestamp":"2026-11-21T21:33:00.123456Z","flow_id":42,"event_type":"opcua","src_ip":"::1","src_port":50312,"dest_ip":"fe80::1","dest_port":4840,"proto":"TCP","x":1}` + "\n"},
		{"ipv4-mapped written as ipv4", EventAlert, testConn("::ffff:192.168.0.1", "::ffff:192.168.0.2", 1, 2),
			`{"timestamp":"2026-11-21T21:33:00.123456Z","flow_id":42,"event_type":"alert","src_ip":"192.168.0.1","src_port":1,"dest_ip":"192.168.0.2","dest_port":2,"proto":"TCP","x":1}` + "\n"},
		{"no connection", EventStats, nil,
			`{"timestamp":"2026-11-21T21:33:00.123456Z","event_type":"stats","x":1}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			e := newEVE(&out, EventsAll)
			if tc.conn == nil {
				e.begin(ts, tc.typ, noFlow, nil)
			} else {
				e.beginConn(ts, tc.typ, tc.conn)
			}
			e.buf = append(e.buf, `,"x":1`...)
			e.end()
			if err := e.flush(); err != nil {
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
		{EventsAll, EventModbus, true},
		{EventsAll, EventAnomaly, true},
		{EventsAlerts, EventModbus, false},
		{EventsAlerts, EventOPCUA, false},
		{EventsAlerts, EventAnomaly, false},
		{EventsAlerts, EventAlert, true},
		{EventsAlerts, EventStats, true},
	} {
		if got := newEVE(nil, tc.filter).wants(tc.typ); got != tc.want {
			t.Errorf("%v wants(%s) = %v, want %v", tc.filter, tc.typ, got, tc.want)
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

// A write error (full disk) is sticky and reported, never swallowed.
func TestEVEWriteErrorSticky(t *testing.T) {
	w := &failWriter{n: 1}
	e := newEVE(w, EventsAll)
	c := testConn("10.0.0.1", "10.0.0.2", 1, 502)
	var flushes int
	for i := 0; i < 100000 && e.err == nil; i++ {
		e.beginConn(time.Unix(0, 0), EventModbus, c)
		e.end()
		if len(e.buf) == 0 {
			flushes++
		}
	}
	if flushes < 2 {
		t.Fatalf("only %d flushes", flushes)
	}
	if err := e.flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush error = %v, want ENOSPC", err)
	}
	if e.wants(EventAlert) {
		t.Error("an eve with a write error still accepts events")
	}
}

func TestEVEShortWrite(t *testing.T) {
	e := newEVE(shortWriter{}, EventsAll)
	e.begin(time.Unix(0, 0), EventStats, noFlow, nil)
	e.end()
	if err := e.flush(); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write not reported: %v", err)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestEVEAbort(t *testing.T) {
	var out bytes.Buffer
	e := newEVE(&out, EventsAll)
	e.begin(time.Unix(0, 0), EventStats, noFlow, nil)
	e.end()
	e.beginConn(time.Unix(1, 0), EventModbus, testConn("1.2.3.4", "5.6.7.8", 1, 502))
	e.abort()
	_ = e.flush()
	if got, want := out.String(), `{"timestamp":"1970-01-01T00:00:00.000000Z","event_type":"stats"}`+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestEVEZeroAlloc(t *testing.T) {
	e := newEVE(discard{}, EventsAll)
	c := testConn("2001:db8::1", "10.0.0.2", 65535, 502)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	allocs := testing.AllocsPerRun(1000, func() {
		e.beginConn(ts, EventModbus, c)
		e.end()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event, want 0", allocs)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkEVEEnvelope(b *testing.B) {
	b.ReportAllocs()
	e := newEVE(discard{}, EventsAll)
	c := testConn("10.0.1.10", "10.0.0.1", 40000, 502)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addrs := appendAddrs(nil, c.Key.ClientIP, c.Key.ServerIP, c.Key.ClientPort, c.Key.ServerPort, true)
	for i := 0; i < b.N; i++ {
		e.begin(ts, EventModbus, c.ID, addrs)
		e.end()
	}
}

// The cached timestamp rendering must match jsonw.Time for every instant,
// including before 1970 and across second boundaries in any order.
func TestEVETimeMatchesJSONW(t *testing.T) {
	e := newEVE(nil, EventsAll)
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

// beginConn opens an event about connection c (see begin), as the streams
// do with their pre-rendered addresses.
func (e *eve) beginConn(ts time.Time, typ string, c *flow.Conn) {
	e.begin(ts, typ, c.ID, nil)
	e.buf = appendAddrs(e.buf, c.Key.ClientIP, c.Key.ServerIP, c.Key.ClientPort, c.Key.ServerPort, true)
}
