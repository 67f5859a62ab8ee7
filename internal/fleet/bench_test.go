package fleet

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/natstest"
)

// BenchmarkSensorJetStreamR3 measures the alerts per second one sensor
// delivers to a 3-node JetStream cluster on loopback with the stream
// replicated three times, end to end: written to the sink, published,
// stored on a quorum and acknowledged. The writer keeps the memory queue
// from overflowing, so nothing is spooled or dropped.
//
//	go test ./internal/fleet -run '^$' -bench JetStreamR3 -benchtime 100000x
func BenchmarkSensorJetStreamR3(b *testing.B) {
	servers := natstest.Cluster(b, 3)
	urls := natstest.URLs(servers)
	nc, err := nats.Connect(urls)
	if err != nil {
		b.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := EnsureStream(ctx, js, DefaultStream, 3)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	nc.Close()
	// A real alert line: the first of the rogue-master capture.
	var eve bytes.Buffer
	db := filepath.Join(b.TempDir(), "base.db")
	replay(b, testdata("sim_normal.pcap"), db, agent.ModeLearn, &eve, nil, nil)
	replay(b, testdata("sim_rogue_master.pcap"), db, agent.ModeMonitor, &eve, nil, nil)
	lines := alertLines(eve.Bytes())
	if len(lines) == 0 {
		b.Fatal("no alert to send")
	}
	rec := &agent.Record{Type: agent.EventAlert, Time: time.Now(), Line: lines[0]}
	s, _, err := NewSensor(SensorConfig{URL: urls, Site: "north", Sensor: "bench", Replicas: 3,
		SpoolPath: filepath.Join(b.TempDir(), "spool"), FlushTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for !s.Stats().Connected && time.Now().Before(deadline) {
		s.Write(rec) // the first messages wait for the connection
		s.Wait()
		time.Sleep(10 * time.Millisecond)
	}
	base := s.Stats().Published
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if i%1000 == 0 {
			for st := s.Stats(); st.Queued > 5_000; st = s.Stats() {
				time.Sleep(100 * time.Microsecond)
			}
		}
		s.Write(rec)
	}
	if err := s.Wait(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := s.Stats()
	if st.Published-base != uint64(b.N) || st.Dropped != 0 || st.Spooled != 0 {
		b.Fatalf("published %d of %d: %+v", st.Published-base, b.N, st)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "acked/s")
}
