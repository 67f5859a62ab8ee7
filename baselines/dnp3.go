package baselines

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/protocols/dnp3"
)

func init() { register(DNP3, &dnp3Model{}) }

// The DNP3 model (IEEE 1815-2012). A channel is (master IP, outstation IP,
// master link address, outstation link address); it learns the function
// codes the master uses, the objects it reads and writes, the points it
// controls (CROB, analog outputs) with their values, its polls (class and
// object reads, the integrity poll among them) and what the outstation
// reports unsolicited.

// DNP3 is DNP3 over TCP.
const DNP3 Protocol = 3

// The roles of the ends of a DNP3 channel.
const (
	RoleDNP3Master     Roles = 1 << 4 // sends DNP3 requests
	RoleDNP3Outstation Roles = 1 << 5 // answers them, reports unsolicited
)

// The DNP3 rules (docs/alerts.md). The numbers are stable.
const (
	DNP3NewMaster              Rule = 22
	DNP3UnexpectedFunction     Rule = 23
	DNP3UnexpectedControl      Rule = 24
	DNP3ControlValueOutOfRange Rule = 25
	DNP3Restart                Rule = 26
	DNP3StopApplication        Rule = 27
	DNP3DisableUnsolicited     Rule = 28
	DNP3FileOperation          Rule = 29
	DNP3TimeChange             Rule = 30
	DNP3IntegrityScan          Rule = 31
	DNP3AuthFailure            Rule = 32
)

var dnp3Rules = []ruleInfo{
	{DNP3NewMaster, "dnp3_new_master", 1, "Unauthorized Command Message", true, true, []string{"T0848", "T0855"}},
	{DNP3UnexpectedFunction, "dnp3_unexpected_function", 2, "Unauthorized Command Message", true, true, []string{"T0855"}},
	{DNP3UnexpectedControl, "dnp3_unexpected_control", 1, "Unauthorized Command Message", true, true, []string{"T0855", "T0831"}},
	{DNP3ControlValueOutOfRange, "dnp3_control_value_out_of_range", 1, "Modify Parameter", true, true, []string{"T0836", "T0831"}},
	{DNP3Restart, "dnp3_restart", 1, "Device Restart/Shutdown", false, false, []string{"T0816"}},
	{DNP3StopApplication, "dnp3_stop_application", 1, "Service Stop", false, false, []string{"T0881", "T0815"}},
	{DNP3DisableUnsolicited, "dnp3_disable_unsolicited", 1, "Alarm Suppression", true, true, []string{"T0878", "T0815"}},
	{DNP3FileOperation, "dnp3_file_operation", 1, "Program Download", false, false, []string{"T0843", "T0867"}},
	{DNP3TimeChange, "dnp3_time_change", 2, "Modify Parameter", true, true, []string{"T0836"}},
	{DNP3IntegrityScan, "dnp3_integrity_scan", 3, "Point & Tag Identification", true, true, []string{"T0861"}},
	{DNP3AuthFailure, "dnp3_auth_failure", 2, "Brute Force", false, false, []string{"T0859", "T0806"}},
}

// DNP3Obs is the Detail of a DNP3 observation: the decoded fragments of one
// transaction, as protocols/dnp3's Pairer emits it. The messages alias the
// agent's buffers and are valid during Observe only.
type DNP3Obs struct {
	// Master and Outstation are the link addresses of the two stations.
	Master, Outstation uint16
	// Request is the master's fragment; nil for an unsolicited response.
	Request *dnp3.Message
	// Response is the outstation's fragment (solicited or unsolicited);
	// nil when none came.
	Response *dnp3.Message
	// Timeout is set on a request that expected a response and got none.
	Timeout bool
}

func (*DNP3Obs) detail() {}

// unsolicited reports an unsolicited response (no request).
func (d *DNP3Obs) unsolicited() bool { return d.Request == nil && d.Response != nil }

// refused are the internal indications of a request refused as
// unsupported: function, object or parameter (IIN2.0-2.2).
const refused = dnp3.IINNoFuncCodeSupport | dnp3.IINObjectUnknown | dnp3.IINParameterError

// iin returns the response's internal indications (0 without one).
func (d *DNP3Obs) iin() dnp3.IIN {
	if d.Response != nil {
		return d.Response.IIN
	}
	return 0
}

// ObjKey names a DNP3 object type: group and variation ("g30v1").
type ObjKey struct{ Group, Variation uint8 }

// MarshalText writes "g30v1".
func (k ObjKey) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "g%dv%d", k.Group, k.Variation), nil
}

