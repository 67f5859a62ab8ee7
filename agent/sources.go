package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/capture"
)

// namedSource is a capture file (capture.File); liveSource a live
// interface (capture.Live).
type (
	namedSource interface{ Name() string }
	liveSource  interface{ Interface() string }
)

func isLive(src capture.Source) bool {
	_, ok := src.(liveSource)
	return ok
}

// beginSource writes into the baseline database's audit trail which
// traffic this run feeds it (issue 5: reports say "from which traffic"):
// the file with its SHA-256, or the live interface. It is written at the
// start, incomplete and without packets, and durable at once, so that a run
// killed before its end (kill -9, a power loss) is in the trail too;
// endSource completes it. Without --db there is nothing to record (nil).
func (a *Agent) beginSource(src capture.Source) (*baselines.AuditEntry, error) {
	if a.db == nil {
		return nil, nil
	}
	c := &baselines.CaptureSource{Kind: "interface", Name: "live capture", Mode: a.cfg.Mode.String()}
	if ls, ok := src.(liveSource); ok {
		c.Name = ls.Interface()
	} else if ns, ok := src.(namedSource); ok {
		c.Kind, c.Name = "file", ns.Name()
		// A source read from a stream (capture.NewReader) has a name but
		// no file behind it: it is recorded without a hash.
		if sum, size, err := fileSHA256(c.Name); err == nil {
			c.SHA256, c.Size = sum, size
		}
	}
	seq, err := a.db.NextAuditSeq()
	if err != nil {
		return nil, fmt.Errorf("agent: record capture source: %w", err)
	}
	// The wall clock says when the run was recorded; it never reaches the
	// data path or an event.
	e := &baselines.AuditEntry{Seq: seq, Action: "capture", By: runUser(), At: time.Now().UTC(), Capture: c}
	if err := a.db.WriteAudit(*e); err != nil {
		return nil, fmt.Errorf("agent: record capture source: %w", err)
	}
	return e, nil
}

// endSource completes the entry of beginSource (nil: none) with the packet
// count, the packet-time span and whether the source was read to its end;
// the entry replaces the incomplete one with the next delta.
func (a *Agent) endSource(e *baselines.AuditEntry, packets uint64, first, last time.Time, complete bool) {
	if e == nil {
		return
	}
	c := *e.Capture
	c.Packets, c.FirstPacket, c.LastPacket, c.Complete = packets, first.UTC(), last.UTC(), complete
	done := *e
	done.Capture = &c
	a.engine.AddAudit(done)
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// runUser names who ran Sluice: $SUDO_USER, else $USER, else "sluice".
func runUser() string {
	for _, v := range []string{os.Getenv("SUDO_USER"), os.Getenv("USER")} {
		if v != "" {
			return v
		}
	}
	return "sluice"
}
