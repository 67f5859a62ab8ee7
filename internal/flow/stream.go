// Package flow turns captured link-layer frames into ordered TCP byte streams:
// layer decoding (Decoder, gopacket's DecodingLayerParser, zero allocations
// per packet), a bounded flow table (Table, Config) with idle expiry on packet
// time, and per-direction reassembly that handles retransmissions,
// out-of-order and overlapping segments and reports gaps.
//
// Protocol glue (in agent/) implements Stream and hands a StreamFactory to
// NewTable; this package knows nothing of Modbus or OPC UA. Time comes only
// from packet timestamps, and flow IDs are given in order of first packet, so
// a replay produces the same calls in the same order every time.
package flow

import (
	"net/netip"
	"time"
)

// Dir is the direction of payload within a connection.
type Dir uint8

const (
	// ClientToServer is payload sent by the side that opened the
	// connection (sent the SYN) or, mid-stream, the side not on a
	// configured server port.
	ClientToServer Dir = iota
	// ServerToClient is payload sent by the server.
	ServerToClient
)

func (d Dir) String() string {
	if d == ClientToServer {
		return "to_server"
	}
	return "to_client"
}

// Key identifies one TCP connection, oriented client → server.
type Key struct {
	ClientIP   netip.Addr
	ServerIP   netip.Addr
	ClientPort uint16
	ServerPort uint16
}

// Conn describes a connection to the Stream that handles it.
type Conn struct {
	// ID is the flow_id of every event from this connection: unique within
	// one run, assigned in order of first packet, so replays are
	// deterministic.
	ID  uint64
	Key Key
	// ClientMAC and ServerMAC are the link-layer addresses seen on the first
	// packet, when the link type carries them (zero otherwise).
	ClientMAC, ServerMAC [6]byte
	// MidStream is true when the connection was picked up without its SYN.
	MidStream bool
	// Transport is the IP protocol number (TransportTCP for the
	// connections of a Stream; the datagram conversations' own). For
	// ICMP, Key's ports hold the type and code (or the type of the
	// answer) as the Community ID specification takes them.
	Transport uint8
	// AppProto names the application protocol once known, as the events'
	// app_proto: the stream factory or the Observer sets it; the table
	// only carries it.
	AppProto string
}

// CloseReason tells a Stream why its connection ended.
type CloseReason uint8

const (
	CloseFIN     CloseReason = iota // both sides (or one, then idle) finished
	CloseRST                        // reset
	CloseIdle                       // idle timeout on packet time
	CloseEvicted                    // evicted to respect the flow-table cap
	CloseEnd                        // end of capture, shutdown, or a new connection (SYN) on the same four-tuple
)

var closeReasonNames = [...]string{"fin", "rst", "idle", "evicted", "end"}

func (r CloseReason) String() string {
	if int(r) < len(closeReasonNames) {
		return closeReasonNames[r]
	}
	return "unknown"
}

// Stream receives the reassembled, in-order payload of one TCP connection.
// Calls for one connection are never concurrent.
type Stream interface {
	// Data delivers the next in-order bytes in direction dir. data is
	// reused after Data returns: copy what must be kept.
	Data(dir Dir, data []byte, ts time.Time)
	// Gap reports that bytes were lost in direction dir (missing segment,
	// buffer cap): a framer must resynchronise.
	Gap(dir Dir, lost int, ts time.Time)
	// Close ends the connection; no call follows it.
	Close(reason CloseReason, ts time.Time)
}

// PanicHandler is an optional interface of a Stream. Every Stream call runs
// under the table's recover: a call that panics is counted
// (Stats.RecoveredPanics), its connection is ignored from then on, and, when
// the Stream implements PanicHandler, Panicked is called with the recovered
// value, the direction of the call (ClientToServer for Close) and its packet
// time, so the glue can report the panic (and stop using the connection's
// state) without a recover of its own around every call. A panic in
// Panicked itself is recovered and ignored.
type PanicHandler interface {
	Panicked(r any, dir Dir, ts time.Time)
}

// StreamFactory returns the Stream for a new connection, or nil when the
// connection is of no interest (it is then tracked only as a flow to ignore).
type StreamFactory func(c *Conn, ts time.Time) Stream
