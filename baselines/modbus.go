package baselines

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

func init() { register(Modbus, &modbusModel{}) }

// The Modbus/TCP model (Modbus Messaging on TCP/IP Implementation Guide
// v1.0b; Modbus Application Protocol v1.1b3, "MAP" below). A channel is
// (client, server, unit id); it learns the function codes used, the
// address ranges read and written per data table, the values written per
// register, the diagnostics sub-functions and the polls.

// Modbus is Modbus/TCP.
const Modbus Protocol = 1

// The roles of the ends of a Modbus channel.
const (
	RoleModbusMaster Roles = 1 << 0 // sends Modbus requests (client)
	RoleModbusSlave  Roles = 1 << 1 // answers Modbus requests (server)
)

// The Modbus rules (docs/alerts.md). The numbers are stable.
const (
	NewMaster                Rule = 2
	NewChannel               Rule = 3
	UnexpectedWrite          Rule = 5
	DiagnosticCommand        Rule = 7
	DeviceIdentificationRead Rule = 8
	Scan                     Rule = 9
	ExceptionBurst           Rule = 12
)

var modbusRules = []ruleInfo{
	{NewMaster, "new_master", 1, "Unauthorized Command Message", true, true, []string{"T0848", "T0855"}},
	{NewChannel, "new_channel", 2, "Unauthorized Command Message", true, true, []string{"T0886", "T0855"}},
	{UnexpectedWrite, "unexpected_write", 1, "Unauthorized Command Message", true, true, []string{"T0855", "T0836"}},
	{DiagnosticCommand, "diagnostic_command", 1, "Device Restart/Shutdown", false, false, []string{"T0816", "T0814"}},
	{DeviceIdentificationRead, "device_identification_read", 2, "Remote System Information Discovery", false, false, []string{"T0888"}},
	{Scan, "scan", 2, "Remote System Discovery", false, false, []string{"T0846", "T0888"}},
	{ExceptionBurst, "exception_burst", 2, "Protocol Anomaly", false, false, []string{"T0806", "T0846"}},
}

// ModbusObs is the Detail of a Modbus observation (MAP section 6 for the
// function codes).
type ModbusObs struct {
	TransactionID uint16
	Unit          uint8
	// Function is the request's function code, without the 0x80 exception
	// bit.
	Function uint8
	// Exception is the exception code of the response (MAP 7), 0 when the
	// response was normal.
	Exception uint8
	// Timeout is true when no response came before the pairing deadline.
	Timeout bool
	// SubFunction is the FC 8 diagnostics sub-function (6.8).
	SubFunction uint16
	// UMAS is the Schneider UMAS function of an FC 90 request (0: none;
	// protocols/modbus/umas.go).
	UMAS modbus.UMASFunction
	// MEIType is the FC 43 MEI type (13 CANopen, 14 device identification;
	// 6.21).
	MEIType uint8
	// ReadTable/Read is the address range read (FC 1-4, 23).
	ReadTable modbus.Table
	Read      Range
	// WriteTable/Write is the address range written (FC 5, 6, 15, 16, 22,
	// 23).
	WriteTable modbus.Table
	Write      Range
	// Values are the written values: Values[i] was written to
	// Write.Start+i. Coils are 0 or 1. Empty for FC 22 (mask write).
	Values []uint16
	// Ident is the identity reported by FC 43/14 or FC 17; nil otherwise.
	Ident *DeviceIdent
	// ReadValues are the values a read returned (the decoder's view of
	// the response, read during Observe only): ReadValues.At(i) was read
	// at Read.Start+i (coils and discrete inputs 0 or 1). Values beyond
	// Read.Count are ignored.
	ReadValues modbus.Values
}

func (*ModbusObs) detail() {}

// written returns the values written to the write range (values beyond
// Write.Count are ignored).
func (m *ModbusObs) written() []uint16 { return m.Values[:min(len(m.Values), int(m.Write.Count))] }

// Range is a contiguous run of Modbus addresses [Start, Start+Count).
// Count 0 means no range.
type Range struct {
	Start uint16 `json:"start"`
	Count uint16 `json:"count"`
}

// End returns the first address after the range, as a uint32 so that a range
// ending at 65535 does not wrap.
func (r Range) End() uint32 { return uint32(r.Start) + uint32(r.Count) }

