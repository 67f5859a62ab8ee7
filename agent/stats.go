package agent

import (
	"github.com/sluice-ics/sluice/internal/jsonw"
)

// ProtoStats are the per-protocol counters of a run.
type ProtoStats struct {
	// Flows is the number of connections handed to the protocol's decoder.
	Flows uint64
	// Transactions counts emitted transactions (Modbus request/response
	// pairs, lone requests and responses; OPC UA messages).
	Transactions uint64
	// Timeouts counts requests emitted without their response.
	Timeouts uint64
	// DecodeErrors counts PDUs or messages that could not be decoded
	// (framing errors, malformed PDUs, codec failures).
	DecodeErrors uint64
	// NonProtocol counts connections on the protocol's port that turned
	// out to carry something else and were silenced.
	NonProtocol uint64
	// Gaps counts reassembly gaps that reset a framer.
	Gaps uint64
	// PendingDropped counts requests evicted from a full pairing table.
	PendingDropped uint64
}

// Stats are the counters of a run, reported in the final "stats" event.
// Flow-level figures come from the flow table; the rest are the agent's.
type Stats struct {
	Packets uint64 // frames read from the source
	Bytes   uint64 // wire bytes of those frames
	// Undecodable counts frames that were not Ethernet/IP/TCP as far as the
	// link type says, or were too short to be (not an error: a span port
	// carries ARP, UDP, ...).
	Undecodable uint64
	// Flows is the number of TCP connections tracked; FlowsIgnored is how
	// many of them were on no configured port.
	Flows        uint64
	FlowsIgnored uint64
	// Evictions counts connections evicted to respect the flow-table cap.
	Evictions uint64
	// Drops: holes in byte streams that reassembly gave up on (each a run
	// of missing or capped segments, reported to the decoder as a gap), the
	// payload bytes lost (holes, caps, data after FIN), and packets dropped
	// by the kernel (live capture only).
	DroppedSegments uint64
	DroppedBytes    uint64
	KernelDrops     uint64
	// RecoveredPanics counts panics caught in a connection's decoder; the
	// connection is then silenced and the run goes on.
	RecoveredPanics uint64
	Modbus          ProtoStats
	OPCUA           ProtoStats
	// Events counts events written, Alerts the alert events among them.
	Events  uint64
	Alerts  uint64
	Anomaly uint64
}

// appendJSON appends the value of the stats event's "stats" key.
func (s *Stats) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = uintField(b, "packets", s.Packets)
	b = uintField(b, "bytes", s.Bytes)
	b = uintField(b, "undecodable", s.Undecodable)
	b = uintField(b, "flows", s.Flows)
	b = uintField(b, "flows_ignored", s.FlowsIgnored)
	b = uintField(b, "evictions", s.Evictions)
	b = append(b, `,"drops":{`...)
	b = uintField(b, "gaps", s.DroppedSegments)
	b = uintField(b, "bytes", s.DroppedBytes)
	b = uintField(b, "kernel", s.KernelDrops)
	b = append(b, `},"decode_errors":{`...)
	b = uintField(b, "modbus", s.Modbus.DecodeErrors)
	b = uintField(b, "opcua", s.OPCUA.DecodeErrors)
	b = append(b, '}')
	b = uintField(b, "recovered_panics", s.RecoveredPanics)
	b = append(b, `,"modbus":`...)
	b = s.Modbus.appendJSON(b)
	b = append(b, `,"opcua":`...)
	b = s.OPCUA.appendJSON(b)
	b = uintField(b, "events", s.Events)
	b = uintField(b, "alerts", s.Alerts)
	b = uintField(b, "anomalies", s.Anomaly)
	return append(b, '}')
}

func (p *ProtoStats) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = uintField(b, "flows", p.Flows)
	b = uintField(b, "transactions", p.Transactions)
	b = uintField(b, "timeouts", p.Timeouts)
	b = uintField(b, "non_protocol_flows", p.NonProtocol)
	b = uintField(b, "gaps", p.Gaps)
	b = uintField(b, "pending_dropped", p.PendingDropped)
	return append(b, '}')
}

// uintField appends "k":v to an object being written, after a comma unless
// it is the object's first member.
func uintField(b []byte, k string, v uint64) []byte {
	if b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = jsonw.Key(b, k)
	return jsonw.Uint(b, v)
}
