package baselines

import (
	"slices"
	"testing"
	"time"
)

// TestGroupIncidents: stored deviations group as the agent groups live
// alerts: the same client and server within the window are one incident,
// a later one another, a poll_stopped joins the open incident on its
// server, and an incident's techniques come in kill-chain order.
func TestGroupIncidents(t *testing.T) {
	rec := func(rule Rule, cli string, at time.Duration, id string) *AlertRecord {
		c := hmi
		if cli == "rogue" {
			c = rogue
		}
		return &AlertRecord{ID: id, Deviation: Deviation{Rule: rule, Channel: ChannelKey{Protocol: Modbus, Client: c, Server: plc, Unit: 1}},
			First: t0.Add(at), Last: t0.Add(at), Count: 2}
	}
	recs := []*AlertRecord{
		rec(UnexpectedWrite, "rogue", 5*time.Minute, "b"),
		rec(NewMaster, "rogue", 4*time.Minute, "a"),
		rec(PollStopped, "hmi", 20*time.Minute, "c"), // the HMI lost its view of the PLC
		rec(Scan, "rogue", 3*time.Hour, "d"),
	}
	incs := GroupIncidents(recs, 30*time.Minute)
	if len(incs) != 2 {
		t.Fatalf("%d incidents, want 2: %+v", len(incs), incs)
	}
	a, b := incs[0], incs[1]
	if !slices.Equal(a.Deviations, []string{"a", "b", "c"}) || a.Occurrences != 6 || a.Severity != 1 ||
		a.ID != IncidentID(rogue, plc, t0.Add(4*time.Minute)) || !a.Last.Equal(t0.Add(20*time.Minute)) {
		t.Errorf("first incident %+v", a)
	}
	if !slices.Equal(a.Rules, []string{"new_master", "unexpected_write", "poll_stopped"}) {
		t.Errorf("rules %v", a.Rules)
	}
	// T0848 (Initial Access) before T0855/T0836 (Impair Process
	// Control) before T0815 (Impact).
	if !slices.Equal(a.Tactics, []string{"Initial Access", "Inhibit Response Function", "Impair Process Control", "Impact"}) {
		t.Errorf("tactics %v (techniques %v)", a.Tactics, a.Techniques)
	}
	if !slices.Equal(b.Deviations, []string{"d"}) || b.ID != IncidentID(rogue, plc, t0.Add(3*time.Hour)) {
		t.Errorf("second incident %+v", b)
	}
}
