package baselines

import (
	"fmt"
	"math"
	"math/bits"
	"net"
	"net/netip"
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

// Roles is a set of device roles. Each protocol model declares the roles
// of its clients and servers (RoleModbusMaster, RoleOPCUAServer...), one
// bit each.
type Roles uint8

// roleNames names each role bit, as the registered models declare them.
var roleNames [8]string

// addRoleNames names the roles of a registered protocol.
func addRoleNames(p *proto) {
	roleNames[bits.TrailingZeros8(uint8(p.client))] = p.roleNames[0]
	roleNames[bits.TrailingZeros8(uint8(p.server))] = p.roleNames[1]
}

// Strings returns the role names in a fixed order.
func (r Roles) Strings() []string {
	var out []string
	for i, n := range roleNames {
		if r&(1<<i) != 0 && n != "" {
			out = append(out, n)
		}
	}
	return out
}

func (r Roles) String() string { return strings.Join(r.Strings(), ",") }

// MarshalText writes the roles as a comma-separated list.
func (r Roles) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses a comma-separated list of role names.
func (r *Roles) UnmarshalText(b []byte) error {
	*r = 0
	for _, f := range strings.Split(string(b), ",") {
		if f == "" {
			continue
		}
		found := false
		for i, n := range roleNames {
			if n != "" && n == f {
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
	if bits.OnesCount8(uint8(r)) == 1 {
		return roleNames[bits.TrailingZeros8(uint8(r))]
	}
	return r.String()
}

// Protocols returns the names of the protocols the roles imply.
func (r Roles) Protocols() []string {
	var out []string
	for _, p := range protos {
		if p != nil && r&(p.client|p.server) != 0 {
			out = append(out, p.name)
		}
	}
	return out
}

// Device is one asset of the inventory, as stored and exported. Units and
// Ident are kept by the Modbus model, Server by the OPC UA model, DNP3 by
// the DNP3 model.
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
	DNP3         *DNP3Station `json:"dnp3,omitempty"`
	// Hostnames are names clients gave the device as a server (TLS SNI,
	// HTTP Host), kept by the network model, sorted.
	Hostnames []string `json:"hostnames,omitempty"`
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
}

// device is the engine's entry of one asset: the Device it stores, and
// what this run keeps beside it.
type device struct {
	Device
	// dirty: changed since the last TakeDelta.
	dirty bool
	// vendorOK says Vendor was resolved from MAC in this run; prevMAC and
	// prevVendor (valid when prevOK) are the MAC before it and its
	// vendor. A device seen through a router or on two interfaces
	// alternates between two MACs, and flipping back must not cost an
	// OUI lookup per transaction.
	vendorOK, prevOK bool
	prevMAC          MAC
	prevVendor       string
	// learnSec and learnNsec are the Unix seconds and nanoseconds of
	// FirstSeen plus this run's LearnFor (when learnSet), learnFrom the
	// FirstSeen they were computed from: Time.Add on every transaction
	// costs more than the comparison.
	learnSet  bool
	learnFrom time.Time
	learnSec  int64
	learnNsec int
	// convEnd is the Unix nanosecond end of the newest convergence bucket
	// (ConvergenceEpoch+1) * bucket width, convW the ConvergenceWindow it
	// was computed for (0: not yet; a window too short for buckets is
	// never stored). The epoch only grows, so an event before convEnd
	// cannot advance the ring.
	convEnd, convW int64
	// procVars counts the process variables the device's channels hold
	// as a server (procCounted: counted in this run), for
	// Config.MaxProcessVarsPerDevice (process.go).
	procVars    int
	procCounted bool
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

// learning reports whether transactions served by srv are learned (true) or
// judged (false) at t.
func (e *Engine) learning(srv *device, t time.Time) bool {
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
	if e.plain {
		return t.Before(srv.FirstSeen.Add(e.cfg.LearnFor))
	}
	if !srv.learnSet || srv.learnFrom != srv.FirstSeen {
		e.setLearnEnd(srv)
	}
	// t.Before(learnEnd) for packet times (see seen), without the call.
	ts := t.Unix()
	return ts < srv.learnSec || ts == srv.learnSec && t.Nanosecond() < srv.learnNsec
}

// setLearnEnd sets srv's learnSec and learnNsec from FirstSeen plus this
// run's LearnFor.
func (e *Engine) setLearnEnd(srv *device) {
	end := srv.FirstSeen.Add(e.cfg.LearnFor)
	srv.learnSet, srv.learnFrom = true, srv.FirstSeen
	srv.learnSec, srv.learnNsec = end.Unix(), end.Nanosecond()
}

// device finds or creates the inventory entry of ip and raises new_device
// for a device that appears once the network is judged. It returns nil in
// Monitor mode for an unknown device (the baseline does not change).
func (e *Engine) device(d *device, ip netip.Addr, mac MAC, role Roles, o *Observation) *device {
	if d == nil {
		d = e.devices[ip]
	}
	if d == nil {
		// Only a device that answered, or was answered, is a device: a
		// spoofed source, an absent host scanned, a look-alike frame
		// after bytes the capture lost would otherwise each become one
		// (issue #15) or raise new_device (issue #16). The rules that
		// judge the request itself still see it.
		if !o.Responded {
			e.limited.Unconfirmed++
			return nil
		}
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
		// Nor does one join a full inventory.
		if len(e.devices) >= e.cfg.MaxDevices {
			e.limited.Devices++
			return nil
		}
		d = &device{Device: Device{IP: ip, FirstSeen: o.Time, LearnUntil: o.Time.Add(e.cfg.LearnFor)}, dirty: true}
		if e.pendingNames[ip] != nil {
			e.namePending(d)
		}
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

func peer(o *Observation, ip netip.Addr) netip.Addr {
	if o.ClientIP == ip {
		return o.ServerIP
	}
	return o.ClientIP
}

// seen counts one more transaction of d at t. It compares t with LastSeen
// as t.After(LastSeen) does for packet times, which carry no monotonic
// clock reading, but inline: After is a call (too costly to inline), and
// this runs twice per transaction.
func (d *device) seen(t time.Time) { d.seenAt(t, t.Unix(), t.Nanosecond()) }

// seenBoth is seen(t) for a and then b, with t's seconds taken once.
func seenBoth(a, b *device, t time.Time) {
	ts, tn := t.Unix(), t.Nanosecond()
	a.seenAt(t, ts, tn)
	b.seenAt(t, ts, tn)
}

// seenAt is seen(t), given t's Unix seconds and nanoseconds.
func (d *device) seenAt(t time.Time, ts int64, tn int) {
	if ls := d.LastSeen.Unix(); ts > ls || ts == ls && tn > d.LastSeen.Nanosecond() {
		d.LastSeen = t
	}
	d.Transactions++
	d.dirty = true
}

// known reports whether device can skip all but seen for d: d is in the
// inventory (not Monitor mode, where seen does not apply), already has
// role and has mac (or no MAC was seen).
func (e *Engine) known(d *device, mac MAC, role Roles) bool {
	return d != nil && e.cfg.Mode != Monitor && d.Roles&role != 0 && (d.MAC == mac || mac == MAC{})
}

// setMAC records the latest MAC of d and its vendor. Config.OUI is a pure
// function of the MAC, so the vendor of the MAC d had just before is
// reused rather than looked up again.
func (e *Engine) setMAC(d *device, mac MAC) {
	if e.cfg.OUI == nil {
		d.MAC = mac
		return
	}
	oldMAC, oldVendor, oldOK := d.MAC, d.Vendor, d.vendorOK
	if d.prevOK && d.prevMAC == mac && !e.plain {
		d.Vendor = d.prevVendor
	} else {
		d.Vendor = e.cfg.OUI(mac)
	}
	d.MAC, d.vendorOK = mac, true
	d.prevMAC, d.prevVendor, d.prevOK = oldMAC, oldVendor, oldOK
}

// noteNew counts n new baseline items at t for the convergence figure of d.
func (e *Engine) noteNew(d *device, t time.Time, n int) {
	if d == nil || n == 0 {
		return
	}
	d.NewItems += uint64(n)
	width := int64(e.cfg.ConvergenceWindow / convergenceBuckets)
	if width <= 0 {
		width = 1
	}
	ep := floorDiv(t.UnixNano(), width)
	advanceConvergence(d, ep)
	d.ConvergenceBuckets[convergenceIndex(ep)] += uint32(n)
	d.dirty = true
}

// converge moves srv's convergence ring forward to the bucket of ns (Unix
// nanoseconds), so that the figure decays while nothing new is learned,
// and notes the end of that bucket (convEnd).
func (e *Engine) converge(srv *device, ns int64) {
	if w := int64(e.cfg.ConvergenceWindow / convergenceBuckets); w > 0 {
		advanceConvergence(srv, floorDiv(ns, w))
		if ep := srv.ConvergenceEpoch; ep >= 0 && ep < math.MaxInt64/w-1 {
			srv.convW, srv.convEnd = int64(e.cfg.ConvergenceWindow), (ep+1)*w
		}
	}
}

// convergenceIndex is the ring slot of epoch ep, also for a negative epoch
// (indexing with a plain remainder panicked on times before 1970).
func convergenceIndex(ep int64) int { return int(floorMod(ep, convergenceBuckets)) }

// advanceConvergence moves d's bucket ring forward to epoch ep, clearing
// the buckets of the epochs skipped.
func advanceConvergence(d *device, ep int64) {
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
