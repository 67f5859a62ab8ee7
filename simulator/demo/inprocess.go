package demo

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/metrics"
	"github.com/sluice-ics/sluice/simulator"
)

// runInProcess is the fallback without capture permission: each scenario's
// traffic comes from the simulator's capture generator (the same servers and
// clients, in simulated time) and goes straight into one agent, one scenario
// after the other on one continuous clock.
func (d *run) runInProcess(ctx context.Context, out []agent.Sink, m *metrics.Metrics) error {
	o := d.o
	// Simulated time costs nothing, so the devices learn for long enough
	// to see the operator move the gates (every 6-9 minutes, the first
	// time 2-4 minutes in): the first capture is that long, the others
	// are short attack captures on the same clock.
	d.o.LearnFor = max(o.LearnFor, inProcessLearn)
	if err := d.newAgent(out, simulator.PortModbus, simulator.PortOPCUA, simulator.PortDNP3); err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "Sluice demo (in-process tap): dam simulator in simulated time\n")
	fmt.Fprintf(o.Stdout, "Learning for %s of simulated time…\n", d.o.LearnFor)
	var offset time.Duration
	for i, name := range o.Scenarios {
		sc, _ := simulator.ScenarioByName(name)
		// Attacks start 60 % into a capture (simulator.attackStart).
		per := 90 * time.Second
		if i == 0 {
			per = (d.o.LearnFor + 30*time.Second) * 10 / 6
		}
		fmt.Fprintf(o.Stdout, "\n▶ %s: %s\n", name, sc.Description)
		pcap, labels, err := simulator.Capture(ctx, simulator.CaptureConfig{Scenario: name, Duration: per, Seed: o.Seed + uint64(i)})
		if err != nil {
			return fmt.Errorf("simulator: %s: %w", name, err)
		}
		f, err := capture.NewReader(bytes.NewReader(pcap), name+".pcap", int64(len(pcap)))
		if err != nil {
			return err
		}
		var src capture.Source = &shiftSource{Source: f, by: offset}
		if m != nil {
			src = m.AgentSource(src, d.agent)
		}
		err = d.agent.Run(ctx, src)
		f.Close()
		if err != nil {
			return err
		}
		for i := range labels.Attacks {
			labels.Attacks[i].Start = labels.Attacks[i].Start.Add(offset)
			labels.Attacks[i].End = labels.Attacks[i].End.Add(offset)
		}
		d.played = append(d.played, playedAttack{scenario: name, labels: labels.Attacks})
		offset += per
	}
	return nil
}

// inProcessLearn is the least learning window of the in-process demo.
const inProcessLearn = 5 * time.Minute

// shiftSource moves a capture later in time, so that several generated
// captures replay as one continuous day.
type shiftSource struct {
	capture.Source
	by time.Duration
}

func (s *shiftSource) Next() (capture.Packet, error) {
	p, err := s.Source.Next()
	p.Timestamp = p.Timestamp.Add(s.by)
	return p, err
}
