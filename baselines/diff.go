package baselines

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Items lists the channel's learned baseline items as stable, sorted text
// lines ("function 3 read_holding_registers", "written holding_registers
// 40-49", "value holding_registers:40 40..60", "poll 3:holding_registers:0:10
// every 1s ±20ms", "policy …"). Counters are left out, so two baselines of
// the same plant learned on different days list the same items: Diff and
// `sluice baseline show` use it.
func (c *Channel) Items() []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	for fc := range c.Functions {
		add("function %d %s", fc, FunctionName(fc))
	}
	for sub := range c.Diagnostics {
		add("diagnostics sub-function %d", sub)
	}
	for t, rs := range c.Read {
		add("read %s %s", t, spansText(rs))
	}
	for t, rs := range c.Written {
		add("written %s %s", t, spansText(rs))
	}
	for k, env := range c.Values {
		kt, _ := k.MarshalText()
		add("value %s %s", kt, envText(env))
	}
	for k, r := range c.Polls {
		if r.Regular(10) {
			add("poll %s every %s ±%s", k, r.Period.Round(1e6), r.Jitter.Round(1e6))
		}
	}
	for s := range c.Services {
		add("service %s", s)
	}
	for p := range c.Policies {
		add("policy %s", p)
	}
	for m := range c.Modes {
		add("mode %s", m)
	}
	for t := range c.Tokens {
		add("token %s", t)
	}
	for u := range c.Users {
		add("user %s", u)
	}
	for a := range c.ClientApps {
		add("client_application %s", a)
	}
	for n := range c.NodesRead {
		add("node_read %s", n)
	}
	for n, env := range c.NodesWritten {
		if env.Writes > 0 && (env.Many || len(env.Distinct) > 0) {
			add("node_written %s %s", n, envText(env))
		} else {
			add("node_written %s", n)
		}
	}
	for n := range c.NodesCalled {
		add("node_called %s", n)
	}
	slices.Sort(out)
	return out
}

func spansText(rs RangeSet) string {
	parts := make([]string, len(rs))
	for i, s := range rs {
		if s.First == s.Last {
			parts[i] = fmt.Sprint(s.First)
		} else {
			parts[i] = fmt.Sprintf("%d-%d", s.First, s.Last)
		}
	}
	return strings.Join(parts, ",")
}

func envText(env *Envelope) string {
	if !env.Many && len(env.Distinct) > 0 && len(env.Distinct) <= 8 {
		return fmt.Sprintf("%g..%g %v", env.Min, env.Max, env.Distinct)
	}
	return fmt.Sprintf("%g..%g", env.Min, env.Max)
}

// deviceItems lists what identifies a device (not its counters).
func deviceItems(d *Device) []string {
	out := []string{"roles " + d.Roles.String()}
	if !d.MAC.IsZero() {
		out = append(out, "mac "+d.MAC.String())
	}
	if len(d.Units) > 0 {
		out = append(out, fmt.Sprintf("units %v", d.Units))
	}
	if d.Ident != nil {
		out = append(out, fmt.Sprintf("modbus_identity %q %q %q %q", d.Ident.VendorName, d.Ident.ProductCode, d.Ident.Revision, d.Ident.ModelName))
	}
	if d.Server != nil {
		out = append(out, fmt.Sprintf("opcua_server %q %q %q", d.Server.AppURI, d.Server.ProductURI, d.Server.SoftwareVersion))
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
