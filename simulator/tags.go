package simulator

import (
	"fmt"
	"math"
	"strings"
)

// Table is the Modbus data table a tag lives in (Modbus Application Protocol
// Specification V1.1b3, 4.3: coils, discrete inputs, input registers, holding
// registers).
type Table uint8

// The four Modbus tables.
const (
	Coils Table = iota + 1
	DiscreteInputs
	InputRegisters
	HoldingRegisters
)

func (t Table) String() string {
	switch t {
	case Coils:
		return "coil"
	case DiscreteInputs:
		return "discrete_input"
	case InputRegisters:
		return "input_register"
	case HoldingRegisters:
		return "holding_register"
	}
	return "unknown"
}

// Kind is a tag's value type.
type Kind uint8

// Tag value types: a boolean (coil or discrete input) or an analogue value
// carried in one unsigned 16-bit register as raw = round(value*Scale).
const (
	Bool Kind = iota + 1
	Analog
)

func (k Kind) String() string {
	if k == Bool {
		return "bool"
	}
	return "float"
}

// Unit ids of the two Modbus servers behind the PLC address.
const (
	UnitDam     uint8 = 1 // dam PLC: reservoir, spillway gates, alarms
	UnitTurbine uint8 = 2 // turbine controller: two generating units
)

// Tag is one process variable, defined once: the Modbus server, the OPC UA
// server, the actors and docs/simulator.md all read this table, so a tag
// cannot mean different things on the two protocols.
type Tag struct {
	Name  string // OPC UA string id under ns=2 and display name, "Dam.Spillway1.Setpoint"
	Unit  string // engineering unit ("m", "%", "m3/s", "MW", "rpm", "NTU", "")
	Kind  Kind
	Table Table
	// UnitID and Addr locate the tag in Modbus: unit id, 0-based address
	// within Table (the PDU address; mbpoll's -r is Addr+1).
	UnitID uint8
	Addr   uint16
	// Scale converts the engineering value to the register: raw =
	// round(value*Scale). 0 for booleans.
	Scale float64
	// Writable tags accept FC 5/6/15/16/23 and OPC UA Write.
	Writable bool
	// Min and Max bound the values the device accepts: a write outside is
	// answered with exception 03 (illegal data value) or Bad_OutOfRange.
	Min, Max float64
	// NormalMin and NormalMax bound normal operation: the operator stays
	// inside, alarms and the attack scenarios do not.
	NormalMin, NormalMax float64
	Desc                 string
}

// NodeID is the tag's OPC UA node id.
func (t *Tag) NodeID() string { return "ns=2;s=" + t.Name }

// Raw converts an engineering value to its register value, clamped to
// 0..65535.
func (t *Tag) Raw(v float64) uint16 {
	if t.Kind == Bool {
		if v != 0 {
			return 1
		}
		return 0
	}
	r := math.Round(v * t.Scale)
	return uint16(max(0, min(65535, r)))
}

// Value converts a register value to engineering units.
func (t *Tag) Value(raw uint16) float64 {
	if t.Kind == Bool {
		if raw != 0 {
			return 1
		}
		return 0
	}
	return float64(raw) / t.Scale
}

// ModbusRef is the conventional one-based reference (00001, 10001, 30001,
// 40001 ranges) that HMI configuration tools and mbpoll's -t/-r use.
func (t *Tag) ModbusRef() string {
	base := map[Table]int{Coils: 0, DiscreteInputs: 10000, InputRegisters: 30000, HoldingRegisters: 40000}[t.Table]
	return fmt.Sprintf("%05d", base+int(t.Addr)+1)
}

