package baselines

import (
	"math"
	"time"
)

// learn folds one successful transaction into its channel's model. It
// allocates only when the transaction brings something new.
func (e *Engine) learn(o *Observation, ch *Channel, srv *Device) {
	// o.Time.After(ch.LastSeen) for packet times (see Device.seen).
	if ts, ls := o.Time.Unix(), ch.LastSeen.Unix(); ts > ls || ts == ls && o.Time.Nanosecond() > ch.LastSeen.Nanosecond() {
		ch.LastSeen = o.Time
	}
	ch.Transactions++
	ch.dirty = true
	if srv != nil {
		// Most transactions fall in the device's newest convergence
		// bucket (or before it), where advancing is a no-op: compare
		// with its end instead of dividing, or even working out the
		// bucket width.
		if ns := o.Time.UnixNano(); srv.convW != int64(e.cfg.ConvergenceWindow) || ns >= srv.convEnd {
			if w := int64(e.cfg.ConvergenceWindow / convergenceBuckets); w > 0 {
				e.advanceConvergence(srv, floorDiv(ns, w))
				if ep := srv.ConvergenceEpoch; ep >= 0 && ep < math.MaxInt64/w-1 {
					srv.convW, srv.convEnd = int64(e.cfg.ConvergenceWindow), (ep+1)*w
				}
			}
		}
	}
	switch o.Protocol {
	case Modbus:
		e.learnModbus(o, ch, srv)
	case OPCUA:
		e.learnOPCUA(o, ch, srv)
	}
}

func (e *Engine) learnModbus(o *Observation, ch *Channel, srv *Device) {
	m := &o.Modbus
	if m.Function == 8 {
		if ch.Diagnostics == nil {
			ch.Diagnostics = map[uint16]uint64{}
		}
		ch.Diagnostics[m.SubFunction]++
	}
	// A repeat of a learned shape (see memo.go) only counts: its function
	// is in Functions, its ranges in Read and Written, its poll in Polls.
	var sh *shape
	if m.ReadTable < numTables && m.WriteTable < numTables && ch.memoWorth() {
		sh = ch.shape(shapeOf(m))
	}
	if sh != nil && sh.learned {
		sh.pending++
		if m.WriteTable != NoTable && m.Write.Count > 0 {
			ch.Writes++
			e.learnValues(o, ch, srv, sh)
		}
		if sh.poll != nil {
			sh.poll.add(o.Time)
		}
		e.polled, e.pollKnown = sh.poll, true
		return
	}
	if ch.Functions == nil {
		ch.Functions = map[uint8]uint64{}
	}
	// One map operation: m[k]++ finds or inserts k, and the length tells
	// whether it was new.
	nfunc := len(ch.Functions)
	ch.Functions[m.Function]++
	if len(ch.Functions) != nfunc {
		e.noteNew(srv, o.Time)
	}
	if m.ReadTable != NoTable && m.ReadTable < numTables && m.Read.Count > 0 {
		if ch.Read == nil {
			ch.Read = map[Table]RangeSet{}
		}
		if rs, grew := ch.Read[m.ReadTable].Add(m.Read); grew {
			ch.Read[m.ReadTable] = rs
			e.noteNew(srv, o.Time)
		}
	}
	if m.WriteTable != NoTable && m.WriteTable < numTables && m.Write.Count > 0 {
		ch.Writes++
		if ch.Written == nil {
			ch.Written = map[Table]RangeSet{}
		}
		if rs, grew := ch.Written[m.WriteTable].Add(m.Write); grew {
			ch.Written[m.WriteTable] = rs
			e.noteNew(srv, o.Time)
		}
		e.learnValues(o, ch, srv, sh)
	}
	r := e.learnPoll(o, ch, srv)
	if sh != nil {
		sh.learned, sh.poll, sh.pollSet = true, r, true
		e.pollKnown = true
	}
}

