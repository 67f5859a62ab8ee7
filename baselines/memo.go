package baselines

// A plant's masters repeat a handful of requests per channel: the same
// function over the same ranges, every second, for years. Once a channel has
// learned a request shape, learning it again changes only counters, the
// poll's rhythm and the written registers' envelopes, so each channel keeps
// a small memo of its learned shapes that points straight at them: a repeat
// costs one hash and one comparison instead of the Functions, Read, Written,
// Polls and Values lookups.

// shapeKey is what one Modbus request asks: its function and the ranges it
// reads and writes (Table NoTable and a zero Range when it does not).
type shapeKey struct {
	fn     uint8
	rt, wt Table
	r, w   Range
}

func shapeOf(m *ModbusObs) shapeKey {
	return shapeKey{fn: m.Function, rt: m.ReadTable, wt: m.WriteTable, r: m.Read, w: m.Write}
}

// set returns the memo set of k: a multiplicative hash of its fields,
// whose top bits are well mixed.
func (k shapeKey) set() int {
	a := uint64(k.fn) | uint64(k.rt)<<8 | uint64(k.wt)<<16 | uint64(k.r.Start)<<32 | uint64(k.r.Count)<<48
	b := uint64(k.w.Start) | uint64(k.w.Count)<<16
	h := (a ^ b*0xff51afd7ed558ccd) * 0x9e3779b97f4a7c15
	return int(h >> (64 - shapeSetBits))
}

// shapeSetBits and shapeRegs size a channel's memo: 2^shapeSetBits sets of
// two ways each (32 shapes), and the envelopes of the first shapeRegs
// registers of a write (the rest are looked up in Values).
const (
	shapeSetBits = 4
	shapeSets    = 1 << shapeSetBits
	shapeRegs    = 8
)

// shape is one learned request shape of a channel. Everything it points to
// is only ever added to, never replaced (Functions and Read/Written grow,
// Polls and Values entries are created once), and Load makes new Channels,
// so an entry never goes stale.
type shape struct {
	key  shapeKey
	used bool
	// pending counts the repeats learned since the shape entered the memo
	// that Functions[key.fn] does not hold yet (the first one went into
	// the map, which is why the function code is known to judge). flush
	// adds them before anything reads the counts.
	pending uint64
	// poll is the rhythm of a read without a write (pollKeyOf), nil for
	// other shapes.
	poll *Rhythm
	// regs are the envelopes in Values of the first shapeRegs written
	// registers, nil until the register is first written.
	regs [shapeRegs]*Envelope
}

// shapeMemo is a channel's memo: two-way set-associative, least recently
// used way replaced.
type shapeMemo struct {
	sets [shapeSets][2]shape
	// lru is the way of each set to replace next.
	lru [shapeSets]uint8
}

// lookup returns the entry of k, or nil.
func (m *shapeMemo) lookup(k shapeKey) *shape {
	s := k.set()
	ways := &m.sets[s]
	for w := range ways {
		if sh := &ways[w]; sh.used && sh.key == k {
			m.lru[s] = uint8(w) ^ 1
			return sh
		}
	}
	return nil
}

// insert makes an entry for k, replacing the least recently used one of
// its set (whose pending count goes to functions first).
func (m *shapeMemo) insert(k shapeKey, functions map[uint8]uint64) *shape {
	s := k.set()
	w := m.lru[s]
	sh := &m.sets[s][w]
	sh.flush(functions)
	*sh = shape{key: k, used: true}
	m.lru[s] = w ^ 1
	return sh
}

// flush adds the entry's pending count to functions.
func (sh *shape) flush(functions map[uint8]uint64) {
	if sh.pending != 0 {
		functions[sh.key.fn] += sh.pending
		sh.pending = 0
	}
}

// flushShapes brings Functions up to date with the memo's pending counts.
// Everything that reads a channel's counts (Snapshot, TakeDelta) calls it
// first; a count pending implies the channel is dirty, since only learn
// adds one.
func (c *Channel) flushShapes() {
	if c.shapes == nil {
		return
	}
	for s := range c.shapes.sets {
		for w := range c.shapes.sets[s] {
			c.shapes.sets[s][w].flush(c.Functions)
		}
	}
}

// forgetShapes empties the memo (after flushing it); tests use it to learn
// without the memo.
func (c *Channel) forgetShapes() {
	c.flushShapes()
	c.shapes = nil
}
