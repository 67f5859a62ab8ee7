// Package agent is Sluice's pipeline: capture source → flow table and TCP
// reassembly → protocol decoders (chosen by server port) → baselines → EVE
// events. It is the only package that sees the whole graph; the protocol
// packages stay pure and the baselines see decoded transactions only.
//
// One Agent is driven by one goroutine: Run feeds it packets from a source
// (call it once per capture file to replay several as one), Close ends every
// connection, writes the final stats event and flushes. Time is packet time
// throughout: nothing in the data path reads the wall clock, so a replay is
// deterministic to the byte.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/communityid"
	"github.com/sluice-ics/sluice/internal/flow"
)

// ErrClosed is returned by Run after Close.
var ErrClosed = errors.New("agent closed")

// Agent decodes packets into events. Create it with New.
type Agent struct {
	cfg Config
	// policy is the engineer's rules (policy.go): swapped whole by
	// SetPolicy from the monitor's SIGHUP, read by the capture goroutine.
	policy atomic.Pointer[baselines.Policy]
	w      *writer
	// inc groups the alerts into incidents (incident.go).
	inc   *incidents
	stats Stats
	// ports maps a server port to 1 + the registry index of its
	// protocol (0: none).
	ports [1 << 16]uint8
	now   time.Time // latest packet time seen
	// nowSec and nowNsec are now's Unix seconds and nanoseconds.
	nowSec  int64
	nowNsec int32
	closed  bool
	engine  *baselines.Engine
	table   *flow.Table
	db      *store.DB // nil without --db
	// tickSec is the packet-time second the baselines were last ticked.
	tickSec int64
	// shared holds each protocol's state shared by its connections (see
	// module.shared), in registry order.
	shared []any
	// limitSec is, per table, the packet-time second of the last
	// resource_limit anomaly (one per table per limitWindow).
	limitSec map[string]int64
	// evictedSeen and dgEvictedSeen are the flow table's eviction counts
	// (connections, datagram conversations) at the last tick.
	evictedSeen, dgEvictedSeen uint64
	// limitedSeen is what the baselines had refused at the last tick.
	limitedSeen baselines.Limited
	// also is the reused list of the rules merged into one alert.
	also []baselines.Alert
	// pcap keeps the packets of alerts (--alert-pcap-dir); nil without.
	pcap *alertPcap
	// udp holds the UDP conversations of the protocols that run over UDP
	// too (udp.go); nil when none has a port.
	udp *udpTable
	// convAddrs are the address fields of the conversation whose alerts
	// are being written (conversation.go), nil otherwise.
	convAddrs []byte
	// conv is the conversation layer's observer (conversation.go).
	conv *convObserver
}

// New validates cfg and returns an agent writing to cfg.Sinks.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	a := &Agent{cfg: cfg, w: newWriter(cfg.Sinks), inc: newIncidents(cfg.IncidentWindow)}
	a.w.tail = identityTail(cfg.Sensor, cfg.Site)
	a.stats.Protocols = make([]ProtoStats, len(modules))
	a.nowSec = a.now.Unix() // of the zero time: any packet is later
	bcfg := baselines.Config{
		Mode:        baselines.Mode(cfg.Mode), // same order: auto, learn, monitor
		LearnFor:    cfg.LearnFor,
		AlertEvery:  cfg.AlertEvery,
		MaxDevices:  cfg.MaxDevices,
		MaxChannels: cfg.MaxChannels,
	}
	if cfg.DBPath == "" {
		a.engine = baselines.New(bcfg)
	} else {
		// The store loads the baseline and starts its writer goroutine,
		// which flushes deltas once a second (wall time decides when
		// they are written, never what they say).
		e, db, err := store.OpenEngine(cfg.DBPath, bcfg, store.Options{OnDelta: cfg.OnBaselineDelta})
		if err != nil {
			return nil, fmt.Errorf("agent: baseline database: %w", err)
		}
		if cfg.OnBaselineDelta != nil {
			e.MarkAllDirty()
		}
		a.engine, a.db = e, db
	}
	if cfg.Policy != nil {
		a.SetPolicy(cfg.Policy)
	}
	a.shared = make([]any, len(modules))
	for i, m := range modules {
		for _, p := range cfg.Ports[m.name] {
			a.ports[p] = uint8(i + 1)
		}
		if m.shared != nil {
			a.shared[i] = m.shared(&a.cfg)
		}
	}
	a.udp = newUDPTable(&a.cfg)
	a.conv = &convObserver{a: a}
	if cfg.AlertPcapDir != "" {
		p, err := newAlertPcap(&a.cfg)
		if err != nil {
			if a.db != nil {
				a.db.Close()
			}
			return nil, err
		}
		a.pcap = p
	}
	a.table = flow.NewTable(flow.Config{
		MaxFlows:           cfg.MaxFlows,
		MaxBufferedPerFlow: cfg.MaxBufferedPerFlow,
		MaxBufferedTotal:   cfg.MaxBufferedTotal,
		IdleTimeout:        cfg.IdleTimeout,
		ServerPort:         func(p uint16) bool { return a.ports[p] != 0 },
		Observer:           a.conv,
	}, a.newStream)
	return a, nil
}

