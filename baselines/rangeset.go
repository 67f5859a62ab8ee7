package baselines

import (
	"fmt"
	"sort"
	"strings"
)

// Span is an inclusive run of Modbus addresses First..Last.
type Span struct {
	First uint16 `json:"first"`
	Last  uint16 `json:"last"`
}

// RangeSet is a compact, sorted set of addresses: disjoint, non-adjacent
// spans in ascending order. The zero value is empty. Contains allocates
// nothing.
type RangeSet []Span

// span converts a Range to an inclusive Span; ok is false for an empty or
// wrapping range (Start+Count beyond 65536), which is not learnable.
func span(r Range) (Span, bool) {
	if r.Count == 0 || r.End() > 1<<16 {
		return Span{}, false
	}
	return Span{First: r.Start, Last: uint16(r.End() - 1)}, true
}

// Contains reports whether every address of r is in the set.
func (s RangeSet) Contains(r Range) bool {
	sp, ok := span(r)
	if !ok {
		return false
	}
	// First span whose Last >= sp.First.
	i := sort.Search(len(s), func(i int) bool { return s[i].Last >= sp.First })
	return i < len(s) && s[i].First <= sp.First && s[i].Last >= sp.Last
}

// Add returns the set with r's addresses added and whether it grew.
func (s RangeSet) Add(r Range) (RangeSet, bool) {
	sp, ok := span(r)
	if !ok || s.Contains(r) {
		return s, false
	}
	// Spans that overlap or touch sp are merged into it.
	lo := sort.Search(len(s), func(i int) bool { return uint32(s[i].Last)+1 >= uint32(sp.First) })
	hi := lo
	for hi < len(s) && uint32(s[hi].First) <= uint32(sp.Last)+1 {
		if s[hi].First < sp.First {
			sp.First = s[hi].First
		}
		if s[hi].Last > sp.Last {
			sp.Last = s[hi].Last
		}
		hi++
	}
	out := make(RangeSet, 0, len(s)-(hi-lo)+1)
	out = append(out, s[:lo]...)
	out = append(out, sp)
	out = append(out, s[hi:]...)
	return out, true
}

// Size returns the number of addresses in the set.
func (s RangeSet) Size() int {
	n := 0
	for _, sp := range s {
		n += int(sp.Last) - int(sp.First) + 1
	}
	return n
}

// repair returns the set made canonical (sorted, disjoint, non-adjacent),
// without the inverted spans a hand-edited or hostile import may carry.
func (s RangeSet) repair() RangeSet {
	var clean RangeSet
	for _, sp := range s {
		if sp.First <= sp.Last {
			clean, _ = clean.Add(Range{sp.First, uint16(min(uint32(sp.Last)-uint32(sp.First)+1, 65535))})
			if sp.Last == 65535 && sp.First == 0 {
				clean, _ = clean.Add(Range{65535, 1})
			}
		}
	}
	return clean
}

// text writes the set for an item line: "0-9,20,40-49".
func (s RangeSet) text() string {
	parts := make([]string, len(s))
	for i, sp := range s {
		if sp.First == sp.Last {
			parts[i] = fmt.Sprint(sp.First)
		} else {
			parts[i] = fmt.Sprintf("%d-%d", sp.First, sp.Last)
		}
	}
	return strings.Join(parts, ",")
}
