package baselines

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// Process variables (issue #14 §1, docs/process.md): the values a server
// reports when it is read. A plant's attacker who already holds the HMI
// writes with the functions and registers the baseline knows; what changes
// then is the process. Each variable learns the range it was seen in, its
// largest step per second, how often it changes (and the longest it stayed
// still), and for a bit (a coil, a discrete input) the states and
// transitions seen; judging compares each value read with it.
//
// The core below knows nothing of protocols: a model keys its variables
// (the Modbus model by table and address within its channel: the server,
// the unit and the master that reads it) and hands each value to learn and
// judge with the variable's runtime state.

// The process rules (docs/alerts.md). The numbers are stable.
const (
	ProcessValueOutOfRange Rule = 37
	ProcessRateOfChange    Rule = 38
	ProcessValueFrozen     Rule = 39
	ProcessStateUnexpected Rule = 40
)

var processRules = []ruleInfo{
	{ProcessValueOutOfRange, "process_value_out_of_range", 2, "Manipulation of Control", true, true, []string{"T0831", "T0832"}},
	{ProcessRateOfChange, "process_rate_of_change", 2, "Manipulation of Control", true, true, []string{"T0831", "T0879"}},
	{ProcessValueFrozen, "process_value_frozen", 1, "Spoof Reporting Message", true, true, []string{"T0856", "T0832"}},
	{ProcessStateUnexpected, "process_state_unexpected", 2, "Manipulation of Control", true, true, []string{"T0831", "T0855"}},
}

func init() { addRules(processRules) }

