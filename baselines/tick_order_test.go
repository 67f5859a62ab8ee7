package baselines

import (
	"slices"
	"testing"
	"time"
)

// TestTickAlertOrderIsFixed: when every poll stops at once (the PLCs go
// silent), one Tick raises several poll_stopped alerts. They are found by
// walking maps, whose order Go randomises; a replay must still write the
// same bytes every time, so Tick returns them in a fixed order (channel,
// then poll).
func TestTickAlertOrderIsFixed(t *testing.T) {
	at := t0.Add(3 * time.Hour)
	// An hour after the last request every learned poll is overdue.
	silentAt := at.Add(time.Hour)
	var want []string
	for run := 0; run < 30; run++ {
		e := monitor(t)
		feed(e, normal(at, time.Minute))
		var got []string
		for _, a := range e.Tick(silentAt) {
			got = append(got, a.Channel.String()+" "+pollName(PollKey{Function: a.Item.Function, Table: a.Item.Table, Start: a.Item.Addr, Count: a.Item.Count, Node: a.Item.Node}))
		}
		if len(got) < 3 {
			t.Fatalf("run %d: %d poll_stopped alerts, want the HMI's two polls and the SCADA's read: %q", run, len(got), got)
		}
		if run == 0 {
			want = got
			continue
		}
		if !slices.Equal(got, want) {
			t.Fatalf("run %d: tick alerts in order\n%q\nbut run 0 gave\n%q", run, got, want)
		}
	}
	t.Logf("%q", want)
}
