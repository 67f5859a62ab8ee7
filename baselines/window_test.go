package baselines

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

func TestSlidingCount(t *testing.T) {
	const w = 10 * time.Second
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name   string
		events []time.Time
		want   uint32 // count returned by the last add
	}{
		{"one event", []time.Time{at(0)}, 1},
		{"same bucket", []time.Time{at(0), at(100), at(999)}, 3},
		{"across a window boundary", []time.Time{at(8000), at(9500), at(10500), at(12000)}, 4},
		{"older than the window falls out", []time.Time{at(0), at(500), at(10000)}, 1},
		{"nine buckets back still counts", []time.Time{at(1000), at(10999)}, 2},
		{"a pause of several windows empties it", []time.Time{at(0), at(1000), at(2000), at(95000)}, 1},
		{"time stepping back counts in the newest bucket", []time.Time{at(20000), at(5000)}, 2},
		{"before 1970", []time.Time{time.Unix(-3, 0), time.Unix(-1, 0), time.Unix(5, 0)}, 3},
		{"across 1970", []time.Time{time.Unix(-12, 0), time.Unix(-1, 0)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c slidingCount
			var got uint32
			for _, ts := range tt.events {
				got = c.add(ts, w)
			}
			if got != tt.want {
				t.Fatalf("count = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestSlidingCountNeverExceedsWindow feeds a steady rate and checks that
// the count never holds more events than a true window of the same length
// could: a signature that says "N requests within 10s" is always true.
func TestSlidingCountNeverExceedsWindow(t *testing.T) {
	const w = 10 * time.Second
	var c slidingCount
	var times []time.Time
	for i := range 2000 {
		ts := t0.Add(time.Duration(i) * 37 * time.Millisecond)
		times = append(times, ts)
		got := c.add(ts, w)
		var exact uint32
		for _, p := range times {
			if ts.Sub(p) < w {
				exact++
			}
		}
		if got > exact || exact-got > 30 { // one bucket of 1 s holds at most 28 events
			t.Fatalf("event %d: count %d, events within the last %s %d", i, got, w, exact)
		}
	}
}

// TestFloodAcrossWindowBoundary is the write_flood scenario that a
// tumbling window missed: 250 requests in 9 s, split 80/170 by a window
// boundary, stay under FloodMin (200) in each half; the sliding window
// sees them whole.
func TestFloodAcrossWindowBoundary(t *testing.T) {
	e := monitor(t)
	at := t0.Add(3 * time.Hour)
	got := feed(e, normal(at, 7*time.Second))
	for i := range 250 {
		got = append(got, feed(e, []Observation{mbRead(at.Add(7*time.Second+time.Duration(i)*36*time.Millisecond), hmi, 1, 0, 10)})...)
	}
	var flood *Alert
	for i := range got {
		if got[i].Rule == RequestFlood {
			flood = &got[i]
		}
	}
	if flood == nil {
		t.Fatalf("no request_flood; alerts: %v", ruleNames(got))
	}
	if d := flood.Time.Sub(at.Add(7 * time.Second)); d > 9*time.Second {
		t.Errorf("request_flood %s after the flood began, want within its 9 s", d)
	}
}

// TestFloodWhileLearning: request_flood is a signature rule and fires in
// learn mode; a flood must not first raise the learned peak it is compared
// with.
func TestFloodWhileLearning(t *testing.T) {
	e := New(Config{Mode: Learn})
	got := feed(e, normal(t0, 10*time.Minute))
	at := t0.Add(10*time.Minute + 500*time.Millisecond)
	for i := range 300 {
		got = append(got, feed(e, []Observation{mbRead(at.Add(time.Duration(i)*25*time.Millisecond), hmi, 1, 0, 10)})...)
	}
	if names := ruleNames(got); len(names) != 1 || names[0] != "request_flood" {
		t.Fatalf("rules while learning = %v, want [request_flood]", names)
	}
	var ch *Channel
	for _, c := range e.Snapshot().Channels {
		if c.Key == (ChannelKey{Protocol: Modbus, Client: hmi, Server: plc, Unit: 1}) {
			ch = c
		}
	}
	if ch == nil || ch.PeakWindow == 0 || ch.PeakWindow > 50 {
		t.Fatalf("learned peak before the flood = %+v, want the normal 10 s peak (about 12)", ch)
	}
}

// TestPollStoppedWhenUnanswered: a PLC forced into listen-only mode keeps
// receiving the HMI's poll but answers nothing. The poll is stopped for the
// plant (loss of view) and resumes with the first answer.
func TestPollStoppedWhenUnanswered(t *testing.T) {
	e := monitor(t)
	at := t0.Add(3 * time.Hour)
	got := feed(e, normal(at, 30*time.Second))
	deaf := normal(at.Add(30*time.Second), 30*time.Second)
	for i := range deaf {
		if o := &deaf[i]; o.Protocol == Modbus && mbOf(o).Unit == 1 && mbOf(o).ReadTable != modbus.TableNone {
			o.Responded, mbOf(o).Timeout = false, true
		}
	}
	got = append(got, feed(e, deaf)...)
	got = append(got, feed(e, normal(at.Add(60*time.Second), 10*time.Second))...)
	var stopped, resumed int
	for _, a := range got {
		if a.Rule != PollStopped {
			t.Errorf("unexpected %s: %s", a.Rule, a.Signature)
			continue
		}
		if a.Channel.Unit != 1 || a.Channel.Client != hmi {
			t.Errorf("poll_stopped for %+v, want the HMI's unit 1 poll only", a.Channel)
		}
		if a.Resolved {
			resumed++
		} else {
			stopped++
		}
	}
	if stopped != 1 || resumed != 1 {
		t.Fatalf("poll_stopped %d, resumed %d; want 1 and 1", stopped, resumed)
	}
}

// TestElapsed checks elapsed against time.Time.Sub, including the
// saturating cases it leaves to Sub.
func TestElapsed(t *testing.T) {
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		t, u time.Time
	}{
		{"same", t0, t0},
		{"later by nanoseconds", t0.Add(1), t0},
		{"earlier across a second", t0.Add(-1), t0.Add(999_999_999)},
		{"an hour", t0.Add(time.Hour + 3), t0},
		{"before 1970", time.Unix(-5, 7), time.Unix(3, 999_999_999)},
		{"zero time", t0, time.Time{}},
		{"saturates forward", far, time.Time{}},
		{"saturates backward", time.Time{}, far},
		{"just inside 2^32 s", time.Unix(1<<32-1, 5), time.Unix(0, 6)},
		{"just outside 2^32 s", time.Unix(1<<32, 5), time.Unix(0, 6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := elapsed(tt.t, tt.u), tt.t.Sub(tt.u); got != want {
				t.Fatalf("elapsed = %d, Sub = %d", got, want)
			}
		})
	}
}

// TestSlidingCountTotal checks the running total against the buckets
// after each event of an irregular sequence, with steps back in time.
func TestSlidingCountTotal(t *testing.T) {
	const w = 10 * time.Second
	var c slidingCount
	steps := []int{0, 100, 900, 1100, 5000, 4000, 12000, 12001, 30000, 29000, 29999, 41000, 140000}
	for _, ms := range steps {
		got := c.add(t0.Add(time.Duration(ms)*time.Millisecond), w)
		var sum uint32
		for _, v := range c.slot {
			sum += v
		}
		if got != sum || c.total != sum {
			t.Fatalf("at %d ms: add = %d, total = %d, buckets sum to %d", ms, got, c.total, sum)
		}
	}
}

// TestSlidingCountNextBucket checks add, which opens the bucket after the
// newest one without a division, against a reference that always divides
// (bucketOf), over steady, bursty, backward and extreme packet times.
func TestSlidingCountNextBucket(t *testing.T) {
	const window = 10 * time.Second
	r := rand.New(rand.NewPCG(3, 4))
	starts := []time.Time{t0, time.Unix(0, -5e9), time.Unix(0, math.MaxInt64-3e9), time.Unix(0, math.MinInt64+1e9),
		time.Unix(-1<<40, 0), time.Unix(1<<40, 0)}
	for _, start := range starts {
		var c, ref slidingCount
		at := start
		for i := range 5000 {
			switch r.IntN(6) {
			case 0:
				at = at.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
			case 1:
				at = at.Add(-time.Duration(r.IntN(1500)) * time.Millisecond)
			case 2:
				at = at.Add(time.Duration(r.IntN(30)) * time.Second)
			default:
				at = at.Add(time.Duration(900+r.IntN(200)) * time.Millisecond)
			}
			got := c.add(at, window)
			// The reference: the pre-next add, dividing whenever the
			// newest bucket is left.
			if ns := at.UnixNano(); !ref.used || ns >= ref.end {
				ref.advance(bucketOf(at, window), bucketWidth(window))
			}
			ref.slot[bucketIndex(ref.last)]++
			ref.total++
			if c.idx != bucketIndex(c.last) || c.per != periodOf(c.last) {
				t.Fatalf("start %v, event %d: bucket %d has index %d, period %d", start, i, c.last, c.idx, c.per)
			}
			if got != ref.total || c.last != ref.last || c.slot != ref.slot {
				t.Fatalf("start %v, event %d at %v: count %d bucket %d, reference %d bucket %d",
					start, i, at, got, c.last, ref.total, ref.last)
			}
		}
	}
}

// TestScanWindowStart checks the scan window's start after each request,
// which rates keeps without calling elapsed inside the window's whole
// seconds, against the rule itself: a request starts a new window when
// elapsed(t, start) is negative or at least Window. Times step forward and
// back by whole and fractional seconds, for windows of whole and
// fractional seconds. (Times before 1970 or past 2262 are left out: noteNew
// indexes its convergence ring by UnixNano, which goes negative there.)
func TestScanWindowStart(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, window := range []time.Duration{10 * time.Second, 2500 * time.Millisecond, time.Second, 700 * time.Millisecond, 3 * time.Second} {
		for _, start := range []time.Time{t0, time.Unix(5, 0), time.Unix(1<<32, 5e8)} {
			e := New(Config{Mode: Learn, Window: window})
			o := mbRead(start, hmi, 1, 0, 10)
			at, ref := start, time.Time{}
			for i := range 3000 {
				switch r.IntN(5) {
				case 0:
					at = at.Add(time.Duration(r.IntN(4000)) * time.Millisecond)
				case 1:
					at = at.Add(-time.Duration(r.IntN(1500)) * time.Millisecond)
				case 2:
					at = at.Add(time.Duration(r.IntN(3)) * time.Second)
				default:
					at = at.Add(time.Duration(r.Int64N(int64(time.Second))))
				}
				o.Time = at
				e.Observe(&o)
				if ref.IsZero() {
					ref = at
				}
				if d := elapsed(at, ref); d >= window || d < 0 {
					ref = at
				}
				var sw *scanWindow
				if pr := e.pairRT[pairKey{Modbus, hmi, plc}]; pr != nil {
					sw, _ = pr.state.(*scanWindow)
				}
				if sw == nil || sw.winStart != ref {
					t.Fatalf("window %v, request %d at %v: window %+v, want it to start at %v", window, i, at, sw, ref)
				}
			}
		}
	}
}
