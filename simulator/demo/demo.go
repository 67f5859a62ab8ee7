// Package demo is `sluice demo`: Sluice working in a few minutes with
// nothing but its binary. [Run] starts the dam simulator on loopback,
// captures on the loopback interface live (or, without capture permission,
// feeds the simulator's generated captures straight into the pipeline),
// lets every device learn, plays a sequence of attacks, prints each alert as
// one line, then writes the auditor's report and prints a summary table of
// the attacks caught.
//
// The pieces, by file:
//
//   - demo.go: [Options], [Run]: the EVE file, the metrics endpoint, the
//     choice of live capture or the in-process tap, the report;
//   - live.go: the simulator served on loopback and captured live, the
//     learning phase and the attacks played in real time;
//   - inprocess.go: the in-process tap, the same scenarios in simulated
//     time on one continuous clock;
//   - console.go: the console sink that prints each alert and keeps it;
//   - summary.go: the alerts by rule and, per attack, the rules expected
//     and caught.
//
// The package sits beside the simulator because it is the simulator's
// showcase; cmd/sluice keeps only the flags.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/metrics"
	"github.com/sluice-ics/sluice/report"
	"github.com/sluice-ics/sluice/simulator"
)

// defaultScenarios are the attacks the demo plays, in order. poll_stop is
// left out: its point is minutes of silence, longer than the whole demo.
var defaultScenarios = []string{
	"rogue_master", "unexpected_write", "out_of_range_setpoint", "diagnostics", "recon",
	"write_flood", "malformed", "opcua_new_client", "opcua_anonymous_write", "opcua_security_downgrade",
	"dnp3_rogue_master", "dnp3_out_of_range_setpoint",
}

// itScenarios are the IT side's attacks (issue #11). The simulator
// synthesizes them in captures only: the in-process tap plays them, the
// live demo skips them. They join the defaults once every rule they
// expect is registered (the conversation rules land apart from them).
var itScenarios = []string{"lateral_movement", "c2_beacon", "it_port_scan", "plc_remote_shell"}

// DefaultScenarios returns the attack scenarios the demo plays by default,
// in order.
func DefaultScenarios() []string {
	out := slices.Clone(defaultScenarios)
	for _, name := range itScenarios {
		sc, err := simulator.ScenarioByName(name)
		if err == nil && !slices.ContainsFunc(sc.ExpectedRules(), func(r string) bool {
			_, ok := baselines.ParseRule(r)
			return !ok
		}) {
			out = append(out, name)
		}
	}
	return out
}

// Options are one demo's settings; `sluice demo` sets them from its flags
// and checks them.
type Options struct {
	// LearnFor is how long each device learns before it is judged; at
	// least 5 s (the HMI polls every 1-5 s). The in-process tap learns
	// for at least 5 minutes of simulated time.
	LearnFor time.Duration
	// Forever keeps monitoring after the attacks (the simulator keeps
	// serving) until ctx ends, then writes the report.
	Forever bool
	// EVE is the file the EVE JSON events are written to (truncated).
	EVE string
	// Report is the file the HTML report is written to.
	Report string
	// DB, when set, keeps the baseline in this bbolt file as well.
	DB string
	// Iface is the loopback interface captured on ("lo").
	Iface string
	// Seed is the simulator's seed.
	Seed uint64
	// Scenarios are the attack scenarios to play, in order (names from
	// simulator.Scenarios, not "normal").
	Scenarios []string
	// InProcess uses the in-process tap even when live capture is
	// possible.
	InProcess bool
	// Metrics, when set, serves Prometheus /metrics and /healthz on this
	// address.
	Metrics string
	// Stdout receives the demo's screen (the alerts, the summary); Stderr
	// its notes and warnings. Nil means os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
}

