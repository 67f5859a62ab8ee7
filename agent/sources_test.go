package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-ics/sluice/baselines/store"
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

	s, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
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
