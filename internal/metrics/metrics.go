// Package metrics exposes what a running Sluice is doing to Prometheus:
// `/metrics` (client_golang's text exposition) and `/healthz`, served only
// when `--metrics ADDR` is given (issue 6 §3; 127.0.0.1:9477 is the
// suggested address: the endpoint is unauthenticated, keep it on loopback or
// a management network).
//
// It reads the agent without slowing it down or racing it:
//
//   - pipeline counters (packets, bytes, kernel and internal drops, flows,
//     evictions, decode errors, transactions per protocol) are published by
//     [Metrics.AgentSource] (over [Metrics.Source]), a capture.Source
//     wrapper that calls the agent's Stats on the agent's own goroutine
//     about once a second;
//   - transactions per function code and OPC UA service, alerts per rule and
//     events per type are counted by [Metrics.Sink], an agent sink that
//     takes the records the EVE output takes: the metrics say exactly what
//     was reported;
//   - baseline items and learning convergence per device are read at scrape
//     time from a baseline snapshot ([Metrics.SetBaseline]), at most once per
//     BaselineEvery.
//
// Label values that come from the network (function names of unknown codes)
// are capped at MaxLabelValues per metric; the rest count as "other", so a
// hostile peer cannot blow up the time-series count.
package metrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/capture"
)

// DefaultAddr is the suggested --metrics address.
const DefaultAddr = "127.0.0.1:9477"

// MaxLabelValues caps the distinct values of one network-derived label.
const MaxLabelValues = 256

// MaxDeviceLabels caps the devices that get series of their own in the
// per-device baseline gauges: the busiest by transactions (ties broken by
// address); the others are summed under device="other". Devices come from
// the network, so a scan or spoofed sources would otherwise make a series
// each (25,000 devices made 51,912 series and 2.4 s per scrape).
const MaxDeviceLabels = 256

// BaselineEvery is the least interval between two baseline snapshots taken
// for a scrape: a snapshot copies the whole baseline under the engine's lock.
const BaselineEvery = 10 * time.Second

// PublishEvery is how often (wall time) Source publishes the agent's
// counters.
const PublishEvery = time.Second

// ProtoStats are the per-protocol pipeline counters.
type ProtoStats struct {
	Flows, Transactions, Timeouts, CaptureLoss, DecodeErrors, NonProtocol, Gaps, PendingDropped uint64
}

// Stats are the pipeline counters of the agent (agent.Stats, converted by
// AgentStats).
type Stats struct {
	Packets, Bytes, Undecodable                uint64
	Flows, FlowsIgnored, Evictions             uint64
	DroppedSegments, DroppedBytes, KernelDrops uint64
	RecoveredPanics, Events, Alerts, Anomalies uint64
	Protocols                                  map[string]ProtoStats // by protocol name (agent.Protocols)
	LastPacket                                 time.Time
	// StoreErr is the baseline store's last write error (nil once a
	// write succeeds again), StoreUnwritten the records waiting for it,
	// StoreFailures its failed writes.
	StoreErr       error
	StoreUnwritten int
	StoreFailures  uint64
}

// Metrics is the registry of one running agent. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	mu    sync.Mutex
	stats Stats
	err   error // health: set by SetHealth
	// outErrs counts the event output's failures by operation
	// (OutputError); outDown holds those that make it unhealthy now.
	outErrs  map[string]uint64
	outDown  map[string]error
	repaired uint64 // partial last lines repaired (OutputRepaired)

	baseline func() *baselines.Snapshot
	window   time.Duration
	snap     *baselines.Snapshot
	snapAt   time.Time
	// devGauges are the per-device gauges of snap (deviceGauges),
	// computed once per snapshot.
	devGauges []deviceGauge
	now       func() time.Time
	// publishEvery is PublishEvery (shorter in tests).
	publishEvery time.Duration
	requests     *prometheus.CounterVec
	alerts       *prometheus.CounterVec
	events       *prometheus.CounterVec
	// Children by label value, so that counting an event allocates
	// nothing: requests by protocol then function, alerts by severity
	// then rule.
	reqLabels   map[string]map[string]prometheus.Counter
	alertLabels map[string]map[string]prometheus.Counter
	eventLabels map[string]prometheus.Counter
	// forwarders are the syslog destinations and the fleet sensor, read at
	// scrape time.
	forwarders []forwarder
}

