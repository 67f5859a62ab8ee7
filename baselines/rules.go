package baselines

import "fmt"

// Rule is an alert rule. Its name (String) and signature id are stable: labels
// of the simulator's captures, dashboards and accepted deviations refer to
// them. Never renumber; append new rules at the end.
type Rule uint8

const (
	RuleNone Rule = iota
	NewDevice
	NewMaster
	NewChannel
	UnexpectedFunction
	UnexpectedWrite
	WriteValueOutOfRange
	DiagnosticCommand
	DeviceIdentificationRead
	Scan
	MalformedTraffic
	NonProtocolTraffic
	ExceptionBurst
	RequestFlood
	PollStopped
	OPCUANewClient
	OPCUAAnonymousSession
	OPCUASecurityDowngrade
	OPCUAUnexpectedWrite
	OPCUAUnexpectedCall
	numRules
)

// ruleInfo describes one rule; rules is indexed by Rule.
type ruleInfo struct {
	name     string
	severity uint8 // 1 high … 3 low, as Suricata
	category string
	// deviation rules compare with the learned baseline and are silent
	// while the judged device is learning; the others are signatures that
	// fire in every mode (see docs/alerts.md).
	deviation  bool
	techniques []string
}

// Signature ids are 9000000 + Rule: 9000001 new_device … 9000019
// opcua_unexpected_call (docs/alerts.md).
const sidBase = 9000000

var rules = [numRules]ruleInfo{
	RuleNone:                 {name: "none", severity: 3},
	NewDevice:                {"new_device", 2, "Network Asset Discovery", true, []string{"T0846"}},
	NewMaster:                {"new_master", 1, "Unauthorized Command Message", true, []string{"T0848", "T0855"}},
	NewChannel:               {"new_channel", 2, "Unauthorized Command Message", true, []string{"T0886", "T0855"}},
	UnexpectedFunction:       {"unexpected_function", 2, "Unauthorized Command Message", true, []string{"T0855"}},
	UnexpectedWrite:          {"unexpected_write", 1, "Unauthorized Command Message", true, []string{"T0855", "T0836"}},
	WriteValueOutOfRange:     {"write_value_out_of_range", 1, "Modify Parameter", true, []string{"T0836", "T0855"}},
	DiagnosticCommand:        {"diagnostic_command", 1, "Device Restart/Shutdown", false, []string{"T0816", "T0814"}},
	DeviceIdentificationRead: {"device_identification_read", 2, "Remote System Information Discovery", false, []string{"T0888"}},
	Scan:                     {"scan", 2, "Remote System Discovery", false, []string{"T0846", "T0888"}},
	MalformedTraffic:         {"malformed", 2, "Protocol Anomaly", false, []string{"T0814"}},
	NonProtocolTraffic:       {"non_protocol_traffic", 2, "Protocol Anomaly", false, []string{"T0885", "T0869"}},
	ExceptionBurst:           {"exception_burst", 2, "Protocol Anomaly", false, []string{"T0806", "T0846"}},
	RequestFlood:             {"request_flood", 1, "Denial of Service", false, []string{"T0814", "T0806"}},
	PollStopped:              {"poll_stopped", 2, "Loss of View", true, []string{"T0815", "T0814"}},
	OPCUANewClient:           {"opcua_new_client", 1, "Unauthorized Command Message", true, []string{"T0886", "T0848"}},
	OPCUAAnonymousSession:    {"opcua_anonymous_session", 2, "Valid Accounts", true, []string{"T0859", "T0886"}},
	OPCUASecurityDowngrade:   {"opcua_security_downgrade", 1, "Adversary-in-the-Middle", true, []string{"T0830", "T0859"}},
	OPCUAUnexpectedWrite:     {"opcua_unexpected_write", 1, "Unauthorized Command Message", true, []string{"T0855", "T0836"}},
	OPCUAUnexpectedCall:      {"opcua_unexpected_call", 1, "Unauthorized Command Message", true, []string{"T0855"}},
}

func (r Rule) info() *ruleInfo {
	if r >= numRules {
		return &rules[RuleNone]
	}
	return &rules[r]
}

// String returns the stable rule name, e.g. "new_master".
func (r Rule) String() string { return r.info().name }

// SignatureID returns the stable Suricata-style signature id (9000001…).
func (r Rule) SignatureID() uint32 {
	if r == RuleNone || r >= numRules {
		return 0
	}
	return sidBase + uint32(r)
}

// Severity returns 1 (high) … 3 (low).
func (r Rule) Severity() uint8 { return r.info().severity }

// Category returns the Suricata-style classtype.
func (r Rule) Category() string { return r.info().category }

// Techniques returns the MITRE ATT&CK for ICS technique ids. The slice is
// shared: do not modify it.
func (r Rule) Techniques() []string { return r.info().techniques }

// Deviation reports whether the rule compares with the learned baseline
// (and is therefore silent while the judged device learns).
func (r Rule) Deviation() bool { return r.info().deviation }

// Rules returns every rule in signature-id order.
func Rules() []Rule {
	out := make([]Rule, 0, numRules-1)
	for r := Rule(1); r < numRules; r++ {
		out = append(out, r)
	}
	return out
}

// ParseRule returns the rule named s.
func ParseRule(s string) (Rule, bool) {
	for r := Rule(1); r < numRules; r++ {
		if rules[r].name == s {
			return r, true
		}
	}
	return RuleNone, false
}

// MarshalText writes the rule name.
func (r Rule) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses a rule name.
func (r *Rule) UnmarshalText(b []byte) error {
	v, ok := ParseRule(string(b))
	if !ok {
		return fmt.Errorf("baselines: unknown rule %q", b)
	}
	*r = v
	return nil
}
