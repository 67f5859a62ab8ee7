package baselines

import (
	"fmt"
	"strconv"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// The Modbus model's process variables (process.go): every register, coil
// and discrete input a successful read returns, keyed by table and
// address within the channel (the server, the unit, the master reading
// it). A register is a raw 16-bit value.

// readValues returns the values a successful read of a data table
// returned, trimmed to the request's quantity (nil for anything else).
func readValues(o *Observation, m *ModbusObs) []uint16 {
	if !o.Responded || m.Timeout || m.Exception != 0 || !learnable(m.ReadTable) || m.Read.Count == 0 {
		return nil
	}
	return m.ReadValues[:min(len(m.ReadValues), int(m.Read.Count))]
}

// bitTable reports whether t holds bits.
func bitTable(t modbus.Table) bool {
	return t == modbus.TableCoils || t == modbus.TableDiscreteInputs
}

// processVars returns the channel's runtime state of its process variables.
func processVars(rt *chanRuntime) map[RegKey]*procLast {
	st := stateIn[modbusRuntime](&rt.state)
	if st.vars == nil {
		st.vars = map[RegKey]*procLast{}
	}
	return st.vars
}

// learnProcess folds the values m read into the channel's variables and
// returns how many variables are new. Beyond Config.MaxProcessVars a new
// variable is counted (ProcessDropped), not learned.
func learnProcess(e *Engine, mm *ModbusModel, rt *chanRuntime, o *Observation, m *ModbusObs) (n int) {
	vals := readValues(o, m)
	if len(vals) == 0 {
		return 0
	}
	vars := processVars(rt)
	t, res := o.Time.UnixNano(), e.resumed.UnixNano()
	for i, raw := range vals {
		l, isNew := variable(e, mm, vars, RegKey{m.ReadTable, m.Read.Start + uint16(i)}, true)
		if l == nil {
			continue
		}
		if isNew {
			n++
		}
		v := float64(raw)
		rate, still, changed := l.step(v, t, res)
		l.pv.learn(v, rate, still, changed)
	}
	return n
}

// variable returns the runtime state of variable k, made for the model's
// entry; nil when the model has none. When learn, a variable the model
// lacks is added (isNew), unless the channel has MaxProcessVars already:
// then its value is counted (ProcessDropped) and nil returned.
func variable(e *Engine, mm *ModbusModel, vars map[RegKey]*procLast, k RegKey, learn bool) (l *procLast, isNew bool) {
	if l = vars[k]; l != nil {
		return l, false
	}
	pv := mm.Process[k]
	if pv == nil {
		if !learn {
			return nil, false
		}
		if len(mm.Process) >= e.cfg.MaxProcessVars {
			mm.ProcessDropped++
			return nil, false
		}
		if mm.Process == nil {
			mm.Process = map[RegKey]*ProcessVar{}
		}
		pv, isNew = &ProcessVar{Bit: bitTable(k.Table)}, true
		mm.Process[k] = pv
	}
	l = &procLast{pv: pv}
	vars[k] = l
	return l, isNew
}

// judgeProcess compares the values m read with the channel's variables
// and raises at most one process alert per transaction (the first
// variable that breaks a rule); every value still moves its variable's
// runtime state on.
func judgeProcess(e *Engine, mm *ModbusModel, rt *chanRuntime, o *Observation, m *ModbusObs) {
	vals := readValues(o, m)
	if len(vals) == 0 || len(mm.Process) == 0 {
		return
	}
	vars := processVars(rt)
	t, res := o.Time.UnixNano(), e.resumed.UnixNano()
	raised := false
	for i, raw := range vals {
		k := RegKey{m.ReadTable, m.Read.Start + uint16(i)}
		l, _ := variable(e, mm, vars, k, false)
		if l == nil {
			continue
		}
		v := float64(raw)
		rate, still, changed := l.step(v, t, res)
		if raised {
			continue
		}
		vd := judgeValue(&e.cfg, l.pv, l, v, rate, still, changed)
		if vd.rule == RuleNone {
			continue
		}
		raised = true
		key := rt.key
		if a := e.raiseValue(o.Time, vd.rule, key, Item{Table: k.Table, Addr: k.Addr}, vd.value, "", &o.Endpoints, o, nil); a != nil {
			f := &ProcessFacts{Variable: modbusVariable(k), Value: v, Rate: rate, Still: still, Learned: *l.pv}
			a.Process = f
			e.sign(a, processSentence(vd.rule, fmt.Sprintf("Modbus master %s", key.Client),
				fmt.Sprintf("%s of PLC %s unit %d", f.Variable, key.Server, key.Unit), v, f))
		}
	}
}

// modbusVariable names a variable: "holding register 3".
func modbusVariable(k RegKey) string { return tableNoun(k.Table) + " " + strconv.Itoa(int(k.Addr)) }
