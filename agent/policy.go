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
	mark := len(b)
	n := 0
	item := func(v *baselines.Variable) {
		if n == 0 {
			b = append(b[:mark-1], `,"variables":[`...)
		} else {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"name":`...)
		b = jsonw.String(b, v.Name)
	}
	end := func(v *baselines.Variable) {
		if v.EngUnit != "" {
			b = append(b, `,"unit":`...)
			b = jsonw.String(b, v.EngUnit)
		}
		b = append(b, '}')
	}
	switch d := o.Detail.(type) {
	case *baselines.ModbusObs:
		var buf [16]*baselines.Variable
		reg := func(v *baselines.Variable, write bool) {
			item(v)
			b = append(b, `,"table":"`...)
			b = append(b, v.Table.String()...)
			b = append(b, `","address":`...)
			b = jsonw.Uint(b, uint64(v.Addr))
			if x, ok := v.Written(d); ok && write {
				b = append(b, `,"value":`...)
				b = jsonw.Float(b, x)
			}
			end(v)
		}
		for _, v := range p.VariablesOf(buf[:0], o.ServerIP, d.Unit, d.ReadTable, d.Read.Start, d.Read.Count) {
			reg(v, false)
		}
		for _, v := range p.VariablesOf(buf[:0], o.ServerIP, d.Unit, d.WriteTable, d.Write.Start, d.Write.Count) {
			reg(v, true)
		}
	case *baselines.OPCUAObs:
		node := func(id string, w *baselines.NodeValue) {
			v := p.NodeVariable(o.ServerIP, id)
			if v == nil {
				return
			}
			item(v)
			b = append(b, `,"node":`...)
			b = jsonw.String(b, id)
			if w != nil && w.Numeric {
				b = append(b, `,"value":`...)
				b = jsonw.Float(b, w.Value)
			}
			end(v)
		}
		for _, id := range d.Read {
			node(id, nil)
		}
		for i := range d.Written {
			node(d.Written[i].Node, &d.Written[i])
		}
	}
	if n == 0 {
		return b
	}
	return append(b, "]}"...)
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
