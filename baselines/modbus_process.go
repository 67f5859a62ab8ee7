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
// it). A register is a raw 16-bit value unless the engineer's register map
// says otherwise (issue #14 §1, §3): a mapped variable is its engineering
// value (int16, uint16, int32 or float32 over two registers in its word
// order, bool; scaled and offset), keyed by its first register, and a read
// that returns only part of it learns nothing of it.

// mapped is what the register map says of the registers a read returned:
// for each position of the read, whether it starts a mapped variable
// (vars[i], its value vals[i]) or is taken by one (skip[i]: its second
// word, or part of one the read cut). Nil without a policy or when no
// variable of the map covers the read, the common case.
type mapped struct {
	vars []*Variable
	vals []float64
	skip []bool
}

// mapRead returns what the register map says of the n values m read from
// unit on server, nil when it says nothing.
func (e *Engine) mapRead(server netip.Addr, unit uint8, m *ModbusObs, n int) *mapped {
	p := e.policy
	if p == nil || n == 0 || bitTable(m.ReadTable) {
		return nil
	}
	var mp *mapped
	var words []uint16
	for i := range p.Variables {
		v := &p.Variables[i]
		if !v.Covers(server, unit, m.ReadTable, m.Read.Start, uint16(n)) {
			continue
		}
		if mp == nil {
			mp = &mapped{vars: make([]*Variable, n), vals: make([]float64, n), skip: make([]bool, n)}
			words = make([]uint16, n)
			for j := range words {
				words[j] = m.ReadValues.At(j)
			}
		}
		at := int(v.Addr) - int(m.Read.Start)
		x, whole := v.value(m.Read.Start, words)
		for j := max(at, 0); j < min(at+v.Type.Words(), n); j++ {
			mp.skip[j] = true
		}
		if whole {
			mp.skip[at], mp.vars[at], mp.vals[at] = false, v, x
		}
	}
	return mp
}

// value returns the process value at position i of the read: the mapped
// variable's, or the raw register; skip when the position belongs to a
// variable that starts elsewhere.
func (mp *mapped) value(m *ModbusObs, i int) (v float64, vr *Variable, skip bool) {
	if mp == nil {
		return float64(m.ReadValues.At(i)), nil, false
	}
	if mp.skip[i] {
		return 0, nil, true
	}
	if vr = mp.vars[i]; vr != nil {
		return mp.vals[i], vr, false
	}
	return float64(m.ReadValues.At(i)), nil, false
}

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
	mp := e.mapRead(o.ServerIP, m.Unit, m, n)
	for i := range n {
		v, vr, skip := mp.value(m, i)
		if skip {
			continue
		}
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
				l.Bit = l.Bit || vr != nil && vr.Type == Bool
			}
			if i < len(memo) {
				memo[i] = l
			}
		}
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
	mp := e.mapRead(o.ServerIP, m.Unit, m, n)
	for i := range n {
		v, vr, skip := mp.value(m, i)
		if skip {
			continue
		}
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
		vd, rate, still := stepJudge(&e.cfg, l, v, t, res, raised)
		if vd.rule == RuleNone {
			continue
		}
		key, name := rt.key, modbusVariable(k)
		if vr != nil {
			name = vr.Name // the register map's name, in its engineering unit
		}
		raised = e.raiseProcess(o, key, vd, Item{Table: k.Table, Addr: k.Addr}, l, v, rate, still, name,
			fmt.Sprintf("Modbus master %s", key.Client), fmt.Sprintf("%s of PLC %s unit %d", name, key.Server, key.Unit))
	}
}

// modbusVariable names a variable: "holding register 3".
func modbusVariable(k RegKey) string { return tableNoun(k.Table) + " " + strconv.Itoa(int(k.Addr)) }