// Tag names of the dam; every index below is a position in Tags.
const (
	TagLevel           = "Dam.Reservoir.Level"
	TagInflow          = "Dam.Reservoir.Inflow"
	TagOutflow         = "Dam.Reservoir.Outflow"
	TagGate1Pos        = "Dam.Spillway1.Position"
	TagGate2Pos        = "Dam.Spillway2.Position"
	TagGate1Flow       = "Dam.Spillway1.Flow"
	TagGate2Flow       = "Dam.Spillway2.Flow"
	TagEcoFlow         = "Dam.EcoRelease.Flow"
	TagTurbidity       = "Dam.Water.Turbidity"
	TagGate1SP         = "Dam.Spillway1.Setpoint"
	TagGate2SP         = "Dam.Spillway2.Setpoint"
	TagHighLevelLimit  = "Dam.Reservoir.HighLevelLimit"
	TagEcoSP           = "Dam.EcoRelease.Setpoint"
	TagGate1Enable     = "Dam.Spillway1.Enable"
	TagGate2Enable     = "Dam.Spillway2.Enable"
	TagAlarmAck        = "Dam.Alarm.Ack"
	TagAlarmHighLevel  = "Dam.Alarm.HighLevel"
	TagAlarmGate1Fault = "Dam.Alarm.Gate1Fault"
	TagAlarmGate2Fault = "Dam.Alarm.Gate2Fault"
	TagAlarmTrip       = "Dam.Alarm.TurbineTrip"
	TagT1Flow          = "Dam.Turbine1.Flow"
	TagT1Power         = "Dam.Turbine1.Power"
	TagT1Speed         = "Dam.Turbine1.Speed"
	TagT2Flow          = "Dam.Turbine2.Flow"
	TagT2Power         = "Dam.Turbine2.Power"
	TagT2Speed         = "Dam.Turbine2.Speed"
	TagT1SP            = "Dam.Turbine1.PowerSetpoint"
	TagT2SP            = "Dam.Turbine2.PowerSetpoint"
	TagT1Breaker       = "Dam.Turbine1.BreakerClose"
	TagT2Breaker       = "Dam.Turbine2.BreakerClose"
	TagT1Closed        = "Dam.Turbine1.BreakerClosed"
	TagT2Closed        = "Dam.Turbine2.BreakerClosed"
	TagT1Trip          = "Dam.Turbine1.Trip"
	TagT2Trip          = "Dam.Turbine2.Trip"
)

