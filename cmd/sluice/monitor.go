package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/fleet"
	"github.com/sluice-ics/sluice/internal/metrics"
	"github.com/sluice-ics/sluice/internal/syslog"
	"github.com/sluice-ics/sluice/rules"
)

func init() {
	register(command{
		name:    "monitor",
		summary: "watch a network interface (span/mirror port) live and write EVE JSON events",
		run:     runMonitor,
	})
}

const monitorHelp = `
Monitor captures live from a network interface, typically a switch's span or
mirror port, through a memory-mapped AF_PACKET ring (no cgo, no libpcap). The
capture socket is receive-only: Sluice never sends a packet. It decodes
Modbus/TCP, OPC UA Binary and DNP3 as replay does and writes the same EVE JSON
events, appending to the output file (so a restart keeps the log).

By default the kernel copies every IPv4, IPv6 and ARP frame, but only the
frames to or from the configured protocol ports whole: the others are cut to
--snap-other bytes (headers and the first bytes of payload, which name the
service of a conversation), so a busy span port copies little to user space.
Other frames (LLDP, STP, ...) stay in the kernel. --snap-other 0 drops the
frames no decoder needs. --bpf replaces the filter with a tcpdump expression
(host, net, port, portrange, src/dst, tcp/udp/ip/ip6, and/or/not; no vlan or
byte offsets) whose frames are copied whole, and nothing else; with
--snap-other given too, the other IP and ARP frames are cut instead.

SIGINT or SIGTERM stops the capture, ends every connection, writes the final
stats event (with the kernel's drop count), flushes the output and exits 0.
SIGHUP reopens the output file (for logrotate) without losing an event, and
rereads the --rules file: the new rules take effect at once, or, if the file
has a mistake, the old ones stay and the mistake is written to stderr.
Live capture needs CAP_NET_RAW (root, or the systemd unit in deploy/).

Examples:
  sluice monitor --iface eth1
  sluice monitor --iface eth1 -o /var/log/sluice/eve.json --db /var/lib/sluice/baseline.db
  sluice monitor --iface eth1 --bpf 'net 10.10.0.0/16 and port 502'
  sluice monitor --iface eth1 --sensor dam-1 --syslog tls://siem.example:6514 --syslog-ca /etc/sluice/siem-ca.pem
`

func runMonitor(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("monitor", flag.ContinueOnError)
	var af agentFlags
	af.register(fs)
	iface := fs.String("iface", "", "capture on network interface `NAME` (required)")
	bpfExpr := fs.String("bpf", "", "kernel filter as a tcpdump `EXPR`, its frames copied whole and the rest dropped, or cut to --snap-other when given (default: TCP on the configured ports and UDP on the DNP3 ports whole, other IP and ARP cut to --snap-other)")
	snapOther := fs.Int("snap-other", capture.DefaultSnapOther, "copy `BYTES` of each IP or ARP frame no decoder needs (headers and first payload bytes; a TLS ClientHello's JA3 needs about 600); 0 drops them")
	noPromisc := fs.Bool("no-promisc", false, "do not put the interface in promiscuous mode (a span port usually needs it)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus /metrics and /healthz on `ADDR` (suggested 127.0.0.1:9477); off when empty")
	confPath := configFlag(fs) // conffile.go
	fs.Usage = flagUsage(fs, "sluice monitor --iface NAME [--bpf EXPR] [flags]", monitorHelp)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCode(err)
	}
	if err := applyConfigFile(fs, *confPath); err != nil {
		fmt.Fprintf(os.Stderr, "sluice monitor: %v\n", err)
		return 2
	}
	if len(rest) > 0 {
		fmt.Fprintf(os.Stderr, "sluice monitor: unexpected argument %q (sluice monitor --help)\n", rest[0])
		return 2
	}
	if *iface == "" {
		fmt.Fprintln(os.Stderr, "sluice monitor: --iface is required (sluice monitor --help)")
		return 2
	}
	// Validate the configuration before touching the network; the output
	// is bound below, once it is open.
	cfg, err := af.config(os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice monitor: %v\n", err)
		return 2
	}
	opts := capture.LiveOptions{NoPromiscuous: *noPromisc, SnapOther: *snapOther}
	if err := capture.CheckSnapOther(*snapOther); err != nil {
		fmt.Fprintf(os.Stderr, "sluice monitor: --snap-other: %v\n", err)
		return 2
	}
	if *bpfExpr != "" {
		// --bpf alone keeps its meaning from before issue #11: what
		// the expression matches, whole, and nothing else; with
		// --snap-other given too, the rest is cut instead of dropped.
		if isSet(fs, "snap-other") {
			opts.Filter, err = capture.CompileFilterSnap(*bpfExpr, *snapOther)
		} else {
			opts.SnapOther = 0
			opts.Filter, err = capture.CompileFilter(*bpfExpr)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "sluice monitor: --bpf: %v\n", err)
			return 2
		}
	} else {
		opts.Ports, opts.UDPPorts = filterPorts(cfg.Ports)
	}
	live, err := capture.OpenLive(*iface, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice monitor: %v\n", err)
		return 1
	}
	out, op, err := openOutput(af.out, true)
	if err != nil {
		live.Close()
		fmt.Fprintf(os.Stderr, "sluice monitor: %v\n", err)
		return 1
	}
	op.report("sluice monitor", af.out)
	ro := &reopener{path: af.out, cur: out}
	eve := agent.NewEVE(ro, af.filter).Locked() // flushed every second from another goroutine
	cfg.Sinks = []agent.Sink{eve}
	syslogs, err := af.syslog.start()
	if err != nil {
		live.Close()
		ro.close()
		fmt.Fprintf(os.Stderr, "sluice monitor: %v\n", err)
		return 1
	}
	for _, s := range syslogs {
		cfg.Sinks = append(cfg.Sinks, s)
	}
	sensor, err := af.nats.start("monitor", &cfg)
	if err != nil {
		live.Close()
		ro.close()
		closeSyslog("monitor", syslogs)
		fmt.Fprintf(os.Stderr, "sluice monitor: %v\n", err)
		return 1
	}
	code := monitor(ctx, cfg, live, *metricsAddr, ro, op.repaired, syslogs, sensor, af.rules)
	closeSyslog("monitor", syslogs)
	closeNATS("monitor", sensor)
	if err := ro.close(); err != nil && code == 0 {
		fmt.Fprintf(os.Stderr, "sluice monitor: closing output: %v\n", err)
		code = 1
	}
	return code
}

