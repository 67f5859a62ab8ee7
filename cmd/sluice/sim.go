package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/simulator"
)

func init() {
	register(command{name: "sim", summary: "dam PLC simulator: serve, scenarios, capture, testdata", run: runSim})
}

const simUsage = `Usage:
  sluice sim serve [--modbus ADDR] [--opcua URL|off] [--dnp3 ADDR|off] [--seed N] [--scenario NAME] [--tls-cert F --tls-key F]
  sluice sim scenarios
  sluice sim capture --scenario NAME [--duration D] [--seed N] --out FILE.pcap
  sluice sim testdata DIR
`

func runSim(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, simUsage)
		return 2
	}
	// gopcua's server logs its node-set import and listener through the
	// standard logger; nothing there is for the operator.
	log.SetOutput(io.Discard)
	var err error
	switch args[0] {
	case "serve":
		err = simServe(ctx, args[1:], os.Stdout)
	case "scenarios":
		simScenarios(os.Stdout)
	case "capture":
		err = simCapture(ctx, args[1:], os.Stdout)
	case "testdata":
		err = simTestdata(ctx, args[1:], os.Stdout)
	case "-h", "--help", "help":
		fmt.Fprint(os.Stdout, simUsage)
	default:
		fmt.Fprintf(os.Stderr, "sluice sim: unknown subcommand %q\n\n%s", args[0], simUsage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice sim: %v\n", err)
		return 1
	}
	return 0
}

func simServe(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sim serve", flag.ContinueOnError)
	var cfg simulator.Config
	fs.StringVar(&cfg.ModbusAddr, "modbus", simulator.DefaultModbusAddr, "Modbus/TCP listen address host:port")
	fs.StringVar(&cfg.OPCUAEndpoint, "opcua", simulator.DefaultOPCUAEndpoint, "OPC UA endpoint URL, or off")
	fs.StringVar(&cfg.DNP3Addr, "dnp3", simulator.DefaultDNP3Addr, "DNP3 gate station (outstation) listen address host:port, or off")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the process model and the actors")
	fs.StringVar(&cfg.Scenario, "scenario", "", "also play this scenario's actors live (see 'sluice sim scenarios')")
	fs.DurationVar(&cfg.AttackAfter, "attack-after", time.Minute, "with --scenario: when its attacks start")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "serve Modbus/TCP Security (TLS) with this certificate (PEM)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "private key of --tls-cert (PEM)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	cfg.Ready = func(ep simulator.Endpoints) {
		scheme := "modbus/tcp"
		if ep.TLS {
			scheme = "modbus/tcp+tls"
		}
		fmt.Fprintf(out, "sluice sim: %s %s (unit 1 dam PLC, unit 2 turbine controller)\n", scheme, ep.Modbus)
		if ep.OPCUA != "" {
			fmt.Fprintf(out, "sluice sim: opc ua %s (SecurityPolicy None; anonymous, or user name with the password encrypted for the server's certificate or in clear)\n", ep.OPCUA)
		}
		if ep.DNP3 != "" {
			fmt.Fprintf(out, "sluice sim: dnp3 %s (gate RTU, outstation address %d; master address %d)\n",
				ep.DNP3, simulator.DNP3RTUAddr, simulator.DNP3MasterAddr)
		}
		if cfg.Scenario != "" {
			fmt.Fprintf(out, "sluice sim: playing scenario %s (attacks after %s)\n", cfg.Scenario, cfg.AttackAfter)
		}
		fmt.Fprint(out, tagSummary())
	}
	return simulator.Serve(ctx, cfg)
}

// tagSummary lists the tag map, one line per tag.
func tagSummary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-30s %-5s %-4s %-17s %-5s %s\n", "tag (ns=2;s=...)", "unit", "mb", "table", "addr", "writable")
	for _, t := range simulator.Tags {
		w := ""
		if t.Writable {
			w = "rw"
		}
		fmt.Fprintf(&b, "%-30s %-5s %-4d %-17s %-5d %s\n", t.Name, t.Unit, t.UnitID, t.Table, t.Addr, w)
	}
	return b.String()
}

func simScenarios(out io.Writer) {
	for _, s := range simulator.Scenarios() {
		d := s.Description
		if s.CaptureOnly() {
			d += " [captures only: the IT side is synthesized]"
		}
		fmt.Fprintf(out, "%-26s %s\n", s.Name, d)
	}
}

func simCapture(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sim capture", flag.ContinueOnError)
	var cfg simulator.CaptureConfig
	fs.StringVar(&cfg.Scenario, "scenario", "normal", "scenario name (see 'sluice sim scenarios')")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Minute, "simulated time to capture")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed: the same arguments give the same bytes")
	fs.StringVar(&cfg.Out, "out", "", "pcap file to write; labels go to FILE.labels.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Out == "" {
		return errors.New("capture: --out FILE.pcap is required")
	}
	start := time.Now()
	labels, err := simulator.WriteCapture(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s and %s: %s of %s, seed %d, %d attack(s), in %s\n", cfg.Out, simulator.LabelsPath(cfg.Out),
		cfg.Duration, cfg.Scenario, cfg.Seed, len(labels.Attacks), time.Since(start).Round(time.Millisecond))
	return nil
}

func simTestdata(ctx context.Context, args []string, out io.Writer) error {
	if len(args) != 1 {
		return errors.New("testdata: want one argument, the output directory")
	}
	paths, err := simulator.WriteTestdata(ctx, args[0])
	for _, p := range paths {
		fmt.Fprintf(out, "wrote %s\n", p)
	}
	return err
}
