package flow

import (
	"time"
)

// The conversation layer (issue #11 §2): besides reassembling the TCP
// connections a Stream decodes, the table counts every conversation it
// sees, decoded or not (TCP, UDP, ICMP and other IP protocols), and tells
// an Observer how each began (its first bytes, for a conversation nobody
// decodes) and how it ended (packets, bytes, state). This package names no
// service: the Observer does, from the bytes.

// Transport numbers (IANA) of the conversations, as Conn.Transport holds
// them.
const (
	TransportICMP   uint8 = 1
	TransportTCP    uint8 = 6
	TransportUDP    uint8 = 17
	TransportICMPv6 uint8 = 58
)

// State is how a conversation went, as its flow event says it
// (flow.state).
type State uint8

const (
	// StateAttempted: the client's SYN (or first datagram) went
	// unanswered.
	StateAttempted State = iota
	// StateRejected: the server answered the SYN with a reset.
	StateRejected
	// StateEstablished: both sides spoke, and the conversation was still
	// open when it was reported (idle timeout, eviction, end of capture).
	StateEstablished
	// StateClosed: both sides finished with FIN.
	StateClosed
	// StateReset: an established connection ended with a reset.
	StateReset
	// StateNew: datagrams one way only (a broadcast, a log sent to a
	// collector): nothing was refused, nothing answered.
	StateNew
)

var stateNames = [...]string{"attempted", "rejected", "established", "closed", "reset", "new"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// Failed reports an attempt that never reached a service: rejected or
// unanswered (what a port scan leaves).
func (s State) Failed() bool { return s == StateAttempted || s == StateRejected }

// Summary is what the table counted of one conversation, handed to
// Observer.Ended.
type Summary struct {
	Start, End time.Time
	// Pkts and Bytes are the frames and their wire bytes (link layer
	// included, as Suricata counts them), by Dir of the sender.
	Pkts, Bytes [2]uint64
	State       State
	Reason      CloseReason
	// Flags are the TCP flags each side sent (FlagSYN, FlagFIN, FlagRST,
	// FlagACK), by Dir; zero for a datagram conversation.
	Flags [2]uint8
}

// The TCP flags of Summary.Flags, as they sit in the TCP header.
const (
	FlagFIN = flagFIN
	FlagSYN = flagSYN
	FlagRST = flagRST
	FlagACK = flagACK
)

// Observer learns of every conversation the table tracks. Its calls run in
// the table's goroutine, under its recover (a panic is counted in
// Stats.RecoveredPanics and the conversation goes on without its
// Observer).
type Observer interface {
	// FirstBytes hands over the first payload of each direction (either
	// may be empty: a direction that never spoke, or the conversation
	// ended first) of a conversation no Stream decodes, once, as soon as
	// both directions spoke, one spoke twice, or it ended. The bytes are
	// reused afterwards: nothing of them is kept. FirstBytes may set
	// c.AppProto.
	FirstBytes(c *Conn, toServer, toClient []byte, ts time.Time)
	// Ended reports a conversation that ended, after its Stream's Close.
	// c and s are valid during the call only.
	Ended(c *Conn, s *Summary)
}

// sniffMax bounds the first bytes kept of each direction: a TLS
// ClientHello with its extensions (JA3 needs all of them) fits, a
// conversation's bulk does not. sniffTotal bounds them across all
// conversations (8 MiB: a flood of one-way conversations cannot buy more);
// past it a conversation's first bytes are cut to sniffLean, enough for
// every banner and header the service identifier reads but a hello's
// fingerprint.
const (
	sniffMax   = 1024
	sniffTotal = 8 << 20
	sniffLean  = 64
)

// sniff holds the first payload of each direction of a conversation no
// Stream decodes, until the Observer has seen it.
type sniff struct {
	b    [2][]byte
	segs [2]uint8
}

// add keeps the first payload of dir and reports whether the Observer
// should see the first bytes now: both directions spoke, or one spoke
// twice without an answer (the other is not going to speak first).
func (s *sniff) add(dir Dir, p []byte, held *int) bool {
	if s.segs[dir] == 0 {
		n := min(len(p), sniffMax)
		if *held+n > sniffTotal {
			n = min(n, sniffLean)
		}
		s.b[dir] = append(make([]byte, 0, n), p[:n]...)
		*held += n
	}
	if s.segs[dir] < 255 {
		s.segs[dir]++
	}
	return s.segs[0] > 0 && s.segs[1] > 0 || s.segs[dir] > 1
}

// counters are a conversation's packet and byte counts, and the TCP flags
// each side sent (flagData: it sent payload).
type counters struct {
	start int64 // ns, packet time of the first packet
	pkts  [2]uint32
	bytes [2]uint64
	flags [2]uint8
}

// flagData marks, in counters.flags, a side that sent payload.
const flagData = 0x80

func (c *counters) count(dir Dir, frameLen int, flags uint8, payload int) {
	c.pkts[dir]++
	c.bytes[dir] += uint64(frameLen)
	if payload > 0 {
		flags |= flagData
	}
	c.flags[dir] |= flags
}

// tcpState says how a TCP connection went from the flags each side sent.
func (c *counters) tcpState() State {
	cl, sv := c.flags[ClientToServer], c.flags[ServerToClient]
	switch {
	case cl&flagSYN != 0 && sv&(flagSYN|flagData) == 0:
		if sv&flagRST != 0 {
			return StateRejected
		}
		return StateAttempted
	case (cl|sv)&flagRST != 0:
		return StateReset
	case cl&flagFIN != 0 && sv&flagFIN != 0:
		return StateClosed
	case c.pkts[ServerToClient] == 0 && cl&flagData == 0:
		return StateAttempted
	}
	return StateEstablished
}

// datagramState says how a datagram conversation went.
func (c *counters) datagramState() State {
	if c.pkts[ServerToClient] > 0 {
		return StateEstablished
	}
	return StateNew
}

func (c *counters) summary(state State, reason CloseReason, end int64) Summary {
	return Summary{
		Start: time.Unix(0, c.start).UTC(), End: time.Unix(0, end).UTC(),
		Pkts:  [2]uint64{uint64(c.pkts[0]), uint64(c.pkts[1])},
		Bytes: c.bytes, State: state, Reason: reason,
		Flags: [2]uint8{c.flags[0] &^ flagData, c.flags[1] &^ flagData},
	}
}

// observeFirst hands the Observer the first bytes held in *sp and drops
// them.
func (t *Table) observeFirst(c *Conn, sp **sniff, now int64) {
	s := *sp
	*sp = nil
	if s == nil {
		return
	}
	t.sniffHeld -= len(s.b[0]) + len(s.b[1])
	if t.cfg.Observer == nil {
		return
	}
	defer t.observerRecover()
	t.cfg.Observer.FirstBytes(c, s.b[ClientToServer], s.b[ServerToClient], time.Unix(0, now).UTC())
}

// observeEnd tells the Observer a conversation ended.
func (t *Table) observeEnd(c *Conn, s *Summary) {
	if t.cfg.Observer == nil {
		return
	}
	defer t.observerRecover()
	t.cfg.Observer.Ended(c, s)
}

func (t *Table) observerRecover() {
	if r := recover(); r != nil {
		t.stats.RecoveredPanics++
	}
}
