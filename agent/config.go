package agent

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sluice-ics/sluice/baselines"
)

// Mode says whether the baselines learn, judge, or both (issue 5 §3).
type Mode uint8

const (
	// ModeAuto lets each device learn for Config.LearnFor of traffic time
	// after it is first seen, then judges it. It is the default.
	ModeAuto Mode = iota
	// ModeLearn updates the baseline and raises no deviation alerts.
	ModeLearn
	// ModeMonitor judges only; the baseline never changes.
	ModeMonitor
)

var modeNames = [...]string{"auto", "learn", "monitor"}

func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode is the inverse of Mode.String.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if s == n {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown mode %q (want auto, learn or monitor)", s)
}

// Events selects which events reach the output.
type Events uint8

const (
	// EventsAll writes every event: one per transaction, anomalies, alerts
	// and the final stats.
	EventsAll Events = iota
	// EventsAlerts writes only alert events and the final stats event: the
	// shape a SIEM wants, and the cheapest to run.
	EventsAlerts
	// EventsNoFlow writes every event but the flow events of finished
	// conversations ("all,-flow").
	EventsNoFlow
)

func (e Events) String() string {
	switch e {
	case EventsAlerts:
		return "alerts"
	case EventsNoFlow:
		return "all,-flow"
	}
	return "all"
}

// ParseEvents is the inverse of Events.String.
func ParseEvents(s string) (Events, error) {
	switch s {
	case "all":
		return EventsAll, nil
	case "alerts":
		return EventsAlerts, nil
	case "all,-flow":
		return EventsNoFlow, nil
	}
	return 0, fmt.Errorf("unknown events filter %q (want all, all,-flow or alerts)", s)
}

// Config is everything the agent needs to run. The zero value is not usable:
// start from DefaultConfig and override.
type Config struct {
	// Ports are the server ports that select the protocol of a
	// connection, by protocol name (Protocols lists the names). A
	// protocol without ports is not decoded; a port in two lists is an
	// error.
	Ports map[string][]uint16

	// Sinks receive the events (records) of the run: the EVE file
	// (NewEVE), the metrics endpoint, a forwarder. The agent never closes
	// them. The failure of a critical sink stops the run: an event is
	// never silently lost.
	Sinks []Sink

	// Sensor and Site name this monitor and where it watches, for the SOC
	// that receives the events of many: when set, every event ends with
	// "host" (Suricata's sensor-name field, in the same place) and
	// "site". Empty leaves the events as they were.
	Sensor, Site string

	// Policy is the engineer's rules file, read by package rules
	// (--rules): judged in every mode, its register map naming variables
	// in events and alerts. nil: none.
	Policy *baselines.Policy

	// DBPath is the bbolt baseline file; empty keeps baseline state in
	// memory for the run only.
	DBPath string
	// Mode, LearnFor and AlertEvery drive the baselines (issue 5 §3, §4).
	Mode       Mode
	LearnFor   time.Duration
	AlertEvery time.Duration

	// MemoryLimit is the memory budget of the monitor in bytes (issue
	// #15: --memory-limit, set under the unit's MemoryMax). The caps below
	// that are zero are derived from it (see withDefaults); 0 leaves them
	// at their defaults, which are those of the default 384 MiB budget.
	MemoryLimit int64

	// Caps that bound memory whatever the traffic. Zero means the default
	// (or MemoryLimit's share).
	MaxFlows           int // connections tracked at once
	MaxBufferedPerFlow int // out-of-order bytes held per direction
	MaxBufferedTotal   int // out-of-order bytes held in all flows
	MaxPendingPerFlow  int // requests awaiting their response, per connection
	// MaxUnfinishedTotal caps the bytes held in unfinished multi-chunk
	// OPC UA messages of all connections together (each connection is
	// bounded by the protocol's maximum message size already, but not
	// the number of connections).
	MaxUnfinishedTotal int
	// MaxDevices and MaxChannels cap the baseline's inventory and learned
	// channels (baselines.Config).
	MaxDevices  int
	MaxChannels int
	IdleTimeout time.Duration // on packet time
	// TransactionTimeout is how long (packet time) a request waits for its
	// response before it is emitted with "timeout": true.
	TransactionTimeout time.Duration
	// IncidentWindow is how long an incident stays open after its last
	// alert (DefaultIncidentWindow, 30 min of packet time).
	IncidentWindow time.Duration

	// AlertPcapDir, when set, keeps the packets of every alert on a
	// connection: DIR/<deviation id>-<time>.pcap, named by the alert
	// (alertpcap.go). AlertPcapRing and AlertPcapRingBytes bound the
	// packets kept from before an alert (of all connections), AlertPcapAfter
	// the packets of its connection written after it (within
	// DefaultAlertPcapAfterTime), AlertPcapMaxBytes the directory.
	AlertPcapDir       string
	AlertPcapRing      time.Duration
	AlertPcapRingBytes int64
	AlertPcapAfter     int
	AlertPcapMaxBytes  int64

	// OnBaselineDelta, with DBPath, receives every change of the baseline
	// store as it is written (the fleet sensor publishes them); the
	// whole baseline is handed first, as the first changes of the run,
	// so that a hub that never heard of this sensor gets all of it.
	OnBaselineDelta func(recs []baselines.Record)
}

