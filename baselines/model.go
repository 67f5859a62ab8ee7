package baselines

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MAC is a link-layer address; it marshals as "aa:bb:cc:dd:ee:ff".
type MAC [6]byte

// IsZero reports whether the address is unknown.
func (m MAC) IsZero() bool { return m == MAC{} }

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// MarshalText implements encoding.TextMarshaler.
func (m MAC) MarshalText() ([]byte, error) {
	if m.IsZero() {
		return nil, nil
	}
	return []byte(m.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MAC) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*m = MAC{}
		return nil
	}
	hw, err := net.ParseMAC(string(b))
	if err != nil || len(hw) != 6 {
		return fmt.Errorf("baselines: bad MAC %q", b)
	}
	copy(m[:], hw)
	return nil
}

// Roles is a set of device roles.
type Roles uint8

const (
	RoleModbusMaster Roles = 1 << iota // sends Modbus requests (client)
	RoleModbusSlave                    // answers Modbus requests (server)
	RoleOPCUAClient
	RoleOPCUAServer
)

var roleNames = []string{"modbus_master", "modbus_slave", "opcua_client", "opcua_server"}

// Strings returns the role names in a fixed order.
func (r Roles) Strings() []string {
	var out []string
	for i, n := range roleNames {
		if r&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// MarshalText writes the roles as a comma-separated list.
func (r Roles) MarshalText() ([]byte, error) { return []byte(strings.Join(r.Strings(), ",")), nil }

// UnmarshalText parses a comma-separated list of role names.
func (r *Roles) UnmarshalText(b []byte) error {
	*r = 0
	for _, f := range strings.Split(string(b), ",") {
		if f == "" {
			continue
		}
		found := false
		for i, n := range roleNames {
			if n == f {
				*r |= 1 << i
				found = true
			}
		}
		if !found {
			return fmt.Errorf("baselines: unknown role %q", f)
		}
	}
	return nil
}

// name returns the name of a single role without allocating.
func (r Roles) name() string {
	for i, n := range roleNames {
		if r == 1<<i {
			return n
		}
	}
	return r.String()
}

// Protocols returns the protocols the roles imply.
func (r Roles) Protocols() []string {
	var out []string
	if r&(RoleModbusMaster|RoleModbusSlave) != 0 {
		out = append(out, "modbus")
	}
	if r&(RoleOPCUAClient|RoleOPCUAServer) != 0 {
		out = append(out, "opcua")
	}
	return out
}

// Device is one asset of the inventory.
type Device struct {
	IP           netip.Addr   `json:"ip"`
	MAC          MAC          `json:"mac,omitempty"`
	Vendor       string       `json:"vendor,omitempty"` // from the OUI of MAC
	Roles        Roles        `json:"roles"`
	Units        []uint16     `json:"units,omitempty"` // Modbus unit ids served, sorted
	FirstSeen    time.Time    `json:"first_seen"`
	LastSeen     time.Time    `json:"last_seen"`
	Transactions uint64       `json:"transactions"`
	Ident        *DeviceIdent `json:"modbus_identity,omitempty"`
	Server       *ServerInfo  `json:"opcua_server,omitempty"`
	// LearnUntil is the end of the device's learning window in Auto mode
	// under the LearnFor of the run that first saw it (a later run judges
	// with FirstSeen + its own LearnFor).
	LearnUntil time.Time `json:"learn_until"`
	// Convergence counts new baseline items of the device's channels (as
	// server or client) in ConvergenceBuckets buckets spanning Config.ConvergenceWindow;
	// ConvergenceEpoch is the index (packet time / bucket width) of the
	// newest bucket.
	ConvergenceBuckets []uint32 `json:"convergence_buckets,omitempty"`
	ConvergenceEpoch   int64    `json:"convergence_epoch,omitempty"`
	// NewItems counts every baseline item ever learned about the device.
	NewItems uint64 `json:"new_items"`

	dirty bool
	// vendorOK says Vendor was resolved from MAC in this run; prevMAC and
	// prevVendor (valid when prevOK) are the MAC before it and its
	// vendor. A device seen through a router or on two interfaces
	// alternates between two MACs, and flipping back must not cost an
	// OUI lookup per transaction.
	vendorOK, prevOK bool
	prevMAC          MAC
	prevVendor       string
	// learnEnd is FirstSeen plus this run's LearnFor, computed when
	// learnFrom (the FirstSeen it was computed from) is not FirstSeen:
	// Time.Add on every transaction costs more than the comparison.
	learnEnd, learnFrom time.Time
	// learnSec and learnNsec are learnEnd's Unix seconds and nanoseconds.
	learnSec  int64
	learnNsec int
	// convEnd is the Unix nanosecond end of the newest convergence bucket
	// (ConvergenceEpoch+1) * bucket width, convW the ConvergenceWindow it
	// was computed for (0: not yet; a window too short for buckets is
	// never stored). The epoch only grows, so an event before convEnd
	// cannot advance the ring.
	convEnd, convW int64
}

// convergenceBuckets is the resolution of the convergence figure.
const convergenceBuckets = 12

// NewItemsPerHour returns the convergence figure: baseline items learned
// per hour over the window ending at the last bucket update. A device whose
// figure has reached 0 has stopped learning anything new.
func (d *Device) NewItemsPerHour(window time.Duration) float64 {
	var n uint32
	for _, c := range d.ConvergenceBuckets {
		n += c
	}
	if window <= 0 {
		return 0
	}
	return float64(n) / window.Hours()
}

func (d *Device) hasUnit(u uint8) bool {
	for _, v := range d.Units {
		if v == uint16(u) {
			return true
		}
	}
	return false
}

func (d *Device) addUnit(u uint8) {
	d.Units = append(d.Units, uint16(u))
	sort.Slice(d.Units, func(i, j int) bool { return d.Units[i] < d.Units[j] })
}

// Envelope is the learned set of values written to one register or node:
// min/max, and the distinct values while they are few.
type Envelope struct {
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Writes uint64  `json:"writes"`
	// Distinct holds the distinct values, sorted, while there are at most
	// Config.DistinctValues of them; Many is set once there were more.
	Distinct []float64 `json:"distinct,omitempty"`
	Many     bool      `json:"many,omitempty"`
}

// add folds v in and reports whether the envelope grew (a new distinct
// value or a wider min/max).
func (e *Envelope) add(v float64, maxDistinct int) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	e.Writes++
	grew := false
	if e.Writes == 1 {
		e.Min, e.Max, grew = v, v, true
	} else {
		if v < e.Min {
			e.Min, grew = v, true
		}
		if v > e.Max {
			e.Max, grew = v, true
		}
	}
	if !e.Many {
		i := sort.SearchFloat64s(e.Distinct, v)
		if i == len(e.Distinct) || e.Distinct[i] != v {
			if len(e.Distinct) >= maxDistinct {
				e.Many, e.Distinct = true, nil
			} else {
				e.Distinct = append(e.Distinct, 0)
				copy(e.Distinct[i+1:], e.Distinct[i:])
				e.Distinct[i] = v
			}
			grew = true
		}
	}
	return grew
}

// Contains reports whether v lies inside the envelope: within min/max (plus
// slack), and one of the distinct values when the register is an
// enumeration (see Enumeration).
func (e *Envelope) Contains(v float64, slack float64) bool {
	if e.Writes == 0 {
		return false
	}
	if e.Enumeration() {
		i := sort.SearchFloat64s(e.Distinct, v)
		return i < len(e.Distinct) && e.Distinct[i] == v
	}
	margin := slack * (e.Max - e.Min)
	return v >= e.Min-margin && v <= e.Max+margin
}

// Enumeration reports whether the register is judged by its exact values
// rather than by its range: it was written at least enumMinWrites times with
// at most enumValues distinct values, each of them 0 or a single bit (a
// command word or a flag register: 0/1, 1/2/4, 0x0100). A new value between
// learned codes is then a new command.
//
// Few values alone do not make an enumeration: an operator who happened to
// set a gate to 12.5, 15 or 17.5 % (raw 125, 150, 175) over a day of
// learning may set it to 16 % tomorrow, and that is normal operation, not a
// deviation. Such registers keep the min/max envelope. Consecutive codes
// (0/1/2) need no special case: min/max already admits no other integer.
func (e *Envelope) Enumeration() bool {
	if e.Many || len(e.Distinct) == 0 || len(e.Distinct) > enumValues || e.Writes < enumMinWrites {
		return false
	}
	for _, v := range e.Distinct {
		if !singleBit(v) {
			return false
		}
	}
	return true
}

// singleBit reports whether v is 0 or a power of two below 2^32.
func singleBit(v float64) bool {
	if v < 0 || v >= 1<<32 || v != math.Trunc(v) {
		return false
	}
	u := uint64(v)
	return u&(u-1) == 0
}

// enumValues and enumMinWrites bound an enumeration (Envelope.Enumeration).
const (
	enumValues    = 3
	enumMinWrites = 10
)

// RegKey names one register or coil.
type RegKey struct {
	Table Table
	Addr  uint16
}

// MarshalText writes "holding_registers:40".
func (k RegKey) MarshalText() ([]byte, error) {
	return []byte(k.Table.String() + ":" + strconv.Itoa(int(k.Addr))), nil
}

// UnmarshalText parses "holding_registers:40".
func (k *RegKey) UnmarshalText(b []byte) error {
	t, a, ok := strings.Cut(string(b), ":")
	if !ok {
		return fmt.Errorf("baselines: bad register key %q", b)
	}
	if err := k.Table.UnmarshalText([]byte(t)); err != nil {
		return err
	}
	n, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return fmt.Errorf("baselines: bad register key %q: %w", b, err)
	}
	k.Addr = uint16(n)
	return nil
}

