package simulator

import (
	"context"
	"crypto/tls"
	"fmt"
	"log"
	"strings"
	"time"
)

// Config configures the live simulator (Serve).
type Config struct {
	// ModbusAddr is host:port of the Modbus/TCP server (default
	// 127.0.0.1:5020; port 0 picks a free one).
	ModbusAddr string
	// OPCUAEndpoint is the OPC UA endpoint URL (default
	// opc.tcp://127.0.0.1:4840; "off" disables OPC UA).
	OPCUAEndpoint string
	// DNP3Addr is host:port of the DNP3 gate station (default
	// 127.0.0.1:20000; "off" disables it).
	DNP3Addr string
	// Seed makes the process (weather, noise) reproducible.
	Seed uint64
	// Scenario, when set, also plays that scenario's actors live against
	// the servers: normal traffic, and its attacks from AttackAfter on.
	Scenario    string
	AttackAfter time.Duration // default 60 s
	// TLSCertFile and TLSKeyFile, when both set, serve Modbus/TCP Security
	// (TLS 1.2+, Modbus/TCP Security Protocol Specification, R-01) instead
	// of plain Modbus/TCP; client certificates are requested, not required.
	TLSCertFile, TLSKeyFile string
	// Logf receives progress and client errors (nil: discarded).
	Logf func(format string, args ...any)
	// Ready, if set, is called once the servers listen.
	Ready func(Endpoints)
}

// Endpoints are where a running simulator listens.
type Endpoints struct {
	Modbus string // host:port
	OPCUA  string // opc.tcp://host:port, "" when disabled
	DNP3   string // host:port, "" when disabled
	TLS    bool
}

// Default endpoints of `sluice sim serve`.
const (
	DefaultModbusAddr    = "127.0.0.1:5020"
	DefaultOPCUAEndpoint = "opc.tcp://127.0.0.1:4840"
	DefaultDNP3Addr      = "127.0.0.1:20000"
)

// unsolicitedEvery is how often the live gate station reports unsolicited.
const unsolicitedEvery = 30 * time.Second

