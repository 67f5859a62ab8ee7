package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/report"
	"github.com/sluice-ics/sluice/simulator"
)

func init() {
	register(command{
		name:    "demo",
		summary: "run Sluice live against the embedded dam simulator: learn, attack, alert, report",
		run:     runDemo,
	})
}

const demoHelp = `
Demo shows Sluice working in a few minutes with nothing but this binary. It
starts the dam simulator (a Modbus/TCP PLC and an OPC UA server with a normal
HMI and historian) on loopback, captures on the loopback interface live, as
'sluice monitor' does on a span port, learns what normal looks like for
--learn-for, then plays a sequence of attacks: a rogue master, an unexpected
write, an out-of-range setpoint, diagnostics, reconnaissance, a write flood,
malformed traffic and OPC UA attacks. Each alert is printed as one line while
the EVE JSON goes to --eve; at the end the auditor's report is written to
--report and a summary table shows, per attack, the rules expected and caught.

Live capture needs CAP_NET_RAW (root, or 'setcap cap_net_raw+ep'). Without
it the demo says so and uses its in-process tap instead: the simulator
generates the same traffic, from the same servers and clients, in simulated
time straight into the pipeline.

It finishes by itself in under three minutes; --forever keeps monitoring
(and the simulator serving: point mbpoll or an OPC UA client at it and watch
the alerts) until Ctrl-C, then writes the report.

Examples:
  sluice demo
  sluice demo --learn-for 45s --report /tmp/dam.html
  sluice demo --forever --metrics 127.0.0.1:9477
`

// demoScenarios are the attacks the demo plays, in order. poll_stop is left
// out: its point is minutes of silence, longer than the whole demo.
var demoScenarios = []string{
	"rogue_master", "unexpected_write", "out_of_range_setpoint", "diagnostics", "recon",
	"write_flood", "malformed", "opcua_new_client", "opcua_anonymous_write", "opcua_security_downgrade",
}

type demoOptions struct {
	learnFor   time.Duration
	forever    bool
	eve        string
	reportPath string
	db         string
	iface      string
	seed       uint64
	scenarios  []string
	inProcess  bool
	metrics    string
	stdout     io.Writer
	stderr     io.Writer
}

func runDemo(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	o := demoOptions{stdout: os.Stdout, stderr: os.Stderr}
	fs.DurationVar(&o.learnFor, "learn-for", 30*time.Second, "how long each device learns before it is judged")
	fs.BoolVar(&o.forever, "forever", false, "after the attacks, keep monitoring until Ctrl-C, then write the report")
	fs.StringVar(&o.eve, "eve", "sluice-demo-eve.json", "write the EVE JSON events to `FILE`")
	fs.StringVar(&o.reportPath, "report", "sluice-report.html", "write the HTML report to `FILE`")
	fs.StringVar(&o.db, "db", "", "also keep the baseline in this bbolt `FILE` (default: in memory)")
	fs.StringVar(&o.iface, "iface", "lo", "loopback interface `NAME` to capture on")
	fs.Uint64Var(&o.seed, "seed", 1, "simulator seed")
	scen := fs.String("scenarios", strings.Join(demoScenarios, ","), "comma-separated attack `SCENARIOS` to play ('sluice sim scenarios' lists them)")
	fs.BoolVar(&o.inProcess, "in-process", false, "use the in-process tap even when live capture is possible")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus /metrics and /healthz on `ADDR` (e.g. 127.0.0.1:9477)")
	fs.Usage = flagUsage(fs, "sluice demo [--learn-for 30s] [--forever]", demoHelp)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCode(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(os.Stderr, "sluice demo: unexpected argument %q (sluice demo --help)\n", rest[0])
		return 2
	}
	if o.learnFor < 5*time.Second {
		fmt.Fprintln(os.Stderr, "sluice demo: --learn-for must be at least 5s (the HMI polls every 1-5 s)")
		return 2
	}
	for _, s := range strings.Split(*scen, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if _, err := simulator.ScenarioByName(s); err != nil || s == "normal" {
			fmt.Fprintf(os.Stderr, "sluice demo: --scenarios: unknown attack scenario %q\n", s)
			return 2
		}
		o.scenarios = append(o.scenarios, s)
	}
	if err := demo(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "sluice demo: %v\n", err)
		return 1
	}
	return 0
}

