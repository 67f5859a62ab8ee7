package baselines

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ExportVersion is the version of the export format (Snapshot's JSON, the
// "schema" of `sluice baseline export`). It is the format's own version,
// apart from the store's layout (store.SchemaVersion): an export with a
// larger version is refused.
const ExportVersion = 1

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
	Schema int `json:"schema"` // ExportVersion
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
		cmp.Compare(a.Unit, b.Unit), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Outstation, b.Outstation),
		a.Client.Compare(b.Client), cmp.Compare(a.Master, b.Master))
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
	s := &Snapshot{Schema: ExportVersion}
	for _, d := range e.devices {
		if c := mustCopy(&d.Device); c != nil {
			s.Devices = append(s.Devices, c)
		}
	}
	for _, c := range e.channels {
		if c := mustCopy(&c.Channel); c != nil {
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
	if s.Schema > ExportVersion {
		return fmt.Errorf("%w: snapshot has schema %d, this sluice reads up to %d", ErrNewerSchema, s.Schema, ExportVersion)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.devices = map[netip.Addr]*device{}
	e.channels = map[ChannelKey]*channel{}
	e.polled = nil
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
		e.devices[d.IP] = &device{Device: *d}
		if end := d.FirstSeen.Add(e.cfg.LearnFor); e.learnEnd.IsZero() || end.Before(e.learnEnd) {
			e.learnEnd = end
		}
	}
	for _, c := range s.Channels {
		c, err := deepCopy(c)
		if err != nil {
			return err
		}
		if !validKey(c.Key) || c.Model == nil {
			return fmt.Errorf("baselines: channel with an invalid key %+v", c.Key)
		}
		c.Model.sanitize()
		ch := &channel{Channel: *c}
		ch.indexPolls()
		if len(ch.polls) > 0 {
			e.polled = append(e.polled, ch)
		}
		e.channels[c.Key] = ch
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

// validKey reports whether k is a channel key its protocol makes: a
// registered protocol, both addresses, and the fields of the other
// protocols zero (two keys that differ only there would be one record of
// the store).
func validKey(k ChannelKey) bool {
	p := protoOf(k.Protocol)
	return p != nil && k.Client.IsValid() && k.Server.IsValid() && p.validKey(k)
}

// Record is one key/value of a store bucket.
type Record struct {
	Bucket string
	Key    []byte
	Value  []byte // nil deletes the key
}

// Bucket names of the store: one record per device, deviation (alert log
// and accepted) and audit entry; channels go to their protocol's bucket
// (ChannelBucket). Buckets lists them all.
const (
	BucketDevices  = "devices"
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
			if err := put(BucketDevices, ip.String(), &d.Device); err != nil {
				return nil, err
			}
			d.dirty = false
		}
	}
	for k, c := range e.channels {
		if c.dirty {
			if err := put(ChannelBucket(k.Protocol), k.String(), &c.Channel); err != nil {
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
	if !d.Rule.known() {
		return AuditEntry{}, fmt.Errorf("baselines: accept: unknown rule %d", d.Rule)
	}
	if by == "" || reason == "" {
		return AuditEntry{}, fmt.Errorf("baselines: accept: who and why are required")
	}
	if k := d.Channel; d.Rule.Deviation() && !validKey(k) {
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

// foldIn learns the item a deviation is about: the channel, and what the
// channel's model folds in (the function, the written range, the value...).
func (e *Engine) foldIn(d Deviation, at time.Time) {
	if !d.Rule.info().folds {
		return
	}
	c := e.channels[d.Channel]
	if c == nil {
		c = e.newChannel(d.Channel, at)
	}
	c.dirty = true
	c.Model.foldIn(&d, &e.cfg)
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