// Run runs one demo until its attacks are played (with Forever, until ctx
// ends), then writes the report and prints the summary. An unknown scenario
// is an error before anything starts. Run discards the standard logger's
// output: the OPC UA server library logs its start-up through it, and the
// demo's screen is for alerts.
func Run(ctx context.Context, o Options) error {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	for _, name := range o.Scenarios {
		if _, err := simulator.ScenarioByName(name); err != nil {
			return err
		}
	}
	log.SetOutput(io.Discard)
	eveFile, err := os.OpenFile(o.EVE, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("opening --eve: %w", err)
	}
	defer eveFile.Close()
	d := &run{o: o, tap: newAlertTap(o.Stdout)}
	var m *metrics.Metrics
	if o.Metrics != "" {
		if m, err = metrics.Start(ctx, o.Metrics); err != nil {
			return err
		}
		fmt.Fprintf(o.Stdout, "metrics on http://%s/metrics\n", o.Metrics)
	}
	eve := agent.NewEVE(eveFile, agent.EventsAll).Locked() // flushed from another goroutine when live
	out := []agent.Sink{eve, d.tap}
	if m != nil {
		out = append(out, m.Sink(eve.Accepts))
	}
	// Live when possible; the in-process tap otherwise.
	var live *capture.Live
	if !o.InProcess {
		if d.mbPort, err = freeLoopbackPort(); err == nil {
			if d.uaPort, err = freeLoopbackPort(); err == nil {
				d.dnp3Port, err = freeLoopbackPort()
			}
		}
		if err != nil {
			return err
		}
		live, err = openLive(o.Iface, d.mbPort, d.uaPort, d.dnp3Port)
		if err != nil {
			fmt.Fprintf(o.Stderr, "\nNote: cannot capture live on %q: %v\n", o.Iface, err)
			if isPermission(err) {
				fmt.Fprintf(o.Stderr, "Live capture needs CAP_NET_RAW: run as root, or grant it once with\n"+
					"  sudo setcap cap_net_raw+ep %s\n", selfPath())
			}
			fmt.Fprintf(o.Stderr, "Continuing with the in-process tap: the simulator generates the same traffic\n"+
				"in simulated time and feeds it straight into the pipeline.\n\n")
		}
	}
	var runErr error
	if live != nil {
		runErr = d.runLive(ctx, live, out, m)
	} else {
		runErr = d.runInProcess(ctx, out, m)
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	if err := d.agent.Close(); err != nil {
		return err
	}
	snap := d.agent.BaselineSnapshot()
	r, err := report.Build(snap, report.Options{Title: "Sluice demo: dam simulator baseline", Generated: time.Now(),
		Database: o.DB, Sources: []string{d.sourceName(live != nil)}})
	if err != nil {
		return err
	}
	if err := r.WriteFile(o.Report, report.HTML); err != nil {
		return err
	}
	d.summary(snap)
	abs, _ := filepath.Abs(o.Report)
	eveAbs, _ := filepath.Abs(o.EVE)
	fmt.Fprintf(o.Stdout, "\nEVE JSON events: %s\nReport:          %s\n", eveAbs, abs)
	return nil
}

// run is the state of one demo: the agent, what it alerted and what was
// played.
type run struct {
	o      Options
	agent  *agent.Agent
	tap    *alertTap
	played []playedAttack
	// mbPort, uaPort and dnp3Port are the live simulator's ports.
	mbPort, uaPort, dnp3Port uint16
}

// playedAttack is one attack the demo played, with its labelled window.
type playedAttack struct {
	scenario string
	labels   []simulator.Label
	err      error
}

func (d *run) newAgent(out []agent.Sink, mbPort, uaPort, dnp3Port uint16) error {
	cfg := agent.DefaultConfig(nil)
	cfg.Sinks = out
	cfg.Ports = map[string][]uint16{"modbus": {mbPort}, "opcua": {uaPort}, "dnp3": {dnp3Port}}
	cfg.Mode = agent.ModeAuto
	cfg.LearnFor = d.o.LearnFor
	cfg.AlertEvery = 30 * time.Second
	cfg.DBPath = d.o.DB
	a, err := agent.New(cfg)
	if err != nil {
		return err
	}
	d.agent = a
	return nil
}

func (d *run) sourceName(live bool) string {
	if live {
		return "live capture on " + d.o.Iface + " (sluice demo, simulator on loopback)"
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

// isPermission reports whether err is a lack of capture permission.
func isPermission(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission)
}
