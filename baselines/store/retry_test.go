package store

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
)

// deltas is a Source that hands out prepared deltas, one per TakeDelta.
type deltas [][]baselines.Record

func (d *deltas) TakeDelta() ([]baselines.Record, error) {
	if len(*d) == 0 {
		return nil, nil
	}
	r := (*d)[0]
	*d = (*d)[1:]
	return r, nil
}

// bigDelta is n audit-bucket records of 4 KiB, keys prefix-i.
func bigDelta(prefix string, n int) []baselines.Record {
	var recs []baselines.Record
	for i := range n {
		recs = append(recs, baselines.Record{Bucket: "audit", Key: []byte(fmt.Sprintf("%s-%04d", prefix, i)), Value: []byte(strings.Repeat("x", 4096))})
	}
	return recs
}

const retryEnv = "SLUICE_STORE_RETRY_CHILD"

// TestUnwritableStoreChild is the child of TestUnwritableStoreRetries: it
// fills its file size limit so that a flush fails as on a full disk, then
// lifts the limit as an operator freeing space does.
func TestUnwritableStoreChild(t *testing.T) {
	path := os.Getenv(retryEnv)
	if path == "" {
		t.Skip("child process of TestUnwritableStoreRetries")
	}
	db, err := Open(path, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	fi, _ := os.Stat(path)
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim)
	saved := lim.Cur
	lim.Cur = uint64(fi.Size())
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim)
	src := &deltas{bigDelta("a", 64), bigDelta("b", 8), bigDelta("c", 8)}
	_, err = db.Flush(src) // "disk full": a stays unwritten
	st := db.Status()
	fmt.Printf("full: err=%v unwritten=%d failures=%d\n", err != nil, st.Unwritten, st.Failures)
	_, err = db.Flush(src) // still full: a and b wait
	st = db.Status()
	fmt.Printf("still: err=%v unwritten=%d failures=%d\n", err != nil, st.Unwritten, st.Failures)
	lim.Cur = saved
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim)
	_, err = db.Flush(src) // room again: a, b and c
	st = db.Status()
	fmt.Printf("room: err=%v unwritten=%d failures=%d\n", err, st.Unwritten, st.Failures)
	if err := db.Close(); err != nil {
		fmt.Println("close:", err)
	}
}

// TestUnwritableStoreRetries: a store that cannot be written (a full disk)
// keeps every failed delta and writes it with the first flush that can,
// so nothing learned meanwhile is lost; its Status says so meanwhile and
// is clean again after.
func TestUnwritableStoreRetries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "retry.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnwritableStoreChild$", "-test.v")
	cmd.Env = append(os.Environ(), retryEnv+"="+path)
	out, err := cmd.CombinedOutput()
	for _, want := range []string{
		"full: err=true unwritten=64 failures=1",
		"still: err=true unwritten=72 failures=2",
		"room: err=<nil> unwritten=0 failures=2",
	} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("child (%v) does not say %q:\n%s", err, want, out)
		}
	}
	if strings.Contains(string(out), "close:") {
		t.Fatalf("close failed:\n%s", out)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	n := 0
	b.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("audit")).ForEach(func(k, v []byte) error { n++; return nil })
	})
	if n != 80 {
		t.Fatalf("%d records stored, want the 80 of the three deltas", n)
	}
}
