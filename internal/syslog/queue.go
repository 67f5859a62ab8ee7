package syslog

// queue is a bounded FIFO of messages that drops its oldest when full. It
// is a ring, so pushing and popping never move the messages; a message
// the sender took back (pushFront, after a failed write) is the oldest
// again, and the first to go when room is needed. Not safe for concurrent
// use: the Sink holds its lock.
type queue struct {
	ring        [][]byte
	head, n     int
	bytes       int // of the messages queued
	limit       int // most message bytes queued
	dropped     uint64
	free        [][]byte // buffers of sent and dropped messages, for reuse
	freeCap     int      // most buffers kept in free
	freeLargest int      // a buffer larger than this is not kept
	// size is the capacity of the largest message buffer kept so far: a
	// new buffer starts there instead of growing by appends.
	size int
}

func newQueue(size, limit int) *queue {
	return &queue{ring: make([][]byte, size), limit: limit, freeCap: 2 * batchMessages, freeLargest: 16 << 10}
}

func (q *queue) len() int { return q.n }

// spare returns an empty buffer to render a message into.
func (q *queue) spare() []byte {
	if n := len(q.free); n > 0 {
		b := q.free[n-1]
		q.free = q.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, q.size)
}

// release gives back the buffer of a message sent or dropped.
func (q *queue) release(b []byte) {
	if cap(b) <= q.freeLargest {
		q.size = max(q.size, cap(b))
		if len(q.free) < q.freeCap {
			q.free = append(q.free, b)
		}
	}
}

// makeRoom drops the oldest messages until one of size bytes fits.
func (q *queue) makeRoom(size int) {
	for q.n > 0 && (q.n == len(q.ring) || q.bytes+size > q.limit) {
		q.release(q.popFront())
		q.dropped++
	}
}

// push appends m, dropping the oldest messages to make room. A message
// larger than the byte limit on its own is dropped itself.
func (q *queue) push(m []byte) {
	if len(m) > q.limit {
		q.release(m)
		q.dropped++
		return
	}
	q.makeRoom(len(m))
	q.ring[(q.head+q.n)%len(q.ring)] = m
	q.n++
	q.bytes += len(m)
}

// pushFront puts messages taken by popFront back at the front, in their
// order: they are older than everything queued since. What does not fit
// is dropped, oldest first.
func (q *queue) pushFront(ms [][]byte) {
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if q.n == len(q.ring) || q.bytes+len(m) > q.limit {
			// The rest of ms is older than m: drop it too.
			for _, old := range ms[:i+1] {
				q.release(old)
				q.dropped++
			}
			return
		}
		q.head = (q.head - 1 + len(q.ring)) % len(q.ring)
		q.ring[q.head] = m
		q.n++
		q.bytes += len(m)
	}
}

// popFront removes and returns the oldest message; the queue must not be
// empty.
func (q *queue) popFront() []byte {
	m := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	q.bytes -= len(m)
	return m
}
