package baselines

import (
	"math"
	"time"
)

// rateBuckets is how many buckets a rate window is cut into: its
// resolution is Config.Window / rateBuckets (1 s with the default 10 s).
const rateBuckets = 10

// slidingCount counts events over the last Config.Window of packet time,
// in rateBuckets buckets. A tumbling window (reset every Window) splits a
// burst that straddles a reset into two halves that may each stay under
// the threshold: a 9 s write flood crossing a boundary went unnoticed that
// way. The sum covers the current bucket and the rateBuckets-1 before it,
// so it never counts an event older than Window: "N requests within 10 s"
// in a signature is always true.
//
// Packet time may step back (several interleaved captures, a clock
// correction): an event older than the newest bucket is counted in the
// newest bucket rather than lost.
type slidingCount struct {
	slot [rateBuckets]uint32
	last int64 // bucket number (time / width) of the newest bucket
	used bool  // last is set: the zero value has seen no event
	// idx is bucketIndex(last) and per periodOf(last), set with last:
	// add and rates need them on every request, last changes about once
	// per bucket, and both are a signed division.
	idx int
	per int64
	// total is the sum of slot, kept as buckets fill and empty so that
	// add does not sum the ring on every request.
	total uint32
	// end is the Unix nanosecond time just after the newest bucket: an
	// event before it lands in the newest bucket without the divisions
	// of bucketOf (most requests fall in the bucket of the one before).
	end int64
	// next is the end of the bucket after the newest one, when that is
	// exact (end otherwise): an event in [end, next) opens the next
	// bucket, again without a division. A poll at about one request per
	// bucket opens one on nearly every request.
	next int64
}

// add counts one event at t and returns the count over the window ending
// at t (or at the newest bucket, when t is older).
func (c *slidingCount) add(t time.Time, window time.Duration) uint32 {
	if ns := t.UnixNano(); !c.used || ns >= c.end {
		w := bucketWidth(window)
		if c.used && ns < c.next {
			// end <= ns < next = end+w, both exact: bucketOf(t) is
			// the one after the newest.
			c.advance(c.last+1, w)
		} else {
			c.advance(bucketOf(t, window), w)
		}
		// The new bucket b holds ns, so b*w <= ns and (b+2)*w <= ns+2w:
		// exact unless ns is within 2w of the largest time.
		c.next = c.end
		if ns <= math.MaxInt64-2*w {
			c.next = c.end + w
		}
	}
	c.slot[c.idx]++
	c.total++
	return c.total
}

// advance moves the newest bucket to b, emptying the buckets it skips
// over (all of them after a pause of a whole window or more). w is the
// bucket width in nanoseconds.
func (c *slidingCount) advance(b, w int64) {
	// Where (b+1)*w overflows, end wraps below any time and every add
	// takes this slow path, which stays correct.
	if !c.used {
		c.used, c.end = true, (b+1)*w
		c.setLast(b)
		return
	}
	if b <= c.last {
		return
	}
	n := min(b-c.last, rateBuckets)
	for k := int64(1); k <= n; k++ {
		i := bucketIndex(c.last + k)
		c.total -= c.slot[i]
		c.slot[i] = 0
	}
	c.end = (b + 1) * w
	c.setLast(b)
}

// setLast makes b the newest bucket.
func (c *slidingCount) setLast(b int64) {
	c.last, c.idx, c.per = b, bucketIndex(b), periodOf(b)
}

// period returns the number of the Window-long period that holds the
// newest bucket.
func (c *slidingCount) period() int64 { return c.per }

// periodOf returns the number of the Window-long period that holds bucket
// b (floor division).
func periodOf(b int64) int64 { return floorDiv(b, rateBuckets) }

// bucketWidth returns the width of one bucket in nanoseconds.
func bucketWidth(window time.Duration) int64 {
	return max(int64(window)/rateBuckets, 1)
}

// bucketOf returns the number of the bucket that holds t (floor division,
// so packet times before 1970 from a hostile capture stay ordered).
func bucketOf(t time.Time, window time.Duration) int64 {
	return floorDiv(t.UnixNano(), bucketWidth(window))
}

func bucketIndex(b int64) int { return int(floorMod(b, rateBuckets)) }

// floorDiv is a / b rounded down (b > 0), and floorMod the remainder that
// goes with it, in [0, b): packet times before 1970 (a hostile pcapng can
// carry any timestamp) must keep their order and index rings without a
// negative slot (a Go remainder takes the sign of the dividend).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

// elapsed returns t.Sub(u) for packet times, which carry no monotonic
// clock reading. Sub checks for overflow with an Add and an Equal, which
// cost more than the subtraction; two times less than 2^32 s (136 years)
// apart cannot overflow, and further apart elapsed falls back on Sub,
// which saturates.
func elapsed(t, u time.Time) time.Duration {
	if ds := t.Unix() - u.Unix(); ds > -1<<32 && ds < 1<<32 {
		return time.Duration(ds)*time.Second + time.Duration(t.Nanosecond()-u.Nanosecond())
	}
	return t.Sub(u)
}
