package main

// Live deployment tests (issue 6 §4): the real binary, the real simulator
// process, a real Modbus master (Debian's mbpoll), a real SIGINT, and a
// private network namespace for the passivity check. CI runs as root; the
// tests skip cleanly without root, without the tools, or with -short.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needLive skips unless the test can capture and run the named tools.
func needLive(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("live test: skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("live test: needs root (CAP_NET_RAW, network namespaces); CI runs as root")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("live test: %s not installed (make tools installs it)", tool)
		}
	}
}

// buildSluice builds the binary under test into a temporary directory.
func buildSluice(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freePort returns a loopback TCP port that was free a moment ago.
func liveFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a started child process whose output is kept for failure
// messages; it is killed in t.Cleanup if the test did not stop it.
type liveProc struct {
	cmd  *exec.Cmd
	out  *liveBuffer
	done chan struct{}
	err  error
}

type liveBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func newLiveBuffer() *liveBuffer { return &liveBuffer{mu: make(chan struct{}, 1)} }

func (s *liveBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *liveBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

func liveStart(t *testing.T, name string, args ...string) *liveProc {
	t.Helper()
	p := &liveProc{cmd: exec.Command(name, args...), out: newLiveBuffer(), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// interrupt sends SIGINT and returns the exit code and how long the process
// took to exit.
func (p *liveProc) interrupt(t *testing.T, limit time.Duration) (int, time.Duration) {
	t.Helper()
	at := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("SIGINT: %v", err)
	}
	select {
	case <-p.done:
	case <-time.After(limit + 10*time.Second):
		t.Fatalf("no exit %v after SIGINT; output:\n%s", limit+10*time.Second, p.out.String())
	}
	return p.cmd.ProcessState.ExitCode(), time.Since(at)
}

// waitFor polls cond every 100 ms until it holds or d passes.
func liveWaitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// liveEvent is the part of an EVE event the live tests check.
type liveEvent struct {
	EventType string `json:"event_type"`
	SrcIP     string `json:"src_ip"`
	SrcPort   int    `json:"src_port"`
	DestIP    string `json:"dest_ip"`
	DestPort  int    `json:"dest_port"`
	Modbus    *struct {
		UnitID       int `json:"unit_id"`
		FunctionCode int `json:"function_code"`
		Request      *struct {
			Address  int   `json:"address"`
			Quantity int   `json:"quantity"`
			Values   []int `json:"values"`
		} `json:"request"`
		Response *struct {
			Values []int `json:"values"`
		} `json:"response"`
	} `json:"modbus"`
	Stats *struct {
		Packets uint64 `json:"packets"`
	} `json:"stats"`
}

func readLiveEvents(t *testing.T, path string) []liveEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []liveEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev liveEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%s: not JSON: %v: %s", path, err, sc.Bytes())
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func liveGet(url string) (int, string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestLiveMonitorSimulatorMbpoll: `sluice sim serve` and `sluice monitor
// --iface lo` as processes, mbpoll reading and writing registers: the
// events name the right ports and values, /metrics counts them, and SIGINT
// stops the monitor with exit status 0 within 2 s, every event flushed and
// the stats event last.
func TestLiveMonitorSimulatorMbpoll(t *testing.T) {
	needLive(t, "mbpoll")
	bin := buildSluice(t)
	dir := t.TempDir()
	mbPort, uaPort, metricsPort := liveFreePort(t), liveFreePort(t), liveFreePort(t)
	sim := liveSimulator(t, bin, mbPort, uaPort)

	eve := filepath.Join(dir, "eve.json")
	metricsAddr := "127.0.0.1:" + strconv.Itoa(metricsPort)
	mon := liveStart(t, bin, "monitor", "--iface", "lo", "--modbus-ports", strconv.Itoa(mbPort),
		"--opcua-ports", strconv.Itoa(uaPort), "-o", eve, "--metrics", metricsAddr, "--learn-for", "1h")
	// /healthz answers once the capture socket is open (monitor opens it
	// before it serves metrics).
	if !liveWaitFor(20*time.Second, func() bool {
		code, _, err := liveGet("http://" + metricsAddr + "/healthz")
		return err == nil && code == 200
	}) {
		t.Fatalf("monitor's /healthz never answered 200:\n%s", mon.out.String())
	}

	// A real master: read 2 holding registers of unit 1 from address 0
	// (mbpoll's -r is 1-based), then write 150 (gate 1 at 15 %) to
	// holding register 0 of unit 1.
	mbpoll := func(args ...string) string {
		out, err := exec.Command("mbpoll", append([]string{"-m", "tcp", "-p", strconv.Itoa(mbPort), "-a", "1",
			"-t", "4", "-0", "-1"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mbpoll %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	var read, write *liveEvent
	if !liveWaitFor(20*time.Second, func() bool {
		mbpoll("-r", "0", "-c", "2", "127.0.0.1")
		mbpoll("-r", "0", "127.0.0.1", "150")
		time.Sleep(1200 * time.Millisecond) // the monitor flushes every second
		read, write = nil, nil
		for _, ev := range readLiveEvents(t, eve) {
			ev := ev
			if ev.EventType != "modbus" || ev.Modbus == nil || ev.Modbus.Request == nil || ev.Modbus.Response == nil {
				continue
			}
			switch ev.Modbus.FunctionCode {
			case 3:
				read = &ev
			case 6:
				write = &ev
			}
		}
		return read != nil && write != nil
	}) {
		t.Fatalf("no paired FC 3 and FC 6 events from mbpoll in %s:\n%s\nmonitor:\n%s", eve, liveTail(eve), mon.out.String())
	}
	for _, ev := range []*liveEvent{read, write} {
		if ev.DestPort != mbPort || ev.DestIP != "127.0.0.1" || ev.SrcPort == 0 || ev.SrcPort == mbPort || ev.SrcIP == "" {
			t.Errorf("FC %d event endpoints %s:%d → %s:%d, want mbpoll's ephemeral port → 127.0.0.1:%d",
				ev.Modbus.FunctionCode, ev.SrcIP, ev.SrcPort, ev.DestIP, ev.DestPort, mbPort)
		}
		if ev.Modbus.UnitID != 1 || ev.Modbus.Request.Address != 0 {
			t.Errorf("FC %d event unit %d address %d, want unit 1 address 0", ev.Modbus.FunctionCode, ev.Modbus.UnitID, ev.Modbus.Request.Address)
		}
	}
	if read.Modbus.Request.Quantity != 2 || len(read.Modbus.Response.Values) != 2 {
		t.Errorf("read event: quantity %d, %d values, want 2 and 2", read.Modbus.Request.Quantity, len(read.Modbus.Response.Values))
	}
	if len(write.Modbus.Request.Values) != 1 || write.Modbus.Request.Values[0] != 150 {
		t.Errorf("write event values %v, want [150]", write.Modbus.Request.Values)
	}

	// Metrics see the same transactions.
	code, body, err := liveGet("http://" + metricsAddr + "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	for _, want := range []string{
		`sluice_requests_total{function="read_holding_registers",protocol="modbus"}`,
		`sluice_requests_total{function="write_single_register",protocol="modbus"}`,
		"sluice_packets_total ",
		"sluice_up 1",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// SIGINT: exit 0 within 2 s, output flushed, stats event last.
	exit, took := mon.interrupt(t, 2*time.Second)
	if exit != 0 {
		t.Errorf("monitor exit status %d after SIGINT, want 0:\n%s", exit, mon.out.String())
	}
	if took > 2*time.Second {
		t.Errorf("monitor took %v to exit after SIGINT, want ≤ 2 s", took)
	}
	evs := readLiveEvents(t, eve)
	last := evs[len(evs)-1]
	if last.EventType != "stats" || last.Stats == nil || last.Stats.Packets == 0 {
		t.Errorf("last event %+v, want the stats event with packets", last)
	}
	if exit, _ := sim.interrupt(t, 5*time.Second); exit != 0 {
		t.Errorf("simulator exit status %d after SIGINT:\n%s", exit, sim.out.String())
	}
}

// liveSimulator starts `sluice sim serve` with its Modbus/TCP and OPC UA
// servers on loopback ports mbPort and uaPort (DNP3 off) and waits until
// the Modbus server listens.
func liveSimulator(t *testing.T, bin string, mbPort, uaPort int) *liveProc {
	t.Helper()
	sim := liveStart(t, bin, "sim", "serve", "--modbus", "127.0.0.1:"+strconv.Itoa(mbPort),
		"--opcua", fmt.Sprintf("opc.tcp://127.0.0.1:%d", uaPort), "--dnp3", "off", "--seed", "1")
	if !liveWaitFor(20*time.Second, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(mbPort))
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("simulator does not listen on %d:\n%s", mbPort, sim.out.String())
	}
	return sim
}

func liveTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// netns runs a command inside the namespace ns.
func inNetns(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec %s %v: %v\n%s", ns, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func liveCounter(t *testing.T, ns, iface, name string) uint64 {
	t.Helper()
	// ip netns exec remounts /sys for the namespace, so this reads the
	// namespace's interface.
	v := inNetns(t, ns, "cat", "/sys/class/net/"+iface+"/statistics/"+name)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s %s: %q: %v", iface, name, v, err)
	}
	return n
}

// TestLivePassive: in a private network namespace with a veth pair, Sluice
// monitors one end while TCP SYNs to port 502 arrive on it from the other:
// it captures them, and the monitored end transmits nothing (its tx
// counters, and the peer's rx counters, do not move).
func TestLivePassive(t *testing.T) {
	needLive(t, "ip", "bash")
	bin := buildSluice(t)
	ns := fmt.Sprintf("sluice-passive-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	// No IPv6 (router solicitations, DAD) and no address on the monitored
	// end: the kernel itself has nothing to send there.
	inNetns(t, ns, "sh", "-c", "for f in /proc/sys/net/ipv6/conf/default/disable_ipv6 /proc/sys/net/ipv6/conf/all/disable_ipv6; do [ -w $f ] && echo 1 > $f; done; true")
	inNetns(t, ns, "ip", "link", "add", "mon0", "type", "veth", "peer", "name", "peer0")
	inNetns(t, ns, "ip", "link", "set", "mon0", "up")
	inNetns(t, ns, "ip", "link", "set", "peer0", "up")
	inNetns(t, ns, "ip", "addr", "add", "10.99.0.2/24", "dev", "peer0")
	// A static neighbour with a MAC that is nobody's: frames reach mon0 as
	// traffic for another host, like a span port's.
	inNetns(t, ns, "ip", "neigh", "add", "10.99.0.1", "lladdr", "02:00:5e:10:99:01", "dev", "peer0")

	names := []string{"tx_packets", "tx_bytes"}
	snap := func() map[string]uint64 {
		m := map[string]uint64{}
		for _, n := range names {
			m["mon0 "+n] = liveCounter(t, ns, "mon0", n)
		}
		m["peer0 rx_packets"] = liveCounter(t, ns, "peer0", "rx_packets")
		return m
	}
	time.Sleep(500 * time.Millisecond)
	before := snap()
	// Control: without Sluice the link is quiet, so a change below can
	// only be Sluice's.
	time.Sleep(time.Second)
	if ctl := snap(); fmt.Sprint(ctl) != fmt.Sprint(before) {
		t.Fatalf("the namespace's link is not quiet without sluice: %v → %v", before, ctl)
	}

	eve := filepath.Join(t.TempDir(), "eve.json")
	mon := liveStart(t, "ip", "netns", "exec", ns, bin, "monitor", "--iface", "mon0", "--modbus-ports", "502", "-o", eve)
	time.Sleep(1500 * time.Millisecond) // the capture socket opens
	// Traffic to 10.99.0.1:502 from the peer: SYNs that nobody answers.
	inNetns(t, ns, "bash", "-c", "for i in 1 2 3 4 5; do timeout 0.4 bash -c 'exec 3<>/dev/tcp/10.99.0.1/502' 2>/dev/null; done; true")
	time.Sleep(500 * time.Millisecond)
	exit, _ := mon.interrupt(t, 2*time.Second)
	if exit != 0 {
		t.Fatalf("monitor exit status %d:\n%s", exit, mon.out.String())
	}
	after := snap()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s moved from %d to %d while sluice monitored mon0: it transmitted", k, v, after[k])
		}
	}
	// The test is only meaningful if Sluice saw the traffic.
	evs := readLiveEvents(t, eve)
	if len(evs) == 0 || evs[len(evs)-1].Stats == nil || evs[len(evs)-1].Stats.Packets == 0 {
		t.Fatalf("sluice captured nothing on mon0 (events %+v):\n%s", evs, mon.out.String())
	}
	t.Logf("sluice captured %d packets on mon0; mon0 tx %v", evs[len(evs)-1].Stats.Packets, after)
}

// TestLiveDemo runs `sluice demo` as `make demo` does, shortened to one
// attack: it captures live on lo, prints the alert lines and the summary,
// and writes the EVE file and a self-contained HTML report.
func TestLiveDemo(t *testing.T) {
	needLive(t)
	bin := buildSluice(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "demo", "--learn-for", "10s", "--scenarios", "rogue_master")
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sluice demo: %v\n%s", err, out)
	}
	text := string(out)
	if strings.Contains(text, "in-process tap") {
		t.Fatalf("demo fell back to the in-process tap as root:\n%s", text)
	}
	for _, want := range []string{"captured live on lo", "▶ rogue_master", "new_master", "1 of 1 attacks caught", "sluice-report.html"} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	html, err := os.ReadFile(filepath.Join(dir, "sluice-report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(html, []byte("<svg")) {
		t.Error("report has no inline SVG map")
	}
	for _, external := range []string{"<script", "<link", "src=", "@import", "url("} {
		if bytes.Contains(html, []byte(external)) {
			t.Errorf("report is not self-contained: it has %q", external)
		}
	}
	evs := readLiveEvents(t, filepath.Join(dir, "sluice-demo-eve.json"))
	alerts := 0
	for _, ev := range evs {
		if ev.EventType == "alert" {
			alerts++
		}
	}
	if alerts == 0 || evs[len(evs)-1].EventType != "stats" {
		t.Errorf("EVE file: %d alerts, last event %q; want alerts and the stats event last", alerts, evs[len(evs)-1].EventType)
	}
	t.Logf("demo took %v", time.Since(start).Round(time.Second))
}
