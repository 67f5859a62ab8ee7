package baselines

import (
	"fmt"
	"slices"
	"time"
)

// CaptureSource is one capture file or live interface whose traffic a run
// fed the engine: the "from which traffic" of an auditor's question. The
// agent records one per replayed file (with the file's SHA-256, so the
// auditor can tie the baseline to an archived capture) and one per live
// monitoring run, as an audit entry with action "capture".
type CaptureSource struct {
	Kind string `json:"kind"` // "file" or "interface"
	Name string `json:"name"` // the path as given, or the interface name
	// SHA256 is the hex SHA-256 of the file's bytes (files only).
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// Packets is how many frames were read; FirstPacket and LastPacket are
	// their packet (traffic) times.
	Packets     uint64    `json:"packets"`
	FirstPacket time.Time `json:"first_packet"`
	LastPacket  time.Time `json:"last_packet"`
	// Mode is the engine mode of the run: learn, monitor or auto.
	Mode string `json:"mode"`
	// Complete is false when the run ended before the source did (a
	// truncated file, an error, an interrupted replay).
	Complete bool `json:"complete"`
}

// String describes the source in one line for reports.
func (c *CaptureSource) String() string {
	s := fmt.Sprintf("%s %s", c.Kind, c.Name)
	if c.SHA256 != "" {
		s += fmt.Sprintf(" (SHA-256 %s, %d bytes)", c.SHA256, c.Size)
	}
	s += fmt.Sprintf(": %d packets", c.Packets)
	if c.Packets > 0 {
		s += fmt.Sprintf(" from %s to %s", c.FirstPacket.UTC().Format(time.RFC3339), c.LastPacket.UTC().Format(time.RFC3339))
	}
	s += ", mode " + c.Mode
	if !c.Complete {
		s += ", incomplete"
	}
	return s
}

// LearnOnly reports whether the baseline was only ever learned: runs were
// recorded and none of them judged (no auto or monitor run).
func (s *Snapshot) LearnOnly() bool {
	modes := s.RunModes()
	return len(modes) > 0 && !slices.Contains(modes, "auto") && !slices.Contains(modes, "monitor")
}

// RunModes returns the engine modes of the runs recorded in the audit
// trail (learn, auto, monitor), each once, in the order first used: how
// the baseline was built.
func (s *Snapshot) RunModes() []string {
	modes := []string{}
	for _, a := range s.Audit {
		if c := a.Capture; a.Action == "capture" && c != nil && c.Mode != "" && !slices.Contains(modes, c.Mode) {
			modes = append(modes, c.Mode)
		}
	}
	return modes
}
