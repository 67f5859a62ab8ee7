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
// baselines package registers has a bucket of its own for its channels,
// "channels/modbus", "channels/opcua" (baselines.Buckets). A schema 1 store
// is migrated when opened for writing (migrate.go).
package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
)

// FileMode is the permission of a new store: the baseline describes the
// plant and is for its operators only.
const FileMode os.FileMode = 0o600

// DefaultFlushEvery bounds what a crash loses (see Options.FlushEvery).
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
	// FlushEvery (DefaultFlushEvery) bounds how long a change waits to be
	// durable, so what a crash (kill -9, power loss) loses: the writer
	// goroutine takes a delta every FlushEvery/2, so that a change waits
	// at most half of it to be taken and its transaction has the other
	// half to be written and synced.
	FlushEvery time.Duration
	// OnFlush, when set, is called by the writer goroutine after each
	// flush with the number of records written and the flush's error.
	OnFlush func(records int, err error)
	// OnDelta, when set, is called by Flush with every delta it takes
	// from the source, before writing it: the fleet sensor publishes
	// the baseline's changes from there. Each change is handed once,
	// whether or not the local write succeeds.
	OnDelta func(recs []baselines.Record)
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
	err     error // error of the last flush, nil once one succeeds
	broken  error // set by guard when bbolt panicked
	closed  bool
	started bool
	// unwritten are the records of failed flushes, written with the next
	// (guarded by flushMu, read under mu); failures counts failed flushes.
	unwritten []baselines.Record
	failures  uint64
	// flushMu serialises flushes (the writer goroutine's and Close's or
	// a caller's).
	flushMu sync.Mutex
}

// Open opens or creates the store at path. A store written by a newer
// Sluice (schema above SchemaVersion) is refused with an error wrapping
// baselines.ErrNewerSchema, an older one is migrated in one transaction
// when opened for writing and read as it is when opened read-only; a
// damaged file (cut short by a full
// disk, or corrupt) is refused with an error wrapping ErrDamaged that says
// what is wrong, before bbolt maps it (inspect reads the file once). A new
// store is created whole or not at all (see create).
func Open(path string, opts Options) (*DB, error) {
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && !opts.ReadOnly {
		if err := create(path); err != nil {
			return nil, fmt.Errorf("store: create %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := inspectFile(path); err != nil {
		return nil, fileError("open", path, err)
	}
	var b *bolt.DB
	var file *os.File
	bopts := &bolt.Options{Timeout: 2 * time.Second, ReadOnly: opts.ReadOnly,
		OpenFile: func(name string, flag int, perm os.FileMode) (f *os.File, err error) {
			f, err = os.OpenFile(name, flag, perm)
			file = f
			return f, err
		}}
	err := guard(func() (err error) {
		b, err = bolt.Open(path, FileMode, bopts)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrDamaged) && file != nil {
			file.Close() // bbolt panicked half-way: release its file and lock
		}
		return nil, fileError("open", path, err)
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
	if err := db.guard(db.init); err != nil {
		db.closeBolt()
		return nil, fileError("open", path, err)
	}
	return db, nil
}

// fileError wraps an error of op (open, check) on the file at path; that of
// a damaged file says how to rescue what it holds.
func fileError(op, path string, err error) error {
	if errors.Is(err, ErrDamaged) {
		return fmt.Errorf("store: %s %s: %w; sluice baseline recover --db %s -o NEW.db copies what is readable into a new store",
			op, path, err, path)
	}
	return fmt.Errorf("store: %s %s: %w", op, path, err)
}

// Inspect checks that the file at path is a whole bbolt file before
// anything maps it: a damaged file (cut short by a full disk, or corrupt)
// gives an error wrapping ErrDamaged instead of a crash in bbolt. The fleet
// database (internal/fleet) is checked with it too.
func Inspect(path string) error { return inspectFile(path) }

// inspectFile runs inspect on the file at path.
func inspectFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, _, err = inspect(f, fi.Size())
	return err
}

// create makes a new store at path whole or not at all: bbolt writes its
// first pages, and init the schema and buckets, into a temporary file beside
// path, which is synced and renamed into place once complete. On a full
// disk a store opened in place used to stay behind half-written (its meta
// pages but not its root page), and every later open of it faulted.
func create(path string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".new-*") // mode 0600, FileMode
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	b, err := bolt.Open(tmp, FileMode, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	db := &DB{bolt: b}
	if err := db.init(); err != nil { // bbolt syncs the transaction
		b.Close()
		return err
	}
	if err := b.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// guard runs fn, a call into bbolt, and turns a panic into an error wrapping
// ErrDamaged. It is the last line of defence, for damage inspect cannot
// see (a file damaged or cut while it is open, a corrupt record): bbolt
// trusts every page it reaches, so a page that is not what its parent says
// trips an assertion, and a page beyond the end of the mapped file faults,
// which SetPanicOnFault turns into a panic of this goroutine instead of a
// crash of the process.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: bbolt failed on a corrupt page: %v", ErrDamaged, r)
		}
	}()
	return fn()
}

