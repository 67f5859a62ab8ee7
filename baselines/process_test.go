package baselines

import (
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// plantRead is the HMI's read, at t, of the dam's holding registers 0-2
// (a level on a ten-minute wave, a constant, a turbine speed that ramps up
// and holds) or, when bits, of its discrete inputs 0-1 (a gate limit
// switch toggling every 30 s, an alarm never raised). level, when not
// negative, replaces the level read.
func plantRead(t time.Time, bits bool, level int) Observation {
	s := t.Sub(t0).Seconds()
	if bits {
		o := mb(t, hmi, 1, 2)
		m := mbOf(&o)
		m.ReadTable, m.Read = modbus.TableDiscreteInputs, Range{0, 2}
		m.ReadValues = modbus.BitValues(int(s/30)%2 == 1, false)
		return o
	}
	o := mbRead(t, hmi, 1, 0, 3)
	if level < 0 {
		level = int(math.Round(500 + 100*math.Sin(2*math.Pi*s/600)))
	}
	mbOf(&o).ReadValues = modbus.RegisterValues(uint16(level), 42, uint16(min(s, 300)*10))
	return o
}

// plantDay is d of the plant's reads from start, every second.
func plantDay(start time.Time, d time.Duration) []Observation {
	var out []Observation
	for i := range int(d / time.Second) {
		t := start.Add(time.Duration(i) * time.Second)
		out = append(out, plantRead(t, false, -1), plantRead(t.Add(50*time.Millisecond), true, -1))
	}
	return out
}

func processEngine(t *testing.T) *Engine {
	t.Helper()
	e := New(Config{Mode: Learn})
	if got := feed(e, plantDay(t0, time.Hour)); len(got) != 0 {
		t.Fatalf("learning raised %v", ruleNames(got))
	}
	m := New(Config{Mode: Monitor})
	if err := m.Load(e.Snapshot()); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestProcessLearned: what an hour of the plant's reads teaches.
func TestProcessLearned(t *testing.T) {
	e := New(Config{Mode: Learn})
	feed(e, plantDay(t0, time.Hour))
	var mm *ModbusModel
	for _, c := range e.Snapshot().Channels {
		mm = c.Model.(*ModbusModel)
	}
	lv := mm.Process[RegKey{modbus.TableHoldingRegisters, 0}]
	if lv == nil || lv.Min != 400 || lv.Max != 600 || lv.MaxRate < 1 || lv.MaxRate > 2 || lv.Changes < 1000 {
		t.Fatalf("level learned %+v", lv)
	}
	if c := mm.Process[RegKey{modbus.TableHoldingRegisters, 1}]; c == nil || c.Changes != 0 || c.Min != 42 || c.Max != 42 {
		t.Fatalf("constant learned %+v", c)
	}
	sw := mm.Process[RegKey{modbus.TableDiscreteInputs, 0}]
	if sw == nil || !sw.Bit || sw.States != 3 || sw.Transitions != 3 {
		t.Fatalf("limit switch learned %+v", sw)
	}
	if al := mm.Process[RegKey{modbus.TableDiscreteInputs, 1}]; al == nil || al.States != 1 || al.Transitions != 0 {
		t.Fatalf("alarm learned %+v", al)
	}
}

// TestProcessRules: each process rule fires on its attack, names the
// variable and its learned figures, is silent on normal reads, and
// accepting it teaches the baseline.
func TestProcessRules(t *testing.T) {
	at := t0.Add(2 * time.Hour)
	tests := []struct {
		name  string
		rule  Rule
		addr  RegKey
		feed  func(e *Engine) []Alert
		value float64
	}{
		{"level beyond its range", ProcessValueOutOfRange, RegKey{modbus.TableHoldingRegisters, 0}, func(e *Engine) []Alert {
			return e.Observe(ptr(plantRead(at, false, 900)))
		}, 900},
		{"level jumps", ProcessRateOfChange, RegKey{modbus.TableHoldingRegisters, 0}, func(e *Engine) []Alert {
			lv := int(math.Round(500 + 100*math.Sin(2*math.Pi*at.Sub(t0).Seconds()/600)))
			feed(e, []Observation{plantRead(at.Add(-time.Second), false, -1)})
			return e.Observe(ptr(plantRead(at, false, lv+60)))
		}, 0},
		{"level frozen while read", ProcessValueFrozen, RegKey{modbus.TableHoldingRegisters, 0}, func(e *Engine) []Alert {
			var got []Alert
			for i := range 300 {
				got = append(got, e.Observe(ptr(plantRead(at.Add(time.Duration(i)*time.Second), false, 512)))...)
			}
			return got
		}, 0},
		{"alarm raised", ProcessStateUnexpected, RegKey{modbus.TableDiscreteInputs, 1}, func(e *Engine) []Alert {
			o := plantRead(at, true, -1)
			m := mbOf(&o)
			m.ReadValues = modbus.BitValues(m.ReadValues.At(0) == 1, true)
			return e.Observe(&o)
		}, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := processEngine(t)
			if got := feed(e, plantDay(at.Add(-10*time.Minute), 10*time.Minute)); len(got) != 0 {
				t.Fatalf("normal reads alert: %v", ruleNames(got))
			}
			got := tt.feed(e)
			if names := ruleNames(got); !slices.Equal(names, []string{tt.rule.String()}) {
				t.Fatalf("rules %v, want %s", names, tt.rule)
			}
			a := got[0]
			if a.Item != (Item{Table: tt.addr.Table, Addr: tt.addr.Addr}) || a.Process == nil || a.Process.Learned.Reads < 3600 {
				t.Fatalf("alert %+v process %+v", a.Deviation, a.Process)
			}
			if tt.value != 0 && a.Value != tt.value {
				t.Errorf("value %v, want %v", a.Value, tt.value)
			}
			t.Log(a.Signature)
			if _, err := e.Accept(a.Deviation, "alice", "test", at, uint64(i)); err != nil {
				t.Fatal(err)
			}
			e2 := New(Config{Mode: Monitor})
			if err := e2.Load(e.Snapshot()); err != nil {
				t.Fatal(err)
			}
			if got := tt.feed(e2); len(got) != 0 {
				t.Fatalf("accepted deviation still alerts: %v", ruleNames(got))
			}
		})
	}
}

// TestProcessVarsBounded: a master sweeping every holding register
// learns at most MaxProcessVars variables and counts the rest.
func TestProcessVarsBounded(t *testing.T) {
	e := New(Config{Mode: Learn, MaxProcessVars: 100})
	vals := make([]uint16, 125)
	for s := uint16(0); s < 1000; s++ {
		o := mbRead(t0.Add(time.Duration(s)*time.Second), hmi, 1, s*125, 125)
		mbOf(&o).ReadValues = modbus.RegisterValues(vals...)
		e.Observe(&o)
	}
	for _, c := range e.Snapshot().Channels {
		mm := c.Model.(*ModbusModel)
		if len(mm.Process) != 100 || mm.ProcessDropped == 0 {
			t.Fatalf("%d variables, %d dropped", len(mm.Process), mm.ProcessDropped)
		}
	}
}

// TestProcessVarsPerDevice: two masters reading the same PLC learn, all
// channels together, at most MaxProcessVarsPerDevice variables; the rest
// is counted (ProcessDropped, Limited.ProcessVars), and a baseline loaded
// with the PLC full learns no more.
func TestProcessVarsPerDevice(t *testing.T) {
	cfg := Config{Mode: Learn, MaxProcessVars: 100, MaxProcessVarsPerDevice: 150}
	e := New(cfg)
	sweep := func(e *Engine, from time.Time) {
		vals := make([]uint16, 50)
		for s := uint16(0); s < 4; s++ {
			for _, cli := range []netip.Addr{hmi, scada} {
				o := mbRead(from.Add(time.Duration(s)*time.Second), cli, 1, s*50, 50)
				mbOf(&o).ReadValues = modbus.RegisterValues(vals...)
				e.Observe(&o)
			}
		}
	}
	sweep(e, t0)
	vars, dropped := 0, uint64(0)
	for _, c := range e.Snapshot().Channels {
		mm := c.Model.(*ModbusModel)
		vars += len(mm.Process)
		dropped += mm.ProcessDropped
	}
	if vars != 150 || dropped == 0 || e.Limited().ProcessVars == 0 {
		t.Fatalf("%d variables, %d dropped, limited %+v", vars, dropped, e.Limited())
	}
	again := New(cfg)
	if err := again.Load(e.Snapshot()); err != nil {
		t.Fatal(err)
	}
	sweep(again, t0.Add(time.Hour))
	if again.Limited().ProcessVars == 0 {
		t.Fatalf("a loaded baseline at the cap learned more: %+v", again.Limited())
	}
}

// TestProcessRegisterMap: with a register map, a mapped variable is its
// engineering value — a float32 over two registers in its word order, a
// scaled uint16 — keyed by its first register; its second word is no
// variable of its own, and a read that cuts a variable learns nothing of
// it. Judging compares engineering values and names the variable.
func TestProcessRegisterMap(t *testing.T) {
	pol := &Policy{Variables: []Variable{
		{Name: "Level", EngUnit: "m", InModbus: true, Unit: 1, Table: modbus.TableHoldingRegisters, Addr: 0, Type: Uint16, Scale: 0.1},
		{Name: "Flow", EngUnit: "m3/s", InModbus: true, Unit: 1, Table: modbus.TableHoldingRegisters, Addr: 1, Type: Float32, LowWordFirst: true, Scale: 1},
	}}
	read := func(at time.Time, level uint16, flow float32, count uint16) Observation {
		o := mbRead(at, hmi, 1, 0, count)
		b := math.Float32bits(flow)
		vals := []uint16{level, uint16(b), uint16(b >> 16)}
		mbOf(&o).ReadValues = modbus.RegisterValues(vals[:count]...)
		return o
	}
	l := New(Config{Mode: Learn})
	l.SetPolicy(pol)
	for i := range 600 {
		s := float64(i)
		l.Observe(ptr(read(t0.Add(time.Duration(i)*time.Second), uint16(500+100*math.Sin(s/60)), float32(20+5*math.Sin(s/90)), 3)))
		// A read of the level and the flow's first word alone.
		l.Observe(ptr(read(t0.Add(time.Duration(i)*time.Second+time.Millisecond), 500, 0, 2)))
	}
	var mm *ModbusModel
	for _, c := range l.Snapshot().Channels {
		mm = c.Model.(*ModbusModel)
	}
	if len(mm.Process) != 2 {
		t.Fatalf("variables %v, want the level and the flow", mm.Process)
	}
	lv, fl := mm.Process[RegKey{modbus.TableHoldingRegisters, 0}], mm.Process[RegKey{modbus.TableHoldingRegisters, 1}]
	if lv == nil || lv.Min < 39.9 || lv.Max > 60.1 {
		t.Fatalf("level (×0.1) learned %+v", lv)
	}
	if fl == nil || fl.Min < 14.9 || fl.Max > 25.1 || fl.Reads != 600 {
		t.Fatalf("flow (float32, low word first) learned %+v", fl)
	}
	m := New(Config{Mode: Monitor})
	if err := m.Load(l.Snapshot()); err != nil {
		t.Fatal(err)
	}
	m.SetPolicy(pol)
	at := t0.Add(time.Hour)
	var got []Alert
	for i := range 5 {
		got = append(got, m.Observe(ptr(read(at.Add(time.Duration(i)*time.Second), 500, 400, 3)))...)
	}
	if len(got) == 0 || got[0].Rule != ProcessValueOutOfRange || got[0].Process == nil || got[0].Process.Variable != "Flow" || got[0].Process.Value != 400 {
		t.Fatalf("a flow of 400 m3/s: %+v", got)
	}
}