// DeviceIdent is the identity a Modbus device reports about itself:
// FC 43/14 objects 0x00-0x06 (6.21) and the FC 17 server id (6.13). Every
// field is attacker-controlled text.
type DeviceIdent struct {
	VendorName  string `json:"vendor_name,omitempty"`
	ProductCode string `json:"product_code,omitempty"`
	Revision    string `json:"revision,omitempty"`
	VendorURL   string `json:"vendor_url,omitempty"`
	ProductName string `json:"product_name,omitempty"`
	ModelName   string `json:"model_name,omitempty"`
	UserAppName string `json:"user_application_name,omitempty"`
	ServerID    string `json:"server_id,omitempty"` // FC 17, hex or text
	// Unit is the unit id that reported this identity. Behind one address
	// a gateway's units are different devices, each with its own
	// identity: the inventory keeps the first unit's and neither merges
	// nor compares another's (device_identity_changed).
	Unit uint8 `json:"unit"`
}

// RegKey names one register or coil.
type RegKey struct {
	Table modbus.Table
	Addr  uint16
}

// MarshalText writes "holding_registers:40".
func (k RegKey) MarshalText() ([]byte, error) {
	return []byte(k.Table.String() + ":" + strconv.Itoa(int(k.Addr))), nil
}

// UnmarshalText parses "holding_registers:40".
func (k *RegKey) UnmarshalText(b []byte) error {
	t, a, ok := strings.Cut(string(b), ":")
	if !ok {
		return fmt.Errorf("baselines: bad register key %q", b)
	}
	if err := k.Table.UnmarshalText([]byte(t)); err != nil {
		return err
	}
	n, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return fmt.Errorf("baselines: bad register key %q: %w", b, err)
	}
	k.Addr = uint16(n)
	return nil
}

// ModbusModel is what a Modbus channel learned.
type ModbusModel struct {
	// Functions counts the function codes used.
	Functions Counts[uint8] `json:"functions,omitempty"`
	// Read and Written are the addresses read and written per table.
	Read    map[modbus.Table]RangeSet `json:"read,omitempty"`
	Written map[modbus.Table]RangeSet `json:"written,omitempty"`
	// Values are the values written per register.
	Values map[RegKey]*Envelope `json:"values,omitempty"`
	// Polls are the repeating reads (function, table, range).
	Polls map[PollKey]*Rhythm `json:"polls,omitempty"`
	// Diagnostics counts the FC 8 sub-functions used.
	Diagnostics Counts[uint16] `json:"diagnostics,omitempty"`
	// Process are the process variables read (process.go), at most
	// Config.MaxProcessVars; ProcessDropped counts the values read of
	// variables beyond it.
	Process        map[RegKey]*ProcessVar `json:"process,omitempty"`
	ProcessDropped uint64                 `json:"process_dropped,omitempty"`
}

func (m *ModbusModel) polls() *map[PollKey]*Rhythm { return &m.Polls }

func (m *ModbusModel) items(add func(format string, a ...any)) {
	for fc := range m.Functions {
		add("function %d %s", fc, functionName(fc))
	}
	addKeys(add, "diagnostics sub-function %d", m.Diagnostics)
	for t, rs := range m.Read {
		add("read %s %s", t, rs.text())
	}
	for t, rs := range m.Written {
		add("written %s %s", t, rs.text())
	}
	for k, env := range m.Values {
		kt, _ := k.MarshalText()
		add("value %s %s", kt, env.text())
	}
	for k, pv := range m.Process {
		kt, _ := k.MarshalText()
		add("process %s %s", kt, pv.text())
	}
}

