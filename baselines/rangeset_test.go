package baselines

import (
	"reflect"
	"testing"
)

func TestRangeSet(t *testing.T) {
	tests := []struct {
		name   string
		add    []Range
		want   RangeSet
		in     []Range
		notIn  []Range
		growth []bool
	}{
		{
			name:   "merge adjacent and overlapping",
			add:    []Range{{10, 5}, {15, 5}, {0, 3}, {2, 9}},
			growth: []bool{true, true, true, true},
			want:   RangeSet{{0, 19}},
			in:     []Range{{0, 20}, {5, 1}},
			notIn:  []Range{{19, 2}, {20, 1}},
		},
		{
			name:   "disjoint kept apart, duplicate does not grow",
			add:    []Range{{100, 10}, {0, 10}, {100, 10}, {50, 1}},
			growth: []bool{true, true, false, true},
			want:   RangeSet{{0, 9}, {50, 50}, {100, 109}},
			in:     []Range{{50, 1}, {105, 5}},
			notIn:  []Range{{9, 2}, {49, 2}, {110, 1}},
		},
		{
			name:   "top of address space, empty and wrapping ranges",
			add:    []Range{{65530, 6}, {0, 0}, {65535, 2}},
			growth: []bool{true, false, false},
			want:   RangeSet{{65530, 65535}},
			in:     []Range{{65535, 1}},
			notIn:  []Range{{65535, 0}, {65529, 1}},
		},
		{
			name:   "bridge two spans",
			add:    []Range{{0, 5}, {10, 5}, {5, 5}},
			growth: []bool{true, true, true},
			want:   RangeSet{{0, 14}},
			in:     []Range{{0, 15}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s RangeSet
			for i, r := range tt.add {
				var grew bool
				s, grew = s.Add(r)
				if grew != tt.growth[i] {
					t.Errorf("Add(%v) grew=%v, want %v", r, grew, tt.growth[i])
				}
			}
			if !reflect.DeepEqual(s, tt.want) {
				t.Fatalf("set = %v, want %v", s, tt.want)
			}
			for _, r := range tt.in {
				if !s.Contains(r) {
					t.Errorf("Contains(%v) = false", r)
				}
			}
			for _, r := range tt.notIn {
				if s.Contains(r) {
					t.Errorf("Contains(%v) = true", r)
				}
			}
		})
	}
}
