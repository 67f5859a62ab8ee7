// Package syslog forwards Sluice's events to a SOC's SIEM as RFC 5424
// syslog messages (issue #13): over UDP (RFC 5426), TCP with octet
// counting (RFC 6587 3.4.1) or TLS (RFC 5425), each message an RFC 5424
// header — PRI from the alert's severity, the packet time, the host, app
// "sluice", the process id, the event type as MSGID, the sensor identity
// as structured data — followed by the event in CEF, LEEF or EVE JSON.
//
// A Sink is an agent sink that is not critical: the network must never
// stop the monitor. Write renders the message from the record (no EVE
// JSON is parsed) and queues it; a goroutine of the sink sends the queue,
// reconnecting with exponential backoff while the collector is
// unreachable. The queue is bounded: when it is full the oldest message is
// dropped and counted. Flush waits, at most Config.FlushTimeout, for what
// was queued to be sent, so that a replay's last alerts leave before the
// process exits.
//
// Plain syslog has no acknowledgement: a message written to a TCP
// connection in the instant its collector dies can be lost. The sender
// checks that the connection is still open before every write (as
// rsyslog's own forwarder does), which narrows that window to the
// messages in flight when the collector goes away.
package syslog

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/sluice-ics/sluice/agent"
)

// Defaults of Config.
const (
	DefaultQueueSize    = 10000
	DefaultFlushTimeout = 2 * time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
	DefaultDialTimeout  = 5 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

// MaxQueueBytes bounds the bytes of the messages queued by one sink,
// whatever the queue size: 10,000 CEF alerts take about 6 MiB, but an EVE
// transaction event of OPC UA can take tens of kilobytes.
const MaxQueueBytes = 32 << 20

// maxDatagram is the longest message sent over UDP; a longer one (only a
// large EVE event can be) is cut there. RFC 5426 3.2: the datagram must
// fit, and a receiver may truncate.
const maxDatagram = 65000

// Default ports by scheme: 514 for UDP (RFC 5426) and plain TCP (the
// usual, there is no assigned port), 6514 for TLS (RFC 5425).
var defaultPorts = map[string]string{"udp": "514", "tcp": "514", "tls": "6514"}

// Config is one syslog destination.
type Config struct {
	// URL is udp://HOST[:PORT], tcp://HOST[:PORT] or tls://HOST[:PORT].
	URL string
	// Format is what follows the RFC 5424 header.
	Format Format
	// AllEvents sends every event type; false (the default) sends the
	// alert events only.
	AllEvents bool
	// Facility is the syslog facility, 1-23; 0 means DefaultFacility
	// (local4).
	Facility int
	// Hostname is the HOSTNAME field; empty means os.Hostname().
	Hostname string
	// Sensor and Site name the monitor (structured data, CEF dvchost and
	// cs4, LEEF sensor and site); empty leaves them out.
	Sensor, Site string
	// Version is the product version of the CEF and LEEF headers; empty
	// means the binary's module version or VCS revision.
	Version string
	// TLS configures tls:// destinations; nil verifies the server against
	// the system's roots. The server name defaults to the URL's host.
	TLS *tls.Config
	// QueueSize is how many messages wait while the collector is
	// unreachable (DefaultQueueSize when 0); beyond it the oldest are
	// dropped. MaxQueueBytes bounds them too.
	QueueSize int
	// FlushTimeout bounds how long Flush waits for the queue to drain.
	FlushTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between two failed
	// connection attempts; it doubles from one to the other.
	MinBackoff, MaxBackoff time.Duration
	// DialTimeout bounds a connection attempt (TLS handshake included),
	// WriteTimeout one write (a collector that stops reading).
	DialTimeout, WriteTimeout time.Duration
}

// Stats are a sink's counters.
type Stats struct {
	// Destination is the URL.
	Destination string
	// Sent counts the messages written to the collector's connection;
	// Dropped those lost to a full queue (or still queued at Close).
	Sent, Dropped uint64
	// Reconnects counts connections made after the first.
	Reconnects uint64
	// Queued is the number of messages waiting, in flight included.
	Queued int
	// Connected says whether a connection to the collector is open.
	Connected bool
}

// Sink forwards records to one syslog collector. Create it with New; its
// methods are safe for concurrent use.
type Sink struct {
	dest     destination
	format   Format
	accepts  func(string) bool
	facility int
	// mid and sd are the constant parts of every header (see header).
	mid, sd               []byte
	sensor, site, version string
	tls                   *tls.Config
	flushTimeout          time.Duration
	minBackoff            time.Duration
	maxBackoff            time.Duration
	dialTimeout           time.Duration
	writeTimeout          time.Duration

	mu sync.Mutex
	q  *queue
	// inflight is the number of messages the sender holds.
	inflight int
	// enqueued counts messages written; sent + q.dropped catch up with it.
	enqueued, sent, reconnects uint64
	conn                       *link // the open connection, nil when none
	// retryAt is when the sender tries to connect again, zero while it
	// is connected or connecting.
	retryAt time.Time
	// changed is closed (and replaced) when the sender makes progress or
	// gives up for a while, if waiters is non-zero (Flush waits on it).
	changed chan struct{}
	waiters int
	closed  bool

	wake    chan struct{} // a message was queued
	stop    chan struct{} // Close was called
	stopped chan struct{} // the sender has returned
}

// destination is a parsed URL.
type destination struct {
	url     string
	network string // udp or tcp
	addr    string // host:port
	host    string
	tls     bool
}

// parseURL reads udp://, tcp:// and tls:// URLs.
func parseURL(s string) (destination, error) {
	u, err := url.Parse(s)
	if err != nil {
		return destination{}, fmt.Errorf("syslog destination %q: %w", s, err)
	}
	port, ok := defaultPorts[u.Scheme]
	if !ok {
		return destination{}, fmt.Errorf("syslog destination %q: scheme must be udp, tcp or tls", s)
	}
	if u.Hostname() == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return destination{}, fmt.Errorf("syslog destination %q: want %s://HOST[:PORT]", s, u.Scheme)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	d := destination{url: s, network: "tcp", addr: net.JoinHostPort(u.Hostname(), port), host: u.Hostname(), tls: u.Scheme == "tls"}
	if u.Scheme == "udp" {
		d.network = "udp"
	}
	return d, nil
}

// Validate reports the first problem of c: a URL that is not a
// destination, an unknown format, a facility or a queue size out of range.
func (c *Config) Validate() error {
	if _, err := parseURL(c.URL); err != nil {
		return err
	}
	if c.Format > FormatEVE {
		return fmt.Errorf("syslog: %v", c.Format)
	}
	if c.Facility < 0 || c.Facility > 23 {
		return fmt.Errorf("syslog: facility %d out of 0-23", c.Facility)
	}
	if c.QueueSize < 0 {
		return fmt.Errorf("syslog: negative queue size %d", c.QueueSize)
	}
	return nil
}

// New validates cfg and returns a sink whose sender runs until Close. It
// does not connect: a collector that is down at start is retried, never
// an error.
func New(cfg Config) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, _ := parseURL(cfg.URL)
	if cfg.Facility == 0 {
		cfg.Facility = DefaultFacility
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.Version == "" {
		cfg.Version = buildVersion()
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.FlushTimeout, DefaultFlushTimeout)
	def(&cfg.MinBackoff, DefaultMinBackoff)
	def(&cfg.MaxBackoff, DefaultMaxBackoff)
	def(&cfg.DialTimeout, DefaultDialTimeout)
	def(&cfg.WriteTimeout, DefaultWriteTimeout)
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	s := &Sink{
		dest:         d,
		format:       cfg.Format,
		facility:     cfg.Facility,
		sensor:       cfg.Sensor,
		site:         cfg.Site,
		version:      cfg.Version,
		tls:          cfg.TLS,
		flushTimeout: cfg.FlushTimeout,
		minBackoff:   cfg.MinBackoff,
		maxBackoff:   max(cfg.MaxBackoff, cfg.MinBackoff),
		dialTimeout:  cfg.DialTimeout,
		writeTimeout: cfg.WriteTimeout,
		q:            newQueue(cfg.QueueSize, MaxQueueBytes),
		changed:      make(chan struct{}),
		wake:         make(chan struct{}, 1),
		stop:         make(chan struct{}),
		stopped:      make(chan struct{}),
	}
	if d.tls {
		if s.tls == nil {
			s.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if s.tls.ServerName == "" { // verify the certificate against the URL's host
			s.tls = s.tls.Clone()
			s.tls.ServerName = d.host
		}
	}
	s.mid, s.sd = header(cfg.Hostname, os.Getpid(), cfg.Sensor, cfg.Site)
	s.accepts = func(typ string) bool { return typ == agent.EventAlert }
	if cfg.AllEvents {
		s.accepts = func(string) bool { return true }
	}
	go s.run()
	return s, nil
}

// buildVersion is the version of the running binary: its module version
// when it was installed from one, else its VCS revision, else "dev".
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, kv := range bi.Settings {
		if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
			return kv.Value[:12]
		}
	}
	return "dev"
}