func (m *ModbusModel) foldIn(d *Deviation, cfg *Config) {
	it := d.Item
	switch d.Rule {
	case UnexpectedFunction:
		if it.What != "service" {
			m.Functions.add(it.Function)
		}
	case UnexpectedWrite:
		if m.Written == nil {
			m.Written = map[modbus.Table]RangeSet{}
		}
		m.Written[it.Table], _ = m.Written[it.Table].Add(Range{it.Addr, max(it.Count, 1)})
	case WriteValueOutOfRange:
		if it.Node != "" {
			return
		}
		if m.Values == nil {
			m.Values = map[RegKey]*Envelope{}
		}
		rk := RegKey{it.Table, it.Addr}
		if m.Values[rk] == nil {
			m.Values[rk] = &Envelope{}
		}
		m.Values[rk].add(d.Value, cfg.DistinctValues)
	case ProcessValueOutOfRange, ProcessRateOfChange, ProcessValueFrozen, ProcessStateUnexpected:
		if it.Node != "" || !learnable(it.Table) {
			return
		}
		rk := RegKey{it.Table, it.Addr}
		pv := m.Process[rk]
		if pv == nil {
			if len(m.Process) >= cfg.MaxProcessVars {
				return
			}
			if m.Process == nil {
				m.Process = map[RegKey]*ProcessVar{}
			}
			pv = &ProcessVar{Bit: bitTable(it.Table)}
			m.Process[rk] = pv
		}
		foldProcess(pv, d.Rule, d.Value)
	}
}

func (m *ModbusModel) sanitize() {
	m.Functions.sanitize()
	m.Diagnostics.sanitize()
	sanitizeEnvelopes(m.Values)
	sanitizeRhythms(m.Polls)
	for k, pv := range m.Process {
		if pv == nil || !learnable(k.Table) {
			delete(m.Process, k)
			continue
		}
		pv.sanitize()
	}
	for _, tables := range []map[modbus.Table]RangeSet{m.Read, m.Written} {
		for t, rs := range tables {
			tables[t] = rs.repair()
		}
	}
}

// modbusModel is the Modbus protocol model (see model).
type modbusModel struct{}

func (*modbusModel) info() modelInfo {
	return modelInfo{name: "modbus", client: RoleModbusMaster, server: RoleModbusSlave,
		roleNames: [2]string{"modbus_master", "modbus_slave"}, rules: modbusRules}
}

// read: an exception is an answer, but only a normal response is
// learned.
func (*modbusModel) read(o *Observation) (txn, bool) {
	m, _ := o.Detail.(*ModbusObs)
	if m == nil {
		return txn{}, false
	}
	answered := o.Responded && !m.Timeout
	return txn{unit: m.Unit, answered: answered, learnable: answered && m.Exception == 0}, true
}

func (*modbusModel) validKey(k ChannelKey) bool {
	return k.Port == 0 && k.Master == 0 && k.Outstation == 0
}

func (*modbusModel) newChannel() ChannelModel { return &ModbusModel{} }

func (*modbusModel) channelName(k ChannelKey) string {
	return fmt.Sprintf("%s %s>%s unit %d", k.Protocol, k.Client, k.Server, k.Unit)
}

func (*modbusModel) serverName(k ChannelKey) string {
	return fmt.Sprintf("PLC %s unit %d", k.Server, k.Unit)
}

func (*modbusModel) pollKey(o *Observation) (PollKey, bool) {
	return modbusPollKey(o.Detail.(*ModbusObs))
}

// modbusPollKey returns the poll key of a read without a write.
func modbusPollKey(m *ModbusObs) (PollKey, bool) {
	if m.ReadTable == modbus.TableNone || m.WriteTable != modbus.TableNone || m.Read.Count == 0 {
		return PollKey{}, false
	}
	return PollKey{Function: m.Function, Table: m.ReadTable, Start: m.Read.Start, Count: m.Read.Count}, true
}

// inventory notes the units a server answers and the identity it reports.
func (*modbusModel) inventory(srv *Device, o *Observation) {
	m := o.Detail.(*ModbusObs)
	if !o.Responded || m.Timeout || m.Exception != 0 {
		return
	}
	if !hasUnit(srv, m.Unit) {
		srv.Units = append(srv.Units, uint16(m.Unit))
		slices.Sort(srv.Units)
	}
	if m.Ident != nil && (srv.Ident == nil || srv.Ident.Unit == m.Unit) {
		id := *m.Ident
		id.Unit = m.Unit
		if srv.Ident != nil {
			id = mergeIdent(*srv.Ident, id)
		}
		srv.Ident = &id
	}
}

func hasUnit(d *Device, u uint8) bool {
	for _, v := range d.Units {
		if v == uint16(u) {
			return true
		}
	}
	return false
}

