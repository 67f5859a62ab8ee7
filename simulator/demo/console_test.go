package demo

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
)

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