// Defaults for the caps. They bound the agent well under the 128 MiB target
// (issue 2 §8) on a busy span port: 64 Ki flows × the per-flow state is a
// few MiB; reassembly buffers are capped in total.
const (
	DefaultMaxFlows           = 1 << 16
	DefaultMaxBufferedPerFlow = 256 << 10
	DefaultMaxBufferedTotal   = 32 << 20
	DefaultMaxPendingPerFlow  = 256
	DefaultMaxUnfinishedTotal = 48 << 20
	DefaultMaxDevices         = 1 << 16
	DefaultMaxChannels        = 1 << 16
	DefaultMemoryLimit        = 384 << 20
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultTransactionTimeout = 10 * time.Second
	DefaultLearnFor           = 24 * time.Hour
	DefaultAlertEvery         = 10 * time.Minute
)

// DefaultConfig returns the configuration of `sluice replay` without flags:
// every protocol on its default ports (Modbus on 502, OPC UA on 4840),
// every event to out as EVE JSON (no sink when out is nil), baselines in
// memory in auto mode.
func DefaultConfig(out io.Writer) Config {
	ports := map[string][]uint16{}
	for _, m := range modules {
		ports[m.name] = append([]uint16(nil), m.defaultPorts...)
	}
	var sinks []Sink
	if out != nil {
		sinks = []Sink{NewEVE(out, EventsAll)}
	}
	return Config{
		Ports:              ports,
		Sinks:              sinks,
		Mode:               ModeAuto,
		LearnFor:           DefaultLearnFor,
		AlertEvery:         DefaultAlertEvery,
		MaxFlows:           DefaultMaxFlows,
		MaxBufferedPerFlow: DefaultMaxBufferedPerFlow,
		MaxBufferedTotal:   DefaultMaxBufferedTotal,
		MaxPendingPerFlow:  DefaultMaxPendingPerFlow,
		MaxUnfinishedTotal: DefaultMaxUnfinishedTotal,
		MaxDevices:         DefaultMaxDevices,
		MaxChannels:        DefaultMaxChannels,
		IdleTimeout:        DefaultIdleTimeout,
		TransactionTimeout: DefaultTransactionTimeout,
	}
}

// ErrConfig is returned (wrapped) by Config.Validate and New for a
// configuration that cannot run.
var ErrConfig = errors.New("invalid configuration")

// Validate reports the first problem with c, wrapping ErrConfig.
func (c *Config) Validate() error {
	if len(c.Sinks) == 0 {
		return fmt.Errorf("%w: no output", ErrConfig)
	}
	for i, s := range c.Sinks {
		if s == nil {
			return fmt.Errorf("%w: output %d is nil", ErrConfig, i)
		}
	}
	for name := range c.Ports {
		if moduleIndex(name) < 0 {
			return fmt.Errorf("%w: unknown protocol %q", ErrConfig, name)
		}
	}
	seen := map[uint16]string{}
	any := false
	for _, m := range modules { // registry order: the same error every time
		for _, p := range c.Ports[m.name] {
			if p == 0 {
				return fmt.Errorf("%w: %s port 0", ErrConfig, m.name)
			}
			if other, ok := seen[p]; ok && other != m.name {
				return fmt.Errorf("%w: port %d is both %s and %s", ErrConfig, p, other, m.name)
			}
			seen[p] = m.name
			any = true
		}
	}
	if !any {
		return fmt.Errorf("%w: no %s port to watch", ErrConfig, protocolTitles("or"))
	}
	for _, id := range []struct{ name, v string }{{"sensor", c.Sensor}, {"site", c.Site}} {
		if err := checkIdentity(id.v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrConfig, id.name, err)
		}
	}
	if c.Mode > ModeMonitor {
		return fmt.Errorf("%w: %v", ErrConfig, c.Mode)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"learn-for", c.LearnFor}, {"alert-every", c.AlertEvery}, {"idle timeout", c.IdleTimeout}, {"transaction timeout", c.TransactionTimeout}} {
		if d.v < 0 {
			return fmt.Errorf("%w: negative %s %v", ErrConfig, d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"max flows", c.MaxFlows}, {"max buffered per flow", c.MaxBufferedPerFlow}, {"max buffered total", c.MaxBufferedTotal}, {"max pending per flow", c.MaxPendingPerFlow}} {
		if n.v < 0 {
			return fmt.Errorf("%w: negative %s %d", ErrConfig, n.name, n.v)
		}
	}
	return nil
}