// UnmarshalText parses "g30v1".
func (k *ObjKey) UnmarshalText(b []byte) error {
	g, v, ok := strings.Cut(strings.TrimPrefix(string(b), "g"), "v")
	gn, err1 := strconv.ParseUint(g, 10, 8)
	vn, err2 := strconv.ParseUint(v, 10, 8)
	if !ok || !strings.HasPrefix(string(b), "g") || err1 != nil || err2 != nil {
		return fmt.Errorf("baselines: bad DNP3 object %q", b)
	}
	*k = ObjKey{uint8(gn), uint8(vn)}
	return nil
}

func (k ObjKey) String() string {
	b, _ := k.MarshalText()
	return string(b)
}

// PointKey names one DNP3 output point: the group of its control (12 for a
// CROB, 41 for an analog output) and its index ("g41:3").
type PointKey struct {
	Group uint8
	Index uint32
}

// MarshalText writes "g41:3".
func (k PointKey) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "g%d:%d", k.Group, k.Index), nil
}

// UnmarshalText parses "g41:3".
func (k *PointKey) UnmarshalText(b []byte) error {
	g, i, ok := strings.Cut(strings.TrimPrefix(string(b), "g"), ":")
	gn, err1 := strconv.ParseUint(g, 10, 8)
	in, err2 := strconv.ParseUint(i, 10, 32)
	if !ok || !strings.HasPrefix(string(b), "g") || err1 != nil || err2 != nil {
		return fmt.Errorf("baselines: bad DNP3 point %q", b)
	}
	*k = PointKey{uint8(gn), uint32(in)}
	return nil
}

// DNP3Model is what a DNP3 channel learned.
type DNP3Model struct {
	// Functions counts the master's function codes.
	Functions Counts[uint8] `json:"functions,omitempty"`
	// Read and Written count the objects named by reads and writes.
	Read    Counts[ObjKey] `json:"read,omitempty"`
	Written Counts[ObjKey] `json:"written,omitempty"`
	// Controls are the output points operated (select, operate, direct
	// operate) with their values: a CROB's control code, an analog
	// output's value.
	Controls map[PointKey]*Envelope `json:"controls,omitempty"`
	// Polls are the repeating reads: of class data ("class 1,2,3") or of
	// the first object named.
	Polls map[PollKey]*Rhythm `json:"polls,omitempty"`
	// Unsolicited counts the objects the outstation reports unsolicited.
	Unsolicited Counts[ObjKey] `json:"unsolicited,omitempty"`
	// Process are the process variables the outstation reports, by
	// static group and index (dnp3_process.go), at most
	// Config.MaxProcessVars; ProcessDropped counts the values of points
	// beyond it.
	Process        map[PointKey]*ProcessVar `json:"process,omitempty"`
	ProcessDropped uint64                   `json:"process_dropped,omitempty"`
}

func (m *DNP3Model) polls() *map[PollKey]*Rhythm { return &m.Polls }

func (m *DNP3Model) items(add func(format string, a ...any)) {
	for fc := range m.Functions {
		add("function %d %s", fc, dnp3.FunctionCode(fc))
	}
	addKeys(add, "read %s", m.Read)
	addKeys(add, "written %s", m.Written)
	addKeys(add, "unsolicited %s", m.Unsolicited)
	for k, env := range m.Controls {
		kt, _ := k.MarshalText()
		add("control %s %s", kt, env.text())
	}
	for k, pv := range m.Process {
		kt, _ := k.MarshalText()
		add("process %s %s", kt, pv.text())
	}
}

func (m *DNP3Model) foldIn(d *Deviation, cfg *Config) {
	it := d.Item
	switch d.Rule {
	case DNP3UnexpectedFunction, DNP3DisableUnsolicited, DNP3TimeChange, DNP3IntegrityScan:
		m.Functions.add(it.Function)
		if o, ok := objOfItem(it); ok {
			if it.Function == uint8(dnp3.FuncWrite) {
				m.Written.add(o)
			} else if it.Function == uint8(dnp3.FuncRead) {
				m.Read.add(o)
			}
		}
	case DNP3UnexpectedControl, DNP3ControlValueOutOfRange:
		if m.Controls == nil {
			m.Controls = map[PointKey]*Envelope{}
		}
		pk := PointKey{uint8(it.Sub), uint32(it.Count)<<16 | uint32(it.Addr)}
		if m.Controls[pk] == nil {
			m.Controls[pk] = &Envelope{}
		}
		m.Controls[pk].add(d.Value, cfg.DistinctValues)
	case ProcessValueOutOfRange, ProcessRateOfChange, ProcessValueFrozen, ProcessStateUnexpected:
		pk := PointKey{uint8(it.Sub), uint32(it.Count)<<16 | uint32(it.Addr)}
		if _, bit, ok := processGroup(pk.Group); ok && it.What == "point" {
			if pv := m.processVar(pk, bit, cfg.MaxProcessVars); pv != nil {
				foldProcess(pv, d.Rule, d.Value)
			}
		}
	}
}

