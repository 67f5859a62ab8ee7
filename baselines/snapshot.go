package baselines

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// SchemaVersion is the version of the stored and exported baseline format.
// A store or export with a larger version is refused.
const SchemaVersion = 1

// Baseline is the learned part of a snapshot: what an approval signs.
// Devices are sorted by IP and channels by key, and encoding/json sorts map
// keys, so its JSON is canonical: the same baseline always gives the same
// bytes and SHA-256.
type Baseline struct {
	Devices  []*Device    `json:"devices"`
	Channels []*Channel   `json:"channels"`
	Accepted []Acceptance `json:"accepted"`
}

// Snapshot is a deep, consistent copy of everything the engine knows: the
// read API of reports and the `sluice baseline export` format.
type Snapshot struct {
	Schema int `json:"schema"`
	Baseline
	Alerts []*AlertRecord `json:"alerts"`
	Audit  []AuditEntry   `json:"audit"`
}

// Canonical returns the canonical JSON of the baseline part.
func (b *Baseline) Canonical() ([]byte, error) {
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("baselines: encode baseline: %w", err)
	}
	return out, nil
}

// SHA256 returns the hex SHA-256 of Canonical.
func (b *Baseline) SHA256() (string, error) {
	c, err := b.Canonical()
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(c)
	return hex.EncodeToString(s[:]), nil
}

// Device returns the inventory entry of ip (as text), or nil.
func (s *Snapshot) Device(ip string) *Device {
	for _, d := range s.Devices {
		if d.IP.String() == ip {
			return d
		}
	}
	return nil
}

func compareKeys(a, b ChannelKey) int {
	return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), a.Server.Compare(b.Server),
		cmp.Compare(a.Unit, b.Unit), cmp.Compare(a.Port, b.Port), a.Client.Compare(b.Client))
}

