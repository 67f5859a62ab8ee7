package baselines

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// PollKey names a repeating request, as its protocol model makes it (the
// model's pollKey): Modbus (function, table, range) or an OPC UA Read by
// its first node.
type PollKey struct {
	Function uint8
	Table    modbus.Table
	Start    uint16
	Count    uint16
	Node     string
}

// MarshalText writes "3:holding_registers:0:10" or "read:NODE".
func (k PollKey) MarshalText() ([]byte, error) {
	if k.Node != "" {
		return []byte("read:" + k.Node), nil
	}
	return []byte(fmt.Sprintf("%d:%s:%d:%d", k.Function, k.Table, k.Start, k.Count)), nil
}

// UnmarshalText parses what MarshalText writes.
func (k *PollKey) UnmarshalText(b []byte) error {
	s := string(b)
	if n, ok := strings.CutPrefix(s, "read:"); ok {
		*k = PollKey{Node: n}
		return nil
	}
	f := strings.Split(s, ":")
	if len(f) != 4 {
		return fmt.Errorf("baselines: bad poll key %q", b)
	}
	var v [3]uint64
	for i, x := range []string{f[0], f[2], f[3]} {
		n, err := strconv.ParseUint(x, 10, 16)
		if err != nil {
			return fmt.Errorf("baselines: bad poll key %q: %w", b, err)
		}
		v[i] = n
	}
	if v[0] > 255 {
		return fmt.Errorf("baselines: bad poll key %q", b)
	}
	*k = PollKey{Function: uint8(v[0]), Start: uint16(v[1]), Count: uint16(v[2])}
	return k.Table.UnmarshalText([]byte(f[1]))
}

func (k PollKey) String() string {
	b, _ := k.MarshalText()
	return string(b)
}

// Rhythm is the learned timing of one repeating request.
type Rhythm struct {
	Samples uint64 `json:"samples"`
	// Period and Jitter are exponentially weighted mean and mean absolute
	// deviation of the interval between repetitions.
	Period time.Duration `json:"period"`
	Jitter time.Duration `json:"jitter"`
	Last   time.Time     `json:"last"`
}

// rhythmWeight is the weight of a new interval in the moving averages.
const rhythmWeight = 0.1

// add folds a repetition at t in. The interval from the last repetition
// is learned only when that one came at or after since (Engine.resumed):
// an interval spanning time the capture did not see (between two
// captures, two runs, or across a sensor-wide silence) is no period.
func (r *Rhythm) add(t, since time.Time) {
	// An interval no longer than the learned period cannot hide a gap
	// worth skipping: only longer ones are checked against since.
	if dt := elapsed(t, r.Last); dt > 0 && !r.Last.IsZero() && (dt <= r.Period || !r.Last.Before(since)) {
		switch {
		case r.Period == 0:
			r.Period = dt
		default:
			dev := dt - r.Period
			if dev < 0 {
				dev = -dev
			}
			r.Period += time.Duration(rhythmWeight * float64(dt-r.Period))
			r.Jitter += time.Duration(rhythmWeight * float64(dev-r.Jitter))
		}
	}
	r.Samples++
	r.Last = t
}

// Regular reports whether the request repeats with a stable period.
func (r *Rhythm) Regular(minSamples int) bool {
	return r.Samples >= uint64(minSamples) && r.Period > 0 && r.Jitter*2 <= r.Period
}

// sanitizeRhythms drops the nil rhythms a hostile import may carry.
func sanitizeRhythms(m map[PollKey]*Rhythm) {
	for k, r := range m {
		if r == nil {
			delete(m, k)
		}
	}
}

// poll is this run's view of one learned poll: its rhythm, when it was
// last answered (a baseline loaded from an older capture must not look
// stopped) and whether poll_stopped was raised for it.
type poll struct {
	key     PollKey
	r       *Rhythm
	seen    time.Time
	stopped bool
}

// pollScan is how many polls a channel finds by a linear scan.
const pollScan = 16

// indexPolls makes this run's view of the model's polls (Load).
func (c *channel) indexPolls() {
	c.polls, c.byKey = nil, nil
	for k, r := range c.Polls() {
		c.addPoll(&poll{key: k, r: r})
	}
}

func (c *channel) addPoll(p *poll) {
	c.polls = append(c.polls, p)
	if len(c.polls) > pollScan {
		if c.byKey == nil {
			c.byKey = make(map[PollKey]*poll, 2*len(c.polls))
			for _, q := range c.polls {
				c.byKey[q.key] = q
			}
		}
		c.byKey[p.key] = p
	}
}

