package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/fleet"
)

// TestFleetReportEscapes: site, sensor and device names, vendors and alert
// signatures come from the sensors and the network; none of them can add
// markup to the fleet report's HTML or rows to its Markdown, and the JSON
// keeps them as they are.
func TestFleetReportEscapes(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	site := `North<script>alert(1)</script>`
	f := &fleet.Fleet{Sites: []fleet.Site{{
		Name: site,
		Sensors: []fleet.SensorRecord{{Site: site, Sensor: `s1" onmouseover="x`, FirstHeard: at, LastHeard: at.Add(time.Hour),
			LastEvent: at, Messages: map[string]uint64{"alert": 2, "inventory": 1}}},
		Devices: []*baselines.Device{{IP: netip.MustParseAddr("10.0.0.1"), Vendor: hostileVendor, FirstSeen: at, LastSeen: at}},
		Alerts:  2,
		ByRule:  []fleet.RuleCount{{Rule: "new_master", Severity: 1, Count: 2}},
		Recent: []fleet.AlertEntry{{ID: "s1/1/1", Sensor: "s1", Time: at, Rule: "new_master", Severity: 1,
			Signature: "Modbus master | <img src=x onerror=alert(2)>\n| injected | row |", SrcIP: "10.0.0.9", DestIP: "10.0.0.1"}},
	}}}
	r := BuildFleet(f, Options{Generated: at.Add(2 * time.Hour), Database: "fleet.db"})
	if r.Summary.Sites != 1 || r.Summary.Sensors != 1 || r.Summary.Devices != 1 || r.Summary.Alerts != 2 {
		t.Fatalf("summary %+v", r.Summary)
	}
	if r.Sites[0].Sensors[0].Silent != "1h0m0s" {
		t.Errorf("silent for %q, want 1h0m0s", r.Sites[0].Sensors[0].Silent)
	}
	var html bytes.Buffer
	if err := r.Write(&html, HTML); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", `" onmouseover`, "' onload"} {
		if strings.Contains(html.String(), bad) {
			t.Errorf("HTML fleet report contains %q", bad)
		}
	}
	var md bytes.Buffer
	if err := r.Write(&md, Markdown); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", "\n| injected"} {
		if strings.Contains(md.String(), bad) {
			t.Errorf("Markdown fleet report contains %q", bad)
		}
	}
	var js bytes.Buffer
	if err := r.Write(&js, JSON); err != nil {
		t.Fatal(err)
	}
	var back FleetReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Sites[0].Name != site || back.Sites[0].Devices[0].Vendor != hostileVendor {
		t.Errorf("JSON changed the names: %q %q", back.Sites[0].Name, back.Sites[0].Devices[0].Vendor)
	}
}