// Tags is the tag table of the dam, ordered by unit, table and address.
// Addresses within one (unit, table) are contiguous from 0 so an HMI reads
// each block with one request; anything beyond is answered with exception 02.
var Tags = []Tag{
	// Unit 1, dam PLC.
	{Name: TagGate1Enable, Kind: Bool, Table: Coils, UnitID: UnitDam, Addr: 0, Writable: true, Min: 0, Max: 1, NormalMin: 1, NormalMax: 1, Desc: "spillway gate 1 drive enabled"},
	{Name: TagGate2Enable, Kind: Bool, Table: Coils, UnitID: UnitDam, Addr: 1, Writable: true, Min: 0, Max: 1, NormalMin: 1, NormalMax: 1, Desc: "spillway gate 2 drive enabled"},
	{Name: TagAlarmAck, Kind: Bool, Table: Coils, UnitID: UnitDam, Addr: 2, Writable: true, Min: 0, Max: 1, NormalMin: 0, NormalMax: 1, Desc: "alarm acknowledge (momentary)"},
	{Name: TagAlarmHighLevel, Kind: Bool, Table: DiscreteInputs, UnitID: UnitDam, Addr: 0, Min: 0, Max: 1, NormalMin: 0, NormalMax: 0, Desc: "reservoir above the high-level limit"},
	{Name: TagAlarmGate1Fault, Kind: Bool, Table: DiscreteInputs, UnitID: UnitDam, Addr: 1, Min: 0, Max: 1, NormalMin: 0, NormalMax: 0, Desc: "gate 1 position does not follow its setpoint"},
	{Name: TagAlarmGate2Fault, Kind: Bool, Table: DiscreteInputs, UnitID: UnitDam, Addr: 2, Min: 0, Max: 1, NormalMin: 0, NormalMax: 0, Desc: "gate 2 position does not follow its setpoint"},
	{Name: TagAlarmTrip, Kind: Bool, Table: DiscreteInputs, UnitID: UnitDam, Addr: 3, Min: 0, Max: 1, NormalMin: 0, NormalMax: 0, Desc: "a turbine unit has tripped"},
	{Name: TagLevel, Unit: "m", Kind: Analog, Table: InputRegisters, UnitID: UnitDam, Addr: 0, Scale: 100, Min: 100, Max: 130, NormalMin: 118, NormalMax: 121.5, Desc: "reservoir level above sea level"},
	{Name: TagInflow, Unit: "m3/s", Kind: Analog, Table: InputRegisters, UnitID: UnitDam, Addr: 1, Scale: 10, Min: 0, Max: 2000, NormalMin: 20, NormalMax: 150, Desc: "inflow (weather driven)"},
	{Name: TagOutflow, Unit: "m3/s", Kind: Analog, Table: InputRegisters, UnitID: UnitDam, Addr: 2, Scale: 10, Min: 0, Max: 2000, NormalMin: 20, NormalMax: 200, Desc: "total outflow: spillways, turbines, ecological release"},
	{Name: TagGate1Pos, Unit: "%", Kind: Analog, Table: InputRegisters, UnitID: UnitDam, Addr: 3, Scale: 10, Min: 0, Max: 100, NormalMin: 0, NormalMax: 30, Desc: "spillway gate 1 position feedback"},
	{Name: TagGate2Pos, Unit: "%", Kind: Analog, Table: InputRegisters, UnitID: UnitDam, Addr: 4, Scale: 10, Min: 0, Max: 100, NormalMin: 0, NormalMax: 30, Desc: "spillway gate 2 position feedback"},
	{Name: TagGate1Flow, Unit: "m3/s", Kind: Analog, Table: InputRegisters, UnitID: UnitDam, Addr: 5, Scale: 10, Min: 0, Max: 1000, NormalMin: 0, NormalMax: 120, Desc: "spillway 1 discharge"},
	{Name: TagGate2Flow, Unit: "m3/s", Kind: Analog, Table: InputRegisters, UnitID: UnitDam, Addr: 6, Scale: 10, Min: 0, Max: 1000, NormalMin: 0, NormalMax: 120, Desc: "spillway 2 discharge"},
	{Name: TagEcoFlow, Unit: "m3/s", Kind: Analog, Table: InputRegisters, UnitID: UnitDam, Addr: 7, Scale: 10, Min: 0, Max: 10, NormalMin: 2, NormalMax: 3, Desc: "ecological release, measured"},
	{Name: TagTurbidity, Unit: "NTU", Kind: Analog, Table: InputRegisters, UnitID: UnitDam, Addr: 8, Scale: 10, Min: 0, Max: 1000, NormalMin: 0, NormalMax: 25, Desc: "turbidity downstream"},
	{Name: TagGate1SP, Unit: "%", Kind: Analog, Table: HoldingRegisters, UnitID: UnitDam, Addr: 0, Scale: 10, Writable: true, Min: 0, Max: 100, NormalMin: 5, NormalMax: 25, Desc: "spillway gate 1 opening setpoint"},
	{Name: TagGate2SP, Unit: "%", Kind: Analog, Table: HoldingRegisters, UnitID: UnitDam, Addr: 1, Scale: 10, Writable: true, Min: 0, Max: 100, NormalMin: 5, NormalMax: 25, Desc: "spillway gate 2 opening setpoint"},
	{Name: TagHighLevelLimit, Unit: "m", Kind: Analog, Table: HoldingRegisters, UnitID: UnitDam, Addr: 2, Scale: 100, Writable: true, Min: 110, Max: 125, NormalMin: 121.5, NormalMax: 122.5, Desc: "high-level alarm limit"},
	{Name: TagEcoSP, Unit: "m3/s", Kind: Analog, Table: HoldingRegisters, UnitID: UnitDam, Addr: 3, Scale: 10, Writable: true, Min: 0, Max: 10, NormalMin: 2, NormalMax: 3, Desc: "ecological release setpoint (fixed by permit)"},
	// Unit 2, turbine controller.
	{Name: TagT1Breaker, Kind: Bool, Table: Coils, UnitID: UnitTurbine, Addr: 0, Writable: true, Min: 0, Max: 1, NormalMin: 1, NormalMax: 1, Desc: "turbine 1 breaker close command"},
	{Name: TagT2Breaker, Kind: Bool, Table: Coils, UnitID: UnitTurbine, Addr: 1, Writable: true, Min: 0, Max: 1, NormalMin: 1, NormalMax: 1, Desc: "turbine 2 breaker close command"},
	{Name: TagT1Closed, Kind: Bool, Table: DiscreteInputs, UnitID: UnitTurbine, Addr: 0, Min: 0, Max: 1, NormalMin: 1, NormalMax: 1, Desc: "turbine 1 breaker closed"},
	{Name: TagT2Closed, Kind: Bool, Table: DiscreteInputs, UnitID: UnitTurbine, Addr: 1, Min: 0, Max: 1, NormalMin: 1, NormalMax: 1, Desc: "turbine 2 breaker closed"},
	{Name: TagT1Trip, Kind: Bool, Table: DiscreteInputs, UnitID: UnitTurbine, Addr: 2, Min: 0, Max: 1, NormalMin: 0, NormalMax: 0, Desc: "turbine 1 tripped (overload or overspeed)"},
	{Name: TagT2Trip, Kind: Bool, Table: DiscreteInputs, UnitID: UnitTurbine, Addr: 3, Min: 0, Max: 1, NormalMin: 0, NormalMax: 0, Desc: "turbine 2 tripped (overload or overspeed)"},
	{Name: TagT1Flow, Unit: "m3/s", Kind: Analog, Table: InputRegisters, UnitID: UnitTurbine, Addr: 0, Scale: 10, Min: 0, Max: 100, NormalMin: 20, NormalMax: 50, Desc: "turbine 1 flow"},
	{Name: TagT1Power, Unit: "MW", Kind: Analog, Table: InputRegisters, UnitID: UnitTurbine, Addr: 1, Scale: 100, Min: 0, Max: 40, NormalMin: 12, NormalMax: 24, Desc: "turbine 1 active power"},
	{Name: TagT1Speed, Unit: "rpm", Kind: Analog, Table: InputRegisters, UnitID: UnitTurbine, Addr: 2, Scale: 1, Min: 0, Max: 600, NormalMin: 295, NormalMax: 305, Desc: "turbine 1 shaft speed"},
	{Name: TagT2Flow, Unit: "m3/s", Kind: Analog, Table: InputRegisters, UnitID: UnitTurbine, Addr: 3, Scale: 10, Min: 0, Max: 100, NormalMin: 20, NormalMax: 50, Desc: "turbine 2 flow"},
	{Name: TagT2Power, Unit: "MW", Kind: Analog, Table: InputRegisters, UnitID: UnitTurbine, Addr: 4, Scale: 100, Min: 0, Max: 40, NormalMin: 12, NormalMax: 24, Desc: "turbine 2 active power"},
	{Name: TagT2Speed, Unit: "rpm", Kind: Analog, Table: InputRegisters, UnitID: UnitTurbine, Addr: 5, Scale: 1, Min: 0, Max: 600, NormalMin: 295, NormalMax: 305, Desc: "turbine 2 shaft speed"},
	{Name: TagT1SP, Unit: "MW", Kind: Analog, Table: HoldingRegisters, UnitID: UnitTurbine, Addr: 0, Scale: 100, Writable: true, Min: 0, Max: 40, NormalMin: 12, NormalMax: 24, Desc: "turbine 1 power setpoint (rated 25 MW; trips above 30)"},
	{Name: TagT2SP, Unit: "MW", Kind: Analog, Table: HoldingRegisters, UnitID: UnitTurbine, Addr: 1, Scale: 100, Writable: true, Min: 0, Max: 40, NormalMin: 12, NormalMax: 24, Desc: "turbine 2 power setpoint (rated 25 MW; trips above 30)"},
}

