package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/simulator"
	"github.com/sluice-ics/sluice/simulator/demo"
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
starts the dam simulator (a Modbus/TCP PLC, an OPC UA server and a DNP3 gate
RTU, with a normal HMI, historian and SCADA master) on loopback, captures on
the loopback interface live, as 'sluice monitor' does on a span port, learns
what normal looks like for --learn-for, then plays a sequence of attacks: a
rogue master, an unexpected write, an out-of-range setpoint, diagnostics,
reconnaissance, a write flood, malformed traffic, OPC UA attacks and DNP3
attacks (a rogue master operating a gate, an out-of-range release
setpoint). Each alert (every rule one request breaks) is printed as one line while
the EVE JSON goes to --eve; at the end the auditor's report is written to
--report and a summary table shows, per attack, the rules expected and caught.

The IT side's attacks (lateral_movement, c2_beacon, it_port_scan,
plc_remote_shell: SMB and RDP between hosts, a command-and-control beacon, a
port scan, a Telnet shell on the PLC) are synthesized in the simulator's
captures only: the in-process tap plays them, the live demo skips them. They
join the default list once Sluice has the rules they expect.

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

// runDemo parses and checks the flags; simulator/demo runs the demo.
func runDemo(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	o := demo.Options{Stdout: os.Stdout, Stderr: os.Stderr}
	fs.DurationVar(&o.LearnFor, "learn-for", 30*time.Second, "how long each device learns before it is judged")
	fs.BoolVar(&o.Forever, "forever", false, "after the attacks, keep monitoring until Ctrl-C, then write the report")
	fs.StringVar(&o.EVE, "eve", "sluice-demo-eve.json", "write the EVE JSON events to `FILE`")
	fs.StringVar(&o.Report, "report", "sluice-report.html", "write the HTML report to `FILE`")
	fs.StringVar(&o.DB, "db", "", "also keep the baseline in this bbolt `FILE` (default: in memory)")
	fs.StringVar(&o.Iface, "iface", "lo", "loopback interface `NAME` to capture on")
	fs.Uint64Var(&o.Seed, "seed", 1, "simulator seed")
	scen := fs.String("scenarios", strings.Join(demo.DefaultScenarios(), ","), "comma-separated attack `SCENARIOS` to play ('sluice sim scenarios' lists them)")
	fs.BoolVar(&o.InProcess, "in-process", false, "use the in-process tap even when live capture is possible")
	fs.StringVar(&o.Metrics, "metrics", "", "serve Prometheus /metrics and /healthz on `ADDR` (e.g. 127.0.0.1:9477)")
	fs.Usage = flagUsage(fs, "sluice demo [--learn-for 30s] [--forever]", demoHelp)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCode(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(os.Stderr, "sluice demo: unexpected argument %q (sluice demo --help)\n", rest[0])
		return 2
	}
	if o.LearnFor < 5*time.Second {
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
		o.Scenarios = append(o.Scenarios, s)
	}
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "sluice demo: %v\n", err)
		return 1
	}
	return 0
}
