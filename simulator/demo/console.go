package demo

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/sluice-ics/sluice/agent"
)

// alert is what the demo keeps of an alert event.
type alert struct {
	time      time.Time
	rule      string
	severity  int
	signature string
	src, dest string
}

// alertTap is the agent's console sink: it prints each alert as one line
// and keeps it for the summary.
type alertTap struct {
	mu     sync.Mutex
	w      io.Writer
	alerts []alert
	// incidents is the latest state of each incident, in order of
	// opening.
	incidents []agent.Incident
}

func newAlertTap(w io.Writer) *alertTap { return &alertTap{w: w} }

func (t *alertTap) Accepts(typ string) bool {
	return typ == agent.EventAlert || typ == agent.EventIncident
}
func (t *alertTap) Flush() error { return nil }

// Critical implements agent.Sink: the EVE file is the record, the console
// only shows it.
func (t *alertTap) Critical() bool { return false }

// Write prints one alert, or the opening of an incident; it keeps each
// incident's latest state for the summary.
func (t *alertTap) Write(r *agent.Record) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if inc := r.Incident; inc != nil {
		i := slices.IndexFunc(t.incidents, func(x agent.Incident) bool { return x.ID == inc.ID })
		if i < 0 {
			t.incidents = append(t.incidents, *inc)
			fmt.Fprintf(t.w, "  ▶ incident %s opened: %s\n", inc.ID, printable(inc.Title))
		} else {
			t.incidents[i] = *inc
		}
		return nil
	}
	al := r.Alert
	if al == nil {
		return nil
	}
	if al.Update {
		// Repeats --alert-every held back, counted at last: not a new
		// alert, and not one for the summary's tables.
		fmt.Fprintf(t.w, "  %s MORE %-26s %s → %s  %d more like it since its alert\n", r.Time.Local().Format("15:04:05.000"),
			al.Rule.String(), hostPort(r.Flow.Src), hostPort(r.Flow.Dest), al.Count)
		return nil
	}
	a := alert{time: r.Time, rule: al.Rule.String(), severity: int(al.Severity), signature: al.Signature,
		src: hostPort(r.Flow.Src), dest: hostPort(r.Flow.Dest)}
	t.alerts = append(t.alerts, a)
	// The other rules the same request broke: one line, every rule in
	// the summary's tables.
	rule := a.rule
	for i := range r.Also {
		o := &r.Also[i]
		t.alerts = append(t.alerts, alert{time: r.Time, rule: o.Rule.String(), severity: int(o.Severity),
			signature: o.Signature, src: a.src, dest: a.dest})
		rule += "+" + o.Rule.String()
	}
	sev := [...]string{"", "HIGH", "MED ", "LOW "}[min(max(a.severity, 0), 3)]
	if al.Resolved {
		sev = "OK  "
	}
	count := ""
	if al.Count > 1 {
		count = fmt.Sprintf(" (×%d)", al.Count)
	}
	fmt.Fprintf(t.w, "  %s %s %-26s %s → %s  %s%s\n", a.time.Local().Format("15:04:05.000"), sev, rule,
		a.src, a.dest, printable(a.signature), count)
	return nil
}

func (t *alertTap) allIncidents() []agent.Incident {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.incidents)
}

func (t *alertTap) all() []alert {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.alerts)
}

func hostPort(a netip.AddrPort) string {
	if !a.Addr().IsValid() {
		return "?"
	}
	if a.Port() == 0 {
		return a.Addr().String()
	}
	return a.String()
}

// printable makes network text safe for a terminal: control characters
// (escape sequences could rewrite the screen) are shown as \u escapes.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) || r == ' ' {
			return r
		}
		return '\uFFFD'
	}, s)
}
