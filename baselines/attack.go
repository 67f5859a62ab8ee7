package baselines

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"slices"
	"time"
)

// ATT&CK for ICS's tactics, the order of a kill chain, and incidents: the
// alerts (or stored deviations) that share an actor and a target within a
// window. The agent groups its live alerts with them (agent/incident.go);
// the report regroups the stored alert log (GroupIncidents), with the same
// ids when the window is the same.

// tactics are ATT&CK for ICS's tactics in kill-chain order.
var tactics = []string{"Initial Access", "Execution", "Persistence", "Privilege Escalation", "Evasion", "Discovery",
	"Lateral Movement", "Collection", "Command and Control", "Inhibit Response Function", "Impair Process Control", "Impact"}

// techniqueTactic is the tactic of each technique the rules name (its
// first tactic in the matrix where it has several). TestEveryTechniqueHasATactic
// holds every rule's techniques to it.
var techniqueTactic = map[string]string{
	"T0848": "Initial Access", "T0886": "Initial Access", "T0822": "Initial Access",
	"T0858": "Execution",
	"T0859": "Persistence", "T0839": "Persistence", "T0857": "Persistence",
	"T0846": "Discovery", "T0888": "Discovery",
	"T0843": "Lateral Movement", "T0867": "Lateral Movement",
	"T0830": "Collection", "T0861": "Collection", "T0845": "Collection",
	"T0885": "Command and Control", "T0869": "Command and Control",
	"T0814": "Inhibit Response Function", "T0816": "Inhibit Response Function", "T0878": "Inhibit Response Function",
	"T0881": "Inhibit Response Function",
	"T0855": "Impair Process Control", "T0836": "Impair Process Control", "T0806": "Impair Process Control",
	"T0856": "Evasion",
	"T0815": "Impact", "T0829": "Impact", "T0831": "Impact", "T0832": "Impact", "T0879": "Impact",
}

// Tactic returns the ATT&CK for ICS tactic of technique t ("" when the
// table does not know it).
func Tactic(t string) string { return techniqueTactic[t] }

// stage orders a technique in the kill chain (unknown ones last).
func stage(t string) int {
	if i := slices.Index(tactics, techniqueTactic[t]); i >= 0 {
		return i
	}
	return len(tactics)
}

// KillChain returns techniques in kill-chain order (the given order kept
// within a tactic) and their tactics in order.
func KillChain(techniques []string) (techs, tacs []string) {
	techs = slices.Clone(techniques)
	slices.SortStableFunc(techs, func(a, b string) int { return stage(a) - stage(b) })
	for _, t := range techs {
		if tac := techniqueTactic[t]; tac != "" && !slices.Contains(tacs, tac) {
			tacs = append(tacs, tac)
		}
	}
	return techs, tacs
}

// IncidentID is an incident's stable id: from its actor, its target and
// the time of its first alert, so the same capture gives the same ids.
func IncidentID(actor, target netip.Addr, first time.Time) string {
	h := sha256.New()
	a, b := actor.As16(), target.As16()
	h.Write(a[:])
	h.Write(b[:])
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(first.UnixNano()))
	h.Write(t[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Incident is a group of stored deviations (GroupIncidents).
type Incident struct {
	ID            string
	Actor, Target netip.Addr
	First, Last   time.Time
	Severity      uint8
	// Deviations are the ids of its alert records, in order of first
	// occurrence; Occurrences what they count.
	Deviations  []string
	Occurrences uint64
	// Rules in order of first occurrence; Tactics and Techniques in
	// kill-chain order.
	Rules, Tactics, Techniques []string
}

// GroupIncidents groups alert records as the agent groups live alerts:
// records between the same client and server whose first occurrences lie
// within window of the group's latest one form one incident; a
// poll_stopped, which no connection raises, joins the open incident on its
// server. The records are taken in order of first occurrence; a deviation
// that repeats over days stays with the incident of its first alert.
func GroupIncidents(recs []*AlertRecord, window time.Duration) []*Incident {
	recs = slices.Clone(recs)
	slices.SortStableFunc(recs, func(a, b *AlertRecord) int {
		return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.ID, b.ID))
	})
	type key struct{ actor, target netip.Addr }
	open := map[key]*Incident{}
	byTarget := map[netip.Addr]*Incident{}
	var out []*Incident
	near := func(inc *Incident, t time.Time) bool {
		d := t.Sub(inc.Last)
		return d < window && d > -window
	}
	for _, r := range recs {
		k := key{r.Channel.Client, r.Channel.Server}
		var inc *Incident
		if r.Rule == PollStopped {
			if t := byTarget[k.target]; t != nil && near(t, r.First) {
				inc = t
			}
		}
		if inc == nil {
			if o := open[k]; o != nil && near(o, r.First) {
				inc = o
			}
		}
		if inc == nil {
			inc = &Incident{ID: IncidentID(k.actor, k.target, r.First), Actor: k.actor, Target: k.target,
				First: r.First, Last: r.First, Severity: r.Rule.Severity()}
			open[k] = inc
			out = append(out, inc)
		}
		if r.First.After(inc.Last) {
			inc.Last = r.First
		}
		inc.Severity = min(inc.Severity, r.Rule.Severity())
		inc.Deviations = append(inc.Deviations, r.ID)
		inc.Occurrences += r.Count
		if n := r.Rule.String(); !slices.Contains(inc.Rules, n) {
			inc.Rules = append(inc.Rules, n)
		}
		for _, t := range r.Rule.Techniques() {
			if !slices.Contains(inc.Techniques, t) {
				inc.Techniques = append(inc.Techniques, t)
			}
		}
		byTarget[k.target] = inc
	}
	for _, inc := range out {
		inc.Techniques, inc.Tactics = KillChain(inc.Techniques)
	}
	return out
}
