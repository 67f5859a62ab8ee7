package agent

import "github.com/sluice-ics/sluice/baselines"

// BaselineSnapshot returns a deep copy of what the agent's baselines know:
// inventory, per-channel model, alert log and pending audit entries. It is
// safe to call from any goroutine while Run is running (the engine has its
// own lock), which is what `sluice demo` (the report at the end), the
// metrics endpoint (baseline items, convergence) and tests use. It costs a
// copy of the whole baseline: call it seconds apart, not per packet.
func (a *Agent) BaselineSnapshot() *baselines.Snapshot { return a.engine.Snapshot() }
