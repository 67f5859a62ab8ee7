package agent

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/jsonw"
)

// EventIncident is the event type of incidents: alerts that share an actor
// and a target within Config.IncidentWindow, one story for an analyst
// instead of a column of alerts (issue #16 §2).
const EventIncident = "incident"

// DefaultIncidentWindow is how long an incident stays open after its last
// alert: a later alert between the same hosts starts a new one.
const DefaultIncidentWindow = 30 * time.Minute

// Incident is an incident event as a sink sees it (Record.Incident): the
// fields of the EVE "incident" object.
type Incident struct {
	ID string
	// Status is "open", "update" (a rule or technique joined) or
	// "closed" (IncidentWindow passed without an alert, or the run ended).
	Status      string
	Title       string
	First, Last time.Time
	Severity    uint8
	// Alerts counts the alert lines (updates of held-back repeats
	// excepted), Occurrences what they stand for.
	Alerts, Occurrences uint64
	// Rules in order of first alert; Tactics and Techniques in ATT&CK
	// for ICS kill-chain order.
	Rules, Tactics, Techniques []string
}

// incidentKey is who did it to whom: the client and the server of the
// alerts' channel.
type incidentKey struct{ actor, target netip.Addr }

// incident is one open incident.
type incident struct {
	id          string
	key         incidentKey
	first, last time.Time
	severity    uint8
	alerts      uint64
	occurrences uint64
	rules       []string
	techniques  []string
	// grew: a rule joined since the incident was last written.
	grew bool
}

// incidents groups the run's alerts. Like the rest of the agent it runs on
// packet time only, so a replay writes the same incidents every time.
type incidents struct {
	window time.Duration
	open   map[incidentKey]*incident
	// byDeviation is the incident of each deviation's latest alert: a
	// return (poll resumed) or an update of held-back repeats joins it and
	// never opens one.
	byDeviation map[string]*incident
	// byTarget is the latest open incident on each server: an alert that
	// belongs to no connection (poll_stopped: the HMI lost its view of the
	// PLC) joins it as the attack's consequence.
	byTarget map[netip.Addr]*incident
	// process is the latest incident a process alert joined: the same
	// plant seen through another server (an OPC UA server in front of
	// the PLC an attacker wrote to) reads the same consequences, and a
	// process alert no incident on its own server takes joins it.
	process *incident
}

func newIncidents(window time.Duration) *incidents {
	return &incidents{window: window, open: map[incidentKey]*incident{},
		byDeviation: map[string]*incident{}, byTarget: map[netip.Addr]*incident{}}
}

// add files alert al and returns its incident and whether the incident is
// new (to be written before the alert); nil when no incident takes it (a
// return or an update whose incident has closed). closed is an incident
// between the same hosts that the window had ended (to be written closed
// first).
func (is *incidents) add(al *baselines.Alert) (inc *incident, opened bool, closed *incident) {
	k := incidentKey{actor: al.Channel.Client, target: al.Channel.Server}
	if !k.actor.IsValid() {
		k.actor = al.Endpoints.ClientIP
	}
	if !k.target.IsValid() {
		k.target = al.Endpoints.ServerIP
	}
	ts := al.Time
	switch {
	case al.Resolved || al.Update:
		// Joins the incident of its deviation while it is open.
		if inc = is.byDeviation[al.ID]; inc == nil || is.open[inc.key] != inc {
			return nil, false, nil
		}
	case al.Endpoints.FlowID == 0 && al.Obs == nil && al.Anomaly == nil, al.Process != nil:
		// Raised by time alone (poll_stopped), or a process value the
		// HMI reads (the HMI is no actor: it sees what happened to the
		// process): a consequence of what happens to the server, if
		// anything does.
		if t := is.byTarget[k.target]; t != nil && is.open[t.key] == t && within(ts, t.last, is.window) {
			inc = t
		} else if t := is.process; al.Process != nil && t != nil && is.open[t.key] == t && within(ts, t.last, is.window) {
			inc = t
		}
	}
	if inc == nil {
		if inc = is.open[k]; inc != nil && !within(ts, inc.last, is.window) {
			closed, inc = inc, nil // too long ago: a new incident
			delete(is.open, k)
		}
	}
	if inc == nil {
		inc = &incident{key: k, first: ts, last: ts, severity: al.Severity}
		inc.id = baselines.IncidentID(k.actor, k.target, ts)
		is.open[k], opened = inc, true
	}
	if !al.Update && ts.After(inc.last) {
		inc.last = ts // an update is written late: its repeats came before
	}
	if !al.Update {
		inc.alerts++
	}
	is.fold(inc, al, opened)
	if al.Process != nil {
		is.process = inc
	}
	return inc, opened, closed
}

