package baselines

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkObserve measures one transaction that the baseline already
// knows, the common case on a plant: it must allocate nothing.
func BenchmarkObserve(b *testing.B) {
	modes := []struct {
		name string
		mode Mode
	}{{"monitor", Monitor}, {"learn", Learn}}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			e := New(Config{Mode: m.mode})
			if err := e.Load(learnedSnap()); err != nil {
				b.Fatal(err)
			}
			obs := normal(t0.Add(2*time.Hour), 10*time.Minute)
			feed(e, obs) // warm the runtime state
			// Shift the same traffic forward each round so time advances.
			base := normal(t0.Add(3*time.Hour), 10*time.Minute)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				o := &base[i%len(base)]
				if i%len(base) == 0 && i > 0 {
					shift := time.Duration(i/len(base)) * 10 * time.Minute
					for j := range base {
						base[j].Time = obs[j].Time.Add(time.Hour + shift)
					}
				}
				if n := len(e.Observe(o)); n != 0 {
					b.Fatalf("alert on normal traffic: %v", ruleNames(e.Observe(o)))
				}
			}
		})
	}
}

// BenchmarkObserveModbus is BenchmarkObserve over the Modbus traffic only
// (repeats of learned polls and a setpoint write), in the three modes: a
// stored baseline still learning (auto, within LearnFor), learning and
// judging.
func BenchmarkObserveModbus(b *testing.B) {
	for _, mode := range []Mode{Auto, Learn, Monitor} {
		b.Run(mode.String(), func(b *testing.B) {
			e := New(Config{Mode: mode})
			if err := e.Load(learnedSnap()); err != nil {
				b.Fatal(err)
			}
			modbusOnly := func(obs []Observation) []Observation {
				return slices.DeleteFunc(obs, func(o Observation) bool { return o.Protocol != Modbus })
			}
			obs := modbusOnly(normal(t0.Add(2*time.Hour), 10*time.Minute))
			feed(e, obs)
			base := modbusOnly(normal(t0.Add(3*time.Hour), 10*time.Minute))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				o := &base[i%len(base)]
				if i%len(base) == 0 && i > 0 {
					shift := time.Duration(i/len(base)) * 10 * time.Minute
					for j := range base {
						base[j].Time = obs[j].Time.Add(time.Hour + shift)
					}
				}
				if n := len(e.Observe(o)); n != 0 {
					b.Fatalf("alert on normal traffic: %v", ruleNames(e.Observe(o)))
				}
			}
		})
	}
}

func BenchmarkTick(b *testing.B) {
	e := New(Config{Mode: Monitor})
	if err := e.Load(learnedSnap()); err != nil {
		b.Fatal(err)
	}
	feed(e, normal(t0.Add(2*time.Hour), time.Minute))
	now := t0.Add(2*time.Hour + time.Minute)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		e.lastTick = time.Time{}
		e.Tick(now)
	}
}
