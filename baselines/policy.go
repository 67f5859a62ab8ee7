package baselines

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// policy_violation (issue #14 §3): the plant engineer's own rules, stated
// in a file (`--rules FILE`, read by package rules) rather than learned.
// A signature rule: a policy holds from the first packet, so it fires in
// every mode, learning included. Each alert names the file's rule
// (Item.What, written as alert.policy), so that accepting one rule's
// violation on one channel leaves the others alerting.
//
// The policy is plain data: the file format, its parsing and its error
// messages live in package rules, so that baselines drags in no YAML.

// PolicyViolation is the rule; its number is stable.
const PolicyViolation Rule = 36

func init() {
	addRules([]ruleInfo{
		{PolicyViolation, "policy_violation", 1, "Policy Violation", false, false, []string{"T0855", "T0836"}},
	})
}

// Policy is a compiled rules file: named rules, maintenance windows that
// quiet rules, and the register map. A nil *Policy is no policy. A Policy
// is never modified once given to an engine (SetPolicy replaces it whole),
// so a reload cannot tear a judgement in half.
type Policy struct {
	Rules       []PolicyRule
	Maintenance []Maintenance
	Variables   []Variable

	// The variables by Modbus (unit, table) and by node, made on first
	// use: events name the variables of every transaction.
	once   sync.Once
	byReg  map[regKey][]int
	byNode map[string][]int
}

type regKey struct {
	unit  uint8
	table modbus.Table
}

func (p *Policy) index() {
	p.once.Do(func() {
		p.byReg, p.byNode = map[regKey][]int{}, map[string][]int{}
		for i := range p.Variables {
			v := &p.Variables[i]
			if v.InModbus {
				k := regKey{v.Unit, v.Table}
				p.byReg[k] = append(p.byReg[k], i)
			}
			if v.Node != "" {
				p.byNode[v.Node] = append(p.byNode[v.Node], i)
			}
		}
	})
}

// Scope says which transactions a rule or a variable applies to. Zero
// fields match everything.
type Scope struct {
	// Protocol 0 is any protocol.
	Protocol Protocol
	// Servers are the server addresses (IPs are /32 or /128 prefixes).
	Servers []netip.Prefix
	// Units are Modbus unit ids, Ports OPC UA endpoint ports, Outstations
	// DNP3 outstation addresses.
	Units       []uint8
	Ports       []uint16
	Outstations []uint16
}

// PolicyRule is one named rule of the file. Every check that is set is
// judged on every transaction its scope matches.
type PolicyRule struct {
	Name string
	Scope
	// Allow, when non-empty, are the only masters (client addresses)
	// allowed; Deny are masters never allowed.
	Allow, Deny []netip.Prefix
	// Functions are the Modbus or DNP3 function codes allowed (by
	// protocol); Services the OPC UA services allowed. nil: not checked.
	ModbusFunctions []uint8
	DNP3Functions   []uint8
	Services        []string
	// Writable, when HasWritable, are the only Modbus addresses a write
	// may touch, WritableNodes the only OPC UA nodes.
	HasWritable   bool
	Writable      []TableRange
	WritableNodes []string
	// Limits are hard bounds on the values written to variables of the
	// register map.
	Limits []Limit
}

// TableRange is a run of addresses [From, To] of one Modbus table.
type TableRange struct {
	Table    modbus.Table
	From, To uint16
}

// Limit bounds the engineering value of Variables[Var]: Min ≤ v ≤ Max
// (HasMin/HasMax say which bound is set).
type Limit struct {
	Var            int
	Min, Max       float64
	HasMin, HasMax bool
}

// DataType is how a variable's value is carried in Modbus registers.
type DataType uint8

// The data types of a register map.
const (
	Uint16 DataType = iota + 1
	Int16
	Uint32
	Int32
	Float32
	Bool
)

var dataTypeNames = [...]string{Uint16: "uint16", Int16: "int16", Uint32: "uint32", Int32: "int32", Float32: "float32", Bool: "bool"}

func (t DataType) String() string {
	if int(t) < len(dataTypeNames) && dataTypeNames[t] != "" {
		return dataTypeNames[t]
	}
	return "unknown"
}

