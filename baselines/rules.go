package baselines

import "fmt"

// Rule is an alert rule. Its number, name (String) and signature id are
// stable: labels of the simulator's captures, dashboards and accepted
// deviations refer to them, and the number is hashed into deviation ids.
// Each rule is declared with an explicit number, here (the rules every
// protocol may raise) or in its protocol's model file (modbus.go,
// opcua.go). Never renumber; a new rule takes the next free number.
type Rule uint8

// The rules the engine raises for every protocol, and those that more than
// one protocol model raises.
const (
	RuleNone             Rule = 0
	NewDevice            Rule = 1
	UnexpectedFunction   Rule = 4
	WriteValueOutOfRange Rule = 6
	MalformedTraffic     Rule = 10
	NonProtocolTraffic   Rule = 11
	RequestFlood         Rule = 13
	PollStopped          Rule = 14
)

// ruleInfo describes one rule.
type ruleInfo struct {
	rule     Rule
	name     string
	severity uint8 // 1 high … 3 low, as Suricata
	category string
	// deviation rules compare with the learned baseline and are silent
	// while the judged device is learning; the others are signatures that
	// fire in every mode (see docs/alerts.md).
	deviation bool
	// folds: accepting a deviation of the rule learns its item (Accept
	// creates the channel and the channel's model folds the item in).
	folds      bool
	techniques []string
}

// sharedRules are the rules of the table above.
var sharedRules = []ruleInfo{
	{NewDevice, "new_device", 2, "Network Asset Discovery", true, false, []string{"T0846"}},
	{UnexpectedFunction, "unexpected_function", 2, "Unauthorized Command Message", true, true, []string{"T0855"}},
	{WriteValueOutOfRange, "write_value_out_of_range", 1, "Modify Parameter", true, true, []string{"T0836", "T0855"}},
	{MalformedTraffic, "malformed", 2, "Protocol Anomaly", false, false, []string{"T0814"}},
	{NonProtocolTraffic, "non_protocol_traffic", 2, "Protocol Anomaly", false, false, []string{"T0885", "T0869"}},
	{RequestFlood, "request_flood", 1, "Denial of Service", false, false, []string{"T0814", "T0806"}},
	{PollStopped, "poll_stopped", 2, "Loss of View", true, false, []string{"T0815", "T0814"}},
}

// Signature ids are 9000000 + Rule: 9000001 new_device … 9000019
// opcua_unexpected_call (docs/alerts.md).
const sidBase = 9000000

// rules is indexed by Rule: the shared rules, then every registered
// model's (register adds them).
var rules = func() (t [256]ruleInfo) {
	t[RuleNone] = ruleInfo{name: "none", severity: 3}
	return t
}()

func init() { addRules(sharedRules) }

// addRules adds rules to the table. A number declared twice is a
// programming error caught at start-up.
func addRules(rs []ruleInfo) {
	for _, r := range rs {
		if r.rule == RuleNone || rules[r.rule].rule != RuleNone {
			panic(fmt.Sprintf("baselines: rule %d (%s) declared twice", r.rule, r.name))
		}
		rules[r.rule] = r
	}
}

// known reports whether r is a declared rule.
func (r Rule) known() bool { return r != RuleNone && rules[r].rule == r }

func (r Rule) info() *ruleInfo {
	if !r.known() {
		return &rules[RuleNone]
	}
	return &rules[r]
}

// String returns the stable rule name, e.g. "new_master".
func (r Rule) String() string { return r.info().name }

// SignatureID returns the stable Suricata-style signature id (9000001…).
func (r Rule) SignatureID() uint32 {
	if !r.known() {
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

// PairLevel reports whether the rule's deviations are about a client and
// a server as a whole, not one channel: their ChannelKey's unit is no
// unit (a scan sweeps units; a fuzzer too; a new device is the device
// itself).
func (r Rule) PairLevel() bool {
	return r == Scan || r == ProtocolFuzzing || r == NewDevice || r == DeviceIdentityChanged
}

// Deviation reports whether the rule compares with the learned baseline
// (and is therefore silent while the judged device learns).
func (r Rule) Deviation() bool { return r.info().deviation }

// Rules returns every rule in signature-id order.
func Rules() []Rule {
	var out []Rule
	for r := range rules {
		if Rule(r).known() {
			out = append(out, Rule(r))
		}
	}
	return out
}

// ParseRule returns the rule named s.
func ParseRule(s string) (Rule, bool) {
	for r := range rules {
		if Rule(r).known() && rules[r].name == s {
			return Rule(r), true
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
