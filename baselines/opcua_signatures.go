package baselines

import (
	"fmt"
	"strings"
)

// CleartextCredentials is the OPC UA rule that needs no baseline: a user
// name token whose password crosses the network unencrypted (issue #16 §4).
const CleartextCredentials Rule = 20

func init() {
	addRules([]ruleInfo{
		{CleartextCredentials, "cleartext_credentials", 1, "Valid Accounts", false, false, []string{"T0859"}},
	})
}

// signatures raises the OPC UA rules that need no baseline:
// cleartext_credentials on an ActivateSession whose username token carries
// its password unencrypted (SecurityPolicy None, or a token policy without
// encryption: Sluice decoded it, so anyone on the span port can), whether
// or not the login succeeded, and protocol_fuzzing's indicators (requests
// that do not decode, BadDecodingError replies). The password is never
// kept: the alert names the user and the password's length only.
func (*opcuaModel) signatures(e *Engine, o *Observation, rt *chanRuntime) {
	u := o.Detail.(*OPCUAObs)
	if u.PasswordCleartext {
		key := &rt.key
		if a := e.raise(o.Time, CleartextCredentials, *key, Item{What: "password", Node: u.User}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("OPC UA client %s sends the password of user %q (%d bytes) in clear to server %s port %d (security policy %s)",
				key.Client, u.User, u.PasswordLength, key.Server, key.Port, policyName(u.SecurityPolicy)))
		}
	}
	if u.Undecodable || u.Status == statusBadDecodingError {
		e.fuzzIndicator(o, rt, "undecodable requests or BadDecodingError replies")
	}
}

// statusBadDecodingError is OPC UA's BadDecodingError (0x80070000): the
// server could not decode the request.
const statusBadDecodingError = 0x80070000

// policyName is the short name of a security policy URI ("None"), cut as
// policyStrength cuts it.
func policyName(uri string) string {
	if _, name, ok := strings.Cut(uri, "#"); ok {
		return name
	}
	if uri == "" {
		return "unknown"
	}
	return uri
}
