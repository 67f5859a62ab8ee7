package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
)

// startLive runs Serve on free loopback ports for the duration of the test.
func startLive(t *testing.T) Endpoints {
	t.Helper()
	for attempt := 0; ; attempt++ {
		uaPort, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan Endpoints, 1)
		done := make(chan error, 1)
		go func() {
			done <- Serve(ctx, Config{ModbusAddr: "127.0.0.1:0", DNP3Addr: "127.0.0.1:0", OPCUAEndpoint: fmt.Sprintf("opc.tcp://127.0.0.1:%d", uaPort), Seed: 1,
				Ready: func(ep Endpoints) { ready <- ep }})
		}()
		select {
		case ep := <-ready:
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Serve: %v", err)
				}
			})
			return ep
		case err := <-done:
			cancel()
			// The picked port can be taken by another process
			// before Serve listens on it: try another.
			if attempt < 5 && strings.Contains(err.Error(), "address already in use") {
				continue
			}
			t.Fatalf("Serve: %v", err)
		case <-time.After(30 * time.Second):
			cancel()
			t.Fatal("Serve did not become ready")
		}
	}
}

func readHolding(t *testing.T, addr string, unit uint8, reg, n uint16) []uint16 {
	t.Helper()
	c, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + addr, Timeout: 2 * time.Second, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetUnitId(unit); err != nil {
		t.Fatal(err)
	}
	v, err := c.ReadRegisters(reg, n, mb.HOLDING_REGISTER)
	if err != nil {
		t.Fatalf("read holding %d..%d of unit %d: %v", reg, reg+n-1, unit, err)
	}
	return v
}

