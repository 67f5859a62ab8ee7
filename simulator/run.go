package simulator

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/sluice-ics/sluice/internal/jsonw"
)

// servers is one running PLC: the Modbus front with the library behind it,
// and the OPC UA server, all on the process p.
type servers struct {
	p      *Process
	front  *mbFront
	lib    *mb.ModbusServer
	mbLn   net.Listener
	ua     *uaServer
	uaAddr string // host:port
	uaURL  string
	// rtu is the DNP3 gate station (nil when disabled).
	rtu  *rtu
	done chan struct{}
	// conns are the Modbus front's live client connections, closed by
	// close: a client that keeps its connection open (an idle master, a
	// demo's actors) must not keep the PLC running after shutdown.
	connMu sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	// last holds the boolean tags' values as last notified to OPC UA
	// subscribers (sample).
	last map[string]float64
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServers starts the Modbus front on mbAddr (TLS when tlsCfg is set),
// the library's server on a private loopback port, the OPC UA server on
// uaEndpoint and the DNP3 gate station on dnp3Addr ("" for none).
func startServers(ctx context.Context, p *Process, mbAddr, uaEndpoint, dnp3Addr string, tap mbTap, tlsCfg *tls.Config, logger *log.Logger) (*servers, error) {
	h := &plcHandler{p: p}
	var lib *mb.ModbusServer
	var backend string
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		backend = "127.0.0.1:" + strconv.Itoa(port)
		lib, err = mb.NewServer(&mb.ServerConfiguration{URL: "tcp://" + backend, Timeout: 24 * time.Hour, MaxClients: 256, Logger: discard}, h)
		if err == nil {
			if err = lib.Start(); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("modbus library server: %w", err)
	}
	ln, err := net.Listen("tcp", mbAddr)
	if err != nil {
		lib.Stop()
		return nil, fmt.Errorf("modbus listen %s: %w", mbAddr, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s := &servers{p: p, lib: lib, mbLn: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{},
		front: &mbFront{p: p, h: h, backend: backend, tap: tap, logger: logger}}
	go s.accept()
	if uaEndpoint != "" {
		ua, err := newUAServer(p, uaEndpoint, logger)
		if err == nil {
			err = ua.start(ctx)
		}
		if err != nil {
			s.close()
			return nil, err
		}
		s.ua = ua
		s.uaURL = uaEndpoint
		h.written = func(tags []*Tag) {
			for _, t := range tags {
				ua.ns.ChangeNotification(gopcuaNodeID(t))
			}
		}
		s.uaAddr = strings.TrimPrefix(uaEndpoint, "opc.tcp://")
	}
	if dnp3Addr != "" {
		if s.rtu, err = startRTU(p, dnp3Addr); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// sample notifies OPC UA subscribers of the boolean tags (alarms, breaker
// states) that the process changed since the last call, as a server sampling
// its monitored items would; writes notify at once (plcHandler.written,
// uaServer.writeOne). Callers serialize calls.
func (s *servers) sample() {
	if s.ua == nil {
		return
	}
	if s.last == nil {
		s.last = map[string]float64{}
	}
	for i := range Tags {
		t := &Tags[i]
		if t.Kind != Bool {
			continue
		}
		v := s.p.Get(t.Name)
		if old, ok := s.last[t.Name]; ok && old != v {
			s.ua.ns.ChangeNotification(gopcuaNodeID(t))
		}
		s.last[t.Name] = v
	}
}

// settle waits (at most 100 ms) until every OPC UA subscription has taken in
// the notifications queued for it, so that what a Publish returns does not
// depend on how fast the server's goroutines ran.
func (s *servers) settle() {
	if s.ua == nil {
		return
	}
	ss := s.ua.srv.SubscriptionService
	for range 100 {
		pending := 0
		ss.Mu.Lock()
		for _, sub := range ss.Subs {
			pending += len(sub.NotifyChannel)
		}
		ss.Mu.Unlock()
		if pending == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// startLoopback starts the servers on loopback ports of their own. gopcua's
// server cannot listen on port 0, so the OPC UA port is picked first; another
// process may take it meanwhile, hence the retries.
func startLoopback(ctx context.Context, p *Process, tap mbTap) (*servers, error) {
	var err error
	for attempt := 0; attempt < 8; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			continue
		}
		var srv *servers
		srv, err = startServers(ctx, p, "127.0.0.1:0", "opc.tcp://127.0.0.1:"+strconv.Itoa(port), "127.0.0.1:0", tap, nil, nil)
		if err == nil {
			return srv, nil
		}
	}
	return nil, err
}

// accept serves Modbus clients; a panic in one connection is logged and ends
// only that connection.
func (s *servers) accept() {
	defer close(s.done)
	for {
		c, err := s.mbLn.Accept()
		if err != nil {
			return
		}
		if !s.track(c) {
			c.Close()
			return
		}
		go func() {
			defer s.untrack(c)
			defer func() {
				if r := recover(); r != nil {
					if s.front.logger != nil {
						s.front.logger.Printf("modbus: connection %s: recovered from %v", c.RemoteAddr(), r)
					}
					c.Close()
				}
			}()
			s.front.serve(c)
		}()
	}
}

// uaCloseWait bounds how long close waits for gopcua's server to shut down.
const uaCloseWait = 2 * time.Second

// track registers a live connection; false once close has begun.
func (s *servers) track(c net.Conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *servers) untrack(c net.Conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
}

// close stops the servers: the Modbus listener, every live front connection
// (their goroutines then end on the read error), the library's server with
// its backend connections, and the OPC UA server. gopcua's Server.Close
// (v0.8.0) waits up to 10 s for secure-channel goroutines that are blocked
// handing a message to a broker nobody reads any more; its listener and
// connections are closed first, so close waits uaCloseWait for it and lets
// the rest finish in the background.
func (s *servers) close() {
	s.mbLn.Close()
	<-s.done
	s.connMu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()
	s.lib.Stop()
	if s.rtu != nil {
		s.rtu.close()
	}
	if s.ua != nil {
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			s.ua.close()
		}()
		select {
		case <-closed:
		case <-time.After(uaCloseWait):
		}
	}
}

// run executes a timeline. Live, it sleeps until each event's time; in a
// capture it advances the process and the recorder's cursor instead, so an
// hour takes as long as the computation. Label windows are filled from the
// times the attack steps actually took.
func (e *env) run(evs []event, labels []Label, ext func(int) time.Duration, start time.Time) error {
	seen := make([]bool, len(labels))
	for _, ev := range evs {
		if err := e.ctx.Err(); err != nil {
			return err
		}
		if e.live() {
			if d := time.Until(start.Add(ev.at)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-e.ctx.Done():
					t.Stop()
					return e.ctx.Err()
				case <-t.C:
				}
			}
		} else {
			e.p.AdvanceTo(ev.at)
			if e.srv != nil {
				e.srv.sample()
			}
			e.rec.begin(ev.at)
		}
		t0 := e.now()
		err := e.guard(ev)
		t1 := e.now()
		if ev.label >= 0 {
			l := &labels[ev.label]
			if !seen[ev.label] || t0.Before(l.Start) {
				l.Start = t0
			}
			if !seen[ev.label] || t1.After(l.End) {
				l.End = t1
			}
			seen[ev.label] = true
		}
		if err != nil {
			if !e.live() {
				return fmt.Errorf("simulator: event at %s: %w", ev.at, err)
			}
			e.logf("sim: %v", err)
		}
	}
	for i := range labels {
		labels[i].End = labels[i].End.Add(ext(i))
	}
	return nil
}

// guard runs one event, turning a panic into an error: a bug in one actor
// must not take the simulator down.
func (e *env) guard(ev event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("actor panic: %v", r)
		}
	}()
	return ev.run(e)
}

// closeQuietly drops the actors' connections at the end of a capture
// without recording anything: they are still open when the capture ends.
func (e *env) closeQuietly() {
	if e.hmi != nil {
		e.hmi.c.Close()
	}
	if e.historian != nil {
		e.historian.c.Close()
	}
	if e.atkRaw != nil {
		e.atkRaw.c.Close()
	}
	if e.liveHist != nil {
		e.liveHist.close()
	}
	if e.atkUA != nil {
		e.atkUA.c.Close()
	}
	if e.scadaDNP3 != nil {
		e.scadaDNP3.c.Close()
	}
}

// CaptureConfig selects what WriteCapture generates.
type CaptureConfig struct {
	Scenario string
	Duration time.Duration // simulated time, from Epoch
	Seed     uint64
	Out      string // pcap path; the labels go to the same path with .labels.json
}

// Labels is the content of a capture's .labels.json (issue 3, 6).
type Labels struct {
	Scenario   string
	Seed       uint64
	Start, End time.Time
	Attacks    []Label
}

// MarshalJSON writes the labels with the timestamps of every Sluice output
// (RFC 3339, UTC, microseconds, Z).
func (l *Labels) MarshalJSON() ([]byte, error) {
	strs := func(dst []byte, ss []string) []byte {
		dst = append(dst, '[')
		for i, s := range ss {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonw.String(dst, s)
		}
		return append(dst, ']')
	}
	b := append([]byte(nil), '{')
	b = jsonw.Key(b, "scenario")
	b = jsonw.String(b, l.Scenario)
	b = append(b, ',')
	b = jsonw.Key(b, "seed")
	b = jsonw.Uint(b, l.Seed)
	b = append(b, ',')
	b = jsonw.Key(b, "start")
	b = jsonw.Time(b, l.Start)
	b = append(b, ',')
	b = jsonw.Key(b, "end")
	b = jsonw.Time(b, l.End)
	b = append(b, ',')
	b = jsonw.Key(b, "attacks")
	b = append(b, '[')
	for i, a := range l.Attacks {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n "...)
		b = append(b, '{')
		b = jsonw.Key(b, "name")
		b = jsonw.String(b, a.Name)
		b = append(b, ',')
		b = jsonw.Key(b, "start")
		b = jsonw.Time(b, a.Start)
		b = append(b, ',')
		b = jsonw.Key(b, "end")
		b = jsonw.Time(b, a.End)
		b = append(b, ',')
		b = jsonw.Key(b, "src_ip")
		b = jsonw.String(b, a.SrcIP)
		b = append(b, ',')
		b = jsonw.Key(b, "dest_ip")
		b = jsonw.String(b, a.DestIP)
		b = append(b, ',')
		b = jsonw.Key(b, "incident")
		b = jsonw.String(b, a.Incident)
		b = append(b, ',')
		b = jsonw.Key(b, "expected_rules")
		b = strs(b, a.ExpectedRules)
		b = append(b, ',')
		b = jsonw.Key(b, "mitre_attack")
		b = strs(b, a.MITRE)
		b = append(b, '}')
	}
	b = append(b, "]}\n"...)
	return b, nil
}

// LabelsPath returns where the labels of the capture at pcapPath go.
func LabelsPath(pcapPath string) string {
	return strings.TrimSuffix(pcapPath, ".pcap") + ".labels.json"
}

// Capture generates cfg.Duration of simulated time of a scenario and returns
// the pcap bytes and the labels. It runs the real servers and clients over
// loopback sockets in lock-step, without waiting for simulated time: the same
// configuration always gives the same bytes.
func Capture(ctx context.Context, cfg CaptureConfig) ([]byte, *Labels, error) {
	sc, err := ScenarioByName(cfg.Scenario)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Duration <= 0 {
		return nil, nil, fmt.Errorf("simulator: capture duration %s: must be positive", cfg.Duration)
	}
	p := NewProcess(cfg.Seed)
	rec := newRecorder(cfg.Seed)
	srv, err := startLoopback(ctx, p, frontTap{rec})
	if err != nil {
		return nil, nil, err
	}
	defer srv.close()
	e := &env{ctx: ctx, p: p, rec: rec, srv: srv, mbAddr: srv.mbLn.Addr().String(), uaAddr: srv.uaAddr, uaURL: srv.uaURL,
		dnp3Addr: srv.rtu.ln.Addr().String(), seed: cfg.Seed, logf: func(string, ...any) {}}
	evs, labels := sc.timeline(cfg.Duration, attackStart(cfg.Duration), cfg.Seed, true)
	runErr := e.run(evs, labels, sc.extension, Epoch)
	e.closeQuietly()
	if runErr != nil {
		return nil, nil, runErr
	}
	var buf bytes.Buffer
	if err := rec.finish(cfg.Duration).writePcap(&buf); err != nil {
		return nil, nil, err
	}
	for i := range labels {
		// An attack still running when the capture stops ends with it.
		if end := Epoch.Add(cfg.Duration); labels[i].End.After(end) {
			labels[i].End = end
		}
	}
	return buf.Bytes(), &Labels{Scenario: sc.Name, Seed: cfg.Seed, Start: Epoch, End: Epoch.Add(cfg.Duration), Attacks: labels}, nil
}

// WriteCapture runs Capture and writes cfg.Out and its labels file.
func WriteCapture(ctx context.Context, cfg CaptureConfig) (*Labels, error) {
	pcap, labels, err := Capture(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfg.Out, pcap, 0o644); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	lj, _ := labels.MarshalJSON()
	if err := os.WriteFile(LabelsPath(cfg.Out), lj, 0o644); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	return labels, nil
}

// TestdataCaptures are the small captures in the repository's testdata/ that
// other packages' golden tests replay; `make testdata` (sluice sim testdata)
// regenerates them byte for byte.
var TestdataCaptures = []CaptureConfig{
	{Scenario: "normal", Duration: 2 * time.Minute, Seed: 1, Out: "sim_normal.pcap"},
	{Scenario: "rogue_master", Duration: 2 * time.Minute, Seed: 2, Out: "sim_rogue_master.pcap"},
	{Scenario: "opcua_anonymous_write", Duration: 2 * time.Minute, Seed: 2, Out: "sim_opcua_anonymous_write.pcap"},
}

// WriteTestdata writes TestdataCaptures and their labels into dir and returns
// the pcap paths written.
func WriteTestdata(ctx context.Context, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	var paths []string
	for _, cfg := range TestdataCaptures {
		cfg.Out = filepath.Join(dir, cfg.Out)
		if _, err := WriteCapture(ctx, cfg); err != nil {
			return paths, err
		}
		paths = append(paths, cfg.Out)
	}
	return paths, nil
}
