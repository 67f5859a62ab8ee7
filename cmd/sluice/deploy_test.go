package main

// The shipped deployment (deploy/sluice.service, deploy/logrotate.conf)
// tested together, the way they run: `sluice monitor` as an unprivileged
// user of systemd's dynamic range with CAP_NET_RAW only and the unit's
// umask, in a log directory that user owns (LogsDirectory=), rotated by
// the real logrotate binary as root with Debian's global settings and the
// shipped snippet.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines/store"
)

// unitSettings reads a systemd unit's Key=Value lines (every value of a
// repeated key, in order).
func unitSettings(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not Key=Value: %q", path, line)
		}
		m[k] = append(m[k], v)
	}
	return m
}

// dynamicUID is a uid and gid of systemd's DynamicUser= range
// (61184-65519) that no account on the test host should hold.
const dynamicUID = 61999

// logrotateGlobals returns the global settings of the host's
// /etc/logrotate.conf (Debian's: weekly, rotate 4, create) without its
// include lines: the snippet in /etc/logrotate.d inherits them, so a test
// of the snippet alone would miss what `create` does to it.
func logrotateGlobals(t *testing.T) string {
	b, err := os.ReadFile("/etc/logrotate.conf")
	if err != nil {
		t.Logf("no /etc/logrotate.conf (%v): using Debian's defaults", err)
		return "weekly\nrotate 4\ncreate\n"
	}
	var out strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "include" {
			continue
		}
		out.WriteString(line + "\n")
	}
	return out.String()
}

// TestDeployLogrotate runs the monitor as the unit does and rotates its
// output twice with logrotate on the shipped snippet (pointed at a
// temporary directory; its postrotate signals the test's process instead
// of asking systemd): the events after each rotation must land in the new
// eve.json, owned by the service's user with mode 0640, the rotated files
// must hold only whole events, and /healthz must stay ok.
func TestDeployLogrotate(t *testing.T) {
	needLive(t, "setpriv", "logrotate", "sh")
	unit := unitSettings(t, "../../deploy/sluice.service")
	for k, want := range map[string]string{"DynamicUser": "yes", "LogsDirectory": "sluice", "AmbientCapabilities": "CAP_NET_RAW", "CapabilityBoundingSet": "CAP_NET_RAW"} {
		if got := unit[k]; len(got) != 1 || got[0] != want {
			t.Fatalf("deploy/sluice.service: %s=%v, this test runs the monitor as %s=%s", k, got, k, want)
		}
	}
	umask := "0022"
	if u := unit["UMask"]; len(u) == 1 {
		umask = u[0]
	}

	// The directories: base and bin traversable by the service's user
	// (the binary is installed root-owned, 0755), log/ created for it as
	// LogsDirectory= does (owned by the dynamic user, mode 0755), conf/
	// root's.
	base, err := os.MkdirTemp("", "sluice-deploy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	logDir, confDir := filepath.Join(base, "log"), filepath.Join(base, "conf")
	for _, d := range []string{logDir, confDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(logDir, dynamicUID, dynamicUID); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "sluice")
	if b, err := os.ReadFile(buildSluice(t)); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}

	port := modbusServer(t)
	metricsAddr := "127.0.0.1:" + strconv.Itoa(liveFreePort(t))
	eve := filepath.Join(logDir, "eve.json")
	mon := liveStart(t, "sh", "-c", `umask "$1"; shift; exec "$@"`, "sh", umask,
		"setpriv", "--reuid", strconv.Itoa(dynamicUID), "--regid", strconv.Itoa(dynamicUID), "--clear-groups",
		"--inh-caps", "-all,+net_raw", "--ambient-caps", "+net_raw", "--bounding-set", "-all,+net_raw", "--no-new-privs",
		bin, "monitor", "--iface", "lo", "--modbus-ports", strconv.Itoa(port), "--opcua-ports", "",
		"-o", eve, "--metrics", metricsAddr)
	var tid uint16
	// modbusIn reports whether the file at path holds a transaction of a
	// transaction id above from.
	modbusIn := func(path string, from uint16) bool {
		b, _ := os.ReadFile(path)
		for _, m := range regexp.MustCompile(`"event_type":"modbus".*?"transaction_id":(\d+)`).FindAllSubmatch(b, -1) {
			if n, _ := strconv.Atoi(string(m[1])); n > int(from) {
				return true
			}
		}
		return false
	}
	if !pollModbus(t, port, &tid, 20*time.Second, func() bool { return modbusIn(eve, 0) }) {
		t.Fatalf("no modbus event reached %s; monitor:\n%s", eve, mon.out.String())
	}
	if fi, err := os.Stat(eve); err != nil {
		t.Fatal(err)
	} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != dynamicUID || fi.Mode().Perm() != 0o640 {
		t.Errorf("%s: owner %d mode %o, want %d and 0640", eve, st.Uid, fi.Mode().Perm(), dynamicUID)
	}

	// The shipped snippet, on the temporary directory, signalling the
	// monitor's process: the rest of it is what is installed.
	shipped, err := os.ReadFile("../../deploy/logrotate.conf")
	if err != nil {
		t.Fatal(err)
	}
	const path, hup = "/var/log/sluice/eve.json", "systemctl kill --signal=HUP sluice.service"
	snippet := string(shipped)
	if !strings.Contains(snippet, path) || !strings.Contains(snippet, hup) {
		t.Fatalf("deploy/logrotate.conf no longer names %q or runs %q: update this test", path, hup)
	}
	snippet = strings.ReplaceAll(snippet, path, eve)
	snippet = strings.ReplaceAll(snippet, hup, fmt.Sprintf("kill -HUP %d", mon.cmd.Process.Pid))
	conf := filepath.Join(confDir, "logrotate.conf")
	if err := os.WriteFile(conf, []byte(logrotateGlobals(t)+snippet), 0o644); err != nil {
		t.Fatal(err)
	}
	metricsURL := "http://" + metricsAddr
	for round := 1; round <= 2; round++ {
		out, err := exec.Command("logrotate", "-f", "-s", filepath.Join(confDir, "state"), conf).CombinedOutput()
		if err != nil {
			t.Fatalf("rotation %d: logrotate: %v\n%s", round, err, out)
		}
		t.Logf("rotation %d: logrotate: %s", round, bytes.TrimSpace(out))
		before := tid
		if !pollModbus(t, port, &tid, 15*time.Second, func() bool { return modbusIn(eve, before) }) {
			old, _ := os.ReadFile(eve + ".1")
			t.Fatalf("rotation %d: the events after it did not reach the new %s (%d bytes in %s.1); monitor:\n%s",
				round, eve, len(old), eve, mon.out.String())
		}
		fi, err := os.Stat(eve)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != dynamicUID || fi.Mode().Perm() != 0o640 {
			t.Errorf("rotation %d: new %s: owner %d mode %o, want %d and 0640", round, eve, st.Uid, fi.Mode().Perm(), dynamicUID)
		}
		old, err := os.ReadFile(eve + ".1")
		if err != nil {
			t.Fatalf("rotation %d: %v", round, err)
		}
		if len(old) == 0 || old[len(old)-1] != '\n' {
			t.Errorf("rotation %d: %s.1 (%d bytes) does not end with a whole event", round, eve, len(old))
		}
		if code, body, err := liveGet(metricsURL + "/healthz"); err != nil || code != 200 {
			t.Errorf("rotation %d: /healthz %d %q %v, want 200", round, code, body, err)
		}
	}
	if _, err := os.Stat(eve + ".2.gz"); err != nil {
		t.Errorf("second rotation: %v (delaycompress compresses the first rotated file then)", err)
	}
	exit, _ := mon.interrupt(t, 2*time.Second)
	if exit != 0 {
		t.Errorf("monitor exit status %d after SIGINT:\n%s", exit, mon.out.String())
	}
	evs := readLiveEvents(t, eve)
	if len(evs) == 0 || evs[len(evs)-1].EventType != "stats" {
		t.Errorf("%s: the stats event is not last after the stop", eve)
	}
	if s := mon.out.String(); strings.TrimSpace(s) != "" {
		t.Errorf("monitor wrote to stderr:\n%s", s)
	}
}

