package agent

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// A panic in a connection's decoder silences that connection, is counted
// once (by the flow table, whose recover every Stream call runs under), is
// reported as an internal_error anomaly through conn.Panicked, and the
// agent goes on. The packets go through the real table: the glue has no
// recover of its own. A panic while an event is half written must neither
// leave the partial line in the output nor, with the periodic flusher of
// live capture (locked), keep the output's lock and hang the agent: the
// event is rendered apart and handed to the sinks only when whole.
func TestStreamPanicRecovered(t *testing.T) {
	for _, tc := range []struct {
		name   string
		locked bool
		inject func(a *Agent, ms *modbusStream)
	}{
		{"request", false, func(a *Agent, ms *modbusStream) {
			ms.onRequest = func(modbus.ADU) { panic("decoder bug") }
		}},
		{"mid-event", false, midEventPanic},
		{"mid-event locked", true, midEventPanic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			cfg := DefaultConfig(nil)
			eve := NewEVE(&out, EventsAll)
			if tc.locked {
				eve.Locked()
			}
			cfg.Sinks = []Sink{eve}
			a, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.locked {
				a.FlushEvery(ctx, time.Hour)
			}
			// The agent's own stream factory, with a decoder bug.
			a.table = flow.NewTable(flow.Config{ServerPort: func(p uint16) bool { return a.ports[p] != 0 }},
				func(c *flow.Conn, ts time.Time) flow.Stream {
					st := a.newStream(c, ts)
					if ms, ok := st.(*modbusStream); ok {
						tc.inject(a, ms)
					}
					return st
				})
			c := newDetConn(t)
			// 00 01 00 00 00 06 01 03 00 64 00 02: read holding registers 100..101
			c.seg(true, []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x64, 0x00, 0x02})
			// Its response, and a second request and response: the
			// connection is silenced after the panic.
			c.seg(false, []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x01, 0x03, 0x04, 0x00, 0x11, 0x00, 0x2a})
			c.seg(true, []byte{0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x64, 0x00, 0x02})
			c.seg(false, []byte{0x00, 0x02, 0x00, 0x00, 0x00, 0x07, 0x01, 0x03, 0x04, 0x00, 0x11, 0x00, 0x2a})
			src, err := capture.NewReader(bytes.NewReader(c.buf.Bytes()), "panic.pcap", int64(c.buf.Len()))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				err := a.Run(ctx, src)
				done <- errors.Join(err, a.Close())
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the agent hangs after a panic in the middle of an event")
			}
			if got := a.Stats().RecoveredPanics; got != 1 {
				t.Errorf("recovered panics = %d, want 1", got)
			}
			evs := parseEvents(t, out.Bytes()) // every line whole JSON
			var anomalies, modbusEvents int
			for _, e := range evs {
				switch e.EventType {
				case EventAnomaly:
					anomalies++
					if e.Anomaly.Event != anomalyInternal || !strings.Contains(e.Anomaly.Detail, "decoder bug") || e.SrcPort != 40001 || e.DestPort != 502 {
						t.Errorf("anomaly %+v from port %d to %d, want internal_error naming the panic on 40001 -> 502", e.Anomaly, e.SrcPort, e.DestPort)
					}
				case "modbus":
					modbusEvents++
				}
			}
			if anomalies != 1 || modbusEvents != 0 {
				t.Errorf("%d anomaly events and %d modbus events, want 1 and 0 (silenced)", anomalies, modbusEvents)
			}
			if last := evs[len(evs)-1]; last.Stats == nil || last.Stats.RecoveredPanics != 1 {
				t.Errorf("stats event does not count the panic once: %+v", last.Stats)
			}
		})
	}
}

// midEventPanic makes the stream's transaction callback panic after it
// has begun writing the transaction's event.
func midEventPanic(a *Agent, ms *modbusStream) {
	ms.onTx = func(t *modbus.Transaction) {
		a.w.open(t.Time(), "modbus", &ms.flow, ms.route)
		a.w.buf = append(a.w.buf, ms.head...)
		a.w.buf = append(a.w.buf, `,"modbus":{"transaction_id":`...)
		panic("decoder bug")
	}
}

