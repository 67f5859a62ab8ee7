package baselines

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Engine learns and judges. Create it with New (or Load a stored baseline
// into it); feed it from one goroutine.
type Engine struct {
	// scanners are the sources port_scan follows (network.go).
	scanners map[netip.Addr]*scanner
	// pendingNames are host names for addresses not in the inventory
	// yet (NameHost).
	pendingNames map[netip.Addr][]string
	mu           sync.Mutex
	cfg          Config
	devices      map[netip.Addr]*device
	channels     map[ChannelKey]*channel
	// polled are the channels with polls, the ones Tick walks each
	// second: a network of thousands of hosts has as many channels that
	// never poll (its conversations), which it need not visit.
	polled []*channel
	// pairs counts the learned channels per (protocol, client, server):
	// a client with none towards a server is a new master.
	pairs  map[pairKey]int
	chanRT map[ChannelKey]*chanRuntime
	// procSlab is where new process variables are carved from
	// (newProcessVar): the variables one read makes lie side by side,
	// and a repeat of the read walks them in order instead of chasing a
	// pointer into the heap per value.
	procSlab []ProcessVar
	pairRT   map[pairKey]*pairRuntime
	alerts   map[suppKey]*AlertRecord
	accepted map[suppKey]*Acceptance
	audit    []AuditEntry // pending, not yet stored

	// start is the packet time of the first input of this run.
	start time.Time
	// learnEnd is when the network as a whole stops learning in Auto
	// mode (earliest device first-seen + LearnFor): later new devices
	// raise new_device.
	learnEnd time.Time
	lastTick time.Time
	// resumed is when the capture last resumed: the first input of the
	// run, the end of a CaptureGap, the first input after a sensor-wide
	// silence longer than CaptureSilence. Poll intervals that begin
	// before it are not learned. lastInputSec is the Unix second of the
	// latest input (hasInput: there was one): seconds are precise enough
	// for a silence of minutes, and most inputs share their second with
	// the one before, which then costs one comparison.
	resumed      time.Time
	lastInputSec int64
	hasInput     bool
	// held are the alert records with repeats held back by AlertEvery
	// (heldBack writes them).
	held []*AlertRecord

	// hot caches Observe's lookups for recently seen channels, hotLRU is
	// the slot of each set to refill next, flowHint the slot (set*2 +
	// way + 1) where a connection's last channel was found (lookup.go).
	hot      [hotSets][2]hot
	hotLRU   [hotSets]uint8
	flowHint [flowHints]uint16

	// plain makes a reference engine for tests: no memos and no caches
	// (lookup cache, device caches, the models' memos), so that every
	// verdict is worked out from the baseline itself. FuzzObserve runs
	// every input through one and compares.
	plain bool

	dirtyAlerts   bool
	dirtyAccepted bool
	out           []Alert

	limited Limited

	// policy is the engineer's rules (policy.go); nil without --rules.
	policy *Policy
}

// Limited counts what the engine refused to learn to respect its caps
// (Config.MaxDevices, MaxChannels) or because it was never confirmed (an
// endpoint whose requests were never answered). Each field is a running
// total for the engine's life.
type Limited struct {
	// Devices: new devices not added because the inventory was full.
	Devices uint64
	// Channels: new channels not learned because the baseline was full.
	Channels uint64
	// Items: items a channel did not learn because its set was full
	// (Config.MaxItems).
	Items uint64
	// Unconfirmed: unknown endpoints not added because their transaction
	// was never answered (a spoofed source, an absent host scanned), one
	// per end per transaction.
	Unconfirmed uint64
	// ProcessVars: values of process variables not learned because their
	// server held Config.MaxProcessVarsPerDevice variables.
	ProcessVars uint64
}

// Limited returns what the engine refused to learn so far.
func (e *Engine) Limited() Limited {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.limited
}

type suppKey struct {
	Rule    Rule
	Channel ChannelKey
	Item    Item
}

// maxRuntime caps the channels and pairs that have rate windows.
const maxRuntime = 1 << 16

// New returns an engine with an empty baseline.
func New(cfg Config) *Engine {
	return &Engine{
		cfg:      cfg.withDefaults(),
		devices:  map[netip.Addr]*device{},
		channels: map[ChannelKey]*channel{},
		pairs:    map[pairKey]int{},
		chanRT:   map[ChannelKey]*chanRuntime{},
		pairRT:   map[pairKey]*pairRuntime{},
		alerts:   map[suppKey]*AlertRecord{},
		accepted: map[suppKey]*Acceptance{},
	}
}

// Config returns the engine's configuration with defaults applied.
func (e *Engine) Config() Config { return e.cfg }

// begin starts one call: resets the output and notes the run's start.
func (e *Engine) begin(t time.Time) {
	e.out = e.out[:0]
	if e.start.IsZero() {
		e.start = t
	}
}

// input notes the time of a transaction: the first of the run, or the
// first after a silence of every channel longer than CaptureSilence, is a
// resumption of the capture (resumed).
func (e *Engine) input(t time.Time) {
	s := t.Unix()
	if s <= e.lastInputSec && e.hasInput {
		return
	}
	if !e.hasInput || s-e.lastInputSec > int64(e.cfg.CaptureSilence/time.Second) {
		e.resumed = t
	}
	e.lastInputSec, e.hasInput = s, true
}

// CaptureGap tells the engine that the capture did not see the time from
// from to to: the boundary between two capture files (to may be before
// from when the files overlap or come out of order), a restarted capture.
// Poll intervals across it are not learned, and poll_stopped judges only
// the time after it: a poll answered before the gap has until its limit
// after to.
func (e *Engine) CaptureGap(from, to time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resumed, e.lastInputSec, e.hasInput = to, to.Unix(), true
	if to.Before(e.lastTick) {
		e.lastTick = time.Time{}
	}
	if to.Before(from) {
		// The clock went back: the rate windows would count the next
		// file's requests in their newest bucket (a request flood of
		// a normal poll). They start afresh; so does the scan window
		// (it resets on a step back by itself).
		for _, rt := range e.chanRT {
			rt.requests = slidingCount{}
			if st, ok := rt.state.(*modbusRuntime); ok {
				st.exceptions = slidingCount{}
			}
		}
	}
	for _, c := range e.channels {
		for _, pl := range c.polls {
			if !pl.stopped {
				pl.seen = to
			}
		}
	}
}

// Observe learns from and/or judges one transaction and returns the alerts
// it raises. The returned slice is reused by the next call to Observe,
// ObserveAnomaly or Tick. It never allocates for a transaction that the
// baseline already knows.
//
// The steps, each raising its alerts in turn: the inventory (new_device),
// the protocol's signature rules, the rate rules, learning or judging by
// the protocol model, and the return of a stopped poll.
func (e *Engine) Observe(o *Observation) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.begin(o.Time)
	e.input(o.Time)
	p := protoOf(o.Protocol)
	if p == nil || !o.ClientIP.IsValid() || !o.ServerIP.IsValid() {
		return e.out
	}
	t, ok := p.read(o)
	if !ok {
		return e.out
	}
	key := ChannelKey{Protocol: o.Protocol, Client: o.ClientIP, Server: o.ServerIP, Unit: t.unit, Port: t.port,
		Master: t.master, Outstation: t.outstation}
	h := e.lookup(&key, o.FlowID)
	c, rt, pr := h.ch, h.rt, h.pr
	// Both devices are nearly always known, with their role and MAC.
	srv, cli := h.srv, h.cli
	if e.known(srv, o.ServerMAC, p.server) && e.known(cli, o.ClientMAC, p.client) {
		seenBoth(srv, cli, o.Time)
	} else {
		srv = e.device(srv, o.ServerIP, o.ServerMAC, p.server, o)
		cli = e.device(cli, o.ClientIP, o.ClientMAC, p.client, o)
	}
	learn := e.learning(srv, o.Time)
	if srv != nil && p.identifier != nil {
		e.identity(p, srv, o, key)
	}
	if srv != nil && e.cfg.Mode != Monitor && p.inventory != nil {
		p.inventory.inventory(&srv.Device, o)
	}
	if p.signer != nil {
		p.signer.signatures(e, o, rt)
	}
	if e.policy != nil {
		e.judgePolicy(o, &key)
	}
	if !p.noRates {
		e.rates(o, &key, c, rt, learn)
	}
	if p.rater != nil {
		p.rater.rates(e, o, rt, pr)
	}
	var f found
	if learn && srv != nil && t.learnable {
		n := 0
		if c == nil && len(e.channels) < e.cfg.MaxChannels {
			c = e.newChannel(key, o.Time)
			n++
		}
		if c != nil {
			f = e.learn(p, c, rt, srv, o)
		} else {
			e.limited.Channels++
		}
		// The client's behaviour converges with the channel: count the
		// new items for it too.
		if n += f.newItems; n > 0 {
			e.noteNew(srv, o.Time, n)
			e.noteNew(cli, o.Time, n)
		}
	} else if !learn {
		f = p.judge(e, c, rt, o)
	}
	if c != nil && t.answered {
		// seenPoll's common case without the call: a known poll that is
		// not stopped only has its time noted.
		if pl := f.poll; pl != nil && !pl.stopped {
			pl.seen = o.Time
		} else if pl != nil || !f.pollKnown {
			e.seenPoll(o, c, p, f)
		}
	}
	return e.out
}