// TLSConfig returns the TLS configuration of tls:// destinations: the
// server's certificate verified against the PEM certificates of caFile,
// or the system's roots when caFile is empty; a client certificate when
// certFile and keyFile are given (both or neither). TLS 1.2 at least.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("syslog CA: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("syslog CA: no PEM certificate in %s", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("syslog client certificate: give both the certificate and the key")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("syslog client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Accepts implements agent.Sink: alert events, or every event with
// Config.AllEvents.
func (s *Sink) Accepts(typ string) bool { return s.accepts(typ) }

// Critical implements agent.Sink: a collector that is down must not stop
// the monitor.
func (s *Sink) Critical() bool { return false }

// Write implements agent.Sink: it renders r's message and queues it,
// dropping the oldest queued message when the queue is full. It never
// blocks on the network and never fails.
func (s *Sink) Write(r *agent.Record) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.q.push(s.appendMessage(s.q.spare(), r))
	s.enqueued++
	if s.waiters > 0 {
		s.broadcastLocked()
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Flush implements agent.Sink: it waits until every message queued before
// the call has been sent or dropped, at most the flush timeout, and not
// at all while the sender waits to reconnect beyond that timeout (a
// collector that is down delays nothing). It always returns nil: what
// could not be sent stays queued.
func (s *Sink) Flush() error {
	deadline := time.Now().Add(s.flushTimeout)
	var timer *time.Timer
	s.mu.Lock()
	defer s.mu.Unlock()
	target := s.enqueued
	for s.sent+s.q.dropped < target && !s.closed {
		if !s.retryAt.IsZero() && s.retryAt.After(deadline) {
			return nil
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		ch := s.changed
		s.waiters++
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
		}
		s.mu.Lock()
		s.waiters--
	}
	return nil
}

// broadcastLocked wakes the Flush calls waiting for progress.
func (s *Sink) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stats returns the sink's counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Destination: s.dest.url, Sent: s.sent, Dropped: s.q.dropped, Reconnects: s.reconnects,
		Queued: s.q.len() + s.inflight, Connected: s.conn != nil}
}

// closeWait is how long Close lets a write in progress finish before it
// cuts the connection.
const closeWait = time.Second

// Close stops the sender and closes the connection; it does not wait for
// the queue (Flush does). What was still queued is counted as dropped in
// the Stats it returns. Close is idempotent.
func (s *Sink) Close() Stats {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
		s.broadcastLocked()
	}
	s.mu.Unlock()
	select {
	case <-s.stopped:
	case <-time.After(closeWait):
		// A write to a collector that stopped reading.
		s.mu.Lock()
		if s.conn != nil {
			s.conn.abort()
		}
		s.mu.Unlock()
		<-s.stopped
	}
	s.mu.Lock()
	for s.q.len() > 0 {
		s.q.popFront()
		s.q.dropped++
	}
	s.q.dropped += uint64(s.inflight)
	s.inflight = 0
	s.mu.Unlock()
	return s.Stats()
}

// String names the destination.
func (s *Sink) String() string { return "syslog " + strings.TrimSuffix(s.dest.url, "/") }