// learnValues folds the written values into their registers' envelopes,
// found through the memo entry sh when it has them (sh may be nil).
func (e *Engine) learnValues(o *Observation, ch *Channel, srv *Device, sh *shape) {
	m := &o.Modbus
	for i, v := range m.Values {
		if i >= int(m.Write.Count) {
			break
		}
		var env *Envelope
		if sh != nil && i < shapeRegs {
			env = sh.regs[i]
		}
		if env == nil {
			if ch.Values == nil {
				ch.Values = map[RegKey]*Envelope{}
			}
			k := RegKey{m.WriteTable, m.Write.Start + uint16(i)}
			if env = ch.Values[k]; env == nil {
				env = &Envelope{}
				ch.Values[k] = env
			}
			if sh != nil && i < shapeRegs {
				sh.regs[i] = env
			}
		}
		if env.add(float64(v), e.cfg.DistinctValues) {
			e.noteNew(srv, o.Time)
		}
	}
}

// learnPoll adds the request to its poll's rhythm and returns the rhythm
// (nil for a request that is no poll). It leaves the rhythm in e.polled,
// so that Observe's seenPoll does not look it up again.
func (e *Engine) learnPoll(o *Observation, ch *Channel, srv *Device) *Rhythm {
	pk, ok := pollKeyOf(o)
	if !ok {
		return nil
	}
	if ch.Polls == nil {
		ch.Polls = map[PollKey]*Rhythm{}
	}
	r := ch.poll(pk)
	if r == nil {
		r = &Rhythm{}
		ch.Polls[pk] = r
		e.noteNew(srv, o.Time)
	}
	r.add(o.Time)
	e.polled = r
	return r
}

// count increments m[k], creating the map, and reports whether k is new.
// One map operation: m[k]++ finds or inserts k (hashing a string key
// once, not twice), and the length tells whether it was new.
func count[K comparable](m *map[K]uint64, k K) bool {
	if *m == nil {
		*m = map[K]uint64{}
	}
	n := len(*m)
	(*m)[k]++
	return len(*m) != n
}

func (e *Engine) learnOPCUA(o *Observation, ch *Channel, srv *Device) {
	u := &o.OPCUA
	// A repeat of a learned call (see memo.go) only counts: every key it
	// would count is in its map already.
	var k *call
	if len(u.Written) == 0 && ch.memoWorth() {
		if k = ch.call(u); k.learned {
			k.pending++
			if k.poll != nil {
				k.poll.add(o.Time)
			}
			e.polled, e.pollKnown = k.poll, true
			return
		}
	}
	newItem := func(isNew bool) {
		if isNew {
			e.noteNew(srv, o.Time)
		}
	}
	if u.Service != "" {
		newItem(count(&ch.Services, u.Service))
	}
	if u.SecurityPolicy != "" {
		newItem(count(&ch.Policies, u.SecurityPolicy))
	}
	if u.SecurityMode != SecurityUnknown {
		newItem(count(&ch.Modes, u.SecurityMode))
	}
	if u.Token != TokenUnknown {
		newItem(count(&ch.Tokens, u.Token))
	}
	if u.User != "" {
		newItem(count(&ch.Users, u.User))
	}
	if u.ClientAppURI != "" {
		newItem(count(&ch.ClientApps, u.ClientAppURI))
	}
	for _, n := range u.Read {
		newItem(count(&ch.NodesRead, n))
	}
	for _, n := range u.Called {
		newItem(count(&ch.NodesCalled, n))
	}
	if len(u.Written) > 0 {
		ch.Writes++
		if ch.NodesWritten == nil {
			ch.NodesWritten = map[string]*Envelope{}
		}
		for _, w := range u.Written {
			env := ch.NodesWritten[w.Node]
			if env == nil {
				env = &Envelope{}
				ch.NodesWritten[w.Node] = env
				newItem(true)
			}
			if w.Numeric {
				newItem(env.add(w.Value, e.cfg.DistinctValues))
			} else {
				env.Writes++
			}
		}
	}
	r := e.learnPoll(o, ch, srv)
	if k != nil {
		k.learned, k.poll, k.pollSet = true, r, true
		e.pollKnown = true
	}
}

