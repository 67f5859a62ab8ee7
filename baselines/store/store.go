// Package store keeps a baselines.Engine's model in a bbolt file.
//
// The engine marks what changed; one writer goroutine (Start) takes those
// deltas once a second and writes them in a single transaction, keys
// sorted, fsync on, so a crash loses at most the last flush interval and
// never leaves a half-written baseline (bbolt's copy-on-write B+tree makes
// each transaction atomic).
//
// Layout (schema 2, layout.go): bucket "meta" holds the schema version and
// the audit sequence; buckets devices, alerts, accepted and audit hold one
// JSON value per device, deviation and audit entry; each protocol the
// baselines registry lists has a bucket of its own for its channels,
// "channels/modbus", "channels/opcua" (baselines.Buckets). A schema 1 store
// is migrated when opened for writing (migrate.go).
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
)

// FileMode is the permission of a new store: the baseline describes the
// plant and is for its operators only.
const FileMode os.FileMode = 0o600

// DefaultFlushEvery is the flush interval of Start.
const DefaultFlushEvery = time.Second

var (
	bucketMeta = []byte("meta")
	keySchema  = []byte("schema")
	keyAudit   = []byte("audit_seq")
)

// ErrClosed is returned when the store is used after Close.
var ErrClosed = errors.New("store: closed")

// Source yields the changes to write; *baselines.Engine implements it.
type Source interface {
	TakeDelta() ([]baselines.Record, error)
}

// Options tune Open and Start. The zero value is the production setting.
type Options struct {
	// FlushEvery is the interval of the writer goroutine (DefaultFlushEvery).
	FlushEvery time.Duration
	// OnFlush, when set, is called by the writer goroutine after each
	// flush with the number of records written and the flush's error.
	OnFlush func(records int, err error)
	// ReadOnly opens the file for reading (show, export, diff).
	ReadOnly bool
}

// DB is an open store.
type DB struct {
	bolt *bolt.DB
	opts Options

	mu      sync.Mutex
	src     Source
	stop    chan struct{}
	done    chan struct{}
	err     error // first flush error of the writer goroutine
	closed  bool
	started bool
}

// Open opens or creates the store at path. A store written by a newer
// Sluice (schema above SchemaVersion) is refused with an error wrapping
// baselines.ErrNewerSchema; an older one is migrated in one transaction
// when opened for writing, and read as it is when opened read-only.
func Open(path string, opts Options) (*DB, error) {
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
	}
	b, err := bolt.Open(path, FileMode, &bolt.Options{Timeout: 2 * time.Second, ReadOnly: opts.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if !opts.ReadOnly {
		// A store copied with a looser mode is tightened: it maps the plant.
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&^FileMode != 0 {
			if err := os.Chmod(path, FileMode); err != nil {
				b.Close()
				return nil, fmt.Errorf("store: open %s: %w", path, err)
			}
		}
	}
	db := &DB{bolt: b, opts: opts}
	if err := db.init(); err != nil {
		b.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

// init checks the schema version, creates the buckets of a new store and
// migrates an older one.
func (db *DB) init() error {
	check := func(tx *bolt.Tx) (int, error) {
		m := tx.Bucket(bucketMeta)
		if m == nil {
			return 0, nil
		}
		v := m.Get(keySchema)
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return 0, fmt.Errorf("bad schema version %q: %w", v, err)
		}
		if n > SchemaVersion {
			return 0, fmt.Errorf("%w: the store has schema %d, this sluice reads up to %d; upgrade sluice",
				baselines.ErrNewerSchema, n, SchemaVersion)
		}
		return n, nil
	}
	if db.opts.ReadOnly {
		return db.bolt.View(func(tx *bolt.Tx) error {
			n, err := check(tx)
			if err == nil && n == 0 {
				return errors.New("not a sluice baseline store (no schema)")
			}
			return err
		})
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		n, err := check(tx)
		if err != nil {
			return err
		}
		if n == 0 {
			m, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if err := m.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
				return err
			}
			n = SchemaVersion
		}
		if err := createLayout(tx); err != nil {
			return err
		}
		return migrate(tx, n)
	})
}

// Path returns the file name of the store.
func (db *DB) Path() string { return db.bolt.Path() }

