package baselines

import (
	"fmt"
	"math"
)

// The OPC UA model's process variables (process.go): the value of every
// node a Read returned and every data change a Publish notified
// (OPCUAObs.Values), keyed by node id within the channel (the client, the
// server and its endpoint port). A Boolean is a state, as a coil.

// processVar returns the variable of node, made when missing unless the
// model holds limit variables already (nil then).
func (m *OPCUAModel) processVar(node string, bit bool, limit int) *ProcessVar {
	if node == "" {
		return nil
	}
	return processVarIn(&m.Process, node, bit, limit)
}

// learnOPCUAProcess folds the values u reports into the channel's
// variables and returns how many variables are new. Beyond
// Config.MaxProcessVars (or its server's MaxProcessVarsPerDevice) a new
// variable is counted (ProcessDropped), not learned.
func learnOPCUAProcess(e *Engine, m *OPCUAModel, o *Observation, u *OPCUAObs) (grew int) {
	t, res := o.Time.UnixNano(), e.resumed.UnixNano()
	for _, nv := range u.Values {
		if !finite(nv.Value) {
			continue // a Double can be NaN or infinite: no range holds it
		}
		l := m.Process[nv.Node]
		if l == nil {
			if len(m.Process) >= e.cfg.MaxProcessVars || !e.roomForVar(o.ServerIP) {
				m.ProcessDropped++
				continue
			}
			if l = m.processVar(nv.Node, nv.Bool, e.cfg.MaxProcessVars); l == nil {
				m.ProcessDropped++
				continue
			}
			grew++
		}
		rate, still, changed := l.step(nv.Value, t, res)
		l.learn(nv.Value, rate, still, changed)
	}
	return grew
}

// judgeOPCUAProcess compares the values u reports with the channel's
// variables and raises at most one process alert per message, as the
// Modbus model does (judgeProcess); every value moves its variable's
// runtime state on.
func judgeOPCUAProcess(e *Engine, m *OPCUAModel, rt *chanRuntime, o *Observation, u *OPCUAObs) {
	if len(u.Values) == 0 || len(m.Process) == 0 {
		return
	}
	t, res := o.Time.UnixNano(), e.resumed.UnixNano()
	raised := false
	for _, nv := range u.Values {
		l := m.Process[nv.Node]
		if l == nil || !finite(nv.Value) {
			continue
		}
		v := nv.Value
		vd, rate, still := stepJudge(&e.cfg, l, v, t, res, raised)
		if vd.rule == RuleNone {
			continue
		}
		key, name := rt.key, "node "+nv.Node
		raised = e.raiseProcess(o, key, vd, Item{Node: nv.Node}, l, v, rate, still, name,
			fmt.Sprintf("OPC UA client %s", key.Client), fmt.Sprintf("%s of server %s port %d", name, key.Server, key.Port))
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
