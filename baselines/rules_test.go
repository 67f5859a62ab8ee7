package baselines

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The labels of the simulator and docs/alerts.md use these exact names and
// ids: they must never change.
func TestRuleNamesAndIDsAreStable(t *testing.T) {
	want := []string{"new_device", "new_master", "new_channel", "unexpected_function", "unexpected_write",
		"write_value_out_of_range", "diagnostic_command", "device_identification_read", "scan", "malformed",
		"non_protocol_traffic", "exception_burst", "request_flood", "poll_stopped", "opcua_new_client",
		"opcua_anonymous_session", "opcua_security_downgrade", "opcua_unexpected_write", "opcua_unexpected_call"}
	rs := Rules()
	if len(rs) != len(want) {
		t.Fatalf("%d rules, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		if r.String() != want[i] || r.SignatureID() != uint32(9000001+i) {
			t.Errorf("rule %d = %s/%d, want %s/%d", i, r, r.SignatureID(), want[i], 9000001+i)
		}
		if p, ok := ParseRule(want[i]); !ok || p != r {
			t.Errorf("ParseRule(%q) = %v, %v", want[i], p, ok)
		}
		if r.Severity() < 1 || r.Severity() > 3 || r.Category() == "" || len(r.Techniques()) == 0 {
			t.Errorf("rule %s lacks severity, category or techniques", r)
		}
		for _, tech := range r.Techniques() {
			if !strings.HasPrefix(tech, "T0") || len(tech) != 5 {
				t.Errorf("rule %s: %q is not an ATT&CK for ICS id", r, tech)
			}
		}
	}
}

// docs/alerts.md documents every rule: its heading, its table row with
// severity, category and techniques.
func TestAlertsDocCoversEveryRule(t *testing.T) {
	b, err := os.ReadFile("../docs/alerts.md")
	if err != nil {
		t.Fatalf("docs/alerts.md: %v", err)
	}
	doc := string(b)
	for _, r := range Rules() {
		head := fmt.Sprintf("### %s (%d)", r, r.SignatureID())
		row := fmt.Sprintf("| %d | %s | %d | %s | %s |", r.SignatureID(), r, r.Severity(), r.Category(),
			strings.Join(r.Techniques(), ", "))
		if !strings.Contains(doc, head) {
			t.Errorf("docs/alerts.md lacks heading %q", head)
		}
		if !strings.Contains(doc, row) {
			t.Errorf("docs/alerts.md lacks table row %q", row)
		}
	}
}