// sortSnapshot puts every slice in its canonical order.
func sortSnapshot(s *Snapshot) {
	slices.SortFunc(s.Devices, func(a, b *Device) int { return a.IP.Compare(b.IP) })
	slices.SortFunc(s.Channels, func(a, b *Channel) int { return compareKeys(a.Key, b.Key) })
	slices.SortFunc(s.Accepted, func(a, b Acceptance) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(s.Alerts, func(a, b *AlertRecord) int {
		return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(s.Audit, func(a, b AuditEntry) int { return cmp.Compare(a.Seq, b.Seq) })
}

// deepCopy round-trips v through JSON: snapshots share nothing with the
// live engine.
func deepCopy[T any](v *T) (*T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("baselines: copy %T: %w", v, err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("baselines: copy %T: %w", v, err)
	}
	return &out, nil
}

// mustCopy copies what the engine built itself, which Load has validated
// and learn only extends with encodable values; should a copy ever fail,
// the entity is left out of the snapshot rather than crashing the monitor.
func mustCopy[T any](v *T) *T {
	c, err := deepCopy(v)
	if err != nil {
		return nil
	}
	return c
}

// Snapshot returns a deep copy of the baseline, alert log and pending audit
// entries, in canonical order.
func (e *Engine) Snapshot() *Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &Snapshot{Schema: SchemaVersion}
	for _, d := range e.devices {
		if c := mustCopy(d); c != nil {
			s.Devices = append(s.Devices, c)
		}
	}
	for _, c := range e.channels {
		c.flushShapes()
		if c := mustCopy(c); c != nil {
			s.Channels = append(s.Channels, c)
		}
	}
	for _, a := range e.accepted {
		s.Accepted = append(s.Accepted, *a)
	}
	for _, r := range e.alerts {
		if c := mustCopy(r); c != nil {
			s.Alerts = append(s.Alerts, c)
		}
	}
	s.Audit = append(s.Audit, e.audit...)
	sortSnapshot(s)
	if s.Devices == nil {
		s.Devices = []*Device{}
	}
	if s.Channels == nil {
		s.Channels = []*Channel{}
	}
	if s.Accepted == nil {
		s.Accepted = []Acceptance{}
	}
	return s
}

// Load replaces the engine's baseline with the snapshot's (a copy). Runtime
// state (rate windows, suppression times) starts afresh.
func (e *Engine) Load(s *Snapshot) error {
	if s.Schema > SchemaVersion {
		return fmt.Errorf("%w: snapshot has schema %d, this sluice reads up to %d", ErrNewerSchema, s.Schema, SchemaVersion)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.devices = map[netip.Addr]*Device{}
	e.channels = map[ChannelKey]*Channel{}
	e.pairs = map[pairKey]int{}
	e.alerts = map[suppKey]*AlertRecord{}
	e.accepted = map[suppKey]*Acceptance{}
	e.learnEnd = time.Time{}
	e.chanRT = map[ChannelKey]*chanRuntime{}
	e.pairRT = map[pairKey]*pairRuntime{}
	e.clearHot()
	for _, d := range s.Devices {
		d, err := deepCopy(d)
		if err != nil {
			return err
		}
		if !d.IP.IsValid() {
			return fmt.Errorf("baselines: device without a valid IP")
		}
		if len(d.ConvergenceBuckets) != convergenceBuckets {
			d.ConvergenceBuckets = nil
		}
		slices.Sort(d.Units)
		e.devices[d.IP] = d
		if end := d.FirstSeen.Add(e.cfg.LearnFor); e.learnEnd.IsZero() || end.Before(e.learnEnd) {
			e.learnEnd = end
		}
	}
	for _, c := range s.Channels {
		c, err := deepCopy(c)
		if err != nil {
			return err
		}
		if k := c.Key; (k.Protocol != Modbus && k.Protocol != OPCUA) || !k.Client.IsValid() || !k.Server.IsValid() {
			return fmt.Errorf("baselines: channel with an invalid key %+v", k)
		}
		sanitize(c)
		e.channels[c.Key] = c
		e.pairs[pairKey{c.Key.Protocol, c.Key.Client, c.Key.Server}]++
	}
	for _, a := range s.Accepted {
		a := a
		e.accepted[suppKey{a.Deviation.Rule, a.Deviation.Channel, a.Deviation.Item}] = &a
	}
	for _, r := range s.Alerts {
		r, err := deepCopy(r)
		if err != nil {
			return err
		}
		e.alerts[suppKey{r.Rule, r.Channel, r.Item}] = r
	}
	return nil
}

// Record is one key/value of a store bucket.
type Record struct {
	Bucket string
	Key    []byte
	Value  []byte // nil deletes the key
}

// Bucket names of the store: one record per device, channel, deviation
// (alert log and accepted) and audit entry.
const (
	BucketDevices  = "devices"
	BucketChannels = "channels"
	BucketAlerts   = "alerts"
	BucketAccepted = "accepted"
	BucketAudit    = "audit"
)

// TakeDelta encodes everything changed since the previous call and clears
// the change marks. The store's flusher calls it once a second; records are
// sorted by bucket and key so that one flush writes in key order.
func (e *Engine) TakeDelta() ([]Record, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Record
	put := func(bucket, key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("baselines: encode %s %s: %w", bucket, key, err)
		}
		out = append(out, Record{Bucket: bucket, Key: []byte(key), Value: b})
		return nil
	}
	for ip, d := range e.devices {
		if d.dirty {
			if err := put(BucketDevices, ip.String(), d); err != nil {
				return nil, err
			}
			d.dirty = false
		}
	}
	for k, c := range e.channels {
		if c.dirty {
			c.flushShapes()
			if err := put(BucketChannels, k.String(), c); err != nil {
				return nil, err
			}
			c.dirty = false
		}
	}
	if e.dirtyAlerts {
		for _, r := range e.alerts {
			if r.dirty {
				if err := put(BucketAlerts, r.ID, r); err != nil {
					return nil, err
				}
				r.dirty = false
			}
		}
		e.dirtyAlerts = false
	}
	if e.dirtyAccepted {
		for _, a := range e.accepted {
			if err := put(BucketAccepted, a.ID, a); err != nil {
				return nil, err
			}
		}
		e.dirtyAccepted = false
	}
	for _, a := range e.audit {
		if err := put(BucketAudit, auditKey(a.Seq), a); err != nil {
			return nil, err
		}
	}
	e.audit = e.audit[:0]
	slices.SortFunc(out, func(a, b Record) int {
		return cmp.Or(cmp.Compare(a.Bucket, b.Bucket), bytes.Compare(a.Key, b.Key))
	})
	return out, nil
}

// auditKey is the big-endian-sortable key of an audit entry.
func auditKey(seq uint64) string { return fmt.Sprintf("%016x", seq) }

// Accept folds a benign deviation into the baseline and records who
// accepted it, when and why. seq numbers the audit entry (the store passes
// its next sequence). Baseline deviations are learned (the channel, the
// function, the written range, the value); every acceptance is listed, and
// except for a widened value envelope it also silences exactly that rule,
// channel and item.
func (e *Engine) Accept(d Deviation, by, reason string, at time.Time, seq uint64) (AuditEntry, error) {
	if d.Rule == RuleNone || d.Rule >= numRules {
		return AuditEntry{}, fmt.Errorf("baselines: accept: unknown rule %d", d.Rule)
	}
	if by == "" || reason == "" {
		return AuditEntry{}, fmt.Errorf("baselines: accept: who and why are required")
	}
	if k := d.Channel; d.Rule.Deviation() && ((k.Protocol != Modbus && k.Protocol != OPCUA) || !k.Client.IsValid() || !k.Server.IsValid()) {
		return AuditEntry{}, fmt.Errorf("baselines: accept: %s deviation with an invalid channel %+v", d.Rule, k)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.foldIn(d, at)
	id := d.ID()
	acc := &Acceptance{ID: id, Deviation: d, By: by, At: at, Reason: reason, Folded: d.Rule == WriteValueOutOfRange}
	e.accepted[suppKey{d.Rule, d.Channel, d.Item}] = acc
	e.dirtyAccepted = true
	ent := AuditEntry{Seq: seq, Action: "accept", By: by, At: at, Reason: reason, DeviationID: id, Deviation: &d}
	e.audit = append(e.audit, ent)
	return ent, nil
}

// AddAudit queues an audit entry (an approval) for the next TakeDelta.
func (e *Engine) AddAudit(a AuditEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.audit = append(e.audit, a)
}

// foldIn learns the item a deviation is about.
func (e *Engine) foldIn(d Deviation, at time.Time) {
	k := d.Channel
	switch d.Rule {
	case NewMaster, NewChannel, OPCUANewClient, UnexpectedFunction, UnexpectedWrite,
		WriteValueOutOfRange, OPCUAUnexpectedWrite, OPCUAUnexpectedCall, OPCUAAnonymousSession,
		OPCUASecurityDowngrade:
	default:
		return
	}
	ch := e.channels[k]
	if ch == nil {
		ch = e.newChannel(k, at)
	}
	ch.dirty = true
	it := d.Item
	switch d.Rule {
	case UnexpectedFunction:
		if it.What == "service" {
			count(&ch.Services, it.Node)
		} else {
			count(&ch.Functions, it.Function)
		}
	case UnexpectedWrite:
		if ch.Written == nil {
			ch.Written = map[Table]RangeSet{}
		}
		ch.Written[it.Table], _ = ch.Written[it.Table].Add(Range{it.Addr, max(it.Count, 1)})
	case WriteValueOutOfRange:
		if it.Node != "" {
			if ch.NodesWritten == nil {
				ch.NodesWritten = map[string]*Envelope{}
			}
			if ch.NodesWritten[it.Node] == nil {
				ch.NodesWritten[it.Node] = &Envelope{}
			}
			ch.NodesWritten[it.Node].add(d.Value, e.cfg.DistinctValues)
		} else {
			if ch.Values == nil {
				ch.Values = map[RegKey]*Envelope{}
			}
			rk := RegKey{it.Table, it.Addr}
			if ch.Values[rk] == nil {
				ch.Values[rk] = &Envelope{}
			}
			ch.Values[rk].add(d.Value, e.cfg.DistinctValues)
		}
	case OPCUAUnexpectedWrite:
		if ch.NodesWritten == nil {
			ch.NodesWritten = map[string]*Envelope{}
		}
		if ch.NodesWritten[it.Node] == nil {
			ch.NodesWritten[it.Node] = &Envelope{}
		}
	case OPCUAUnexpectedCall:
		count(&ch.NodesCalled, it.Node)
	case OPCUAAnonymousSession:
		count(&ch.Tokens, TokenAnonymous)
	case OPCUASecurityDowngrade:
		switch it.What {
		case "policy":
			count(&ch.Policies, d.Text)
		case "mode":
			var m SecurityMode
			if m.UnmarshalText([]byte(d.Text)) == nil {
				count(&ch.Modes, m)
			}
		case "token":
			var t TokenType
			if t.UnmarshalText([]byte(d.Text)) == nil {
				count(&ch.Tokens, t)
			}
		}
	case OPCUANewClient:
		if it.What == "application_uri" {
			count(&ch.ClientApps, it.Node)
		}
	}
}

// MarkAllDirty marks every device, channel and alert record as changed, so
// that the next TakeDelta returns the whole baseline (import).
func (e *Engine) MarkAllDirty() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.devices {
		d.dirty = true
	}
	for _, c := range e.channels {
		c.dirty = true
	}
	for _, r := range e.alerts {
		r.dirty = true
	}
	e.dirtyAlerts, e.dirtyAccepted = true, true
}

// sanitize repairs what a hand-edited or hostile import could break: nil
// map entries and unsorted or overlapping range sets.
func sanitize(c *Channel) {
	maps.DeleteFunc(c.Values, func(_ RegKey, v *Envelope) bool { return v == nil })
	maps.DeleteFunc(c.NodesWritten, func(_ string, v *Envelope) bool { return v == nil })
	maps.DeleteFunc(c.Polls, func(_ PollKey, v *Rhythm) bool { return v == nil })
	for _, m := range []map[Table]RangeSet{c.Read, c.Written} {
		for t, rs := range m {
			var clean RangeSet
			for _, sp := range rs {
				if sp.First <= sp.Last {
					clean, _ = clean.Add(Range{sp.First, uint16(min(uint32(sp.Last)-uint32(sp.First)+1, 65535))})
					if sp.Last == 65535 && sp.First == 0 {
						clean, _ = clean.Add(Range{65535, 1})
					}
				}
			}
			m[t] = clean
		}
	}
	for _, env := range c.Values {
		slices.Sort(env.Distinct)
	}
	for _, env := range c.NodesWritten {
		slices.Sort(env.Distinct)
	}
}