// reloadRules rereads the rules file at path (none when empty) into the
// running agent a: SIGHUP's. A file with a mistake, or that cannot be
// read, leaves the rules in force and says so on log; the monitor goes on.
func reloadRules(a *agent.Agent, path string, log io.Writer) bool {
	if path == "" {
		return false
	}
	p, err := rules.Load(path)
	if err != nil {
		fmt.Fprintf(log, "sluice monitor: --rules: %v\nsluice monitor: the rules in force are kept\n", err)
		return false
	}
	a.SetPolicy(p)
	fmt.Fprintf(log, "sluice monitor: rules reloaded from %s: %d rules, %d variables, %d maintenance windows\n",
		path, len(p.Rules), len(p.Variables), len(p.Maintenance))
	return true
}

// flushEvery bounds how long an event waits in the output buffer while the
// link is quiet.
const flushEvery = time.Second

// monitor runs the agent on the live capture; repaired is the number of
// partial lines openOutput repaired, for the metrics.
func monitor(ctx context.Context, cfg agent.Config, live *capture.Live, metricsAddr string, ro *reopener, repaired int, syslogs []*syslog.Sink, sensor *fleet.Sensor, rulesPath string) int {
	var ms *metrics.Metrics
	if metricsAddr != "" {
		var err error
		if ms, err = metrics.Start(ctx, metricsAddr); err != nil {
			live.Close()
			fmt.Fprintf(os.Stderr, "sluice monitor: --metrics: %v\n", err)
			return 1
		}
		ms.OutputRepaired(repaired)
		cfg.Sinks = append(cfg.Sinks, ms.Sink(cfg.Sinks[0].Accepts))
		exportSyslog(ms, syslogs)
		exportNATS(ms, sensor)
	}
	a, err := agent.New(cfg)
	if err != nil {
		live.Close()
		fmt.Fprintf(os.Stderr, "sluice monitor: %v\n", err)
		return 1
	}
	a.FlushEvery(ctx, flushEvery)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reloadRules(a, rulesPath, os.Stderr)
				// Write what is buffered to the old file, then swap.
				// A write error is reported by the watcher below.
				if a.Flush() != nil {
					continue
				}
				// A failed reopen leaves the old file in place: the
				// events go on into it, and the monitor is unhealthy
				// until a reopen succeeds.
				op, err := ro.reopen()
				if err != nil {
					fmt.Fprintf(os.Stderr, "sluice monitor: reopening output: %v; the events go on into the old file\n", err)
				}
				op.report("sluice monitor", ro.path)
				if ms != nil {
					ms.OutputRepaired(op.repaired)
					if err != nil {
						ms.OutputError(metrics.OutputReopen, err)
					} else {
						ms.OutputOK(metrics.OutputReopen)
					}
				}
			}
		}
	}()
	var src capture.Source = live
	if ms != nil {
		src = ms.AgentSource(live, a)
	}
	// Next blocks in poll(2); closing the capture from here is what makes
	// it return io.EOF promptly on SIGINT/SIGTERM, and when the output
	// fails (a full disk): the agent would notice that only at its next
	// check, 1024 packets later (79 s at 13 packets/s), with /healthz ok
	// meanwhile. The failure is reported to the metrics at once.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-stop:
		case <-a.Failed():
			if ms != nil {
				ms.OutputError(metrics.OutputWrite, a.Failure())
			}
		}
		live.Close()
	}()
	runErr := a.Run(ctx, src)
	close(stop)
	wg.Wait()
	code := 0
	var first error // the error the monitor stops on
	if runErr != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "sluice monitor: %v\n", runErr)
		code, first = 1, runErr
	}
	if st, err := live.Stats(); err == nil {
		a.SetKernelDrops(st.KernelDrops) // the metrics wrapper hides them from Run
	}
	if err := a.Close(); err != nil {
		if first == nil || !errors.Is(err, first) { // a write error comes back from Close
			fmt.Fprintf(os.Stderr, "sluice monitor: %v\n", err)
		}
		code = 1
		if first == nil {
			first = err
		}
	}
	if ms != nil && code != 0 {
		ms.SetHealth(fmt.Errorf("monitor stopped: %w", first))
	}
	return code
}

// filterPorts are the ports whose frames the default kernel filter copies
// whole: every protocol's configured ports over TCP, and over UDP too for
// the protocols that run on it (DNP3).
func filterPorts(ports map[string][]uint16) (tcp, udp []uint16) {
	for _, p := range agent.Protocols() {
		tcp = append(tcp, ports[p.Name]...)
		if p.UDP {
			udp = append(udp, ports[p.Name]...)
		}
	}
	return tcp, udp
}

// isSet reports whether the flag named name was given, on the command line
// or in the --config file.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}
