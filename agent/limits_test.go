package agent

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/internal/hostile"
	"github.com/sluice-ics/sluice/protocols/opcua"
)

// uaIntermediate is an OPC UA MSG intermediate chunk ('C') of request id
// id carrying body.
func uaIntermediate(id uint32, body []byte) []byte {
	b := make([]byte, 24, 24+len(body))
	copy(b, "MSGC")
	binary.LittleEndian.PutUint32(b[4:], uint32(24+len(body)))
	binary.LittleEndian.PutUint32(b[8:], 1)   // secure channel
	binary.LittleEndian.PutUint32(b[12:], 1)  // token
	binary.LittleEndian.PutUint32(b[16:], id) // sequence number
	binary.LittleEndian.PutUint32(b[20:], id) // request id
	return append(b, body...)
}

// TestUnfinishedOPCUABudget is issue #15's reproduction at a size CI can
// afford: 24 OPC UA connections that start chunked messages and never
// finish them hold no more than the shared cap together (they held 31 MB
// each before it), one resource_limit anomaly names the cap, the stats
// count what was refused, and every byte comes back when the connections
// end.
func TestUnfinishedOPCUABudget(t *testing.T) {
	var out bytes.Buffer
	cfg := DefaultConfig(&out)
	cfg.MaxUnfinishedTotal = 1 << 20
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	budget := a.shared[opcuaModule.index].(*opcua.Budget)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	piece := make([]byte, 8000)
	var streams []flow.Stream
	for i := range 24 {
		s := a.newStream(testConn(fmt.Sprintf("10.0.0.%d", i+1), "10.0.1.1", 40000, 4840), ts)
		streams = append(streams, s)
		for j := range 100 { // 800 kB each if nothing refused it
			s.Data(flow.ClientToServer, uaIntermediate(7, piece), ts.Add(time.Duration(i*100+j)*time.Millisecond))
			if budget.Used() > cfg.MaxUnfinishedTotal {
				t.Fatalf("connection %d: %d bytes held, cap %d", i, budget.Used(), cfg.MaxUnfinishedTotal)
			}
		}
	}
	if budget.Used() == 0 {
		t.Fatal("nothing held: the first connections' messages fit the cap")
	}
	st := a.Stats()
	limited := st.Protocol("opcua").ResourceLimited
	if limited == 0 || limited != budget.Refused() {
		t.Fatalf("resource_limited %d, budget refused %d", limited, budget.Refused())
	}
	for _, s := range streams {
		s.Close(flow.CloseFIN, ts.Add(time.Minute))
	}
	if budget.Used() != 0 {
		t.Fatalf("%d bytes still held after every connection ended", budget.Used())
	}
	a.Close()
	var anomalies int
	for _, e := range parseEvents(t, out.Bytes()) {
		if e.EventType == EventAnomaly && e.Anomaly.Event == anomalyLimit {
			anomalies++
			if !strings.Contains(e.Anomaly.Detail, "opcua_unfinished cap of 1048576") {
				t.Errorf("detail %q does not name the cap", e.Anomaly.Detail)
			}
		}
	}
	if anomalies != 1 {
		t.Errorf("%d resource_limit anomalies within a minute, want 1", anomalies)
	}
	if !bytes.Contains(out.Bytes(), []byte(`"resource_limited":`)) {
		t.Error("the stats event does not count resource_limited")
	}
}