// mergeIdent returns old with the fields n reports replaced.
func mergeIdent(old, n DeviceIdent) DeviceIdent {
	pick(&old.VendorName, n.VendorName)
	pick(&old.ProductCode, n.ProductCode)
	pick(&old.Revision, n.Revision)
	pick(&old.VendorURL, n.VendorURL)
	pick(&old.ProductName, n.ProductName)
	pick(&old.ModelName, n.ModelName)
	pick(&old.UserAppName, n.UserAppName)
	pick(&old.ServerID, n.ServerID)
	return old
}

// pick sets *a to b when b is known: merging a reported identity into
// the inventory's keeps the fields it does not report.
func pick(a *string, b string) {
	if b != "" {
		*a = b
	}
}

func (*modbusModel) deviceItems(d *Device) []string {
	var out []string
	if len(d.Units) > 0 {
		out = append(out, fmt.Sprintf("units %v", d.Units))
	}
	if d.Ident != nil {
		out = append(out, fmt.Sprintf("modbus_identity %q %q %q %q", d.Ident.VendorName, d.Ident.ProductCode, d.Ident.Revision, d.Ident.ModelName))
	}
	return out
}

// modbusRuntime is a Modbus channel's state of this run (chanRuntime.state).
type modbusRuntime struct {
	// exceptions is the exception_burst window.
	exceptions slidingCount
	// shapes is the memo of learned request shapes (modbus_memo.go).
	shapes *shapeMemo
}

// memoizable reports whether a request's shape fits the memo: its tables
// are the data tables of the model.
func memoizable(m *ModbusObs) bool {
	return m.ReadTable < modbus.TableFileRecords && m.WriteTable < modbus.TableFileRecords
}

// learnable reports whether the model learns the addresses of table t.
func learnable(t modbus.Table) bool { return t != modbus.TableNone && t < modbus.TableFileRecords }

// shapeOf returns the memo entry of m's shape when c's transactions go
// through the memo, else nil.
func shapeOf(e *Engine, c *channel, rt *chanRuntime, m *ModbusObs) *shape {
	if !memoizable(m) {
		return nil
	}
	st, _ := rt.state.(*modbusRuntime)
	if !e.memo(c, st != nil && st.shapes != nil) {
		return nil
	}
	if st == nil {
		st = stateIn[modbusRuntime](&rt.state)
	}
	if st.shapes == nil {
		st.shapes = &shapeMemo{}
	}
	return st.shapes.entry(shapeKeyOf(m))
}

// learn folds one successful transaction into the channel's model. It
// allocates only when the transaction brings something new.
func (*modbusModel) learn(e *Engine, c *channel, rt *chanRuntime, o *Observation) (f found) {
	m := o.Detail.(*ModbusObs)
	mm := c.Model.(*ModbusModel)
	if m.Function == 8 {
		mm.Diagnostics.add(m.SubFunction)
	}
	write := learnable(m.WriteTable) && m.Write.Count > 0
	sh := shapeOf(e, c, rt, m)
	f.newItems += learnProcess(e, mm, o, m, sh)
	if sh != nil && sh.learned {
		// A repeat of a learned shape only counts: its function is in
		// Functions (sh.count), its ranges in Read and Written, its
		// poll in Polls.
		*sh.count++
		if write {
			c.Writes++
			f.newItems += learnValues(e, mm, m, sh)
		}
		if sh.poll != nil {
			sh.poll.r.add(o.Time, e.resumed)
		}
		f.poll, f.pollKnown = sh.poll, true
		return f
	}
	count, isNew := mm.Functions.add(m.Function)
	if isNew {
		f.newItems++
	}
	if learnable(m.ReadTable) && m.Read.Count > 0 {
		if mm.Read == nil {
			mm.Read = map[modbus.Table]RangeSet{}
		}
		if rs, grew := mm.Read[m.ReadTable].Add(m.Read); grew {
			mm.Read[m.ReadTable] = rs
			f.newItems++
		}
	}
	if write {
		c.Writes++
		if mm.Written == nil {
			mm.Written = map[modbus.Table]RangeSet{}
		}
		if rs, grew := mm.Written[m.WriteTable].Add(m.Write); grew {
			mm.Written[m.WriteTable] = rs
			f.newItems++
		}
		f.newItems += learnValues(e, mm, m, sh)
	}
	if pk, ok := modbusPollKey(m); ok {
		var isNew bool
		if f.poll, isNew = c.learnPoll(e, pk, o.Time, e.resumed); isNew {
			f.newItems++
		}
	}
	f.pollKnown = true
	if sh != nil {
		sh.learned, sh.count, sh.poll, sh.pollSet = true, count, f.poll, true
	}
	return f
}