// scenarioGap is the pause between two attacks: longer than the summary's
// grace, so each alert belongs to one attack's window.
const scenarioGap = 4 * time.Second

// demoRun is the state of one demo: the agent, what it alerted and what
// was played.
type demoRun struct {
	o      demoOptions
	agent  *agent.Agent
	tap    *alertTap
	played []playedAttack
	start  time.Time
	// mbPort and uaPort are the live simulator's ports.
	mbPort, uaPort uint16
}

// playedAttack is one attack the demo played, with its labelled window.
type playedAttack struct {
	scenario string
	labels   []simulator.Label
	err      error
}

func demo(ctx context.Context, o demoOptions) error {
	// The OPC UA server library logs its start-up through the standard
	// logger; the demo's screen is for alerts.
	log.SetOutput(io.Discard)
	eveFile, err := os.OpenFile(o.eve, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("opening --eve: %w", err)
	}
	defer eveFile.Close()
	d := &demoRun{o: o, tap: newAlertTap(o.stdout), start: time.Now()}
	var metrics *metricsServer
	if o.metrics != "" {
		if metrics, err = startMetrics(ctx, o.metrics); err != nil {
			return err
		}
		fmt.Fprintf(o.stdout, "metrics on http://%s/metrics\n", o.metrics)
	}
	eve := agent.NewEVE(eveFile, agent.EventsAll).Locked() // flushed from another goroutine when live
	out := []agent.Sink{eve, d.tap}
	if metrics != nil {
		out = append(out, metrics.sink(eve.Accepts))
	}
	// Live when possible; the in-process tap otherwise.
	var live *capture.Live
	if !o.inProcess {
		if d.mbPort, err = freeLoopbackPort(); err == nil {
			d.uaPort, err = freeLoopbackPort()
		}
		if err != nil {
			return err
		}
		live, err = openDemoLive(o.iface, d.mbPort, d.uaPort)
		if err != nil {
			fmt.Fprintf(o.stderr, "\nNote: cannot capture live on %q: %v\n", o.iface, err)
			if isPermission(err) {
				fmt.Fprintf(o.stderr, "Live capture needs CAP_NET_RAW: run as root, or grant it once with\n"+
					"  sudo setcap cap_net_raw+ep %s\n", selfPath())
			}
			fmt.Fprintf(o.stderr, "Continuing with the in-process tap: the simulator generates the same traffic\n"+
				"in simulated time and feeds it straight into the pipeline.\n\n")
		}
	}
	var runErr error
	if live != nil {
		runErr = d.runLive(ctx, live, out, metrics)
	} else {
		runErr = d.runInProcess(ctx, out, metrics)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	if err := d.agent.Close(); err != nil {
		return err
	}
	snap := d.agent.BaselineSnapshot()
	r, err := report.Build(snap, report.Options{Title: "Sluice demo: dam simulator baseline", Generated: time.Now(),
		Database: o.db, Sources: []string{d.sourceName(live != nil)}})
	if err != nil {
		return err
	}
	if err := writeReportFile(o.reportPath, func(w io.Writer) error { return r.WriteHTML(w) }); err != nil {
		return err
	}
	d.summary(snap)
	abs, _ := filepath.Abs(o.reportPath)
	eveAbs, _ := filepath.Abs(o.eve)
	fmt.Fprintf(o.stdout, "\nEVE JSON events: %s\nReport:          %s\n", eveAbs, abs)
	return nil
}

func (d *demoRun) sourceName(live bool) string {
	if live {
		return "live capture on " + d.o.iface + " (sluice demo, simulator on loopback)"
	}
	return "in-process tap (sluice demo, simulator in simulated time)"
}

// selfPath is the path of this binary, for the setcap hint.
func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return "bin/sluice"
	}
	return p
}

