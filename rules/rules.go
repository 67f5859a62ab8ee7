// Package rules reads the plant engineer's rules file (`--rules FILE`,
// issue #14 §3, docs/rules.md) into a baselines.Policy: who may talk to
// which server, which functions and services, which addresses or nodes may
// be written, the hard limits of named variables, the maintenance windows
// that quiet rules, and the register map that names variables.
//
// The file is YAML. It is read as a tree of yaml.Node (go.yaml.in/yaml/v3)
// rather than decoded into structs, so that every mistake is reported with
// the line of the node that holds it, and every mistake is reported, not
// only the first: an unknown field, a typo in a rule name a maintenance
// window quiets, a limit on a variable the map does not name are errors,
// never silently ignored.
package rules

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/dnp3"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// maxFileSize bounds the file read: a rules file is written by hand.
const maxFileSize = 4 << 20

// Error is a rules file that cannot be used: one line per mistake, each
// "FILE:LINE: FIELD: what was expected".
type Error struct {
	File     string
	Mistakes []Mistake
}

// Mistake is one mistake of a rules file.
type Mistake struct {
	Line  int
	Field string // the path of the field: "rules.gate-writes.modbus.unit"
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, m := range e.Mistakes {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s:%d: ", e.File, m.Line)
		if m.Field != "" {
			b.WriteString(m.Field + ": ")
		}
		b.WriteString(m.Msg)
	}
	return b.String()
}

// Load reads and checks the rules file at path.
func Load(path string) (*baselines.Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: not a rules file", path, maxFileSize)
	}
	return Parse(path, data)
}

// Parse checks a rules file's contents; name is its name in messages.
func Parse(name string, data []byte) (*baselines.Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml's own messages say "yaml: line N: …".
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = strings.TrimPrefix(msg, m[0])
		}
		return nil, &Error{File: name, Mistakes: []Mistake{{Line: line, Msg: "not YAML: " + msg}}}
	}
	p := &parser{err: Error{File: name}, pol: &baselines.Policy{}, tz: time.UTC}
	if len(doc.Content) == 0 {
		p.fail(&doc, "", "the file is empty: expected variables, rules or maintenance")
		return nil, &p.err
	}
	p.file(doc.Content[0])
	if len(p.err.Mistakes) > 0 {
		// In the file's order, as an editor shows it.
		slices.SortStableFunc(p.err.Mistakes, func(a, b Mistake) int { return a.Line - b.Line })
		return nil, &p.err
	}
	return p.pol, nil
}

var yamlLine = regexp.MustCompile(`^line (\d+): `)

type parser struct {
	err Error
	pol *baselines.Policy
	tz  *time.Location
	// vars maps a variable's name to its index in pol.Variables.
	vars map[string]int
}

func (p *parser) fail(n *yaml.Node, field, format string, a ...any) {
	p.err.Mistakes = append(p.err.Mistakes, Mistake{Line: n.Line, Field: field, Msg: fmt.Sprintf(format, a...)})
}

// fields walks a mapping: each key must be one of known, and f is called
// with each (key, value) in the file's order. A key given twice is a
// mistake.
func (p *parser) fields(n *yaml.Node, path string, known []string, f func(key string, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "expected a mapping of %s, got %s", strings.Join(known, ", "), describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kp := join(path, k.Value)
		if k.Kind != yaml.ScalarNode {
			p.fail(k, path, "expected a field name, got %s", describe(k))
			continue
		}
		if !slices.Contains(known, k.Value) {
			p.fail(k, kp, "unknown field%s: expected one of %s", suggest(k.Value, known), strings.Join(known, ", "))
			continue
		}
		if seen[k.Value] {
			p.fail(k, kp, "given twice")
			continue
		}
		seen[k.Value] = true
		f(k.Value, v)
	}
}

