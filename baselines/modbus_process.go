package baselines

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// The Modbus model's process variables (process.go): every register, coil
// and discrete input a successful read returns, keyed by table and
// address within the channel (the server, the unit, the master reading
// it). A register is a raw 16-bit value.

// readValues returns how many values a successful read of a data table
// returned, up to the request's quantity (0 for anything else).
func readValues(o *Observation, m *ModbusObs) int {
	if !o.Responded || m.Timeout || m.Exception != 0 || !learnable(m.ReadTable) {
		return 0
	}
	return min(m.ReadValues.Len(), int(m.Read.Count))
}

// bitTable reports whether t holds bits.
func bitTable(t modbus.Table) bool {
	return t == modbus.TableCoils || t == modbus.TableDiscreteInputs
}

// learnProcess folds the values m read into the channel's variables and
// returns how many variables are new. Beyond Config.MaxProcessVars a new
// variable is counted (ProcessDropped), not learned.
func learnProcess(e *Engine, mm *ModbusModel, o *Observation, m *ModbusObs, sh *shape) (grew int) {
	n := readValues(o, m)
	if n == 0 {
		return 0
	}
	memo := sh.procVars(n)
	t, res := o.Time.UnixNano(), e.resumed.UnixNano()
	for i := range n {
		var l *ProcessVar
		if i < len(memo) {
			l = memo[i]
		}
		if l == nil {
			var isNew bool
			if l, isNew = variable(e, mm, o.ServerIP, RegKey{m.ReadTable, m.Read.Start + uint16(i)}, true); l == nil {
				continue
			}
			if isNew {
				grew++
			}
			if i < len(memo) {
				memo[i] = l
			}
		}
		v := float64(m.ReadValues.At(i))
		if v == l.last && l.set && l.at >= res && t >= l.at {
			// Unchanged, the common case: what step and learn would do.
			l.at = t
			l.Reads++
			continue
		}
		rate, still, changed := l.step(v, t, res)
		l.learn(v, rate, still, changed)
	}
	return grew
}

// variable returns the model's variable k, nil when it has none. When
// learn, a variable the model lacks is added (isNew), unless the channel
// has MaxProcessVars already or its server MaxProcessVarsPerDevice: then
// its value is counted (ProcessDropped) and nil returned.
func variable(e *Engine, mm *ModbusModel, server netip.Addr, k RegKey, learn bool) (pv *ProcessVar, isNew bool) {
	if pv = mm.Process[k]; pv != nil || !learn {
		return pv, false
	}
	if len(mm.Process) >= e.cfg.MaxProcessVars || !e.roomForVar(server) {
		mm.ProcessDropped++
		return nil, false
	}
	if mm.Process == nil {
		mm.Process = map[RegKey]*ProcessVar{}
	}
	pv = e.newProcessVar()
	pv.Bit = bitTable(k.Table)
	mm.Process[k] = pv
	return pv, true
}

// judgeProcess compares the values m read with the channel's variables
// and raises at most one process alert per transaction (the first
// variable that breaks a rule and is not a repeat held back); every value
// still moves its variable's runtime state on.
func judgeProcess(e *Engine, mm *ModbusModel, rt *chanRuntime, o *Observation, m *ModbusObs, sh *shape) {
	n := readValues(o, m)
	if n == 0 || len(mm.Process) == 0 {
		return
	}
	memo := sh.procVars(n)
	t, res := o.Time.UnixNano(), e.resumed.UnixNano()
	raised := false
	for i := range n {
		k := RegKey{m.ReadTable, m.Read.Start + uint16(i)}
		var l *ProcessVar
		if i < len(memo) {
			l = memo[i]
		}
		if l == nil {
			// Not memoized while unknown: an accepted deviation may
			// add the variable.
			if l, _ = variable(e, mm, o.ServerIP, k, false); l == nil {
				continue
			}
			if i < len(memo) {
				memo[i] = l
			}
		}
		v := float64(m.ReadValues.At(i))
		vd, rate, still := stepJudge(&e.cfg, l, v, t, res, raised)
		if vd.rule == RuleNone {
			continue
		}
		key, name := rt.key, modbusVariable(k)
		raised = e.raiseProcess(o, key, vd, Item{Table: k.Table, Addr: k.Addr}, l, v, rate, still, name,
			fmt.Sprintf("Modbus master %s", key.Client), fmt.Sprintf("%s of PLC %s unit %d", name, key.Server, key.Unit))
	}
}

// modbusVariable names a variable: "holding register 3".
func modbusVariable(k RegKey) string { return tableNoun(k.Table) + " " + strconv.Itoa(int(k.Addr)) }