// ForwarderStats are the counters of one forwarder: a syslog destination
// (internal/syslog's) or the fleet sensor (internal/fleet's), converted by
// the caller.
type ForwarderStats struct {
	Sent, Dropped, Reconnects uint64
	Queued                    int
	Connected                 bool
}

type forwarder struct {
	dest  string
	stats func() ForwarderStats
	descs *forwarderDescs // the metric names of its kind
}

// forwarderDescs are the metrics of one kind of forwarder.
type forwarderDescs struct{ sent, drop, recon, queue, up *prometheus.Desc }

// AddSyslog exports the counters of a syslog destination (its URL), read
// from stats at scrape time. A collector that is down shows there, not in
// the health: /healthz is about the monitor.
func (m *Metrics) AddSyslog(dest string, stats func() ForwarderStats) {
	m.mu.Lock()
	m.forwarders = append(m.forwarders, forwarder{dest, stats, &syslogDescs})
	m.mu.Unlock()
}

// AddNATS exports the counters of the fleet stream's sensor (its URL):
// Sent counts the messages the stream acknowledged, Queued those waiting
// in memory and in the spool file. Like a syslog collector, a NATS server
// that is down is not the monitor's health.
func (m *Metrics) AddNATS(dest string, stats func() ForwarderStats) {
	m.mu.Lock()
	m.forwarders = append(m.forwarders, forwarder{dest, stats, &natsDescs})
	m.mu.Unlock()
}