// ctxCheckEvery is how many packets pass between checks of the context and
// of the output's error: often enough to stop within microseconds, rarely
// enough to cost nothing.
const ctxCheckEvery = 1024

// Run reads src to its end and processes every packet. It returns nil at a
// clean end of the source, ctx.Err() when cancelled, the output's write
// error (the run cannot go on without losing events), or the source's error
// (for example one wrapping capture.ErrTruncated) after every packet before
// it was processed. Run does not close src.
func (a *Agent) Run(ctx context.Context, src capture.Source) error {
	if a.closed {
		return ErrClosed
	}
	if ls, ok := src.(liveStatser); ok {
		defer func() {
			if st, err := ls.Stats(); err == nil {
				a.stats.KernelDrops = st.KernelDrops
			}
		}()
	}
	entry, err := a.beginSource(src)
	if err != nil {
		return err
	}
	startPackets := a.stats.Packets
	var first time.Time
	err = a.run(ctx, src, &first)
	// A file is complete at its end; a live capture when it is stopped.
	complete := errors.Is(err, io.EOF) || (isLive(src) && errors.Is(err, context.Canceled))
	if errors.Is(err, io.EOF) {
		err = a.w.failure()
	}
	a.endSource(entry, a.stats.Packets-startPackets, first, a.now, complete && a.w.failure() == nil)
	return err
}

// run reads src to its end (io.EOF), an error or ctx's end, and sets first
// to the first packet's time.
func (a *Agent) run(ctx context.Context, src capture.Source, first *time.Time) error {
	done := ctx.Done()
	// One Packet for the whole run: a capture.File fills it in place,
	// which saves copying a Packet out of Next on every frame. It is
	// called through the interface, not a method value (whose wrapper
	// is one more call per packet).
	pr, _ := src.(packetReader)
	var p capture.Packet
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
			if err := a.w.failure(); err != nil {
				return err
			}
		}
		var err error
		if pr != nil {
			err = pr.ReadPacket(&p)
		} else {
			p, err = src.Next()
		}
		if err != nil {
			return err
		}
		if n == 0 {
			*first = p.Timestamp
			if !a.now.IsZero() {
				a.boundary(p.Timestamp)
			}
		}
		a.packet(&p)
	}
}

// boundary is the start, at packet time next, of a source after another
// (the next capture file of a replay). The time between the last packet
// and next was not captured: the baselines learn no poll interval across
// it and judge polls only after it (Engine.CaptureGap). When the files
// overlap or come out of order (next before the last packet), or the
// pause is longer than IdleTimeout, the connections of the earlier file
// end there (their unanswered requests are the capture's loss, not
// timeouts), and the clock restarts at next; rotated files of one
// capture (next just after the last packet) keep their connections.
func (a *Agent) boundary(next time.Time) {
	last := a.now
	if next.Before(last) || next.Sub(last) > a.cfg.IdleTimeout {
		a.table.Close()
		a.now, a.nowSec, a.nowNsec = next, next.Unix(), int32(next.Nanosecond())
		a.tickSec = 0
	}
	a.engine.CaptureGap(last, next)
}

