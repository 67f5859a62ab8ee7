package agent

import (
	"github.com/sluice-ics/sluice/baselines/store"
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
	// CaptureLoss counts requests emitted without their response because
	// the capture lost bytes the server sent while they waited (the
	// response was probably in them): not counted in Timeouts. In the
	// stats event only when not zero.
	CaptureLoss uint64
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
	// ResourceLimited counts what was refused to respect a memory cap
	// shared by the protocol's connections (unfinished OPC UA messages);
	// in the stats event only when not zero.
	ResourceLimited uint64
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
	// Datagrams counts the UDP, ICMP and other conversations that are
	// not TCP (issue #11 §2); DatagramEvictions those evicted to respect
	// their cap.
	Datagrams         uint64
	DatagramEvictions uint64
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
	// Protocols holds each protocol's counters, in registry order (see
	// Protocols and Protocol).
	Protocols []ProtoStats
	// Events counts events written (handed to a sink), Alerts the alerts
	// raised and Anomaly the anomalies.
	Events  uint64
	Alerts  uint64
	Anomaly uint64
	// SinkErrors counts the errors of sinks that are not critical (not in
	// the stats event: a forwarder's trouble is its own metric).
	SinkErrors uint64
	// Store is the state of the baseline database's writer (--db): the
	// last write's error, the records waiting for the store to be
	// writable again, the failed writes. Not in the stats event: the
	// monitor's health and metrics say it.
	Store store.Status
	// AlertPcap counts the alert packet files (--alert-pcap-dir); nil
	// without them, and then not in the stats event.
	AlertPcap *AlertPcapStats
}

// Protocol returns the counters of the protocol named name (zero for an
// unknown name).
func (s *Stats) Protocol(name string) ProtoStats {
	if i := moduleIndex(name); i >= 0 && i < len(s.Protocols) {
		return s.Protocols[i]
	}
	return ProtoStats{}
}

// clone returns a copy of s that shares nothing with it.
func (s Stats) clone() Stats {
	s.Protocols = append([]ProtoStats(nil), s.Protocols...)
	return s
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
	b = uintField(b, "datagram_conversations", s.Datagrams)
	b = uintField(b, "datagram_evictions", s.DatagramEvictions)
	b = append(b, `,"drops":{`...)
	b = uintField(b, "gaps", s.DroppedSegments)
	b = uintField(b, "bytes", s.DroppedBytes)
	b = uintField(b, "kernel", s.KernelDrops)
	b = append(b, `},"decode_errors":{`...)
	for i, m := range modules {
		b = uintField(b, m.name, s.Protocols[i].DecodeErrors)
	}
	b = append(b, '}')
	b = uintField(b, "recovered_panics", s.RecoveredPanics)
	for i, m := range modules {
		b = append(b, ',', '"')
		b = append(b, m.name...)
		b = append(b, '"', ':')
		b = s.Protocols[i].appendJSON(b)
	}
	b = uintField(b, "events", s.Events)
	b = uintField(b, "alerts", s.Alerts)
	b = uintField(b, "anomalies", s.Anomaly)
	if p := s.AlertPcap; p != nil {
		b = append(b, `,"alert_pcap":{`...)
		b = uintField(b, "files", p.Files)
		b = uintField(b, "bytes", p.Bytes)
		b = uintField(b, "evicted", p.Evicted)
		b = uintField(b, "dropped", p.Dropped)
		b = append(b, '}')
	}
	return append(b, '}')
}

func (p *ProtoStats) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = uintField(b, "flows", p.Flows)
	b = uintField(b, "transactions", p.Transactions)
	b = uintField(b, "timeouts", p.Timeouts)
	if p.CaptureLoss != 0 {
		b = uintField(b, "capture_loss", p.CaptureLoss)
	}
	b = uintField(b, "non_protocol_flows", p.NonProtocol)
	b = uintField(b, "gaps", p.Gaps)
	b = uintField(b, "pending_dropped", p.PendingDropped)
	if p.ResourceLimited != 0 {
		b = uintField(b, "resource_limited", p.ResourceLimited)
	}
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
