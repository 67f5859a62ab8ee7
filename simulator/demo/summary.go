package demo

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-ics/sluice/baselines"
)

// summary prints the alerts by rule and, per attack, what was expected and
// caught.
func (d *run) summary(snap *baselines.Snapshot) {
	w := d.o.Stdout
	alerts := d.tap.all()
	fmt.Fprintf(w, "\n══ Summary ══\n")
	fmt.Fprintf(w, "%d devices, %d channels learned; %d alerts\n\n", len(snap.Devices), len(snap.Channels), len(alerts))

	// Which alerts fall inside an attack's window (with grace for alerts
	// raised by time, and for the network). The demo leaves
	// scenarioGap between attacks, so windows do not overlap.
	const grace = 3 * time.Second
	inWindow := func(a alert) bool {
		for _, p := range d.played {
			for _, l := range p.labels {
				if !a.time.Before(l.Start.Add(-time.Second)) && !a.time.After(l.End.Add(grace)) {
					return true
				}
			}
		}
		return false
	}
	byRule := map[string][2]int{} // in attack windows, outside
	for _, a := range alerts {
		c := byRule[a.rule]
		if inWindow(a) {
			c[0]++
		} else {
			c[1]++
		}
		byRule[a.rule] = c
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RULE\tALERTS\tDURING ATTACKS\tOTHERWISE\n")
	rules := make([]string, 0, len(byRule))
	for r := range byRule {
		rules = append(rules, r)
	}
	slices.Sort(rules)
	for _, r := range rules {
		c := byRule[r]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", r, c[0]+c[1], c[0], c[1])
	}
	if len(rules) == 0 {
		fmt.Fprintf(tw, "(none)\t0\t0\t0\n")
	}
	tw.Flush()

	// The incidents: the alerts an analyst reads as one story each.
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "INCIDENT\tALERTS\tFROM\tTO\tTITLE (tactics in kill-chain order)\tRULES\n")
	incs := d.tap.allIncidents()
	for _, inc := range incs {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", inc.ID, inc.Alerts, inc.First.Local().Format("15:04:05"),
			inc.Last.Local().Format("15:04:05"), printable(inc.Title), strings.Join(inc.Rules, ", "))
	}
	if len(incs) == 0 {
		fmt.Fprintf(tw, "(none)\t0\t\t\t\t\n")
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ATTACK\tRESULT\tCAUGHT WITH (expected rules)\tALSO ALERTED\n")
	caughtAll := 0
	for _, p := range d.played {
		var expected, caught, also []string
		for _, l := range p.labels {
			for _, r := range l.ExpectedRules {
				if !slices.Contains(expected, r) {
					expected = append(expected, r)
				}
			}
			for _, a := range alerts {
				if a.time.Before(l.Start.Add(-time.Second)) || a.time.After(l.End.Add(grace)) {
					continue
				}
				switch {
				case slices.Contains(l.ExpectedRules, a.rule):
					if !slices.Contains(caught, a.rule) {
						caught = append(caught, a.rule)
					}
				case !slices.Contains(also, a.rule):
					also = append(also, a.rule)
				}
			}
		}
		slices.Sort(expected)
		slices.Sort(caught)
		slices.Sort(also)
		result, with := "caught", strings.Join(caught, ", ")
		switch {
		case p.err != nil && len(p.labels) == 0:
			result, with = "NOT PLAYED", p.err.Error()
		case len(caught) == 0:
			result, with = "MISSED", "expected one of: "+strings.Join(expected, ", ")
		default:
			caughtAll++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.scenario, result, with, orDash(strings.Join(also, ", ")))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d of %d attacks caught with an expected rule.\n", caughtAll, len(d.played))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