// packetReader is implemented by capture.File: Next filling the caller's
// Packet instead of returning a copy.
type packetReader interface {
	ReadPacket(*capture.Packet) error
}

// liveStatser is implemented by live sources (capture.Live); Run takes the
// kernel's drop count from it for the stats event.
type liveStatser interface {
	Stats() (capture.LiveStats, error)
}

// FlushEvery makes the agent flush its sinks at least every d of wall
// time, from a goroutine that stops when ctx ends. Live capture needs it (an
// alert must not wait in a buffer while the link is quiet); replay does
// not. Every sink must then be safe for a Flush from that goroutine (an EVE
// sink made Locked). Call it before Run. Wall time decides only when bytes
// are written, never what they say.
func (a *Agent) FlushEvery(ctx context.Context, d time.Duration) {
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.w.flush()
			}
		}
	}()
}

// Flush flushes every sink now (before a log rotation, for instance). It
// may be called from another goroutine only after FlushEvery; otherwise
// from the goroutine that runs Run. It returns the first error of a
// critical sink, if any.
func (a *Agent) Flush() error { return a.w.flush() }

// Failed returns a channel that is closed when a critical sink (the EVE
// output) fails: its write error, for instance a full disk, stops the run.
// Run notices it between packets, which may be long in coming on a quiet
// link; a live monitor waits on this channel to report the failure at once
// and to stop its capture. Safe from any goroutine.
func (a *Agent) Failed() <-chan struct{} { return a.w.failedCh }

// Failure returns the error of the critical sink that failed, nil while
// none has. Safe from any goroutine.
func (a *Agent) Failure() error { return a.w.failure() }

// packet processes one frame.
func (a *Agent) packet(p *capture.Packet) {
	a.stats.Packets++
	a.stats.Bytes += uint64(p.Length)
	// p.Timestamp.After(a.now), on seconds and nanoseconds kept beside
	// a.now: After is not inlined and converts both times.
	if sec, nsec := p.Timestamp.Unix(), int32(p.Timestamp.Nanosecond()); sec > a.nowSec || sec == a.nowSec && nsec > a.nowNsec {
		a.now, a.nowSec, a.nowNsec = p.Timestamp, sec, nsec
		if sec != a.tickSec {
			a.tickSec = sec
			a.tick()
		}
	}
	if a.pcap != nil {
		a.pcap.packet(p) // before the packet can raise an alert: the file starts with it
	}
	if a.udp != nil && !surelyNotUDP(p) && a.udpPacket(p) {
		return
	}
	a.table.Packet(p) // with the wire length, so bytes the capture snapped off are reported as gaps
}

// newStream is the flow table's StreamFactory: the server port chooses the
// protocol; connections on other ports are only tracked to their end.
//
// A connection whose SYN came from a configured server port towards an
// unconfigured one (a crafted SYN from 502, as in zeek_fuzz-72.pcap, or a
// SYN the capture mislabels) is oriented by the port instead: a PLC does not
// open connections from 502. Its stream sees the directions swapped back.
func (a *Agent) newStream(c *flow.Conn, ts time.Time) flow.Stream {
	if a.ports[c.Key.ServerPort] == 0 && a.ports[c.Key.ClientPort] != 0 {
		sw := *c
		sw.Key.ClientIP, sw.Key.ServerIP = c.Key.ServerIP, c.Key.ClientIP
		sw.Key.ClientPort, sw.Key.ServerPort = c.Key.ServerPort, c.Key.ClientPort
		sw.ClientMAC, sw.ServerMAC = c.ServerMAC, c.ClientMAC
		c.AppProto = modules[a.ports[sw.Key.ServerPort]-1].name
		return swapped{a.newConn(int(a.ports[sw.Key.ServerPort])-1, &sw, communityid.TCP, &c.AppProto)}
	}
	if p := a.ports[c.Key.ServerPort]; p != 0 {
		c.AppProto = modules[p-1].name
		return a.newConn(int(p)-1, c, communityid.TCP, &c.AppProto)
	}
	return nil // a typed nil would not be nil to the table
}