// New returns an empty registry with Sluice's collectors and the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg:          prometheus.NewRegistry(),
		now:          time.Now,
		publishEvery: PublishEvery,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_requests_total",
			Help: "Transactions written as events, by protocol and Modbus function or OPC UA service.",
		}, []string{"protocol", "function"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_alerts_total",
			Help: "Alert events written, by rule and severity (1 high … 3 low).",
		}, []string{"rule", "severity"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_events_total",
			Help: "EVE events written, by event_type.",
		}, []string{"event_type"}),
		outErrs:     map[string]uint64{},
		outDown:     map[string]error{},
		reqLabels:   map[string]map[string]prometheus.Counter{},
		alertLabels: map[string]map[string]prometheus.Counter{},
		eventLabels: map[string]prometheus.Counter{},
	}
	m.reg.MustRegister(m.requests, m.alerts, m.events, (*collector)(m),
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Registry returns the Prometheus registry (tests, extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Publish records the agent's counters. Call it from the goroutine that
// drives the agent (Source does).
func (m *Metrics) Publish(s Stats) {
	m.mu.Lock()
	m.stats = s
	m.mu.Unlock()
}

// SetHealth records the agent's health: nil is healthy; an error (the
// capture failed, the output cannot be written) makes /healthz answer 503
// with it.
func (m *Metrics) SetHealth(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
}

// Operations of the event output whose failures OutputError records.
const (
	// OutputWrite: writing events failed (a full disk, an I/O error).
	// The run stops on it; the monitor stays unhealthy until it exits.
	OutputWrite = "write"
	// OutputReopen: SIGHUP could not open the output anew (after a log
	// rotation). The events go on into the old file; a later reopen that
	// succeeds (OutputOK) makes the monitor healthy again.
	OutputReopen = "reopen"
)

// OutputError records a failure of the event output in op (OutputWrite,
// OutputReopen): it is counted (sluice_output_errors_total{op}) and
// /healthz answers 503 with it at once, until OutputOK(op).
func (m *Metrics) OutputError(op string, err error) {
	m.mu.Lock()
	m.outErrs[op]++
	m.outDown[op] = err
	m.mu.Unlock()
}

// OutputOK records that op succeeded again (a reopen after a failed one).
func (m *Metrics) OutputOK(op string) {
	m.mu.Lock()
	delete(m.outDown, op)
	m.mu.Unlock()
}

// OutputRepaired counts n partial last lines of the output file that the
// monitor terminated when it opened the file to append to it.
func (m *Metrics) OutputRepaired(n int) {
	m.mu.Lock()
	m.repaired += uint64(n)
	m.mu.Unlock()
}

// healthLocked returns why the monitor is unhealthy, nil when it is not.
// m.mu is held.
func (m *Metrics) healthLocked() error {
	if m.err != nil {
		return m.err
	}
	for _, op := range [...]string{OutputWrite, OutputReopen} {
		if err := m.outDown[op]; err != nil {
			return fmt.Errorf("event output %s failed: %w", op, err)
		}
	}
	if err := m.stats.StoreErr; err != nil {
		return fmt.Errorf("the baseline database cannot be written (learning goes on in memory, %d records wait): %w", m.stats.StoreUnwritten, err)
	}
	return nil
}

// SetBaseline gives the function that snapshots the baseline (for example
// agent.BaselineSnapshot) and the engine's convergence window.
func (m *Metrics) SetBaseline(snapshot func() *baselines.Snapshot, window time.Duration) {
	m.mu.Lock()
	m.baseline, m.window = snapshot, window
	m.mu.Unlock()
}

// Source wraps src so that, on the goroutine that calls Next (the
// agent's), stats is called and published about once per PublishEvery of
// wall time, however slowly packets come, and at the end of the source.
// Each publication comes before Next waits for the next packet, so it
// counts every packet processed so far; a source that waits inside Next (a
// live capture, capture.Idler) also publishes while the link is quiet.
func (m *Metrics) Source(src capture.Source, stats func() Stats) capture.Source {
	s := &source{Source: src, m: m, stats: stats}
	s.due.Store(true) // the first Next publishes
	s.timer = time.AfterFunc(m.publishEvery, func() { s.due.Store(true) })
	s.timer.Stop()
	if id, ok := src.(capture.Idler); ok {
		id.OnIdle(func() {
			if s.due.Load() {
				s.publish()
			}
		})
	}
	return s
}

type source struct {
	capture.Source
	m     *Metrics
	stats func() Stats
	// due is set by timer PublishEvery after each publication: one load
	// per packet, cheaper than reading the clock.
	due   atomic.Bool
	timer *time.Timer
	// latest is the newest packet time seen, for LastPacket when the
	// stats do not carry it.
	latest time.Time
}

func (s *source) Next() (capture.Packet, error) {
	if s.due.Load() {
		s.publish() // every packet returned so far has been processed
	}
	p, err := s.Source.Next()
	if err != nil {
		s.publish()
		s.timer.Stop()
		return p, err
	}
	if p.Timestamp.After(s.latest) {
		s.latest = p.Timestamp
	}
	return p, err
}

// publish publishes the stats now and arms the timer for the next time.
func (s *source) publish() {
	s.due.Store(false)
	st := s.stats()
	if st.LastPacket.IsZero() {
		st.LastPacket = s.latest
	}
	s.m.Publish(st)
	s.timer.Reset(s.m.publishEvery)
}

// Sink returns the agent sink that counts events, requests and alerts
// from the records the agent writes (no parsing: every record carries its
// type, protocol, function and alert). accepts is the event filter of the
// EVE output it stands beside, so the metrics say exactly what was
// reported. The sink is safe for concurrent use and never fails.
func (m *Metrics) Sink(accepts func(typ string) bool) agent.Sink {
	return &sink{m: m, accepts: accepts}
}

type sink struct {
	m       *Metrics
	accepts func(string) bool
}

func (s *sink) Accepts(typ string) bool { return s.accepts(typ) }
func (s *sink) Flush() error            { return nil }
func (s *sink) Critical() bool          { return false }

// countAlert counts one rule of an alert event. Callers hold m.mu.
func (m *Metrics) countAlert(a *baselines.Alert) {
	sev := "0"
	if v := a.Severity; v >= 1 && v <= 3 {
		sev = severities[v-1]
	}
	cache := m.alertLabels[sev]
	if cache == nil {
		cache = map[string]prometheus.Counter{}
		m.alertLabels[sev] = cache
	}
	counter2(m.alerts, cache, sev, a.Rule.String(), true).Inc()
}

// Write counts one record.
func (s *sink) Write(r *agent.Record) error {
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	counter(m.events, m.eventLabels, r.Type).Inc()
	switch {
	case r.Alert != nil:
		// One alert event may carry several rules (Record.Also): each
		// counts under its own rule and severity.
		m.countAlert(r.Alert)
		for i := range r.Also {
			m.countAlert(&r.Also[i])
		}
	case r.Function != "": // a transaction: its type is its protocol
		cache := m.reqLabels[r.Type]
		if cache == nil {
			cache = map[string]prometheus.Counter{}
			m.reqLabels[r.Type] = cache
		}
		counter2(m.requests, cache, r.Type, r.Function, false).Inc()
	}
	return nil
}

// counter returns the child of v for one label value. Distinct values are
// capped at MaxLabelValues; beyond the cap, and for values that are not
// plain identifiers, the child "other" counts. The map lookup by string(b)
// does not allocate.
func counter(v *prometheus.CounterVec, cache map[string]prometheus.Counter, b string) prometheus.Counter {
	if c, ok := cache[b]; ok {
		return c
	}
	if len(cache) >= MaxLabelValues || !plainLabel(b) {
		return v.WithLabelValues("other")
	}
	c := v.WithLabelValues(b)
	cache[b] = c
	return c
}

var severities = [...]string{"1", "2", "3"}

// counter2 is counter for a two-label vector: fixed is one of a few fixed
// values (a protocol, a severity) whose own cache is given; b is the
// network-derived value. swap puts b first (alerts are labelled rule,
// severity).
func counter2(v *prometheus.CounterVec, cache map[string]prometheus.Counter, fixed string, b string, swap bool) prometheus.Counter {
	if c, ok := cache[b]; ok {
		return c
	}
	val := b
	if len(cache) >= MaxLabelValues || !plainLabel(b) {
		val = "other"
	}
	var c prometheus.Counter
	if swap {
		c = v.WithLabelValues(val, fixed)
	} else {
		c = v.WithLabelValues(fixed, val)
	}
	if val != "other" {
		cache[val] = c
	}
	return c
}

// plainLabel accepts identifiers: letters, digits, _ . - and at most 64
// bytes.
func plainLabel(b string) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range []byte(b) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// collector exports the published Stats and the baseline gauges as
// constant metrics at scrape time.
type collector Metrics

var (
	descPackets     = prometheus.NewDesc("sluice_packets_total", "Frames read from the capture source.", nil, nil)
	descBytes       = prometheus.NewDesc("sluice_bytes_total", "Wire bytes of the frames read.", nil, nil)
	descUndecodable = prometheus.NewDesc("sluice_undecodable_packets_total", "Frames that were not Ethernet/IP/TCP as far as the link type says (ARP, UDP, …).", nil, nil)
	descDrops       = prometheus.NewDesc("sluice_drops_total", "Packets or segments dropped: kernel = the capture ring overflowed; reassembly = segments dropped by buffer caps.", []string{"where"}, nil)
	descDropBytes   = prometheus.NewDesc("sluice_dropped_bytes_total", "Bytes dropped by the reassembly buffer caps.", nil, nil)
	descFlows       = prometheus.NewDesc("sluice_flows_total", "TCP connections tracked.", nil, nil)
	descIgnored     = prometheus.NewDesc("sluice_flows_ignored_total", "TCP connections on no configured port.", nil, nil)
	descEvictions   = prometheus.NewDesc("sluice_flow_evictions_total", "Connections evicted to respect the flow-table cap.", nil, nil)
	descPanics      = prometheus.NewDesc("sluice_recovered_panics_total", "Panics caught in a connection's decoder (the connection is silenced, the run goes on).", nil, nil)
	descPFlows      = prometheus.NewDesc("sluice_protocol_flows_total", "Connections handed to a protocol decoder.", []string{"protocol"}, nil)
	descPTx         = prometheus.NewDesc("sluice_transactions_total", "Transactions decoded, by protocol.", []string{"protocol"}, nil)
	descPTimeouts   = prometheus.NewDesc("sluice_transaction_timeouts_total", "Requests that got no response in time.", []string{"protocol"}, nil)
	descPDecodeErr  = prometheus.NewDesc("sluice_decode_errors_total", "PDUs or messages that could not be decoded, by protocol.", []string{"protocol"}, nil)
	descPNonProto   = prometheus.NewDesc("sluice_non_protocol_flows_total", "Connections on a protocol's port that carried something else.", []string{"protocol"}, nil)
	descPLost       = prometheus.NewDesc("sluice_transaction_capture_loss_total", "Requests left unanswered because the capture lost the bytes their response was probably in.", []string{"protocol"}, nil)
	descPGaps       = prometheus.NewDesc("sluice_reassembly_gaps_total", "Reassembly gaps that reset a framer.", []string{"protocol"}, nil)
	descPPending    = prometheus.NewDesc("sluice_pending_dropped_total", "Requests evicted from a full pairing table.", []string{"protocol"}, nil)
	descLastPacket  = prometheus.NewDesc("sluice_last_packet_timestamp_seconds", "Packet time of the last frame processed (Unix seconds).", nil, nil)
	descDevices     = prometheus.NewDesc("sluice_baseline_devices", "Devices in the asset inventory.", nil, nil)
	descChannels    = prometheus.NewDesc("sluice_baseline_channels", "Channels in the baseline.", nil, nil)
	descItems       = prometheus.NewDesc("sluice_baseline_items", "Baseline items learned about a server device (function codes, ranges, envelopes, polls, services, nodes…).", []string{"device"}, nil)
	descConverge    = prometheus.NewDesc("sluice_learning_convergence_items_per_hour", "New baseline items per hour over the convergence window: 0 means the device has stopped learning anything new.", []string{"device"}, nil)
	descLearning    = prometheus.NewDesc("sluice_device_learning", "1 while the device is in its learning window (auto mode), else 0.", []string{"device"}, nil)
	descDeviations  = prometheus.NewDesc("sluice_baseline_deviations", "Distinct deviations in the alert log, by rule.", []string{"rule"}, nil)
	descUp          = prometheus.NewDesc("sluice_up", "1 when the agent is healthy (as /healthz), else 0.", nil, nil)
	descSyslogSent  = prometheus.NewDesc("sluice_syslog_sent_total", "Messages written to the syslog collector's connection.", []string{"destination"}, nil)
	descSyslogDrop  = prometheus.NewDesc("sluice_syslog_dropped_total", "Messages dropped because the queue was full while the collector was unreachable or slow.", []string{"destination"}, nil)
	descSyslogRecon = prometheus.NewDesc("sluice_syslog_reconnects_total", "Connections to the syslog collector made after the first.", []string{"destination"}, nil)
	descSyslogQueue = prometheus.NewDesc("sluice_syslog_queue_messages", "Messages waiting to be sent to the syslog collector.", []string{"destination"}, nil)
	descSyslogUp    = prometheus.NewDesc("sluice_syslog_connected", "1 while a connection to the syslog collector is open, else 0.", []string{"destination"}, nil)
	syslogDescs     = forwarderDescs{descSyslogSent, descSyslogDrop, descSyslogRecon, descSyslogQueue, descSyslogUp}
	natsDescs       = forwarderDescs{
		prometheus.NewDesc("sluice_nats_published_total", "Messages the fleet's JetStream stream acknowledged.", []string{"destination"}, nil),
		prometheus.NewDesc("sluice_nats_dropped_total", "Messages dropped: the spool or the memory queue full, or a message larger than the server takes.", []string{"destination"}, nil),
		prometheus.NewDesc("sluice_nats_reconnects_total", "Connections to the NATS server made after the first.", []string{"destination"}, nil),
		prometheus.NewDesc("sluice_nats_queue_messages", "Messages waiting for the stream, in memory and in the spool file.", []string{"destination"}, nil),
		prometheus.NewDesc("sluice_nats_connected", "1 while the sensor is connected and the stream is there, else 0.", []string{"destination"}, nil),
	}
	descOutErrs   = prometheus.NewDesc("sluice_output_errors_total", "Failures of the event output: op = write (a full disk, an I/O error: the run stops), reopen (SIGHUP could not open the file anew: events go on into the old one).", []string{"op"}, nil)
	descStoreErrs = prometheus.NewDesc("sluice_store_write_errors_total", "Writes of the baseline database that failed (a full disk): the baseline goes on learning in memory and what was not written is written with the next write that succeeds.", nil, nil)
	descStoreWait = prometheus.NewDesc("sluice_store_unwritten_records", "Baseline records waiting for the database to be writable again.", nil, nil)
	descRepaired  = prometheus.NewDesc("sluice_output_repaired_lines_total", "Partial last lines (an event cut by a failed write or a crash) found at the end of the output file when it was opened for appending, and terminated with a newline.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPackets, descBytes, descUndecodable, descDrops, descDropBytes, descFlows,
		descIgnored, descEvictions, descPanics, descPFlows, descPTx, descPTimeouts, descPLost, descPDecodeErr, descPNonProto,
		descPGaps, descPPending, descLastPacket, descDevices, descChannels, descItems, descConverge, descLearning,
		descDeviations, descUp, descSyslogSent, descSyslogDrop, descSyslogRecon, descSyslogQueue, descSyslogUp, natsDescs.sent, natsDescs.drop, natsDescs.recon, natsDescs.queue, natsDescs.up, descOutErrs, descRepaired, descStoreErrs, descStoreWait} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := (*Metrics)(c)
	m.mu.Lock()
	s := m.stats
	healthy := m.healthLocked() == nil
	outErrs := [...]uint64{m.outErrs[OutputWrite], m.outErrs[OutputReopen]}
	repaired := m.repaired
	snap := m.snapshotLocked()
	forwarders := m.forwarders
	devs := m.devGauges
	m.mu.Unlock()

	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descPackets, s.Packets)
	counter(descBytes, s.Bytes)
	counter(descUndecodable, s.Undecodable)
	counter(descDrops, s.KernelDrops, "kernel")
	counter(descDrops, s.DroppedSegments, "reassembly")
	counter(descDropBytes, s.DroppedBytes)
	counter(descFlows, s.Flows)
	counter(descIgnored, s.FlowsIgnored)
	counter(descEvictions, s.Evictions)
	counter(descPanics, s.RecoveredPanics)
	for _, info := range agent.Protocols() {
		p := info.Name
		ps := s.Protocols[p]
		counter(descPFlows, ps.Flows, p)
		counter(descPTx, ps.Transactions, p)
		counter(descPTimeouts, ps.Timeouts, p)
		counter(descPLost, ps.CaptureLoss, p)
		counter(descPDecodeErr, ps.DecodeErrors, p)
		counter(descPNonProto, ps.NonProtocol, p)
		counter(descPGaps, ps.Gaps, p)
		counter(descPPending, ps.PendingDropped, p)
	}
	if !s.LastPacket.IsZero() {
		gauge(descLastPacket, float64(s.LastPacket.UnixNano())/1e9)
	}
	counter(descStoreErrs, s.StoreFailures)
	gauge(descStoreWait, float64(s.StoreUnwritten))
	up := 0.0
	if healthy {
		up = 1
	}
	gauge(descUp, up)
	for _, d := range forwarders {
		st := d.stats()
		counter(d.descs.sent, st.Sent, d.dest)
		counter(d.descs.drop, st.Dropped, d.dest)
		counter(d.descs.recon, st.Reconnects, d.dest)
		gauge(d.descs.queue, float64(st.Queued), d.dest)
		connected := 0.0
		if st.Connected {
			connected = 1
		}
		gauge(d.descs.up, connected, d.dest)
	}
	counter(descOutErrs, outErrs[0], OutputWrite)
	counter(descOutErrs, outErrs[1], OutputReopen)
	counter(descRepaired, repaired)
	if snap == nil {
		return
	}
	gauge(descDevices, float64(len(snap.Devices)))
	gauge(descChannels, float64(len(snap.Channels)))
	for _, d := range devs {
		if d.server {
			gauge(descItems, d.items, d.label)
		}
		gauge(descConverge, d.converge, d.label)
		gauge(descLearning, d.learning, d.label)
	}
	rules := map[string]int{}
	for _, a := range snap.Alerts {
		rules[a.Rule.String()]++
	}
	for r, n := range rules {
		gauge(descDeviations, float64(n), r)
	}
}

// snapshotLocked returns the cached baseline snapshot, refreshing it when
// older than BaselineEvery. m.mu is held; the snapshot is taken with it
// held, which only delays other scrapes and publications.
func (m *Metrics) snapshotLocked() *baselines.Snapshot {
	if m.baseline == nil {
		return nil
	}
	if now := m.now(); m.snap == nil || now.Sub(m.snapAt) >= BaselineEvery {
		m.snap, m.snapAt = m.baseline(), now
		if m.window <= 0 {
			m.window = time.Hour
		}
		m.devGauges = deviceGauges(m.snap, m.window)
	}
	return m.snap
}

// deviceGauge is one device's series of the per-device baseline gauges, or
// the sum of the devices beyond MaxDeviceLabels (label "other").
type deviceGauge struct {
	label string
	// server: the device serves a channel, so it has baseline items
	// (for "other": one of the devices summed does).
	server bool
	items  float64
	// converge is new items per hour; learning is 1 while the device is
	// in its learning window (for "other": how many of them are).
	converge, learning float64
}

// deviceGauges returns the per-device gauges of s: one series for each of
// the MaxDeviceLabels devices with the most transactions, then "other"
// with the sums of the rest.
func deviceGauges(s *baselines.Snapshot, window time.Duration) []deviceGauge {
	items := make(map[netip.Addr]int, len(s.Channels))
	for _, ch := range s.Channels {
		items[ch.Key.Server] += len(ch.Items())
	}
	var last time.Time
	for _, d := range s.Devices {
		if d.LastSeen.After(last) {
			last = d.LastSeen
		}
	}
	devs := slices.Clone(s.Devices)
	slices.SortFunc(devs, func(a, b *baselines.Device) int {
		return cmp.Or(cmp.Compare(b.Transactions, a.Transactions), a.IP.Compare(b.IP))
	})
	out := make([]deviceGauge, 0, min(len(devs), MaxDeviceLabels+1))
	var other *deviceGauge
	for i, d := range devs {
		n, server := items[d.IP]
		g := deviceGauge{server: server, items: float64(n), converge: d.NewItemsPerHour(window)}
		if d.LearnUntil.After(last) {
			g.learning = 1
		}
		if i < MaxDeviceLabels {
			g.label = d.IP.String()
			out = append(out, g)
			continue
		}
		if other == nil {
			out = append(out, deviceGauge{label: "other"})
			other = &out[len(out)-1]
		}
		other.server = other.server || g.server
		other.items += g.items
		other.converge += g.converge
		other.learning += g.learning
	}
	return out
}

// Handler returns the HTTP handler: /metrics and /healthz.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", m.healthz)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "sluice: /metrics (Prometheus) and /healthz")
	})
	return mux
}

// healthz answers 200 "ok" while healthy and 503 with the reason otherwise;
// the body also gives the packets seen and the last packet time, so a probe
// can tell a quiet link from a dead capture.
func (m *Metrics) healthz(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	err, s := m.healthLocked(), m.stats
	m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "unhealthy: %v\n", err)
		return
	}
	last := "never"
	if !s.LastPacket.IsZero() {
		last = s.LastPacket.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "ok\npackets %s\nlast_packet %s\n", strconv.FormatUint(s.Packets, 10), last)
}

// Serve listens on addr and serves Handler until ctx ends. It returns once
// listening (so a bad address is reported at start-up) and serves in the
// background; the returned channel yields the server's final error.
func (m *Metrics) Serve(ctx context.Context, addr string) (net.Addr, <-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	return ln.Addr(), done, nil
}