// learnValues folds the written values into their registers' envelopes,
// found through the memo entry sh when it has them (sh may be nil), and
// returns how many envelopes grew.
func learnValues(e *Engine, mm *ModbusModel, m *ModbusObs, sh *shape) (grew int) {
	for i, v := range m.written() {
		env := sh.reg(i)
		if env == nil {
			if mm.Values == nil {
				mm.Values = map[RegKey]*Envelope{}
			}
			k := RegKey{m.WriteTable, m.Write.Start + uint16(i)}
			if env = mm.Values[k]; env == nil {
				env = &Envelope{}
				mm.Values[k] = env
			}
			sh.setReg(i, env)
		}
		if env.add(float64(v), e.cfg.DistinctValues) {
			grew++
		}
	}
	return grew
}

// judge compares one request with the channel's model (c is nil for a
// channel never learned). Requests are judged whatever the response: an
// attempted write refused with an exception is still an attempt.
func (*modbusModel) judge(e *Engine, c *channel, rt *chanRuntime, o *Observation) (f found) {
	m, key := o.Detail.(*ModbusObs), rt.key
	write := m.WriteTable != modbus.TableNone && m.Write.Count > 0
	if c == nil {
		rule, what, dk := NewChannel, "unit", key
		if !e.knownPair(key) {
			// A sweep of units by a new master is one deviation: its
			// first unit's (the alert names that unit, its count the
			// requests).
			rule, what, dk = NewMaster, "master", e.newMasterKey(key)
		}
		verb := "reads from"
		if m.WriteTable != modbus.TableNone {
			verb = "writes to"
		}
		var swept []uint16
		if rule == NewMaster {
			swept = e.sweep(key, uint16(key.Unit))
		}
		if a := e.raise(o.Time, rule, dk, Item{What: what}, &o.Endpoints, o, nil); a == nil && swept != nil {
			// The sweep's record names every unit asked: its update
			// line and the alert log say them.
			e.resign(rule, dk, Item{What: what}, fmt.Sprintf("Modbus master %s never seen before sweeps PLC %s: units %s",
				key.Client, key.Server, rangesText(swept)))
		} else if a != nil {
			if rule == NewMaster {
				e.sign(a, fmt.Sprintf("Modbus master %s never seen before %s PLC %s unit %d (function %d)",
					key.Client, verb, key.Server, key.Unit, m.Function))
			} else {
				e.sign(a, fmt.Sprintf("Modbus master %s %s unit %d of PLC %s for the first time (function %d)",
					key.Client, verb, key.Unit, key.Server, m.Function))
			}
		}
		// A new channel has no learned writes: every write is unexpected.
		if write {
			unexpectedWrite(e, o, m, key)
		}
		return f
	}
	mm := c.Model.(*ModbusModel)
	// The memo entry of the shape remembers what judging looked up:
	// Functions and Written only grow, so what was found stays found.
	sh := shapeOf(e, c, rt, m)
	if sh != nil {
		if !sh.pollSet {
			if pk, ok := modbusPollKey(m); ok {
				sh.poll = c.poll(pk)
			}
			sh.pollSet = true
		}
		f.poll, f.pollKnown = sh.poll, true
	}
	var count *uint64
	if sh != nil {
		count = sh.count
	}
	if count == nil {
		if count = mm.Functions[m.Function]; sh != nil {
			sh.count = count
		}
	}
	if count == nil {
		if a := e.raise(o.Time, UnexpectedFunction, key, Item{Function: m.Function}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Modbus master %s sends function %d (%s), never used towards PLC %s unit %d",
				key.Client, m.Function, functionName(m.Function), key.Server, key.Unit))
		}
	}
	judgeProcess(e, mm, rt, o, m, sh)
	if !write {
		return f
	}
	if sh == nil || !sh.written {
		if !mm.Written[m.WriteTable].Contains(m.Write) {
			unexpectedWrite(e, o, m, key)
			return f
		}
		if sh != nil {
			sh.written = true
		}
	}
	for i, v := range m.written() {
		env := sh.reg(i)
		rk := RegKey{m.WriteTable, m.Write.Start + uint16(i)}
		if env == nil {
			env = mm.Values[rk]
			sh.setReg(i, env) // stays nil until the register is learned
		}
		if env == nil || env.Contains(float64(v), e.cfg.ValueSlack) {
			continue
		}
		if a := e.raiseValue(o.Time, WriteValueOutOfRange, key, Item{Table: rk.Table, Addr: rk.Addr},
			float64(v), "", &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Modbus master %s writes %d to %s %d of PLC %s unit %d, outside the learned %s",
				key.Client, v, tableNoun(rk.Table), rk.Addr, key.Server, key.Unit, env.describe()))
		}
		return f // one value alert per transaction
	}
	return f
}

