package store

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzSalvage")

// FuzzSalvage reads arbitrary bytes as a store file: inspect and salvage
// (what Open, check and recover read before bbolt does) never panic, and a
// file that passes inspect opens read-only in bbolt and loads, or fails
// with an error: never a fault, a panic or a hang.
func FuzzSalvage(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		salvage(r, int64(len(b)))
		if _, _, err := inspect(r, int64(len(b))); err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("inspect: %v, not ErrDamaged", err)
			}
			return
		}
		p := filepath.Join(t.TempDir(), "fuzz.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(p, Options{ReadOnly: true})
		if err != nil {
			return
		}
		db.Load()
		db.Close()
	})
}

// TestWriteFuzzSeeds writes FuzzSalvage's seeds: a store of 1 KiB pages
// (small, and another page size than the host's) holding a few devices,
// channels and an alert, cut to its pages in use; and the file a full disk
// left at creation. go test -run TestWriteFuzzSeeds -update-seeds
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzSalvage")
	}
	p := filepath.Join(t.TempDir(), "small.db")
	b, err := bolt.Open(p, FileMode, &bolt.Options{PageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	db := &DB{bolt: b}
	if err := db.init(); err != nil {
		t.Fatal(err)
	}
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	for i := range 40 {
		o := read(i)
		o.ClientIP = netip.AddrFrom4([4]byte{10, 10, 1, byte(i % 4)})
		e.Observe(o)
	}
	if _, err := db.Flush(e); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	small, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m := layout(t, small)
	full, err := os.ReadFile("testdata/enospc-12k.db")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSalvage")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"small-store-1k-pages": small[:m.hwm*uint64(m.pageSize)], "full-disk-12k": full} {
		if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