// learn counts one learnable transaction on c and lets its model learn it.
func (e *Engine) learn(p *proto, c *channel, rt *chanRuntime, srv *device, o *Observation) found {
	// o.Time.After(c.LastSeen) for packet times (see device.seen).
	if ts, ls := o.Time.Unix(), c.LastSeen.Unix(); ts > ls || ts == ls && o.Time.Nanosecond() > c.LastSeen.Nanosecond() {
		c.LastSeen = o.Time
	}
	c.Transactions++
	c.dirty = true
	// Most transactions fall in the server's newest convergence bucket
	// (or before it), where advancing the ring is a no-op: compare with
	// the bucket's end instead of dividing, or even working out the
	// bucket width.
	if ns := o.Time.UnixNano(); srv.convW != int64(e.cfg.ConvergenceWindow) || ns >= srv.convEnd || e.plain {
		e.converge(srv, ns)
	}
	return p.learn(e, c, rt, o)
}

// rates keeps the per-channel request window, raising request_flood. While
// the channel learns, the busiest window becomes its PeakWindow. The window
// slides (slidingCount).
func (e *Engine) rates(o *Observation, key *ChannelKey, c *channel, rt *chanRuntime, learn bool) {
	requests := rt.requests.add(o.Time, e.cfg.Window)
	var peak uint32
	if c != nil {
		peak = c.PeakWindow
		if learn && e.cfg.Mode != Monitor {
			// The busiest window of each Window-long period is folded
			// into PeakWindow when the period ends, and request_flood
			// compares with the peak of the periods before: were the
			// peak raised on every request, a flood while learning
			// would ratchet it up and never alert.
			if p := rt.requests.period(); p != rt.peakPeriod {
				if rt.peakPending > c.PeakWindow {
					c.PeakWindow = rt.peakPending
					c.dirty = true
				}
				rt.peakPeriod, rt.peakPending = p, 0
			}
			rt.peakPending = max(rt.peakPending, requests)
		}
	}
	limit := float64(e.cfg.FloodMin)
	if f := e.cfg.FloodFactor * float64(peak); f > limit {
		limit = f
	}
	if float64(requests) > limit {
		if a := e.raise(o.Time, RequestFlood, *key, Item{}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Request flood: %d requests within %s from %s to %s (learned peak %d)",
				requests, e.cfg.Window, key.Client, serverName(*key), peak))
		}
	}
}

