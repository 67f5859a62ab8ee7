package main

import (
	"context"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/metrics"
	"github.com/sluice-ics/sluice/internal/syslog"
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

// sink is the agent sink that counts the events an EVE output with filter
// accepts (the metrics say what was reported).
func (s *metricsServer) sink(accepts func(string) bool) agent.Sink { return s.m.Sink(accepts) }

// source publishes a's counters from the goroutine that runs a (the one
// calling Next) and gives the endpoint a's baseline.
// A live source's kernel drop count is read at each publication: the
// agent learns it only at the end of the run, and a span port that
// overflows the ring is what the metric is for.
func (s *metricsServer) source(src capture.Source, a *agent.Agent) capture.Source {
	s.m.SetBaseline(a.BaselineSnapshot, 0)
	live, _ := src.(liveStats)
	return s.m.Source(src, func() metrics.Stats {
		st := metricsStats(a.Stats())
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

// addSyslog exports the counters of the syslog destinations. Their state
// is not the monitor's health: /healthz stays ok while a collector is down.
func (s *metricsServer) addSyslog(sinks []*syslog.Sink) {
	for _, sk := range sinks {
		s.m.AddSyslog(sk.Stats().Destination, func() metrics.SyslogStats {
			st := sk.Stats()
			return metrics.SyslogStats{Sent: st.Sent, Dropped: st.Dropped, Reconnects: st.Reconnects, Queued: st.Queued, Connected: st.Connected}
		})
	}
}

// setHealth reports a fatal run error on /healthz.
func (s *metricsServer) setHealth(err error) { s.m.SetHealth(err) }

// metricsStats converts the agent's counters.
func metricsStats(st agent.Stats) metrics.Stats {
	p := func(ps agent.ProtoStats) metrics.ProtoStats {
		return metrics.ProtoStats{Flows: ps.Flows, Transactions: ps.Transactions, Timeouts: ps.Timeouts,
			DecodeErrors: ps.DecodeErrors, NonProtocol: ps.NonProtocol, Gaps: ps.Gaps, PendingDropped: ps.PendingDropped}
	}
	protos := map[string]metrics.ProtoStats{}
	for _, info := range agent.Protocols() {
		protos[info.Name] = p(st.Protocol(info.Name))
	}
	return metrics.Stats{
		Packets: st.Packets, Bytes: st.Bytes, Undecodable: st.Undecodable,
		Flows: st.Flows, FlowsIgnored: st.FlowsIgnored, Evictions: st.Evictions,
		DroppedSegments: st.DroppedSegments, DroppedBytes: st.DroppedBytes, KernelDrops: st.KernelDrops,
		RecoveredPanics: st.RecoveredPanics, Events: st.Events, Alerts: st.Alerts, Anomalies: st.Anomaly,
		Protocols: protos,
	}
}
