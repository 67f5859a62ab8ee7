package agent

import (
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/jsonw"
)

// The engineer's rules (issue #14 §3, docs/rules.md): the baselines judge
// them (Config.Policy, Engine.SetPolicy); the agent names the register
// map's variables in the events. Without a policy nothing here runs: the
// transaction's events are what they were, byte for byte.

// SetPolicy replaces the rules of a running agent (nil: none): the
// monitor's SIGHUP. Safe to call from another goroutine; the next
// transaction is judged and named by the new rules.
func (a *Agent) SetPolicy(p *baselines.Policy) {
	a.policy.Store(p)
	a.engine.SetPolicy(p)
}

// appendVariables closes the protocol object b ends with, adding its
// "variables": the register map's variables the transaction o reads or
// writes, with the engineering value of a written one. b is unchanged
// when none is touched.
func appendVariables(b []byte, p *baselines.Policy, o *baselines.Observation) []byte {
	if len(b) == 0 || b[len(b)-1] != '}' {
		return b
	}
	w := varWriter{b: b, mark: len(b)}
	switch d := o.Detail.(type) {
	case *baselines.ModbusObs:
		var buf [16]*baselines.Variable
		for _, v := range p.VariablesOf(buf[:0], o.ServerIP, d.Unit, d.ReadTable, d.Read.Start, d.Read.Count) {
			w.register(v, nil)
		}
		for _, v := range p.VariablesOf(buf[:0], o.ServerIP, d.Unit, d.WriteTable, d.Write.Start, d.Write.Count) {
			w.register(v, d)
		}
	case *baselines.OPCUAObs:
		for _, id := range d.Read {
			if v := p.NodeVariable(o.ServerIP, id); v != nil {
				w.node(v, id, nil)
			}
		}
		for i := range d.Written {
			if v := p.NodeVariable(o.ServerIP, d.Written[i].Node); v != nil {
				w.node(v, d.Written[i].Node, &d.Written[i])
			}
		}
	case *baselines.DNP3Obs:
		p.EachPoint(o, w.point)
	}
	if w.n == 0 {
		return w.b
	}
	return append(w.b, "]}"...)
}

// varWriter writes the "variables" array into an object whose closing
// brace is at mark-1.
type varWriter struct {
	b    []byte
	mark int
	n    int
}

// open starts v's object: the array first (over the object's brace).
func (w *varWriter) open(v *baselines.Variable) {
	if w.n == 0 {
		w.b = append(w.b[:w.mark-1], `,"variables":[`...)
	} else {
		w.b = append(w.b, ',')
	}
	w.n++
	w.b = append(w.b, `{"name":`...)
	w.b = jsonw.String(w.b, v.Name)
}

// close ends v's object with its value (when ok) and unit.
func (w *varWriter) close(v *baselines.Variable, x float64, ok bool) {
	if ok {
		w.b = append(w.b, `,"value":`...)
		w.b = jsonw.Float(w.b, x)
	}
	if v.EngUnit != "" {
		w.b = append(w.b, `,"unit":`...)
		w.b = jsonw.String(w.b, v.EngUnit)
	}
	w.b = append(w.b, '}')
}

// register writes a Modbus variable; write is the write that gives it a
// value, nil for a read.
func (w *varWriter) register(v *baselines.Variable, write *baselines.ModbusObs) {
	w.open(v)
	w.b = append(w.b, `,"table":"`...)
	w.b = append(w.b, v.Table.String()...)
	w.b = append(w.b, `","address":`...)
	w.b = jsonw.Uint(w.b, uint64(v.Addr))
	var x float64
	ok := false
	if write != nil {
		x, ok = v.Written(write)
	}
	w.close(v, x, ok)
}

// point writes a DNP3 analog output and the value operated.
func (w *varWriter) point(v *baselines.Variable, index uint32, x float64) {
	w.open(v)
	w.b = append(w.b, `,"analog_output":`...)
	w.b = jsonw.Uint(w.b, uint64(index))
	w.close(v, x, true)
}

// node writes an OPC UA variable; nv is the written value, nil for a read.
func (w *varWriter) node(v *baselines.Variable, id string, nv *baselines.NodeValue) {
	w.open(v)
	w.b = append(w.b, `,"node":`...)
	w.b = jsonw.String(w.b, id)
	if nv != nil && nv.Numeric {
		w.close(v, nv.Value, true)
	} else {
		w.close(v, 0, false)
	}
}

// appendPolicy appends `,"policy":NAME`, the rule of the file a
// policy_violation is about (its deviation's item names it), after the
// alert's rule; nothing for the other rules.
func appendPolicy(b []byte, d *baselines.Deviation) []byte {
	if d.Rule != baselines.PolicyViolation {
		return b
	}
	b = append(b, `,"policy":`...)
	return jsonw.String(b, d.Item.What)
}