// guard runs fn with the package's guard. After a panic the store is
// marked broken: every later call returns the first panic's error instead
// of reading a file known to be corrupt (Close still closes it).
func (db *DB) guard(fn func() error) error {
	db.mu.Lock()
	broken := db.broken
	db.mu.Unlock()
	if broken != nil {
		return broken
	}
	err := guard(fn)
	if errors.Is(err, ErrDamaged) {
		db.mu.Lock()
		if db.broken == nil {
			db.broken = err
		}
		db.mu.Unlock()
	}
	return err
}

// view and update are bbolt's View and Update under the guard.
func (db *DB) view(fn func(*bolt.Tx) error) error {
	return db.guard(func() error { return db.bolt.View(fn) })
}

func (db *DB) update(fn func(*bolt.Tx) error) error {
	return db.guard(func() error { return db.bolt.Update(fn) })
}

// closeBolt closes bbolt. After a panic (see guard) it waits for that at
// most brokenCloseWait: bbolt's View and Update roll back on a panic and
// release their locks, but a panic elsewhere may leave one held, and Close
// must not hang; the file and its lock then stay until the process exits.
func (db *DB) closeBolt() error {
	db.mu.Lock()
	broken := db.broken
	db.mu.Unlock()
	if broken == nil {
		return db.bolt.Close()
	}
	done := make(chan error, 1)
	go func() { done <- db.bolt.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(brokenCloseWait):
		return fmt.Errorf("bbolt did not close after %v: %w", brokenCloseWait, broken)
	}
}

const brokenCloseWait = time.Second

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
	var s *baselines.Snapshot
	err := db.view(func(tx *bolt.Tx) error {
		if err := checkChannelBuckets(tx); err != nil {
			return err
		}
		var err error
		s, err = Decode(Buckets{Channels: channelBuckets(tx), Each: func(bucket string, fn func(k, v []byte) error) error {
			b := tx.Bucket([]byte(bucket))
			if b == nil {
				return nil
			}
			return b.ForEach(fn)
		}})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: load %s: %w", db.Path(), err)
	}
	return s, nil
}

// Buckets is where Decode reads a store's records: a store file, or a
// copy of one kept elsewhere (the fleet database keeps one per site).
type Buckets struct {
	// Each calls fn with every key and value of the named bucket, in key
	// order; a bucket that does not exist has none.
	Each func(bucket string, fn func(k, v []byte) error) error
	// Channels are the channel buckets there are (IsChannelBucket).
	Channels []string
}