// ParseDataType returns the type named s.
func ParseDataType(s string) (DataType, bool) {
	for i, n := range dataTypeNames {
		if n != "" && n == s {
			return DataType(i), true
		}
	}
	return 0, false
}

// Words is how many 16-bit registers the type takes (1 for bool: a coil
// or a register that is 0 or not).
func (t DataType) Words() int {
	if t == Uint32 || t == Int32 || t == Float32 {
		return 2
	}
	return 1
}

// Variable names a process variable: a Modbus register (or two), an
// OPC UA node, or both (the same tag served on both protocols). The
// engineering value of a register is raw × Scale + Offset; a node's value
// is the engineering value already.
type Variable struct {
	Name string
	// EngUnit is the engineering unit ("%", "m3/s").
	EngUnit string
	// InModbus: the variable is a register of Server (any server when
	// Server is not valid): unit id, table, first address, type, word
	// order.
	InModbus     bool
	Server       netip.Prefix
	Unit         uint8
	Table        modbus.Table
	Addr         uint16
	Type         DataType
	LowWordFirst bool
	Scale        float64
	Offset       float64
	// Node, when set, is the OPC UA node id of the variable on
	// NodeServer (any server when not valid).
	Node       string
	NodeServer netip.Prefix
	// InDNP3: the variable is analog output AnalogOutput (group 41) of
	// outstation Outstation (any when !HasOutstation) on DNP3Server (any
	// when not valid); its engineering value is the operated value ×
	// Scale + Offset.
	InDNP3        bool
	DNP3Server    netip.Prefix
	Outstation    uint16
	HasOutstation bool
	AnalogOutput  uint32
}

// isPoint reports whether the variable is analog output index of
// outstation on server.
func (v *Variable) isPoint(server netip.Addr, outstation uint16, index uint32) bool {
	return v.InDNP3 && v.AnalogOutput == index && (!v.HasOutstation || v.Outstation == outstation) && inPrefix(v.DNP3Server, server)
}

// Covers reports whether the variable's registers overlap [start, start+count)
// of table t on unit of server.
func (v *Variable) Covers(server netip.Addr, unit uint8, t modbus.Table, start, count uint16) bool {
	if !v.InModbus || v.Unit != unit || v.Table != t || count == 0 || !inPrefix(v.Server, server) {
		return false
	}
	end := int(start) + int(count)
	return int(v.Addr) < end && int(v.Addr)+v.Type.Words() > int(start)
}

// isNode reports whether the variable is node on server.
func (v *Variable) isNode(server netip.Addr, node string) bool {
	return v.Node != "" && v.Node == node && inPrefix(v.NodeServer, server)
}

// inPrefix reports whether a is in p; an invalid p is every address.
func inPrefix(p netip.Prefix, a netip.Addr) bool { return !p.IsValid() || p.Contains(a.Unmap()) }

// value decodes the variable from words written at start (words[i] is
// the register start+i); false when the write does not carry all of it.
func (v *Variable) value(start uint16, words []uint16) (float64, bool) {
	i := int(v.Addr) - int(start)
	n := v.Type.Words()
	if i < 0 || i+n > len(words) {
		return 0, false
	}
	w := words[i : i+n]
	var raw float64
	switch v.Type {
	case Bool:
		raw = 0
		if w[0] != 0 {
			raw = 1
		}
		return raw, true // a bool is not scaled
	case Int16:
		raw = float64(int16(w[0]))
	case Uint16:
		raw = float64(w[0])
	default:
		hi, lo := uint32(w[0]), uint32(w[1])
		if v.LowWordFirst {
			hi, lo = lo, hi
		}
		u := hi<<16 | lo
		switch v.Type {
		case Uint32:
			raw = float64(u)
		case Int32:
			raw = float64(int32(u))
		case Float32:
			raw = float64(math.Float32frombits(u))
		}
	}
	return raw*v.Scale + v.Offset, true
}

// Written returns the engineering value a Modbus write d gives the
// variable; false when the write does not carry all of its registers.
func (v *Variable) Written(d *ModbusObs) (float64, bool) {
	if d.Write.Count == 0 {
		return 0, false
	}
	return v.value(d.Write.Start, d.written())
}

