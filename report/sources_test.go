package report

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
)

// TestSourcesFromAuditTrail: the captures a database recorded (replay or
// monitor with --db) are listed as sources, after those given with --source.
func TestSourcesFromAuditTrail(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &baselines.Snapshot{Schema: baselines.ExportVersion, Audit: []baselines.AuditEntry{
		{Seq: 1, Action: "capture", By: "ops", At: t0.Add(2 * time.Hour), Capture: &baselines.CaptureSource{
			Kind: "file", Name: "day1.pcapng", SHA256: strings.Repeat("ab", 32), Size: 1234,
			Packets: 99, FirstPacket: t0, LastPacket: t0.Add(time.Hour), Mode: "learn", Complete: true,
		}},
		{Seq: 2, Action: "capture", By: "ops", At: t0.Add(3 * time.Hour), Capture: &baselines.CaptureSource{
			Kind: "interface", Name: "eth1", Packets: 0, Mode: "monitor",
		}},
	}}
	r, err := Build(s, Options{Generated: t0, Sources: []string{"manual.pcap"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"manual.pcap",
		"file day1.pcapng (SHA-256 " + strings.Repeat("ab", 32) + ", 1234 bytes): 99 packets from 2026-01-01T00:00:00Z to 2026-01-01T01:00:00Z, mode learn",
		"interface eth1: 0 packets, mode monitor, incomplete",
	}
	if strings.Join(r.Sources, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sources:\n%s\nwant:\n%s", strings.Join(r.Sources, "\n"), strings.Join(want, "\n"))
	}
}
