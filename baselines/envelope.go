package baselines

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Envelope is the learned set of values written to one register or node:
// min/max, and the distinct values while they are few.
type Envelope struct {
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Writes uint64  `json:"writes"`
	// Distinct holds the distinct values, sorted, while there are at most
	// Config.DistinctValues of them; Many is set once there were more.
	Distinct []float64 `json:"distinct,omitempty"`
	Many     bool      `json:"many,omitempty"`
}

// add folds v in and reports whether the envelope grew (a new distinct
// value or a wider min/max).
func (e *Envelope) add(v float64, maxDistinct int) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	e.Writes++
	grew := false
	if e.Writes == 1 {
		e.Min, e.Max, grew = v, v, true
	} else {
		if v < e.Min {
			e.Min, grew = v, true
		}
		if v > e.Max {
			e.Max, grew = v, true
		}
	}
	if !e.Many {
		i := sort.SearchFloat64s(e.Distinct, v)
		if i == len(e.Distinct) || e.Distinct[i] != v {
			if len(e.Distinct) >= maxDistinct {
				e.Many, e.Distinct = true, nil
			} else {
				e.Distinct = append(e.Distinct, 0)
				copy(e.Distinct[i+1:], e.Distinct[i:])
				e.Distinct[i] = v
			}
			grew = true
		}
	}
	return grew
}

// Contains reports whether v lies inside the envelope: within min/max (plus
// slack), and one of the distinct values when the register is an
// enumeration (see Enumeration).
func (e *Envelope) Contains(v float64, slack float64) bool {
	if e.Writes == 0 {
		return false
	}
	if e.Enumeration() {
		i := sort.SearchFloat64s(e.Distinct, v)
		return i < len(e.Distinct) && e.Distinct[i] == v
	}
	margin := slack * (e.Max - e.Min)
	return v >= e.Min-margin && v <= e.Max+margin
}

// Enumeration reports whether the register is judged by its exact values
// rather than by its range: it was written at least enumMinWrites times with
// at most enumValues distinct values, each of them 0 or a single bit (a
// command word or a flag register: 0/1, 1/2/4, 0x0100). A new value between
// learned codes is then a new command.
//
// Few values alone do not make an enumeration: an operator who happened to
// set a gate to 12.5, 15 or 17.5 % (raw 125, 150, 175) over a day of
// learning may set it to 16 % tomorrow, and that is normal operation, not a
// deviation. Such registers keep the min/max envelope. Consecutive codes
// (0/1/2) need no special case: min/max already admits no other integer.
func (e *Envelope) Enumeration() bool {
	if e.Many || len(e.Distinct) == 0 || len(e.Distinct) > enumValues || e.Writes < enumMinWrites {
		return false
	}
	for _, v := range e.Distinct {
		if !singleBit(v) {
			return false
		}
	}
	return true
}

// singleBit reports whether v is 0 or a power of two below 2^32.
func singleBit(v float64) bool {
	if v < 0 || v >= 1<<32 || v != math.Trunc(v) {
		return false
	}
	u := uint64(v)
	return u&(u-1) == 0
}

// enumValues and enumMinWrites bound an enumeration (Envelope.Enumeration).
const (
	enumValues    = 3
	enumMinWrites = 10
)

// describe names the envelope in an alert sentence.
func (e *Envelope) describe() string {
	if e.Enumeration() {
		return fmt.Sprintf("values %v", e.Distinct)
	}
	return fmt.Sprintf("range %g..%g", e.Min, e.Max)
}

// text names the envelope in an item line (Channel.Items).
func (e *Envelope) text() string {
	if !e.Many && len(e.Distinct) > 0 && len(e.Distinct) <= 8 {
		return fmt.Sprintf("%g..%g %v", e.Min, e.Max, e.Distinct)
	}
	return fmt.Sprintf("%g..%g", e.Min, e.Max)
}

// sanitizeEnvelopes drops the nil envelopes a hostile import may carry and
// sorts the distinct values.
func sanitizeEnvelopes[K comparable](m map[K]*Envelope) {
	for k, env := range m {
		if env == nil {
			delete(m, k)
			continue
		}
		slices.Sort(env.Distinct)
	}
}
