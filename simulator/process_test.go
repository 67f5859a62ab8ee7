package simulator

import (
	"errors"
	"testing"
	"time"
)

func TestProcessDeterministic(t *testing.T) {
	a, b, c := NewProcess(42), NewProcess(42), NewProcess(43)
	for _, p := range []*Process{a, b, c} {
		p.AdvanceTo(time.Hour)
	}
	for i := range Tags {
		if a.v[i] != b.v[i] {
			t.Errorf("%s: %v and %v after an hour with the same seed", Tags[i].Name, a.v[i], b.v[i])
		}
	}
	if a.Get(TagInflow) == c.Get(TagInflow) {
		t.Errorf("seeds 42 and 43 give the same inflow %v: the weather ignores the seed", a.Get(TagInflow))
	}
	if a.Now() != time.Hour {
		t.Errorf("Now() = %s after AdvanceTo(1h)", a.Now())
	}
}

// TestProcessNormal: an hour without operator action stays inside every
// tag's normal range, with no alarm.
func TestProcessNormal(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		p := NewProcess(seed)
		for m := time.Duration(1); m <= 60; m++ {
			p.AdvanceTo(m * time.Minute)
			for i := range Tags {
				tg := &Tags[i]
				if v := p.v[i]; v < tg.NormalMin || v > tg.NormalMax {
					t.Fatalf("seed %d, minute %d: %s = %v outside its normal range %v..%v", seed, m, tg.Name, v, tg.NormalMin, tg.NormalMax)
				}
			}
		}
	}
}

// TestProcessConsequences: absurd setpoints have visible consequences.
func TestProcessConsequences(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tag   string
		value float64
		after time.Duration
		check func(p *Process) string
	}{
		{"gate wide open", TagGate1SP, 95, 3 * time.Minute, func(p *Process) string {
			if p.Get(TagAlarmGate1Fault) != 1 {
				return "no gate fault alarm"
			}
			if p.Get(TagGate1Pos) < 80 || p.Get(TagOutflow) < 150 || p.Get(TagTurbidity) < 5 {
				return "gate, outflow or turbidity did not follow"
			}
			return ""
		}},
		{"turbine overload", TagT1SP, 35, 2 * time.Minute, func(p *Process) string {
			if p.Get(TagT1Trip) != 1 || p.Get(TagAlarmTrip) != 1 || p.Get(TagT1Closed) != 0 || p.Get(TagT1Power) != 0 {
				return "no trip"
			}
			if p.Get(TagT2Trip) != 0 {
				return "unit 2 tripped too"
			}
			return ""
		}},
		{"alarm limit below level", TagHighLevelLimit, 115, 2 * time.Second, func(p *Process) string {
			if p.Get(TagAlarmHighLevel) != 1 {
				return "no high-level alarm"
			}
			return ""
		}},
		{"gate drive disabled", TagGate2Enable, 0, 3 * time.Minute, func(p *Process) string {
			if p.Get(TagGate2Pos) != 10 {
				return "a disabled gate moved"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProcess(1)
			p.AdvanceTo(10 * time.Second)
			if err := p.Set(tc.tag, tc.value); err != nil {
				t.Fatal(err)
			}
			if tc.tag == TagGate2Enable {
				if err := p.Set(TagGate2SP, 20); err != nil {
					t.Fatal(err)
				}
			}
			p.AdvanceTo(10*time.Second + tc.after)
			if msg := tc.check(p); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestProcessSet(t *testing.T) {
	p := NewProcess(1)
	for _, tc := range []struct {
		tag   string
		value float64
		want  error
	}{
		{TagLevel, 120, ErrReadOnly},
		{TagGate1SP, 100.1, ErrOutOfRange},
		{TagGate1SP, -1, ErrOutOfRange},
		{TagT1SP, 40, nil},
		{TagHighLevelLimit, 109.99, ErrOutOfRange},
	} {
		if err := p.Set(tc.tag, tc.value); !errors.Is(err, tc.want) {
			t.Errorf("Set(%s, %v) = %v, want %v", tc.tag, tc.value, err, tc.want)
		}
	}
	if err := p.Set("Dam.Nothing", 1); err == nil {
		t.Error("Set of an unknown tag succeeded")
	}
	// The trip latches until acknowledged with the setpoint back in range.
	p.AdvanceTo(3 * time.Minute)
	if p.Get(TagT1Trip) != 1 {
		t.Fatal("40 MW did not trip unit 1")
	}
	_ = p.Set(TagAlarmAck, 1)
	if p.Get(TagT1Trip) != 1 {
		t.Error("acknowledge cleared a trip whose cause (40 MW setpoint) is still there")
	}
	_ = p.Set(TagT1SP, 18)
	_ = p.Set(TagAlarmAck, 1)
	if p.Get(TagT1Trip) != 0 || p.Get(TagAlarmAck) != 0 {
		t.Error("acknowledge did not clear the trip, or the ack coil did not fall back to 0")
	}
}

func TestTagTable(t *testing.T) {
	seen := map[string]bool{}
	next := map[blockKey]uint16{}
	for i := range Tags {
		tg := &Tags[i]
		if seen[tg.Name] {
			t.Errorf("%s defined twice", tg.Name)
		}
		seen[tg.Name] = true
		k := blockKey{tg.UnitID, tg.Table}
		if tg.Addr != next[k] {
			t.Errorf("%s: address %d, want %d (blocks are contiguous from 0)", tg.Name, tg.Addr, next[k])
		}
		next[k]++
		if tg.NormalMin < tg.Min || tg.NormalMax > tg.Max || tg.NormalMin > tg.NormalMax {
			t.Errorf("%s: normal range %v..%v not inside valid %v..%v", tg.Name, tg.NormalMin, tg.NormalMax, tg.Min, tg.Max)
		}
		if (tg.Kind == Bool) != (tg.Table == Coils || tg.Table == DiscreteInputs) {
			t.Errorf("%s: kind %s in table %s", tg.Name, tg.Kind, tg.Table)
		}
		if tg.Writable != (tg.Table == Coils || tg.Table == HoldingRegisters) {
			t.Errorf("%s: writable %v in table %s", tg.Name, tg.Writable, tg.Table)
		}
		if tg.Kind == Analog && tg.Raw(tg.Max) == 65535 {
			t.Errorf("%s: maximum %v %s saturates the register at scale %v", tg.Name, tg.Max, tg.Unit, tg.Scale)
		}
		if got := tg.Value(tg.Raw(tg.NormalMax)); tg.Kind == Analog && got != tg.NormalMax {
			t.Errorf("%s: %v does not survive the register round trip (%v)", tg.Name, tg.NormalMax, got)
		}
	}
}

// BenchmarkProcessHour integrates one hour of the dam (3600 steps).
func BenchmarkProcessHour(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NewProcess(1).AdvanceTo(time.Hour)
	}
}
