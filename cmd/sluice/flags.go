package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/rules"
)

// agentFlags are the flags replay and monitor share: they become an
// agent.Config.
type agentFlags struct {
	// ports holds each protocol's --NAME-ports value, by protocol name.
	ports      map[string]*string
	out        string
	db         string
	mode       string
	learnFor   time.Duration
	alertEvery time.Duration
	events     string
	// filter is --events, parsed by config.
	filter       agent.Events
	sensor, site string
	syslog       syslogFlags
	nats         natsFlags
	memoryLimit  byteSize
	// The alert packet files (issue #13 §3).
	pcapDir       string
	pcapMax       byteSize
	pcapRing      time.Duration
	pcapRingBytes byteSize
	pcapAfter     int
	// rules is --rules, the engineer's rules file (docs/rules.md).
	rules string
}

func (f *agentFlags) register(fs *flag.FlagSet) {
	f.ports = map[string]*string{}
	for _, p := range agent.Protocols() {
		f.ports[p.Name] = fs.String(p.Name+"-ports", formatPorts(p.DefaultPorts),
			"comma-separated `PORTS` on which servers speak "+p.Title+" (empty: none)")
	}
	fs.StringVar(&f.out, "o", "-", "write the EVE JSON events to `FILE` (mode 0640; - is standard output)")
	fs.StringVar(&f.db, "db", "", "baseline database `FILE` (bbolt); without it the baseline lives in memory for this run only")
	fs.StringVar(&f.mode, "mode", "auto", "baseline `MODE`: learn (update, no deviation alerts), monitor (judge only, never update) or auto (each device learns for --learn-for after it is first seen, then is judged)")
	fs.DurationVar(&f.learnFor, "learn-for", agent.DefaultLearnFor, "in auto mode, the `DURATION` of traffic time each device learns after it is first seen, before it is judged")
	fs.DurationVar(&f.alertEvery, "alert-every", agent.DefaultAlertEvery, "the same deviation (rule, channel, item) alerts at most once per `DURATION`, with a count")
	fs.StringVar(&f.events, "events", "all", "which `EVENTS` to write: all (one per transaction, a flow per finished conversation, anomalies, alerts, stats), all,-flow (all but the flows) or alerts (alerts and the final stats)")
	fs.StringVar(&f.sensor, "sensor", "", "the `NAME` of this monitor, written in every event (\"host\", where Suricata writes its sensor name) and in syslog messages")
	fs.StringVar(&f.site, "site", "", "the `NAME` of the site this monitor watches, written in every event (\"site\") and in syslog messages")
	f.memoryLimit = agent.DefaultMemoryLimit
	fs.Var(&f.memoryLimit, "memory-limit", "the memory `SIZE` the monitor stays under (e.g. 384MiB; set it below the unit's MemoryMax): it is shared among the tables hostile traffic can grow (flows, reassembly, unfinished OPC UA messages), each refusing and counting the newest at its cap with a resource_limit anomaly, and it sets the Go runtime's soft memory limit; 0: no limit")
	fs.StringVar(&f.pcapDir, "alert-pcap-dir", "", "keep the packets of every alert on a connection in `DIR`/<deviation id>-<time>.pcap (the alert names it: alert.pcap): the connection's packets still in the ring, and the next ones")
	f.pcapMax = agent.DefaultAlertPcapMaxBytes
	fs.Var(&f.pcapMax, "alert-pcap-max", "with --alert-pcap-dir: the `SIZE` the directory stays under, the oldest files removed first")
	fs.DurationVar(&f.pcapRing, "alert-pcap-ring", agent.DefaultAlertPcapRing, "with --alert-pcap-dir: how far back (`DURATION` of packet time) the ring keeps the packets of every connection")
	f.pcapRingBytes = agent.DefaultAlertPcapRingBytes
	fs.Var(&f.pcapRingBytes, "alert-pcap-ring-size", "with --alert-pcap-dir: the memory `SIZE` of that ring")
	fs.IntVar(&f.pcapAfter, "alert-pcap-after", agent.DefaultAlertPcapAfter, "with --alert-pcap-dir: how many `PACKETS` of the connection after the alert go in its file (within 10 s)")
	fs.StringVar(&f.rules, "rules", "", "judge the engineer's rules of `FILE` (YAML, docs/rules.md) in every mode, and name its register map's variables in events and alerts; monitor rereads it on SIGHUP")
	f.syslog.register(fs)
	f.nats.register(fs)
}

