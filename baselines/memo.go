package baselines

import "slices"

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
// packed into two words so that a comparison is two. The top bit marks a
// key in use, so that an empty memo slot matches no request.
type shapeKey struct {
	read  uint64 // in use<<63 | read range<<24 | write table<<16 | read table<<8 | function
	write uint32 // write range
}

func shapeOf(m *ModbusObs) shapeKey {
	return shapeKey{
		read: 1<<63 | uint64(m.Function) | uint64(m.ReadTable)<<8 | uint64(m.WriteTable)<<16 |
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
	fn uint8
	// learned: the shape was learned, so its function is in Functions,
	// its ranges in Read and Written, its poll in Polls (poll).
	learned bool
	// clean: the shape was judged, its function is in Functions and its
	// write range (if any) in Written; only the values remain to judge.
	clean bool
	// pollSet: poll is resolved (nil when the shape is no poll).
	pollSet bool
	// pending counts the repeats learned since the shape entered the memo
	// that Functions[fn] does not hold yet (the first one went into
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
	sets [shapeSets]shapeSet
}

// shapeSet is one set of the memo. The keys are kept together, apart from
// the entries: a lookup reads one cache line of keys, then the one entry.
type shapeSet struct {
	keys [shapeWays]shapeKey
	ways [shapeWays]shape
	next uint8 // the way to replace next
}

// lookup returns the entry of k, or nil.
func (m *shapeMemo) lookup(k shapeKey) *shape {
	set := &m.sets[k.set()]
	for w := range set.keys {
		if set.keys[w] == k {
			return &set.ways[w]
		}
	}
	return nil
}

// memoAfter is how many transactions a channel must have learned before
// it gets its memos (some 3.3 KB for the Modbus shapes): a plant's
// channels repeat thousands, while spoofed traffic on a span port can make
// a channel every packet or two, which must not cost a memo each.
const memoAfter = 16

// memoWorth reports whether a transaction of c goes through its memos:
// c learned at least memoAfter transactions (those judged are not
// counted, and spoofed ones may have been learned before judging began).
func (c *Channel) memoWorth() bool {
	return c.shapes != nil || c.calls != nil || c.Transactions >= memoAfter
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
	set := &m.sets[k.set()]
	w := set.next % shapeWays
	set.next++
	sh := &set.ways[w]
	sh.flush(functions)
	set.keys[w], *sh = k, shape{fn: k.fn()}
	return sh
}

// flush adds the entry's pending count to functions.
func (sh *shape) flush(functions map[uint8]uint64) {
	if sh.pending != 0 {
		functions[sh.fn] += sh.pending
		sh.pending = 0
	}
}

// flushShapes brings Functions (and the OPC UA counts) up to date with
// the memos' pending counts.
// Everything that reads a channel's counts (Snapshot, TakeDelta) calls it
// first; a count pending implies the channel is dirty, since only learn
// adds one.
func (c *Channel) flushShapes() {
	if c.calls != nil {
		for i := range c.calls.calls {
			c.calls.calls[i].flush(c)
		}
	}
	if c.shapes == nil {
		return
	}
	for s := range c.shapes.sets {
		for w := range c.shapes.sets[s].ways {
			c.shapes.sets[s].ways[w].flush(c.Functions)
		}
	}
}

// forgetShapes empties the memos (after flushing them); tests use it to learn
// without the memo.
func (c *Channel) forgetShapes() {
	c.flushShapes()
	c.shapes, c.calls = nil, nil
}

// An OPC UA client repeats its calls as a Modbus master does: the same
// service on the same nodes within the same session, so learning one
// counts the same Services, Policies, Modes, Tokens, Users, ClientApps and
// NodesRead/NodesCalled keys each time, a map operation with a string hash
// for each, and judging one looks up the same service, token and methods.
// callMemo holds the last few calls of a channel, with the repeats not yet
// counted and the verdict of judging.

// callWays is how many learned calls a channel's call memo holds: a client
// alternates a few services (Read, Publish, Browse...).
const callWays = 4

// call is one learned OPC UA call without writes: its service, session
// context and nodes. Strings may be kept (Observation says so); the node
// lists are copies.
type call struct {
	service, policy, user, app string
	mode                       SecurityMode
	token                      TokenType
	read, called               []string
	// pending counts the repeats not yet added to the maps.
	pending uint64
	// poll is the call's rhythm in Polls (a Read learned as a poll), nil
	// otherwise; pollSet says it is resolved.
	poll *Rhythm
	used bool
	// learned: the call was learned, every key it counts is in its map
	// and its poll in Polls.
	learned bool
	// clean: judging found its service, token and methods learned; only
	// the session context (judged apart, chanRuntime) is left to judge.
	// The maps only grow, so the verdict holds.
	clean   bool
	pollSet bool
}

// callMemo is a channel's memo of learned calls, replacing the oldest.
type callMemo struct {
	calls [callWays]call
	next  uint8
}

// matches reports whether u is the call c, without writes.
func (c *call) matches(u *OPCUAObs) bool {
	return c.used && len(u.Written) == 0 && c.service == u.Service && c.policy == u.SecurityPolicy &&
		c.mode == u.SecurityMode && c.token == u.Token && c.user == u.User && c.app == u.ClientAppURI &&
		slices.Equal(c.read, u.Read) && slices.Equal(c.called, u.Called)
}

// lookup returns the learned call u repeats, or nil.
func (m *callMemo) lookup(u *OPCUAObs) *call {
	for i := range m.calls {
		if c := &m.calls[i]; c.matches(u) {
			return c
		}
	}
	return nil
}

// call returns the memo entry of u, a call without writes, making the
// memo and the entry when there are none.
func (c *Channel) call(u *OPCUAObs) *call {
	if c.calls == nil {
		c.calls = &callMemo{}
	}
	if k := c.calls.lookup(u); k != nil {
		return k
	}
	return c.calls.insert(u, c)
}

// insert makes an entry for u (which has no writes), replacing the oldest
// call (whose repeats are counted first). The node lists reuse the
// replaced call's arrays.
func (m *callMemo) insert(u *OPCUAObs, ch *Channel) *call {
	k := &m.calls[m.next%callWays]
	m.next++
	k.flush(ch)
	*k = call{service: u.Service, policy: u.SecurityPolicy, user: u.User, app: u.ClientAppURI,
		mode: u.SecurityMode, token: u.Token, read: append(k.read[:0], u.Read...),
		called: append(k.called[:0], u.Called...), used: true}
	return k
}

// flush adds the call's pending repeats to the channel's counts, as
// learnOPCUA would have counted each of them.
func (c *call) flush(ch *Channel) {
	n := c.pending
	if n == 0 {
		return
	}
	c.pending = 0
	if c.service != "" {
		ch.Services[c.service] += n
	}
	if c.policy != "" {
		ch.Policies[c.policy] += n
	}
	if c.mode != SecurityUnknown {
		ch.Modes[c.mode] += n
	}
	if c.token != TokenUnknown {
		ch.Tokens[c.token] += n
	}
	if c.user != "" {
		ch.Users[c.user] += n
	}
	if c.app != "" {
		ch.ClientApps[c.app] += n
	}
	for _, node := range c.read {
		ch.NodesRead[node] += n
	}
	for _, node := range c.called {
		ch.NodesCalled[node] += n
	}
}
