package baselines

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Engine learns and judges. Create it with New (or Load a stored baseline
// into it); feed it from one goroutine.
type Engine struct {
	mu       sync.Mutex
	cfg      Config
	devices  map[netip.Addr]*Device
	channels map[ChannelKey]*Channel
	// pairs counts the learned channels per (protocol, client, server):
	// a client with none towards a server is a new master.
	pairs    map[pairKey]int
	chanRT   map[ChannelKey]*chanRuntime
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

	// hot caches the map lookups of Observe for recently seen channels;
	// hotLRU is the slot of each set to refill next.
	hot    [hotSets][2]hot
	hotLRU [hotSets]uint8

	// polled is the rhythm learnPoll updated in this call to Observe
	// (nil when none), for seenPoll.
	polled *Rhythm
	// pollKnown: polled was resolved from the shape memo in this call, so
	// nil means the transaction is no learned poll.
	pollKnown bool

	dirtyAlerts   bool
	dirtyAccepted bool
	out           []Alert
}

type pairKey struct {
	Protocol       Protocol
	Client, Server netip.Addr
}

type suppKey struct {
	Rule    Rule
	Channel ChannelKey
	Item    Item
}

// chanRuntime is per-channel state of this run only: the rate windows,
// and the OPC UA session context last judged clean.
type chanRuntime struct {
	requests   slidingCount
	exceptions slidingCount
	// peakPending is the busiest request window of the current period
	// (peakPeriod, see slidingCount.period) while the channel learns.
	peakPeriod  int64
	peakPending uint32

	secOK     bool
	secPolicy string
	secMode   SecurityMode
	secToken  TokenType
	secApp    string
}

// hotSets is the number of two-slot sets of the Observe lookup cache; a
// plant has a few dozen busy channels.
const (
	hotBits = 6
	hotSets = 1 << hotBits
)

// maxRuntime caps the channels and pairs that have rate windows.
const maxRuntime = 1 << 16

// hot is one slot of the lookup cache: everything Observe needs about a
// channel, found with one comparison instead of five map lookups. Any new
// device, channel or Load clears the cache, so a nil here is never stale.
type hot struct {
	key      ChannelKey
	ch       *Channel
	rt       *chanRuntime
	pr       *pairRuntime
	srv, cli *Device
}

// hotIndex returns the cache set of key: a multiplicative hash of the last
// four bytes of the addresses (all of an IPv4 address), the unit, the port
// and the protocol, whose top bits are well mixed. With two slots per set,
// the channels of a plant rarely evict each other (the byte-wise sum
// before this put the test plant's OPC UA channel and a Modbus one in the
// same single slot, and each call refilled it with five map lookups). The
// address bytes are read 4 at a time: a 16-byte load of As16's result
// stalls on the two 8-byte stores that made it.
func hotIndex(key ChannelKey) int {
	c, s := key.Client.As16(), key.Server.As16()
	x := uint64(binary.BigEndian.Uint32(c[12:])) | uint64(binary.BigEndian.Uint32(s[12:]))<<32
	x ^= uint64(key.Port)<<16 | uint64(key.Unit)<<8 | uint64(key.Protocol)
	x *= 0xff51afd7ed558ccd
	x ^= x >> 32
	return int((x * 0x9e3779b97f4a7c15) >> (64 - hotBits))
}

// sameKey reports *a == *b, field by field inline: == on ChannelKey calls
// its generated equality function. The fields that tell a plant's
// channels apart come first.
func sameKey(a, b *ChannelKey) bool {
	return a.Server == b.Server && a.Unit == b.Unit && a.Client == b.Client && a.Port == b.Port && a.Protocol == b.Protocol
}

// clearHot empties the lookup cache.
func (e *Engine) clearHot() { e.hot = [hotSets][2]hot{} }

// hotEntry returns the cache slot of key, filling it on a miss. *hint is
// the slot (set*2 + way + 1) where key was last found; it is tried first,
// and only its key is trusted, so a stale or foreign hint costs one
// comparison.
func (e *Engine) hotEntry(kp *ChannelKey, hint *uint16) *hot {
	if n := int(*hint) - 1; n >= 0 && n < 2*hotSets {
		if h := &e.hot[n>>1][n&1]; h.rt != nil && sameKey(&h.key, kp) {
			e.hotLRU[n>>1] = uint8(n&1) ^ 1
			return h
		}
	}
	key := *kp
	i := hotIndex(key)
	set := &e.hot[i]
	for w := range set {
		if h := &set[w]; h.rt != nil && h.key == key {
			e.hotLRU[i] = uint8(w) ^ 1
			*hint = uint16(i*2 + w + 1)
			return h
		}
	}
	w := int(e.hotLRU[i] & 1)
	h := &set[w]
	e.hotLRU[i] ^= 1
	if len(e.chanRT) >= maxRuntime || len(e.pairRT) >= maxRuntime {
		// Spoofed addresses must not grow memory without bound: the
		// rate windows are runtime state and start afresh.
		clear(e.chanRT)
		clear(e.pairRT)
		e.clearHot()
	}
	pk := pairKey{key.Protocol, key.Client, key.Server}
	rt := e.chanRT[key]
	if rt == nil {
		rt = &chanRuntime{}
		e.chanRT[key] = rt
	}
	pr := e.pairRT[pk]
	if pr == nil {
		pr = &pairRuntime{}
		e.pairRT[pk] = pr
	}
	*h = hot{key: key, ch: e.channels[key], rt: rt, pr: pr, srv: e.devices[key.Server], cli: e.devices[key.Client]}
	*hint = uint16(i*2 + w + 1)
	return h
}

// pairRuntime is per (client, server) state of this run: the scan window.
type pairRuntime struct {
	winStart time.Time
	units    bitset256
	funcs    bitset256
	addrs    bitset256
}

// bitset256 is a set of bytes that knows its size: a scan window sees the
// same unit on nearly every request, and counting the bits each time cost
// more than the set.
type bitset256 struct {
	w [4]uint64
	n int
}

// set adds i and returns the size of the set.
func (b *bitset256) set(i uint8) int {
	if bit := uint64(1) << (i & 63); b.w[i>>6]&bit == 0 {
		b.w[i>>6] |= bit
		b.n++
	}
	return b.n
}

// New returns an engine with an empty baseline.
func New(cfg Config) *Engine {
	return &Engine{
		cfg:      cfg.withDefaults(),
		devices:  map[netip.Addr]*Device{},
		channels: map[ChannelKey]*Channel{},
		pairs:    map[pairKey]int{},
		chanRT:   map[ChannelKey]*chanRuntime{},
		pairRT:   map[pairKey]*pairRuntime{},
		alerts:   map[suppKey]*AlertRecord{},
		accepted: map[suppKey]*Acceptance{},
	}
}

// Config returns the engine's configuration with defaults applied.
func (e *Engine) Config() Config { return e.cfg }

// learning reports whether transactions served by srv are learned (true) or
// judged (false) at t.
func (e *Engine) learning(srv *Device, t time.Time) bool {
	switch e.cfg.Mode {
	case Learn:
		return true
	case Monitor:
		return false
	}
	// The window follows this run's LearnFor, so a changed --learn-for
	// applies to a stored baseline too.
	if srv == nil {
		return true
	}
	if srv.learnFrom != srv.FirstSeen || srv.learnEnd.IsZero() {
		e.setLearnEnd(srv)
	}
	// t.Before(learnEnd) for packet times (see seen), without the call.
	ts := t.Unix()
	return ts < srv.learnSec || ts == srv.learnSec && t.Nanosecond() < srv.learnNsec
}

// setLearnEnd sets srv's learnEnd (and its Unix seconds and nanoseconds)
// to FirstSeen plus this run's LearnFor.
func (e *Engine) setLearnEnd(srv *Device) {
	srv.learnEnd, srv.learnFrom = srv.FirstSeen.Add(e.cfg.LearnFor), srv.FirstSeen
	srv.learnSec, srv.learnNsec = srv.learnEnd.Unix(), srv.learnEnd.Nanosecond()
}

// begin starts one call: resets the output and notes the run's start.
func (e *Engine) begin(t time.Time) {
	e.out = e.out[:0]
	e.polled, e.pollKnown = nil, false
	if e.start.IsZero() {
		e.start = t
	}
}

// Observe learns from and/or judges one transaction and returns the alerts
// it raises. The returned slice is reused by the next call to Observe,
// ObserveAnomaly or Tick. It never allocates for a transaction that the
// baseline already knows.
func (e *Engine) Observe(o *Observation) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.begin(o.Time)
	if !o.ClientIP.IsValid() || !o.ServerIP.IsValid() {
		return e.out
	}
	var cliRole, srvRole Roles
	key := ChannelKey{Protocol: o.Protocol, Client: o.ClientIP, Server: o.ServerIP}
	switch o.Protocol {
	case Modbus:
		cliRole, srvRole = RoleModbusMaster, RoleModbusSlave
		key.Unit = o.Modbus.Unit
	case OPCUA:
		cliRole, srvRole = RoleOPCUAClient, RoleOPCUAServer
		key.Port = o.ServerPort
	default:
		return e.out
	}
	h := e.hotEntry(&key, &o.hotHint)
	ch, rt, pr := h.ch, h.rt, h.pr
	// Both devices are nearly always known, with their role and MAC.
	srv, cli := h.srv, h.cli
	if e.known(srv, o.ServerMAC, srvRole) && e.known(cli, o.ClientMAC, cliRole) {
		seenBoth(srv, cli, o.Time)
	} else {
		srv = e.device(srv, o.ServerIP, o.ServerMAC, srvRole, o)
		cli = e.device(cli, o.ClientIP, o.ClientMAC, cliRole, o)
	}
	learn := e.learning(srv, o.Time)
	if srv != nil && e.cfg.Mode != Monitor {
		if o.Protocol == Modbus && !srv.hasUnit(o.Modbus.Unit) && modbusOK(o) {
			srv.addUnit(o.Modbus.Unit)
		}
		if o.Modbus.Ident != nil && modbusOK(o) {
			id := *o.Modbus.Ident
			if srv.Ident != nil {
				id = mergeIdent(*srv.Ident, id)
			}
			srv.Ident = &id
		}
		if s := o.OPCUA.Server; s != nil && o.Protocol == OPCUA {
			v := *s
			srv.Server = &v
		}
	}
	if o.Protocol == Modbus {
		e.signaturesModbus(o, &key)
	}
	e.rates(o, &key, ch, rt, pr, learn)
	if learn && srv != nil && success(o) {
		before := srv.NewItems
		if ch == nil {
			ch = e.newChannel(key, o.Time)
			e.noteNew(srv, o.Time)
		}
		e.learn(o, ch, srv)
		// The client's behaviour converges with the channel: count the
		// new items for it too.
		for n := srv.NewItems - before; n > 0 && cli != nil; n-- {
			e.noteNew(cli, o.Time)
		}
	} else if !learn {
		e.judge(o, key, ch, rt)
	}
	if ch != nil && answered(o) {
		// seenPoll's two common cases, without the call: a known poll
		// that is not stopped only has its time noted, and a request
		// known to be no poll has nothing to note.
		if r := e.polled; r != nil && !r.stopped {
			r.seen = o.Time
		} else if r != nil || !e.pollKnown {
			e.seenPoll(o, ch)
		}
	}
	return e.out
}

