package baselines

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/dnp3"
)

// rtuPoints is an integrity response: analog inputs 0 (a level, online
// unless offline) and 1 (a constant), 16-bit with flags (g30v2, qualifier
// 0x00: start 0, stop 1), and binary inputs 0-1 with flags (g1v2), both
// states 0 and online.
func rtuPoints(t testing.TB, level int16, offline bool) *dnp3.Message {
	fl := byte(0x01)
	if offline {
		fl = 0x00
	}
	return response(t, 0,
		0x1E, 0x02, 0x00, 0x00, 0x01, fl, byte(level), byte(uint16(level)>>8), 0x01, 42, 0,
		0x01, 0x02, 0x00, 0x00, 0x01, 0x01, 0x01)
}

// TestDNP3Process: an hour of integrity polls teaches the outstation's
// points; an analog out of its range and a binary input event in a state
// never seen alert, naming the point; an offline value is no reading;
// accepting teaches.
func TestDNP3Process(t *testing.T) {
	e := New(Config{Mode: Learn})
	var day []Observation
	for s := 0; s < 3600; s += 2 {
		ts := t0.Add(time.Duration(s) * time.Second)
		level := int16(math.Round(500 + 100*math.Sin(2*math.Pi*float64(s)/600)))
		day = append(day, dn(ts, scada, request(t, dnp3.FuncRead, integrity...), rtuPoints(t, level, false)))
	}
	if got := feed(e, day); len(got) != 0 {
		t.Fatalf("learning raised %v", ruleNames(got))
	}
	var m *DNP3Model
	for _, c := range e.Snapshot().Channels {
		m = c.Model.(*DNP3Model)
	}
	if lv := m.Process[PointKey{30, 0}]; lv == nil || lv.Min != 400 || lv.Max != 600 || lv.Bit || lv.Changes < 1000 {
		t.Fatalf("analog input 0 learned %+v", lv)
	}
	if bi := m.Process[PointKey{1, 1}]; bi == nil || !bi.Bit || bi.States != 1 || len(m.Process) != 4 {
		t.Fatalf("binary input 1 learned %+v, %d variables", bi, len(m.Process))
	}
	at := t0.Add(2 * time.Hour)
	event := fragment(t, 0xF0, 0x82, 0x00, 0x00, 0x02, 0x01, 0x17, 0x01, 0x01, 0x81) // g2v1: binary input 1 online, state 1
	for _, tt := range []struct {
		rule Rule
		name string
		o    Observation
	}{
		{ProcessValueOutOfRange, "analog input 0", dn(at, scada, request(t, dnp3.FuncRead, integrity...), rtuPoints(t, 2000, false))},
		{ProcessStateUnexpected, "binary input 1", Observation{Time: at, Protocol: DNP3, Responded: true,
			Endpoints: Endpoints{FlowID: 3, ClientIP: scada, ServerIP: rtu, ClientPort: 41000, ServerPort: 20000},
			Detail:    &DNP3Obs{Master: 1, Outstation: 10, Response: event}}},
	} {
		mon := New(Config{Mode: Monitor})
		if err := mon.Load(e.Snapshot()); err != nil {
			t.Fatal(err)
		}
		offline := dn(at.Add(-time.Second), scada, request(t, dnp3.FuncRead, integrity...), rtuPoints(t, 2000, true))
		if got := mon.Observe(&offline); len(got) != 0 {
			t.Fatalf("an offline value alerts: %v", ruleNames(got))
		}
		got := mon.Observe(&tt.o)
		if names := ruleNames(got); !slices.Equal(names, []string{tt.rule.String()}) {
			t.Fatalf("rules %v, want %s", names, tt.rule)
		}
		if a := got[0]; a.Process == nil || a.Process.Variable != tt.name || a.Item.What != "point" {
			t.Fatalf("alert %+v %+v", a.Deviation, a.Process)
		}
		t.Log(got[0].Signature)
		acceptTeaches(t, mon, got[0], at, &tt.o)
	}
}