// TestPlayLive plays attack scripts live against a running simulator, as
// `sluice demo` does, and checks their effect on the PLC through a third
// client.
func TestPlayLive(t *testing.T) {
	ep := startLive(t)
	var mu sync.Mutex
	var logs []string
	logf := func(f string, a ...any) { mu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); mu.Unlock() }
	for _, tc := range []struct {
		scenario string
		want     uint16 // gate 1 setpoint register afterwards
	}{
		{"rogue_master", 400},
		{"opcua_anonymous_write", 600},
		{"out_of_range_setpoint", 950},
	} {
		labels, err := Play(context.Background(), PlayConfig{Scenario: tc.scenario, Modbus: ep.Modbus, OPCUA: ep.OPCUA,
			Seed: 3, Duration: 4 * time.Second, AttackAt: 0, Logf: logf})
		if err != nil {
			t.Fatalf("%s: %v", tc.scenario, err)
		}
		if len(labels) != 1 || labels[0].Start.IsZero() || labels[0].End.Before(labels[0].Start) {
			t.Fatalf("%s: labels %+v", tc.scenario, labels)
		}
		if got := readHolding(t, ep.Modbus, UnitDam, 0, 1)[0]; got != tc.want {
			t.Errorf("%s: gate 1 setpoint register = %d, want %d", tc.scenario, got, tc.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) > 0 {
		t.Errorf("actors logged errors: %q", logs)
	}
}

// TestPlayLiveNormal runs the normal actors live for a few seconds (HMI with
// simonvetter/modbus, historian with gopcua's client and a subscription) and
// expects no actor errors.
func TestPlayLiveNormal(t *testing.T) {
	if testing.Short() {
		t.Skip("live actors take seconds")
	}
	ep := startLive(t)
	var logs []string
	var mu sync.Mutex
	_, err := Play(context.Background(), PlayConfig{Scenario: "normal", Modbus: ep.Modbus, OPCUA: ep.OPCUA, Seed: 1,
		Duration: 5 * time.Second, Normal: true,
		Logf: func(f string, a ...any) { mu.Lock(); logs = append(logs, fmt.Sprintf(f, a...)); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) > 0 {
		t.Errorf("actors logged errors: %q", logs)
	}
}

// TestMbpoll drives the Debian mbpoll master against the live simulator:
// it reads the measurements, writes a setpoint and gets exceptions 02 and 03.
func TestMbpoll(t *testing.T) {
	bin, err := exec.LookPath("mbpoll")
	if err != nil {
		t.Skip("mbpoll not installed (apt-get install mbpoll; make tools)")
	}
	ep := startLive(t)
	host, port, _ := strings.Cut(ep.Modbus, ":")
	// runV runs mbpoll once (-1) with args, then the host and, for a
	// write, the values.
	runV := func(values string, args ...string) (string, error) {
		a := append([]string{"-m", "tcp", "-p", port, "-1", "-o", "2"}, args...)
		a = append(a, host)
		if values != "" {
			a = append(a, values)
		}
		out, err := exec.Command(bin, a...).CombinedOutput()
		return string(out), err
	}
	run := func(args ...string) (string, error) { return runV("", args...) }
	// Input registers 30001-30009 of unit 1: the level is first (×100).
	out, err := run("-a", "1", "-t", "3", "-r", "1", "-c", "9")
	if err != nil {
		t.Fatalf("mbpoll read input registers: %v\n%s", err, out)
	}
	if !strings.Contains(out, "[1]: \t11980") {
		t.Errorf("reservoir level register: want 11980 (119.80 m) in\n%s", out)
	}
	// Write gate 2's setpoint (40002) to 12.5 % and read it back.
	if out, err := runV("125", "-a", "1", "-t", "4", "-r", "2"); err != nil || !strings.Contains(out, "Written 1 references") {
		t.Fatalf("mbpoll write: %v\n%s", err, out)
	}
	if got := readHolding(t, ep.Modbus, UnitDam, 1, 1)[0]; got != 125 {
		t.Errorf("after mbpoll write, gate 2 setpoint register = %d, want 125", got)
	}
	// Holding register 40020 does not exist: exception 02.
	if out, _ := run("-a", "1", "-t", "4", "-r", "20"); !strings.Contains(out, "Illegal data address") {
		t.Errorf("read of a missing register: want illegal data address in\n%s", out)
	}
	// 500.0 % is outside the valid range: exception 03.
	if out, _ := runV("5000", "-a", "1", "-t", "4", "-r", "1"); !strings.Contains(out, "Illegal data value") {
		t.Errorf("write out of range: want illegal data value in\n%s", out)
	}
	// Unit 2's turbine powers (30002, 30005) through the same address.
	if out, err := run("-a", "2", "-t", "3", "-r", "1", "-c", "6"); err != nil || !strings.Contains(out, "[2]: \t1800") {
		t.Errorf("unit 2 input registers: want turbine 1 at 1800 (18 MW): %v\n%s", err, out)
	}
}

// TestNodeOPCUA browses and reads the live OPC UA server with node-opcua.
func TestNodeOPCUA(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	mods, _ := filepath.Abs(filepath.Join("..", ".tools", "node", "node_modules"))
	if _, err := os.Stat(filepath.Join(mods, "node-opcua")); err != nil {
		t.Skip("node-opcua not installed under .tools/node (make tools)")
	}
	ep := startLive(t)
	for _, user := range []string{"", "operator"} {
		cmd := exec.Command(node, filepath.Join("testdata", "opcua_client.js"), ep.OPCUA)
		cmd.Env = append(os.Environ(), "NODE_PATH="+mods, "OPCUA_USER="+user, "OPCUA_PASSWORD=secret", "HOME="+t.TempDir())
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node-opcua (user %q): %v\n%s", user, err, stderr.String())
		}
		var res struct {
			Browsed []string
			Values  map[string]any
		}
		// node-opcua logs on stdout too; the result is the line that
		// starts with {"browsed".
		var line string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, `{"browsed"`) {
				line = l
			}
		}
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			t.Fatalf("node-opcua output %q: %v", out, err)
		}
		if !contains(res.Browsed, "Dam") {
			t.Errorf("Objects browsed as %q, want a Dam folder", res.Browsed)
		}
		if len(res.Values) != len(Tags) {
			t.Errorf("node-opcua read %d variables under Dam, want %d", len(res.Values), len(Tags))
		}
		if lvl, ok := res.Values[TagLevel].(float64); !ok || lvl < 119 || lvl > 121 {
			t.Errorf("%s = %v, want about 119.8", TagLevel, res.Values[TagLevel])
		}
		if b, ok := res.Values[TagT1Closed].(bool); !ok || !b {
			t.Errorf("%s = %v, want true", TagT1Closed, res.Values[TagT1Closed])
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestServeScenario runs `sluice sim serve --scenario normal` in-process: the
// actors must start at once (a served scenario is open-ended, built an hour
// at a time) and the PLC must see the HMI's polls.
func TestServeScenario(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Endpoints, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Config{ModbusAddr: "127.0.0.1:0", DNP3Addr: "127.0.0.1:0", OPCUAEndpoint: "off", Scenario: "normal", Seed: 4,
			Ready: func(ep Endpoints) { ready <- ep }})
	}()
	var ep Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	// Wait (up to 20 s, the machine may be busy) until the PLC has
	// counted two rounds of the HMI's four requests: FC 8/0x0E, return
	// server message count.
	// Our own queries count too: n is what the others sent.
	c := dial(t, ep.Modbus)
	n := 0
	for i := 1; i <= 40 && n < 8; i++ {
		time.Sleep(500 * time.Millisecond)
		got, err := exchange(c, unhex(t, "0001 0000 0006 01 08 000e 0000"), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		n = (int(got[len(got)-2])<<8 | int(got[len(got)-1])) - i
	}
	if n < 8 {
		t.Errorf("server message count %d: the HMI of the served scenario is not polling", n)
	}
}

// TestServeShutdownWithClients cancels Serve while clients are connected: an
// idle Modbus connection that never sends a byte, and the normal actors of
// Play (HMI polling, historian holding an OPC UA subscription), as
// `sluice demo` leaves them. Serve must close its listeners and every live
// connection and return; the clients must then see their connections fail
// and Play return. The 60 s limits only keep a regression from hanging the
// test run; they measure nothing.
func TestServeShutdownWithClients(t *testing.T) {
	if testing.Short() {
		t.Skip("live actors take seconds")
	}
	uaPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan Endpoints, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Config{ModbusAddr: "127.0.0.1:0", DNP3Addr: "127.0.0.1:0", OPCUAEndpoint: fmt.Sprintf("opc.tcp://127.0.0.1:%d", uaPort), Seed: 5,
			Ready: func(ep Endpoints) { ready <- ep }})
	}()
	var ep Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Skipf("Serve did not start (port %d taken?): %v", uaPort, err)
	case <-time.After(60 * time.Second):
		t.Fatal("Serve did not become ready")
	}
	idle := dial(t, ep.Modbus)
	playCtx, stopPlay := context.WithCancel(context.Background())
	defer stopPlay()
	played := make(chan error, 1)
	go func() {
		_, err := Play(playCtx, PlayConfig{Scenario: "normal", Modbus: ep.Modbus, OPCUA: ep.OPCUA, Seed: 5,
			Duration: time.Hour, Normal: true})
		played <- err
	}()
	// Wait until the HMI is polling (the PLC's server message count
	// grows by more than our own queries), so its connections are live.
	for i := 1; ; i++ {
		got, err := exchange(idle, unhex(t, "0001 0000 0006 01 08 000e 0000"), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if n := int(got[len(got)-2])<<8 | int(got[len(got)-1]); n-i >= 8 {
			break
		}
		if i == 120 {
			t.Fatal("the HMI never polled")
		}
		time.Sleep(500 * time.Millisecond)
	}
	cancel()
	stopped := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		t.Logf("Serve returned %s after cancel", time.Since(stopped).Round(time.Millisecond))
	case <-time.After(60 * time.Second):
		t.Fatal("Serve did not return after its context was cancelled, with clients connected")
	}
	// The idle client's connection must have been closed by the server.
	if err := idle.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := idle.Read(make([]byte, 1)); err == nil {
		t.Errorf("idle connection still open after Serve returned (read %d bytes)", n)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("idle connection still open after Serve returned")
	}
	stopPlay()
	select {
	case <-played:
	case <-time.After(60 * time.Second):
		t.Fatal("Play did not return after the simulator stopped and its context was cancelled")
	}
}