// swapped hands a stream its connection's directions reversed (see
// newStream).
type swapped struct{ flow.Stream }

func (s swapped) Data(dir flow.Dir, data []byte, ts time.Time) { s.Stream.Data(1-dir, data, ts) }
func (s swapped) Gap(dir flow.Dir, lost int, ts time.Time)     { s.Stream.Gap(1-dir, lost, ts) }

// Panicked implements flow.PanicHandler for the stream it wraps.
func (s swapped) Panicked(r any, dir flow.Dir, ts time.Time) {
	if h, ok := s.Stream.(flow.PanicHandler); ok {
		h.Panicked(r, 1-dir, ts)
	}
}

// tick advances the baselines' packet time once per second of traffic and
// writes the alerts only time can raise (poll_stopped).
func (a *Agent) tick() {
	alerts := a.engine.Tick(a.now)
	for i := range alerts {
		a.writeAlert(&alerts[i], nil, nil, nil, nil)
	}
	a.closeIncidents(a.now, false)
	a.expireUDP(a.now, false)
	if a.pcap != nil {
		a.pcap.tick(a.now)
	}
	if fs := a.table.Stats(); fs.Evicted != a.evictedSeen || fs.DatagramEvicted != a.dgEvictedSeen {
		if fs.Evicted != a.evictedSeen {
			a.resourceLimit(a.now, "flows", a.cfg.MaxFlows)
		}
		if fs.DatagramEvicted != a.dgEvictedSeen {
			a.resourceLimit(a.now, "datagram_conversations", a.table.Config().MaxDatagramConvs)
		}
		a.evictedSeen, a.dgEvictedSeen = fs.Evicted, fs.DatagramEvicted
	}
	if a.db != nil {
		// A store that cannot be written (a full disk): the baseline
		// goes on learning in memory and the store's writer keeps what
		// it could not write for its next try; say so, once a minute.
		if st := a.db.Status(); st.Err != nil && a.limitDue(a.now, "store") {
			a.agentAnomaly(a.now, "store_unwritable", fmt.Sprintf("the baseline database cannot be written (%v): learning goes on in memory, %d records wait to be written", st.Err, st.Unwritten))
		}
	}
	if l := a.engine.Limited(); l != a.limitedSeen {
		if l.Devices != a.limitedSeen.Devices {
			a.resourceLimit(a.now, "devices", a.cfg.MaxDevices)
		}
		if l.Channels != a.limitedSeen.Channels {
			a.resourceLimit(a.now, "channels", a.cfg.MaxChannels)
		}
		if l.Items != a.limitedSeen.Items {
			a.resourceLimit(a.now, "items_per_channel", a.engine.Config().MaxItems)
		}
		if l.ProcessVars != a.limitedSeen.ProcessVars {
			a.resourceLimit(a.now, "process_variables_per_device", a.engine.Config().MaxProcessVarsPerDevice)
		}
		a.limitedSeen = l
	}
}

// LastPacket returns the latest packet time seen (the zero time before the
// first packet); after a boundary to an earlier file, that file's.
func (a *Agent) LastPacket() time.Time { return a.now }

// Engine returns the agent's baselines engine (for tools that accept
// deviations or report on a live run). Its methods are safe for concurrent
// use with Run.
func (a *Agent) Engine() *baselines.Engine { return a.engine }

