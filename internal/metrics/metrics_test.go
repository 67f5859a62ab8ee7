package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/capture"
)

// records are what the agent hands its sinks (abridged to the facts
// counted).
func records() []agent.Record {
	alert := &baselines.Alert{Deviation: baselines.Deviation{Rule: baselines.NewMaster}, Severity: 1,
		Signature: `x "function":"evil"`}
	modbus := &agent.Flow{Protocol: "modbus"}
	return []agent.Record{
		{Type: "modbus", Flow: modbus, Function: "read_holding_registers"},
		{Type: "modbus", Flow: modbus, Function: "read_holding_registers"},
		{Type: "opcua", Flow: &agent.Flow{Protocol: "opcua"}, Function: "ReadRequest"},
		{Type: "opcua", Flow: &agent.Flow{Protocol: "opcua"}}, // HEL: no service
		// An alert carries the transaction that raised it: not a second request.
		{Type: "alert", Flow: modbus, Alert: alert},
		{Type: "stats"},
	}
}

func TestSinkCounts(t *testing.T) {
	m := New()
	s := m.Sink(func(string) bool { return true })
	for _, r := range records() {
		if err := s.Write(&r); err != nil {
			t.Fatal(err)
		}
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
		{"events opcua", testutil.ToFloat64(m.events.WithLabelValues("opcua")), 2},
		{"events stats", testutil.ToFloat64(m.events.WithLabelValues("stats")), 1},
		{"modbus write in alert", testutil.ToFloat64(m.requests.WithLabelValues("modbus", "write_single_register")), 0},
	}
	for _, tc := range tests {
		if tc.got != tc.wanted {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.wanted)
		}
	}
}

// The sink takes what its filter takes (that of the EVE output beside it)
// and never fails the run.
func TestSinkFilterNotCritical(t *testing.T) {
	s := New().Sink(func(typ string) bool { return typ == "alert" })
	if s.Accepts("modbus") || !s.Accepts("alert") {
		t.Error("the sink does not follow its filter")
	}
	if s.Critical() {
		t.Error("the metrics sink is critical: a metrics problem would stop the monitor")
	}
}

