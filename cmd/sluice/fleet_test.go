package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-ics/sluice/internal/fleet"
	"github.com/sluice-ics/sluice/internal/natstest"
)

// TestFleetCluster is issue #13 §4's scenario with the real binaries and
// real servers: a 3-node JetStream cluster on loopback, two sensors of two
// sites replaying different captures (`sluice replay --nats`), one hub
// (`sluice hub`). A cluster node and the hub are killed (SIGKILL) between
// the sensors' runs and restarted; every alert of both sensors' EVE output
// is in the fleet database exactly once, each site's baseline there is the
// sensor's own (same SHA-256), and the fleet report lists both sites.
func TestFleetCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS cluster: skipped with -short")
	}
	servers := natstest.Cluster(t, 3)
	urls := natstest.URLs(servers)
	bin := buildSluice(t)
	dir := t.TempDir()
	fleetDB := filepath.Join(dir, "fleet.db")

	js := func() (jetstream.JetStream, func()) {
		nc, err := nats.Connect(urls)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := jetstream.New(nc)
		return j, nc.Close
	}
	// waitStream waits until the stream answers (a new cluster elects its
	// meta leader, a killed node's streams their leaders), creating it
	// with three replicas the first time.
	waitStream := func() {
		t.Helper()
		j, done := js()
		defer done()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := fleet.EnsureStream(ctx, j, fleet.DefaultStream, 3)
			if err == nil {
				_, err = j.Stream(ctx, fleet.DefaultStream)
			}
			cancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stream did not answer: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitStream()

	var hubOut bytes.Buffer
	startHub := func() *exec.Cmd {
		c := exec.Command(bin, "hub", "--nats", urls, "--db", fleetDB, "--nats-replicas", "3", "--batch", "16")
		c.Stdout, c.Stderr = &hubOut, &hubOut
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		return c
	}
	hub := startHub()
	defer func() { hub.Process.Kill(); hub.Wait() }()

	run := func(args ...string) string {
		t.Helper()
		c := exec.Command(bin, args...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// sensor learns on the normal capture, then monitors attack; it
	// returns the alert lines of its EVE outputs.
	sensor := func(name, site, attack string) [][]byte {
		t.Helper()
		db := filepath.Join(dir, name+".db")
		var alerts [][]byte
		for i, c := range []struct{ pcap, mode string }{{"sim_normal.pcap", "learn"}, {attack, "monitor"}} {
			out := filepath.Join(dir, name+"-"+c.mode+".json")
			stderr := run("replay", filepath.Join("..", "..", "testdata", c.pcap), "--mode", c.mode, "--db", db,
				"--sensor", name, "--site", site, "--nats", urls, "--nats-replicas", "3", "--events", "alerts", "-o", out)
			if strings.Contains(stderr, "kept in the spool") || strings.Contains(stderr, "dropped") {
				t.Fatalf("%s run %d did not deliver everything:\n%s", name, i, stderr)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			for l := range bytes.Lines(b) {
				if bytes.Contains(l, []byte(`"event_type":"alert"`)) {
					alerts = append(alerts, bytes.TrimSuffix(l, []byte("\n")))
				}
			}
		}
		return alerts
	}
	want := sensor("pump-1", "north", "sim_rogue_master.pcap")

	// A node of the cluster and the hub die.
	servers[1].Kill()
	hub.Process.Signal(syscall.SIGKILL)
	hub.Wait()
	waitStream()
	want = append(want, sensor("gate-1", "south", "sim_opcua_anonymous_write.pcap")...)
	if len(want) < 4 {
		t.Fatalf("only %d alerts from the two sensors", len(want))
	}
	servers[1].Start()
	hub = startHub()

	// Wait until the hub's durable consumer has everything acknowledged.
	j, done := js()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := j.Consumer(ctx, fleet.DefaultStream, fleet.DefaultDurable)
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = c.Info(ctx)
		}
		cancel()
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub did not catch up: %v %+v\n%s", err, info, hubOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	done()
	hub.Process.Signal(syscall.SIGTERM)
	if err := hub.Wait(); err != nil {
		t.Fatalf("hub: %v\n%s", err, hubOut.String())
	}

	alerts, err := fleet.Alerts(fleetDB)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, l := range want {
		count[string(l)]++
	}
	for _, a := range alerts {
		count[string(a.EVE)]--
	}
	for l, n := range count {
		if n != 0 {
			t.Errorf("alert in the sensors' output %+d times more than in the fleet database: %s", n, l)
		}
	}
	if len(alerts) != len(want) {
		t.Fatalf("%d alerts in the fleet database, the sensors wrote %d\n%s", len(alerts), len(want), hubOut.String())
	}

	// Each site's baseline is its sensor's, and the fleet report has both.
	for name, site := range map[string]string{"pump-1": "north", "gate-1": "south"} {
		own := run("baseline", "show", "--db", filepath.Join(dir, name+".db"))
		fl := run("baseline", "show", "--db", fleetDB, "--site", site)
		sha := func(s string) string { _, v, _ := strings.Cut(s, "sha256 "); v, _, _ = strings.Cut(v, "\n"); return v }
		if sha(own) == "" || sha(own) != sha(fl) {
			t.Errorf("site %s: fleet baseline sha256 %q, sensor %s's %q", site, sha(fl), name, sha(own))
		}
	}
	var rep struct {
		Summary struct{ Sites, Sensors, Alerts int }
	}
	if err := json.Unmarshal([]byte(run("report", "--db", fleetDB, "--format", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Sites != 2 || rep.Summary.Sensors != 2 || rep.Summary.Alerts != len(want) {
		t.Errorf("fleet report summary %+v, want 2 sites, 2 sensors, %d alerts", rep.Summary, len(want))
	}
}

// TestLiveMonitorFleet: `sluice monitor` on the loopback interface with
// --nats publishes what it sees live: mbpoll writes to the simulator's PLC,
// the monitor (mode monitor, an empty baseline) alerts on the unknown
// master, and the stream holds exactly the EVE file's alert lines and the
// alert log's change in a baseline message.
func TestLiveMonitorFleet(t *testing.T) {
	needLive(t, "mbpoll")
	srv := natstest.New(t)
	srv.Start()
	bin := buildSluice(t)
	dir := t.TempDir()
	mbPort, uaPort, metricsPort := liveFreePort(t), liveFreePort(t), liveFreePort(t)
	sim := liveSimulator(t, bin, mbPort, uaPort)
	eve := filepath.Join(dir, "eve.json")
	metricsAddr := "127.0.0.1:" + strconv.Itoa(metricsPort)
	mon := liveStart(t, bin, "monitor", "--iface", "lo", "--modbus-ports", strconv.Itoa(mbPort), "--opcua-ports", "",
		"--dnp3-ports", "", "--mode", "monitor", "--db", filepath.Join(dir, "base.db"), "--sensor", "live-1", "--site", "lab",
		"--nats", srv.URL(), "--events", "alerts", "-o", eve, "--metrics", metricsAddr)
	if !liveWaitFor(20*time.Second, func() bool {
		code, _, err := liveGet("http://" + metricsAddr + "/healthz")
		return err == nil && code == 200
	}) {
		t.Fatalf("monitor's /healthz never answered 200:\n%s", mon.out.String())
	}
	var alerts [][]byte
	if !liveWaitFor(20*time.Second, func() bool {
		out, err := exec.Command("mbpoll", "-m", "tcp", "-p", strconv.Itoa(mbPort), "-a", "1", "-t", "4", "-0", "-1",
			"-r", "0", "127.0.0.1", "150").CombinedOutput()
		if err != nil {
			t.Fatalf("mbpoll: %v\n%s", err, out)
		}
		time.Sleep(1200 * time.Millisecond) // the monitor flushes every second
		b, _ := os.ReadFile(eve)
		alerts = nil
		for l := range bytes.Lines(b) {
			if bytes.Contains(l, []byte(`"event_type":"alert"`)) {
				alerts = append(alerts, bytes.TrimSuffix(l, []byte("\n")))
			}
		}
		return len(alerts) > 0
	}) {
		t.Fatalf("no alert from mbpoll's write:\n%s\nmonitor:\n%s", liveTail(eve), mon.out.String())
	}
	if exit, _ := mon.interrupt(t, 10*time.Second); exit != 0 {
		t.Errorf("monitor exit status %d after SIGINT:\n%s", exit, mon.out.String())
	}
	b, _ := os.ReadFile(eve)
	alerts = nil
	for l := range bytes.Lines(b) {
		if bytes.Contains(l, []byte(`"event_type":"alert"`)) {
			alerts = append(alerts, bytes.TrimSuffix(l, []byte("\n")))
		}
	}

	var got [][]byte
	logged := false
	for _, m := range natstest.Messages(t, srv.URL(), fleet.DefaultStream) {
		switch m.Subject() {
		case "sluice.lab.live-1.alert":
			got = append(got, m.Data())
		case "sluice.lab.live-1.baseline":
			logged = logged || bytes.Contains(m.Data(), []byte(`"bucket":"alerts"`))
		}
	}
	if len(got) != len(alerts) {
		t.Fatalf("%d alerts in the stream, %d in the EVE file", len(got), len(alerts))
	}
	for i := range got {
		if !bytes.Equal(got[i], alerts[i]) {
			t.Errorf("stream alert %d:\n%s\nEVE:\n%s", i, got[i], alerts[i])
		}
	}
	// Monitor mode never changes the learned baseline; its alert log is
	// a baseline change, published as one.
	if !logged {
		t.Error("no baseline message carries the alert log's deviation")
	}
	sim.interrupt(t, 5*time.Second)
}
