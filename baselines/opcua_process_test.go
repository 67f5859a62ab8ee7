package baselines

import (
	"math"
	"slices"
	"testing"
	"time"
)

// uaPlant is the SCADA's Read at t of a level on a ten-minute wave and a
// gate fault state never raised; level, when not NaN, replaces the level.
func uaPlant(t time.Time, level float64, fault bool) Observation {
	o := ua(t, scada, "Read")
	if math.IsNaN(level) {
		level = 50 + 10*math.Sin(2*math.Pi*t.Sub(t0).Seconds()/600)
	}
	f := 0.0
	if fault {
		f = 1
	}
	u := uaOf(&o)
	u.Read = []string{"ns=2;s=Dam.Level", "ns=2;s=Gate1.Fault"}
	u.Values = []NodeValue{{Node: "ns=2;s=Dam.Level", Value: level, Numeric: true}, {Node: "ns=2;s=Gate1.Fault", Numeric: true, Bool: true, Value: f}}
	return o
}

// TestOPCUAProcess: an hour of OPC UA reads teaches the nodes' variables;
// a level out of its range and a fault state never seen alert, naming the
// node; accepting teaches; a cap counts the rest.
func TestOPCUAProcess(t *testing.T) {
	e := New(Config{Mode: Learn})
	var day []Observation
	for s := range 3600 {
		day = append(day, uaPlant(t0.Add(time.Duration(s)*time.Second), math.NaN(), false))
	}
	if got := feed(e, day); len(got) != 0 {
		t.Fatalf("learning raised %v", ruleNames(got))
	}
	var m *OPCUAModel
	for _, c := range e.Snapshot().Channels {
		m = c.Model.(*OPCUAModel)
	}
	if lv := m.Process["ns=2;s=Dam.Level"]; lv == nil || lv.Min < 39.9 || lv.Max > 60.1 || lv.Changes < 3000 || lv.Bit {
		t.Fatalf("level learned %+v", lv)
	}
	if f := m.Process["ns=2;s=Gate1.Fault"]; f == nil || !f.Bit || f.States != 1 {
		t.Fatalf("fault learned %+v", f)
	}
	at := t0.Add(2 * time.Hour)
	for _, tt := range []struct {
		rule Rule
		node string
		o    Observation
	}{
		{ProcessValueOutOfRange, "ns=2;s=Dam.Level", uaPlant(at, 95, false)},
		{ProcessStateUnexpected, "ns=2;s=Gate1.Fault", uaPlant(at, 50, true)},
	} {
		mon := New(Config{Mode: Monitor})
		if err := mon.Load(e.Snapshot()); err != nil {
			t.Fatal(err)
		}
		got := mon.Observe(&tt.o)
		if names := ruleNames(got); !slices.Equal(names, []string{tt.rule.String()}) {
			t.Fatalf("rules %v, want %s", names, tt.rule)
		}
		if a := got[0]; a.Item.Node != tt.node || a.Process == nil || a.Process.Variable != "node "+tt.node {
			t.Fatalf("alert %+v %+v", a.Deviation, a.Process)
		}
		t.Log(got[0].Signature)
		acceptTeaches(t, mon, got[0], at, &tt.o)
	}

	capped := New(Config{Mode: Learn, MaxProcessVars: 1})
	feed(capped, day[:100])
	for _, c := range capped.Snapshot().Channels {
		if m := c.Model.(*OPCUAModel); len(m.Process) != 1 || m.ProcessDropped != 100 {
			t.Fatalf("%d variables, %d dropped", len(m.Process), m.ProcessDropped)
		}
	}
}

// acceptTeaches accepts alert a of mon and checks that a monitor loaded
// with mon's baseline no longer alerts on o.
func acceptTeaches(t *testing.T, mon *Engine, a Alert, at time.Time, o *Observation) {
	t.Helper()
	if _, err := mon.Accept(a.Deviation, "alice", "test", at, 1); err != nil {
		t.Fatal(err)
	}
	again := New(Config{Mode: Monitor})
	if err := again.Load(mon.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if got := again.Observe(o); len(got) != 0 {
		t.Fatalf("accepted deviation still alerts: %v", ruleNames(got))
	}
}
