package opcua

// Budget bounds the memory that every Conn sharing it holds in unfinished
// multi-chunk messages. Each Conn already bounds its own (MaxMessageSize per
// direction), but a hostile client can open many connections, start a
// chunked message on each and never finish it: 24 such connections held
// 800 MB before this budget existed (issue #15). With a Budget, a chunk
// that would take the shared total over Limit drops its unfinished message
// instead (Stats.OverBudget), and the Conn's other messages go on.
//
// The bytes counted are the capacity of the reassembly buffers, what the
// process actually holds, not only their length. A Budget is not safe for
// concurrent use: the Conns sharing it must be fed from one goroutine (the
// agent's packet loop).
type Budget struct {
	// Limit is the most bytes held at once; 0 or less means no limit.
	Limit int
	used  int
	// refused counts the messages dropped because of the budget.
	refused uint64
}

// Used returns the bytes held now by the Conns sharing b.
func (b *Budget) Used() int { return b.used }

// Refused returns how many unfinished messages were dropped to respect the
// limit.
func (b *Budget) Refused() uint64 { return b.refused }

// reserve takes n more bytes for c, or reports false when the limit would
// be exceeded. A nil Budget never refuses.
func (c *Conn) reserve(n int) bool {
	b := c.cfg.Budget
	if b == nil {
		return true
	}
	if b.Limit > 0 && b.used+n > b.Limit {
		b.refused++
		return false
	}
	b.used += n
	c.held += n
	return true
}

// free gives n bytes of c's back.
func (c *Conn) free(n int) {
	if b := c.cfg.Budget; b != nil {
		b.used -= n
		c.held -= n
	}
}

// Release gives back everything c holds against its Budget and forgets
// its unfinished messages. The agent calls it when a connection ends,
// whatever state the Conn is in (even after a recovered panic), so that a
// connection cannot keep budget it no longer uses.
func (c *Conn) Release() {
	if b := c.cfg.Budget; b != nil {
		b.used -= c.held
	}
	c.held = 0
	c.dirs = [2]dirState{}
}

// grow makes room in p's buffer for n more bytes, charging the growth of
// its capacity to the budget; false when the budget refuses it.
func (c *Conn) grow(p *partial, n int) bool {
	need := len(p.buf) + n
	if need <= cap(p.buf) {
		return true
	}
	newCap := max(need, 2*cap(p.buf))
	if !c.reserve(newCap - cap(p.buf)) {
		return false
	}
	buf := make([]byte, len(p.buf), newCap)
	copy(buf, p.buf)
	p.buf = buf
	return true
}
