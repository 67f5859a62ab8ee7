package baselines

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ChannelKey names one conversation the baseline learns: for Modbus (client
// IP, server IP, unit id), for OPC UA (client IP, server IP, endpoint port).
// It is comparable and is used as a map key without allocating.
type ChannelKey struct {
	Protocol Protocol   `json:"protocol"`
	Client   netip.Addr `json:"client"`
	Server   netip.Addr `json:"server"`
	Unit     uint8      `json:"unit,omitempty"` // Modbus unit id
	Port     uint16     `json:"port,omitempty"` // OPC UA endpoint port
	// Master and Outstation are the DNP3 link addresses of the two ends.
	Master     uint16 `json:"master_address,omitempty"`
	Outstation uint16 `json:"outstation_address,omitempty"`
}

// String renders the key as its protocol names it: "modbus
// 10.10.9.66>10.10.2.1 unit 1" or "opcua 10.10.3.5>10.10.2.1:4840".
func (k ChannelKey) String() string {
	if p := protoOf(k.Protocol); p != nil {
		return p.channelName(k)
	}
	return fmt.Sprintf("%s %s>%s unit %d", k.Protocol, k.Client, k.Server, k.Unit)
}

// serverName names the server of k for alert sentences ("PLC 10.10.2.1
// unit 1").
func serverName(k ChannelKey) string {
	if p := protoOf(k.Protocol); p != nil {
		return p.serverName(k)
	}
	return fmt.Sprintf("PLC %s unit %d", k.Server, k.Unit)
}

// Channel is the learned model of one channel, as stored and exported: the
// part every protocol shares, and the protocol model's part (Model).
type Channel struct {
	Key          ChannelKey `json:"key"`
	FirstSeen    time.Time  `json:"first_seen"`
	LastSeen     time.Time  `json:"last_seen"`
	Transactions uint64     `json:"transactions"`
	// PeakWindow is the most requests seen within one Config.Window while
	// learning (request_flood compares with it).
	PeakWindow uint32 `json:"peak_window_requests"`
	Writes     uint64 `json:"writes"`
	// Model is what the protocol model learned: a *ModbusModel or an
	// *OPCUAModel, as Key.Protocol says. Its fields follow the common
	// ones in the channel's JSON.
	Model ChannelModel `json:"-"`
}

// ChannelModel is the protocol model's part of a Channel (*ModbusModel,
// *OPCUAModel). The interface is sealed.
type ChannelModel interface {
	// polls returns the map of the channel's learned polls, which the
	// model keeps for the place of "polls" in its JSON. Only the engine
	// adds to it (channel.learnPoll), which keeps this run's view of the
	// polls beside it.
	polls() *map[PollKey]*Rhythm
	// items lists the learned items for Channel.Items.
	items(add func(format string, a ...any))
	// foldIn learns the item of an accepted deviation (a rule that folds,
	// see ruleInfo.folds); rules of other protocols are left alone.
	foldIn(d *Deviation, cfg *Config)
	// sanitize repairs what a hand-edited or hostile import could break.
	sanitize()
}

// MarshalJSON writes the common fields, then the model's.
func (c *Channel) MarshalJSON() ([]byte, error) {
	type common Channel // without the methods
	b, err := json.Marshal((*common)(c))
	if err != nil || c.Model == nil {
		return b, err
	}
	m, err := json.Marshal(c.Model)
	if err != nil {
		return nil, err
	}
	if len(m) > 2 { // not {}
		b = append(b[:len(b)-1], ',')
		b = append(b, m[1:]...)
	}
	return b, nil
}

// UnmarshalJSON reads the common fields, then the model of the key's
// protocol; a protocol without a model is an error.
func (c *Channel) UnmarshalJSON(b []byte) error {
	type common Channel
	var h common
	if err := json.Unmarshal(b, &h); err != nil {
		return err
	}
	p := protoOf(h.Key.Protocol)
	if p == nil {
		return fmt.Errorf("baselines: channel %s of protocol %s, which has no model", h.Key, h.Key.Protocol)
	}
	m := p.newChannel()
	if err := json.Unmarshal(b, m); err != nil {
		return err
	}
	*c = Channel(h)
	c.Model = m
	return nil
}

// Polls returns the learned polls of the channel.
func (c *Channel) Polls() map[PollKey]*Rhythm {
	if c.Model == nil {
		return nil
	}
	return *c.Model.polls()
}

// Items lists the channel's learned baseline items as stable, sorted text
// lines ("function 3 read_holding_registers", "written holding_registers
// 40-49", "value holding_registers:40 40..60", "poll 3:holding_registers:0:10
// every 1s ±20ms", "policy …"). Counters are left out, so two baselines of
// the same plant learned on different days list the same items: Diff and
// `sluice baseline show` use it.
func (c *Channel) Items() []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	if c.Model != nil {
		c.Model.items(add)
	}
	for k, r := range c.Polls() {
		if r != nil && r.Regular(10) {
			add("poll %s every %s ±%s", k, r.Period.Round(1e6), r.Jitter.Round(1e6))
		}
	}
	slices.Sort(out)
	return out
}

// WriteRate returns the learned writes per hour over the channel's life.
func (c *Channel) WriteRate() float64 {
	d := c.LastSeen.Sub(c.FirstSeen)
	if d <= 0 {
		return 0
	}
	return float64(c.Writes) / d.Hours()
}

// Counts counts occurrences per key. The counts are pointers so that a
// memo can hold the one it bumps; the JSON is that of a map[K]uint64.
type Counts[K comparable] map[K]*uint64