// Maintenance is a window of time during which the named rules are quiet:
// rules of the file or Sluice's own rules (new_master…), on the servers
// of Servers (every server when empty).
type Maintenance struct {
	Name    string
	Quiet   []string
	Servers []netip.Prefix
	// Either an absolute window [From, To)…
	From, To time.Time
	// …or a daily one: Days (bit i is time.Weekday i; 0 is every day),
	// from Start to End minutes after midnight in Location (End < Start
	// crosses midnight: the day is the window's start).
	Days       uint8
	Start, End int
	Location   *time.Location
}

// open reports whether the window holds at t.
func (m *Maintenance) open(t time.Time) bool {
	if !m.From.IsZero() || !m.To.IsZero() {
		return !t.Before(m.From) && t.Before(m.To)
	}
	lt := t.In(m.Location)
	min := lt.Hour()*60 + lt.Minute()
	day := lt.Weekday()
	if m.End <= m.Start { // crosses midnight
		if min >= m.Start {
			return m.onDay(day)
		}
		if min < m.End {
			return m.onDay((day + 6) % 7)
		}
		return false
	}
	return min >= m.Start && min < m.End && m.onDay(day)
}

func (m *Maintenance) onDay(d time.Weekday) bool { return m.Days == 0 || m.Days&(1<<d) != 0 }

// quiet reports whether an alert of rule (named policy, for a
// policy_violation) on server at t falls in a maintenance window.
func (p *Policy) quiet(rule Rule, policy string, server netip.Addr, t time.Time) bool {
	for i := range p.Maintenance {
		m := &p.Maintenance[i]
		if !m.names(rule, policy) || !inPrefixes(m.Servers, server, true) || !m.open(t) {
			continue
		}
		return true
	}
	return false
}

func (m *Maintenance) names(rule Rule, policy string) bool {
	for _, q := range m.Quiet {
		if q == rule.String() || rule == PolicyViolation && q == policy {
			return true
		}
	}
	return false
}