// answered reports whether the server answered the request (an exception
// is an answer). Only answered repetitions keep a learned poll alive: an
// HMI that goes on asking a PLC forced into listen-only mode (FC 8
// sub-function 4) has lost its view as surely as one that stopped asking.
func answered(o *Observation) bool {
	return o.Responded && !(o.Protocol == Modbus && o.Modbus.Timeout)
}

func modbusOK(o *Observation) bool {
	return o.Responded && !o.Modbus.Timeout && o.Modbus.Exception == 0
}

// success reports whether a transaction may be learned: a response was
// seen and it was not an exception or a bad service result.
func success(o *Observation) bool {
	switch o.Protocol {
	case Modbus:
		return modbusOK(o)
	case OPCUA:
		return o.Responded && o.OPCUA.Status == 0
	}
	return false
}

func mergeIdent(old, n DeviceIdent) DeviceIdent {
	pick := func(a *string, b string) {
		if b != "" {
			*a = b
		}
	}
	pick(&old.VendorName, n.VendorName)
	pick(&old.ProductCode, n.ProductCode)
	pick(&old.Revision, n.Revision)
	pick(&old.VendorURL, n.VendorURL)
	pick(&old.ProductName, n.ProductName)
	pick(&old.ModelName, n.ModelName)
	pick(&old.UserAppName, n.UserAppName)
	pick(&old.ServerID, n.ServerID)
	return old
}