// config turns the flags into an agent configuration whose EVE sink writes
// to out (several may share one writer: sinks are added by the caller),
// and checks the syslog and NATS flags (f.syslog.start and f.nats.start
// start their sinks).
func (f *agentFlags) config(out io.Writer) (agent.Config, error) {
	cfg := agent.DefaultConfig(nil)
	var err error
	for _, p := range agent.Protocols() {
		if cfg.Ports[p.Name], err = agent.ParsePorts(*f.ports[p.Name]); err != nil {
			return cfg, fmt.Errorf("--%s-ports: %w", p.Name, err)
		}
	}
	if cfg.Mode, err = agent.ParseMode(f.mode); err != nil {
		return cfg, fmt.Errorf("--mode: %w", err)
	}
	if f.filter, err = agent.ParseEvents(f.events); err != nil {
		return cfg, fmt.Errorf("--events: %w", err)
	}
	cfg.Sinks = []agent.Sink{agent.NewEVE(out, f.filter)}
	if f.learnFor <= 0 {
		return cfg, fmt.Errorf("--learn-for: must be positive, got %v", f.learnFor)
	}
	if f.alertEvery <= 0 {
		return cfg, fmt.Errorf("--alert-every: must be positive, got %v", f.alertEvery)
	}
	cfg.DBPath = f.db
	if f.rules != "" {
		if cfg.Policy, err = rules.Load(f.rules); err != nil {
			return cfg, fmt.Errorf("--rules: %w", err)
		}
	}
	cfg.LearnFor = f.learnFor
	cfg.AlertEvery = f.alertEvery
	cfg.Sensor, cfg.Site = f.sensor, f.site
	if f.pcapDir != "" {
		if f.pcapMax <= 0 || f.pcapRingBytes <= 0 || f.pcapRing <= 0 || f.pcapAfter < 0 {
			return cfg, fmt.Errorf("--alert-pcap-max, --alert-pcap-ring-size and --alert-pcap-ring must be positive, --alert-pcap-after not negative")
		}
		cfg.AlertPcapDir, cfg.AlertPcapMaxBytes = f.pcapDir, int64(f.pcapMax)
		cfg.AlertPcapRing, cfg.AlertPcapRingBytes, cfg.AlertPcapAfter = f.pcapRing, int64(f.pcapRingBytes), f.pcapAfter
	}
	if f.memoryLimit > 0 {
		cfg.MemoryLimit = int64(f.memoryLimit)
		// The tables' caps come from the budget; the runtime's soft
		// limit makes the garbage collector work harder near it instead
		// of letting the heap grow to twice the live data.
		cfg.MaxFlows, cfg.MaxBufferedTotal, cfg.MaxUnfinishedTotal = 0, 0, 0
		cfg.MaxDevices, cfg.MaxChannels = 0, 0
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	if err := f.syslog.parse(f.sensor, f.site); err != nil {
		return cfg, err
	}
	return cfg, f.nats.parse(f.sensor, f.site, f.db)
}

// formatPorts writes a port list as ParsePorts reads it.
func formatPorts(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (`sluice replay a.pcap -o out.json`), which the flag
// package alone does not allow. "--" ends flag parsing.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// fs.Parse stops before the first non-flag, or just after "--":
		// everything after a "--" is positional.
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagUsage writes a command's help: a synopsis, a description and the
// flags with their defaults.
func flagUsage(fs *flag.FlagSet, synopsis, description string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
}

// exitCode maps a flag parsing error to the process exit code: 0 for
// --help, 2 for a usage error.
func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