// inPrefixes reports whether a is in one of ps; empty is all when
// emptyAll, none otherwise.
func inPrefixes(ps []netip.Prefix, a netip.Addr, emptyAll bool) bool {
	if len(ps) == 0 {
		return emptyAll
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// matches reports whether the scope covers o (whose channel key is k).
func (s *Scope) matches(o *Observation, k *ChannelKey) bool {
	if s.Protocol != 0 && s.Protocol != o.Protocol {
		return false
	}
	if !inPrefixes(s.Servers, o.ServerIP, true) {
		return false
	}
	switch o.Protocol {
	case Modbus:
		return len(s.Units) == 0 || slices.Contains(s.Units, k.Unit)
	case OPCUA:
		return len(s.Ports) == 0 || slices.Contains(s.Ports, o.ServerPort)
	case DNP3:
		return len(s.Outstations) == 0 || slices.Contains(s.Outstations, k.Outstation)
	}
	return true
}

// SetPolicy replaces the engine's policy (nil: none). It takes effect with
// the next transaction: `sluice monitor` calls it on SIGHUP.
func (e *Engine) SetPolicy(p *Policy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.policy = p
}

// judgePolicy raises policy_violation for every rule of the policy that o
// breaks, in the file's order.
func (e *Engine) judgePolicy(o *Observation, k *ChannelKey) {
	p := e.policy
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.matches(o, k) {
			continue
		}
		client := o.ClientIP.Unmap()
		if inPrefixes(r.Deny, client, false) {
			e.violation(o, k, r, Item{}, 0, fmt.Sprintf("%s is a denied master of %s", client, serverName(*k)))
		} else if len(r.Allow) > 0 && !inPrefixes(r.Allow, client, false) {
			e.violation(o, k, r, Item{}, 0, fmt.Sprintf("%s is not an allowed master of %s", client, serverName(*k)))
		}
		switch d := o.Detail.(type) {
		case *ModbusObs:
			e.policyModbus(o, k, r, d)
		case *OPCUAObs:
			e.policyOPCUA(o, k, r, d)
		case *DNP3Obs:
			e.policyDNP3(o, k, r, d)
		}
		if len(r.Limits) > 0 {
			e.readLimits(o, k, r)
		}
	}
}

func (e *Engine) policyModbus(o *Observation, k *ChannelKey, r *PolicyRule, d *ModbusObs) {
	p := e.policy
	if r.ModbusFunctions != nil && !slices.Contains(r.ModbusFunctions, d.Function) {
		e.violation(o, k, r, Item{Function: d.Function}, 0, fmt.Sprintf("%s sent %s (FC %d) to %s, not an allowed function",
			o.ClientIP, modbus.FunctionCode(d.Function), d.Function, serverName(*k)))
	}
	if d.Write.Count == 0 {
		return
	}
	if r.HasWritable {
		start, end := int(d.Write.Start), int(d.Write.Start)+int(d.Write.Count)-1
		for a := start; a <= end; {
			// The first address no writable range covers, if any.
			next := -1
			for _, w := range r.Writable {
				if w.Table == d.WriteTable && int(w.From) <= a && a <= int(w.To) {
					next = int(w.To) + 1
					break
				}
			}
			if next < 0 {
				e.violation(o, k, r, Item{Table: d.WriteTable, Addr: uint16(a)}, 0,
					fmt.Sprintf("%s wrote %s %d%s of %s, not a writable address",
						o.ClientIP, d.WriteTable, a, p.modbusNames(o.ServerIP, k.Unit, d.WriteTable, uint16(a), 1), serverName(*k)))
				break
			}
			a = next
		}
	}
	vals := d.written()
	for _, l := range r.Limits {
		v := &p.Variables[l.Var]
		if !v.Covers(o.ServerIP, k.Unit, d.WriteTable, d.Write.Start, d.Write.Count) {
			continue
		}
		x, ok := v.value(d.Write.Start, vals)
		if !ok {
			continue
		}
		e.limit(o, k, r, &l, v, Item{Table: d.WriteTable, Addr: v.Addr}, x, false)
	}
}

func (e *Engine) policyDNP3(o *Observation, k *ChannelKey, r *PolicyRule, d *DNP3Obs) {
	req := d.Request
	if req == nil {
		return // an unsolicited response: the outstation's, no master's
	}
	if r.DNP3Functions != nil && !slices.Contains(r.DNP3Functions, uint8(req.Function)) {
		e.violation(o, k, r, Item{Function: uint8(req.Function)}, 0,
			fmt.Sprintf("%s sent %s (function %d) to %s, not an allowed function",
				o.ClientIP, req.Function, uint8(req.Function), serverName(*k)))
	}
	if len(r.Limits) == 0 || !controls(req.Function) {
		return
	}
	p := e.policy
	eachControl(req, func(pk PointKey, raw float64) bool {
		if pk.Group != 41 {
			return true
		}
		for _, l := range r.Limits {
			v := &p.Variables[l.Var]
			if v.isPoint(o.ServerIP, k.Outstation, pk.Index) {
				e.limit(o, k, r, &l, v, Item{Sub: 41, Addr: uint16(pk.Index), Count: uint16(pk.Index >> 16)}, raw*v.Scale+v.Offset, false)
			}
		}
		return true
	})
}

func (e *Engine) policyOPCUA(o *Observation, k *ChannelKey, r *PolicyRule, d *OPCUAObs) {
	p := e.policy
	if r.Services != nil && d.Service != "" && !slices.Contains(r.Services, d.Service) {
		e.violation(o, k, r, Item{Node: d.Service}, 0, fmt.Sprintf("%s called the %s service of %s, not an allowed service",
			o.ClientIP, d.Service, serverName(*k)))
	}
	for _, w := range d.Written {
		if r.HasWritable && !slices.Contains(r.WritableNodes, w.Node) {
			e.violation(o, k, r, Item{Node: w.Node}, 0, fmt.Sprintf("%s wrote node %s%s of %s, not a writable node",
				o.ClientIP, w.Node, p.nodeName(o.ServerIP, w.Node), serverName(*k)))
		}
		if !w.Numeric {
			continue
		}
		for _, l := range r.Limits {
			v := &p.Variables[l.Var]
			if v.isNode(o.ServerIP, w.Node) {
				e.limit(o, k, r, &l, v, Item{Node: w.Node}, w.Value, false)
			}
		}
	}
}

// limit raises a violation when x, written (or, when read, read: the
// process itself beyond the limit, policy_read.go), breaks l.
func (e *Engine) limit(o *Observation, k *ChannelKey, r *PolicyRule, l *Limit, v *Variable, it Item, x float64, read bool) {
	var bound string
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		bound = "not a number within its limits" // a float32 NaN or infinity compares with nothing
	case l.HasMin && x < l.Min-ulps(l.Min):
		bound = "below its minimum " + fmtNum(l.Min)
	case l.HasMax && x > l.Max+ulps(l.Max):
		bound = "above its maximum " + fmtNum(l.Max)
	default:
		return
	}
	verb := "wrote"
	if read {
		verb = "read"
	}
	e.violation(o, k, r, it, x, fmt.Sprintf("%s %s %s = %s on %s, %s",
		o.ClientIP, verb, v.Name, fmtNum(x)+unitSuffix(v.EngUnit), serverName(*k), bound+unitSuffix(v.EngUnit)))
}