// Decode reads the records of a store's buckets into a snapshot in
// canonical order.
func Decode(b Buckets) (*baselines.Snapshot, error) {
	s := &baselines.Snapshot{Schema: baselines.ExportVersion}
	each := func(bucket string, fn func(k, v []byte) error) error {
		return b.Each(bucket, func(k, v []byte) error {
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
		return nil, err
	}
	for _, bucket := range b.Channels {
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
			return nil, err
		}
	}
	if err := each(baselines.BucketAlerts, func(k, v []byte) error {
		r := new(baselines.AlertRecord)
		s.Alerts = append(s.Alerts, r)
		return json.Unmarshal(v, r)
	}); err != nil {
		return nil, err
	}
	if err := each(baselines.BucketAccepted, func(k, v []byte) error {
		var a baselines.Acceptance
		err := json.Unmarshal(v, &a)
		s.Accepted = append(s.Accepted, a)
		return err
	}); err != nil {
		return nil, err
	}
	if err := each(baselines.BucketAudit, func(k, v []byte) error {
		var a baselines.AuditEntry
		err := json.Unmarshal(v, &a)
		s.Audit = append(s.Audit, a)
		return err
	}); err != nil {
		return nil, err
	}
	// Bucket order is key order; give the snapshot its canonical order.
	e := baselines.New(baselines.Config{})
	audit := s.Audit
	if err := e.Load(s); err != nil {
		return nil, err
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
	err := db.update(func(tx *bolt.Tx) error { return putRecords(tx, recs) })
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

// Flush takes the source's delta and writes it now. A delta that cannot be
// written (a full disk, an I/O error) is kept and written with the next
// one, so the engine goes on learning in memory and nothing it learned is
// lost once the store can be written again (issue #15 §2). Writing stops
// being retried only when the DB is closed.
func (db *DB) Flush(src Source) (int, error) {
	// Taken under flushMu: deltas reach OnDelta and the file in the
	// order they were taken.
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	recs, err := src.TakeDelta()
	if err != nil {
		return 0, fmt.Errorf("store: flush: %w", err)
	}
	if db.opts.OnDelta != nil && len(recs) > 0 {
		db.opts.OnDelta(recs)
	}
	if len(db.unwritten) > 0 {
		recs = mergeRecords(db.unwritten, recs)
	}
	err = db.Write(recs)
	db.mu.Lock()
	if err != nil {
		db.unwritten = recs
		db.failures++
		db.err = err
	} else {
		db.unwritten = nil
		db.err = nil
	}
	db.mu.Unlock()
	return len(recs), err
}

// mergeRecords returns the records of older and newer, a key written in
// both taking newer's value, in the sorted key order Write expects.
func mergeRecords(older, newer []baselines.Record) []baselines.Record {
	type key struct{ bucket, key string }
	seen := make(map[key]bool, len(newer))
	for _, r := range newer {
		seen[key{r.Bucket, string(r.Key)}] = true
	}
	out := make([]baselines.Record, 0, len(older)+len(newer))
	for _, r := range older {
		if !seen[key{r.Bucket, string(r.Key)}] {
			out = append(out, r)
		}
	}
	out = append(out, newer...)
	slices.SortStableFunc(out, func(a, b baselines.Record) int {
		return cmp.Or(cmp.Compare(a.Bucket, b.Bucket), bytes.Compare(a.Key, b.Key))
	})
	return out
}

// Status is the state of the writer: Err is the error of the last write
// (nil once a write succeeds again), Unwritten the records waiting for the
// store to be writable, Failures the writes that failed since Open.
type Status struct {
	Err       error
	Unwritten int
	Failures  uint64
}

// Status returns the writer's state. Safe from any goroutine.
func (db *DB) Status() Status {
	db.mu.Lock()
	defer db.mu.Unlock()
	return Status{Err: db.err, Unwritten: len(db.unwritten), Failures: db.failures}
}

// Start runs the writer goroutine: every FlushEvery/2 of wall time (the
// flusher is not on the data path) it writes src's delta, so that every
// change is durable within FlushEvery. Close stops it after a last flush.
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
	// Half the bound: a change made just after a delta was taken waits
	// for the next one (FlushEvery/2), then for its commit and sync.
	// Ticking every FlushEvery lost up to FlushEvery plus the write
	// (1.18 s with the 1 s default).
	t := time.NewTicker(db.opts.FlushEvery / 2)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			n, err := db.Flush(db.src)
			if db.opts.OnFlush != nil {
				db.opts.OnFlush(n, err)
			}
		}
	}
}

// Err returns the error of the last write (nil once one succeeds again).
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
		// The last flush writes what earlier failures kept, too: its
		// error is the one that says something was not stored.
		if _, err := db.Flush(db.src); err != nil {
			errs = append(errs, err)
		}
	}
	if err := db.closeBolt(); err != nil {
		errs = append(errs, fmt.Errorf("store: close: %w", err))
	}
	return errors.Join(errs...)
}

// NextAuditSeq reserves the next audit sequence number.
func (db *DB) NextAuditSeq() (uint64, error) {
	var seq uint64
	err := db.update(func(tx *bolt.Tx) error {
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

// WriteAudit stores one audit entry now, in its own transaction, instead
// of with the next delta: an entry that must be durable even if the run is
// killed (the capture entry a run writes when it starts). An entry with
// the same Seq given to the engine later (Engine.AddAudit) replaces it
// when that delta is written.
func (db *DB) WriteAudit(a baselines.AuditEntry) error {
	e := baselines.New(baselines.Config{})
	e.AddAudit(a)
	recs, err := e.TakeDelta() // the entry's record alone, with its key
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return db.Write(recs)
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
	err = db.update(func(tx *bolt.Tx) error {
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
	return db.view(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}
