package baselines

import (
	"fmt"
	"time"
)

// ProtocolFuzzing is the rule every protocol may raise when one client's
// requests fail to decode in a burst (issue #16 §4): a fuzzer at work, or a
// tool probing a stack for the parser bug that stops a PLC.
const ProtocolFuzzing Rule = 21

func init() {
	addRules([]ruleInfo{
		{ProtocolFuzzing, "protocol_fuzzing", 1, "Protocol Anomaly", false, false, []string{"T0814"}},
	})
}

// fuzzIndicator counts one fuzzing indicator of o's channel (its protocol
// model decides what is one: a request that does not decode, a reply that
// says the server could not decode it or does not know the function) and
// raises protocol_fuzzing when FuzzBurst of them fall within Window. what
// names the indicators in the signature.
func (e *Engine) fuzzIndicator(o *Observation, rt *chanRuntime, what string) {
	n := rt.fuzz.add(o.Time, e.cfg.Window)
	if n < uint32(e.cfg.FuzzBurst) {
		return
	}
	key := rt.key
	// A fuzzer sweeps units and link addresses too: one deviation per
	// client and server.
	key.Unit, key.Master, key.Outstation = 0, 0, 0
	if a := e.raise(o.Time, ProtocolFuzzing, key, Item{}, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("Protocol fuzzing: %d %s within %s from %s to %s %s port %d",
			n, what, e.cfg.Window.Round(time.Second), key.Client, key.Protocol, key.Server, o.ServerPort))
	}
}
