package baselines

import "time"

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
}

// add counts one event at t and returns the count over the window ending
// at t (or at the newest bucket, when t is older).
func (c *slidingCount) add(t time.Time, window time.Duration) uint32 {
	c.advance(bucketOf(t, window))
	c.slot[bucketIndex(c.last)]++
	return c.sum()
}

// advance moves the newest bucket to b, emptying the buckets it skips
// over (all of them after a pause of a whole window or more).
func (c *slidingCount) advance(b int64) {
	if !c.used {
		c.last, c.used = b, true
		return
	}
	if b <= c.last {
		return
	}
	n := min(b-c.last, rateBuckets)
	for k := int64(1); k <= n; k++ {
		c.slot[bucketIndex(c.last+k)] = 0
	}
	c.last = b
}

// period returns the number of the Window-long period that holds the
// newest bucket.
func (c *slidingCount) period() int64 {
	p := c.last / rateBuckets
	if c.last%rateBuckets < 0 {
		p--
	}
	return p
}

func (c *slidingCount) sum() uint32 {
	var n uint32
	for _, v := range c.slot {
		n += v
	}
	return n
}

// bucketOf returns the number of the bucket that holds t (floor division,
// so packet times before 1970 from a hostile capture stay ordered).
func bucketOf(t time.Time, window time.Duration) int64 {
	w := max(int64(window)/rateBuckets, 1)
	ns := t.UnixNano()
	b := ns / w
	if ns%w < 0 {
		b--
	}
	return b
}

func bucketIndex(b int64) int {
	i := b % rateBuckets
	if i < 0 {
		i += rateBuckets
	}
	return int(i)
}