func TestLabelCap(t *testing.T) {
	m := New()
	s := m.Sink(func(string) bool { return true })
	for i := 0; i < MaxLabelValues+50; i++ {
		s.Write(&agent.Record{Type: "modbus", Function: "vendor_" + itoa(i)})
	}
	s.Write(&agent.Record{Type: "modbus", Function: "<script>"})
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

func BenchmarkSink(b *testing.B) {
	s := New().Sink(func(string) bool { return true })
	r := records()[0]
	b.ReportAllocs()
	for b.Loop() {
		s.Write(&r)
	}
}

// A syslog destination's counters are exported per destination; a
// collector that is down shows there and leaves /healthz ok.
func TestSyslogCounters(t *testing.T) {
	m := New()
	st := ForwarderStats{Sent: 12, Dropped: 3, Reconnects: 2, Queued: 40}
	m.AddSyslog("tcp://siem:514", func() ForwarderStats { return st })
	scrape := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	_, body := scrape("/metrics")
	for _, want := range []string{
		`sluice_syslog_sent_total{destination="tcp://siem:514"} 12`,
		`sluice_syslog_dropped_total{destination="tcp://siem:514"} 3`,
		`sluice_syslog_reconnects_total{destination="tcp://siem:514"} 2`,
		`sluice_syslog_queue_messages{destination="tcp://siem:514"} 40`,
		`sluice_syslog_connected{destination="tcp://siem:514"} 0`,
		"sluice_up 1",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, body := scrape("/healthz"); code != 200 || !strings.HasPrefix(body, "ok\n") {
		t.Errorf("/healthz = %d %q while the collector is down; want ok", code, body)
	}
	st.Connected = true
	if _, body := scrape("/metrics"); !strings.Contains(body, `sluice_syslog_connected{destination="tcp://siem:514"} 1`+"\n") {
		t.Error("sluice_syslog_connected not 1")
	}
}

// TestOutputHealth: a failure of the event output makes /healthz answer
// 503 with it at once and is counted by operation; a reopen that succeeds
// again clears its failure, a write failure stays.
func TestOutputHealth(t *testing.T) {
	m := New()
	h := m.Handler()
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code, rec.Body.String()
	}
	check := func(step string, code int, body string, metrics ...string) {
		t.Helper()
		c, b := get("/healthz")
		if c != code || !strings.Contains(b, body) {
			t.Errorf("%s: /healthz %d %q, want %d with %q", step, c, b, code, body)
		}
		_, all := get("/metrics")
		for _, want := range metrics {
			if !strings.Contains(all, want+"\n") {
				t.Errorf("%s: /metrics lacks %q", step, want)
			}
		}
	}
	check("start", 200, "ok", `sluice_output_errors_total{op="reopen"} 0`, `sluice_output_errors_total{op="write"} 0`, "sluice_up 1")
	m.OutputError(OutputReopen, errors.New("open /var/log/sluice/eve.json: permission denied"))
	check("reopen failed", 503, "event output reopen failed: open /var/log/sluice/eve.json: permission denied",
		`sluice_output_errors_total{op="reopen"} 1`, "sluice_up 0")
	m.OutputOK(OutputReopen)
	check("reopened", 200, "ok", `sluice_output_errors_total{op="reopen"} 1`, "sluice_up 1")
	m.OutputRepaired(1)
	m.OutputError(OutputWrite, syscall.ENOSPC)
	check("write failed", 503, "event output write failed: no space left on device",
		`sluice_output_errors_total{op="write"} 1`, "sluice_output_repaired_lines_total 1", "sluice_up 0")
	m.OutputOK(OutputReopen)
	check("reopen after a write failure", 503, "write failed")

	// A baseline store that cannot be written makes the monitor unhealthy
	// while it lasts (learning goes on in memory), and healthy again once
	// a write succeeds.
	s := New()
	h = s.Handler()
	s.Publish(Stats{StoreErr: syscall.ENOSPC, StoreUnwritten: 42, StoreFailures: 3})
	check("store full", 503, "the baseline database cannot be written (learning goes on in memory, 42 records wait): no space left on device",
		"sluice_store_write_errors_total 3", "sluice_store_unwritten_records 42", "sluice_up 0")
	s.Publish(Stats{StoreFailures: 3})
	check("store written", 200, "ok", "sluice_store_write_errors_total 3", "sluice_store_unwritten_records 0", "sluice_up 1")
}

// slowSource yields a packet every gap (a quiet span port: 13 packets/s),
// n of them, then waits as a live capture does on an idle link, calling
// its idle function every 10 ms, until stop is closed.
type slowSource struct {
	gap    time.Duration
	n      int
	sent   atomic.Int64
	idle   func()
	stop   chan struct{}
	stamp0 time.Time
}

func (s *slowSource) OnIdle(fn func()) { s.idle = fn }
func (s *slowSource) Close() error     { return nil }

func (s *slowSource) Next() (capture.Packet, error) {
	if int(s.sent.Load()) < s.n {
		time.Sleep(s.gap)
		i := s.sent.Add(1)
		return capture.Packet{Data: []byte{1}, Length: 60, Timestamp: s.stamp0.Add(time.Duration(i) * time.Second)}, nil
	}
	for {
		select {
		case <-s.stop:
			return capture.Packet{}, io.EOF
		case <-time.After(10 * time.Millisecond):
			if s.idle != nil {
				s.idle()
			}
		}
	}
}

// TestSourcePublishesOnWallTime: the counters are published about every
// PublishEvery of wall time however slowly packets come (they were looked
// at every 256 packets: 19 s at 13 packets/s, with /healthz saying "last
// packet never" meanwhile), and a link that falls quiet still gets its last
// packets published.
func TestSourcePublishesOnWallTime(t *testing.T) {
	m := New()
	m.publishEvery = 100 * time.Millisecond
	var processed atomic.Uint64
	src := &slowSource{gap: 20 * time.Millisecond, n: 30, stop: make(chan struct{}), stamp0: time.Unix(1000, 0)}
	wrapped := m.Source(src, func() Stats { return Stats{Packets: processed.Load()} })
	published := func() (uint64, time.Time) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.stats.Packets, m.stats.LastPacket
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := wrapped.Next(); err != nil {
				return
			}
			processed.Add(1) // the packet is processed before the next Next
		}
	}()
	// While packets come every 20 ms: the published count lags by at
	// most about one interval.
	time.Sleep(400 * time.Millisecond)
	if n, _ := published(); n < 5 {
		t.Errorf("after 400 ms of packets every 20 ms (%d so far), %d published; want them published every 100 ms", src.sent.Load(), n)
	}
	// The link falls quiet after 30 packets: every one of them, and the
	// last one's time, is published while the source waits.
	time.Sleep(900 * time.Millisecond)
	if n, last := published(); n != 30 || !last.Equal(time.Unix(1030, 0)) {
		t.Errorf("quiet link: %d packets published, last %v; want 30 and %v", n, last, time.Unix(1030, 0))
	}
	close(src.stop)
	<-done
}

