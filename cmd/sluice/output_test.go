package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenOutputRepairsPartialLine: a monitor appending to a file whose
// last line was cut (a failed write, a crash) terminates that line, so its
// first event is not glued to the fragment; a file that ends with a whole
// line is left as it is.
func TestOpenOutputRepairsPartialLine(t *testing.T) {
	const event = `{"timestamp":"2026-01-01T00:00:01.000000Z","event_type":"stats"}`
	for _, tc := range []struct {
		name, before string
		partial      int64
		want         []string // lines after one more event is written
	}{
		{"whole", event + "\n", 0, []string{event, event}},
		{"cut event", event + "\n" + `{"timestamp":"2026-01-`, 22, []string{event, `{"timestamp":"2026-01-`, event}},
		{"only a fragment", `{"times`, 7, []string{`{"times`, event}},
		{"newline lost", event, int64(len(event)), []string{event, event}},
		{"empty", "", 0, []string{event}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "eve.json")
			if err := os.WriteFile(path, []byte(tc.before), 0o640); err != nil {
				t.Fatal(err)
			}
			w, o, err := openOutput(path, true)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte(event + "\n")); err != nil {
				t.Fatal(err)
			}
			w.Close()
			if wantRepaired := tc.partial > 0; (o.repaired == 1) != wantRepaired || o.partial != tc.partial {
				t.Errorf("repaired %d (partial %d bytes), want repaired %v (%d bytes)", o.repaired, o.partial, wantRepaired, tc.partial)
			}
			b, _ := os.ReadFile(path)
			if got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("lines\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	// A partial line longer than partialLine's read buffer.
	path := filepath.Join(t.TempDir(), "eve.json")
	long := `{"x":"` + strings.Repeat("a", 200<<10)
	os.WriteFile(path, []byte(event+"\n"+long), 0o640)
	w, o, err := openOutput(path, true)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if o.repaired != 1 || o.partial != int64(len(long)) {
		t.Errorf("long fragment: repaired %d, partial %d, want 1 and %d", o.repaired, o.partial, len(long))
	}
}

// TestOpenOutputMode: an existing output file looser than 0640 is
// tightened like a new one (replay, which truncates it, and monitor, which
// appends); what is not a regular file is never touched.
func TestOpenOutputMode(t *testing.T) {
	for _, appendMode := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "eve.json")
		os.WriteFile(path, []byte("{}\n"), 0o600)
		if err := os.Chmod(path, 0o666); err != nil {
			t.Fatal(err)
		}
		w, o, err := openOutput(path, appendMode)
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o640 || o.modeFrom != 0o666 || o.modeTo != 0o640 {
			t.Errorf("append %v: mode %04o (reported %04o → %04o), want 0640", appendMode, fi.Mode().Perm(), o.modeFrom, o.modeTo)
		}
		// A file already tighter stays as it is.
		os.Chmod(path, 0o600)
		w, o, _ = openOutput(path, appendMode)
		w.Close()
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 || o.modeFrom != o.modeTo {
			t.Errorf("append %v: a 0600 file became %04o", appendMode, fi.Mode().Perm())
		}
	}
	before, err := os.Stat("/dev/null")
	if err != nil {
		t.Skip(err)
	}
	w, _, err := openOutput("/dev/null", true)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if after, _ := os.Stat("/dev/null"); after.Mode() != before.Mode() {
		t.Fatalf("/dev/null's mode changed from %v to %v", before.Mode(), after.Mode())
	}
}

// TestReplayFullDiskWholeEvents: a replay whose output's disk fills up fails (exit
// status 1, the error on stderr) and leaves only whole events: the write
// that failed part-way is cut back to the last whole event.
func TestReplayFullDiskWholeEvents(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := smallTmpfs(t, 256<<10, 3*4096)
	out := filepath.Join(dir, "eve.json")
	code, stderr := runCmd(t, runReplay, "-o", out, "../../testdata/sim_normal.pcap")
	if code != 1 || !strings.Contains(stderr, "no space left on device") {
		t.Fatalf("exit status %d, stderr %q; want 1 and the write error", code, stderr)
	}
	if strings.Contains(stderr, "partial event") {
		t.Errorf("stderr %q: the partial event was not cut", stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("the output (%d bytes) does not end with a whole event: ...%q", len(b), b[max(0, len(b)-80):])
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	lines := 0
	for sc.Scan() {
		lines++
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("line %d is not JSON: %q", lines, sc.Bytes())
		}
	}
	t.Logf("%d whole events (%d bytes) before the disk filled", lines, len(b))

	// The same with standard output redirected to the file, as a shell
	// does: the cut works there too.
	os.Remove(out)
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = f
	code, stderr = runCmd(t, runReplay, "../../testdata/sim_normal.pcap")
	os.Stdout = stdout
	f.Close()
	b, _ = os.ReadFile(out)
	if code != 1 || len(b) == 0 || b[len(b)-1] != '\n' {
		t.Errorf("standard output: exit status %d, %d bytes ending ...%q; want 1 and a whole last event\n%s", code, len(b), b[max(0, len(b)-40):], stderr)
	}
}