// ProcessVar is what one process variable learned, as stored and exported.
// Times are in seconds; a rate is value units per second.
type ProcessVar struct {
	// This run's state of the variable, neither stored nor exported (Load
	// makes new variables): its last value, when it was read and when it
	// last changed (Unix nanoseconds), and whether process_value_frozen
	// was raised for the current still stretch. Kept in the variable
	// itself, first and beside Reads, so that an unchanged read touches
	// one cache line.
	last        float64
	at, changed int64
	set, frozen bool

	// Reads and Changes count the values read and those that differed
	// from the one before.
	Reads   uint64  `json:"reads"`
	Changes uint64  `json:"changes"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	// MaxRate is the largest step per second between two consecutive reads
	// (the step divided by the time between them, at least one second).
	MaxRate float64 `json:"max_rate"`
	// MaxStill is the longest time, in seconds, between two changes
	// (from a change to the read that saw the next one).
	MaxStill float64 `json:"max_still"`
	// Bit: the variable is a coil or a binary point; States has bit s
	// set for each state s seen (0, 1), Transitions bit 0 for 0→1 and
	// bit 1 for 1→0.
	Bit         bool  `json:"bit,omitempty"`
	States      uint8 `json:"states,omitempty"`
	Transitions uint8 `json:"transitions,omitempty"`
}

// text describes the variable for items and alerts.
func (p *ProcessVar) text() string {
	if p.Bit {
		return fmt.Sprintf("states %s transitions %d reads %d", statesText(p.States), p.Transitions, p.Reads)
	}
	return fmt.Sprintf("range %s..%s max_rate %s/s changes %d/%d max_still %ss",
		num(p.Min), num(p.Max), num(p.MaxRate), p.Changes, p.Reads, num(p.MaxStill))
}

func statesText(s uint8) string {
	switch s & 3 {
	case 1:
		return "{0}"
	case 2:
		return "{1}"
	case 3:
		return "{0,1}"
	}
	return "{}"
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// sanitize repairs a hostile import: non-finite numbers, a range upside
// down, states beyond a bit's two.
func (p *ProcessVar) sanitize() {
	for _, f := range []*float64{&p.Min, &p.Max, &p.MaxRate, &p.MaxStill} {
		if math.IsNaN(*f) || math.IsInf(*f, 0) {
			*f = 0
		}
	}
	if p.Min > p.Max {
		p.Min, p.Max = p.Max, p.Min
	}
	p.MaxRate, p.MaxStill = math.Abs(p.MaxRate), math.Abs(p.MaxStill)
	if p.Changes > p.Reads {
		p.Changes = p.Reads
	}
	p.States &= 3
	p.Transitions &= 3
}

// step records value v read at t (Unix nanoseconds) in p's runtime state
// and returns the step per second from the value before (0 when there was
// none or it did not change) and how long, in seconds, the value before
// had stood still at t. resumed is the Unix nanosecond time the capture
// last resumed: an interval across it says nothing of the process.
func (p *ProcessVar) step(v float64, t, resumed int64) (rate, still float64, changed bool) {
	if !p.set || p.at < resumed || t < p.at {
		p.last, p.at, p.changed, p.set, p.frozen = v, t, t, true, false
		return 0, 0, false
	}
	still = float64(t-p.changed) * 1e-9
	if v != p.last {
		rate, changed = math.Abs(v-p.last)/max(float64(t-p.at)*1e-9, 1), true
		p.changed, p.frozen = t, false
	}
	p.last, p.at = v, t
	return rate, still, changed
}

// procSlabSize is how many variables one slab holds.
const procSlabSize = 128

// newProcessVar returns a new, empty variable from the engine's slab.
func (e *Engine) newProcessVar() *ProcessVar {
	if len(e.procSlab) == 0 {
		e.procSlab = make([]ProcessVar, procSlabSize)
	}
	pv := &e.procSlab[0]
	e.procSlab = e.procSlab[1:]
	return pv
}

// learn folds value v into p, with what step found of it, and reports
// whether p grew (a new extreme or a new state).
func (p *ProcessVar) learn(v, rate, still float64, changed bool) bool {
	grew := false
	if p.Reads == 0 {
		p.Min, p.Max, grew = v, v, true
	} else if v < p.Min {
		p.Min, grew = v, true
	} else if v > p.Max {
		p.Max, grew = v, true
	}
	p.Reads++
	if changed {
		// The stretch a change ends: measured at changes only, so that
		// an unchanged read costs nothing but its count.
		if still > p.MaxStill {
			p.MaxStill = still
		}
		p.Changes++
		if rate > p.MaxRate {
			p.MaxRate = rate
		}
	}
	if p.Bit {
		s := uint8(1) << (uint8(v) & 1)
		if p.States&s == 0 {
			p.States |= s
			grew = true
		}
		if changed {
			p.Transitions |= 3 &^ s // into 1: 0→1 (bit 0); into 0: 1→0 (bit 1)
		}
	}
	return grew
}

// processSlack is how far beyond the learned range a value must be for
// process_value_out_of_range: Config.ProcessSlack of the learned span, and
// at least 1 and 10 % of the largest magnitude learned (a variable learned
// constant, or nearly, would otherwise alert on its first tremor: a gate
// held at 10.0 % all through learning that the operator moves to 10.5 %).
func processSlack(p *ProcessVar, frac float64) float64 {
	return max(frac*(p.Max-p.Min), 1, 0.1*max(math.Abs(p.Min), math.Abs(p.Max)))
}

// verdict is what judging one value found: the rule broken (RuleNone for
// none) and the figure it compares (the value, the step per second, the
// still time in seconds, the state).
type verdict struct {
	rule  Rule
	value float64
}

// judgeValue compares value v with the learned variable p, already
// stepped (rate, still and changed are step's
// results). A variable learned from fewer than ProcessMinReads values is
// not judged. The rate must exceed ProcessRateFactor times the largest
// learned plus 1 or 2 % of the magnitude learned, the larger (a raw register
// moves by whole units); frozen needs a variable that always
// moved, still for ProcessFrozenFactor times its longest learned still
// stretch and at least ProcessFrozenMin, and is raised once per stretch.
func judgeValue(cfg *Config, p *ProcessVar, v, rate, still float64, changed bool) verdict {
	if p == nil || p.Reads < uint64(cfg.ProcessMinReads) {
		return verdict{}
	}
	if p.Bit {
		if s := uint8(1) << (uint8(v) & 1); p.States&s == 0 {
			return verdict{ProcessStateUnexpected, float64(uint8(v) & 1)}
		}
		return verdict{}
	}
	if slack := processSlack(p, cfg.ProcessSlack); v < p.Min-slack || v > p.Max+slack {
		return verdict{ProcessValueOutOfRange, v}
	}
	if changed && p.Changes >= uint64(cfg.ProcessMinChanges) &&
		rate > p.MaxRate*cfg.ProcessRateFactor+max(1, 0.02*max(math.Abs(p.Min), math.Abs(p.Max))) {
		return verdict{ProcessRateOfChange, rate}
	}
	if !changed && !p.frozen && moving(cfg, p) &&
		still > cfg.ProcessFrozenFactor*p.MaxStill && still >= cfg.ProcessFrozenMin.Seconds() {
		p.frozen = true
		return verdict{ProcessValueFrozen, still}
	}
	return verdict{}
}

// moving reports whether p always moved while it was learned: it changed
// often (ProcessMinChanges) and on at least one read in ten, so that a
// long still stretch is not its habit.
func moving(cfg *Config, p *ProcessVar) bool {
	return p.Changes >= uint64(cfg.ProcessMinChanges) && p.Changes*10 >= p.Reads && p.MaxStill > 0
}

// foldProcess learns an accepted process deviation into p.
func foldProcess(p *ProcessVar, rule Rule, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	switch rule {
	case ProcessValueOutOfRange:
		if p.Reads == 0 {
			p.Min, p.Max = v, v
		}
		p.Min, p.Max = min(p.Min, v), max(p.Max, v)
		p.Reads = max(p.Reads, 1)
	case ProcessRateOfChange:
		p.MaxRate = max(p.MaxRate, math.Abs(v))
	case ProcessValueFrozen:
		p.MaxStill = max(p.MaxStill, math.Abs(v))
	case ProcessStateUnexpected:
		p.Bit = true
		p.States |= 1 << (uint8(v) & 1)
	}
}

// ProcessFacts are the figures of a process alert (Alert.Process): the
// variable, the value read and what was learned of it. EVE writes them as
// alert.process (docs/events.md).
type ProcessFacts struct {
	Variable string
	Value    float64 // the value read
	Rate     float64 // process_rate_of_change: its step per second
	Still    float64 // process_value_frozen: seconds without change
	Learned  ProcessVar
}

// processSentence is the signature of a process alert.
func processSentence(rule Rule, server, variable string, v float64, f *ProcessFacts) string {
	p := &f.Learned
	switch rule {
	case ProcessValueOutOfRange:
		return fmt.Sprintf("%s reads %s = %s, outside the learned range %s..%s",
			server, variable, num(v), num(p.Min), num(p.Max))
	case ProcessRateOfChange:
		return fmt.Sprintf("%s reads %s = %s, moving %s/s, faster than the learned %s/s",
			server, variable, num(v), num(f.Rate), num(p.MaxRate))
	case ProcessValueFrozen:
		return fmt.Sprintf("%s reads %s = %s unchanged for %s, it never stood still more than %s while learned (%d changes in %d reads)",
			server, variable, num(v), time.Duration(f.Still*1e9).Round(time.Second), time.Duration(p.MaxStill*1e9).Round(time.Second), p.Changes, p.Reads)
	case ProcessStateUnexpected:
		return fmt.Sprintf("%s reads %s in state %s, never seen (learned states %s)",
			server, variable, num(v), statesText(p.States))
	}
	return ""
}

// stepJudge moves l's runtime state on with value v read at t (Unix
// nanoseconds; resumed as for step) and, unless quiet (the message raised
// its alert already), judges it.
func stepJudge(cfg *Config, l *ProcessVar, v float64, t, resumed int64, quiet bool) (vd verdict, rate, still float64) {
	rate, still, changed := l.step(v, t, resumed)
	if !quiet {
		vd = judgeValue(cfg, l, v, rate, still, changed)
	}
	return vd, rate, still
}

// raiseProcess raises vd, what judging value v (its step per second rate,
// its still time) of variable l found, as a process alert on item of
// channel key, and reports whether it was raised (not a repeat held back
// by AlertEvery: that lets the message's next variable speak, a turbine's
// flow out of range for minutes must not hide its speed). variable names
// the variable ("holding register 3"), reader who reads it and where the
// variable's place ("holding register 3 of PLC 10.10.2.1 unit 1").
func (e *Engine) raiseProcess(o *Observation, key ChannelKey, vd verdict, item Item, l *ProcessVar, v, rate, still float64, variable, reader, where string) bool {
	a := e.raiseValue(o.Time, vd.rule, key, item, vd.value, "", &o.Endpoints, o, nil)
	if a == nil {
		return false
	}
	f := &ProcessFacts{Variable: variable, Value: v, Rate: rate, Still: still, Learned: *l}
	a.Process = f
	e.sign(a, processSentence(vd.rule, reader, where, v, f))
	return true
}

// processVarIn returns the variable k of vars, made (a Bit when bit)
// when missing unless vars holds limit variables already (nil then).
func processVarIn[K comparable](vars *map[K]*ProcessVar, k K, bit bool, limit int) *ProcessVar {
	if pv := (*vars)[k]; pv != nil {
		return pv
	}
	if len(*vars) >= limit {
		return nil
	}
	if *vars == nil {
		*vars = map[K]*ProcessVar{}
	}
	pv := &ProcessVar{Bit: bit}
	(*vars)[k] = pv
	return pv
}

// roomForVar reports whether server may learn one more process variable
// under Config.MaxProcessVarsPerDevice, and counts it when so; a refusal
// is counted in Limited.ProcessVars. A server the inventory does not hold
// (it was full) has only its channels' cap.
func (e *Engine) roomForVar(server netip.Addr) bool {
	d := e.devices[server]
	if d == nil {
		return true
	}
	if !d.procCounted {
		// The variables a loaded baseline holds, counted once per run.
		for k, c := range e.channels {
			if k.Server != server {
				continue
			}
			switch m := c.Model.(type) {
			case *ModbusModel:
				d.procVars += len(m.Process)
			case *OPCUAModel:
				d.procVars += len(m.Process)
			case *DNP3Model:
				d.procVars += len(m.Process)
			}
		}
		d.procCounted = true
	}
	if d.procVars >= e.cfg.MaxProcessVarsPerDevice {
		e.limited.ProcessVars++
		return false
	}
	d.procVars++
	return true
}
