package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/metrics"
	"github.com/sluice-ics/sluice/internal/syslog"
)

// syslogFlags are the --syslog* flags of replay and monitor: each
// --syslog URL becomes one syslog sink (internal/syslog) beside the EVE
// output, all with the same format and settings.
type syslogFlags struct {
	urls                  listFlag
	format, events, fac   string
	caFile, cert, keyFile string
	queue                 int
	// cfgs are the destinations' configurations, made by parse.
	cfgs []syslog.Config
}

func (f *syslogFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.urls, "syslog", "also send events to the syslog collector at `URL`: udp://HOST[:PORT], tcp://HOST[:PORT] (RFC 6587 octet counting) or tls://HOST[:PORT] (RFC 5425); repeatable")
	fs.StringVar(&f.format, "syslog-format", "cef", "syslog message `FORMAT` after the RFC 5424 header: cef (CEF:0), leef (LEEF 2.0) or eve (the EVE JSON line)")
	fs.StringVar(&f.events, "syslog-events", "alerts", "which `EVENTS` to send to syslog: alerts (alert events only) or all (every event type)")
	fs.StringVar(&f.fac, "syslog-facility", "local4", "syslog facility `NAME` (local0-local7, daemon, …) or number")
	fs.StringVar(&f.caFile, "syslog-ca", "", "verify tls:// collectors against the PEM CA certificates in `FILE` (default: the system's roots)")
	fs.StringVar(&f.cert, "syslog-cert", "", "client certificate `FILE` (PEM) to present to tls:// collectors, with --syslog-key")
	fs.StringVar(&f.keyFile, "syslog-key", "", "private key `FILE` (PEM) of --syslog-cert")
	fs.IntVar(&f.queue, "syslog-queue", syslog.DefaultQueueSize, "`MESSAGES` kept per syslog destination while its collector is unreachable; beyond, the oldest are dropped")
}

// parse checks the flags and prepares one configuration per URL, naming
// the sensor and site.
func (f *syslogFlags) parse(sensor, site string) error {
	f.cfgs = nil
	format, err := syslog.ParseFormat(f.format)
	if err != nil {
		return fmt.Errorf("--syslog-format: %w", err)
	}
	events, err := agent.ParseEvents(f.events)
	if err != nil {
		return fmt.Errorf("--syslog-events: %w", err)
	}
	facility, err := syslog.ParseFacility(f.fac)
	if err != nil {
		return fmt.Errorf("--syslog-facility: %w", err)
	}
	if f.queue < 1 {
		return fmt.Errorf("--syslog-queue: must be positive, got %d", f.queue)
	}
	anyTLS := false
	for _, u := range f.urls {
		anyTLS = anyTLS || strings.HasPrefix(u, "tls:")
	}
	if !anyTLS && (f.caFile != "" || f.cert != "" || f.keyFile != "") {
		return fmt.Errorf("--syslog-ca, --syslog-cert and --syslog-key need a tls:// --syslog destination")
	}
	tlsCfg, err := syslog.TLSConfig(f.caFile, f.cert, f.keyFile)
	if err != nil {
		return fmt.Errorf("--syslog: %w", err)
	}
	for _, u := range f.urls {
		cfg := syslog.Config{URL: u, Format: format, AllEvents: events == agent.EventsAll, Facility: facility,
			Sensor: sensor, Site: site, TLS: tlsCfg, QueueSize: f.queue}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("--syslog: %w", err)
		}
		f.cfgs = append(f.cfgs, cfg)
	}
	return nil
}

// start starts the sinks of the parsed destinations.
func (f *syslogFlags) start() ([]*syslog.Sink, error) {
	var sinks []*syslog.Sink
	for _, cfg := range f.cfgs {
		s, err := syslog.New(cfg)
		if err != nil {
			closeSyslog("", sinks)
			return nil, err
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

// closeSyslog closes the sinks (after the agent's last Flush) and says on
// standard error, for cmd, what could not be delivered.
func closeSyslog(cmd string, sinks []*syslog.Sink) {
	for _, s := range sinks {
		if st := s.Close(); st.Dropped > 0 && cmd != "" {
			fmt.Fprintf(os.Stderr, "sluice %s: warning: %s: %d events not delivered (collector unreachable or too slow), %d sent\n",
				cmd, s, st.Dropped, st.Sent)
		}
	}
}

// listFlag is a flag that may be given several times; each value is kept.
// A configuration file may repeat its name too.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// repeatable marks a flag a configuration file may name on several lines.
func (l *listFlag) repeatable() {}

// exportSyslog exports the counters of the syslog destinations on the
// metrics endpoint. Their state is not the monitor's health: /healthz stays
// ok while a collector is down.
func exportSyslog(m *metrics.Metrics, sinks []*syslog.Sink) {
	for _, sk := range sinks {
		m.AddSyslog(sk.Stats().Destination, func() metrics.ForwarderStats {
			st := sk.Stats()
			return metrics.ForwarderStats{Sent: st.Sent, Dropped: st.Dropped, Reconnects: st.Reconnects, Queued: st.Queued, Connected: st.Connected}
		})
	}
}