// TestDeviceLabelsCapped: the device label of the baseline gauges is
// bounded: the MaxDeviceLabels busiest devices by transactions get their
// own series, the rest are summed under device="other". A scan or spoofed
// sources made 25,000 devices into 51,912 series and 2.4 s per scrape.
func TestDeviceLabelsCapped(t *testing.T) {
	const n = 25000
	client := netip.MustParseAddr("10.0.0.1")
	var devs []*baselines.Device
	var chans []*baselines.Channel
	var totalItems, learning int
	var totalConv float64
	last := time.Unix(1_000_000, 0)
	for i := 0; i < n; i++ {
		ip := netip.AddrFrom4([4]byte{10, byte(1 + i>>16), byte(i >> 8), byte(i)})
		d := &baselines.Device{IP: ip, LastSeen: last, Transactions: uint64(i % 1000), ConvergenceBuckets: []uint32{uint32(i % 3)}}
		if i%7 == 0 {
			d.LearnUntil = last.Add(time.Hour)
			learning++
		}
		devs = append(devs, d)
		totalConv += d.NewItemsPerHour(time.Hour)
		if i%2 == 0 {
			ch := &baselines.Channel{Key: baselines.ChannelKey{Protocol: baselines.Modbus, Server: ip, Client: client, Unit: 1},
				Model: &baselines.ModbusModel{Functions: baselines.CountsOf(map[uint8]uint64{3: 10, 6: 1})}}
			chans = append(chans, ch)
			totalItems += len(ch.Items())
		}
	}
	m := New()
	m.SetBaseline(func() *baselines.Snapshot {
		return &baselines.Snapshot{Baseline: baselines.Baseline{Devices: devs, Channels: chans}}
	}, time.Hour)
	start := time.Now()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first scrape of %d devices: %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if _, err := m.Registry().Gather(); err != nil {
		t.Fatal(err)
	}
	t.Logf("next scrape: %v", time.Since(start).Round(time.Millisecond))
	sums := map[string]float64{}
	for _, mf := range mfs {
		name := mf.GetName()
		switch name {
		case "sluice_baseline_items", "sluice_learning_convergence_items_per_hour", "sluice_device_learning":
		default:
			continue
		}
		if len(mf.Metric) > MaxDeviceLabels+1 {
			t.Errorf("%s: %d series, want at most %d", name, len(mf.Metric), MaxDeviceLabels+1)
		}
		labels := map[string]bool{}
		for _, s := range mf.Metric {
			dev := s.Label[0].GetValue()
			labels[dev] = true
			sums[name] += s.GetGauge().GetValue()
		}
		if !labels["other"] {
			t.Errorf("%s has no device=\"other\"", name)
		}
		// The busiest devices have series of their own: i = 999 (999
		// transactions, a client), i = 998 (998, a server).
		busiest := "10.1.3.231"
		if name == "sluice_baseline_items" {
			busiest = "10.1.3.230"
		}
		if !labels[busiest] {
			t.Errorf("%s: the busy device %s has no series of its own", name, busiest)
		}
	}
	for name, want := range map[string]float64{"sluice_baseline_items": float64(totalItems),
		"sluice_learning_convergence_items_per_hour": totalConv, "sluice_device_learning": float64(learning)} {
		if got := sums[name]; got < want-1e-6 || got > want+1e-6 {
			t.Errorf("%s: the series add up to %v, want the total %v", name, got, want)
		}
	}
}
