package baselines

// Hard limits on the values read (issue #14 §3 with §1): a limit of the
// register map bounds what is written, and what the process reports is
// bounded by it too. A register read, an OPC UA node's value, a DNP3
// analog output's status beyond its limit is the process itself where the
// engineer said it never goes (a write that went round the rules, a
// setpoint driven from the panel, a spoofed reading): policy_violation,
// whose text says "read". The item tells a read from a write of the same
// variable, so that accepting one keeps the other: a Modbus read carries
// its function code, an OPC UA read the Value attribute (Sub 13), a DNP3
// status its group (40, the write's 41).

// readLimits raises a violation for each limit of r that a value o read
// breaks.
func (e *Engine) readLimits(o *Observation, k *ChannelKey, r *PolicyRule) {
	p := e.policy
	switch d := o.Detail.(type) {
	case *ModbusObs:
		n := readValues(o, d)
		if n == 0 {
			return
		}
		var words []uint16
		for _, l := range r.Limits {
			v := &p.Variables[l.Var]
			if !v.Covers(o.ServerIP, k.Unit, d.ReadTable, d.Read.Start, uint16(n)) {
				continue
			}
			if words == nil {
				words = make([]uint16, n)
				for i := range words {
					words[i] = d.ReadValues.At(i)
				}
			}
			if x, ok := v.value(d.Read.Start, words); ok {
				e.limit(o, k, r, &l, v, Item{Function: d.Function, Table: d.ReadTable, Addr: v.Addr}, x, true)
			}
		}
	case *OPCUAObs:
		for _, nv := range d.Values {
			for _, l := range r.Limits {
				if v := &p.Variables[l.Var]; v.isNode(o.ServerIP, nv.Node) {
					e.limit(o, k, r, &l, v, Item{Node: nv.Node, Sub: 13}, nv.Value, true)
				}
			}
		}
	case *DNP3Obs:
		eachProcessPoint(d.Response, func(pk PointKey, _ bool, raw float64) {
			if pk.Group != 40 {
				return // the map names analog outputs: their status is group 40
			}
			for _, l := range r.Limits {
				if v := &p.Variables[l.Var]; v.isPoint(o.ServerIP, d.Outstation, pk.Index) {
					e.limit(o, k, r, &l, v, Item{Sub: 40, Addr: uint16(pk.Index), Count: uint16(pk.Index >> 16)}, raw*v.Scale+v.Offset, true)
				}
			}
		})
	}
}
