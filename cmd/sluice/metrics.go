package main

import (
	"context"
	"io"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/metrics"
)

// metricsServer is the --metrics endpoint of a command that runs an agent
// (monitor, demo): it wraps the agent's output and capture source so the
// agent itself needs no hook.
type metricsServer struct {
	m *metrics.Metrics
}

// startMetrics serves /metrics and /healthz on addr until ctx ends. A bad
// or busy address is an error at start-up, not later.
func startMetrics(ctx context.Context, addr string) (*metricsServer, error) {
	m := metrics.New()
	if _, _, err := m.Serve(ctx, addr); err != nil {
		return nil, err
	}
	return &metricsServer{m: m}, nil
}

// tapOutput counts the events written to w.
func (s *metricsServer) tapOutput(w io.Writer) io.Writer { return s.m.EventTap(w) }

// source publishes a's counters from the goroutine that runs a (the one
// calling Next) and gives the endpoint a's baseline.
func (s *metricsServer) source(src capture.Source, a *agent.Agent) capture.Source {
	s.m.SetBaseline(a.BaselineSnapshot, 0)
	return s.m.Source(src, func() metrics.Stats { return metricsStats(a.Stats()) })
}

// setHealth reports a fatal run error on /healthz.
func (s *metricsServer) setHealth(err error) { s.m.SetHealth(err) }

// metricsStats converts the agent's counters.
func metricsStats(st agent.Stats) metrics.Stats {
	p := func(ps agent.ProtoStats) metrics.ProtoStats {
		return metrics.ProtoStats{Flows: ps.Flows, Transactions: ps.Transactions, Timeouts: ps.Timeouts,
			DecodeErrors: ps.DecodeErrors, NonProtocol: ps.NonProtocol, Gaps: ps.Gaps, PendingDropped: ps.PendingDropped}
	}
	return metrics.Stats{
		Packets: st.Packets, Bytes: st.Bytes, Undecodable: st.Undecodable,
		Flows: st.Flows, FlowsIgnored: st.FlowsIgnored, Evictions: st.Evictions,
		DroppedSegments: st.DroppedSegments, DroppedBytes: st.DroppedBytes, KernelDrops: st.KernelDrops,
		RecoveredPanics: st.RecoveredPanics, Events: st.Events, Alerts: st.Alerts, Anomalies: st.Anomaly,
		Protocols: map[string]metrics.ProtoStats{"modbus": p(st.Modbus), "opcua": p(st.OPCUA)},
	}
}
