package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
)

// tree is what a walk of a file's bucket tree found: every record and
// bucket it could read, and one line for each thing it could not.
type tree struct {
	pf      *pageFile
	seen    map[uint64]bool
	records []record
	buckets [][]string // every bucket reached, parents first
	lost    []string
	// inlineOnly reads only the buckets inline in the pages given, not the
	// pages they point to (scan, on a bucket list no meta page reaches).
	inlineOnly bool
}

// record is one key and value of a bucket; bucket is the path of nested
// bucket names (Sluice's buckets are all at the top level).
type record struct {
	bucket     []string
	key, value []byte
}

// walk reads the bucket tree of meta page m of a file with ordinary reads:
// every page a branch page points to, the records of every leaf page and,
// through bucket values, every bucket. What cannot be read (a page beyond
// the end of the file, a page whose header names another, an element that
// runs off its page) is noted in lost and skipped; the walk goes on with
// the rest.
func walk(f io.ReaderAt, size int64, m *meta) *tree {
	t := &tree{pf: &pageFile{f: f, size: size, pageSize: int64(m.pageSize), hwm: m.hwm}, seen: map[uint64]bool{}}
	t.pages(nil, m.root, "")
	return t
}

// bucketName is how lost lines name a bucket.
func bucketName(path []string) string {
	if len(path) == 0 {
		return "the bucket list"
	}
	return "bucket " + strconv.Quote(strings.Join(path, "/"))
}

// pages reads page id of the bucket at path and the pages below it. from is
// the first key the parent branch page gives for it, to name what is lost.
func (t *tree) pages(path []string, id uint64, from string) {
	where := bucketName(path)
	if from != "" {
		where += fmt.Sprintf(" (the records from key %q on)", from)
	}
	if t.seen[id] {
		t.lost = append(t.lost, fmt.Sprintf("%s: page %d is reached a second time; not read again", where, id))
		return
	}
	t.seen[id] = true
	p, err := t.pf.page(id)
	if err != nil {
		t.lost = append(t.lost, fmt.Sprintf("%s: %v", where, err))
		return
	}
	switch pageFlags(p) {
	case leafPage:
		t.leaf(path, p, id)
	case branchPage:
		for i := range pageCount(p) {
			e, err := elem(p, i)
			if err != nil {
				t.lost = append(t.lost, fmt.Sprintf("%s: branch page %d: %v", where, id, err))
				break
			}
			key, err := span(e, ne.Uint32(e), ne.Uint32(e[4:]))
			if err != nil {
				t.lost = append(t.lost, fmt.Sprintf("%s: branch page %d, element %d: %v", where, id, i, err))
				continue
			}
			t.pages(path, ne.Uint64(e[8:]), string(key))
		}
	default:
		t.lost = append(t.lost, fmt.Sprintf("%s: page %d is a %s page, not a branch or leaf page", where, id, pageType(p)))
	}
}

// leaf reads the records of leaf page p (page id, or 0 for a bucket's
// inline page) of the bucket at path, and the buckets it holds.
func (t *tree) leaf(path []string, p []byte, id uint64) {
	where := fmt.Sprintf("%s: leaf page %d", bucketName(path), id)
	if id == 0 {
		where = bucketName(path) + ": its inline page"
	}
	for i := range pageCount(p) {
		e, err := elem(p, i)
		if err != nil {
			t.lost = append(t.lost, fmt.Sprintf("%s: %v", where, err))
			return
		}
		pos, ksize, vsize := ne.Uint32(e[4:]), ne.Uint32(e[8:]), ne.Uint32(e[12:])
		kv, err := span(e, pos, ksize+vsize)
		if err != nil || ksize+vsize < ksize {
			t.lost = append(t.lost, fmt.Sprintf("%s, element %d: key and value run past the end of the page", where, i))
			continue
		}
		key, value := kv[:ksize], kv[ksize:]
		if ne.Uint32(e)&bucketLeaf == 0 {
			if len(path) == 0 {
				t.lost = append(t.lost, fmt.Sprintf("%s: key %q is not a bucket", where, key))
				continue
			}
			t.records = append(t.records, record{bucket: path, key: key, value: value})
			continue
		}
		sub := append(slices.Clip(path), string(key))
		if len(value) < bucketHeaderSize {
			t.lost = append(t.lost, fmt.Sprintf("%s: its header is %d bytes, not %d", bucketName(sub), len(value), bucketHeaderSize))
			continue
		}
		t.buckets = append(t.buckets, sub)
		if root := ne.Uint64(value); root != 0 {
			if !t.inlineOnly {
				t.pages(sub, root, "")
			}
		} else if inline := value[bucketHeaderSize:]; len(inline) < pageHeaderSize || pageFlags(inline) != leafPage {
			t.lost = append(t.lost, fmt.Sprintf("%s: its inline page is not a leaf page", bucketName(sub)))
		} else {
			t.leaf(sub, inline, 0)
		}
	}
}

