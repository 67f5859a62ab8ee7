package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
)

// TestDemoInProcess runs the demo's in-process path end to end (simulator
// captures in simulated time → agent → alerts → report) on two attacks and
// checks what it prints and writes.
func TestDemoInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo: skipped with -short")
	}
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	o := demoOptions{learnFor: 30 * time.Second, eve: filepath.Join(dir, "eve.json"), reportPath: filepath.Join(dir, "r.html"),
		seed: 1, scenarios: []string{"rogue_master", "recon"}, inProcess: true, stdout: &out, stderr: &errOut}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := demo(ctx, o); err != nil {
		t.Fatalf("demo: %v\n%s%s", err, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"▶ rogue_master", "▶ recon", "new_master", "2 of 2 attacks caught", "RULE", "ATTACK"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// Every alert line printed is an alert event in the EVE file.
	f, err := os.Open(o.eve)
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
	html, err := os.ReadFile(o.reportPath)
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
var alertLine = regexp.MustCompile(`(?m)^  \d\d:\d\d:\d\d\.\d{3} (HIGH|MED |LOW |OK  ) `)

func TestAlertTap(t *testing.T) {
	var out bytes.Buffer
	tap := newAlertTap(&out)
	ts := time.Date(2026, 11, 21, 22, 33, 0, 123456000, time.UTC)
	al := &baselines.Alert{Deviation: baselines.Deviation{Rule: baselines.NewMaster}, Severity: 1,
		Signature: "PLC says \u001b[2Jhi", Count: 3}
	for _, r := range []agent.Record{
		{Type: "alert", Time: ts, Alert: al, Flow: &agent.Flow{Protocol: "modbus", ID: 9, HasID: true,
			Src: netip.MustParseAddrPort("10.10.9.66:51234"), Dest: netip.MustParseAddrPort("10.10.2.1:502")}},
		{Type: "modbus", Time: ts.Add(time.Second)}, // not an alert: ignored
	} {
		if err := tap.Write(&r); err != nil {
			t.Fatalf("Write = %v", err)
		}
	}
	if !tap.Accepts("alert") || tap.Accepts("modbus") || tap.Critical() {
		t.Error("the console takes more than alerts, or could stop the demo")
	}
	got := tap.all()
	if len(got) != 1 || got[0].rule != "new_master" || got[0].severity != 1 || got[0].src != "10.10.9.66:51234" ||
		got[0].dest != "10.10.2.1:502" || !got[0].time.Equal(time.Date(2026, 11, 21, 22, 33, 0, 123456000, time.UTC)) {
		t.Fatalf("alerts = %+v", got)
	}
	line := out.String()
	if strings.Contains(line, "\x1b") {
		t.Errorf("printed line keeps a terminal escape: %q", line)
	}
	for _, want := range []string{"HIGH", "new_master", "10.10.9.66:51234 → 10.10.2.1:502", "(×3)"} {
		if !strings.Contains(line, want) {
			t.Errorf("printed line %q lacks %q", line, want)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("printed %d lines, want 1", strings.Count(line, "\n"))
	}
}
