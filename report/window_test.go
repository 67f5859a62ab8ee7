package report

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// TestReportSaysHowBuilt (issue #16 §5): a baseline only ever learned
// (--mode learn) has no device "still learning" and says so; the last
// traffic is the last packet of the recorded runs, never before the last
// alert; a scan's channel names no unit; roles do not wrap mid-word.
func TestReportSaysHowBuilt(t *testing.T) {
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	for s := 0; s < 120; s++ {
		o, m := mbObs(t0.Add(time.Duration(s)*time.Second), hmi, 1, 3)
		m.ReadTable, m.Read = modbus.TableHoldingRegisters, baselines.Range{Start: 0, Count: 10}
		e.Observe(&o)
	}
	// A scan across units: a signature rule, raised in learn mode too.
	for u := uint8(1); u <= 6; u++ {
		o, _ := mbObs(t0.Add(130*time.Second+time.Duration(u)*time.Millisecond), rogue, u, 3)
		e.Observe(&o)
	}
	last := t0.Add(10 * time.Minute) // the capture went on, quiet
	e.AddAudit(baselines.AuditEntry{Seq: 1, Action: "capture", By: "test", At: genT,
		Capture: &baselines.CaptureSource{Kind: "file", Name: "plant.pcap", Packets: 500, FirstPacket: t0, LastPacket: last, Mode: "learn", Complete: true}})
	r := build(t, e.Snapshot(), genT)
	if !r.Window.LearnOnly || r.Summary.StillLearning != 0 || !strings.Contains(r.Window.BuiltIn, "learn mode") {
		t.Errorf("window %+v, %d still learning: want a learn-only baseline", r.Window, r.Summary.StillLearning)
	}
	if !r.Window.LastSeen.Equal(last) {
		t.Errorf("last traffic %s, want the run's last packet %s", r.Window.LastSeen, last)
	}
	scan := false
	for _, a := range r.Alerts {
		if a.Rule == "scan" {
			scan = true
			if strings.Contains(a.Channel, "unit") {
				t.Errorf("scan channel %q names a unit", a.Channel)
			}
		}
	}
	if !scan {
		t.Fatal("no scan in the alert log")
	}
	page := string(render(t, r, HTML))
	if !strings.Contains(page, `<span class="nw">modbus_master</span>`) || strings.Contains(page, "still learning until") {
		t.Error("HTML: roles not kept whole, or learning wording")
	}
	md := string(render(t, r, Markdown))
	if !strings.Contains(md, "| Built in | learn mode: every run learned") || !strings.Contains(md, "learned (learn mode), not judged yet") {
		t.Errorf("markdown lacks the learn-mode wording:\n%s", md[:min(len(md), 1500)])
	}
}