// counts returns the number of records per top-level bucket.
func (t *tree) counts() map[string]int {
	n := map[string]int{}
	for _, b := range t.buckets {
		n[b[0]] += 0
	}
	for _, r := range t.records {
		n[r.bucket[0]]++
	}
	return n
}

// inspect checks a store file of size bytes without bbolt: checkLayout,
// then a walk of every page of the current meta page's tree. bbolt trusts
// every page it reaches: beyond what its guard catches (an assertion on a
// page, a fault beyond the end of the file), a branch page that points to
// itself or to a parent makes its cursor descend forever, its stack growing
// until the process runs out of memory, a fatal error no recover stops
// (seen: "fatal error: out of memory" on a 256 KiB store with one page id
// changed). After inspect, every page bbolt can reach from
// the tree is a page of the file, of the type and with the elements its
// parent says, reached once.
func inspect(f io.ReaderAt, size int64) (*meta, *tree, error) {
	m, err := checkLayout(f, size)
	if err != nil {
		return nil, nil, err
	}
	t := walk(f, size, m)
	if n := len(t.lost); n > 0 {
		if n > 3 {
			t.lost = append(t.lost[:3], fmt.Sprintf("and %d more", n-3))
		}
		return nil, nil, fmt.Errorf("%w: %d unreadable: %s", ErrDamaged, n, strings.Join(t.lost, "; "))
	}
	return m, t, nil
}

// Report is what Verify found in a store that is whole.
type Report struct {
	Size     int64          // of the file, in bytes
	PageSize int            // bbolt's page size
	Pages    uint64         // pages in use
	Txid     uint64         // the transaction the store is at
	Schema   int            // the store's schema version
	Records  map[string]int // per bucket
}

// Verify checks the store file at path without bbolt's memory map first
// (inspect), then with bbolt's own consistency check and a load of every
// record. It returns
// what it counted, or an error wrapping ErrDamaged that lists what is wrong.
func Verify(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError("check", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileError("check", path, err)
	}
	m, t, err := inspect(f, fi.Size())
	if err != nil {
		return nil, fileError("check", path, err)
	}
	db, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		return nil, fileError("check", path, fmt.Errorf("%w: bbolt's check: %w", ErrDamaged, err))
	}
	if _, err := db.Load(); err != nil {
		return nil, fileError("check", path, fmt.Errorf("%w: %w", ErrDamaged, err))
	}
	r := &Report{Size: fi.Size(), PageSize: int(m.pageSize), Pages: m.hwm, Txid: m.txid, Records: t.counts()}
	err = db.view(func(tx *bolt.Tx) error {
		r.Schema, err = strconv.Atoi(string(tx.Bucket(bucketMeta).Get(keySchema)))
		return err
	})
	return r, err
}

// Salvage is what Recover rescued and lost.
type Salvage struct {
	MetaPage int            // the meta page whose tree was read, -1 if none was usable
	Txid     uint64         // its transaction
	Rescued  map[string]int // records copied, per bucket
	Lost     []string       // one line for each page, bucket or record not copied
	// Orphaned is how many of the records copied were found on leaf pages
	// the tree no longer reaches (scan): their parent page is lost.
	Orphaned int
}

