package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

var (
	bt0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bhmi = netip.MustParseAddr("10.10.1.10")
	bplc = netip.MustParseAddr("10.10.2.1")
)

func bwrite(t time.Time, addr, v uint16) *baselines.Observation {
	return &baselines.Observation{Time: t, Protocol: baselines.Modbus, Responded: true,
		Endpoints: baselines.Endpoints{ClientIP: bhmi, ServerIP: bplc, ServerPort: 502},
		Detail: &baselines.ModbusObs{Unit: 1, Function: 6, WriteTable: modbus.TableHoldingRegisters,
			Write: baselines.Range{Start: addr, Count: 1}, Values: []uint16{v}}}
}

// makeStore learns a few writes, then monitors one unexpected write, and
// returns the store's path and the alert's deviation id.
func makeStore(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "b.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := baselines.New(baselines.Config{LearnFor: time.Hour})
	for i := range 30 {
		e.Observe(bwrite(bt0.Add(time.Duration(i)*time.Minute), 40, uint16(50+i%5)))
	}
	got := e.Observe(bwrite(bt0.Add(2*time.Hour), 41, 1))
	if len(got) != 1 || got[0].Rule != baselines.UnexpectedWrite {
		t.Fatalf("alerts %+v", got)
	}
	id := got[0].ID
	if _, err := db.Flush(e); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path, id
}

func run(t *testing.T, fn func([]string, *bytes.Buffer) error, args ...string) string {
	t.Helper()
	var b bytes.Buffer
	if err := fn(args, &b); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return b.String()
}

func w(f func([]string, io.Writer) error) func([]string, *bytes.Buffer) error {
	return func(a []string, b *bytes.Buffer) error { return f(a, b) }
}