func unexpectedWrite(e *Engine, o *Observation, m *ModbusObs, key ChannelKey) {
	item := Item{Table: m.WriteTable, Addr: m.Write.Start, Count: m.Write.Count}
	if a := e.raise(o.Time, UnexpectedWrite, key, item, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("Modbus master %s writes %s %s never written on PLC %s unit %d",
			key.Client, tableNoun(m.WriteTable), rangeText(m.Write), key.Server, key.Unit))
	}
}

// diagnosticSub reports the FC 8 sub-functions that change a device's
// state (MAP 6.8.1): 01 restart communications, 04 force listen only
// mode, 0A clear counters and diagnostic register, 14 clear overrun
// counter and flag. Echo (00) and the counter reads are harmless.
func diagnosticSub(sub uint16) bool {
	switch modbus.SubFunction(sub) {
	case modbus.SubRestartCommunicationsOption, modbus.SubForceListenOnlyMode,
		modbus.SubClearCountersAndDiagnosticReg, modbus.SubClearOverrunCounterAndFlag:
		return true
	}
	return false
}

// signatures raises the rules that need no baseline: diagnostic_command
// and device_identification_read (only FC 8, 17 and 43 can raise them),
// program_transfer (UMAS, FC 90; umas.go), and counts illegal-function replies for protocol_fuzzing.
func (*modbusModel) signatures(e *Engine, o *Observation, rt *chanRuntime) {
	m, key := o.Detail.(*ModbusObs), &rt.key
	switch {
	case m.Function == 8 && diagnosticSub(m.SubFunction):
		if a := e.raise(o.Time, DiagnosticCommand, *key, Item{Function: 8, Sub: m.SubFunction}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Modbus master %s sends diagnostics %s (FC 8 sub-function %d) to PLC %s unit %d",
				key.Client, modbus.SubFunction(m.SubFunction).Phrase(), m.SubFunction, key.Server, key.Unit))
		}
	case m.Function == 43 && m.MEIType == 14, m.Function == 17:
		if a := e.raise(o.Time, DeviceIdentificationRead, *key, Item{Function: m.Function}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Modbus master %s reads the identity of PLC %s unit %d (%s)",
				key.Client, key.Server, key.Unit, functionName(m.Function)))
		}
	}
	if m.UMAS != 0 {
		umasSignatures(e, o, m, key)
	}
	if m.Exception == uint8(modbus.ExIllegalFunction) {
		e.fuzzIndicator(o, rt, "illegal-function replies")
	}
}

// scanWindow is the scan rule's state of one (client, server)
// (pairRuntime.state): the distinct units, and the distinct functions and
// addresses of failed requests, within a tumbling window.
type scanWindow struct {
	winStart time.Time
	units    bitset256
	funcs    bitset256
	addrs    bitset256
}