// rates keeps the per-channel request and exception windows and the
// per-pair scan window, raising request_flood, exception_burst and scan.
// While the channel learns, the busiest window becomes its PeakWindow. The
// request and exception windows slide (slidingCount).
func (e *Engine) rates(o *Observation, key *ChannelKey, ch *Channel, rt *chanRuntime, pr *pairRuntime, learn bool) {
	requests := rt.requests.add(o.Time, e.cfg.Window)
	var peak uint32
	if ch != nil {
		peak = ch.PeakWindow
		if learn && e.cfg.Mode != Monitor {
			// The busiest window of each Window-long period is folded
			// into PeakWindow when the period ends, and request_flood
			// compares with the peak of the periods before: were the
			// peak raised on every request, a flood while learning
			// would ratchet it up and never alert.
			if p := rt.requests.period(); p != rt.peakPeriod {
				if rt.peakPending > ch.PeakWindow {
					ch.PeakWindow = rt.peakPending
					ch.dirty = true
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
			e.sign(a, e.fmtFlood(*key, requests, peak))
		}
	}
	if o.Protocol != Modbus {
		return
	}
	m := &o.Modbus
	if m.Exception != 0 {
		if n := rt.exceptions.add(o.Time, e.cfg.Window); n >= uint32(e.cfg.BurstExceptions) {
			if a := e.raise(o.Time, ExceptionBurst, *key, Item{}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, e.fmtBurst(*key, n, m.Exception))
			}
		}
	}
	// The scan window stays a tumbling one: it holds sets of distinct
	// units, functions and addresses, which do not slide cheaply, and a
	// sweep repeats its probes, so the next window catches what a reset
	// split.
	if pr.winStart.IsZero() {
		pr.winStart = o.Time
	}
	// The window starts afresh when elapsed(o.Time, winStart) is < 0 or
	// >= Window. The elapsed time lies within (ds-1 s, ds+1 s), ds the
	// difference of the Unix seconds, so 1 <= ds and ds+1 <= the whole
	// seconds of Window keep the window without calling elapsed: most
	// requests (TestScanWindowStart).
	if ds := o.Time.Unix() - pr.winStart.Unix(); ds < 1 || ds >= int64(e.cfg.Window/time.Second) {
		if d := elapsed(o.Time, pr.winStart); d >= e.cfg.Window || d < 0 {
			*pr = pairRuntime{winStart: o.Time}
		}
	}
	what, n := "", 0
	if c := pr.units.set(m.Unit); c >= e.cfg.ScanDistinct {
		what, n = "units", c
	}
	if failed(m) {
		if c := pr.funcs.set(m.Function); c >= e.cfg.ScanDistinct {
			what, n = "functions", c
		}
		addr := m.Read.Start
		if m.ReadTable == NoTable {
			addr = m.Write.Start
		}
		if c := pr.addrs.set(uint8((uint32(addr) * 2654435761) >> 24)); c >= e.cfg.ScanDistinct {
			what, n = "addresses", c
		}
	}
	if what != "" {
		sk := ChannelKey{Protocol: key.Protocol, Client: key.Client, Server: key.Server}
		if a := e.raise(o.Time, Scan, sk, Item{What: what}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, e.fmtScan(*key, what, n))
		}
	}
}

// failed reports a request a scanner would see fail: no answer, or an
// exception saying the function, address, value or unit does not exist
// (Modbus Application Protocol v1.1b3, 7: codes 01, 02, 03, 0A, 0B).
func failed(m *ModbusObs) bool {
	if m.Timeout {
		return true
	}
	if m.Exception == 0 { // nearly every request
		return false
	}
	switch m.Exception {
	case 1, 2, 3, 0x0A, 0x0B:
		return true
	}
	return false
}