// Stats returns the counters so far, the flow table's included. Like every
// method but FlushEvery's goroutine and Engine, it must be called from the
// goroutine that runs Run (a Source wrapper may call it from Next).
func (a *Agent) Stats() Stats {
	s := a.stats.clone()
	a.mergeFlowStats(&s)
	s.SinkErrors = a.w.sinkErrors.Load()
	if a.db != nil {
		s.Store = a.db.Status()
	}
	return s
}

// UnsupportedLinkTypes returns how many frames of each link type the agent
// could not decode because it does not handle the link type (IEEE 802.11,
// USB, USERn…), since the agent was created. They are counted as
// undecodable in the stats; replay warns about them per file.
func (a *Agent) UnsupportedLinkTypes() []flow.LinkTypeCount { return a.table.UnsupportedLinkTypes() }

// SetKernelDrops records the packets the kernel dropped before the agent
// saw them, for the stats event, when the live source is wrapped (Run reads
// them itself from an unwrapped capture.Live).
func (a *Agent) SetKernelDrops(n uint64) { a.stats.KernelDrops = n }

// Close ends every connection (pending requests are emitted as timeouts),
// writes the final stats event and flushes the output. It returns the
// output's write error, if any. Close is idempotent.
func (a *Agent) Close() error {
	if a.closed {
		return a.w.failure()
	}
	a.closed = true
	a.table.Close()
	a.expireUDP(a.now, true)
	a.tick()
	// The repeats --alert-every held back, so that the counts of every
	// deviation's alerts add up to its occurrences.
	held := a.engine.FlushHeldBack(a.now)
	for i := range held {
		a.writeAlert(&held[i], nil, nil, nil, nil)
	}
	a.closeIncidents(a.now, true)
	a.mergeFlowStats(&a.stats)
	if a.pcap != nil {
		st := a.pcap.close()
		a.stats.AlertPcap = &st
	}
	a.writeStats()
	var dbErr error
	if a.db != nil {
		// Close writes the last delta in one transaction.
		if err := a.db.Close(); err != nil {
			dbErr = fmt.Errorf("agent: baseline database: %w", err)
		}
	}
	if err := a.w.flush(); err != nil {
		return errors.Join(fmt.Errorf("agent: %w", err), dbErr)
	}
	return dbErr
}

// mergeFlowStats copies the flow table's counters into s. Panics are
// counted by the table alone, which runs every Stream call under its
// recover (see conn.Panicked).
func (a *Agent) mergeFlowStats(s *Stats) {
	fs := a.table.Stats()
	s.Undecodable = fs.Packets - fs.TCPPackets
	s.Flows = fs.FlowsCreated
	s.FlowsIgnored = fs.FlowsIgnored
	s.Evictions = fs.Evicted
	s.Datagrams, s.DatagramEvictions = fs.DatagramConvs, fs.DatagramEvicted
	s.DroppedSegments = fs.Gaps
	s.DroppedBytes = fs.BytesDropped + fs.GapBytes
	s.RecoveredPanics = fs.RecoveredPanics
}

// writeStats writes the stats event, stamped with the last packet time (or
// the zero time, 0001-01-01, when no packet was seen).
func (a *Agent) writeStats() {
	w := a.w
	if !w.wants(w.stats) {
		return
	}
	a.stats.Events = w.written + 1
	w.open(a.now, EventStats, nil, w.stats)
	w.buf = appendHead(w.buf, EventStats, 0, false, nil)
	w.buf = append(w.buf, `,"stats":`...)
	w.buf = a.stats.appendJSON(w.buf)
	w.send()
}

// Run is the one-call form: it runs a new agent over each source in turn and
// closes it.
func Run(ctx context.Context, cfg Config, srcs ...capture.Source) (Stats, error) {
	a, err := New(cfg)
	if err != nil {
		return Stats{}, err
	}
	var runErr error
	for _, s := range srcs {
		if runErr = a.Run(ctx, s); runErr != nil {
			break
		}
	}
	closeErr := a.Close()
	return a.stats.clone(), errors.Join(runErr, closeErr)
}