// Bytes that are not Modbus on a Modbus port: one non_protocol_traffic
// anomaly, then silence, whatever follows.
func TestStreamNonModbusSilenced(t *testing.T) {
	var out bytes.Buffer
	a, _ := New(DefaultConfig(&out))
	s := a.newStream(testConn("10.0.0.1", "10.0.0.2", 40000, 502), time.Time{})
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.Data(flow.ClientToServer, []byte("GET / HTTP/1.1\r\nHost: plc\r\n\r\n"), ts)
	// A valid ADU afterwards must not be decoded: the flow is silenced.
	s.Data(flow.ClientToServer, []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x64, 0x00, 0x02}, ts)
	s.Data(flow.ServerToClient, []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x01, 0x03, 0x04, 0x00, 0x11, 0x00, 0x2a}, ts)
	s.Close(flow.CloseFIN, ts)
	a.Close()
	evs := parseEvents(t, out.Bytes())
	var types []string
	for _, e := range evs {
		types = append(types, e.EventType)
	}
	// anomaly, the alert the baselines raise for it in its incident
	// (opened, closed at the end), stats.
	if want := []string{EventAnomaly, EventIncident, EventAlert, EventIncident, EventStats}; !slices.Equal(types, want) ||
		evs[0].Anomaly.Event != anomalyNonProtocol {
		t.Fatalf("events %v, want %v", types, want)
	}
	if st := a.Stats(); st.Protocol("modbus").NonProtocol != 1 || st.Protocol("modbus").Transactions != 0 {
		t.Errorf("stats %+v: want 1 non-protocol flow, 0 transactions", st.Protocol("modbus"))
	}
}

// A connection picked up mid-stream starts inside an ADU: the framer
// resynchronises on the next plausible header and pairs what follows.
func TestStreamMidStreamResync(t *testing.T) {
	var out bytes.Buffer
	a, _ := New(DefaultConfig(&out))
	c := testConn("10.0.0.1", "10.0.0.2", 40000, 502)
	c.MidStream = true
	s := a.newStream(c, time.Time{})
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The tail of a previous request (00 02), then three whole requests
	// and their responses (tids 7, 8, 9).
	var req, resp []byte
	req = append(req, 0x00, 0x02)
	for tid := byte(7); tid <= 9; tid++ {
		req = append(req, 0x00, tid, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x64, 0x00, 0x02)
		resp = append(resp, 0x00, tid, 0x00, 0x00, 0x00, 0x07, 0x01, 0x03, 0x04, 0x00, 0x11, 0x00, 0x2a)
	}
	s.Data(flow.ClientToServer, req, ts)
	s.Data(flow.ServerToClient, resp, ts.Add(time.Millisecond))
	s.Close(flow.CloseEnd, ts)
	a.Close()
	var paired int
	for _, e := range parseEvents(t, out.Bytes()) {
		if e.EventType == "modbus" && len(e.Modbus.Request) > 0 && len(e.Modbus.Response) > 0 {
			paired++
		}
	}
	if paired != 3 {
		t.Errorf("%d paired transactions, want 3", paired)
	}
}

// HTTP on an OPC UA port: one non_protocol_traffic anomaly, then silence.
func TestStreamNonOPCUASilenced(t *testing.T) {
	var out bytes.Buffer
	a, _ := New(DefaultConfig(&out))
	s := a.newStream(testConn("10.0.0.1", "10.0.0.2", 40000, 4840), time.Time{})
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	req := []byte("GET /index.html HTTP/1.1\r\nHost: plc\r\nUser-Agent: " + strings.Repeat("x", 2000) + "\r\n\r\n")
	for i := 0; i < 3; i++ {
		s.Data(flow.ClientToServer, req, ts)
	}
	s.Close(flow.CloseFIN, ts)
	a.Close()
	var anomalies []string
	for _, e := range parseEvents(t, out.Bytes()) {
		if e.EventType == EventAnomaly {
			anomalies = append(anomalies, e.Anomaly.Event)
		}
		if e.EventType == "opcua" {
			t.Errorf("opcua event from HTTP: %s", e.OPCUA)
		}
	}
	if len(anomalies) != 1 || anomalies[0] != anomalyNonProtocol {
		t.Errorf("anomalies %v, want one non_protocol_traffic", anomalies)
	}
	if st := a.Stats(); st.Protocol("opcua").NonProtocol != 1 {
		t.Errorf("non-protocol OPC UA flows = %d, want 1", st.Protocol("opcua").NonProtocol)
	}
}
