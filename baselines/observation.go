package baselines

import (
	"net/netip"
	"time"
)

// Endpoints is the flow context of an input. Ports are carried only so that
// alerts can name the connection; the baseline never keys on them (except
// the OPC UA server port, which names the endpoint).
type Endpoints struct {
	// FlowID is the flow_id of the connection (flow.Conn.ID).
	FlowID     uint64
	ClientIP   netip.Addr
	ServerIP   netip.Addr
	ClientMAC  [6]byte // zero when the link type has none
	ServerMAC  [6]byte
	ClientPort uint16
	ServerPort uint16
}

// Observation is one request/response transaction, decoded by a protocol
// package and converted by the agent. Detail carries what the protocol
// says: a *ModbusObs for Modbus, an *OPCUAObs for OPC UA. An observation
// whose Detail is not Protocol's type (or nil) is ignored.
//
// Strings and slices are read during the call to Observe only, except that
// strings may be kept as map keys: they must be ordinary Go strings, not
// views of a reused buffer. Slices (Values, Read, Written, Called) and the
// Detail itself may be reused by the caller after Observe returns.
type Observation struct {
	Time time.Time // packet time of the response (or of the request on timeout)
	// RequestTime is the packet time of the request (zero when there is
	// none: an unsolicited response). The alerts the transaction raises,
	// and their records, are stamped with it: a write is alerted at the
	// time it was sent, as the transaction's event (issue 16 §3).
	RequestTime time.Time
	Protocol    Protocol
	Endpoints
	// Responded is true when a response was paired with the request. Only
	// responded transactions without an exception (Modbus) or with a Good
	// service result (OPC UA) are learned.
	Responded bool
	Detail    Detail
}

// AnomalyKind says what a decoder could not accept.
type AnomalyKind uint8

const (
	// Malformed: the bytes claim to be the protocol but break it (bad MBAP
	// length or protocol id, truncated PDU, bad UACP header).
	Malformed AnomalyKind = 1
	// NonProtocol: the stream on the protocol's port is not the protocol at
	// all (e.g. HTTP or random bytes on 502).
	NonProtocol AnomalyKind = 2
)

func (k AnomalyKind) String() string {
	switch k {
	case Malformed:
		return "malformed"
	case NonProtocol:
		return "non_protocol_traffic"
	}
	return "unknown"
}

// Anomaly is a decoder complaint with its flow context. It is judged the
// same way for every protocol, so it carries no protocol detail.
type Anomaly struct {
	Time     time.Time
	Protocol Protocol
	Kind     AnomalyKind
	Endpoints
	// Detail is a short fixed reason chosen by the decoder ("mbap length
	// 300 exceeds 254"); it is copied into the alert signature.
	Detail string
}