// fold adds what alert al brings to inc: its occurrences, severity, rule
// and techniques; al is the alert add filed, or another rule the same
// request broke, merged into that alert's event (opened: inc opened with
// it, so nothing makes it grow).
func (is *incidents) fold(inc *incident, al *baselines.Alert, opened bool) {
	if al.Severity < inc.severity {
		inc.severity = al.Severity
	}
	inc.occurrences += al.Count
	if r := al.Rule.String(); !slices.Contains(inc.rules, r) {
		inc.rules = append(inc.rules, r)
		inc.grew = !opened
	}
	for _, t := range al.Techniques {
		if !slices.Contains(inc.techniques, t) {
			inc.techniques = append(inc.techniques, t)
			inc.grew = inc.grew || !opened
		}
	}
	is.byDeviation[al.ID] = inc
	is.byTarget[inc.key.target] = inc
}

// expire returns the incidents whose last alert is more than the window
// before now, oldest first, and forgets them; every open one when all.
func (is *incidents) expire(now time.Time, all bool) []*incident {
	var out []*incident
	for k, inc := range is.open {
		if all || !within(now, inc.last, is.window) {
			out = append(out, inc)
			delete(is.open, k)
		}
	}
	slices.SortFunc(out, func(a, b *incident) int {
		if c := a.last.Compare(b.last); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	if len(out) > 0 {
		for d, inc := range is.byDeviation {
			if is.open[inc.key] != inc {
				delete(is.byDeviation, d)
			}
		}
		for t, inc := range is.byTarget {
			if is.open[inc.key] != inc {
				delete(is.byTarget, t)
			}
		}
	}
	return out
}

// within reports whether t is less than w after (or before) then.
func within(t, then time.Time, w time.Duration) bool {
	d := t.Sub(then)
	return d < w && d > -w
}

// chain returns the incident's techniques in kill-chain order (first seen
// first within a tactic) and its tactics in order.
func (inc *incident) chain() (techs, tacs []string) { return baselines.KillChain(inc.techniques) }

// incidentOf files al with its incident, writing the incident's events
// that come before the alert (an expired one closed, a new one opened),
// and returns it (nil: none).
func (a *Agent) incidentOf(al *baselines.Alert, also []baselines.Alert) *incident {
	inc, opened, closed := a.inc.add(al)
	if inc != nil {
		for i := range also {
			a.inc.fold(inc, &also[i], opened)
		}
	}
	if closed != nil {
		a.writeIncident(closed, a.now, "closed")
	}
	if opened {
		a.writeIncident(inc, al.Time, "open")
	}
	return inc
}

// writeIncident writes the incident event of inc at ts with status open,
// update or closed.
func (a *Agent) writeIncident(inc *incident, ts time.Time, status string) {
	inc.grew = false
	w := a.w
	if !w.wants(w.incidents) {
		return
	}
	w.openParties(ts, EventIncident, w.incidents, "", inc.key.actor, inc.key.target)
	techs, tacs := inc.chain()
	title := inc.key.actor.Unmap().String() + " → " + inc.key.target.Unmap().String()
	if len(tacs) > 0 {
		title += ": " + strings.Join(tacs, " → ")
	}
	w.rec.Incident = &Incident{ID: inc.id, Status: status, Title: title, First: inc.first, Last: inc.last,
		Severity: inc.severity, Alerts: inc.alerts, Occurrences: inc.occurrences,
		Rules: inc.rules, Tactics: tacs, Techniques: techs}
	b := append(w.buf, `,"incident":{"id":`...)
	b = jsonw.String(b, inc.id)
	b = append(b, `,"status":`...)
	b = jsonw.String(b, status)
	b = append(b, `,"title":`...)
	b = jsonw.String(b, title)
	b = append(b, `,"first":`...)
	b = w.appendTime(b, inc.first)
	b = append(b, `,"last":`...)
	b = w.appendTime(b, inc.last)
	b = append(b, `,"severity":`...)
	b = jsonw.Uint(b, uint64(inc.severity))
	b = append(b, `,"alerts":`...)
	b = jsonw.Uint(b, inc.alerts)
	b = append(b, `,"occurrences":`...)
	b = jsonw.Uint(b, inc.occurrences)
	b = appendStrings(b, "rules", inc.rules)
	b = appendStrings(b, "tactics", tacs)
	b = appendStrings(b, "techniques", techs)
	w.buf = append(b, '}')
	w.send()
}

// appendStrings appends ,"k":["a","b"].
func appendStrings(b []byte, k string, ss []string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	b = append(b, `":[`...)
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.String(b, s)
	}
	return append(b, ']')
}

// closeIncidents writes the closing event of the incidents idle past the
// window at now (all of them at the end of the run).
func (a *Agent) closeIncidents(now time.Time, all bool) {
	for _, inc := range a.inc.expire(now, all) {
		a.writeIncident(inc, now, "closed")
	}
}