// named walks a mapping of names to entries (variables, rules, windows).
func (p *parser) named(n *yaml.Node, path, what string, f func(name string, k, v *yaml.Node)) {
	if n.Tag == "!!null" {
		return // "rules:" with nothing under it: none
	}
	if n.Kind != yaml.MappingNode {
		p.fail(n, path, "expected a mapping of %s names to their definitions, got %s", what, describe(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || !p.name(k, path, what) {
			continue
		}
		if seen[k.Value] {
			p.fail(k, join(path, k.Value), "%s name given twice", what)
			continue
		}
		seen[k.Value] = true
		f(k.Value, k, v)
	}
}

// name checks a name of the file: printable, at most 128 characters.
func (p *parser) name(k *yaml.Node, path, what string) bool {
	s := k.Value
	ok := s != "" && len(s) <= 128
	for _, r := range s {
		if !unicode.IsPrint(r) {
			ok = false
		}
	}
	if !ok {
		p.fail(k, path, "expected a %s name of 1 to 128 printable characters, got %q", what, s)
	}
	return ok
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describe names what a node is, for "got …".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// suggest returns ` (did you mean "x"?)` for a key one or two edits from
// a known one.
func suggest(s string, known []string) string {
	for _, k := range known {
		if editDistance(s, k) <= 2 {
			return fmt.Sprintf(" %q (did you mean %q?)", s, k)
		}
	}
	return fmt.Sprintf(" %q", s)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// The file: variables first (rules name them), then rules (windows name
// them), then maintenance, whatever their order in the file.
func (p *parser) file(n *yaml.Node) {
	var vars, rs, maint *yaml.Node
	p.fields(n, "", []string{"timezone", "variables", "rules", "maintenance"}, func(k string, v *yaml.Node) {
		switch k {
		case "timezone":
			p.tz = p.location(v, k)
		case "variables":
			vars = v
		case "rules":
			rs = v
		case "maintenance":
			maint = v
		}
	})
	p.vars = map[string]int{}
	if vars != nil {
		p.named(vars, "variables", "variable", p.variable)
	}
	if rs != nil {
		p.named(rs, "rules", "rule", p.rule)
	}
	if maint != nil {
		p.named(maint, "maintenance", "window", p.window)
	}
}

func (p *parser) location(v *yaml.Node, path string) *time.Location {
	if v.Kind == yaml.ScalarNode {
		if l, err := time.LoadLocation(v.Value); err == nil && v.Value != "" && v.Value != "Local" {
			return l
		}
	}
	p.fail(v, path, "expected an IANA time zone (UTC, Europe/Paris, America/Chicago), got %s", describe(v))
	return time.UTC
}

// tableKeys are the Modbus tables as a variable or a writable range names
// them.
var tableKeys = map[string]modbus.Table{
	"coil": modbus.TableCoils, "discrete_input": modbus.TableDiscreteInputs,
	"input": modbus.TableInputRegisters, "holding": modbus.TableHoldingRegisters,
}

var tableKeyList = []string{"coil", "discrete_input", "input", "holding"}

func (p *parser) variable(name string, k, n *yaml.Node) {
	path := join("variables", name)
	v := baselines.Variable{Name: name, Scale: 1, Type: baselines.Uint16}
	ok, where := true, 0
	var typeNode, orderNode *yaml.Node
	p.fields(n, path, []string{"modbus", "opcua", "dnp3", "type", "scale", "offset", "unit", "word_order"}, func(key string, c *yaml.Node) {
		cp := join(path, key)
		switch key {
		case "modbus":
			where++
			v.InModbus = true
			tables := 0
			p.fields(c, cp, append([]string{"server", "unit"}, tableKeyList...), func(mk string, m *yaml.Node) {
				mp := join(cp, mk)
				switch mk {
				case "server":
					v.Server = p.prefix(m, mp)
				case "unit":
					v.Unit = uint8(p.integer(m, mp, 0, 255, "a Modbus unit id"))
				default:
					tables++
					v.Table = tableKeys[mk]
					v.Addr = uint16(p.integer(m, mp, 0, 65535, "a register address 0-65535 (the PDU address: 40001 is holding 0)"))
				}
			})
			if c.Kind == yaml.MappingNode && tables != 1 {
				p.fail(c, cp, "expected exactly one of %s with the address", strings.Join(tableKeyList, ", "))
				ok = false
			}
		case "opcua":
			where++
			p.fields(c, cp, []string{"server", "node"}, func(mk string, m *yaml.Node) {
				mp := join(cp, mk)
				switch mk {
				case "server":
					v.NodeServer = p.prefix(m, mp)
				case "node":
					if m.Kind != yaml.ScalarNode || !strings.Contains(m.Value, "=") {
						p.fail(m, mp, "expected a node id such as \"ns=2;s=Dam.Spillway1.Setpoint\", got %s", describe(m))
					}
					v.Node = m.Value
				}
			})
			if c.Kind == yaml.MappingNode && v.Node == "" {
				p.fail(c, cp, "expected the node id (node: \"ns=2;s=…\")")
				ok = false
			}
		case "dnp3":
			where++
			v.InDNP3 = true
			index := false
			p.fields(c, cp, []string{"server", "outstation", "analog_output"}, func(mk string, m *yaml.Node) {
				mp := join(cp, mk)
				switch mk {
				case "server":
					v.DNP3Server = p.prefix(m, mp)
				case "outstation":
					v.Outstation, v.HasOutstation = uint16(p.integer(m, mp, 0, 65535, "a DNP3 outstation address")), true
				case "analog_output":
					v.AnalogOutput, index = uint32(p.integer(m, mp, 0, math.MaxUint32, "an analog output (group 41) index")), true
				}
			})
			if c.Kind == yaml.MappingNode && !index {
				p.fail(c, cp, "expected the point: analog_output: INDEX (group 41)")
				ok = false
			}
		case "type":
			typeNode = c
			t, good := baselines.ParseDataType(c.Value)
			if c.Kind != yaml.ScalarNode || !good {
				p.fail(c, cp, "expected uint16, int16, uint32, int32, float32 or bool, got %s", describe(c))
			}
			v.Type = t
		case "scale":
			v.Scale = p.number(c, cp)
			if v.Scale == 0 {
				p.fail(c, cp, "expected a scale other than 0")
			}
		case "offset":
			v.Offset = p.number(c, cp)
		case "unit":
			if c.Kind != yaml.ScalarNode || len(c.Value) > 32 {
				p.fail(c, cp, "expected an engineering unit such as %% or m3/s (at most 32 characters), got %s", describe(c))
			}
			v.EngUnit = c.Value
		case "word_order":
			orderNode = c
			switch c.Value {
			case "high_first":
			case "low_first":
				v.LowWordFirst = true
			default:
				p.fail(c, cp, "expected high_first (the register at the address holds the high word) or low_first, got %s", describe(c))
			}
		}
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	if where == 0 {
		p.fail(k, path, "expected where the variable lives: modbus (unit, table and address), opcua (node), dnp3 (analog_output), or several")
		ok = false
	}
	if !v.InModbus && typeNode != nil {
		p.fail(typeNode, join(path, "type"), "an OPC UA node carries its own type: give type only with modbus")
	}
	if orderNode != nil && v.Type.Words() != 2 {
		p.fail(orderNode, join(path, "word_order"), "only a 32-bit type (uint32, int32, float32) has a word order")
	}
	if v.InModbus && int(v.Addr)+v.Type.Words() > 65536 {
		p.fail(n, path, "a %s at address %d runs past address 65535", v.Type, v.Addr)
	}
	if v.InModbus && v.Type != baselines.Bool && (v.Table == modbus.TableCoils || v.Table == modbus.TableDiscreteInputs) {
		p.fail(n, path, "a coil or discrete input is a bool: give type: bool")
	}
	if !ok {
		return
	}
	p.vars[name] = len(p.pol.Variables)
	p.pol.Variables = append(p.pol.Variables, v)
}

// scopeKeys are the keys of a rule's protocol scope.
var scopeKeys = map[string][]string{
	"modbus": {"server", "unit"},
	"opcua":  {"server", "port"},
	"dnp3":   {"server", "outstation"},
}

func (p *parser) rule(name string, k, n *yaml.Node) {
	path := join("rules", name)
	if _, ok := baselines.ParseRule(name); ok {
		// A maintenance window's quiet list could not tell them apart.
		p.fail(k, path, "%q is the name of a Sluice rule: give the file's rule another name", name)
	}
	r := baselines.PolicyRule{Name: name}
	checks := 0
	var funcs, writable *yaml.Node
	p.fields(n, path, []string{"modbus", "opcua", "dnp3", "servers", "masters", "functions", "services", "writable", "limits"}, func(key string, c *yaml.Node) {
		cp := join(path, key)
		switch key {
		case "modbus", "opcua", "dnp3":
			if r.Protocol != 0 {
				p.fail(c, cp, "a rule is about one protocol: %s is given already", r.Protocol)
				return
			}
			r.Protocol, _ = parseProtocol(key)
			if c.Kind == yaml.ScalarNode && c.Value == "" || c.Tag == "!!null" {
				return // "modbus:" alone: every Modbus server
			}
			p.fields(c, cp, scopeKeys[key], func(sk string, s *yaml.Node) {
				sp := join(cp, sk)
				switch sk {
				case "server":
					r.Servers = p.prefixes(s, sp)
				case "unit":
					p.list(s, sp, func(e *yaml.Node) {
						r.Units = append(r.Units, uint8(p.integer(e, sp, 0, 255, "a Modbus unit id")))
					})
				case "port":
					p.list(s, sp, func(e *yaml.Node) {
						r.Ports = append(r.Ports, uint16(p.integer(e, sp, 1, 65535, "a TCP port")))
					})
				case "outstation":
					p.list(s, sp, func(e *yaml.Node) {
						r.Outstations = append(r.Outstations, uint16(p.integer(e, sp, 0, 65535, "a DNP3 outstation address")))
					})
				}
			})
		case "servers":
			r.Servers = p.prefixes(c, cp)
		case "masters":
			checks++
			p.fields(c, cp, []string{"allow", "deny"}, func(mk string, m *yaml.Node) {
				ps := p.prefixes(m, join(cp, mk))
				if mk == "allow" {
					r.Allow = ps
				} else {
					r.Deny = ps
				}
			})
		case "functions":
			checks++
			funcs = c
		case "services":
			checks++
			r.Services = []string{}
			p.list(c, cp, func(e *yaml.Node) {
				if e.Kind != yaml.ScalarNode || !serviceName.MatchString(e.Value) {
					p.fail(e, cp, "expected an OPC UA service name such as Read, Write, Browse, got %s", describe(e))
					return
				}
				r.Services = append(r.Services, strings.TrimSuffix(e.Value, "Request"))
			})
		case "writable":
			checks++
			writable = c
		case "limits":
			checks++
			p.named(c, cp, "variable", func(vn string, vk, vv *yaml.Node) {
				vp := join(cp, vn)
				i, ok := p.vars[vn]
				if !ok {
					p.fail(vk, vp, "no variable %q in the register map (variables:)%s", vn, suggest2(vn, p.vars))
					return
				}
				l := baselines.Limit{Var: i}
				p.fields(vv, vp, []string{"min", "max"}, func(bk string, b *yaml.Node) {
					if bk == "min" {
						l.Min, l.HasMin = p.number(b, join(vp, bk)), true
					} else {
						l.Max, l.HasMax = p.number(b, join(vp, bk)), true
					}
				})
				if vv.Kind == yaml.MappingNode && !l.HasMin && !l.HasMax {
					p.fail(vv, vp, "expected min, max or both")
				} else if l.HasMin && l.HasMax && l.Min > l.Max {
					p.fail(vv, vp, "min %g is above max %g", l.Min, l.Max)
				}
				r.Limits = append(r.Limits, l)
			})
		}
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	if checks == 0 {
		p.fail(k, path, "a rule needs a check: masters, functions, services, writable or limits")
	}
	if funcs != nil {
		p.functions(funcs, join(path, "functions"), &r)
	}
	if writable != nil {
		p.writable(writable, join(path, "writable"), &r)
	}
	if r.Services != nil && r.Protocol != baselines.OPCUA {
		p.fail(k, path, "services are OPC UA's: the rule needs opcua:")
	}
	p.pol.Rules = append(p.pol.Rules, r)
}

// serviceName is an OPC UA service's name, with or without "Request".
var serviceName = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)

func parseProtocol(s string) (baselines.Protocol, bool) {
	var pr baselines.Protocol
	return pr, pr.UnmarshalText([]byte(s)) == nil
}

// functions reads a rule's functions: Modbus function codes or DNP3
// functions, by number or by name.
func (p *parser) functions(c *yaml.Node, path string, r *baselines.PolicyRule) {
	switch r.Protocol {
	case baselines.Modbus:
		r.ModbusFunctions = []uint8{}
	case baselines.DNP3:
		r.DNP3Functions = []uint8{}
	default:
		p.fail(c, path, "functions are Modbus's or DNP3's: the rule needs modbus: or dnp3: (OPC UA has services:)")
		return
	}
	p.scalars(c, path, "a function code or name", func(e *yaml.Node) {
		if r.Protocol == baselines.Modbus {
			if fc, ok := modbusFunction(e.Value); ok {
				r.ModbusFunctions = append(r.ModbusFunctions, fc)
				return
			}
			p.fail(e, path, "expected a Modbus function code 1-127 or its name (read_holding_registers, write_single_register…), got %q", e.Value)
			return
		}
		if fc, ok := dnp3Function(e.Value); ok {
			r.DNP3Functions = append(r.DNP3Functions, fc)
			return
		}
		p.fail(e, path, "expected a DNP3 function code 0-255 or its name (read, select, operate, direct_operate…), got %q", e.Value)
	})
}

func modbusFunction(s string) (uint8, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return uint8(n), n >= 1 && n <= 127
	}
	for fc := 1; fc <= 127; fc++ {
		f := modbus.FunctionCode(fc)
		if f.Known() && f.String() == s {
			return uint8(fc), true
		}
	}
	return 0, false
}

func dnp3Function(s string) (uint8, bool) {
	if n, err := strconv.Atoi(s); err == nil {
		return uint8(n), n >= 0 && n <= 255
	}
	for fc := 0; fc <= 255; fc++ {
		if dnp3.FunctionCode(fc).String() == s && !strings.HasPrefix(s, "unknown") {
			return uint8(fc), true
		}
	}
	return 0, false
}

// writableRange is "holding 0-3", "coil 2" (Modbus).
var writableRange = regexp.MustCompile(`^\s*([a-z_]+)\s+(\d+)(?:\s*-\s*(\d+))?\s*$`)

func (p *parser) writable(c *yaml.Node, path string, r *baselines.PolicyRule) {
	r.HasWritable = true
	switch r.Protocol {
	case baselines.Modbus:
		r.Writable = []baselines.TableRange{}
	case baselines.OPCUA:
		r.WritableNodes = []string{}
	default:
		p.fail(c, path, "writable addresses are Modbus's, writable nodes OPC UA's: the rule needs modbus: or opcua:")
		return
	}
	p.scalars(c, path, "a string", func(e *yaml.Node) {
		if r.Protocol == baselines.OPCUA {
			if !strings.Contains(e.Value, "=") {
				p.fail(e, path, "expected a node id such as \"ns=2;s=Dam.Spillway1.Setpoint\", got %q", e.Value)
				return
			}
			r.WritableNodes = append(r.WritableNodes, e.Value)
			return
		}
		m := writableRange.FindStringSubmatch(e.Value)
		bad := func() {
			p.fail(e, path, "expected TABLE FIRST[-LAST] with TABLE one of %s and addresses 0-65535 (\"holding 0-3\"), got %q",
				strings.Join(tableKeyList, ", "), e.Value)
		}
		if m == nil {
			bad()
			return
		}
		t, ok := tableKeys[m[1]]
		from, err1 := strconv.ParseUint(m[2], 10, 16)
		to, err2 := from, error(nil)
		if m[3] != "" {
			to, err2 = strconv.ParseUint(m[3], 10, 16)
		}
		if !ok || err1 != nil || err2 != nil || to < from {
			bad()
			return
		}
		r.Writable = append(r.Writable, baselines.TableRange{Table: t, From: uint16(from), To: uint16(to)})
	})
}

// weekdays are the names a window's days take.
var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

func (p *parser) window(name string, k, n *yaml.Node) {
	path := join("maintenance", name)
	m := baselines.Maintenance{Name: name, Location: p.tz}
	var from, to, days, quiet *yaml.Node
	p.fields(n, path, []string{"quiet", "servers", "days", "from", "to", "timezone"}, func(key string, c *yaml.Node) {
		cp := join(path, key)
		switch key {
		case "quiet":
			quiet = c
			p.list(c, cp, func(e *yaml.Node) {
				if e.Kind != yaml.ScalarNode || !p.quietName(e.Value) {
					p.fail(e, cp, "expected the name of a rule of this file or of a Sluice rule (new_master, write_value_out_of_range…)%s, got %s",
						suggest2(e.Value, p.ruleNames()), describe(e))
					return
				}
				m.Quiet = append(m.Quiet, e.Value)
			})
		case "servers":
			m.Servers = p.prefixes(c, cp)
		case "days":
			days = c
			p.list(c, cp, func(e *yaml.Node) {
				d, ok := weekdays[strings.ToLower(e.Value)]
				if e.Kind != yaml.ScalarNode || !ok {
					p.fail(e, cp, "expected a day: mon, tue, wed, thu, fri, sat or sun, got %s", describe(e))
					return
				}
				m.Days |= 1 << d
			})
		case "from":
			from = c
		case "to":
			to = c
		case "timezone":
			m.Location = p.location(c, cp)
		}
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	if quiet == nil {
		p.fail(k, path, "expected quiet: the rules the window quiets")
	}
	if from == nil || to == nil {
		p.fail(k, path, "expected from and to: times of day (\"06:00\") or date-times (2026-12-01T08:00:00+01:00)")
		return
	}
	fc, fok := clock(from.Value)
	tc, tok := clock(to.Value)
	switch {
	case fok && tok:
		if fc == tc {
			p.fail(to, join(path, "to"), "the window is empty: to equals from")
		}
		m.Start, m.End = fc, tc
	case fok != tok:
		p.fail(k, path, "from and to must both be times of day or both date-times")
	default:
		m.From = p.instant(from, join(path, "from"), m.Location)
		m.To = p.instant(to, join(path, "to"), m.Location)
		if days != nil {
			p.fail(days, join(path, "days"), "days go with times of day, not with date-times")
		}
		if !m.From.IsZero() && !m.To.IsZero() && !m.To.After(m.From) {
			p.fail(to, join(path, "to"), "expected a time after from")
		}
	}
	p.pol.Maintenance = append(p.pol.Maintenance, m)
}

// clock parses "HH:MM" into minutes after midnight ("24:00" is the end of
// the day).
func clock(s string) (int, bool) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) == 0 || len(h) > 2 || len(m) != 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, false
	}
	return hh*60 + mm, true
}

// instant parses a date-time: RFC 3339, or "2026-12-01 08:00" in loc.
func (p *parser) instant(n *yaml.Node, path string, loc *time.Location) time.Time {
	if t, err := time.Parse(time.RFC3339, n.Value); err == nil {
		return t
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, n.Value, loc); err == nil {
			return t
		}
	}
	p.fail(n, path, "expected a time of day (\"06:00\") or a date-time (2026-12-01T08:00:00Z, or \"2026-12-01 08:00\" in the window's time zone), got %s", describe(n))
	return time.Time{}
}

func (p *parser) quietName(s string) bool {
	if _, ok := baselines.ParseRule(s); ok {
		return true
	}
	return slices.ContainsFunc(p.pol.Rules, func(r baselines.PolicyRule) bool { return r.Name == s })
}

func (p *parser) ruleNames() map[string]int {
	m := map[string]int{}
	for _, r := range baselines.Rules() {
		m[r.String()] = 0
	}
	for _, r := range p.pol.Rules {
		m[r.Name] = 0
	}
	return m
}

// suggest2 returns ` (did you mean "x"?)` for a name near one of names.
func suggest2(s string, names map[string]int) string {
	best, bd := "", 3
	for n := range names {
		if d := editDistance(s, n); d < bd || d == bd && n < best {
			best, bd = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// list calls f with each element of a list, or with n itself when it is a
// single scalar.
func (p *parser) list(n *yaml.Node, path string, f func(e *yaml.Node)) {
	switch n.Kind {
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			p.fail(n, path, "expected at least one element")
		}
		for _, e := range n.Content {
			f(e)
		}
	case yaml.ScalarNode:
		f(n)
	default:
		p.fail(n, path, "expected a list, got %s", describe(n))
	}
}

// scalars is list for lists of scalars: an element that is no scalar is
// a mistake (expected what).
func (p *parser) scalars(n *yaml.Node, path, what string, f func(e *yaml.Node)) {
	p.list(n, path, func(e *yaml.Node) {
		if e.Kind != yaml.ScalarNode {
			p.fail(e, path, "expected %s, got %s", what, describe(e))
			return
		}
		f(e)
	})
}

func (p *parser) prefixes(n *yaml.Node, path string) []netip.Prefix {
	out := []netip.Prefix{}
	p.list(n, path, func(e *yaml.Node) {
		if pr := p.prefix(e, path); pr.IsValid() {
			out = append(out, pr)
		}
	})
	return out
}

// prefix parses an IP address (a single host) or a CIDR prefix.
func (p *parser) prefix(n *yaml.Node, path string) netip.Prefix {
	if n.Kind == yaml.ScalarNode {
		if a, err := netip.ParseAddr(n.Value); err == nil && a.Zone() == "" {
			a = a.Unmap()
			return netip.PrefixFrom(a, a.BitLen())
		}
		if pr, err := netip.ParsePrefix(n.Value); err == nil {
			if pr.Masked() != pr {
				p.fail(n, path, "%s has host bits set: did you mean %s?", n.Value, pr.Masked())
				return netip.Prefix{}
			}
			return pr
		}
	}
	p.fail(n, path, "expected an IP address (10.10.1.10) or a network (10.10.1.0/24), got %s", describe(n))
	return netip.Prefix{}
}

func (p *parser) integer(n *yaml.Node, path string, lo, hi int, what string) int {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil && v >= int64(lo) && v <= int64(hi) {
			return int(v)
		}
	}
	p.fail(n, path, "expected %s (%d-%d), got %s", what, lo, hi, describe(n))
	return 0
}

func (p *parser) number(n *yaml.Node, path string) float64 {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			return v
		}
	}
	p.fail(n, path, "expected a number, got %s", describe(n))
	return 0
}

// IsError reports whether err is a rules file's mistakes (not an I/O
// error).
func IsError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