// MaxIdentity is the longest sensor or site name, in bytes.
const MaxIdentity = 255

// checkIdentity accepts a sensor or site name: at most MaxIdentity bytes
// of UTF-8 without control characters (it goes into every event and into
// syslog headers, where a line break must not be possible).
func checkIdentity(s string) error {
	if len(s) > MaxIdentity {
		return fmt.Errorf("longer than %d bytes", MaxIdentity)
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

// protocolTitles lists the registered protocols' titles for a message:
// "Modbus/TCP or OPC UA Binary".
func protocolTitles(conj string) string {
	var b strings.Builder
	for i, m := range modules {
		switch {
		case i == 0:
		case i == len(modules)-1:
			b.WriteString(" " + conj + " ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(m.title)
	}
	return b.String()
}

// withDefaults fills zero caps and durations with their defaults.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.MemoryLimit > 0 {
		// The tables an outsider can grow share the budget: a third for
		// the flows (about 3 KiB each with their decoder state and a
		// pending request: 1.5 M spoofed Modbus flows at 65,536 flows
		// held 200 MB of live heap), a twelfth for out-of-order bytes,
		// an eighth for unfinished OPC UA messages; the rest is the
		// baselines, the buffers and the garbage collector's headroom.
		def(&c.MaxFlows, int(max(c.MemoryLimit/3/3072, 1024)))
		def(&c.MaxBufferedTotal, int(max(c.MemoryLimit/12, 1<<20)))
		def(&c.MaxUnfinishedTotal, int(max(c.MemoryLimit/8, 1<<20)))
		// The baseline's devices and channels: 65,536 each for the
		// default budget, scaled with it.
		def(&c.MaxDevices, int(max(c.MemoryLimit/6144, 256)))
		def(&c.MaxChannels, int(max(c.MemoryLimit/6144, 256)))
	}
	def(&c.MaxFlows, DefaultMaxFlows)
	defd(&c.IncidentWindow, DefaultIncidentWindow)
	defd(&c.AlertPcapRing, DefaultAlertPcapRing)
	if c.AlertPcapRingBytes <= 0 {
		c.AlertPcapRingBytes = DefaultAlertPcapRingBytes
	}
	c.AlertPcapRingBytes = min(c.AlertPcapRingBytes, maxRingBytes)
	def(&c.AlertPcapAfter, DefaultAlertPcapAfter)
	if c.AlertPcapMaxBytes <= 0 {
		c.AlertPcapMaxBytes = DefaultAlertPcapMaxBytes
	}
	def(&c.MaxBufferedPerFlow, DefaultMaxBufferedPerFlow)
	def(&c.MaxBufferedTotal, DefaultMaxBufferedTotal)
	def(&c.MaxUnfinishedTotal, DefaultMaxUnfinishedTotal)
	def(&c.MaxDevices, DefaultMaxDevices)
	def(&c.MaxChannels, DefaultMaxChannels)
	def(&c.MaxPendingPerFlow, DefaultMaxPendingPerFlow)
	defd(&c.IdleTimeout, DefaultIdleTimeout)
	defd(&c.TransactionTimeout, DefaultTransactionTimeout)
	defd(&c.LearnFor, DefaultLearnFor)
	defd(&c.AlertEvery, DefaultAlertEvery)
	return c
}

// ParsePorts parses a comma-separated port list such as "502,5020". An
// empty string is an empty list (the protocol is not watched).
func ParsePorts(s string) ([]uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []uint16
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("bad port %q: want 1-65535", f)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}