// Recover copies every record it can read from the store file src, which
// may be damaged, into a new store dst (which must not exist), and says
// what it rescued and lost. It reads src with ordinary reads, never through
// bbolt, so no damage can crash it. It walks the tree of each meta page that
// is valid or only fails its checksum (a last resort) and keeps the one that
// gives the most records (the newest on a tie); if part of it is lost, it
// looks for the rest page by page (scan). A
// record of a baseline bucket is copied only if it decodes and passes the
// engine's checks, so that dst loads; the audit sequence is set past every
// audit entry copied, so that new entries do not reuse a number.
func Recover(src, dst string) (*Salvage, error) {
	if _, err := os.Lstat(dst); err == nil {
		return nil, fmt.Errorf("store: recover: %s exists; recover writes a new store", dst)
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("store: recover: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("store: recover: %w", err)
	}
	t, s := salvage(f, fi.Size())
	if err := s.write(t, dst); err != nil {
		return nil, fmt.Errorf("store: recover into %s: %w", dst, err)
	}
	return s, nil
}

// salvage reads what it can of the store file f of size bytes: the tree of
// the best meta page (bestTree), and when part of it is lost the other
// pages (scan). It returns the records found and what Recover reports.
func salvage(f io.ReaderAt, size int64) (*tree, *Salvage) {
	s := &Salvage{MetaPage: -1, Rescued: map[string]int{}}
	ms := readMetas(f, size)
	t, m := bestTree(f, size, ms)
	if t == nil {
		// No tree to walk: every page is an orphan, of the page size
		// bbolt would assume.
		ps := int64(os.Getpagesize())
		t = &tree{pf: &pageFile{f: f, size: size, pageSize: ps}, seen: map[uint64]bool{},
			lost: []string{fmt.Sprintf("the bucket tree: no usable meta page (page 0: %v; page 1: %v)", ms[0].err, ms[1].err)}}
	} else {
		s.MetaPage, s.Txid = m.page, m.txid
		if o := &ms[1-m.page]; o.err == nil && o.txid > m.txid {
			why := "it reads fewer records"
			if l := walk(f, size, o).lost; len(l) > 0 {
				why = l[0]
			}
			t.lost = append([]string{fmt.Sprintf("the tree of the newest transaction %d (meta page %d): %s; read transaction %d's instead",
				o.txid, o.page, why, m.txid)}, t.lost...)
		}
	}
	if len(t.lost) > 0 {
		s.Orphaned = t.scan()
	}
	s.Lost = t.lost
	return t, s
}

// bestTree walks the tree of each usable meta page (the valid ones newest
// first, then those that fail only their checksum) and returns the one that
// gives the most records, the first on a tie; nil if none is usable.
func bestTree(f io.ReaderAt, size int64, ms [2]meta) (*tree, *meta) {
	order := []*meta{&ms[0], &ms[1]}
	if ms[1].txid > ms[0].txid {
		order[0], order[1] = order[1], order[0]
	}
	var cands []*meta
	for _, m := range order {
		if m.err == nil {
			cands = append(cands, m)
		}
	}
	for _, m := range order {
		if errors.Is(m.err, errChecksum) {
			cands = append(cands, m)
		}
	}
	var best *tree
	var bm *meta
	for _, m := range cands {
		t := walk(f, size, m)
		if best == nil || len(t.records) > len(best.records) {
			best, bm = t, m
		}
	}
	return best, bm
}

// write creates the store dst (whole or not at all, as Open does) and puts
// the records of t that pass checkRecord in one transaction. dst is removed
// if that fails or if it then does not load.
func (s *Salvage) write(t *tree, dst string) (err error) {
	db, err := Open(dst, Options{})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	var maxSeq uint64
	err = db.update(func(tx *bolt.Tx) error {
		for _, path := range t.buckets {
			if _, err := bucketAt(tx, path); err != nil {
				return err
			}
		}
		for _, r := range t.records {
			name := strings.Join(r.bucket, "/")
			info, err := checkRecord(r.bucket, r.key, r.value, false)
			if err != nil {
				s.Lost = append(s.Lost, fmt.Sprintf("bucket %q, key %q: %v", name, r.key, err))
				continue
			}
			maxSeq = max(maxSeq, info.auditSeq)
			b, err := bucketAt(tx, r.bucket)
			if err != nil {
				return err
			}
			if err := b.Put(r.key, r.value); err != nil {
				return fmt.Errorf("bucket %q, key %q: %w", name, r.key, err)
			}
			s.Rescued[name]++
		}
		m := tx.Bucket(bucketMeta)
		if v := m.Get(keyAudit); len(v) != 8 || binary.BigEndian.Uint64(v) < maxSeq {
			return m.Put(keyAudit, binary.BigEndian.AppendUint64(nil, maxSeq))
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	ro, err := Open(dst, Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer ro.Close()
	_, err = ro.Load()
	return err
}

// bucketAt returns the bucket at path, creating it and its parents.
func bucketAt(tx *bolt.Tx, path []string) (*bolt.Bucket, error) {
	b, err := tx.CreateBucketIfNotExists([]byte(path[0]))
	for _, name := range path[1:] {
		if err != nil {
			break
		}
		b, err = b.CreateBucketIfNotExists([]byte(name))
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %q: %w", strings.Join(path, "/"), err)
	}
	return b, nil
}

// checkRecord says whether a rescued record may go into a new store: a
// record of a baseline bucket must decode as Load decodes it, be stored
// under the key the engine gives it (its IP, channel key, id or sequence)
// and pass the engine's own checks; the schema version must be one this
// Sluice reads. Records of other buckets are copied as they are. strict
// also refuses unknown JSON fields: it tells which bucket a record of an
// orphaned page belongs to (see scan).
func checkRecord(path []string, key, value []byte, strict bool) (recordInfo, error) {
	var info recordInfo
	if len(path) != 1 {
		return info, nil
	}
	var s baselines.Snapshot
	var want string // the key the engine stores the record under
	decode := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(value))
		if strict {
			d.DisallowUnknownFields()
		}
		if err := d.Decode(v); err != nil {
			return err
		}
		if d.More() {
			return errors.New("data after the JSON value")
		}
		return nil
	}
	var err error
	switch path[0] {
	case string(bucketMeta):
		switch string(key) {
		case string(keySchema):
			if n, err := strconv.Atoi(string(value)); err != nil || n < 1 || n > SchemaVersion {
				return info, fmt.Errorf("schema version %q is not one this sluice reads", value)
			}
		case string(keyAudit):
			if len(value) != 8 {
				return info, fmt.Errorf("audit sequence of %d bytes, not 8", len(value))
			}
			info.progress = binary.BigEndian.Uint64(value)
		}
		return info, nil
	case baselines.BucketAudit:
		var a baselines.AuditEntry
		err = decode(&a)
		info.auditSeq, want = a.Seq, fmt.Sprintf("%016x", a.Seq)
	case baselines.BucketDevices:
		d := new(baselines.Device)
		err = decode(d)
		s.Devices, info.progress, want = []*baselines.Device{d}, d.Transactions, d.IP.String()
	case baselines.BucketAlerts:
		r := new(baselines.AlertRecord)
		err = decode(r)
		s.Alerts, info.progress, want = []*baselines.AlertRecord{r}, r.Count, r.ID
	case baselines.BucketAccepted:
		s.Accepted = make([]baselines.Acceptance, 1)
		err = decode(&s.Accepted[0])
		want = s.Accepted[0].ID
	default:
		// A protocol's channels (schema 2), or every protocol's (schema 1).
		p := channelProtocol(path[0])
		if p == 0 && path[0] != bucketChannelsV1 {
			return info, nil
		}
		c := new(baselines.Channel)
		if err = decode(c); err == nil && p != 0 && c.Key.Protocol != p {
			err = fmt.Errorf("a %s channel in the %s bucket", c.Key.Protocol, path[0])
		}
		s.Channels, info.progress, want = []*baselines.Channel{c}, c.Transactions, c.Key.String()
	}
	if err != nil {
		return info, err
	}
	if string(key) != want {
		return info, fmt.Errorf("its value is that of key %q", want)
	}
	return info, baselines.New(baselines.Config{}).Load(&s)
}

// recordInfo is what checkRecord reads from a record.
type recordInfo struct {
	// progress orders versions of one record: the transactions of a device
	// or channel, the occurrences of an alert, the audit sequence, which
	// only grow.
	progress uint64
	auditSeq uint64
}

// recordBuckets are the buckets an orphaned leaf page may belong to: those
// of the current layout, then schema 1's bucket of every protocol's
// channels (a page of a schema 1 file with channels of several protocols).
var recordBuckets = append(baselines.Buckets(), bucketChannelsV1)

// scan is the last resort when part of the tree is lost (a file cut short
// loses its newest pages, and the root and branch pages are rewritten by
// every transaction, so they are usually among them): it reads every leaf
// page of the file the walk did not reach. It takes the records of each
// page whose records all belong to one baseline bucket (orphanLeaf), and
// those of the small buckets inline in a page that lists buckets (a root
// page, of this transaction or an older one). Such a page may also be a
// free page holding an older version of a record, so of the versions of
// one record (the walk's and those found here) the one with the most
// progress is kept, the walk's on a tie. It returns the number of records
// taken from such pages.
func (t *tree) scan() int {
	pf := *t.pf
	pf.hwm = uint64(pf.size / pf.pageSize) // every whole page of the file
	type version struct {
		at       int // index in t.records
		progress uint64
		orphan   bool
	}
	found := map[string]*version{}
	keyOf := func(r record) string { return strings.Join(r.bucket, "/") + "\x00" + string(r.key) }
	for i, r := range t.records {
		info, _ := checkRecord(r.bucket, r.key, r.value, false)
		found[keyOf(r)] = &version{at: i, progress: info.progress}
	}
	offer := func(r record, progress uint64) {
		switch v := found[keyOf(r)]; {
		case v == nil:
			found[keyOf(r)] = &version{at: len(t.records), progress: progress, orphan: true}
			t.records = append(t.records, r)
		case progress > v.progress:
			t.records[v.at] = r
			v.progress, v.orphan = progress, true
		}
	}
	for id := uint64(2); id < pf.hwm; id++ {
		if t.seen[id] {
			continue
		}
		p, err := pf.page(id)
		if err != nil || pageFlags(p) != leafPage {
			continue // not the first page of a page: zeros, a continuation, unused space
		}
		first := id
		id += uint64(int64(len(p))/pf.pageSize) - 1
		if holdsBuckets(p) {
			list := &tree{pf: &pf, seen: map[uint64]bool{}, inlineOnly: true}
			list.leaf(nil, p, first)
			for _, r := range list.records {
				if info, err := checkRecord(r.bucket, r.key, r.value, false); err == nil {
					offer(r, info.progress)
				}
			}
			continue
		}
		recs, infos, ok := orphanLeaf(p)
		if !ok {
			t.lost = append(t.lost, fmt.Sprintf("leaf page %d, not reached from the tree: its %d records fit no one bucket", first, pageCount(p)))
			continue
		}
		for i, r := range recs {
			offer(r, infos[i].progress)
		}
	}
	n := 0
	for _, v := range found {
		if v.orphan {
			n++
		}
	}
	return n
}

// holdsBuckets says whether leaf page p has an element that is a bucket.
func holdsBuckets(p []byte) bool {
	for i := range pageCount(p) {
		if e, err := elem(p, i); err == nil && ne.Uint32(e)&bucketLeaf != 0 {
			return true
		}
	}
	return false
}

// orphanLeaf returns the records of leaf page p (which holds no bucket)
// and the one baseline bucket they all belong to, or false if there is not
// exactly one, or p cannot be read whole.
func orphanLeaf(p []byte) ([]record, []recordInfo, bool) {
	n := pageCount(p)
	if n == 0 {
		return nil, nil, false
	}
	var keys, values [][]byte
	for i := range n {
		e, err := elem(p, i)
		if err != nil {
			return nil, nil, false
		}
		ksize := ne.Uint32(e[8:])
		kv, err := span(e, ne.Uint32(e[4:]), ksize+ne.Uint32(e[12:]))
		if err != nil || len(kv) < int(ksize) {
			return nil, nil, false
		}
		keys, values = append(keys, kv[:ksize]), append(values, kv[ksize:])
	}
	var recs []record
	var infos []recordInfo
	for _, b := range recordBuckets {
		path := []string{b}
		var ri []recordInfo
		for i := range keys {
			info, err := checkRecord(path, keys[i], values[i], true)
			if err != nil {
				break
			}
			ri = append(ri, info)
		}
		if len(ri) < len(keys) {
			continue
		}
		if recs != nil {
			if b == bucketChannelsV1 {
				break // a protocol's bucket took the page
			}
			return nil, nil, false // fits two buckets
		}
		for i := range keys {
			recs = append(recs, record{bucket: path, key: keys[i], value: values[i]})
		}
		infos = ri
	}
	return recs, infos, recs != nil
}
