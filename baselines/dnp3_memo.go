package baselines

import "github.com/sluice-ics/sluice/protocols/dnp3"

// The DNP3 model's memo of request shapes, as the Modbus model's
// (modbus_memo.go): a SCADA master repeats the same few reads (its event
// and integrity polls) and the outstation the same unsolicited reports, so
// each channel remembers its last shapes with pointers straight at the
// counters they bump and the poll they repeat. A repeat then costs one
// hash and a comparison instead of the Functions, Read, Unsolicited and
// Polls lookups. Controls and writes (rare, and judged value by value)
// are not memoized.
//
// The memo is runtime state (dnp3Runtime), holds no count of its own and
// only remembers what cannot change back: the model's maps only grow and
// their entries are never replaced. The reference engine (Engine.plain)
// runs without it; TestDNP3Memo compares the two.

// dnp3ShapeObjs is how many object headers a memoized shape may have.
const dnp3ShapeObjs = 6

// dnp3ShapeKey packs what a read or an unsolicited response names: its
// function and the group and variation of its object headers, with the
// top bit marking a key in use. Reads name their objects by header (the
// ranges of a poll do not change); an unsolicited response's objects are
// what it reports.
type dnp3ShapeKey struct{ hi, lo uint64 }

// dnp3ShapeOf returns the key of d's shape, false when d is not memoized:
// a solicited request other than a read, or more than dnp3ShapeObjs
// objects.
func dnp3ShapeOf(d *DNP3Obs) (dnp3ShapeKey, bool) {
	m, uns := d.Request, uint64(0)
	if m == nil {
		m, uns = d.Response, 1
	} else if m.Function != dnp3.FuncRead {
		return dnp3ShapeKey{}, false
	}
	if len(m.Objects) > dnp3ShapeObjs {
		return dnp3ShapeKey{}, false
	}
	k := dnp3ShapeKey{hi: 1<<63 | uns<<62 | uint64(len(m.Objects))<<8 | uint64(m.Function)}
	for i := range m.Objects {
		gv := uint64(m.Objects[i].Group)<<8 | uint64(m.Objects[i].Variation)
		if i < 2 {
			k.hi |= gv << (16 + 16*i)
		} else {
			k.lo |= gv << (16 * (i - 2))
		}
	}
	return k, true
}

// objects returns the objects of d that its shape key k names.
func (k dnp3ShapeKey) objects(d *DNP3Obs) []dnp3.Object {
	if k.hi&(1<<62) != 0 {
		return d.Response.Objects
	}
	return d.Request.Objects
}

// dnp3Shape is one memoized shape: the counters learning bumps (the
// function's and each object's, in the order of the objects) and its poll.
type dnp3Shape struct {
	key     dnp3ShapeKey
	fn      *uint64
	objs    [dnp3ShapeObjs]*uint64
	poll    *poll
	learned bool // fn, objs and poll are set
	// judged: judging found the function learned; poll is resolved.
	judged bool
}

// dnp3Shapes is how many shapes a channel remembers (a master's event
// poll, its integrity poll, an outstation's reports, a few more).
const dnp3Shapes = 8

// dnp3Runtime is a DNP3 channel's state of this run (chanRuntime.state).
type dnp3Runtime struct {
	shapes [dnp3Shapes]dnp3Shape
	next   int // the slot the next new shape takes
}

// dnp3ShapeEntry returns the memo entry of k, making one (replacing the oldest)
// when there is none; nil when the channel does not use memos yet.
func dnp3ShapeEntry(e *Engine, c *channel, rt *chanRuntime, k dnp3ShapeKey) *dnp3Shape {
	st, _ := rt.state.(*dnp3Runtime)
	if !e.memo(c, st != nil) {
		return nil
	}
	if st == nil {
		st = stateIn[dnp3Runtime](&rt.state)
	}
	for i := range st.shapes {
		if st.shapes[i].key == k {
			return &st.shapes[i]
		}
	}
	sh := &st.shapes[st.next]
	st.next = (st.next + 1) % dnp3Shapes
	*sh = dnp3Shape{key: k}
	return sh
}
