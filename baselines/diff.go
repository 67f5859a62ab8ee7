package baselines

import (
	"cmp"
	"maps"
	"slices"
)

// deviceItems lists what identifies a device (not its counters): its
// roles and MAC, then what each protocol model says of it.
func deviceItems(d *Device) []string {
	out := []string{"roles " + d.Roles.String()}
	if !d.MAC.IsZero() {
		out = append(out, "mac "+d.MAC.String())
	}
	for _, p := range protos {
		if p != nil && p.describer != nil {
			out = append(out, p.describer.deviceItems(d)...)
		}
	}
	return out
}

// Change is one entry of a Diff: a device or channel added, removed or
// changed, with the items added and removed for a change.
type Change struct {
	Kind    string   `json:"kind"`   // "device" or "channel"
	Name    string   `json:"name"`   // IP or ChannelKey.String()
	Change  string   `json:"change"` // "added", "removed", "changed"
	Added   []string `json:"added,omitempty"`
	Removed []string `json:"removed,omitempty"`
}

// Diff compares two baselines by their items (Channel.Items and the
// devices' identity), ignoring counters and times, in a stable order.
func Diff(a, b *Snapshot) []Change {
	var out []Change
	diffSets := func(kind string, ia, ib map[string][]string) {
		names := slices.Sorted(maps.Keys(ia))
		for n := range ib {
			if _, ok := ia[n]; !ok {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			x, inA := ia[n]
			y, inB := ib[n]
			switch {
			case !inA:
				out = append(out, Change{Kind: kind, Name: n, Change: "added", Added: y})
			case !inB:
				out = append(out, Change{Kind: kind, Name: n, Change: "removed", Removed: x})
			default:
				add, rem := setDiff(y, x), setDiff(x, y)
				if len(add)+len(rem) > 0 {
					out = append(out, Change{Kind: kind, Name: n, Change: "changed", Added: add, Removed: rem})
				}
			}
		}
	}
	devs := func(s *Snapshot) map[string][]string {
		m := map[string][]string{}
		for _, d := range s.Devices {
			m[d.IP.String()] = deviceItems(d)
		}
		return m
	}
	chans := func(s *Snapshot) map[string][]string {
		m := map[string][]string{}
		for _, c := range s.Channels {
			m[c.Key.String()] = c.Items()
		}
		return m
	}
	diffSets("device", devs(a), devs(b))
	diffSets("channel", chans(a), chans(b))
	slices.SortStableFunc(out, func(x, y Change) int { return cmp.Compare(x.Kind, y.Kind) })
	return out
}

// setDiff returns the elements of a not in b.
func setDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