// openDemoLive opens the loopback capture, keeping TCP on the simulator's
// two ports (capture.OpenLive keeps only the arriving copy of each loopback
// frame).
func openDemoLive(iface string, mbPort, uaPort uint16) (*capture.Live, error) {
	return capture.OpenLive(iface, capture.LiveOptions{Ports: []uint16{mbPort, uaPort}, NoPromiscuous: true, RingMiB: 8})
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

func (d *demoRun) newAgent(out []agent.Sink, mbPort, uaPort uint16) error {
	cfg := agent.DefaultConfig(nil)
	cfg.Sinks = out
	cfg.Ports = map[string][]uint16{"modbus": {mbPort}, "opcua": {uaPort}}
	cfg.Mode = agent.ModeAuto
	cfg.LearnFor = d.o.learnFor
	cfg.AlertEvery = 30 * time.Second
	cfg.DBPath = d.o.db
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	d.agent = a
	return nil
}

// runLive is the demo proper: simulator on loopback, live capture, attacks
// played live.
func (d *demoRun) runLive(ctx context.Context, live *capture.Live, out []agent.Sink, m *metricsServer) error {
	o := d.o
	mbPort, uaPort := d.mbPort, d.uaPort
	if err := d.newAgent(out, mbPort, uaPort); err != nil {
		live.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The capture first, so the first handshakes are seen.
	d.agent.FlushEvery(ctx, 200*time.Millisecond)
	var src capture.Source = live
	if m != nil {
		src = m.source(src, d.agent)
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
			Seed:          o.seed,
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
			simulator.Play(simCtx, simulator.PlayConfig{Scenario: "normal", Modbus: ep.Modbus, OPCUA: ep.OPCUA,
				Seed: o.seed, Duration: time.Hour, Normal: true})
			if simCtx.Err() != nil || !o.forever {
				return
			}
		}
	}()
	fmt.Fprintf(o.stdout, "Sluice demo: dam simulator on loopback, captured live on %s\n", o.iface)
	fmt.Fprintf(o.stdout, "  PLC (Modbus/TCP, units 1 and 2)  %s\n  OPC UA server                   %s\n", ep.Modbus, ep.OPCUA)
	fmt.Fprintf(o.stdout, "  normal operation: HMI polls every 1 s and 5 s, historian reads over OPC UA, operator setpoints\n\n")

	// Learn.
	fmt.Fprintf(o.stdout, "Learning what normal looks like for %s…\n", o.learnFor)
	go func() {
		// The simulator's operator moves the gates every 6-9 minutes,
		// after a short learning window; here the operator does it once
		// inside the window so the setpoints' normal range is learned.
		if sleepCtx(simCtx, o.learnFor/3) != nil {
			return
		}
		if err := operatorMovesGates(simCtx, ep.Modbus); err != nil {
			fmt.Fprintf(o.stderr, "  (operator: %v)\n", err)
			return
		}
		fmt.Fprintf(o.stdout, "  operator moves both spillway gates through 15 %%, 12.5 %% and 17.5 %% from the HMI\n")
	}()
	if err := d.learn(ctx, runDone); err != nil {
		return err
	}
	// Attack.
	fmt.Fprintf(o.stdout, "\nPlaying %d attack scenarios; each alert is one line (EVE JSON in %s):\n", len(o.scenarios), o.eve)
	for _, name := range o.scenarios {
		sc, _ := simulator.ScenarioByName(name)
		fmt.Fprintf(o.stdout, "\n▶ %s: %s\n", name, sc.Description)
		labels, err := simulator.Play(ctx, simulator.PlayConfig{Scenario: name, Modbus: ep.Modbus, OPCUA: ep.OPCUA,
			Seed: o.seed, Duration: 2 * time.Minute, AttackAt: 0, Normal: false})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.played = append(d.played, playedAttack{scenario: name, labels: labels, err: err})
		if err != nil {
			fmt.Fprintf(o.stdout, "  (scenario error: %v)\n", err)
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
	if o.forever {
		fmt.Fprintf(o.stdout, "\n--forever: still monitoring. Try a write of your own:\n"+
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
func (d *demoRun) learn(ctx context.Context, runDone <-chan error) error {
	start := time.Now()
	end := start.Add(d.o.learnFor + time.Second)
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
			fmt.Fprintf(d.o.stdout, "  %3.0f s: %d devices, %d channels, %d baseline items\n",
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

// runInProcess is the fallback without capture permission: each scenario's
// traffic comes from the simulator's capture generator (the same servers and
// clients, in simulated time) and goes straight into one agent, one scenario
// after the other on one continuous clock.
func (d *demoRun) runInProcess(ctx context.Context, out []agent.Sink, m *metricsServer) error {
	o := d.o
	// Simulated time costs nothing, so the devices learn for long enough
	// to see the operator move the gates (every 6-9 minutes, the first
	// time 2-4 minutes in): the first capture is that long, the others
	// are short attack captures on the same clock.
	d.o.learnFor = max(o.learnFor, inProcessLearn)
	if err := d.newAgent(out, simulator.PortModbus, simulator.PortOPCUA); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "Sluice demo (in-process tap): dam simulator in simulated time\n")
	fmt.Fprintf(o.stdout, "Learning for %s of simulated time…\n", d.o.learnFor)
	var offset time.Duration
	for i, name := range o.scenarios {
		sc, _ := simulator.ScenarioByName(name)
		// Attacks start 60 % into a capture (simulator.attackStart).
		per := 90 * time.Second
		if i == 0 {
			per = (d.o.learnFor + 30*time.Second) * 10 / 6
		}
		fmt.Fprintf(o.stdout, "\n▶ %s: %s\n", name, sc.Description)
		pcap, labels, err := simulator.Capture(ctx, simulator.CaptureConfig{Scenario: name, Duration: per, Seed: o.seed + uint64(i)})
		if err != nil {
			return fmt.Errorf("simulator: %s: %w", name, err)
		}
		f, err := capture.NewReader(bytes.NewReader(pcap), name+".pcap", int64(len(pcap)))
		if err != nil {
			return err
		}
		var src capture.Source = &shiftSource{Source: f, by: offset}
		if m != nil {
			src = m.source(src, d.agent)
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

// summary prints the alerts by rule and, per attack, what was expected and
// caught.
func (d *demoRun) summary(snap *baselines.Snapshot) {
	w := d.o.stdout
	alerts := d.tap.all()
	fmt.Fprintf(w, "\n══ Summary ══\n")
	fmt.Fprintf(w, "%d devices, %d channels learned; %d alerts\n\n", len(snap.Devices), len(snap.Channels), len(alerts))

	// Which alerts fall inside an attack's window (with grace for alerts
	// raised by time, and for the network). The demo leaves
	// scenarioGap between attacks, so windows do not overlap.
	const grace = 3 * time.Second
	inWindow := func(a demoAlert) bool {
		for _, p := range d.played {
			for _, l := range p.labels {
				if !a.time.Before(l.Start.Add(-time.Second)) && !a.time.After(l.End.Add(grace)) {
					return true
				}
			}
		}
		return false
	}
	byRule := map[string][2]int{} // in attack windows, outside
	for _, a := range alerts {
		c := byRule[a.rule]
		if inWindow(a) {
			c[0]++
		} else {
			c[1]++
		}
		byRule[a.rule] = c
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RULE\tALERTS\tDURING ATTACKS\tOTHERWISE\n")
	rules := make([]string, 0, len(byRule))
	for r := range byRule {
		rules = append(rules, r)
	}
	slices.Sort(rules)
	for _, r := range rules {
		c := byRule[r]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", r, c[0]+c[1], c[0], c[1])
	}
	if len(rules) == 0 {
		fmt.Fprintf(tw, "(none)\t0\t0\t0\n")
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ATTACK\tRESULT\tCAUGHT WITH (expected rules)\tALSO ALERTED\n")
	caughtAll := 0
	for _, p := range d.played {
		var expected, caught, also []string
		for _, l := range p.labels {
			for _, r := range l.ExpectedRules {
				if !slices.Contains(expected, r) {
					expected = append(expected, r)
				}
			}
			for _, a := range alerts {
				if a.time.Before(l.Start.Add(-time.Second)) || a.time.After(l.End.Add(grace)) {
					continue
				}
				switch {
				case slices.Contains(l.ExpectedRules, a.rule):
					if !slices.Contains(caught, a.rule) {
						caught = append(caught, a.rule)
					}
				case !slices.Contains(also, a.rule):
					also = append(also, a.rule)
				}
			}
		}
		slices.Sort(expected)
		slices.Sort(caught)
		slices.Sort(also)
		result, with := "caught", strings.Join(caught, ", ")
		switch {
		case p.err != nil && len(p.labels) == 0:
			result, with = "NOT PLAYED", p.err.Error()
		case len(caught) == 0:
			result, with = "MISSED", "expected one of: "+strings.Join(expected, ", ")
		default:
			caughtAll++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.scenario, result, with, orDash(strings.Join(also, ", ")))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d of %d attacks caught with an expected rule.\n", caughtAll, len(d.played))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// demoAlert is what the demo keeps of an alert event.
type demoAlert struct {
	time      time.Time
	rule      string
	severity  int
	signature string
	src, dest string
}

// alertTap is the agent's console sink: it prints each alert as one line
// and keeps it for the summary.
type alertTap struct {
	mu     sync.Mutex
	w      io.Writer
	alerts []demoAlert
}

func newAlertTap(w io.Writer) *alertTap { return &alertTap{w: w} }

func (t *alertTap) Accepts(typ string) bool { return typ == agent.EventAlert }
func (t *alertTap) Flush() error            { return nil }

// Critical implements agent.Sink: the EVE file is the record, the console
// only shows it.
func (t *alertTap) Critical() bool { return false }

// Write prints one alert.
func (t *alertTap) Write(r *agent.Record) error {
	al := r.Alert
	if al == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a := demoAlert{time: r.Time, rule: al.Rule.String(), severity: int(al.Severity), signature: al.Signature,
		src: hostPort(r.Flow.Src), dest: hostPort(r.Flow.Dest)}
	t.alerts = append(t.alerts, a)
	sev := [...]string{"", "HIGH", "MED ", "LOW "}[min(max(a.severity, 0), 3)]
	if al.Resolved {
		sev = "OK  "
	}
	count := ""
	if al.Count > 1 {
		count = fmt.Sprintf(" (×%d)", al.Count)
	}
	fmt.Fprintf(t.w, "  %s %s %-26s %s → %s  %s%s\n", a.time.Local().Format("15:04:05.000"), sev, a.rule,
		a.src, a.dest, printable(a.signature), count)
	return nil
}

func (t *alertTap) all() []demoAlert {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.alerts)
}

func hostPort(a netip.AddrPort) string {
	if !a.Addr().IsValid() {
		return "?"
	}
	if a.Port() == 0 {
		return a.Addr().String()
	}
	return a.String()
}

// printable makes network text safe for a terminal: control characters
// (escape sequences could rewrite the screen) are shown as \u escapes.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) || r == ' ' {
			return r
		}
		return '\uFFFD'
	}, s)
}

// isPermission reports whether err is a lack of capture permission.
func isPermission(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission)
}