// TestMonitorKill9: `sluice monitor --db` learning from a Modbus master
// polling every 20 ms, killed with SIGKILL three times over one store: the
// store reopens each time, holds the traffic up to less than a second
// before each kill (the store flushes within store.DefaultFlushEvery; it
// lost up to 1.18 s), and every killed run is in the audit trail as an
// incomplete capture of lo (it was written only at the end of a run).
func TestMonitorKill9(t *testing.T) {
	needLive(t)
	bin := buildSluice(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "baseline.db")
	port := modbusServer(t)
	var worst time.Duration
	const rounds = 3
	for round := 1; round <= rounds; round++ {
		mon := liveStart(t, bin, "monitor", "--iface", "lo", "--modbus-ports", strconv.Itoa(port), "--opcua-ports", "",
			"-o", filepath.Join(dir, "eve.json"), "--db", dbPath, "--mode", "learn")
		stop := make(chan struct{})
		polled := make(chan struct{})
		go func() { // one connection, a request every 20 ms
			defer close(polled)
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for tid := uint16(1); ; tid++ {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				c.Write(adu(tid, 1, 0x03, 0x00, 0x64, 0x00, 0x02))
				if _, err := io.ReadFull(c, make([]byte, 13)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		if !liveWaitFor(20*time.Second, func() bool {
			b, _ := os.ReadFile(filepath.Join(dir, "eve.json"))
			return bytes.Count(b, []byte(`"event_type":"modbus"`)) > 0
		}) {
			t.Fatalf("round %d: no event; monitor:\n%s", round, mon.out.String())
		}
		time.Sleep(time.Duration(1000+round*333) * time.Millisecond)
		killedAt := time.Now()
		mon.cmd.Process.Signal(syscall.SIGKILL)
		<-mon.done
		close(stop)
		<-polled

		db, err := store.Open(dbPath, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: the store does not reopen after kill -9: %v", round, err)
		}
		snap, err := db.Load()
		db.Close()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var last time.Time
		for _, d := range snap.Devices {
			if d.LastSeen.After(last) {
				last = d.LastSeen
			}
		}
		lost := killedAt.Sub(last)
		worst = max(worst, lost)
		t.Logf("round %d: the store's last traffic %v before the kill", round, lost.Round(time.Millisecond))
		if lost > store.DefaultFlushEvery {
			t.Errorf("round %d: kill -9 lost %v of learning, want at most %v", round, lost.Round(time.Millisecond), store.DefaultFlushEvery)
		}
		var killed int
		for _, a := range snap.Audit {
			if a.Action == "capture" && a.Capture != nil && a.Capture.Name == "lo" && !a.Capture.Complete {
				killed++
			}
		}
		if killed != round {
			t.Errorf("round %d: %d incomplete capture entries for lo in the audit trail, want %d", round, killed, round)
		}
	}
	t.Logf("worst loss over %d kills: %v", rounds, worst.Round(time.Millisecond))
}