func (m *DNP3Model) sanitize() {
	m.Functions.sanitize()
	m.Read.sanitize()
	m.Written.sanitize()
	m.Unsolicited.sanitize()
	sanitizeEnvelopes(m.Controls)
	sanitizeRhythms(m.Polls)
	for k, pv := range m.Process {
		if static, _, ok := processGroup(k.Group); pv == nil || !ok || static != k.Group {
			delete(m.Process, k)
			continue
		}
		pv.sanitize()
	}
}

// objItem and objOfItem carry an object type in an Item: Item.What is the
// object's text ("g50v1"). An output point is Item{Sub: group, Addr: the
// index's low 16 bits, Count: its high bits, What: "point"}.
func objItem(fc dnp3.FunctionCode, o ObjKey) Item {
	return Item{Function: uint8(fc), What: o.String()}
}

func objOfItem(it Item) (ObjKey, bool) {
	var o ObjKey
	return o, strings.HasPrefix(it.What, "g") && o.UnmarshalText([]byte(it.What)) == nil
}

// DNP3Station is what an outstation says about itself: the link addresses
// it answered from, and its device attributes (group 0) by name.
// Attributes are attacker-controlled text.
type DNP3Station struct {
	Addresses  []uint16          `json:"addresses,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// dnp3Attributes names the text device attributes (group 0 variations,
// IEEE 1815-2012 table 11-8) kept in the inventory.
var dnp3Attributes = map[uint8]string{
	242: "software_version",
	243: "hardware_version",
	245: "location",
	246: "id_code",
	247: "device_name",
	248: "serial_number",
	250: "product_name_and_model",
	252: "manufacturer",
}

// Inventory bounds: a hostile outstation must not grow a device without
// end.
const (
	maxStationAddresses = 16
	maxAttributeLen     = 255
)

// dnp3Model is the DNP3 protocol model (see model).
type dnp3Model struct{}

func (*dnp3Model) info() modelInfo {
	return modelInfo{name: "dnp3", client: RoleDNP3Master, server: RoleDNP3Outstation,
		roleNames: [2]string{"dnp3_master", "dnp3_outstation"}, rules: dnp3Rules}
}

// read: a response whose IIN says the function or an object is not
// supported is an answer, not a success; only successful, decodable
// transactions are learned, unsolicited responses among them.
func (*dnp3Model) read(o *Observation) (txn, bool) {
	d, _ := o.Detail.(*DNP3Obs)
	if d == nil || (d.Request == nil && d.Response == nil) {
		return txn{}, false
	}
	t := txn{master: d.Master, outstation: d.Outstation}
	ok := o.Responded && d.Response != nil && !d.Timeout && d.Response.Err == nil &&
		d.iin()&refused == 0
	if d.unsolicited() {
		t.learnable = ok
		return t, true
	}
	t.answered = o.Responded && d.Response != nil && !d.Timeout
	// A request that expects no response (direct operate no ack, a
	// confirm) is learned as it is.
	alone := !d.Timeout && d.Response == nil && !d.Request.Function.ExpectsResponse()
	t.learnable = d.Request.Err == nil && (ok || alone)
	return t, true
}

func (*dnp3Model) validKey(k ChannelKey) bool { return k.Unit == 0 && k.Port == 0 }

func (*dnp3Model) newChannel() ChannelModel { return &DNP3Model{} }

func (*dnp3Model) channelName(k ChannelKey) string {
	return fmt.Sprintf("%s %s>%s %d>%d", k.Protocol, k.Client, k.Server, k.Master, k.Outstation)
}

func (*dnp3Model) serverName(k ChannelKey) string {
	return fmt.Sprintf("outstation %s address %d", k.Server, k.Outstation)
}

// classPollNames name the reads of class data by the classes they ask for
// (bit c set: class c, g60 variation c+1), made once.
var classPollNames = func() (t [16]string) {
	for mask := 1; mask < 16; mask++ {
		var cs []string
		for c := range 4 {
			if mask&(1<<c) != 0 {
				cs = append(cs, strconv.Itoa(c))
			}
		}
		t[mask] = "class " + strings.Join(cs, ",")
	}
	return t
}()

// classMask returns the classes a read asks for (bit c: class c).
func classMask(m *dnp3.Message) (mask int) {
	for i := range m.Objects {
		if ob := &m.Objects[i]; ob.Group == 60 && ob.Variation >= 1 && ob.Variation <= 4 {
			mask |= 1 << (ob.Variation - 1)
		}
	}
	return mask
}

func (*dnp3Model) pollKey(o *Observation) (PollKey, bool) {
	d := o.Detail.(*DNP3Obs)
	return dnp3PollKey(d)
}

// dnp3PollKey returns the poll key of a read: its classes, or its first
// object when it reads no class data. Like an OPC UA Read's, the key is
// its Node alone ("read:class 1,2,3" in text).
func dnp3PollKey(d *DNP3Obs) (PollKey, bool) {
	r := d.Request
	if r == nil || r.Function != dnp3.FuncRead || len(r.Objects) == 0 {
		return PollKey{}, false
	}
	if mask := classMask(r); mask != 0 {
		return PollKey{Node: classPollNames[mask]}, true
	}
	// The object's name is a constant string: no allocation per read.
	ob := &r.Objects[0]
	name := dnp3.ObjectName(ob.Group, ob.Variation)
	if name == "" {
		name = ObjKey{ob.Group, ob.Variation}.String()
	}
	return PollKey{Node: name}, true
}

// inventory notes the link addresses an outstation answers from and the
// device attributes it reports. It allocates only when something is new.
func (*dnp3Model) inventory(srv *Device, o *Observation) {
	d := o.Detail.(*DNP3Obs)
	if !o.Responded || d.Response == nil || d.Response.Err != nil {
		return
	}
	st := srv.DNP3
	if st == nil || (!slices.Contains(st.Addresses, d.Outstation) && len(st.Addresses) < maxStationAddresses) {
		n := cloneStation(st)
		n.Addresses = append(n.Addresses, d.Outstation)
		slices.Sort(n.Addresses)
		srv.DNP3, st = n, n
	}
	eachAttribute(d.Response, func(name, v string) {
		if old, ok := st.Attributes[name]; ok && old == v {
			return
		}
		n := cloneStation(st)
		if n.Attributes == nil {
			n.Attributes = map[string]string{}
		}
		n.Attributes[name] = v
		srv.DNP3, st = n, n
	})
}

// eachAttribute calls f with the name and text of every device attribute
// of m the inventory keeps (text attributes of dnp3Attributes, at most
// maxAttributeLen octets, invalid UTF-8 replaced).
func eachAttribute(m *dnp3.Message, f func(name, value string)) {
	for i := range m.Objects {
		ob := &m.Objects[i]
		name := dnp3Attributes[ob.Variation]
		if ob.Group != 0 || name == "" {
			continue
		}
		var p dnp3.Point
		it := ob.Points()
		if !it.Next(&p) || p.AttrType != 1 {
			continue
		}
		f(name, strings.ToValidUTF8(string(p.Raw[:min(len(p.Raw), maxAttributeLen)]), "\uFFFD"))
	}
}

// cloneStation copies s (nil: an empty one): a Device's station is
// replaced, never changed, as snapshots share it.
func cloneStation(s *DNP3Station) *DNP3Station {
	if s == nil {
		return &DNP3Station{}
	}
	n := &DNP3Station{Addresses: slices.Clone(s.Addresses)}
	if s.Attributes != nil {
		n.Attributes = make(map[string]string, len(s.Attributes)+1)
		for k, v := range s.Attributes {
			n.Attributes[k] = v
		}
	}
	return n
}

func (*dnp3Model) deviceItems(d *Device) []string {
	if d.DNP3 == nil {
		return nil
	}
	out := []string{fmt.Sprintf("dnp3_addresses %v", d.DNP3.Addresses)}
	for _, k := range slices.Sorted(maps.Keys(d.DNP3.Attributes)) {
		out = append(out, fmt.Sprintf("dnp3_attribute %s %q", k, d.DNP3.Attributes[k]))
	}
	return out
}

// controls reports whether a request's function operates outputs.
func controls(fc dnp3.FunctionCode) bool {
	switch fc {
	case dnp3.FuncSelect, dnp3.FuncOperate, dnp3.FuncDirectOperate, dnp3.FuncDirectOperateNR:
		return true
	}
	return false
}

// controlValue returns the point's value as the model learns it: a
// CROB's control code (g12), an analog output's value (g41); ok is false
// for points of other groups.
func controlValue(group uint8, p *dnp3.Point) (float64, bool) {
	switch group {
	case 12:
		return float64(p.Control), true
	case 41:
		if p.Value.Kind == dnp3.FloatValue {
			return p.Value.Float, true // judged as the envelope does
		}
		return pointNumber(p)
	}
	return 0, false
}

// maxControlPoints bounds the points of one request the model walks (a
// request may name thousands).
const maxControlPoints = dnp3.MaxPoints

// eachControl calls f with every output point a request operates, up to
// maxControlPoints, until f returns false.
func eachControl(r *dnp3.Message, f func(k PointKey, v float64) bool) {
	n := 0
	for i := range r.Objects {
		ob := &r.Objects[i]
		if ob.Group != 12 && ob.Group != 41 {
			continue
		}
		var p dnp3.Point
		for it := ob.Points(); n < maxControlPoints && it.Next(&p); n++ {
			if v, ok := controlValue(ob.Group, &p); ok && !f(PointKey{ob.Group, p.Index}, v) {
				return
			}
		}
	}
}

// timeWritten returns the time a request sets (a write of g50), in ms
// since 1970.
func timeWritten(r *dnp3.Message) (ms uint64, ok bool) {
	if r.Function != dnp3.FuncWrite {
		return 0, false
	}
	for i := range r.Objects {
		if ob := &r.Objects[i]; ob.Group == 50 {
			var p dnp3.Point
			it := ob.Points()
			if it.Next(&p) {
				return p.Value.Uint, p.Value.Kind == dnp3.TimeValue
			}
			return 0, false
		}
	}
	return 0, false
}

// learn folds one successful transaction into the channel's model.
func (*dnp3Model) learn(e *Engine, c *channel, rt *chanRuntime, o *Observation) (f found) {
	d := o.Detail.(*DNP3Obs)
	dm := c.Model.(*DNP3Model)
	f.newItems += learnDNP3Process(e, dm, o, d)
	var sh *dnp3Shape
	if k, ok := dnp3ShapeOf(d); ok {
		if sh = dnp3ShapeEntry(e, c, rt, k); sh != nil && sh.learned {
			// A repeat of a learned read or report only counts.
			if sh.fn != nil {
				*sh.fn++
			}
			for i := range len(sh.key.objects(d)) {
				*sh.objs[i]++
			}
			if sh.poll != nil {
				sh.poll.r.add(o.Time, e.resumed)
			}
			f.poll, f.pollKnown = sh.poll, true
			return f
		}
	}
	if d.unsolicited() {
		for i := range d.Response.Objects {
			ob := &d.Response.Objects[i]
			n, isNew := dm.Unsolicited.add(ObjKey{ob.Group, ob.Variation})
			if isNew {
				f.newItems++
			}
			if sh != nil {
				sh.objs[i] = n
			}
		}
		if sh != nil {
			sh.learned = true
		}
		f.pollKnown = true
		return f
	}
	r := d.Request
	fn, isNew := dm.Functions.add(uint8(r.Function))
	if isNew {
		f.newItems++
	}
	switch {
	case r.Function == dnp3.FuncRead:
		for i := range r.Objects {
			ob := &r.Objects[i]
			n, isNew := dm.Read.add(ObjKey{ob.Group, ob.Variation})
			if isNew {
				f.newItems++
			}
			if sh != nil {
				sh.objs[i] = n
			}
		}
	case r.Function == dnp3.FuncWrite:
		c.Writes++
		for i := range r.Objects {
			ob := &r.Objects[i]
			if _, isNew := dm.Written.add(ObjKey{ob.Group, ob.Variation}); isNew {
				f.newItems++
			}
		}
	case controls(r.Function):
		c.Writes++
		eachControl(r, func(k PointKey, v float64) bool {
			if dm.Controls == nil {
				dm.Controls = map[PointKey]*Envelope{}
			}
			env := dm.Controls[k]
			if env == nil {
				env = &Envelope{}
				dm.Controls[k] = env
				f.newItems++
			}
			if env.add(v, e.cfg.DistinctValues) {
				f.newItems++
			}
			return true
		})
	}
	if pk, ok := dnp3PollKey(d); ok {
		var isNew bool
		if f.poll, isNew = c.learnPoll(e, pk, o.Time, e.resumed); isNew {
			f.newItems++
		}
	}
	f.pollKnown = true
	if sh != nil {
		sh.fn, sh.poll, sh.learned = fn, f.poll, true
	}
	return f
}

// judge compares one request with the channel's model (c is nil for a
// channel never learned). Unsolicited responses are the outstation's
// reporting, not a command: they are not judged. Each request raises at
// most one function-level alert: the most specific rule that applies.
func (*dnp3Model) judge(e *Engine, c *channel, rt *chanRuntime, o *Observation) (f found) {
	d, key := o.Detail.(*DNP3Obs), rt.key
	if c != nil && d.Response != nil {
		judgeDNP3Process(e, c.Model.(*DNP3Model), rt, o, d)
	}
	// Unsolicited reports, and the master's confirmations of them (or of
	// a response that asked for one), are no command.
	if d.unsolicited() || d.Request.Function == dnp3.FuncConfirm {
		return f
	}
	r := d.Request
	fc := r.Function
	if c == nil {
		what, dk := "address", key
		var swept []uint16
		if !e.knownPair(key) {
			// A new master sweeping link addresses is one deviation,
			// whose record names them all.
			what, dk = "master", e.newMasterKey(key)
			swept = e.sweep(key, key.Outstation)
		}
		if a := e.raise(o.Time, DNP3NewMaster, dk, Item{What: what}, &o.Endpoints, o, nil); a == nil && swept != nil {
			e.resign(DNP3NewMaster, dk, Item{What: what}, fmt.Sprintf("DNP3 master %s never seen before sweeps outstation %s: addresses %s",
				key.Client, key.Server, rangesText(swept)))
		} else if a != nil {
			if what == "master" {
				e.sign(a, fmt.Sprintf("DNP3 master %s (address %d) never seen before sends %s to outstation %s address %d",
					key.Client, key.Master, fc, key.Server, key.Outstation))
			} else {
				e.sign(a, fmt.Sprintf("DNP3 master %s sends %s as link address %d to outstation %s address %d for the first time",
					key.Client, fc, key.Master, key.Server, key.Outstation))
			}
		}
		// A new channel controls nothing learned.
		if controls(fc) && r.Err == nil {
			judgeControls(e, o, nil, key, r)
		}
		return f
	}
	dm := c.Model.(*DNP3Model)
	// A read whose shape was learned or judged before: its function is
	// known and its poll found (the memo).
	var sh *dnp3Shape
	if k, ok := dnp3ShapeOf(d); ok {
		if sh = dnp3ShapeEntry(e, c, rt, k); sh != nil && (sh.learned || sh.judged) {
			f.poll, f.pollKnown = sh.poll, true
			if classMask(r)&1 != 0 {
				integrityScan(e, o, dm, key, f.poll)
			}
			return f
		}
	}
	if pk, ok := dnp3PollKey(d); ok {
		f.poll, f.pollKnown = c.poll(pk), true
	}
	known := dm.Functions.Has(uint8(fc))
	if sh != nil && known {
		sh.poll, sh.judged = f.poll, true
	}
	switch {
	case signatureFunction(fc):
		// dnp3_restart, dnp3_stop_application, dnp3_file_operation
		// were raised by signatures.
	case fc == dnp3.FuncDisableUnsolicited:
		if !known {
			if a := e.raise(o.Time, DNP3DisableUnsolicited, key, Item{Function: uint8(fc)}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("DNP3 master %s disables unsolicited reporting of outstation %s address %d, never done on this channel",
					key.Client, key.Server, key.Outstation))
			}
		}
	case fc == dnp3.FuncRecordCurrentTime && !known:
		timeChange(e, o, key, Item{Function: uint8(fc)}, "asks outstation %s address %d to record the current time (LAN time synchronisation), never done on this channel")
	case fc == dnp3.FuncWrite:
		judgeWrite(e, o, dm, key, r)
	case !known:
		if a := e.raise(o.Time, DNP3UnexpectedFunction, key, Item{Function: uint8(fc)}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("DNP3 master %s sends %s (function %d), never used towards outstation %s address %d",
				key.Client, fc, uint8(fc), key.Server, key.Outstation))
		}
	case fc == dnp3.FuncRead && classMask(r)&1 != 0:
		integrityScan(e, o, dm, key, f.poll)
	}
	if controls(fc) && r.Err == nil {
		judgeControls(e, o, dm, key, r)
	}
	return f
}

// judgeWrite raises dnp3_time_change for a write of the time (g50) on a
// channel that never set it, dnp3_unexpected_function for a write of an
// object never written (or the first write of the channel).
func judgeWrite(e *Engine, o *Observation, dm *DNP3Model, key ChannelKey, r *dnp3.Message) {
	for i := range r.Objects {
		ob := &r.Objects[i]
		ok := ObjKey{ob.Group, ob.Variation}
		if dm.Written.Has(ok) {
			continue
		}
		it := objItem(dnp3.FuncWrite, ok)
		if ob.Group == 50 {
			at := ""
			if ms, has := timeWritten(r); has {
				t := time.UnixMilli(int64(ms)).UTC()
				at = fmt.Sprintf(" to %s (%s from the packet's time)", t.Format(time.RFC3339Nano), t.Sub(o.Time).Round(time.Millisecond))
			}
			timeChange(e, o, key, it, "sets the clock of outstation %s address %d"+at+", never done on this channel")
			return
		}
		if a := e.raise(o.Time, DNP3UnexpectedFunction, key, it, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("DNP3 master %s writes %s (%s), never written to outstation %s address %d",
				key.Client, it.What, dnp3.ObjectName(ob.Group, ob.Variation), key.Server, key.Outstation))
		}
		return
	}
}

// timeChange raises dnp3_time_change; format names the act after "DNP3
// master <client> ", with the outstation and its address.
func timeChange(e *Engine, o *Observation, key ChannelKey, it Item, format string) {
	if a := e.raise(o.Time, DNP3TimeChange, key, it, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("DNP3 master %s "+format, key.Client, key.Server, key.Outstation))
	}
}

// integrityScan raises dnp3_integrity_scan for a read of class 0 on a
// channel whose integrity poll is unknown, or that comes before half of
// its learned period has passed.
func integrityScan(e *Engine, o *Observation, dm *DNP3Model, key ChannelKey, pl *poll) {
	it := Item{Function: uint8(dnp3.FuncRead), What: "integrity"}
	switch {
	case !dm.Read.Has(ObjKey{60, 1}):
		if a := e.raise(o.Time, DNP3IntegrityScan, key, it, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("DNP3 master %s reads every point of outstation %s address %d (class 0 integrity scan), never done on this channel",
				key.Client, key.Server, key.Outstation))
		}
	case pl != nil && pl.r.Regular(e.cfg.PollMinSamples) && !pl.seen.IsZero():
		since := elapsed(o.Time, pl.seen)
		if since >= 0 && since < pl.r.Period/2 {
			if a := e.raise(o.Time, DNP3IntegrityScan, key, it, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("DNP3 master %s repeats the integrity scan of outstation %s address %d after %s, learned every %s",
					key.Client, key.Server, key.Outstation, since.Round(time.Millisecond), pl.r.Period.Round(time.Millisecond)))
			}
		}
	}
}

// judgeControls raises dnp3_unexpected_control for the first point never
// operated, else dnp3_control_value_out_of_range for the first value
// outside its point's envelope (dm nil: a channel never learned).
func judgeControls(e *Engine, o *Observation, dm *DNP3Model, key ChannelKey, r *dnp3.Message) {
	eachControl(r, func(k PointKey, v float64) bool {
		var env *Envelope
		if dm != nil {
			env = dm.Controls[k]
		}
		// The item is the point, whatever the function: a select and
		// its operate are one deviation.
		it := Item{Sub: uint16(k.Group), Addr: uint16(k.Index), What: "point"}
		if k.Index > math.MaxUint16 {
			it.Count = uint16(k.Index >> 16)
		}
		if env == nil {
			if a := e.raiseValue(o.Time, DNP3UnexpectedControl, key, it, v, "", &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("DNP3 master %s operates %s %d of outstation %s address %d (%s %s), never operated",
					key.Client, pointNoun(k.Group), k.Index, key.Server, key.Outstation, r.Function, controlText(k.Group, v)))
			}
			return false
		}
		if env.Contains(v, e.cfg.ValueSlack) {
			return true
		}
		if a := e.raiseValue(o.Time, DNP3ControlValueOutOfRange, key, it, v, "", &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("DNP3 master %s operates %s %d of outstation %s address %d with %s, outside the learned %s",
				key.Client, pointNoun(k.Group), k.Index, key.Server, key.Outstation, controlText(k.Group, v), env.describe()))
		}
		return false
	})
}

func pointNoun(group uint8) string {
	if group == 12 {
		return "binary output"
	}
	return "analog output"
}

// controlText renders a control's value: a CROB's operation, an analog
// output's number.
func controlText(group uint8, v float64) string {
	if group == 12 {
		cc := dnp3.ControlCode(v)
		s := cc.OpTypeName()
		if tc := cc.TripClose(); tc != 0 {
			s = cc.TripCloseName() + " " + s
		}
		return fmt.Sprintf("control code 0x%02x %s", uint8(v), s)
	}
	return "value " + strconv.FormatFloat(v, 'g', -1, 64)
}

// signatureFunction reports the functions that raise a rule of their own
// whatever the baseline (signatures).
func signatureFunction(fc dnp3.FunctionCode) bool {
	switch fc {
	case dnp3.FuncColdRestart, dnp3.FuncWarmRestart, dnp3.FuncStopApplication:
		return true
	}
	return fileFunction(fc)
}

func fileFunction(fc dnp3.FunctionCode) bool {
	return fc >= dnp3.FuncOpenFile && fc <= dnp3.FuncAbortFile
}

// fileObjects reports whether a message names file-control objects (g70).
func fileObjects(m *dnp3.Message) bool {
	for i := range m.Objects {
		if m.Objects[i].Group == 70 {
			return true
		}
	}
	return false
}

// authError reports a secure authentication error object (g120 v7) in a
// message.
func authError(m *dnp3.Message) bool {
	for i := range m.Objects {
		if ob := &m.Objects[i]; ob.Group == 120 && ob.Variation == 7 {
			return true
		}
	}
	return false
}

// signatures raises the rules that need no baseline (restarts, stopping
// the application, file operations, authentication failures) and counts
// fuzzing indicators: requests that do not decode, responses whose IIN
// says the function or an object is not supported or a parameter is bad.
func (*dnp3Model) signatures(e *Engine, o *Observation, rt *chanRuntime) {
	d, key := o.Detail.(*DNP3Obs), &rt.key
	if r := d.Request; r != nil {
		fc := r.Function
		switch {
		case fc == dnp3.FuncColdRestart || fc == dnp3.FuncWarmRestart:
			if a := e.raise(o.Time, DNP3Restart, *key, Item{Function: uint8(fc)}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("DNP3 master %s orders a %s of outstation %s address %d",
					key.Client, strings.ReplaceAll(fc.String(), "_", " "), key.Server, key.Outstation))
			}
		case fc == dnp3.FuncStopApplication:
			if a := e.raise(o.Time, DNP3StopApplication, *key, Item{Function: uint8(fc)}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("DNP3 master %s stops an application of outstation %s address %d",
					key.Client, key.Server, key.Outstation))
			}
		case fileFunction(fc) || fileObjects(r):
			// One deviation per channel: opening, reading or writing
			// and closing a file is one act.
			if a := e.raise(o.Time, DNP3FileOperation, *key, Item{What: "file"}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("DNP3 master %s sends %s to outstation %s address %d (file transfer)",
					key.Client, fc, key.Server, key.Outstation))
			}
		}
		if r.Err != nil {
			e.fuzzIndicator(o, rt, "undecodable requests")
		}
	}
	if resp := d.Response; resp != nil {
		if authError(resp) || (d.Request != nil && authError(d.Request)) {
			if a := e.raise(o.Time, DNP3AuthFailure, *key, Item{}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("DNP3 secure authentication error between master %s and outstation %s address %d",
					key.Client, key.Server, key.Outstation))
			}
		}
		if d.Request != nil && resp.IIN&refused != 0 {
			e.fuzzIndicator(o, rt, "requests refused as unsupported")
		}
	}
}

// dnp3Scan is the scan rule's state of one (client, server)
// (pairRuntime.state): the distinct outstation addresses asked, and the
// distinct functions refused as unsupported, within a tumbling window.
type dnp3Scan struct {
	winStart time.Time
	addrs    bitset256
	funcs    bitset256
}

// rates raises scan for a master that sweeps link addresses or function
// codes of one outstation's IP.
func (*dnp3Model) rates(e *Engine, o *Observation, rt *chanRuntime, pr *pairRuntime) {
	d, key := o.Detail.(*DNP3Obs), &rt.key
	if d.Request == nil {
		return
	}
	sw, _ := pr.state.(*dnp3Scan)
	if sw == nil {
		sw = &dnp3Scan{winStart: o.Time}
		pr.state = sw
	}
	if dt := elapsed(o.Time, sw.winStart); dt >= e.cfg.Window || dt < 0 {
		*sw = dnp3Scan{winStart: o.Time}
	}
	what, n := "", 0
	if c := sw.addrs.set(uint8((uint32(d.Outstation) * 2654435761) >> 24)); c >= e.cfg.ScanDistinct {
		what, n = "addresses", c
	}
	if d.iin()&(dnp3.IINNoFuncCodeSupport|dnp3.IINObjectUnknown) != 0 {
		if c := sw.funcs.set(uint8(d.Request.Function)); c >= e.cfg.ScanDistinct {
			what, n = "functions", c
		}
	}
	if what != "" {
		sk := ChannelKey{Protocol: key.Protocol, Client: key.Client, Server: key.Server}
		if a := e.raise(o.Time, Scan, sk, Item{What: what}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Scan: %s probes %d distinct DNP3 %s of %s within %s",
				key.Client, n, what, key.Server, e.cfg.Window))
		}
	}
}
