package baselines

import (
	"errors"
	"math"
	"strconv"
	"time"
)

// AlertRecord is the stored history of one deviation: the alert log the
// report summarises and `sluice baseline accept --alert ID` reads.
type AlertRecord struct {
	ID string `json:"id"`
	Deviation
	Signature string    `json:"signature"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	// Count is every occurrence, alerted or suppressed.
	Count uint64 `json:"count"`
	// Alerts is how many alerts were raised (at most one per AlertEvery).
	Alerts uint64 `json:"alerts"`

	lastAlert time.Time // runtime: suppression
	pending   uint64    // runtime: occurrences suppressed since lastAlert
	held      bool      // runtime: in Engine.held
	dirty     bool
}

// Acceptance is a deviation folded into the baseline by an engineer.
type Acceptance struct {
	ID        string    `json:"id"`
	Deviation Deviation `json:"deviation"`
	By        string    `json:"by"`
	At        time.Time `json:"at"`
	Reason    string    `json:"reason"`
	// Folded is set when accepting learned the deviation's value into the
	// model (write_value_out_of_range widens the envelope): the acceptance
	// then does not silence the rule, channel and item, so a value beyond
	// the widened envelope still alerts.
	Folded bool `json:"folded,omitempty"`
}

// AuditEntry is one line of the baseline's audit trail: an accepted
// deviation or an approval.
type AuditEntry struct {
	Seq    uint64    `json:"seq"`
	Action string    `json:"action"` // "accept", "approve", "import", "capture"
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
	// DeviationID names the accepted deviation.
	DeviationID string     `json:"deviation_id,omitempty"`
	Deviation   *Deviation `json:"deviation,omitempty"`
	// SHA256 is the hex SHA-256 of the canonical baseline JSON at approval.
	SHA256 string `json:"sha256,omitempty"`
	// Capture describes the traffic a run fed the baseline (action
	// "capture"), so a report can say from which traffic it was learned.
	Capture *CaptureSource `json:"capture,omitempty"`
}

// raise records one occurrence of a deviation at t and returns the alert to
// fill in (with sign), or nil when the deviation is accepted or was alerted
// less than AlertEvery ago (then the occurrence is counted and reported
// with the next alert). The returned pointer is valid until the next raise.
func (e *Engine) raise(t time.Time, rule Rule, ch ChannelKey, item Item, ep *Endpoints, o *Observation, an *Anomaly) *Alert {
	return e.raiseValue(t, rule, ch, item, 0, "", ep, o, an)
}

func (e *Engine) raiseValue(t time.Time, rule Rule, ch ChannelKey, item Item, value float64, text string,
	ep *Endpoints, o *Observation, an *Anomaly) *Alert {
	if o != nil && !o.RequestTime.IsZero() {
		t = o.RequestTime
	}
	k := suppKey{rule, ch, item}
	if a, ok := e.accepted[k]; ok && !a.Folded {
		return nil
	}
	if e.policy != nil && e.policy.quiet(rule, item.What, ch.Server, t) {
		return nil // a maintenance window: the one place every rule is raised
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		// JSON cannot carry them: keep the text.
		text, value = strconv.FormatFloat(value, 'g', -1, 64), 0
	}
	rec := e.alerts[k]
	if rec != nil {
		rec.Count++
		if t.After(rec.Last) {
			rec.Last = t
		}
		rec.dirty, e.dirtyAlerts = true, true
		// Within AlertEvery of the last alert, either way: a
		// transaction emitted late (a request flushed unanswered at the
		// end of its connection) carries an earlier time than the
		// alert that came before it, and is the same episode. A clock
		// stepped back further starts a new one.
		if d := t.Sub(rec.lastAlert); !rec.lastAlert.IsZero() && d < e.cfg.AlertEvery && d > -e.cfg.AlertEvery {
			rec.pending++
			if !rec.held {
				rec.held = true
				e.held = append(e.held, rec)
			}
			return nil
		}
	} else if len(e.alerts) < e.cfg.MaxAlertKeys {
		rec = &AlertRecord{Deviation: Deviation{Rule: rule, Channel: ch, Item: item}, First: t, Last: t, Count: 1, dirty: true}
		rec.ID = rec.Deviation.ID()
		e.alerts[k], e.dirtyAlerts = rec, true
	}
	a := e.push(t, rule, ch, item, ep, o, an)
	a.Value, a.Text = value, text
	if rec != nil {
		a.ID = rec.ID
		a.Count = 1 + rec.pending
		rec.pending = 0
		rec.lastAlert = t
		rec.Alerts++
		rec.Value, rec.Text = value, text
	} else {
		a.ID = a.Deviation.ID()
	}
	return a
}

// heldBack writes the repeats held back by AlertEvery: for every deviation
// with suppressed occurrences whose last alert is AlertEvery old at now
// (every one when all, at the end of a run), an update alert (Update set)
// at now, so that alerts stay in time order, whose Count is those
// occurrences (their first and last times are in the alert log).
// The counts of a deviation's alerts then add up to its occurrences
// (issue #16 §3), and a live SIEM learns them within AlertEvery.
func (e *Engine) heldBack(now time.Time, all bool) {
	keep := e.held[:0]
	for _, rec := range e.held {
		if rec.pending == 0 || e.alerts[suppKey{rec.Rule, rec.Channel, rec.Item}] != rec {
			rec.held = false
			continue
		}
		if !all && elapsed(now, rec.lastAlert) < e.cfg.AlertEvery {
			keep = append(keep, rec)
			continue
		}
		a := e.push(now, rec.Rule, rec.Channel, rec.Item, nil, nil, nil)
		a.ID, a.Count, a.Update = rec.ID, rec.pending, true
		a.Signature, a.Value, a.Text = rec.Signature, rec.Value, rec.Text
		// lastAlert stays: the suppression window is the alert's, and
		// an occurrence emitted late (with its earlier time) still
		// falls in it.
		rec.pending, rec.held = 0, false
	}
	clear(e.held[len(keep):])
	e.held = keep
}

// FlushHeldBack returns an update alert for every deviation whose repeats
// AlertEvery held back (heldBack): call it once at the end of a run, after
// the last Observe and Tick, so that no count is lost. The slice is reused
// by the next call, as Observe's.
func (e *Engine) FlushHeldBack(now time.Time) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.begin(now)
	e.heldBack(now, true)
	return e.out
}

// resolve raises the end of a condition; it is never suppressed.
func (e *Engine) resolve(t time.Time, rule Rule, ch ChannelKey, item Item, ep *Endpoints, o *Observation) *Alert {
	if o != nil && !o.RequestTime.IsZero() {
		t = o.RequestTime
	}
	k := suppKey{rule, ch, item}
	if a, ok := e.accepted[k]; ok && !a.Folded {
		return nil
	}
	if e.policy != nil && e.policy.quiet(rule, item.What, ch.Server, t) {
		return nil
	}
	a := e.push(t, rule, ch, item, ep, o, nil)
	a.ID = a.Deviation.ID()
	a.Count = 1
	a.Resolved = true
	a.Severity = 3
	return a
}

func (e *Engine) push(t time.Time, rule Rule, ch ChannelKey, item Item, ep *Endpoints, o *Observation, an *Anomaly) *Alert {
	e.out = append(e.out, Alert{
		Time:        t,
		Deviation:   Deviation{Rule: rule, Channel: ch, Item: item},
		SignatureID: rule.SignatureID(),
		Severity:    rule.Severity(),
		Category:    rule.Category(),
		Techniques:  rule.Techniques(),
		Obs:         o,
		Anomaly:     an,
	})
	a := &e.out[len(e.out)-1]
	if ep != nil {
		a.Endpoints = *ep
	} else {
		a.Endpoints = Endpoints{ClientIP: ch.Client, ServerIP: ch.Server, ServerPort: ch.Port}
	}
	return a
}

// sign sets the human sentence of a just-raised alert and of its record.
func (e *Engine) sign(a *Alert, s string) {
	a.Signature = s
	if a.Resolved {
		return
	}
	if rec := e.alerts[suppKey{a.Rule, a.Channel, a.Item}]; rec != nil {
		rec.Signature = s
	}
}

// ErrNewerSchema is returned when a stored or exported baseline was written
// by a newer Sluice than this one.
var ErrNewerSchema = errors.New("baselines: baseline written by a newer version of sluice")