// Load reads the whole store into a snapshot in canonical order.
func (db *DB) Load() (*baselines.Snapshot, error) {
	s := &baselines.Snapshot{Schema: baselines.ExportVersion}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if err := checkChannelBuckets(tx); err != nil {
			return err
		}
		each := func(bucket string, fn func(k, v []byte) error) error {
			b := tx.Bucket([]byte(bucket))
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				if err := fn(k, v); err != nil {
					return fmt.Errorf("%s %q: %w", bucket, k, err)
				}
				return nil
			})
		}
		if err := each(baselines.BucketDevices, func(k, v []byte) error {
			d := new(baselines.Device)
			s.Devices = append(s.Devices, d)
			return json.Unmarshal(v, d)
		}); err != nil {
			return err
		}
		for _, bucket := range channelBuckets(tx) {
			if err := each(bucket, func(k, v []byte) error {
				c := new(baselines.Channel)
				s.Channels = append(s.Channels, c)
				if err := json.Unmarshal(v, c); err != nil {
					return err
				}
				if bucket != bucketChannelsV1 && baselines.ChannelBucket(c.Key.Protocol) != bucket {
					return fmt.Errorf("a %s channel in the wrong bucket", c.Key.Protocol)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		if err := each(baselines.BucketAlerts, func(k, v []byte) error {
			r := new(baselines.AlertRecord)
			s.Alerts = append(s.Alerts, r)
			return json.Unmarshal(v, r)
		}); err != nil {
			return err
		}
		if err := each(baselines.BucketAccepted, func(k, v []byte) error {
			var a baselines.Acceptance
			err := json.Unmarshal(v, &a)
			s.Accepted = append(s.Accepted, a)
			return err
		}); err != nil {
			return err
		}
		return each(baselines.BucketAudit, func(k, v []byte) error {
			var a baselines.AuditEntry
			err := json.Unmarshal(v, &a)
			s.Audit = append(s.Audit, a)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: load %s: %w", db.Path(), err)
	}
	// Bucket order is key order; give the snapshot its canonical order.
	e := baselines.New(baselines.Config{})
	audit := s.Audit
	if err := e.Load(s); err != nil {
		return nil, fmt.Errorf("store: load %s: %w", db.Path(), err)
	}
	out := e.Snapshot()
	out.Audit = audit
	return out, nil
}

// Write stores records in one transaction, in sorted key order (the
// engine's TakeDelta sorts them). A nil Value deletes the key.
func (db *DB) Write(recs []baselines.Record) error {
	if len(recs) == 0 {
		return nil
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error { return putRecords(tx, recs) })
	if err != nil {
		return fmt.Errorf("store: write %s: %w", db.Path(), err)
	}
	return nil
}

// putRecords writes recs within tx. A record for a bucket the layout
// lacks is an error: nothing the engine writes is dropped.
func putRecords(tx *bolt.Tx, recs []baselines.Record) error {
	for _, r := range recs {
		b := tx.Bucket([]byte(r.Bucket))
		if b == nil {
			return fmt.Errorf("unknown bucket %q", r.Bucket)
		}
		var err error
		if r.Value == nil {
			err = b.Delete(r.Key)
		} else {
			err = b.Put(r.Key, r.Value)
		}
		if err != nil {
			return fmt.Errorf("%s %q: %w", r.Bucket, r.Key, err)
		}
	}
	return nil
}

// Flush takes the source's delta and writes it now.
func (db *DB) Flush(src Source) (int, error) {
	recs, err := src.TakeDelta()
	if err != nil {
		return 0, fmt.Errorf("store: flush: %w", err)
	}
	return len(recs), db.Write(recs)
}

// Start runs the writer goroutine: every FlushEvery of wall time (the
// flusher is not on the data path) it writes src's delta. Close stops it
// after a last flush.
func (db *DB) Start(src Source) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return ErrClosed
	}
	if db.started {
		return errors.New("store: writer already started")
	}
	db.started, db.src = true, src
	db.stop, db.done = make(chan struct{}), make(chan struct{})
	go db.writer()
	return nil
}

func (db *DB) writer() {
	defer close(db.done)
	t := time.NewTicker(db.opts.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			n, err := db.Flush(db.src)
			if err != nil {
				db.mu.Lock()
				if db.err == nil {
					db.err = err
				}
				db.mu.Unlock()
			}
			if db.opts.OnFlush != nil {
				db.opts.OnFlush(n, err)
			}
		}
	}
}

// Err returns the first error of the writer goroutine.
func (db *DB) Err() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.err
}

// Close stops the writer goroutine, flushes what is left and closes the
// file. It returns the first error of any flush.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	started := db.started
	db.mu.Unlock()
	var errs []error
	if started {
		close(db.stop)
		<-db.done
		if _, err := db.Flush(db.src); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, db.Err())
	}
	if err := db.bolt.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close: %w", err))
	}
	return errors.Join(errs...)
}

// NextAuditSeq reserves the next audit sequence number.
func (db *DB) NextAuditSeq() (uint64, error) {
	var seq uint64
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if v := m.Get(keyAudit); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		seq++
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], seq)
		return m.Put(keyAudit, b[:])
	})
	if err != nil {
		return 0, fmt.Errorf("store: audit sequence: %w", err)
	}
	return seq, nil
}

// Replace empties the baseline buckets and writes snapshot s instead
// (import), in one transaction. The store's own audit trail is kept; s's
// is not copied.
func (db *DB) Replace(s *baselines.Snapshot) error {
	if s.Schema > baselines.ExportVersion {
		return fmt.Errorf("store: import: %w: schema %d, this sluice reads up to %d",
			baselines.ErrNewerSchema, s.Schema, baselines.ExportVersion)
	}
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	if err := e.Load(s); err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	e.MarkAllDirty()
	recs, err := e.TakeDelta()
	if err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		if err := emptyBaseline(tx); err != nil {
			return err
		}
		return putRecords(tx, recs)
	})
	if err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	return nil
}

// Check verifies the consistency of the file (bbolt's page check).
func (db *DB) Check() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}
