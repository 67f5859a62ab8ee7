package baselines

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The labels of the simulator, accepted deviations and docs/alerts.md use
// these exact names and ids: the first rules keep them forever. Rules added
// later take new numbers; every rule, old or new, has a well-formed row.
func TestRuleNamesAndIDsAreStable(t *testing.T) {
	want := []string{"new_device", "new_master", "new_channel", "unexpected_function", "unexpected_write",
		"write_value_out_of_range", "diagnostic_command", "device_identification_read", "scan", "malformed",
		"non_protocol_traffic", "exception_burst", "request_flood", "poll_stopped", "opcua_new_client",
		"opcua_anonymous_session", "opcua_security_downgrade", "opcua_unexpected_write", "opcua_unexpected_call",
		"cleartext_credentials", "protocol_fuzzing", "dnp3_new_master", "dnp3_unexpected_function",
		"dnp3_unexpected_control", "dnp3_control_value_out_of_range", "dnp3_restart", "dnp3_stop_application",
		"dnp3_disable_unsolicited", "dnp3_file_operation", "dnp3_time_change", "dnp3_integrity_scan",
		"dnp3_auth_failure", "device_identity_changed", "program_transfer", "certificate_changed", "policy_violation",
		"process_value_out_of_range", "process_rate_of_change", "process_value_frozen", "process_state_unexpected",
		"plc_mode_change", "new_conversation", "new_service", "it_protocol_to_controller", "port_scan"}
	for i, name := range want {
		if r := Rule(i + 1); r.String() != name || r.SignatureID() != uint32(9000001+i) {
			t.Errorf("rule %d = %s/%d, want %s/%d", i+1, r, r.SignatureID(), name, 9000001+i)
		}
	}
	rs := Rules()
	if len(rs) < len(want) {
		t.Fatalf("%d rules, want at least %d", len(rs), len(want))
	}
	for _, r := range rs {
		if r.SignatureID() != sidBase+uint32(r) {
			t.Errorf("rule %s: signature id %d, want %d", r, r.SignatureID(), sidBase+uint32(r))
		}
		if p, ok := ParseRule(r.String()); !ok || p != r {
			t.Errorf("ParseRule(%q) = %v, %v", r, p, ok)
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
