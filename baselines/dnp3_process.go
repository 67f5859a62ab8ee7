package baselines

import (
	"fmt"

	"github.com/sluice-ics/sluice/protocols/dnp3"
)

// The DNP3 model's process variables (process.go): the points an
// outstation reports, in read responses and unsolicited: binary inputs
// (groups 1, 2) and outputs (10, 11), states as a coil's, and analog
// inputs (30, 32) and outputs (40, 42). A variable is keyed by its static
// group and index within the channel (the master, the outstation and
// their link addresses): an event (g32) and a static read (g30) of
// analog input 3 are the same variable, "g30:3". Counters, double-bit
// inputs and frozen values are not process variables here.

// processGroup returns the static group naming the variable of a point of
// group g and whether it is a state; ok is false for other groups.
func processGroup(g uint8) (static uint8, bit, ok bool) {
	switch g {
	case 1, 2:
		return 1, true, true
	case 10, 11:
		return 10, true, true
	case 30, 32:
		return 30, false, true
	case 40, 42:
		return 40, false, true
	}
	return 0, false, false
}

// flagOnline is the ONLINE bit of a point's flag octet (IEEE 1815-2012,
// 11.9.2.2 and the following tables): an offline point's value is no
// reading.
const flagOnline = 0x01

// eachProcessPoint calls f with every process point of an outstation's
// response m (a decoded solicited or unsolicited response), up to
// maxControlPoints points walked.
func eachProcessPoint(m *dnp3.Message, f func(k PointKey, bit bool, v float64)) {
	if m == nil || m.Err != nil {
		return
	}
	n := 0
	for i := range m.Objects {
		ob := &m.Objects[i]
		g, bit, ok := processGroup(ob.Group)
		if !ok {
			continue
		}
		var p dnp3.Point
		for it := ob.Points(); n < maxControlPoints && it.Next(&p); n++ {
			if p.HasFlags && p.Flags&flagOnline == 0 {
				continue
			}
			if v, ok := pointNumber(&p); ok {
				f(PointKey{g, p.Index}, bit, v)
			}
		}
	}
}

// pointNumber returns a point's value as a number: a state, an analog.
func pointNumber(p *dnp3.Point) (float64, bool) {
	switch p.Value.Kind {
	case dnp3.IntValue:
		return float64(p.Value.Int), true
	case dnp3.UintValue:
		return float64(p.Value.Uint), true
	case dnp3.FloatValue:
		return p.Value.Float, finite(p.Value.Float)
	}
	return 0, false
}

// processVar returns the variable k, made when missing unless the model
// holds limit variables already (nil then).
func (m *DNP3Model) processVar(k PointKey, bit bool, limit int) *ProcessVar {
	return processVarIn(&m.Process, k, bit, limit)
}

// learnDNP3Process folds the points d's response reports into the
// channel's variables and returns how many variables are new; beyond
// Config.MaxProcessVars (or its server's MaxProcessVarsPerDevice) a point
// is counted (ProcessDropped).
func learnDNP3Process(e *Engine, m *DNP3Model, o *Observation, d *DNP3Obs) (grew int) {
	t, res := o.Time.UnixNano(), e.resumed.UnixNano()
	eachProcessPoint(d.Response, func(k PointKey, bit bool, v float64) {
		l := m.Process[k]
		if l == nil {
			if len(m.Process) >= e.cfg.MaxProcessVars || !e.roomForVar(o.ServerIP) {
				m.ProcessDropped++
				return
			}
			if l = m.processVar(k, bit, e.cfg.MaxProcessVars); l == nil {
				m.ProcessDropped++
				return
			}
			grew++
		}
		rate, still, changed := l.step(v, t, res)
		l.learn(v, rate, still, changed)
	})
	return grew
}

// judgeDNP3Process compares the points d's response reports with the
// channel's variables: at most one process alert per response, as the
// other models (judgeProcess).
func judgeDNP3Process(e *Engine, m *DNP3Model, rt *chanRuntime, o *Observation, d *DNP3Obs) {
	if len(m.Process) == 0 {
		return
	}
	t, res := o.Time.UnixNano(), e.resumed.UnixNano()
	raised := false
	eachProcessPoint(d.Response, func(k PointKey, _ bool, v float64) {
		l := m.Process[k]
		if l == nil {
			return
		}
		vd, rate, still := stepJudge(&e.cfg, l, v, t, res, raised)
		if vd.rule == RuleNone {
			return
		}
		key, name := rt.key, dnp3PointName(k)
		raised = e.raiseProcess(o, key, vd, dnp3PointItem(k), l, v, rate, still, name,
			fmt.Sprintf("DNP3 master %s", key.Client), fmt.Sprintf("%s of outstation %s (address %d)", name, key.Server, key.Outstation))
	})
}

// dnp3PointName names a variable: "analog input 3".
func dnp3PointName(k PointKey) string {
	noun := map[uint8]string{1: "binary input", 10: "binary output", 30: "analog input", 40: "analog output"}[k.Group]
	return fmt.Sprintf("%s %d", noun, k.Index)
}

// dnp3PointItem is the Item of a process point, as of an output point
// (objItem): Sub the group, Addr and Count the index's low and high bits.
func dnp3PointItem(k PointKey) Item {
	return Item{Sub: uint16(k.Group), Addr: uint16(k.Index), Count: uint16(k.Index >> 16), What: "point"}
}