// hostileCapture writes one of package hostile's captures to a temporary
// file and returns its path.
func hostileCapture(t *testing.T, write func(w *hostile.Writer) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hostile.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	w, err := hostile.NewWriter(pcapgo.NewWriter(bw))
	if err != nil {
		t.Fatal(err)
	}
	if err := write(w); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

// limitAnomalies returns the details of the resource_limit anomalies in
// out, and the stats event's line.
func limitAnomalies(t *testing.T, out []byte) (details []string) {
	for _, e := range parseEvents(t, out) {
		if e.EventType == EventAnomaly && e.Anomaly.Event == anomalyLimit {
			details = append(details, e.Anomaly.Detail)
		}
	}
	return details
}

// TestSpoofedFlowsBounded is issue #15's 1.5 M spoofed flows at CI size:
// 3,000 spoofed SYN + FC 3 flows (one every 50 ms of packet time, 150 s)
// against a flow table of 64 evict the oldest, the agent says so once per
// minute instead of growing, and no spoofed source becomes a device.
func TestSpoofedFlowsBounded(t *testing.T) {
	path := hostileCapture(t, func(w *hostile.Writer) error { return hostile.SpoofedFlows(w, 3000) })
	var devices int
	out := replayFile(t, path, func(c *Config) { c.MaxFlows = 64 })
	details := limitAnomalies(t, out)
	if len(details) < 1 || len(details) > 3 {
		t.Errorf("%d resource_limit anomalies, want one per minute: %q", len(details), details)
	}
	for _, d := range details {
		if !strings.Contains(d, "flows cap of 64 ") {
			t.Errorf("detail %q does not name the flow cap", d)
		}
	}
	for _, e := range parseEvents(t, out) {
		if e.EventType == EventAlert && e.Alert.Rule == "new_device" {
			devices++
		}
	}
	if devices != 0 {
		t.Errorf("%d new_device alerts for spoofed sources", devices)
	}
	if !bytes.Contains(out, []byte(`"evictions":`)) || bytes.Contains(out, []byte(`"evictions":0,`)) {
		t.Error("no eviction counted")
	}
}

// TestUnfinishedOPCUACapture: the same through a whole capture (issue
// #15's 24 connections, 400 kB each here), with the default budget scaled
// down by --memory-limit: the stats count what was refused.
func TestUnfinishedOPCUACapture(t *testing.T) {
	path := hostileCapture(t, func(w *hostile.Writer) error { return hostile.UnfinishedOPCUA(w, 24, 400_000) })
	out := replayFile(t, path, func(c *Config) {
		c.MemoryLimit = 8 << 20 // an eighth: 1 MiB for unfinished messages
		c.MaxFlows, c.MaxBufferedTotal, c.MaxUnfinishedTotal, c.MaxDevices, c.MaxChannels = 0, 0, 0, 0, 0
	})
	details := limitAnomalies(t, out)
	if len(details) != 1 || !strings.Contains(details[0], "opcua_unfinished cap of 1048576 ") {
		t.Errorf("resource_limit anomalies %q, want one naming the 1 MiB cap", details)
	}
	if !bytes.Contains(out, []byte(`"resource_limited":`)) {
		t.Error("the stats event does not count resource_limited")
	}
}

// TestBaselineCapsReported: a baseline whose inventory and channels are
// full says so with resource_limit anomalies naming the caps, and the
// replay goes on to its end.
func TestBaselineCapsReported(t *testing.T) {
	var events []event
	for _, caps := range [][2]int{{2, 0}, {0, 1}} {
		out := replayFile(t, "../testdata/sim_normal.pcap", func(c *Config) {
			c.MaxDevices, c.MaxChannels = caps[0], caps[1]
		})
		events = append(events, parseEvents(t, out)...)
	}
	var devices, channels, stats int
	for _, e := range events {
		switch {
		case e.EventType == EventAnomaly && e.Anomaly.Event == anomalyLimit:
			if strings.Contains(e.Anomaly.Detail, "devices cap of 2 ") {
				devices++
			}
			if strings.Contains(e.Anomaly.Detail, "channels cap of 1 ") {
				channels++
			}
		case e.EventType == "stats":
			stats++
		}
	}
	if devices == 0 || channels == 0 || stats != 2 {
		t.Fatalf("devices cap anomalies %d, channels %d, stats events %d", devices, channels, stats)
	}
}

const storeChildEnv = "SLUICE_AGENT_STORE_CHILD"

// TestStoreUnwritableChild is the child of TestStoreUnwritable: it
// replays the simulator's normal day with --db, and half way through lets
// the database file grow no more (a full disk), then frees it.
func TestStoreUnwritableChild(t *testing.T) {
	path := os.Getenv(storeChildEnv)
	if path == "" {
		t.Skip("child process of TestStoreUnwritable")
	}
	var out bytes.Buffer
	cfg := DefaultConfig(&out)
	cfg.DBPath = path
	a, err := New(cfg)
	if err != nil {
		fmt.Println("new:", err)
		return
	}
	f, err := capture.OpenFile("../testdata/sim_normal.pcap")
	if err != nil {
		fmt.Println("open:", err)
		return
	}
	defer f.Close()
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim)
	saved := lim.Cur
	for n := 0; ; n++ {
		var p capture.Packet
		if err := f.ReadPacket(&p); err != nil {
			break
		}
		a.packet(&p)
		if n == 200 {
			fi, _ := os.Stat(path)
			lim.Cur = uint64(fi.Size())
			syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim)
			_, err := a.db.Flush(a.engine)
			fmt.Println("flush failed:", err != nil)
		}
	}
	st := a.Stats().Store
	fmt.Println("unwritten waiting:", st.Unwritten > 0, "failures:", st.Failures)
	lim.Cur = saved
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim)
	fmt.Println("close:", a.Close())
	n := 0
	for _, e := range parseEvents(t, out.Bytes()) {
		if e.EventType == EventAnomaly && e.Anomaly.Event == "store_unwritable" {
			n++
		}
	}
	fmt.Println("store anomalies:", n)
}

// TestStoreUnwritable: a baseline database that cannot be written does
// not stop the monitor: learning goes on in memory, one store_unwritable
// anomaly a minute says so, and the records wait and are written once the
// disk has room (issue #15 §2); the database then has the whole baseline.
func TestStoreUnwritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoreUnwritableChild$", "-test.v")
	cmd.Env = append(os.Environ(), storeChildEnv+"="+path)
	out, err := cmd.CombinedOutput()
	for _, want := range []string{"flush failed: true", "unwritten waiting: true failures: 1", "close: <nil>"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("child (%v) does not say %q:\n%s", err, want, out)
		}
	}
	if !strings.Contains(string(out), "store anomalies: 1") && !strings.Contains(string(out), "store anomalies: 2") {
		t.Fatalf("no store_unwritable anomaly:\n%s", out)
	}
	// The database has what a run that never failed stores.
	ref := filepath.Join(t.TempDir(), "ref.db")
	replayFile(t, "../testdata/sim_normal.pcap", func(c *Config) { c.DBPath = ref })
	for _, p := range []string{path, ref} {
		db, err := store.Open(p, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		s, err := db.Load()
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if p == path {
			path = fmt.Sprintf("%d devices %d channels", len(s.Devices), len(s.Channels))
		} else if got := fmt.Sprintf("%d devices %d channels", len(s.Devices), len(s.Channels)); got != path {
			t.Fatalf("after the full disk: %s; without: %s", path, got)
		}
	}
}