// device finds or creates the inventory entry of ip and raises new_device
// for a device that appears once the network is judged. It returns nil in
// Monitor mode for an unknown device (the baseline does not change).
func (e *Engine) device(d *Device, ip netip.Addr, mac MAC, role Roles, o *Observation) *Device {
	if d == nil {
		d = e.devices[ip]
	}
	if d == nil {
		judged := e.cfg.Mode == Monitor ||
			(e.cfg.Mode == Auto && !e.learnEnd.IsZero() && !o.Time.Before(e.learnEnd))
		if judged {
			if a := e.raise(o.Time, NewDevice, ChannelKey{Protocol: o.Protocol, Client: o.ClientIP, Server: o.ServerIP},
				Item{What: role.name()}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("New device %s (%s) never seen before talks %s with %s",
					ip, role, o.Protocol, peer(o, ip)))
			}
		}
		if e.cfg.Mode == Monitor {
			return nil
		}
		d = &Device{IP: ip, FirstSeen: o.Time, LearnUntil: o.Time.Add(e.cfg.LearnFor), dirty: true}
		e.devices[ip] = d
		e.clearHot()
		if e.learnEnd.IsZero() || d.LearnUntil.Before(e.learnEnd) {
			e.learnEnd = d.LearnUntil
		}
	}
	if e.cfg.Mode == Monitor {
		return d
	}
	if d.Roles&role == 0 {
		d.Roles |= role
	}
	if !mac.IsZero() && d.MAC != mac {
		e.setMAC(d, mac)
	}
	d.seen(o.Time)
	return d
}

