package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
)

// AgentStats keys every protocol of the registry by name, in the agent's
// registry order.
func TestAgentStats(t *testing.T) {
	protos := agent.Protocols()
	st := agent.Stats{Packets: 5, KernelDrops: 2, Anomaly: 1, Protocols: make([]agent.ProtoStats, len(protos))}
	for i := range protos {
		st.Protocols[i] = agent.ProtoStats{Transactions: uint64(10 + i), Gaps: uint64(i)}
	}
	got := AgentStats(st)
	if got.Packets != 5 || got.KernelDrops != 2 || got.Anomalies != 1 || len(got.Protocols) != len(protos) {
		t.Fatalf("AgentStats = %+v", got)
	}
	for i, p := range protos {
		if ps := got.Protocols[p.Name]; ps.Transactions != uint64(10+i) || ps.Gaps != uint64(i) {
			t.Errorf("%s: %+v", p.Name, ps)
		}
	}
}

// fakeLive is a source with a live capture's kernel counters.
type fakeLive struct{ fakeSource }

func (f *fakeLive) Stats() (capture.LiveStats, error) { return capture.LiveStats{KernelDrops: 9}, nil }

// AgentSource publishes the agent's counters, with a live source's kernel
// drops (which the agent learns only at the end of a run).
func TestAgentSource(t *testing.T) {
	a, err := agent.New(agent.DefaultConfig(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	m := New()
	if err := a.Run(context.Background(), m.AgentSource(&fakeLive{fakeSource{n: 5}}, a)); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	want := []string{"sluice_packets_total 5", `sluice_drops_total{where="kernel"} 9`, "sluice_baseline_devices 0"}
	for _, p := range agent.Protocols() {
		want = append(want, `sluice_transactions_total{protocol="`+p.Name+`"} 0`)
	}
	for _, w := range want {
		if !strings.Contains(body, w+"\n") {
			t.Errorf("/metrics lacks %q", w)
		}
	}
}
