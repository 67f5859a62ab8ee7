package baselines

// The Modbus model's memo of request shapes. A plant's masters repeat a
// handful of requests per channel: the same function over the same ranges,
// every second, for years. Once a channel has learned a request shape,
// learning it again changes only counters, the poll's rhythm and the
// written registers' envelopes; once judging found a shape's function and
// write range learned, judging it again only compares the written values.
// So each channel keeps a small memo of its shapes that points straight at
// what they touch: a repeat costs one hash and one comparison instead of
// the Functions, Read, Written, Polls and Values lookups.
//
// The memo is runtime state of the model (modbusRuntime), holds no count
// of its own (it bumps the channel's counters through their pointers) and
// only remembers what cannot change back: the model's maps only grow, their
// entries are never replaced, and Load makes new channels and new runtime
// state. The reference engine (Engine.plain) runs without it, and
// FuzzObserve, TestKnownReadMemo and TestJudgeMemo compare the two.

// shapeKey is what one Modbus request asks: its function and the ranges it
// reads and writes (TableNone and a zero Range when it does not), packed
// into two words so that a comparison is two. The top bit marks a key in
// use, so that an empty memo slot matches no request.
type shapeKey struct {
	read  uint64 // in use<<63 | read range<<24 | write table<<16 | read table<<8 | function
	write uint32 // write range
}

func shapeKeyOf(m *ModbusObs) shapeKey {
	return shapeKey{
		read: 1<<63 | uint64(m.Function) | uint64(m.ReadTable)<<8 | uint64(m.WriteTable)<<16 |
			uint64(m.Read.Start)<<24 | uint64(m.Read.Count)<<40,
		write: uint32(m.Write.Start) | uint32(m.Write.Count)<<16,
	}
}

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

// shape is one request shape of a channel: what learning and judging it
// found, each field set once found.
type shape struct {
	// count is the shape's function's count in Functions: nil until
	// learning made it or judging found it there.
	count *uint64
	// learned: the shape was learned, so count is set, its ranges are in
	// Read and Written and its poll in Polls (poll).
	learned bool
	// written: judging found the write range in Written.
	written bool
	// pollSet: poll is resolved (nil when the shape is no learned poll).
	pollSet bool
	poll    *poll
	// regs are the envelopes in Values of the first shapeRegs written
	// registers, nil until the register is learned.
	regs [shapeRegs]*Envelope
	// vars are the process variables the shape reads
	// (modbus_process.go), by position in the response, nil until the
	// variable is learned; they are never replaced (Process only grows),
	// so a repeat of the shape costs no lookup per value.
	vars []*ProcessVar
}

// procVars returns sh's process variables for a response of n values
// (nil when sh is nil); a response longer than the first one's has its
// extra values looked up each time.
func (sh *shape) procVars(n int) []*ProcessVar {
	if sh == nil {
		return nil
	}
	if sh.vars == nil {
		sh.vars = make([]*ProcessVar, n)
	}
	return sh.vars
}

// reg returns the envelope of the i-th written register that sh (nil for
// no memo entry) points to, or nil.
func (sh *shape) reg(i int) *Envelope {
	if sh != nil && i < shapeRegs {
		return sh.regs[i]
	}
	return nil
}

// setReg points sh (when not nil) to env for the i-th written register.
func (sh *shape) setReg(i int, env *Envelope) {
	if sh != nil && i < shapeRegs {
		sh.regs[i] = env
	}
}

// shapeMemo is a channel's memo: set-associative, each set replacing its
// oldest entry.
type shapeMemo struct {
	sets [shapeSets]shapeSet
}

// shapeSet is one set of the memo. The keys are kept together, apart from
// the entries: a lookup reads one cache line of keys, then the one entry.
type shapeSet struct {
	keys [shapeWays]shapeKey
	ways [shapeWays]shape
	next uint8 // the way to replace next
}

// entry returns the entry of k, replacing the oldest of its set when k
// has none.
func (m *shapeMemo) entry(k shapeKey) *shape {
	set := &m.sets[k.set()]
	for w := range set.keys {
		if set.keys[w] == k {
			return &set.ways[w]
		}
	}
	w := set.next % shapeWays
	set.next++
	set.keys[w], set.ways[w] = k, shape{}
	return &set.ways[w]
}
