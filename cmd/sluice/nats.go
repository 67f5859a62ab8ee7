package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/fleet"
	"github.com/sluice-ics/sluice/internal/metrics"
)

// natsFlags are the --nats* flags of replay and monitor: with --nats the
// sensor publishes to the fleet stream (internal/fleet) beside its other
// outputs.
type natsFlags struct {
	url, events, spool, stream string
	auth                       natsAuth
	spoolSize                  byteSize
	replicas                   int
	// cfg is the sensor's configuration, made by parse.
	cfg *fleet.SensorConfig
}

func (f *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "nats", "", "publish to the fleet's NATS JetStream at `URL` (nats://HOST:PORT or tls://HOST:PORT; a cluster's servers comma-separated): alerts, the events of --nats-events, inventory and baseline changes, on subjects sluice.<site>.<sensor>.<kind> (docs/fleet.md); needs --sensor")
	fs.StringVar(&f.events, "nats-events", "alerts", "which `EVENTS` to publish beside inventory and baseline changes: alerts, all, or a comma-separated list of event types (alert,incident,modbus,…)")
	fs.StringVar(&f.spool, "nats-spool", "", "the `FILE` that keeps what cannot be published while the server is unreachable, drained once it answers, by this run or the next (default: the --db file's name with .nats-spool)")
	f.spoolSize = fleet.DefaultSpoolBytes
	fs.Var(&f.spoolSize, "nats-spool-size", "the `SIZE` the spool stays under; beyond, the oldest messages are dropped and counted")
	fs.StringVar(&f.stream, "nats-stream", fleet.DefaultStream, "the JetStream `STREAM` (created on subjects sluice.> when missing)")
	fs.IntVar(&f.replicas, "nats-replicas", 1, "`N` replicas of the stream when this sensor creates it (3 on a cluster)")
	f.auth.register(fs)
}

// natsAuth are the credential and TLS flags of a NATS client (the sensor's
// and the hub's).
type natsAuth struct{ creds, ca, cert, key string }

func (a *natsAuth) register(fs *flag.FlagSet) {
	fs.StringVar(&a.creds, "nats-creds", "", "NATS user credentials `FILE` (JWT and NKey seed)")
	fs.StringVar(&a.ca, "nats-ca", "", "verify tls:// servers against the PEM CA certificates in `FILE`")
	fs.StringVar(&a.cert, "nats-cert", "", "client certificate `FILE` (PEM) to present to the server, with --nats-key")
	fs.StringVar(&a.key, "nats-key", "", "private key `FILE` (PEM) of --nats-cert")
}

func (a *natsAuth) set() bool { return a.creds != "" || a.ca != "" || a.cert != "" || a.key != "" }

// options returns the client options of the flags.
func (a *natsAuth) options() ([]nats.Option, error) {
	if (a.cert == "") != (a.key == "") {
		return nil, errors.New("--nats-cert and --nats-key go together")
	}
	var opts []nats.Option
	if a.creds != "" {
		opts = append(opts, nats.UserCredentials(a.creds))
	}
	if a.ca != "" {
		opts = append(opts, nats.RootCAs(a.ca))
	}
	if a.cert != "" {
		opts = append(opts, nats.ClientCert(a.cert, a.key))
	}
	return opts, nil
}