// seen counts one more transaction of d at t. It compares t with LastSeen
// as t.After(LastSeen) does for packet times, which carry no monotonic
// clock reading, but inline: After is a call (too costly to inline), and
// this runs twice per transaction.
func (d *Device) seen(t time.Time) { d.seenAt(t, t.Unix(), t.Nanosecond()) }

// seenBoth is seen(t) for a and then b, with t's seconds taken once.
func seenBoth(a, b *Device, t time.Time) {
	ts, tn := t.Unix(), t.Nanosecond()
	a.seenAt(t, ts, tn)
	b.seenAt(t, ts, tn)
}

// seenAt is seen(t), given t's Unix seconds and nanoseconds.
func (d *Device) seenAt(t time.Time, ts int64, tn int) {
	if ls := d.LastSeen.Unix(); ts > ls || ts == ls && tn > d.LastSeen.Nanosecond() {
		d.LastSeen = t
	}
	d.Transactions++
	d.dirty = true
}

// known reports whether device can skip all but seen for d: d is in the
// inventory (not Monitor mode, where seen does not apply), already has
// role and has mac (or no MAC was seen).
func (e *Engine) known(d *Device, mac MAC, role Roles) bool {
	return d != nil && e.cfg.Mode != Monitor && d.Roles&role != 0 && (d.MAC == mac || mac == MAC{})
}

// setMAC records the latest MAC of d and its vendor. Config.OUI is a pure
// function of the MAC, so the vendor of the MAC d had just before is
// reused rather than looked up again.
func (e *Engine) setMAC(d *Device, mac MAC) {
	if e.cfg.OUI == nil {
		d.MAC = mac
		return
	}
	oldMAC, oldVendor, oldOK := d.MAC, d.Vendor, d.vendorOK
	if d.prevOK && d.prevMAC == mac {
		d.Vendor = d.prevVendor
	} else {
		d.Vendor = e.cfg.OUI(mac)
	}
	d.MAC, d.vendorOK = mac, true
	d.prevMAC, d.prevVendor, d.prevOK = oldMAC, oldVendor, oldOK
}

func peer(o *Observation, ip netip.Addr) netip.Addr {
	if o.ClientIP == ip {
		return o.ServerIP
	}
	return o.ClientIP
}

func (r Roles) String() string {
	b, _ := r.MarshalText()
	return string(b)
}

func (e *Engine) newChannel(key ChannelKey, t time.Time) *Channel {
	ch := &Channel{Key: key, FirstSeen: t, LastSeen: t, dirty: true}
	e.channels[key] = ch
	e.pairs[pairKey{key.Protocol, key.Client, key.Server}]++
	e.clearHot()
	return ch
}

// noteNew counts one new baseline item for the convergence figure of d.
func (e *Engine) noteNew(d *Device, t time.Time) {
	if d == nil {
		return
	}
	d.NewItems++
	width := int64(e.cfg.ConvergenceWindow / convergenceBuckets)
	if width <= 0 {
		width = 1
	}
	ep := floorDiv(t.UnixNano(), width)
	e.advanceConvergence(d, ep)
	d.ConvergenceBuckets[convergenceIndex(ep)]++
	d.dirty = true
}

// convergenceIndex is the ring slot of epoch ep, also for a negative epoch
// (indexing with a plain remainder panicked on times before 1970).
func convergenceIndex(ep int64) int { return int(floorMod(ep, convergenceBuckets)) }