// ulps is the rounding a scaled value may carry: 3 × 0.1 is
// 0.30000000000000004, which is no write above a limit of 0.3.
func ulps(bound float64) float64 { return 1e-9 * max(1, math.Abs(bound)) }

func unitSuffix(u string) string {
	if u == "" {
		return ""
	}
	return " " + u
}

func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }

// violation raises policy_violation for rule r: the signature names the
// file's rule, then what broke it.
func (e *Engine) violation(o *Observation, k *ChannelKey, r *PolicyRule, it Item, value float64, what string) {
	it.What = r.Name
	if a := e.raiseValue(o.Time, PolicyViolation, *k, it, value, "", &o.Endpoints, o, nil); a != nil {
		e.sign(a, "Policy "+strconv.Quote(r.Name)+" violated: "+what)
	}
}

// modbusNames returns " (Name, Name2)": the variables of the register map
// that [start, start+count) of table t on unit of server touches, "" when
// none.
func (p *Policy) modbusNames(server netip.Addr, unit uint8, t modbus.Table, start, count uint16) string {
	var names []string
	for _, v := range p.VariablesOf(nil, server, unit, t, start, count) {
		names = append(names, v.Name)
	}
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// nodeName returns " (Name)" for a node the register map names
// differently from its id, "" otherwise.
func (p *Policy) nodeName(server netip.Addr, node string) string {
	if v := p.NodeVariable(server, node); v != nil && !strings.HasSuffix(node, v.Name) {
		return " (" + v.Name + ")"
	}
	return ""
}

// VariablesOf returns the register map's variables that a Modbus access
// of table t [start, start+count) on unit of server touches, appended to
// dst. For the agent's events.
func (p *Policy) VariablesOf(dst []*Variable, server netip.Addr, unit uint8, t modbus.Table, start, count uint16) []*Variable {
	if count == 0 {
		return dst
	}
	p.index()
	for _, i := range p.byReg[regKey{unit, t}] {
		v := &p.Variables[i]
		if v.Covers(server, unit, t, start, count) {
			dst = append(dst, v)
		}
	}
	return dst
}

// EachPoint calls f with every variable of the register map that a DNP3
// control request of o operates (an analog output), with its index and
// engineering value. For the agent's events.
func (p *Policy) EachPoint(o *Observation, f func(v *Variable, index uint32, x float64)) {
	d, _ := o.Detail.(*DNP3Obs)
	if d == nil || d.Request == nil || !controls(d.Request.Function) {
		return
	}
	eachControl(d.Request, func(pk PointKey, raw float64) bool {
		if pk.Group != 41 {
			return true
		}
		for i := range p.Variables {
			if v := &p.Variables[i]; v.isPoint(o.ServerIP, d.Outstation, pk.Index) {
				f(v, pk.Index, raw*v.Scale+v.Offset)
			}
		}
		return true
	})
}

// NodeVariable returns the register map's variable of an OPC UA node, nil
// if none.
func (p *Policy) NodeVariable(server netip.Addr, node string) *Variable {
	p.index()
	for _, i := range p.byNode[node] {
		v := &p.Variables[i]
		if v.isNode(server, node) {
			return v
		}
	}
	return nil
}
