package baselines

// A plant's masters repeat a handful of requests per channel: the same
// function over the same ranges, every second, for years. Once a channel has
// learned a request shape, learning it again changes only counters, the
// poll's rhythm and the written registers' envelopes; once a shape was
// judged clean, judging it again only compares the written values. So each
// channel keeps a small memo of its shapes that points straight at them: a
// repeat costs one hash and one comparison instead of the Functions, Read,
// Written, Polls and Values lookups.

// shapeKey is what one Modbus request asks: its function and the ranges it
// reads and writes (Table NoTable and a zero Range when it does not),
// packed into two words so that a comparison is two.
type shapeKey struct {
	read  uint64 // function | read table<<8 | write table<<16 | read range<<24
	write uint32 // write range
}

func shapeOf(m *ModbusObs) shapeKey {
	return shapeKey{
		read: uint64(m.Function) | uint64(m.ReadTable)<<8 | uint64(m.WriteTable)<<16 |
			uint64(m.Read.Start)<<24 | uint64(m.Read.Count)<<40,
		write: uint32(m.Write.Start) | uint32(m.Write.Count)<<16,
	}
}

// fn returns the function code of the shape.
func (k shapeKey) fn() uint8 { return uint8(k.read) }

// set returns the memo set of k: the top bits of a multiplicative hash,
// which are well mixed.
func (k shapeKey) set() int {
	h := (k.read ^ uint64(k.write)*0xff51afd7ed558ccd) * 0x9e3779b97f4a7c15
	return int(h >> (64 - shapeSetBits))
}

// shapeSetBits, shapeWays and shapeRegs size a channel's memo:
// 2^shapeSetBits sets of shapeWays entries each (32 shapes; a set holds
// four, so a dozen polls rarely evict each other), and the envelopes of
// the first shapeRegs registers of a write (the rest are looked up in
// Values).
const (
	shapeSetBits = 3
	shapeSets    = 1 << shapeSetBits
	shapeWays    = 4
	shapeRegs    = 8
)

// shape is one request shape of a channel. Everything it points to is only
// ever added to, never replaced (Functions and Read/Written grow, Polls and
// Values entries are created once, and only learnPoll, which sets poll,
// creates a Modbus poll), and Load makes new Channels, so an entry never
// goes stale.
type shape struct {
	key  shapeKey
	used bool
	// learned: the shape was learned, so its function is in Functions,
	// its ranges in Read and Written, its poll in Polls (poll).
	learned bool
	// clean: the shape was judged, its function is in Functions and its
	// write range (if any) in Written; only the values remain to judge.
	clean bool
	// pollSet: poll is resolved (nil when the shape is no poll).
	pollSet bool
	// pending counts the repeats learned since the shape entered the memo
	// that Functions[key.fn()] does not hold yet (the first one went into
	// the map, which is why the function code is known to judge). flush
	// adds them before anything reads the counts.
	pending uint64
	// poll is the rhythm in Polls of a read without a write (pollKeyOf),
	// nil for other shapes and for a read never learned as a poll.
	poll *Rhythm
	// regs are the envelopes in Values of the first shapeRegs written
	// registers, nil until the register is first written.
	regs [shapeRegs]*Envelope
}

// shapeMemo is a channel's memo: set-associative, each set replacing its
// oldest entry.
type shapeMemo struct {
	sets [shapeSets][shapeWays]shape
	// next is the way of each set to replace next.
	next [shapeSets]uint8
}

// lookup returns the entry of k, or nil.
func (m *shapeMemo) lookup(k shapeKey) *shape {
	ways := &m.sets[k.set()]
	for w := range ways {
		if sh := &ways[w]; sh.key == k && sh.used {
			return sh
		}
	}
	return nil
}

// shape returns the memo entry of k, making the memo and the entry when
// there are none.
func (c *Channel) shape(k shapeKey) *shape {
	if c.shapes == nil {
		c.shapes = &shapeMemo{}
	}
	if sh := c.shapes.lookup(k); sh != nil {
		return sh
	}
	return c.shapes.insert(k, c.Functions)
}

// insert makes an entry for k, replacing the oldest one of its set (whose
// pending count goes to functions first).
func (m *shapeMemo) insert(k shapeKey, functions map[uint8]uint64) *shape {
	s := k.set()
	sh := &m.sets[s][m.next[s]%shapeWays]
	m.next[s]++
	sh.flush(functions)
	*sh = shape{key: k, used: true}
	return sh
}

// flush adds the entry's pending count to functions.
func (sh *shape) flush(functions map[uint8]uint64) {
	if sh.pending != 0 {
		functions[sh.key.fn()] += sh.pending
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
