package flow

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

// TestOlderThan checks olderThan against exact arithmetic, including
// packet times centuries apart, whose signed difference wraps: a packet
// stamped 1700 after flows of 2024 must not expire them as idle.
func TestOlderThan(t *testing.T) {
	y1700 := time.Date(1700, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	y2024 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	y2250 := time.Date(2250, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	if int64(y1700-y2024) < 0 { // the wrap the test is about
		t.Fatal("the signed difference 1700 - 2024 no longer wraps: pick times further apart")
	}
	if olderThan(y1700, y2024, 5*time.Minute) {
		t.Error("a packet from 1700 counts as 5 minutes after one from 2024")
	}
	if !olderThan(y2250, y1700, 5*time.Minute) {
		t.Error("2250 is not 5 minutes after 1700")
	}
	exact := func(now, then int64, d time.Duration) bool {
		diff := new(big.Int).Sub(big.NewInt(now), big.NewInt(then))
		return diff.Cmp(big.NewInt(int64(d))) > 0
	}
	r := rand.New(rand.NewPCG(1, 2))
	edges := []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64 - 1, math.MaxInt64, y1700, y2024, y2250}
	for i := 0; i < 200000; i++ {
		now, then := int64(r.Uint64()), int64(r.Uint64())
		if i < len(edges)*len(edges) {
			now, then = edges[i/len(edges)], edges[i%len(edges)]
		} else if i%2 == 0 {
			then = now - r.Int64N(int64(time.Hour)) // close together, either side of d
		}
		d := time.Duration(r.Int64N(int64(10 * time.Minute)))
		if got, want := olderThan(now, then, d), exact(now, then, d); got != want {
			t.Fatalf("olderThan(%d, %d, %v) = %v, want %v", now, then, d, got, want)
		}
	}
}
