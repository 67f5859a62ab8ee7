package baselines

import (
	"math"
	"testing"
)

// TestEnvelopeContains learns an envelope from repeated writes of a few
// values and judges new ones with the default slack (10 % of the width).
func TestEnvelopeContains(t *testing.T) {
	tests := []struct {
		name    string
		learned []float64 // written in turn, rounds times
		rounds  int
		enum    bool
		in, out []float64
	}{
		// The simulator's operator moves the spillway gates between
		// 12.5, 15 and 17.5 % (raw × 10): after a day that is ~200
		// writes of three values, still a setpoint.
		{"gate setpoints after a day", []float64{150, 125, 175}, 70, false,
			[]float64{125, 150, 160, 175, 121, 179}, []float64{119, 181, 950, 0}},
		{"flag register", []float64{1, 2, 4}, 5, true,
			[]float64{1, 2, 4}, []float64{3, 0, 8}},
		{"command word with far-apart codes", []float64{0, 256}, 6, true,
			[]float64{0, 256}, []float64{128, 1, 257}},
		{"codes seen fewer than 10 times are a range", []float64{0, 2}, 4, false,
			[]float64{0, 1, 2}, []float64{3}},
		{"modes 0/1/2", []float64{0, 1, 2}, 10, true,
			[]float64{0, 1, 2}, []float64{3, 65535}},
		{"one value", []float64{5}, 20, false,
			[]float64{5}, []float64{4, 6}},
		{"fractional values are not codes", []float64{0.5, 1}, 10, false,
			[]float64{0.5, 0.75, 1}, []float64{0.4, 1.1}},
		{"negative values are not codes", []float64{-1, 1}, 10, false,
			[]float64{-1, 0, 1}, []float64{2}},
		{"many values", []float64{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26}, 1, false,
			[]float64{10, 18.5, 26}, []float64{8, 28}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env Envelope
			for range tt.rounds {
				for _, v := range tt.learned {
					env.add(v, 16)
				}
			}
			if got := env.Enumeration(); got != tt.enum {
				t.Errorf("Enumeration() = %v, want %v (envelope %+v)", got, tt.enum, env)
			}
			for _, v := range tt.in {
				if !env.Contains(v, 0.1) {
					t.Errorf("%g judged outside %s", v, env.describe())
				}
			}
			for _, v := range tt.out {
				if env.Contains(v, 0.1) {
					t.Errorf("%g judged inside %s", v, env.describe())
				}
			}
		})
	}
}

func TestSingleBit(t *testing.T) {
	for v, want := range map[float64]bool{
		0: true, 1: true, 2: true, 4: true, 0x8000: true, 1 << 31: true,
		3: false, 6: false, 0xFF00: false, -2: false, 2.5: false, 1 << 32: false,
		math.Inf(1): false, math.NaN(): false,
	} {
		if got := singleBit(v); got != want {
			t.Errorf("singleBit(%g) = %v, want %v", v, got, want)
		}
	}
}