// knownPair reports whether the baseline has a channel from the client of
// key to its server (a client without one is a new master).
func (e *Engine) knownPair(key ChannelKey) bool {
	return e.pairs[pairKey{key.Protocol, key.Client, key.Server}] != 0
}

// memo reports whether c's transactions go through its model's memos: c
// learned at least memoAfter transactions (those judged are not counted,
// and spoofed ones may have been learned before judging began) or has a
// memo already (made says so), and the engine is no reference engine.
func (e *Engine) memo(c *channel, made bool) bool {
	return !e.plain && (made || c.Transactions >= memoAfter)
}

// memoAfter is how many transactions a channel must have learned before
// it gets its memos (some 3.3 KB for the Modbus shapes): a plant's
// channels repeat thousands, while spoofed traffic on a span port can make
// a channel every packet or two, which must not cost a memo each.
const memoAfter = 16

// ObserveAnomaly judges one decoder anomaly (malformed,
// non_protocol_traffic). These rules fire in every mode. The returned
// slice is reused as for Observe.
func (e *Engine) ObserveAnomaly(a *Anomaly) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.begin(a.Time)
	rule := MalformedTraffic
	what := "malformed"
	if a.Kind == NonProtocol {
		rule, what = NonProtocolTraffic, "non_protocol"
	}
	key := ChannelKey{Protocol: a.Protocol, Client: a.ClientIP, Server: a.ServerIP}
	if al := e.raise(a.Time, rule, key, Item{What: what}, &a.Endpoints, nil, a); al != nil {
		if a.Kind == NonProtocol {
			e.sign(al, fmt.Sprintf("Traffic that is not %s from %s to %s port %d: %s",
				a.Protocol, a.ClientIP, a.ServerIP, a.ServerPort, a.Detail))
		} else {
			e.sign(al, fmt.Sprintf("Malformed %s from %s to %s port %d: %s",
				a.Protocol, a.ClientIP, a.ServerIP, a.ServerPort, a.Detail))
		}
	}
	return e.out
}

// Tick advances packet time to now and raises time-driven alerts
// (poll_stopped). Call it as packet time advances; it does its work at most
// once per second of packet time. now must come from packets.
func (e *Engine) Tick(now time.Time) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.begin(now)
	if now.Sub(e.lastTick) < time.Second {
		return e.out
	}
	e.lastTick = now
	e.heldBack(now, false)
	for _, c := range e.polled {
		if e.learning(e.devices[c.Key.Server], now) {
			continue
		}
		e.stoppedPolls(c, now)
	}
	// Put the alerts in a fixed order, whatever the channels' (the order
	// their first poll was learned, or a map's at Load), so a replay
	// writes the same bytes every time.
	slices.SortFunc(e.out, func(a, b Alert) int {
		x, y := &a.Item, &b.Item
		return cmp.Or(compareKeys(a.Channel, b.Channel), cmp.Compare(x.Function, y.Function), cmp.Compare(x.Table, y.Table),
			cmp.Compare(x.Addr, y.Addr), cmp.Compare(x.Count, y.Count), cmp.Compare(x.Node, y.Node))
	})
	return e.out
}
