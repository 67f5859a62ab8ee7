package agent

import (
	"context"
	"io"
	"log"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/rules"
	"github.com/sluice-ics/sluice/simulator"
)

// policyViolation is one policy_violation of an alert event (its own
// rule, or one of also).
type policyViolation struct {
	Time         time.Time
	Src, Dest    string
	Policy, Text string
}

func policyViolations(t *testing.T, out []byte) []policyViolation {
	t.Helper()
	var vs []policyViolation
	for _, e := range detEvents(t, out) {
		if e.Alert == nil || e.Alert.Update {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		add := func(rule, policy, text string) {
			if rule != "policy_violation" {
				return
			}
			if policy == "" || !strings.Contains(text, `"`+policy+`"`) {
				t.Errorf("policy_violation without its rule's name: policy %q, signature %q", policy, text)
			}
			vs = append(vs, policyViolation{ts, e.SrcIP, e.DestIP, policy, text})
		}
		add(e.Alert.Rule, e.Alert.Policy, e.Alert.Signature)
		for _, o := range e.Alert.Also {
			add(o.Rule, o.Policy, o.Signature)
		}
	}
	return vs
}

// policyReplay replays a capture held in memory with the policy, in
// learn mode on an empty baseline: only signature rules can fire, and
// policy_violation is one.
func policyReplay(t *testing.T, pcap []byte, p *baselines.Policy, events Events) []byte {
	t.Helper()
	return replayMem(t, pcap, events, func(cfg *Config) { cfg.Mode, cfg.Policy = ModeLearn, p })
}

// The simulator's example rules (simulator/rules.yaml) on its scenarios:
// every policy_violation falls inside an attack's window, between the
// labelled hosts; the attacks that break a rule of the file raise one; the
// normal day raises none. Learn mode on an empty baseline: the engineer's
// rules hold while Sluice learns.
func TestPolicyOnScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates every scenario")
	}
	logOut := log.Writer()
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(logOut) })
	pol, err := rules.Load("../simulator/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The scenarios whose attack breaks the example's rules, and the
	// file's rules each one breaks.
	want := map[string][]string{
		"rogue_master":             {"plc-masters"},
		"unexpected_write":         {"plc-writable", "setpoint-limits"}, // the limit it writes is below 120 m too
		"out_of_range_setpoint":    {"setpoint-limits"},
		"diagnostics":              {"plc-functions", "plc-masters"},
		"recon":                    {"plc-functions", "plc-masters"},
		"malformed":                {"plc-masters"},
		"opcua_anonymous_write":    {"opcua-clients"},
		"opcua_new_client":         {"opcua-clients"},
		"dnp3_rogue_master":        {"rtu-masters"},
		"dnp3_cold_restart":        {"rtu-functions"},
		"dnp3_disable_unsolicited": {"rtu-functions"},
		"dnp3_file_write":          {"rtu-functions", "rtu-masters"},
	}
	ctx := context.Background()
	var table strings.Builder
	for _, sc := range simulator.Scenarios() {
		d := detAttackDuration
		seed := uint64(detAttackSeed)
		if sc.Name == "normal" {
			d, seed = detQuietDuration, detQuietSeed
		}
		pcap, labels, err := simulator.Capture(ctx, simulator.CaptureConfig{Scenario: sc.Name, Duration: d, Seed: seed})
		if err != nil {
			t.Fatalf("simulating %s: %v", sc.Name, err)
		}
		got := map[string]bool{}
		for _, v := range policyViolations(t, policyReplay(t, pcap, pol, EventsAlerts)) {
			inside := false
			for _, l := range labels.Attacks {
				if !v.Time.Before(l.Start) && !v.Time.After(l.End.Add(detTolerance)) && v.Src == l.SrcIP && v.Dest == l.DestIP {
					inside = true
				}
			}
			if !inside {
				t.Errorf("%s: policy_violation outside every attack: %s %s>%s %s", sc.Name, v.Time.Format(time.RFC3339Nano), v.Src, v.Dest, v.Text)
			}
			got[v.Policy] = true
		}
		names := slices.Sorted(maps.Keys(got))
		table.WriteString(sc.Name + ": " + strings.Join(names, ", ") + "\n")
		if w := want[sc.Name]; !slices.Equal(names, w) && !(len(w) == 0 && len(names) == 0) {
			t.Errorf("%s: policy_violation of %v, want %v", sc.Name, names, w)
		}
	}
	t.Logf("rules broken per scenario (simulator/rules.yaml):\n%s", table.String())
}