// Serve runs the simulator until ctx is cancelled: the dam process advancing
// in real time, the Modbus/TCP server and the OPC UA server, and the actors of
// cfg.Scenario when one is set. No client can make it return or panic.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.ModbusAddr == "" {
		cfg.ModbusAddr = DefaultModbusAddr
	}
	if cfg.OPCUAEndpoint == "" {
		cfg.OPCUAEndpoint = DefaultOPCUAEndpoint
	}
	if cfg.OPCUAEndpoint == "off" {
		cfg.OPCUAEndpoint = ""
	}
	if cfg.DNP3Addr == "" {
		cfg.DNP3Addr = DefaultDNP3Addr
	}
	if cfg.DNP3Addr == "off" {
		cfg.DNP3Addr = ""
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.AttackAfter <= 0 {
		cfg.AttackAfter = time.Minute
	}
	var sc Scenario
	if cfg.Scenario != "" {
		var err error
		if sc, err = liveScenario(cfg.Scenario); err != nil {
			return err
		}
	}
	var tlsCfg *tls.Config
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("simulator: modbus tls: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, ClientAuth: tls.RequestClientCert}
	}
	p := NewProcess(cfg.Seed)
	logger := log.New(logWriter(cfg.Logf), "", 0)
	srv, err := startServers(ctx, p, cfg.ModbusAddr, cfg.OPCUAEndpoint, cfg.DNP3Addr, nil, tlsCfg, logger)
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	ep := Endpoints{Modbus: srv.mbLn.Addr().String(), OPCUA: srv.uaURL, TLS: tlsCfg != nil}
	if srv.rtu != nil {
		ep.DNP3 = srv.rtu.ln.Addr().String()
	}
	if cfg.Ready != nil {
		cfg.Ready(ep)
	}
	start := time.Now()
	var lastReport time.Duration
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	played := make(chan struct{})
	if cfg.Scenario == "" {
		close(played)
	} else {
		go func() {
			defer close(played)
			_, err := play(ctx, sc, ep, cfg.Seed, 100*365*24*time.Hour, cfg.AttackAfter, true, cfg.Logf)
			if err != nil && ctx.Err() == nil {
				cfg.Logf("sim: scenario %s: %v", sc.Name, err)
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			// Shutdown is bounded: closing the servers and their live
			// connections fails any client blocked on them, and the
			// actors stop on ctx; they get shutdownWait to do so.
			srv.close()
			select {
			case <-played:
			case <-time.After(shutdownWait):
				cfg.Logf("sim: scenario %s: actors still running %s after shutdown", sc.Name, shutdownWait)
			}
			return nil
		case <-tick.C:
			p.AdvanceTo(time.Since(start))
			srv.sample()
			if srv.rtu != nil && time.Since(start) >= lastReport+unsolicitedEvery {
				lastReport += unsolicitedEvery
				srv.rtu.pushUnsolicited()
			}
		}
	}
}

// shutdownWait bounds how long Serve waits for its scenario's actors after
// the servers are closed.
const shutdownWait = 5 * time.Second

type logWriter func(format string, args ...any)

func (l logWriter) Write(b []byte) (int, error) {
	l("%s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// PlayConfig configures Play.
type PlayConfig struct {
	Scenario string
	// Modbus (host:port), OPCUA (endpoint URL) and DNP3 (host:port, ""
	// for none) of a running simulator.
	Modbus, OPCUA, DNP3 string
	Seed                uint64
	// Duration bounds the play; attacks start at AttackAt.
	Duration, AttackAt time.Duration
	// Normal adds the normal actors (HMI, historian, operator, engineering
	// workstation); without it only the attacks run.
	Normal bool
	Logf   func(format string, args ...any)
}

// Play runs a scenario's actors live against a running simulator (one
// started by Serve, in this process or elsewhere) and returns the attack
// labels with the wall-clock times they happened. The same attack scripts
// produce the captures of WriteCapture.
func Play(ctx context.Context, cfg PlayConfig) ([]Label, error) {
	sc, err := liveScenario(cfg.Scenario)
	if err != nil {
		return nil, err
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return play(ctx, sc, Endpoints{Modbus: cfg.Modbus, OPCUA: cfg.OPCUA, DNP3: cfg.DNP3}, cfg.Seed, cfg.Duration, cfg.AttackAt, cfg.Normal, cfg.Logf)
}

// playChunk bounds how much of a live timeline is built at once: a
// simulator served for days plays one hour after the other.
const playChunk = time.Hour

func play(ctx context.Context, sc Scenario, ep Endpoints, seed uint64, d, attackAt time.Duration, normal bool, logf func(string, ...any)) ([]Label, error) {
	e := &env{ctx: ctx, mbAddr: ep.Modbus, uaURL: ep.OPCUA, uaAddr: strings.TrimPrefix(ep.OPCUA, "opc.tcp://"), dnp3Addr: ep.DNP3, seed: seed, logf: logf}
	defer e.closeQuietly()
	start := time.Now()
	var labels []Label
	for off := time.Duration(0); off < d; {
		// The chunk holding the attacks runs at least 10 minutes past
		// their start so that every step is in it.
		n := min(playChunk, d-off)
		withAttacks := attackAt >= off && attackAt < off+n
		if withAttacks {
			n = min(max(n, attackAt-off+10*time.Minute), d-off)
		}
		s := sc
		if !withAttacks {
			s.attacks = nil
		}
		evs, ls := s.timeline(n, attackAt-off, seed+uint64(off/playChunk), normal)
		if ep.OPCUA == "" || ep.DNP3 == "" {
			// No OPC UA server or gate station: drop their actors.
			full := evs
			evs = nil
			for _, ev := range full {
				if !(ev.opcua && ep.OPCUA == "") && !(ev.dnp3 && ep.DNP3 == "") {
					evs = append(evs, ev)
				}
			}
		}
		err := e.run(evs, ls, s.extension, start.Add(off))
		if withAttacks {
			labels = ls
		}
		if err != nil {
			if err == context.Canceled || err == context.DeadlineExceeded {
				err = nil
			}
			return labels, err
		}
		off += n
	}
	return labels, nil
}
