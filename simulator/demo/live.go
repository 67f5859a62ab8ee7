package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/metrics"
	"github.com/sluice-ics/sluice/simulator"
)

// scenarioGap is the pause between two attacks: longer than the summary's
// grace, so each alert belongs to one attack's window.
const scenarioGap = 4 * time.Second

// openLive opens the loopback capture, keeping TCP on the simulator's
// two ports (capture.OpenLive keeps only the arriving copy of each loopback
// frame).
func openLive(iface string, mbPort, uaPort, dnp3Port uint16) (*capture.Live, error) {
	return capture.OpenLive(iface, capture.LiveOptions{Ports: []uint16{mbPort, uaPort, dnp3Port}, NoPromiscuous: true, RingMiB: 8})
}

// freeLoopbackPort returns a TCP port free on 127.0.0.1 a moment ago.
func freeLoopbackPort() (uint16, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}

// runLive is the demo proper: simulator on loopback, live capture, attacks
// played live.
func (d *run) runLive(ctx context.Context, live *capture.Live, out []agent.Sink, m *metrics.Metrics) error {
	o := d.o
	mbPort, uaPort := d.mbPort, d.uaPort
	if err := d.newAgent(out, mbPort, uaPort, d.dnp3Port); err != nil {
		live.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The capture first, so the first handshakes are seen.
	d.agent.FlushEvery(ctx, 200*time.Millisecond)
	var src capture.Source = live
	if m != nil {
		src = m.AgentSource(src, d.agent)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- d.agent.Run(ctx, src) }()
	go func() {
		<-ctx.Done()
		live.Close() // makes a blocked Next return
	}()

	ready := make(chan simulator.Endpoints, 1)
	simErr := make(chan error, 1)
	simCtx, simCancel := context.WithCancel(ctx)
	defer simCancel()
	go func() {
		simErr <- simulator.Serve(simCtx, simulator.Config{
			ModbusAddr:    "127.0.0.1:" + strconv.Itoa(int(mbPort)),
			OPCUAEndpoint: "opc.tcp://127.0.0.1:" + strconv.Itoa(int(uaPort)),
			DNP3Addr:      "127.0.0.1:" + strconv.Itoa(int(d.dnp3Port)),
			Seed:          o.Seed,
			Ready:         func(ep simulator.Endpoints) { ready <- ep },
		})
	}()
	var ep simulator.Endpoints
	select {
	case ep = <-ready:
	case err := <-simErr:
		return fmt.Errorf("simulator: %w", err)
	case <-time.After(15 * time.Second):
		return errors.New("simulator did not start within 15 s")
	case <-ctx.Done():
		return ctx.Err()
	}
	// Normal operation runs in the background for the whole demo (an hour
	// at a time with --forever).
	go func() {
		for {
			simulator.Play(simCtx, simulator.PlayConfig{Scenario: "normal", Modbus: ep.Modbus, OPCUA: ep.OPCUA, DNP3: ep.DNP3,
				Seed: o.Seed, Duration: time.Hour, Normal: true})
			if simCtx.Err() != nil || !o.Forever {
				return
			}
		}
	}()
	fmt.Fprintf(o.Stdout, "Sluice demo: dam simulator on loopback, captured live on %s\n", o.Iface)
	fmt.Fprintf(o.Stdout, "  PLC (Modbus/TCP, units 1 and 2)  %s\n  OPC UA server                   %s\n  gate RTU (DNP3 outstation 10)    %s\n",
		ep.Modbus, ep.OPCUA, ep.DNP3)
	fmt.Fprintf(o.Stdout, "  normal operation: HMI polls every 1 s and 5 s, historian reads over OPC UA, operator setpoints\n\n")

	// Learn.
	fmt.Fprintf(o.Stdout, "Learning what normal looks like for %s…\n", o.LearnFor)
	go func() {
		// The simulator's operator moves the gates every 6-9 minutes,
		// after a short learning window; here the operator does it once
		// inside the window so the setpoints' normal range is learned.
		if sleepCtx(simCtx, o.LearnFor/3) != nil {
			return
		}
		if err := operatorMovesGates(simCtx, ep.Modbus); err != nil {
			fmt.Fprintf(o.Stderr, "  (operator: %v)\n", err)
			return
		}
		fmt.Fprintf(o.Stdout, "  operator moves both spillway gates through 15 %%, 12.5 %% and 17.5 %% from the HMI\n")
		if err := simulator.OperatorSetsRelease(simCtx, ep.DNP3); err != nil {
			fmt.Fprintf(o.Stderr, "  (operator: %v)\n", err)
			return
		}
		fmt.Fprintf(o.Stdout, "  operator sets the ecological release through 2.5, 2 and 3 m3/s over DNP3 and acknowledges the alarms\n")
	}()
	if err := d.learn(ctx, runDone); err != nil {
		return err
	}
	// Attack.
	fmt.Fprintf(o.Stdout, "\nPlaying %d attack scenarios; each alert is one line (EVE JSON in %s):\n", len(o.Scenarios), o.EVE)
	for _, name := range o.Scenarios {
		sc, _ := simulator.ScenarioByName(name)
		fmt.Fprintf(o.Stdout, "\n▶ %s: %s\n", name, sc.Description)
		if sc.CaptureOnly() {
			// Nothing listens for SMB, RDP or Telnet on loopback: the
			// IT side exists in captures only.
			fmt.Fprintf(o.Stdout, "  (not played live: the simulator synthesizes the IT side in captures only; sluice demo --in-process plays it)\n")
			continue
		}
		labels, err := simulator.Play(ctx, simulator.PlayConfig{Scenario: name, Modbus: ep.Modbus, OPCUA: ep.OPCUA, DNP3: ep.DNP3,
			Seed: o.Seed, Duration: 2 * time.Minute, AttackAt: 0, Normal: false})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.played = append(d.played, playedAttack{scenario: name, labels: labels, err: err})
		if err != nil {
			fmt.Fprintf(o.Stdout, "  (scenario error: %v)\n", err)
		}
		// A label's window may last past the attack's last step (the
		// HMI reconnecting after a restart): let it end before the next.
		var end time.Time
		for _, l := range labels {
			if l.End.After(end) {
				end = l.End
			}
		}
		if err := sleepCtx(ctx, max(time.Until(end), 0)+scenarioGap); err != nil {
			return err
		}
	}
	if o.Forever {
		fmt.Fprintf(o.Stdout, "\n--forever: still monitoring. Try a write of your own:\n"+
			"  mbpoll -m tcp -p %s -a 1 -t 4 -r 1 127.0.0.1 250\n"+
			"Ctrl-C writes the report and exits.\n", portOf(ep.Modbus))
		select {
		case <-ctx.Done():
		case err := <-runDone:
			return err
		}
	} else if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	simCancel()
	cancel()
	if err := <-runDone; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// operatorMovesGates writes the two spillway gate setpoints through the
// operator's normal values from the HMI, as the simulator's operator does
// (Modbus Application Protocol v1.1b3, 6.6: FC 6 Write Single Register,
// echoed by the server). Live, the simulator's HMI (a simonvetter/modbus
// client, which cannot choose its source address) talks from 127.0.0.1,
// the default source towards 127.0.0.1: so does this.
func operatorMovesGates(ctx context.Context, mbAddr string) error {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", mbAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	g1, g2 := simulator.TagByName("Dam.Spillway1.Setpoint"), simulator.TagByName("Dam.Spillway2.Setpoint")
	if g1 == nil || g2 == nil {
		return errors.New("gate setpoint tags not in the simulator's tag table")
	}
	tid := uint16(0x4000)
	for _, v := range []float64{15, 12.5, 17.5} {
		for _, g := range []*simulator.Tag{g1, g2} {
			tid++
			raw := g.Raw(v)
			// MBAP: transaction id, protocol 0, length 6, unit; PDU: FC 6,
			// address, value.
			req := []byte{byte(tid >> 8), byte(tid), 0, 0, 0, 6, g.UnitID, 6,
				byte(g.Addr >> 8), byte(g.Addr), byte(raw >> 8), byte(raw)}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(req); err != nil {
				return err
			}
			resp := make([]byte, len(req))
			if _, err := io.ReadFull(c, resp); err != nil {
				return err
			}
			if !bytes.Equal(resp, req) {
				return fmt.Errorf("write %s = %g: unexpected response % x", g.Name, v, resp)
			}
			if err := sleepCtx(ctx, 300*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

func portOf(hostport string) string {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return p
}

// learn waits for the learning window, showing what is being learned.
func (d *run) learn(ctx context.Context, runDone <-chan error) error {
	start := time.Now()
	end := start.Add(d.o.LearnFor + time.Second)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-runDone:
			if err == nil {
				err = errors.New("capture ended")
			}
			return err
		case <-t.C:
			s := d.agent.BaselineSnapshot()
			items := 0
			for _, c := range s.Channels {
				items += len(c.Items())
			}
			fmt.Fprintf(d.o.Stdout, "  %3.0f s: %d devices, %d channels, %d baseline items\n",
				time.Since(start).Seconds(), len(s.Devices), len(s.Channels), items)
		case <-time.After(time.Until(end)):
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
