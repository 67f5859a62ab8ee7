package metrics

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/capture"
)

// Events as the agent writes them (abridged to the fields counted).
const eve = `{"timestamp":"2026-11-21T22:33:00.123456Z","flow_id":1,"event_type":"modbus","src_ip":"10.10.1.10","src_port":40000,"dest_ip":"10.10.2.1","dest_port":502,"proto":"TCP","modbus":{"transaction_id":5,"unit_id":1,"function_code":3,"function":"read_holding_registers","request":{"address":0,"quantity":10}}}
{"timestamp":"2026-11-21T22:33:00.223456Z","flow_id":1,"event_type":"modbus","src_ip":"10.10.1.10","src_port":40000,"dest_ip":"10.10.2.1","dest_port":502,"proto":"TCP","modbus":{"transaction_id":6,"unit_id":1,"function_code":3,"function":"read_holding_registers"}}
{"timestamp":"2026-11-21T22:33:00.323456Z","flow_id":2,"event_type":"opcua","src_ip":"10.10.1.20","src_port":50000,"dest_ip":"10.10.2.1","dest_port":4840,"proto":"TCP","opcua":{"request":{"size":90,"service":"ReadRequest"}}}
{"timestamp":"2026-11-21T22:33:01.000000Z","flow_id":9,"event_type":"alert","src_ip":"10.10.9.66","src_port":51234,"dest_ip":"10.10.2.1","dest_port":502,"proto":"TCP","alert":{"action":"allowed","signature_id":9000002,"rule":"new_master","severity":1,"signature":"x \"function\":\"evil\""},"modbus":{"function":"write_single_register"}}
{"timestamp":"2026-11-21T22:33:02.000000Z","event_type":"stats","stats":{"packets":9}}
`

func TestEventTapCounts(t *testing.T) {
	m := New()
	var sink strings.Builder
	w := m.EventTap(&sink)
	// Split at awkward places: mid-line and mid-key.
	for _, part := range []string{eve[:37], eve[37:400], eve[400:401], eve[401:]} {
		if _, err := io.WriteString(w, part); err != nil {
			t.Fatal(err)
		}
	}
	if sink.String() != eve {
		t.Fatal("tap altered the stream")
	}
	tests := []struct {
		name   string
		got    float64
		wanted float64
	}{
		{"modbus read_holding_registers", testutil.ToFloat64(m.requests.WithLabelValues("modbus", "read_holding_registers")), 2},
		{"opcua ReadRequest", testutil.ToFloat64(m.requests.WithLabelValues("opcua", "ReadRequest")), 1},
		{"alert new_master", testutil.ToFloat64(m.alerts.WithLabelValues("new_master", "1")), 1},
		{"events modbus", testutil.ToFloat64(m.events.WithLabelValues("modbus")), 2},
		{"events stats", testutil.ToFloat64(m.events.WithLabelValues("stats")), 1},
		// The alert's attached transaction is not a second request.
		{"modbus write in alert", testutil.ToFloat64(m.requests.WithLabelValues("modbus", "write_single_register")), 0},
	}
	for _, tc := range tests {
		if tc.got != tc.wanted {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.wanted)
		}
	}
}

func TestLabelCap(t *testing.T) {
	m := New()
	w := m.EventTap(io.Discard)
	var b strings.Builder
	for i := 0; i < MaxLabelValues+50; i++ {
		b.WriteString(`{"event_type":"modbus","modbus":{"function":"vendor_` + itoa(i) + `"}}` + "\n")
	}
	b.WriteString(`{"event_type":"modbus","modbus":{"function":"<script>"}}` + "\n")
	io.WriteString(w, b.String())
	if n := testutil.CollectAndCount(m.requests); n != MaxLabelValues+1 {
		t.Errorf("series = %d, want %d (cap plus other)", n, MaxLabelValues+1)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("modbus", "other")); got != 51 {
		t.Errorf("other = %v, want 51", got)
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for ; i > 0; i /= 10 {
		d = append([]byte{byte('0' + i%10)}, d...)
	}
	return string(d)
}

// fakeSource yields n packets then io.EOF.
type fakeSource struct{ n int }

func (f *fakeSource) Next() (capture.Packet, error) {
	if f.n == 0 {
		return capture.Packet{}, io.EOF
	}
	f.n--
	return capture.Packet{Data: []byte{1}, Length: 60, Timestamp: time.Unix(1000, 0)}, nil
}
func (f *fakeSource) Close() error { return nil }

func TestSourcePublishesAndServes(t *testing.T) {
	m := New()
	var seen uint64
	stats := func() Stats {
		// No LastPacket: Source fills it from the packets it passed.
		return Stats{Packets: seen, Bytes: seen * 60, KernelDrops: 3, Flows: 2,
			Protocols: map[string]ProtoStats{"modbus": {Transactions: 7, DecodeErrors: 1}}}
	}
	src := m.Source(&fakeSource{n: 1000}, stats)
	for {
		if _, err := src.Next(); err != nil {
			break
		}
		seen++
	}
	plc := netip.MustParseAddr("10.10.2.1")
	m.SetBaseline(func() *baselines.Snapshot {
		return &baselines.Snapshot{Baseline: baselines.Baseline{
			Devices: []*baselines.Device{{IP: plc, LastSeen: time.Unix(1000, 0), LearnUntil: time.Unix(2000, 0),
				ConvergenceBuckets: []uint32{3, 3}}},
			Channels: []*baselines.Channel{{Key: baselines.ChannelKey{Protocol: baselines.Modbus, Server: plc,
				Client: netip.MustParseAddr("10.10.1.10"), Unit: 1}, Model: &baselines.ModbusModel{Functions: baselines.CountsOf(map[uint8]uint64{3: 10, 6: 1})}}},
		}}
	}, time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done, err := m.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"sluice_packets_total 1000",
		"sluice_bytes_total 60000",
		`sluice_drops_total{where="kernel"} 3`,
		`sluice_transactions_total{protocol="modbus"} 7`,
		`sluice_decode_errors_total{protocol="modbus"} 1`,
		`sluice_baseline_items{device="10.10.2.1"} 2`,
		`sluice_learning_convergence_items_per_hour{device="10.10.2.1"} 6`,
		`sluice_device_learning{device="10.10.2.1"} 1`,
		"sluice_up 1",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(body, "sluice_last_packet_timestamp_seconds 1000\n") {
		t.Error("/metrics lacks the last packet time taken from the source")
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\npackets 1000\nlast_packet 1970-01-01T00:16:40Z\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	m.SetHealth(io.ErrUnexpectedEOF)
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "unexpected EOF") {
		t.Errorf("/healthz unhealthy = %d %q", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "sluice_up 0\n") {
		t.Error("sluice_up not 0 when unhealthy")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("server did not stop")
	}
}

func TestServeBadAddr(t *testing.T) {
	if _, _, err := New().Serve(context.Background(), "256.0.0.1:1"); err == nil {
		t.Error("Serve on a bad address succeeded")
	}
}

func BenchmarkEventTap(b *testing.B) {
	m := New()
	w := m.EventTap(io.Discard)
	line := []byte(strings.SplitAfter(eve, "\n")[0])
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		w.Write(line)
	}
}
