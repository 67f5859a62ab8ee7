package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/simulator"
)

// TestRunInProcess runs the demo's in-process path end to end (simulator
// captures in simulated time → agent → alerts → report) on two attacks and
// checks what it prints and writes.
func TestRunInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo: skipped with -short")
	}
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	o := Options{LearnFor: 30 * time.Second, EVE: filepath.Join(dir, "eve.json"), Report: filepath.Join(dir, "r.html"),
		Seed: 1, Scenarios: []string{"rogue_master", "recon"}, InProcess: true, Stdout: &out, Stderr: &errOut}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := Run(ctx, o); err != nil {
		t.Fatalf("demo: %v\n%s%s", err, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"▶ rogue_master", "▶ recon", "new_master", "2 of 2 attacks caught", "RULE", "ATTACK",
		"▶ incident ", "INCIDENT", "10.10.9.66 → 10.10.2.1: Initial Access → Discovery"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// Every alert line printed is an alert event in the EVE file.
	f, err := os.Open(o.EVE)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	alerts, stats := 0, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			EventType string `json:"event_type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("EVE line is not JSON: %v: %s", err, sc.Bytes())
		}
		switch ev.EventType {
		case "alert":
			alerts++
		case "stats":
			stats++
		}
	}
	printed := len(alertLine.FindAllString(text, -1))
	if alerts == 0 || printed != alerts {
		t.Errorf("EVE has %d alerts, %d alert lines printed", alerts, printed)
	}
	if stats != 1 {
		t.Errorf("EVE has %d stats events, want 1", stats)
	}
	html, err := os.ReadFile(o.Report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "new_master", "Sluice demo: dam simulator baseline", "in-process tap"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// alertLine matches one printed alert: "  15:04:05.000 HIGH rule …".
var alertLine = regexp.MustCompile(`(?m)^  \d\d:\d\d:\d\d\.\d{3} (HIGH|MED |LOW |OK  |MORE) `)

// TestITScenariosInDemo: the IT scenarios play in-process (their traffic
// is synthesized in the simulator's captures) and are left out of the
// defaults until the rules they expect exist.
func TestITScenariosInDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo: skipped with -short")
	}
	for _, name := range itScenarios {
		sc, err := simulator.ScenarioByName(name)
		if err != nil || !sc.CaptureOnly() {
			t.Fatalf("%s: %v, capture only %v", name, err, sc.CaptureOnly())
		}
		registered := true
		for _, r := range sc.ExpectedRules() {
			if _, ok := baselines.ParseRule(r); !ok {
				registered = false
			}
		}
		if slices.Contains(DefaultScenarios(), name) != registered {
			t.Errorf("%s: in the defaults %v, its rules registered %v", name, !registered, registered)
		}
	}
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	o := Options{LearnFor: 30 * time.Second, EVE: filepath.Join(dir, "eve.json"), Report: filepath.Join(dir, "r.html"),
		Seed: 1, Scenarios: []string{"plc_remote_shell"}, InProcess: true, Stdout: &out, Stderr: &errOut}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := Run(ctx, o); err != nil {
		t.Fatalf("demo: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "▶ plc_remote_shell") || !strings.Contains(out.String(), "of 1 attacks caught") {
		t.Errorf("output:\n%s", out.String())
	}
}
