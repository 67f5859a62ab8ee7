package metrics

import (
	"context"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
)

// This file is the glue between the endpoint and a running agent, shared by
// the commands that run one (`sluice monitor`, `sluice demo`): the agent
// itself needs no hook, its capture source and its sinks are wrapped.

// Start returns a registry served on addr (/metrics and /healthz) until ctx
// ends. A bad or busy address is an error at start-up, not later.
func Start(ctx context.Context, addr string) (*Metrics, error) {
	m := New()
	if _, _, err := m.Serve(ctx, addr); err != nil {
		return nil, err
	}
	return m, nil
}

// AgentSource wraps a's capture source: a's counters are published from
// the goroutine that runs a (the one calling Next), and the endpoint gets
// a's baseline. A live source's kernel drop count is read at each
// publication: the agent learns it only at the end of the run, and a span
// port that overflows the ring is what the metric is for.
func (m *Metrics) AgentSource(src capture.Source, a *agent.Agent) capture.Source {
	m.SetBaseline(a.BaselineSnapshot, 0)
	live, _ := src.(liveStats)
	return m.Source(src, func() Stats {
		st := AgentStats(a.Stats())
		if live != nil {
			if ls, err := live.Stats(); err == nil && ls.KernelDrops > st.KernelDrops {
				st.KernelDrops = ls.KernelDrops
			}
		}
		return st
	})
}

// liveStats is implemented by capture.Live (safe to call while Next runs).
type liveStats interface {
	Stats() (capture.LiveStats, error)
}

// AgentStats converts the agent's counters, with one ProtoStats per
// protocol of agent.Protocols.
func AgentStats(st agent.Stats) Stats {
	protos := make(map[string]ProtoStats, len(st.Protocols))
	for _, info := range agent.Protocols() {
		ps := st.Protocol(info.Name)
		protos[info.Name] = ProtoStats{Flows: ps.Flows, Transactions: ps.Transactions, Timeouts: ps.Timeouts, CaptureLoss: ps.CaptureLoss,
			DecodeErrors: ps.DecodeErrors, NonProtocol: ps.NonProtocol, Gaps: ps.Gaps, PendingDropped: ps.PendingDropped}
	}
	return Stats{
		Packets: st.Packets, Bytes: st.Bytes, Undecodable: st.Undecodable,
		Flows: st.Flows, FlowsIgnored: st.FlowsIgnored, Evictions: st.Evictions,
		DroppedSegments: st.DroppedSegments, DroppedBytes: st.DroppedBytes, KernelDrops: st.KernelDrops,
		RecoveredPanics: st.RecoveredPanics, Events: st.Events, Alerts: st.Alerts, Anomalies: st.Anomaly,
		Protocols: protos,
		StoreErr:  st.Store.Err, StoreUnwritten: st.Store.Unwritten, StoreFailures: st.Store.Failures,
	}
}