// advanceConvergence moves d's bucket ring forward to epoch ep, clearing
// the buckets of the epochs skipped.
func (e *Engine) advanceConvergence(d *Device, ep int64) {
	if len(d.ConvergenceBuckets) != convergenceBuckets {
		d.ConvergenceBuckets = make([]uint32, convergenceBuckets)
		d.ConvergenceEpoch = ep
	}
	if ep <= d.ConvergenceEpoch {
		return
	}
	for i := d.ConvergenceEpoch + 1; i <= ep && i <= d.ConvergenceEpoch+convergenceBuckets; i++ {
		d.ConvergenceBuckets[convergenceIndex(i)] = 0
	}
	d.ConvergenceEpoch = ep
	d.dirty = true
}

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
	for key, ch := range e.channels {
		if len(ch.Polls) == 0 || e.learning(e.devices[key.Server], now) {
			continue
		}
		for pk, r := range ch.Polls {
			if r.stopped || !r.Regular(e.cfg.PollMinSamples) {
				continue
			}
			seen := r.seen
			if seen.IsZero() {
				seen = e.start
			}
			limit := time.Duration(e.cfg.PollMissFactor*float64(r.Period)) + 4*r.Jitter
			if now.Sub(seen) <= limit {
				continue
			}
			r.stopped = true
			if a := e.raise(now, PollStopped, key, pollItem(pk), nil, nil, nil); a != nil {
				e.sign(a, fmt.Sprintf("Poll %s by %s of %s stopped: not answered for %s (period %s)",
					pollName(pk), key.Client, serverName(key), now.Sub(seen).Round(time.Second), r.Period.Round(time.Millisecond)))
			}
		}
	}
	// Channels and polls were walked in Go's random map order: put the
	// alerts in a fixed one, so a replay writes the same bytes every time.
	slices.SortFunc(e.out, func(a, b Alert) int {
		x, y := &a.Item, &b.Item
		return cmp.Or(compareKeys(a.Channel, b.Channel), cmp.Compare(x.Function, y.Function), cmp.Compare(x.Table, y.Table),
			cmp.Compare(x.Addr, y.Addr), cmp.Compare(x.Count, y.Count), cmp.Compare(x.Node, y.Node))
	})
	return e.out
}

func pollItem(pk PollKey) Item {
	return Item{Function: pk.Function, Table: pk.Table, Addr: pk.Start, Count: pk.Count, Node: pk.Node, What: "poll"}
}

func pollName(pk PollKey) string {
	if pk.Node != "" {
		return "read of " + pk.Node
	}
	return fmt.Sprintf("FC %d %s %d-%d", pk.Function, pk.Table, pk.Start, uint32(pk.Start)+uint32(pk.Count)-1)
}

func serverName(k ChannelKey) string {
	if k.Protocol == OPCUA {
		return fmt.Sprintf("OPC UA server %s:%d", k.Server, k.Port)
	}
	return fmt.Sprintf("PLC %s unit %d", k.Server, k.Unit)
}

// seenPoll notes a repetition of a learned poll in this run and raises the
// return of a stopped one.
func (e *Engine) seenPoll(o *Observation, ch *Channel) {
	r := e.polled // learnPoll's or the memo's, of the same channel and key
	var pk PollKey
	if r == nil {
		if e.pollKnown {
			return
		}
		var ok bool
		if pk, ok = pollKeyOf(o); !ok {
			return
		}
		if r = ch.poll(pk); r == nil {
			return
		}
	}
	r.seen = o.Time
	if r.stopped {
		if e.polled != nil {
			pk, _ = pollKeyOf(o)
		}
		r.stopped = false
		if a := e.resolve(o.Time, PollStopped, ch.Key, pollItem(pk), &o.Endpoints, o); a != nil {
			e.sign(a, fmt.Sprintf("Poll %s by %s of %s resumed", pollName(pk), ch.Key.Client, serverName(ch.Key)))
		}
	}
}

// pollKeyOf returns the poll key of a repeating read.
func pollKeyOf(o *Observation) (PollKey, bool) {
	switch o.Protocol {
	case Modbus:
		m := &o.Modbus
		if m.ReadTable == NoTable || m.WriteTable != NoTable || m.Read.Count == 0 {
			return PollKey{}, false
		}
		return PollKey{Function: m.Function, Table: m.ReadTable, Start: m.Read.Start, Count: m.Read.Count}, true
	case OPCUA:
		if o.OPCUA.Service != "Read" || len(o.OPCUA.Read) == 0 {
			return PollKey{}, false
		}
		return PollKey{Node: o.OPCUA.Read[0]}, true
	}
	return PollKey{}, false
}
