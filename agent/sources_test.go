package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/internal/capture"
)

// TestReplayRecordsCaptureSource: a replay with --db records in the audit
// trail which file fed the baseline, with its SHA-256, so an auditor can tie
// the baseline to an archived capture.
func TestReplayRecordsCaptureSource(t *testing.T) {
	const capFile = "../testdata/sim_normal.pcap"
	raw, err := os.ReadFile(capFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	db := filepath.Join(t.TempDir(), "b.db")
	out := replayFile(t, capFile, func(c *Config) { c.DBPath, c.Mode = db, ModeLearn })
	var packets uint64
	for _, ev := range parseEvents(t, out) {
		if ev.EventType == "stats" && ev.Stats != nil {
			packets = ev.Stats.Packets
		}
	}
	if packets == 0 {
		t.Fatal("no stats event with packets")
	}

	snap := loadStore(t, db)
	var found int
	for _, a := range snap.Audit {
		if a.Action != "capture" {
			continue
		}
		found++
		c := a.Capture
		if c == nil {
			t.Fatalf("capture entry without a source: %+v", a)
		}
		if c.Kind != "file" || c.Name != capFile || c.SHA256 != hex.EncodeToString(sum[:]) || c.Size != int64(len(raw)) {
			t.Errorf("source %+v, want file %s sha256 %x size %d", c, capFile, sum, len(raw))
		}
		if c.Packets != packets || !c.Complete || c.Mode != "learn" {
			t.Errorf("source %+v: want %d packets, complete, mode learn", c, packets)
		}
		if c.FirstPacket.IsZero() || !c.LastPacket.After(c.FirstPacket) {
			t.Errorf("source packet times %v … %v", c.FirstPacket, c.LastPacket)
		}
		if a.Seq == 0 || a.By == "" || a.At.IsZero() {
			t.Errorf("audit entry %+v lacks seq, who or when", a)
		}
	}
	if found != 1 {
		t.Fatalf("%d capture entries in the audit trail, want 1", found)
	}
}

// blockedLive is a live source on a quiet link: no packet until stop is
// closed, then the end of the capture.
type blockedLive struct{ stop chan struct{} }

func (b *blockedLive) Next() (capture.Packet, error) {
	<-b.stop
	return capture.Packet{}, io.EOF
}
func (b *blockedLive) Close() error      { return nil }
func (b *blockedLive) Interface() string { return "eth9" }

// TestCaptureEntryAtStart: a run's capture entry is in the store, durable,
// from its start (incomplete), so a run killed before its end (kill -9) is
// in the audit trail too; the end of the run completes the same entry.
func TestCaptureEntryAtStart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "b.db")
	cfg := DefaultConfig(io.Discard)
	cfg.DBPath, cfg.Mode = dbPath, ModeLearn
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := &blockedLive{stop: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background(), src) }()
	captures := func(snap *baselines.Snapshot) []baselines.AuditEntry {
		var out []baselines.AuditEntry
		for _, e := range snap.Audit {
			if e.Action == "capture" {
				out = append(out, e)
			}
		}
		return out
	}
	var during []baselines.AuditEntry
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && len(during) == 0; time.Sleep(20 * time.Millisecond) {
		snap, err := a.db.Load() // what is committed: what a kill -9 would leave
		if err != nil {
			t.Fatal(err)
		}
		during = captures(snap)
	}
	if len(during) != 1 || during[0].Capture.Complete || during[0].Capture.Name != "eth9" || during[0].Capture.Kind != "interface" {
		t.Fatalf("capture entries while the run goes on: %+v, want one incomplete entry for interface eth9", during)
	}
	close(src.stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	after := captures(loadStore(t, dbPath))
	if len(after) != 1 || after[0].Seq != during[0].Seq || !after[0].Capture.Complete {
		t.Fatalf("capture entries after the run: %+v, want the same entry (seq %d), complete", after, during[0].Seq)
	}
}

// loadStore reads the baseline store at path.
func loadStore(t *testing.T, path string) *baselines.Snapshot {
	t.Helper()
	s, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}