var tagIndex = func() map[string]int {
	m := make(map[string]int, len(Tags))
	for i := range Tags {
		m[Tags[i].Name] = i
	}
	return m
}()

// TagByName returns the tag called name, or nil.
func TagByName(name string) *Tag {
	i, ok := tagIndex[name]
	if !ok {
		return nil
	}
	return &Tags[i]
}

// block returns the tags of one (unit, table), indexed by address, or nil.
func block(unit uint8, t Table) []*Tag {
	var out []*Tag
	for i := range Tags {
		if Tags[i].UnitID == unit && Tags[i].Table == t {
			out = append(out, &Tags[i])
		}
	}
	return out
}

// TagMarkdown renders the tag table as the Markdown table that
// docs/simulator.md embeds between its tag-table markers.
func TagMarkdown() string {
	var b strings.Builder
	b.WriteString("| Tag (OPC UA `ns=2;s=…`) | Unit | Type | Modbus unit | Table | Address (ref) | Scale | Writable | Valid range | Normal range | Meaning |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i := range Tags {
		t := &Tags[i]
		scale, w := "—", "no"
		if t.Kind == Analog {
			scale = fmt.Sprintf("×%g", t.Scale)
		}
		if t.Writable {
			w = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %d | %s | %d (%s) | %s | %s | %g … %g | %g … %g | %s |\n",
			t.Name, t.Unit, t.Kind, t.UnitID, t.Table, t.Addr, t.ModbusRef(), scale, w, t.Min, t.Max, t.NormalMin, t.NormalMax, t.Desc)
	}
	return b.String()
}
