package fleet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testMessages(from, n, size int) []Message {
	var out []Message
	for i := from; i < from+n; i++ {
		out = append(out, Message{
			Subject: "sluice.north.s1.alert", ID: fmt.Sprintf("s1/run/%016x", i), Kind: KindAlert,
			Site: "north", Sensor: "s1", Time: time.Unix(1700000000, int64(i)*1000).UTC(),
			Data: bytes.Repeat([]byte{byte('a' + i%26)}, size),
		})
	}
	return out
}

// drainAll peeks and advances until the spool is empty.
func drainAll(t *testing.T, s *spool) []Message {
	t.Helper()
	var out []Message
	for s.pending > 0 {
		msgs, ends, err := s.peek(7)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.advance(ends[len(ends)-1], len(msgs)); err != nil {
			t.Fatal(err)
		}
		out = append(out, msgs...)
	}
	return out
}

func sameMessages(t *testing.T, got, want []Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Subject != w.Subject || g.ID != w.ID || g.Kind != w.Kind || g.Site != w.Site || g.Sensor != w.Sensor ||
			!g.Time.Equal(w.Time) || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("message %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestSpoolKeepsOrderAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.spool")
	s, rec, err := openSpool(path, 1<<20)
	if err != nil || rec.Pending != 0 {
		t.Fatal(err, rec)
	}
	all := testMessages(0, 100, 50)
	for i := 0; i < 100; i += 10 {
		if d, err := s.appendMessages(all[i : i+10]); err != nil || d != 0 {
			t.Fatal(d, err)
		}
	}
	msgs, ends, err := s.peek(30)
	if err != nil {
		t.Fatal(err)
	}
	sameMessages(t, msgs, all[:30])
	if err := s.advance(ends[29], 30); err != nil {
		t.Fatal(err)
	}
	s.close()
	// A restarted sensor finds the 70 not yet delivered, oldest first.
	s, rec, err = openSpool(path, 1<<20)
	if err != nil || rec.Pending != 70 || rec.LostBytes != 0 {
		t.Fatalf("reopened: %+v %v", rec, err)
	}
	sameMessages(t, drainAll(t, s), all[30:])
	if fi, _ := os.Stat(path); fi.Size() != spoolHeader {
		t.Errorf("an empty spool is %d bytes, want its header only", fi.Size())
	}
	s.close()
}

func TestSpoolCutByCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.spool")
	s, _, err := openSpool(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	all := testMessages(0, 5, 40)
	if _, err := s.appendMessages(all); err != nil {
		t.Fatal(err)
	}
	s.close()
	// A process killed in the middle of an append leaves half a record.
	fi, _ := os.Stat(path)
	if err := os.Truncate(path, fi.Size()-10); err != nil {
		t.Fatal(err)
	}
	s, rec, err := openSpool(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Pending != 4 || rec.LostBytes == 0 {
		t.Fatalf("after a cut: %+v, want 4 pending and lost bytes", rec)
	}
	more := testMessages(5, 2, 40)
	if _, err := s.appendMessages(more); err != nil {
		t.Fatal(err)
	}
	sameMessages(t, drainAll(t, s), append(all[:4:4], more...))
	s.close()
}

func TestSpoolNotASpool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.spool")
	if err := os.WriteFile(path, []byte("this is somebody's file, not a spool"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, rec, err := openSpool(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if rec.Replaced == "" || rec.Pending != 0 {
		t.Fatalf("%+v: want the file moved aside", rec)
	}
	if b, err := os.ReadFile(rec.Replaced); err != nil || !bytes.HasPrefix(b, []byte("this is somebody's")) {
		t.Fatalf("the moved file: %q, %v", b, err)
	}
}

// TestSpoolBoundDropsOldest: past its bound the spool keeps the newest
// messages and counts the others.
func TestSpoolBoundDropsOldest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.spool")
	const limit = 8 << 10
	s, _, err := openSpool(path, limit)
	if err != nil {
		t.Fatal(err)
	}
	all := testMessages(0, 400, 100)
	dropped := 0
	for i := 0; i < len(all); i += 8 {
		d, err := s.appendMessages(all[i : i+8])
		if err != nil {
			t.Fatal(err)
		}
		dropped += d
		if fi, _ := os.Stat(path); fi.Size() > 2*limit+spoolHeader+2048 {
			t.Fatalf("file of %d bytes, bound %d: not compacted", fi.Size(), limit)
		}
		if s.end-s.read > limit {
			t.Fatalf("%d bytes pending, bound %d", s.end-s.read, limit)
		}
	}
	kept := s.pending
	if kept == 0 || kept >= len(all) || dropped != len(all)-kept {
		t.Fatalf("kept %d, dropped %d of %d", kept, dropped, len(all))
	}
	sameMessages(t, drainAll(t, s), all[len(all)-kept:])
	s.close()
	// A batch larger than the bound alone keeps its newest.
	s, _, _ = openSpool(path, 300)
	defer s.close()
	if d, err := s.appendMessages(testMessages(0, 10, 100)); err != nil || d == 0 || s.pending == 0 {
		t.Fatalf("dropped %d, kept %d, %v", d, s.pending, err)
	}
	got := drainAll(t, s)
	if got[len(got)-1].ID != testMessages(9, 1, 0)[0].ID {
		t.Errorf("the newest message was not kept: %s", got[len(got)-1].ID)
	}
}

// FuzzSpoolOpen: whatever a spool file holds (a disk error, another
// program's file), opening and draining it is an error or a result, never
// a panic, and the spool takes messages afterwards.
func FuzzSpoolOpen(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed")
	s, _, err := openSpool(seed, 1<<20)
	if err != nil {
		f.Fatal(err)
	}
	s.appendMessages(testMessages(0, 3, 20))
	s.close()
	b, _ := os.ReadFile(seed)
	f.Add(b)
	f.Add(b[:len(b)-3])
	f.Add([]byte(spoolMagic))
	f.Add(append([]byte(spoolMagic+"\x10\x00\x00\x00\x00\x00\x00\x00"), 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "s.spool")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, rec, err := openSpool(path, 1<<16)
		if err != nil {
			return
		}
		defer s.close()
		if rec.Pending != s.pending {
			t.Fatalf("recovery says %d pending, spool %d", rec.Pending, s.pending)
		}
		for s.pending > 0 {
			msgs, ends, err := s.peek(4)
			if err != nil || len(msgs) == 0 {
				t.Fatalf("a record counted at open does not read back: %v", err)
			}
			if err := s.advance(ends[len(ends)-1], len(msgs)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.appendMessages(testMessages(0, 2, 10)); err != nil || s.pending != 2 {
			t.Fatalf("append after recovery: %v, %d pending", err, s.pending)
		}
	})
}

// TestSpoolInUse: a second sensor on the same spool file is refused
// instead of interleaving its records with the first's.
func TestSpoolInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.spool")
	s, _, err := openSpool(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := openSpool(path, 1<<20); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v, want in use", err)
	}
	s.close()
	s, _, err = openSpool(path, 1<<20)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	s.close()
}