// rates raises exception_burst (one channel's exception window) and scan
// (the pair's scan window).
func (*modbusModel) rates(e *Engine, o *Observation, rt *chanRuntime, pr *pairRuntime) {
	m, key := o.Detail.(*ModbusObs), &rt.key
	if m.Exception != 0 {
		if n := stateIn[modbusRuntime](&rt.state).exceptions.add(o.Time, e.cfg.Window); n >= uint32(e.cfg.BurstExceptions) {
			if a := e.raise(o.Time, ExceptionBurst, *key, Item{}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("Exception burst: %d exception responses within %s from %s to master %s (last code %d)",
					n, e.cfg.Window, serverName(*key), key.Client, m.Exception))
			}
		}
	}
	// The scan window stays a tumbling one: it holds sets of distinct
	// units, functions and addresses, which do not slide cheaply, and a
	// sweep repeats its probes, so the next window catches what a reset
	// split.
	sw := stateIn[scanWindow](&pr.state)
	if sw.winStart.IsZero() {
		sw.winStart = o.Time
	}
	// The window starts afresh when elapsed(o.Time, winStart) is < 0 or
	// >= Window. The elapsed time lies within (ds-1 s, ds+1 s), ds the
	// difference of the Unix seconds, so 1 <= ds and ds+1 <= the whole
	// seconds of Window keep the window without calling elapsed: most
	// requests (TestScanWindowStart).
	if ds := o.Time.Unix() - sw.winStart.Unix(); ds < 1 || ds >= int64(e.cfg.Window/time.Second) {
		if d := elapsed(o.Time, sw.winStart); d >= e.cfg.Window || d < 0 {
			*sw = scanWindow{winStart: o.Time}
		}
	}
	what, n := "", 0
	if c := sw.units.set(m.Unit); c >= e.cfg.ScanDistinct {
		what, n = "units", c
	}
	if failed(m) {
		if c := sw.funcs.set(m.Function); c >= e.cfg.ScanDistinct {
			what, n = "functions", c
		}
		addr := m.Read.Start
		if m.ReadTable == modbus.TableNone {
			addr = m.Write.Start
		}
		if c := sw.addrs.set(uint8((uint32(addr) * 2654435761) >> 24)); c >= e.cfg.ScanDistinct {
			what, n = "addresses", c
		}
	}
	if what != "" {
		sk := ChannelKey{Protocol: key.Protocol, Client: key.Client, Server: key.Server}
		if a := e.raise(o.Time, Scan, sk, Item{What: what}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Scan: %s probes %d distinct %s of %s within %s",
				key.Client, n, what, key.Server, e.cfg.Window))
		}
	}
}

// failed reports a request a scanner would see fail: no answer, or an
// exception saying the function, address, value or unit does not exist
// (MAP 7: codes 01, 02, 03, 0A, 0B).
func failed(m *ModbusObs) bool {
	if m.Timeout {
		return true
	}
	if m.Exception == 0 { // nearly every request
		return false
	}
	switch modbus.ExceptionCode(m.Exception) {
	case modbus.ExIllegalFunction, modbus.ExIllegalDataAddress, modbus.ExIllegalDataValue,
		modbus.ExGatewayPathUnavailable, modbus.ExGatewayTargetDeviceFailedToRespond:
		return true
	}
	return false
}

// bitset256 is a set of bytes that knows its size: a scan window sees the
// same unit on nearly every request, and counting the bits each time cost
// more than the set.
type bitset256 struct {
	w [4]uint64
	n int
}

// set adds i and returns the size of the set.
func (b *bitset256) set(i uint8) int {
	if bit := uint64(1) << (i & 63); b.w[i>>6]&bit == 0 {
		b.w[i>>6] |= bit
		b.n++
	}
	return b.n
}

// functionName names a function code in sentences and items: the name of
// protocols/modbus's function table, "unknown" for a code that is not
// public there.
func functionName(fc uint8) string {
	f := modbus.FunctionCode(fc)
	if f.IsException() || !f.Known() {
		return "unknown"
	}
	return f.String()
}

// tableNoun names one address of a data table in sentences ("holding
// register"), from the table's name; anything but the other three data
// tables is a holding register.
func tableNoun(t modbus.Table) string {
	switch t {
	case modbus.TableCoils, modbus.TableDiscreteInputs, modbus.TableInputRegisters:
		return strings.ReplaceAll(strings.TrimSuffix(t.String(), "s"), "_", " ")
	}
	return "holding register"
}

func rangeText(r Range) string {
	if r.Count <= 1 {
		return fmt.Sprint(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End()-1)
}
