package agent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
)

// TestIncidents: alerts between the same hosts within the window are one
// incident; a later one opens another (the first is handed back closed); a
// poll_stopped joins the open incident on its server; a return or an
// update never opens one; ids are stable.
func TestIncidents(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	atk, hmi, plc := netip.MustParseAddr("10.10.9.66"), netip.MustParseAddr("10.10.1.10"), netip.MustParseAddr("10.10.2.1")
	alert := func(at time.Duration, rule baselines.Rule, cli netip.Addr, flow uint64) *baselines.Alert {
		return &baselines.Alert{Time: t0.Add(at), Deviation: baselines.Deviation{Rule: rule,
			Channel: baselines.ChannelKey{Protocol: baselines.Modbus, Client: cli, Server: plc, Unit: 1}},
			ID: rule.String(), Severity: rule.Severity(), Techniques: rule.Techniques(), Count: 1,
			Endpoints: baselines.Endpoints{FlowID: flow, ClientIP: cli, ServerIP: plc}}
	}
	is := newIncidents(30 * time.Minute)
	a, opened, closed := is.add(alert(0, baselines.NewMaster, atk, 1))
	if a == nil || !opened || closed != nil {
		t.Fatalf("first alert: %v %v %v", a, opened, closed)
	}
	b, opened, _ := is.add(alert(time.Minute, baselines.Scan, atk, 1))
	if b != a || opened || !b.grew || b.alerts != 2 {
		t.Fatalf("second alert: new incident or not grown: %+v", b)
	}
	// The HMI's poll stops: no connection raised it, it joins the attack.
	if c, opened, _ := is.add(alert(2*time.Minute, baselines.PollStopped, hmi, 0)); c != a || opened {
		t.Fatalf("poll_stopped opened its own incident")
	}
	ret := alert(3*time.Minute, baselines.PollStopped, hmi, 0)
	ret.Resolved = true
	if c, _, _ := is.add(ret); c != a {
		t.Fatalf("the return is not in its alert's incident")
	}
	// 40 minutes later: the old incident has closed, a new one opens.
	d, opened, closed := is.add(alert(43*time.Minute, baselines.Scan, atk, 2))
	if !opened || closed != a || d == a {
		t.Fatalf("after the window: opened %v, closed %v", opened, closed)
	}
	if d.id != baselines.IncidentID(atk, plc, t0.Add(43*time.Minute)) || d.id == a.id {
		t.Fatalf("ids %s %s", a.id, d.id)
	}
	// An update of a deviation whose incident closed opens nothing.
	up := alert(44*time.Minute, baselines.NewMaster, atk, 0)
	up.Update = true
	if c, _, _ := is.add(up); c != nil {
		t.Fatalf("an update of a closed incident's deviation joined %s", c.id)
	}
	if got := is.expire(t0.Add(80*time.Minute), false); len(got) != 1 || got[0] != d {
		t.Fatalf("expire: %v", got)
	}
	techs, tacs := a.chain()
	if len(tacs) < 2 || tacs[0] != "Initial Access" || techs[0] != "T0848" {
		t.Fatalf("chain %v %v", techs, tacs)
	}
}

// TestEveryTechniqueHasATactic: an incident orders its techniques by
// tactic; a rule's technique missing from baselines' table would sort last
// and name no tactic.
func TestEveryTechniqueHasATactic(t *testing.T) {
	for _, r := range baselines.Rules() {
		for _, tech := range r.Techniques() {
			if baselines.Tactic(tech) == "" {
				t.Errorf("rule %s: technique %s has no tactic (baselines/attack.go)", r, tech)
			}
		}
	}
}
