package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// learnedStore writes a store in one transaction, so that every leaf page
// holds current records: 200 clients of one PLC learned (201 devices, 200
// channels), then unexpected writes from 20 of them (alerts), one of them
// accepted, and an audit entry.
func learnedStore(t *testing.T) learned {
	t.Helper()
	db, path := newTestDB(t, Options{})
	e := baselines.New(baselines.Config{Mode: baselines.Auto, LearnFor: 200 * time.Second})
	for i := range 3000 { // 300 s of reads
		o := read(i)
		o.ClientIP = netip.AddrFrom4([4]byte{10, 10, 1, byte(i % 200)})
		e.Observe(o)
	}
	for i := range 20 {
		w := &baselines.Observation{Time: t0.Add(time.Hour), Protocol: baselines.Modbus, Responded: true,
			Endpoints: baselines.Endpoints{ClientIP: netip.AddrFrom4([4]byte{10, 10, 1, byte(i)}), ServerIP: plc, ServerPort: 502},
			Detail: &baselines.ModbusObs{Unit: 1, Function: 6, WriteTable: modbus.TableHoldingRegisters,
				Write: baselines.Range{Start: 40, Count: 1}, Values: []uint16{55}}}
		if len(e.Observe(w)) == 0 {
			t.Fatal("an unexpected write raised no alert")
		}
	}
	if _, err := e.Accept(e.Snapshot().Alerts[0].Deviation, "test", "benign", t0.Add(2*time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush(e); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	got := records(t, path)
	n := map[string]int{}
	for k := range got {
		n[k[:strings.IndexByte(k, '/')]]++
	}
	if n["devices"] != 201 || n["channels"] != 200 || n["alerts"] < 20 || n["accepted"] != 1 || n["audit"] != 1 {
		t.Fatalf("the store holds %v", n)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	l := learned{path: path, records: got, file: b, meta: layout(t, b)}
	if _, leaf := branchAndLeaf(b, l.meta); leaf == 0 {
		t.Fatal("no branch page below the root")
	}
	return l
}

// learned is a store written by learnedStore.
type learned struct {
	path    string
	records map[string][]byte // "bucket/key" → value, as bbolt reads them
	file    []byte
	meta    *meta // the current meta page
}

// records reads every record of the store at path with bbolt.
func records(t *testing.T, path string) map[string][]byte {
	t.Helper()
	b, err := bolt.Open(path, FileMode, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := map[string][]byte{}
	err = b.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			return bk.ForEach(func(k, v []byte) error {
				out[string(name)+"/"+string(k)] = bytes.Clone(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// layout returns the meta page bbolt uses for the file bytes b.
func layout(t *testing.T, b []byte) *meta {
	t.Helper()
	m := current(readMetas(bytes.NewReader(b), int64(len(b))))
	if m == nil {
		t.Fatal("no valid meta page")
	}
	return m
}

// setMeta writes v at offset off of meta page `page` (page size ps) of b and
// recomputes the page's checksum, as bbolt would have written it.
func setMeta(b []byte, page int, ps uint32, off int, v uint64, size int) {
	p := b[page*int(ps):]
	switch size {
	case 4:
		ne.PutUint32(p[off:], uint32(v))
	default:
		ne.PutUint64(p[off:], v)
	}
	h := fnv.New64a()
	h.Write(p[pageHeaderSize:metaChecksumAt])
	ne.PutUint64(p[metaChecksumAt:], h.Sum64())
}

// Offsets in a meta page, from the page's start.
const (
	offVersion  = 20
	offPageSize = 24
	offRoot     = 32
	offHWM      = 56
)

// damages are the ways a store file is broken in the tests below: each
// returns a damaged copy of the good file b (whose current meta page is m)
// and what the error must say.
var damages = []struct {
	name string
	make func(b []byte, m *meta) []byte
	want string
}{
	{"empty", func(b []byte, m *meta) []byte { return nil }, "the file is empty"},
	{"100 bytes", cut(100), "cut short"},
	{"4 KiB", cut(4 << 10), "cut short"},
	{"8 KiB", cut(8 << 10), "cut short"},
	{"12 KiB", cut(12 << 10), "cut short"},
	{"32 KiB", cut(32 << 10), "cut short"},
	{"64 KiB", cut(64 << 10), "cut short"},
	{"half", func(b []byte, m *meta) []byte { return b[:len(b)/2] }, "cut short"},
	{"last page in use missing", func(b []byte, m *meta) []byte { return b[:(m.hwm-1)*uint64(m.pageSize)] }, "cut short"},
	{"last byte in use missing", func(b []byte, m *meta) []byte { return b[:m.hwm*uint64(m.pageSize)-1] }, "cut short"},
	{"len-1", func(b []byte, m *meta) []byte { return b[:len(b)-1] }, "not a whole number of 4096-byte pages"},
	{"not bbolt", func(b []byte, m *meta) []byte { return []byte(strings.Repeat(`{"schema":1}`, 1000)) }, "no bbolt magic number"},
	{"meta pages zeroed", func(b []byte, m *meta) []byte {
		clear(b[:2*m.pageSize])
		return b
	}, "neither meta page is valid (page 0: no bbolt magic number; page 1: not found at any page size)"},
	{"checksums broken", func(b []byte, m *meta) []byte {
		b[metaChecksumAt]++
		b[int(m.pageSize)+metaChecksumAt]++
		return b
	}, "checksum mismatch"},
	{"format version 3", func(b []byte, m *meta) []byte {
		setMeta(b, 0, m.pageSize, offVersion, 3, 4)
		setMeta(b, 1, m.pageSize, offVersion, 3, 4)
		return b
	}, "bbolt format version 3"},
	{"page size 1000", func(b []byte, m *meta) []byte {
		setMeta(b, 0, m.pageSize, offPageSize, 1000, 4)
		setMeta(b, 1, m.pageSize, offPageSize, 1000, 4)
		return b
	}, "page size 1000"},
	{"high-water mark past the end", func(b []byte, m *meta) []byte {
		setMeta(b, m.page, m.pageSize, offHWM, m.hwm+1000, 8)
		return b
	}, "cut short"},
	{"root page past the high-water mark", func(b []byte, m *meta) []byte {
		setMeta(b, m.page, m.pageSize, offRoot, m.hwm+5, 8)
		return b
	}, "is past the"},
	{"root page zeroed", func(b []byte, m *meta) []byte {
		clear(b[m.root*uint64(m.pageSize):][:m.pageSize])
		return b
	}, "its header says it is page 0"},
	{"root page is the freelist", func(b []byte, m *meta) []byte {
		setMeta(b, m.page, m.pageSize, offRoot, m.freelist, 8)
		return b
	}, "is a freelist page, not a branch or leaf page"},
	{"freelist page zeroed", func(b []byte, m *meta) []byte {
		clear(b[m.freelist*uint64(m.pageSize):][:m.pageSize])
		return b
	}, "freelist of meta page"},
	// Below the root, where bbolt would panic on a page assertion, fault,
	// or descend forever until out of memory (fatal, no recover).
	{"leaf page zeroed", func(b []byte, m *meta) []byte {
		_, leaf := branchAndLeaf(b, m)
		clear(b[leaf*uint64(m.pageSize):][:m.pageSize])
		return b
	}, "its header says it is page 0"},
	{"branch to page 1<<30", func(b []byte, m *meta) []byte {
		branch, _ := branchAndLeaf(b, m)
		ne.PutUint64(b[branch*uint64(m.pageSize)+pageHeaderSize+8:], 1<<30)
		return b
	}, "page 1073741824 is past the"},
	{"branch to itself", func(b []byte, m *meta) []byte {
		branch, _ := branchAndLeaf(b, m)
		ne.PutUint64(b[branch*uint64(m.pageSize)+pageHeaderSize+8:], branch)
		return b
	}, "is reached a second time"},
}

func cut(n int) func(b []byte, m *meta) []byte {
	return func(b []byte, m *meta) []byte { return b[:n] }
}

// damagedCopies writes the damaged copies of store l into a temporary
// directory, plus the file a full disk used to leave (testdata): name →
// path, and what the error must say.
func damagedCopies(t *testing.T, l learned) map[string][2]string {
	t.Helper()
	good, m := l.file, l.meta
	if m.pageSize != 4096 || int(m.hwm*4096) == len(good) {
		t.Fatalf("the test wants 4 KiB pages and a file longer than its pages in use; page size %d, %d pages, %d bytes",
			m.pageSize, m.hwm, len(good))
	}
	dir := t.TempDir()
	out := map[string][2]string{"full disk (testdata/enospc-12k.db)": {"testdata/enospc-12k.db", "it was cut short, e.g. when the disk filled up"}}
	for _, d := range damages {
		p := filepath.Join(dir, strings.ReplaceAll(d.name, " ", "_")+".db")
		if err := os.WriteFile(p, d.make(bytes.Clone(good), m), 0o600); err != nil {
			t.Fatal(err)
		}
		out[d.name] = [2]string{p, d.want}
	}
	return out
}

// TestOpenDamaged opens damaged stores, read-only and read-write: each
// must give one line wrapping ErrDamaged that names the file and says what
// is wrong (bbolt used to fault with SIGBUS or panic on most of them, which
// would end this test binary), and must leave the file as it was.
func TestOpenDamaged(t *testing.T) {
	for name, c := range damagedCopies(t, learnedStore(t)) {
		t.Run(name, func(t *testing.T) {
			p, want := c[0], c[1]
			before, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{true, false} {
				db, err := Open(p, Options{ReadOnly: ro})
				if err == nil {
					db.Close()
					t.Fatalf("read-only %v: opened", ro)
				}
				msg := err.Error()
				if !errors.Is(err, ErrDamaged) || !strings.Contains(msg, want) || !strings.Contains(msg, p) || strings.Contains(msg, "\n") {
					t.Errorf("read-only %v: error %q; want one line wrapping ErrDamaged, naming %s and saying %q", ro, msg, p, want)
				}
			}
			if _, err := Verify(p); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), want) {
				t.Errorf("Verify: %v", err)
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
				t.Errorf("opening the damaged file changed it (%d bytes, now %d)", len(before), len(after))
			}
		})
	}
}

// One damaged meta page is what a crash in the middle of its write leaves:
// bbolt then uses the other, and so must Open. The store was written in one
// transaction after its creation, so with its current meta page torn it is
// back to the empty store of the transaction before.
func TestOpenOneMetaPageDamaged(t *testing.T) {
	l := learnedStore(t)
	good, m, want := l.file, l.meta, l.records
	for page := range 2 {
		b := bytes.Clone(good)
		b[page*int(m.pageSize)+metaChecksumAt]++
		p := filepath.Join(t.TempDir(), "torn.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		wantChannels := 200
		if page == m.page {
			wantChannels = 0
		}
		r, err := Verify(p)
		if err != nil {
			t.Fatalf("meta page %d torn: %v", page, err)
		}
		if n := r.Records[baselines.ChannelBucket(baselines.Modbus)]; n != wantChannels {
			t.Errorf("meta page %d torn: %d channels, want %d", page, n, wantChannels)
		}
		db, err := Open(p, Options{})
		if err != nil {
			t.Fatalf("meta page %d torn: %v", page, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if got := records(t, p); page != m.page && len(got) != len(want) {
			t.Errorf("meta page %d torn: %d records, want %d", page, len(got), len(want))
		}
	}
}

// TestGuardDamageWhileOpen damages a store's file under an open DB, where
// Open's inspection cannot see it: a leaf page zeroed (bbolt's page
// assertion panics) and the file cut to two pages (a fault, SIGBUS, on the
// mapped pages beyond its end). Load must return an error wrapping
// ErrDamaged, every later call the same, and Close must return.
func TestGuardDamageWhileOpen(t *testing.T) {
	l := learnedStore(t)
	_, leaf := branchAndLeaf(l.file, l.meta)
	ps := int64(l.meta.pageSize)
	for name, damage := range map[string]func(f *os.File) error{
		"leaf page zeroed": func(f *os.File) error {
			_, err := f.WriteAt(make([]byte, ps), int64(leaf)*ps)
			return err
		},
		"cut to two pages": func(f *os.File) error { return f.Truncate(2 * ps) },
	} {
		for _, ro := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, read-only %v", name, ro), func(t *testing.T) {
				p := filepath.Join(t.TempDir(), "open.db")
				if err := os.WriteFile(p, l.file, 0o600); err != nil {
					t.Fatal(err)
				}
				db, err := Open(p, Options{ReadOnly: ro})
				if err != nil {
					t.Fatal(err)
				}
				f, err := os.OpenFile(p, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				err = damage(f)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Load(); !errors.Is(err, ErrDamaged) {
					t.Errorf("Load: %v, want ErrDamaged", err)
				}
				if _, err := db.Load(); !errors.Is(err, ErrDamaged) {
					t.Errorf("second Load: %v, want ErrDamaged", err)
				}
				if !ro {
					if err := db.Write([]baselines.Record{{Bucket: baselines.BucketAudit, Key: []byte("k"), Value: []byte("{}")}}); !errors.Is(err, ErrDamaged) {
						t.Errorf("Write after the damage was found: %v", err)
					}
				}
				start := time.Now()
				db.Close()
				if d := time.Since(start); d > 2*brokenCloseWait {
					t.Errorf("Close took %v", d)
				}
			})
		}
	}
}

// branchAndLeaf returns a branch page below the root of store file b (the
// root page of a big bucket) and the first leaf page it points to; zeros
// if there is none (learnedStore makes sure there is).
func branchAndLeaf(b []byte, m *meta) (uint64, uint64) {
	tr := walk(bytes.NewReader(b), int64(len(b)), m)
	for _, id := range slices.Sorted(maps.Keys(tr.seen)) {
		p := b[id*uint64(m.pageSize):]
		if id != m.root && pageFlags(p) == branchPage {
			return id, ne.Uint64(p[pageHeaderSize+8:])
		}
	}
	return 0, 0
}

// The child of TestCreateOnFullDisk: creates a store under a file size
// limit of 12 KiB (bbolt's first write is 16 KiB), as a full disk does.
const fullDiskEnv = "SLUICE_STORE_FULL_DISK_CHILD"

func TestFullDiskChild(t *testing.T) {
	path := os.Getenv(fullDiskEnv)
	if path == "" {
		t.Skip("child process of TestCreateOnFullDisk")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fmt.Println("getrlimit:", err)
		os.Exit(2)
	}
	lim.Cur = 12 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fmt.Println("setrlimit:", err)
		os.Exit(2)
	}
	_, err := Open(path, Options{})
	fmt.Println("open:", err)
}

// TestCreateOnFullDisk creates a store where only 12 KiB can be written:
// creation must fail and leave nothing behind (it used to leave the 12 KiB
// of meta and freelist pages, on which every later open faulted), and a
// later open with room must create a good store.
func TestCreateOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "full.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFullDiskChild$", "-test.v")
	cmd.Env = append(os.Environ(), fullDiskEnv+"="+path)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "open: store: create "+path+": ") || !strings.Contains(string(out), "file too large") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a failed create left %v in the directory", ents[0].Name())
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open with room: %v", err)
	}
	db.Close()
	checkFile(t, path)
}

// TestRecover cuts a store at many lengths and recovers each: every record
// rescued is one of the store's, byte for byte; a cut after the first pages
// rescues records although the root page is gone; the new store checks ok.
func TestRecover(t *testing.T) {
	l := learnedStore(t)
	good, m, want := l.file, l.meta, l.records
	ps := int(m.pageSize)
	n := 0 // records, without the meta bucket's
	for k := range want {
		if !strings.HasPrefix(k, "meta/") {
			n++
		}
	}
	cases := []struct {
		name     string
		b        []byte
		min, max int // records rescued
	}{
		{"4 KiB", good[:4<<10], 0, 0},
		{"12 KiB", good[:12<<10], 0, n},
		{"64 KiB", good[:64<<10], 20, n},
		{"half the pages in use", good[:int(m.hwm)/2*ps], n / 3, n},
		{"last page in use missing", good[:(int(m.hwm)-1)*ps], n * 9 / 10, n},
		{"len-1", good[:len(good)-1], n, n},
		{"meta pages zeroed", func() []byte { b := bytes.Clone(good); clear(b[:2*ps]); return b }(), n, n},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "cut.db")
			if err := os.WriteFile(src, c.b, 0o600); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "new.db")
			s, err := Recover(src, dst)
			if err != nil {
				t.Fatal(err)
			}
			got := records(t, dst)
			rescued := 0
			for k, v := range got {
				if strings.HasPrefix(k, "meta/") {
					continue
				}
				rescued++
				if w, ok := want[k]; !ok || !bytes.Equal(v, w) {
					t.Errorf("rescued %s = %.60q..., the store had %.60q...", k, v, w)
				}
			}
			if rescued < c.min || rescued > c.max {
				t.Errorf("rescued %d records, want %d..%d", rescued, c.min, c.max)
			}
			var sum int
			for b, k := range s.Rescued {
				if b != "meta" {
					sum += k
				}
			}
			if sum != rescued {
				t.Errorf("Salvage counts %v (%d records), the new store has %d", s.Rescued, sum, rescued)
			}
			if (rescued < n) && len(s.Lost) == 0 {
				t.Errorf("rescued %d of %d records, and reports nothing lost", rescued, n)
			}
			if _, err := Verify(dst); err != nil {
				t.Errorf("the new store: %v", err)
			}
			t.Logf("rescued %d of %d (%d from pages no longer reached), lost %d: %.200q", rescued, n, s.Orphaned, len(s.Lost), s.Lost)
		})
	}
}

// The file a full disk left (see TestCreateOnFullDisk) has its meta pages
// and freelist but no root page: nothing to rescue, and recover says so.
func TestRecoverFullDiskFile(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "new.db")
	s, err := Recover("testdata/enospc-12k.db", dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Lost) != 1 || s.Lost[0] != "the bucket list: page 3 lies beyond the end of the file (12288 bytes)" || s.MetaPage != 1 {
		t.Fatalf("salvage %+v", s)
	}
	if _, err := Verify(dst); err != nil {
		t.Fatal(err)
	}
	if _, err := Recover("testdata/enospc-12k.db", dst); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("recover onto an existing store: %v", err)
	}
}
