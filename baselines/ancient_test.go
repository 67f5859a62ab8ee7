package baselines

import (
	"testing"
	"time"
)

// TestTimesBefore1970 feeds transactions stamped before 1970 and near the
// end of int64 nanoseconds, as a hostile pcapng can carry: learning and
// judging must not panic (the convergence ring was indexed with a negative
// remainder) and must still learn the channel.
func TestTimesBefore1970(t *testing.T) {
	for _, start := range []time.Time{
		time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2262, 4, 11, 0, 0, 0, 0, time.UTC),
	} {
		e := New(Config{Mode: Auto, LearnFor: 30 * time.Minute})
		obs := normal(start, time.Hour)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("traffic from %v: panic %v", start, r)
				}
			}()
			feed(e, obs)
		}()
		snap := e.Snapshot()
		if len(snap.Channels) == 0 || len(snap.Devices) == 0 {
			t.Errorf("traffic from %v: learned %d channels, %d devices", start, len(snap.Channels), len(snap.Devices))
		}
	}
}