// parse checks the flags and prepares the sensor's configuration.
func (f *natsFlags) parse(sensor, site, db string) error {
	f.cfg = nil
	if f.url == "" {
		if f.spool != "" || f.auth.set() {
			return errors.New("--nats-spool, --nats-creds, --nats-ca, --nats-cert and --nats-key need --nats")
		}
		return nil
	}
	if sensor == "" {
		return errors.New("--nats needs --sensor NAME: it names the sensor's subjects and message ids")
	}
	spool := f.spool
	if spool == "" {
		if db == "" {
			return errors.New("--nats needs --nats-spool FILE (or --db, next to which it is kept) to keep events while the server is unreachable")
		}
		spool = db + ".nats-spool"
	}
	if f.spoolSize <= 0 || f.replicas < 1 {
		return errors.New("--nats-spool-size and --nats-replicas must be positive")
	}
	cfg := &fleet.SensorConfig{URL: f.url, Site: site, Sensor: sensor, Stream: f.stream, Replicas: f.replicas,
		SpoolPath: spool, SpoolBytes: int64(f.spoolSize)}
	switch f.events {
	case "all":
		cfg.AllEvents = true
	case "alerts", "":
	default:
		known := map[string]bool{agent.EventAlert: true, agent.EventAnomaly: true, agent.EventStats: true, agent.EventIncident: true}
		for _, p := range agent.Protocols() {
			known[p.Name] = true
		}
		for t := range strings.SplitSeq(f.events, ",") {
			t = strings.TrimSpace(t)
			if !known[t] {
				return fmt.Errorf("--nats-events: unknown event type %q (alerts, all, or a list of: alert, anomaly, incident, stats and the protocols' names)", t)
			}
			cfg.Events = append(cfg.Events, t)
		}
	}
	var err error
	if cfg.Options, err = f.auth.options(); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("--nats: %w", err)
	}
	f.cfg = cfg
	return nil
}

// start starts the sensor of the parsed flags (nil without --nats), adds
// it to cfg's sinks and hands it the baseline's changes; cmd names the
// command in what it says on standard error.
func (f *natsFlags) start(cmd string, cfg *agent.Config) (*fleet.Sensor, error) {
	if f.cfg == nil {
		return nil, nil
	}
	s, rec, err := fleet.NewSensor(*f.cfg)
	if err != nil {
		return nil, err
	}
	if rec.Replaced != "" {
		fmt.Fprintf(os.Stderr, "sluice %s: warning: %s was not a readable spool; moved to %s, a new spool is used\n", cmd, f.cfg.SpoolPath, rec.Replaced)
	}
	if rec.LostBytes > 0 {
		fmt.Fprintf(os.Stderr, "sluice %s: warning: %s ended with %d bytes of a message cut by a crash; dropped\n", cmd, f.cfg.SpoolPath, rec.LostBytes)
	}
	if rec.Pending > 0 {
		fmt.Fprintf(os.Stderr, "sluice %s: %d messages left in %s by an earlier run are published first\n", cmd, rec.Pending, f.cfg.SpoolPath)
	}
	cfg.Sinks = append(cfg.Sinks, s)
	if cfg.DBPath != "" {
		cfg.OnBaselineDelta = s.Delta
	}
	return s, nil
}

// closeNATS closes the sensor (after the agent's Close, whose last flush
// handed it the last changes) and says what was not delivered.
func closeNATS(cmd string, s *fleet.Sensor) {
	if s == nil {
		return
	}
	st := s.Close()
	if st.Spooled > 0 {
		fmt.Fprintf(os.Stderr, "sluice %s: %s: %d messages kept in the spool (server unreachable: %s); the next run with the same spool publishes them\n",
			cmd, st.Destination, st.Spooled, orNone(st.LastError))
	}
	if st.Dropped > 0 {
		fmt.Fprintf(os.Stderr, "sluice %s: warning: %s: %d messages dropped (spool or queue full, or too large), %d published\n",
			cmd, st.Destination, st.Dropped, st.Published)
	}
}

func orNone(s string) string {
	if s == "" {
		return "no error reported"
	}
	return s
}

// exportNATS exports the sensor's counters on the metrics endpoint, as a
// forwarder beside the syslog destinations.
func exportNATS(m *metrics.Metrics, s *fleet.Sensor) {
	if s == nil {
		return
	}
	m.AddNATS(s.String(), func() metrics.ForwarderStats {
		st := s.Stats()
		return metrics.ForwarderStats{Sent: st.Published, Dropped: st.Dropped, Reconnects: st.Reconnects, Queued: st.Queued + st.Spooled, Connected: st.Connected}
	})
}