func TestBaselineLifecycle(t *testing.T) {
	path, id := makeStore(t)
	show := run(t, w(baselineShow), "--db", path, "--device", "10.10.2.1")
	for _, want := range []string{"device 10.10.2.1", "modbus_slave", "written holding_registers 40", "value holding_registers:40 50..54 [50 51 52 53 54]"} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	exp := filepath.Join(t.TempDir(), "b.json")
	run(t, w(baselineExport), "--db", path, "-o", exp)
	copyDB := filepath.Join(t.TempDir(), "c.db")
	run(t, w(baselineImport), "--db", copyDB, "--by", "carol", exp)
	if d := run(t, w(baselineDiff), path, copyDB); d != "no differences\n" {
		t.Fatalf("diff after import: %q", d)
	}
	out := run(t, w(baselineAccept), "--db", copyDB, "--alert", id, "--reason", "new valve", "--by", "alice")
	if !strings.Contains(out, "accepted "+id+" unexpected_write") {
		t.Fatalf("accept said %q", out)
	}
	d := run(t, w(baselineDiff), path, copyDB)
	if !strings.Contains(d, "+ written holding_registers 40-41") {
		t.Fatalf("diff after accept:\n%s", d)
	}
	appr := run(t, w(baselineApprove), "--db", copyDB, "--by", "dave")
	db, err := store.Open(copyDB, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.Load()
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	sha, _ := s.SHA256()
	if !strings.Contains(appr, sha) {
		t.Fatalf("approve printed %q, baseline sha %s", appr, sha)
	}
	if show := run(t, w(baselineShow), "--db", copyDB); !strings.Contains(show, `approved by "dave"`) || !strings.Contains(show, "unchanged since approval") {
		t.Fatalf("show after approve:\n%s", show)
	}
	var actions []string
	for _, a := range s.Audit {
		actions = append(actions, a.Action+":"+a.By)
	}
	if strings.Join(actions, ",") != "import:carol,accept:alice,approve:dave" {
		t.Fatalf("audit trail %v", actions)
	}
	if s.Audit[1].Reason != "new valve" || s.Audit[2].SHA256 != sha || s.Audit[1].At.IsZero() {
		t.Fatalf("audit entries %+v", s.Audit)
	}
}

func TestBaselineAcceptFromEVEFile(t *testing.T) {
	path, id := makeStore(t)
	eve := filepath.Join(t.TempDir(), "alerts.json")
	line, _ := json.Marshal(map[string]any{"event_type": "alert",
		"alert": map[string]any{"rule": "unexpected_write", "id": id}})
	if err := os.WriteFile(eve, append(line, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	out := run(t, w(baselineAccept), "--db", path, "--alert", eve, "--reason", "ok", "--by", "x")
	if !strings.Contains(out, id) {
		t.Fatalf("accept said %q", out)
	}
	var b bytes.Buffer
	if err := baselineAccept([]string{"--db", path, "--alert", "0000000000000000", "--reason", "r"}, &b); err == nil {
		t.Fatal("accepting an unknown id succeeded")
	}
}

// check says ok with the counts of a whole store; recover copies a whole
// store without loss, record for record.
func TestBaselineCheckRecoverWhole(t *testing.T) {
	path, _ := makeStore(t)
	out := run(t, w(baselineCheck), "--db", path)
	if !strings.HasPrefix(out, "ok "+path+": schema 2, ") ||
		!strings.Contains(out, "devices 2, channels 1, alerted deviations 1, accepted deviations 0, audit entries 0") {
		t.Fatalf("check said %q", out)
	}
	dst := filepath.Join(t.TempDir(), "copy.db")
	out = run(t, w(baselineRecover), "--db", path, "-o", dst)
	if !strings.Contains(out, "rescued: devices 2, channels 1, alerted deviations 1") || !strings.HasSuffix(out, "lost: nothing\n") {
		t.Fatalf("recover said %q", out)
	}
	if d := run(t, w(baselineDiff), path, dst); d != "no differences\n" {
		t.Fatalf("diff of the store and its recovered copy: %q", d)
	}
	var b bytes.Buffer
	if err := baselineRecover([]string{"--db", path, "-o", dst}, &b); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("recover onto an existing file: %v", err)
	}
}

// TestDamagedStoreCommands runs the real binary on damaged stores, so that
// a fault (SIGBUS) or a panic in bbolt would show as what it was before
// (exit status 2 and a goroutine dump): every command that opens the store
// must exit 1 with one line that names the file and says it is damaged;
// check must say so too; recover must write a store that checks ok.
func TestDamagedStoreCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildSluice(t)
	path, _ := makeStore(t)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile("../../baselines/store/testdata/enospc-12k.db")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string][]byte{"full-disk.db": full, "first-8k.db": good[:8<<10], "len-1.db": good[:len(good)-1]}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		commands := [][]string{
			{"baseline", "show", "--db", p},
			{"baseline", "export", "--db", p},
			{"baseline", "approve", "--db", p, "--by", "x"},
			{"baseline", "check", "--db", p},
			{"report", "--db", p, "-o", filepath.Join(dir, "r.html")},
			{"replay", "--db", p, "--mode", "monitor", "-o", os.DevNull, "../../testdata/sim_normal.pcap"},
		}
		if os.Geteuid() == 0 {
			commands = append(commands, []string{"monitor", "--iface", "lo", "--db", p, "-o", os.DevNull})
		}
		for _, args := range commands {
			cmd := exec.Command(bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			msg := strings.TrimSuffix(stderr.String(), "\n")
			if code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, p+": damaged store: ") {
				t.Errorf("%s %s: exit %d (%v), want 1 and one line saying the store is damaged:\n%s", name, strings.Join(args[:2], " "), code, err, stderr.String())
			}
		}
		dst := filepath.Join(dir, name+".recovered")
		if out, err := exec.Command(bin, "baseline", "recover", "--db", p, "-o", dst).CombinedOutput(); err != nil || !strings.Contains(string(out), "recovered "+p) {
			t.Errorf("%s: recover: %v\n%s", name, err, out)
		}
		if out, err := exec.Command(bin, "baseline", "check", "--db", dst).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "ok ") {
			t.Errorf("%s: check of the recovered store: %v\n%s", name, err, out)
		}
	}
}

// TestBaselineDiffHostileText: an OPC UA node id is the client's to
// choose; `baseline diff` prints the items that differ, and a terminal
// escape in one (ESC [2J clears the screen) must not reach the terminal
// raw, as `baseline show` already quotes it.
func TestBaselineDiffHostileText(t *testing.T) {
	dir := t.TempDir()
	empty, hostile := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	for _, p := range []string{empty, hostile} {
		db, err := store.Open(p, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if p == hostile {
			e := baselines.New(baselines.Config{Mode: baselines.Learn})
			e.Observe(&baselines.Observation{Time: bt0, Protocol: baselines.OPCUA, Responded: true,
				Endpoints: baselines.Endpoints{ClientIP: bhmi, ServerIP: bplc, ClientPort: 50000, ServerPort: 4840},
				Detail:    &baselines.OPCUAObs{Service: "Read", Read: []string{"ns=2;s=\x1b[2J\x07evil\nline"}}})
			if _, err := db.Flush(e); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	d := run(t, w(baselineDiff), empty, hostile)
	if strings.ContainsAny(d, "\x1b\x07") || strings.Contains(d, "evil\nline") {
		t.Fatalf("diff printed raw control characters:\n%q", d)
	}
	if !strings.Contains(d, `ns=2;s=\x1b[2J\aevil\nline`) {
		t.Errorf("diff does not show the node id quoted:\n%s", d)
	}
}