// MarshalText writes the table name.
func (t Table) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a table name.
func (t *Table) UnmarshalText(b []byte) error {
	for v := NoTable; v < numTables; v++ {
		if v.String() == string(b) {
			*t = v
			return nil
		}
	}
	return fmt.Errorf("baselines: unknown table %q", b)
}

// MarshalText writes the protocol name.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses a protocol name.
func (p *Protocol) UnmarshalText(b []byte) error {
	switch string(b) {
	case "modbus":
		*p = Modbus
	case "opcua":
		*p = OPCUA
	case "unknown":
		*p = 0
	default:
		return fmt.Errorf("baselines: unknown protocol %q", b)
	}
	return nil
}

// PollKey names a repeating request: Modbus (function, table, range) or an
// OPC UA Read by its first node.
type PollKey struct {
	Function uint8
	Table    Table
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

	// seen is the packet time this run last saw the request (runtime only:
	// a baseline loaded from an older capture must not look stopped).
	seen    time.Time
	stopped bool
}

// rhythmWeight is the weight of a new interval in the moving averages.
const rhythmWeight = 0.1

// add folds a repetition at t in.
func (r *Rhythm) add(t time.Time) {
	if dt := elapsed(t, r.Last); dt > 0 && !r.Last.IsZero() {
		switch {
		case r.Samples <= 1:
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

// Channel is the learned model of one channel.
type Channel struct {
	Key          ChannelKey `json:"key"`
	FirstSeen    time.Time  `json:"first_seen"`
	LastSeen     time.Time  `json:"last_seen"`
	Transactions uint64     `json:"transactions"`
	// PeakWindow is the most requests seen within one Config.Window while
	// learning (request_flood compares with it).
	PeakWindow uint32 `json:"peak_window_requests"`
	Writes     uint64 `json:"writes"`

	// Modbus.
	Functions   map[uint8]uint64     `json:"functions,omitempty"`
	Read        map[Table]RangeSet   `json:"read,omitempty"`
	Written     map[Table]RangeSet   `json:"written,omitempty"`
	Values      map[RegKey]*Envelope `json:"values,omitempty"`
	Polls       map[PollKey]*Rhythm  `json:"polls,omitempty"`
	Diagnostics map[uint16]uint64    `json:"diagnostics,omitempty"`

	// OPC UA.
	Services     map[string]uint64       `json:"services,omitempty"`
	Policies     map[string]uint64       `json:"security_policies,omitempty"`
	Modes        map[SecurityMode]uint64 `json:"security_modes,omitempty"`
	Tokens       map[TokenType]uint64    `json:"token_types,omitempty"`
	Users        map[string]uint64       `json:"users,omitempty"`
	ClientApps   map[string]uint64       `json:"client_application_uris,omitempty"`
	NodesRead    map[string]uint64       `json:"nodes_read,omitempty"`
	NodesWritten map[string]*Envelope    `json:"nodes_written,omitempty"`
	NodesCalled  map[string]uint64       `json:"nodes_called,omitempty"`

	dirty bool
	// pollIdx mirrors Polls as a slice: a channel has a handful of polls,
	// and a linear scan of comparable keys beats hashing one with a string.
	pollIdx []pollRef
	// shapes and calls are the memos of Modbus request shapes and OPC UA
	// calls (memo.go), made once the channel has learned memoAfter
	// transactions.
	shapes *shapeMemo
	calls  *callMemo
}

type pollRef struct {
	key PollKey
	r   *Rhythm
}

// poll returns the rhythm of pk, or nil.
func (c *Channel) poll(pk PollKey) *Rhythm {
	if len(c.pollIdx) != len(c.Polls) {
		c.pollIdx = c.pollIdx[:0]
		for k, r := range c.Polls {
			c.pollIdx = append(c.pollIdx, pollRef{k, r})
		}
	}
	if len(c.pollIdx) > 16 {
		return c.Polls[pk]
	}
	for i := range c.pollIdx {
		if c.pollIdx[i].key == pk {
			return c.pollIdx[i].r
		}
	}
	return nil
}

// WriteRate returns the learned writes per hour over the channel's life.
func (c *Channel) WriteRate() float64 {
	d := c.LastSeen.Sub(c.FirstSeen)
	if d <= 0 {
		return 0
	}
	return float64(c.Writes) / d.Hours()
}

// MarshalText writes the mode name.
func (m SecurityMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses a mode name.
func (m *SecurityMode) UnmarshalText(b []byte) error {
	for v := SecurityMode(0); v < 4; v++ {
		if v.String() == string(b) {
			*m = v
			return nil
		}
	}
	return fmt.Errorf("baselines: unknown security mode %q", b)
}

// MarshalText writes the token type name.
func (t TokenType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a token type name.
func (t *TokenType) UnmarshalText(b []byte) error {
	for v := TokenType(0); v < 5; v++ {
		if v.String() == string(b) {
			*t = v
			return nil
		}
	}
	return fmt.Errorf("baselines: unknown token type %q", b)
}

// policyStrength ranks OPC UA security policies (OPC 10000-7 profiles);
// higher is stronger. Unknown policies rank as Basic256Sha256.
func policyStrength(uri string) int {
	_, name, _ := strings.Cut(uri, "#")
	switch name {
	case "None":
		return 0
	case "Basic128Rsa15":
		return 1
	case "Basic256":
		return 2
	case "Aes128_Sha256_RsaOaep":
		return 3
	case "Aes256_Sha256_RsaPss":
		return 5
	}
	return 4
}

// tokenStrength ranks identity token types: anonymous < user name <
// certificate or issued token.
func tokenStrength(t TokenType) int {
	switch t {
	case TokenAnonymous:
		return 0
	case TokenUserName:
		return 1
	}
	return 2
}
