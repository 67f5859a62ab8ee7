package agent

import (
	"bytes"
	"context"
	"fmt"
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
		"rogue_master":               {"plc-masters"},
		"unexpected_write":           {"plc-writable", "setpoint-limits"}, // the limit it writes is below 120 m too
		"out_of_range_setpoint":      {"setpoint-limits"},
		"diagnostics":                {"plc-functions", "plc-masters"},
		"recon":                      {"plc-functions", "plc-masters"},
		"malformed":                  {"plc-masters"},
		"opcua_anonymous_write":      {"opcua-clients"},
		"opcua_new_client":           {"opcua-clients", "opcua-services"}, // it browses
		"opcua_method_call":          {"opcua-services"},
		"dnp3_rogue_master":          {"rtu-masters"},
		"dnp3_cold_restart":          {"rtu-functions"},
		"dnp3_disable_unsolicited":   {"rtu-functions"},
		"dnp3_file_write":            {"rtu-functions", "rtu-masters"},
		"dnp3_out_of_range_setpoint": {"setpoint-limits"},
		"spillway_night":             {"setpoint-limits"}, // gate 2 opened fully: 100 % > 60 %
		"turbine_overspeed":          {"setpoint-limits"}, // the turbine driven past its limit
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
			// A value read beyond its limit is the attack's consequence,
			// read by whoever polls the process (the HMI, the historian
			// over OPC UA, the SCADA master over DNP3) for as long as
			// the process stays there: after an attack began, from any
			// reader.
			read := strings.Contains(v.Text, fmt.Sprintf("violated: %s read ", v.Src))
			inside := false
			for _, l := range labels.Attacks {
				if !v.Time.Before(l.Start) && !v.Time.After(l.End.Add(detTolerance)) && v.Src == l.SrcIP && v.Dest == l.DestIP ||
					read && !v.Time.Before(l.Start) {
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

// A write the register map names: the modbus event lists the variables
// the request touches with the written engineering value, the alert names
// the file's rule (alert.policy), and hostile names from the file come out
// as valid JSON, verbatim.
func TestPolicyEvents(t *testing.T) {
	// Control characters are refused by the rules file (names are
	// printable); quotes, brackets and markup are not.
	evil := `Gate"}]}<script>`
	p, err := rules.Parse("r.yaml", []byte(`
variables:
  Dam.Spillway1.Setpoint: {modbus: {unit: 1, holding: 0}, scale: 0.1, unit: "%"}
  '`+evil+`': {modbus: {unit: 1, holding: 1}}
rules:
  gate-limit:
    limits:
      Dam.Spillway1.Setpoint: {max: 60}
`))
	if err != nil {
		t.Fatal(err)
	}
	// FC 16 writing holding 0-1 = 950, 7 from 10.10.9.66 (unit 1):
	//   request  00 01 00 00 00 0b 01 10 00 00 00 02 04 03 b6 00 07
	//   response 00 01 00 00 00 06 01 10 00 00 00 02
	c := newDetConn(t)
	c.seg(true, []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x0b, 0x01, 0x10, 0x00, 0x00, 0x00, 0x02, 0x04, 0x03, 0xb6, 0x00, 0x07})
	c.seg(false, []byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x10, 0x00, 0x00, 0x00, 0x02})
	out := policyReplay(t, c.buf.Bytes(), p, EventsAll)
	var sawEvent, sawAlert bool
	for _, e := range detEvents(t, out) {
		switch {
		case e.EventType == "modbus":
			sawEvent = true
			vs := e.Modbus.Variables
			if len(vs) != 2 || vs[0].Name != "Dam.Spillway1.Setpoint" || vs[0].Table != "holding_registers" || vs[0].Unit != "%" ||
				vs[0].Value == nil || *vs[0].Value != 95 || vs[1].Address != 1 || vs[1].Name != evil {
				t.Errorf("variables %+v", vs)
			}
		case e.Alert != nil:
			sawAlert = true
			if e.Alert.Rule != "policy_violation" || e.Alert.Policy != "gate-limit" ||
				e.Alert.Signature != `Policy "gate-limit" violated: 10.10.9.66 wrote Dam.Spillway1.Setpoint = 95 % on PLC 10.10.2.1 unit 1, above its maximum 60 %` ||
				e.Modbus == nil || len(e.Modbus.Variables) != 2 {
				t.Errorf("alert %+v", e.Alert)
			}
		}
	}
	if !sawEvent || !sawAlert {
		t.Fatalf("no modbus event or no alert:\n%s", out)
	}
	// Without rules, the same capture writes no variables.
	if bytes.Contains(replayMem(t, c.buf.Bytes(), EventsAll, nil), []byte(`"variables"`)) {
		t.Error("variables without --rules")
	}
}