// poll returns the learned poll pk, or nil.
func (c *channel) poll(pk PollKey) *poll {
	if c.byKey != nil {
		return c.byKey[pk]
	}
	for _, p := range c.polls {
		if p.key == pk {
			return p
		}
	}
	return nil
}

// learnPoll adds a repetition at t to poll pk (since: Rhythm.add),
// learning the poll when it is new (isNew).
func (c *channel) learnPoll(e *Engine, pk PollKey, t, since time.Time) (p *poll, isNew bool) {
	if p = c.poll(pk); p == nil {
		if len(c.polls) == 0 {
			e.polled = append(e.polled, c)
		}
		m := c.Model.polls()
		if *m == nil {
			*m = map[PollKey]*Rhythm{}
		}
		p = &poll{key: pk, r: &Rhythm{}}
		(*m)[pk] = p.r
		c.addPoll(p)
		isNew = true
	}
	p.r.add(t, since)
	return p, isNew
}

// found is what learning or judging one transaction found on the way, for
// Observe to act on.
type found struct {
	// newItems counts the baseline items learned (the convergence
	// figure).
	newItems int
	// poll is the transaction's learned poll; pollKnown says it was
	// looked up (a nil poll is then no learned poll), else Observe looks
	// it up when the transaction was answered.
	poll      *poll
	pollKnown bool
}

// seenPoll notes an answered repetition of a learned poll and raises the
// return of a stopped one. f is what learning or judging found.
func (e *Engine) seenPoll(o *Observation, c *channel, p *proto, f found) {
	pl := f.poll
	if pl == nil {
		if f.pollKnown {
			return
		}
		pk, ok := p.pollKey(o)
		if !ok {
			return
		}
		if pl = c.poll(pk); pl == nil {
			return
		}
	}
	pl.seen = o.Time
	if pl.stopped {
		pl.stopped = false
		// The channel's polling is back with its first poll answered:
		// one return per channel, as one alert said it stopped.
		if c.pollsStopped {
			c.pollsStopped = false
			if a := e.resolve(o.Time, PollStopped, c.Key, pollsItem, &o.Endpoints, o); a != nil {
				e.sign(a, fmt.Sprintf("Polling of %s by %s resumed (%s)", serverName(c.Key), c.Key.Client, pollName(pl.key)))
			}
		}
	}
}

// pollsItem is the item of poll_stopped: the channel's polling as a whole
// (issue 16: a stopped network is one alert per channel, listing its
// polls, not one per poll).
var pollsItem = Item{What: "polls"}

// stoppedPolls marks c's regular polls not answered for more than
// PollMissFactor periods and 4 jitters at now as stopped, and raises one
// poll_stopped for the channel when the first of them stops, listing the
// polls overdue then (the slower ones, which stop later in the same
// outage, are part of it: no alert of their own).
func (e *Engine) stoppedPolls(c *channel, now time.Time) {
	var stopped []string
	for _, pl := range c.polls {
		r := pl.r
		if pl.stopped || !r.Regular(e.cfg.PollMinSamples) {
			continue
		}
		seen := pl.seen
		if seen.IsZero() {
			seen = e.start
		}
		limit := time.Duration(e.cfg.PollMissFactor*float64(r.Period)) + 4*r.Jitter
		if now.Sub(seen) <= limit {
			continue
		}
		pl.stopped = true
		if !c.pollsStopped {
			stopped = append(stopped, fmt.Sprintf("%s not answered for %s (period %s)",
				pollName(pl.key), now.Sub(seen).Round(time.Second), r.Period.Round(time.Millisecond)))
		}
	}
	if len(stopped) == 0 {
		return
	}
	c.pollsStopped = true
	slices.Sort(stopped) // c.polls is in no fixed order
	if a := e.raise(now, PollStopped, c.Key, pollsItem, nil, nil, nil); a != nil {
		e.sign(a, fmt.Sprintf("Polling of %s by %s stopped: %s", serverName(c.Key), c.Key.Client, strings.Join(stopped, "; ")))
	}
}

// pollName names a poll in alert sentences, as its key's text form tells
// the kinds apart: "read of NODE" or "FC 3 holding_registers 0-9".
func pollName(pk PollKey) string {
	if pk.Node != "" {
		return "read of " + pk.Node
	}
	return fmt.Sprintf("FC %d %s %d-%d", pk.Function, pk.Table, pk.Start, uint32(pk.Start)+uint32(pk.Count)-1)
}