// CountsOf returns the counts of m (to build a snapshot by hand).
func CountsOf[K comparable](m map[K]uint64) Counts[K] {
	c := make(Counts[K], len(m))
	for k, n := range m {
		c[k] = &n
	}
	return c
}

// add counts one more k, making the map when needed, and returns k's
// count and whether k is new.
func (c *Counts[K]) add(k K) (*uint64, bool) {
	if *c == nil {
		*c = Counts[K]{}
	}
	if n := (*c)[k]; n != nil {
		*n++
		return n, false
	}
	n := new(uint64)
	*n = 1
	(*c)[k] = n
	return n, true
}

// N returns the count of k: 0 when k was never counted.
func (c Counts[K]) N(k K) uint64 {
	if n := c[k]; n != nil {
		return *n
	}
	return 0
}

// Has reports whether k was counted.
func (c Counts[K]) Has(k K) bool {
	_, ok := c[k]
	return ok
}

// addKeys adds an item line of format for every key of c.
func addKeys[K comparable](add func(format string, a ...any), format string, c Counts[K]) {
	for k := range c {
		add(format, k)
	}
}

// sanitize gives a count decoded from null the value 0.
func (c Counts[K]) sanitize() {
	for k, n := range c {
		if n == nil {
			c[k] = new(uint64)
		}
	}
}

// channel is the engine's entry of one learned channel: the Channel it
// stores, and what this run keeps beside it.
type channel struct {
	Channel
	// dirty: changed since the last TakeDelta.
	dirty bool
	// polls is this run's view of the learned polls (the model's map),
	// with when each was last answered; byKey indexes it once there are
	// more than pollScan (a linear scan of comparable keys beats hashing
	// a key with a string).
	polls []*poll
	byKey map[PollKey]*poll
	// pollsStopped: poll_stopped was raised for the channel and none of
	// its polls has been answered since.
	pollsStopped bool
}

// newChannel adds an empty channel of key to the baseline.
func (e *Engine) newChannel(key ChannelKey, t time.Time) *channel {
	c := &channel{Channel: Channel{Key: key, FirstSeen: t, LastSeen: t, Model: protoOf(key.Protocol).newChannel()}, dirty: true}
	e.channels[key] = c
	e.pairs[pairKey{key.Protocol, key.Client, key.Server}]++
	e.clearHot()
	return c
}

// chanRuntime is this run's state of one channel key, whether or not the
// baseline has the channel: its request window, and the protocol model's
// own state (the model makes it on first use: *modbusRuntime,
// *opcuaRuntime).
type chanRuntime struct {
	key      ChannelKey
	requests slidingCount
	// fuzz counts protocol_fuzzing's indicators (fuzzing.go).
	fuzz slidingCount
	// peakPending is the busiest request window of the current period
	// (peakPeriod, see slidingCount.period) while the channel learns.
	peakPeriod  int64
	peakPending uint32
	state       any
}

// stateIn returns the model state of type T in slot (a chanRuntime's or
// pairRuntime's state), making it on first use.
func stateIn[T any](slot *any) *T {
	st, _ := (*slot).(*T)
	if st == nil {
		st = new(T)
		*slot = st
	}
	return st
}

// pairRuntime is this run's state of one (protocol, client, server): the
// protocol model's own (the Modbus scan window).
type pairRuntime struct {
	state any
	// newMaster is the channel of the pair's first new-master deviation
	// of this run (nil: none yet): a master never seen that sweeps units
	// or link addresses is one deviation, counted, not one per channel.
	newMaster *ChannelKey
	// swept are the units or link addresses that new master asked, in
	// order, at most maxSwept.
	swept []uint16
}

// maxSwept bounds the units or addresses a sweep's signature names.
const maxSwept = 64

// newMasterKey returns the channel key under which a new master's request
// on channel key is raised: the channel of the pair's first new-master
// deviation of this run, key itself for the first.
func (e *Engine) newMasterKey(key ChannelKey) ChannelKey {
	pr := e.pairRT[pairKey{key.Protocol, key.Client, key.Server}]
	if pr == nil {
		return key
	}
	if pr.newMaster == nil {
		k := key
		pr.newMaster = &k
	}
	return *pr.newMaster
}

// sweep notes that the pair's new master asked unit or address v, and
// returns the ones it asked so far, sorted, when there are several.
func (e *Engine) sweep(key ChannelKey, v uint16) []uint16 {
	pr := e.pairRT[pairKey{key.Protocol, key.Client, key.Server}]
	if pr == nil {
		return nil
	}
	if i, found := slices.BinarySearch(pr.swept, v); !found && len(pr.swept) < maxSwept {
		pr.swept = slices.Insert(pr.swept, i, v)
	}
	if len(pr.swept) < 2 {
		return nil
	}
	return pr.swept
}

// resign gives the record of a deviation a new sentence (a sweep that
// grew), for its update line and the alert log.
func (e *Engine) resign(rule Rule, key ChannelKey, item Item, s string) {
	if rec := e.alerts[suppKey{rule, key, item}]; rec != nil && rec.Signature != s {
		rec.Signature, rec.dirty, e.dirtyAlerts = s, true, true
	}
}

// rangesText writes sorted numbers as ranges: "0-16, 40, 42-44".
func rangesText(vs []uint16) string {
	var b strings.Builder
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d", vs[i])
		if j > i {
			fmt.Fprintf(&b, "-%d", vs[j])
		}
		i = j + 1
	}
	return b.String()
}

type pairKey struct {
	Protocol       Protocol
	Client, Server netip.Addr
}
