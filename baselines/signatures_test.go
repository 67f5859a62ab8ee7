package baselines

import (
	"strings"
	"testing"
	"time"
)

// TestCleartextCredentials: an ActivateSession whose user-name token
// carries its password unencrypted raises cleartext_credentials in every
// mode, naming the user and the length, never the password; an encrypted
// token raises nothing (issue #16 §4).
func TestCleartextCredentials(t *testing.T) {
	for _, mode := range []Mode{Learn, Auto, Monitor} {
		e := New(Config{Mode: mode})
		if mode == Monitor {
			e = monitor(t)
		}
		at := t0.Add(3 * time.Hour)
		o := ua(at, scada, "ActivateSession")
		u := uaOf(&o)
		u.SecurityPolicy, u.SecurityMode = noPolicy, SecurityNone
		var got []Alert
		for _, a := range e.Observe(&o) {
			if a.Rule == CleartextCredentials {
				got = append(got, a)
			}
		}
		if len(got) != 0 {
			t.Fatalf("%s: an encrypted token raised %+v", mode, got)
		}
		u.PasswordCleartext, u.PasswordLength = true, 11
		for _, a := range e.Observe(&o) {
			if a.Rule == CleartextCredentials {
				got = append(got, a)
			}
		}
		if len(got) != 1 || got[0].Severity != 1 || got[0].SignatureID != 9000020 ||
			!strings.Contains(got[0].Signature, `user "operator" (11 bytes) in clear`) || !strings.Contains(got[0].Signature, "security policy None") {
			t.Fatalf("%s: %+v", mode, got)
		}
	}
}

// TestProtocolFuzzing: FuzzBurst (10) undecodable OPC UA requests or
// BadDecodingError replies, or Modbus illegal-function replies, within
// Window raise protocol_fuzzing once; nine do not.
func TestProtocolFuzzing(t *testing.T) {
	count := func(obs func(i int) Observation, n int) int {
		e := monitor(t)
		at := t0.Add(3 * time.Hour)
		k := 0
		for i := range n {
			o := obs(i)
			o.Time = at.Add(time.Duration(i) * 500 * time.Millisecond)
			for _, a := range e.Observe(&o) {
				if a.Rule == ProtocolFuzzing {
					k++
				}
			}
		}
		return k
	}
	badDecoding := func(i int) Observation {
		o := ua(t0, scada, "Read")
		uaOf(&o).Status = statusBadDecodingError
		return o
	}
	undecodable := func(i int) Observation {
		o := ua(t0, scada, "")
		uaOf(&o).Undecodable = true
		return o
	}
	illegalFunction := func(i int) Observation {
		o := mb(t0, hmi, 1, uint8(100+i))
		mbOf(&o).Exception = 1
		return o
	}
	for name, f := range map[string]func(int) Observation{"BadDecodingError": badDecoding, "undecodable": undecodable, "illegal function": illegalFunction} {
		if n := count(f, 9); n != 0 {
			t.Errorf("%s: 9 indicators raised %d", name, n)
		}
		if n := count(f, 12); n != 1 {
			t.Errorf("%s: 12 indicators raised %d, want 1", name, n)
		}
	}
}
