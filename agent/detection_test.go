package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/simulator"
)

// detectionGrace is how long after a labelled attack's end an alert still
// counts as raised by it: rate rules (write flood, scan) and poll_stopped
// fire when their window closes.
const detectionGrace = 30 * time.Second

// TestDetection is `make detection` (issue 5 §8): learn on the simulator's
// normal scenario (1 h of simulated time, seed 1) into a bbolt baseline,
// then monitor each attack scenario (10 min, seed 2) with a copy of it. Every
// labelled attack must be alerted with one of its expected rules inside its
// window (plus detectionGrace), and no alert may fire outside the windows.
// The table it logs goes into docs/detection.md.
func TestDetection(t *testing.T) {
	if testing.Short() {
		t.Skip("detection run skipped in -short mode")
	}
	ctx := context.Background()
	dir := t.TempDir()
	normal, _, err := simulator.Capture(ctx, simulator.CaptureConfig{Scenario: "normal", Duration: time.Hour, Seed: 1})
	if err != nil {
		t.Fatalf("simulating normal: %v", err)
	}
	learned := filepath.Join(dir, "learned.db")
	learnOut := replayBytes(t, normal, func(c *Config) { c.DBPath, c.Mode, c.Events = learned, ModeLearn, EventsAlerts })
	if n := bytes.Count(learnOut, []byte(`"event_type":"alert"`)); n != 0 {
		t.Logf("learning run raised %d alerts (signature rules fire in learn mode too)", n)
	}
	base, err := os.ReadFile(learned)
	if err != nil {
		t.Fatal(err)
	}

	var rows []string
	var missed, falsePos int
	for _, sc := range simulator.Scenarios() {
		if sc.Name == "normal" {
			continue
		}
		pcap, labels, err := simulator.Capture(ctx, simulator.CaptureConfig{Scenario: sc.Name, Duration: 10 * time.Minute, Seed: 2})
		if err != nil {
			t.Fatalf("simulating %s: %v", sc.Name, err)
		}
		db := filepath.Join(dir, sc.Name+".db")
		if err := os.WriteFile(db, base, 0o600); err != nil {
			t.Fatal(err)
		}
		out := replayBytes(t, pcap, func(c *Config) { c.DBPath, c.Mode, c.Events = db, ModeMonitor, EventsAlerts })
		alerts := parseAlerts(t, out)
		caught := 0
		var fired []string
		for _, l := range labels.Attacks {
			hit := false
			for _, a := range alerts {
				if inWindow(a.ts, l) && slices.Contains(l.ExpectedRules, a.rule) {
					hit = true
					break
				}
			}
			if hit {
				caught++
			} else {
				missed++
				t.Errorf("%s: attack %q (%s..%s) not alerted with any of %v", sc.Name, l.Name,
					l.Start.Format(time.TimeOnly), l.End.Format(time.TimeOnly), l.ExpectedRules)
			}
		}
		outside := 0
		for _, a := range alerts {
			in := false
			for _, l := range labels.Attacks {
				in = in || inWindow(a.ts, l)
			}
			if in {
				fired = append(fired, a.rule)
			} else {
				outside++
				t.Errorf("%s: alert outside any attack window: %s %s %s", sc.Name, a.ts.Format(time.TimeOnly), a.rule, a.signature)
			}
		}
		falsePos += outside
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %s | %d |", sc.Name, len(labels.Attacks), caught, strings.Join(uniqueSorted(fired), ", "), outside))
	}
	t.Logf("\n| scenario | attacks | alerted in window | rules fired in window | alerts outside windows |\n|---|---|---|---|---|\n%s", strings.Join(rows, "\n"))
	t.Logf("missed attacks: %d, alerts outside windows: %d", missed, falsePos)
}

func inWindow(ts time.Time, l simulator.Label) bool {
	return !ts.Before(l.Start) && !ts.After(l.End.Add(detectionGrace))
}

type alertSeen struct {
	ts        time.Time
	rule      string
	signature string
}

func parseAlerts(t *testing.T, out []byte) []alertSeen {
	t.Helper()
	var as []alertSeen
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var e struct {
			Timestamp string `json:"timestamp"`
			EventType string `json:"event_type"`
			Alert     struct {
				Rule      string `json:"rule"`
				Signature string `json:"signature"`
			} `json:"alert"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("bad event %q: %v", line, err)
		}
		if e.EventType != EventAlert {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, alertSeen{ts, e.Alert.Rule, e.Alert.Signature})
	}
	return as
}

func uniqueSorted(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}

// replayBytes runs a new agent over a capture held in memory.
func replayBytes(t testing.TB, pcap []byte, mutate func(*Config)) []byte {
	t.Helper()
	var out bytes.Buffer
	cfg := DefaultConfig(&out)
	if mutate != nil {
		mutate(&cfg)
	}
	f, err := capture.NewReader(bytes.NewReader(pcap), "simulated", int64(len(pcap)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, f); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return out.Bytes()
}
