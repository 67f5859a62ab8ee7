package simulator

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/baselines/oui"
)

// The IT side of the plant network (issue #11 §6): the background a real
// control network carries besides its ICS protocols, and the hosts that
// serve it. There are no IT servers in the simulator: in a capture the
// conversations are synthesized straight onto the wire (itproto.go writes
// their bytes), at the scheduler's times, with generators of their own so
// the ICS traffic stays as it was. Live (Serve, Play) there is no wire and
// the IT side is absent.
var (
	// HostDC is the plant's Windows domain controller, its DNS server.
	HostDC = Host{Name: "plant-dc", IP: netip.MustParseAddr("10.10.1.2"), MAC: mac("d4:ae:52:0a:01:02"), TTL: 128}
	// HostClock is the GPS time server (stratum 1).
	HostClock = Host{Name: "plant-clock", IP: netip.MustParseAddr("10.10.1.3"), MAC: mac("ec:46:70:0a:01:03"), TTL: 64}
	// HostBackup is the NAS the HMI backs up to every night.
	HostBackup = Host{Name: "backup-nas", IP: netip.MustParseAddr("10.10.1.40"), MAC: mac("00:11:32:0a:01:40"), TTL: 64}
	// HostCorp is the corporate historian the SCADA historian forwards
	// to over HTTPS, behind the plant's router and firewall.
	HostCorp = Host{Name: "corp-pi", IP: netip.MustParseAddr("172.16.20.15"), MAC: routerMAC, TTL: 127}
	// HostC2 is the command-and-control server of c2_beacon, on the
	// Internet (a documentation address, RFC 5737).
	HostC2 = Host{Name: "c2", IP: netip.MustParseAddr("203.0.113.77"), MAC: routerMAC, TTL: 49}
)

// IT service ports (IANA).
const (
	portDNS    = 53
	portNTP    = 123
	portHTTPS  = 443
	portSMB    = 445
	portRDP    = 3389
	portTelnet = 23
)

// plantNames is what the plant's DNS server answers: dam.local is its own
// zone; the corporate name it resolves recursively. A name it does not
// know (wpad, which Windows asks for) is NXDOMAIN.
var plantNames = map[string]netip.Addr{
	"dam-plc.dam.local":     HostPLC.IP,
	"dam-opcua.dam.local":   HostUAServer.IP,
	"gate-rtu.dam.local":    HostRTU.IP,
	"hmi.dam.local":         HostHMI.IP,
	"historian.dam.local":   HostSCADA.IP,
	"plant-clock.dam.local": HostClock.IP,
	"backup-nas.dam.local":  HostBackup.IP,
	corpName:                HostCorp.IP,
	c2Name:                  HostC2.IP,
}

// corpName is the corporate historian's name, the SNI of the historian's
// HTTPS.
const corpName = "pi-collector.corp.dam-energy.com"

// itDay is how long the IT background's day lasts in a capture. The ICS
// side keeps the wall clock (a capture starts at midnight); the IT
// schedule is compressed so that the one hour a baseline learns on holds
// a whole IT day, nightly backup and working-hours RDP session included,
// and any shorter capture (the 30-minute held-back normal day, the
// 10-minute attack scenarios) holds nothing that hour did not.
const itDay = time.Hour

// itClock maps a clock time of the IT day to capture time.
func itClock(hour, minute int) time.Duration {
	return time.Duration(hour*60+minute) * itDay / (24 * 60)
}

// The IT day's fixed events.
var (
	backupAt  = itClock(2, 0) // the HMI's nightly backup, 02:00
	rdpAt     = itClock(9, 0) // the engineer's RDP session to the HMI, 09:00
	rdpLength = 4 * time.Minute
)

// itEvent is one synthesized conversation of the background: at, and how
// long it may last (it is left out when it would not end in the capture).
type itEvent struct {
	at, length time.Duration
	run        func(w *wire, t time.Duration) time.Duration
}

// itEvents is the IT background of normal operation for duration d: DNS,
// NTP, the historian's HTTPS, the engineer's RDP session, the HMI's backup.
// The schedule is the same for every seed but for small offsets, so a
// baseline learned on one seed holds every conversation of another.
func itEvents(d time.Duration, seed uint64) []event {
	rng := rand.New(rand.NewPCG(seed, 0x17_da7))
	jitter := func() time.Duration { return time.Duration(rng.IntN(2000)) * time.Millisecond }
	var its []itEvent
	add := func(at, length time.Duration, f func(w *wire, t time.Duration) time.Duration) {
		its = append(its, itEvent{at: at, length: length, run: f})
	}
	// DNS: the Windows hosts refresh the names they use as their cache
	// entries expire (TTL 300 s).
	resolvers := []struct {
		h     Host
		names []string
	}{
		{HostHMI, []string{"dam-plc.dam.local", "historian.dam.local", "wpad.dam.local"}},
		{HostSCADA, []string{"dam-opcua.dam.local", "gate-rtu.dam.local", corpName}},
		{HostEWS, []string{"dam-plc.dam.local", "hmi.dam.local", "wpad.dam.local"}},
	}
	for i, r := range resolvers {
		for k := time.Duration(0); ; k++ {
			at := time.Duration(7+11*i)*time.Second + k*5*time.Minute + jitter()
			if at >= d {
				break
			}
			for j, name := range r.names {
				add(at+time.Duration(j)*40*time.Millisecond, time.Second, func(w *wire, t time.Duration) time.Duration {
					return resolve(w, r.h, name, t)
				})
			}
		}
	}
	// NTP: every Windows and Linux host asks the GPS clock every 256 s
	// (poll 8).
	for i, h := range []Host{HostHMI, HostSCADA, HostEWS, HostUAServer, HostDC, HostBackup} {
		for at := time.Duration(3+5*i)*time.Second + jitter(); at < d; at += 256*time.Second + jitter() {
			add(at, time.Second, func(w *wire, t time.Duration) time.Duration { return ntpExchange(w, h, t) })
		}
	}
	// The historian forwards its buffered values to the corporate
	// historian every 2 minutes, one HTTPS connection each time.
	for at := 45*time.Second + jitter(); at < d; at += 2*time.Minute + jitter() {
		add(at, 10*time.Second, historianUpload)
	}
	add(backupAt+jitter(), 2*time.Minute, nightlyBackup)
	add(rdpAt+jitter(), rdpLength+time.Minute, func(w *wire, t time.Duration) time.Duration {
		return rdpSession(w, HostEWS, HostHMI, "hmi.dam.local", "eng.weber", rdpLength, t)
	})
	var evs []event
	for _, it := range its {
		if it.at+it.length < d {
			evs = append(evs, event{at: it.at, run: synth(it.run), label: -1})
		}
	}
	return evs
}

// synth turns a synthesized conversation into a scheduler action: it runs
// on the capture's wire from the scheduler's cursor, which it moves to the
// conversation's end (so an attack's window covers it). Live there is no
// wire: the action does nothing.
func synth(f func(w *wire, t time.Duration) time.Duration) func(e *env) error {
	return func(e *env) error {
		if e.live() {
			return nil
		}
		r := e.rec
		r.mu.Lock()
		defer r.mu.Unlock()
		r.cur = f(r.w, r.cur)
		return nil
	}
}

// itService is an IT server's answer time: 0.2-1.2 ms.
func (w *wire) itService() time.Duration {
	return time.Duration(200+w.itRng.IntN(1000)) * time.Microsecond
}

// itPort is the next ephemeral port of ip for the IT background.
func (w *wire) itPort(ip netip.Addr) uint16 { return ephemeral(w.itRng, w.itPorts, ip) }

// itOpen opens a TCP connection of the IT background at t.
func (w *wire) itOpen(cli, srv Host, port uint16, t time.Duration) (*tcpConn, time.Duration) {
	c := w.syn(w.itRng, cli, srv, w.itPort(cli.IP), port, t)
	return c, c.accept(t)
}

// send sends payload from side at t after the ACKs either side owes by
// then, and returns when it ends.
func (c *tcpConn) send(side int, t time.Duration, payload []byte) time.Duration {
	c.flush(1-side, t)
	return c.data(side, t, payload)
}

// exchange is one request and its answer after the server's think time.
func (c *tcpConn) exchange(t time.Duration, req, resp []byte) time.Duration {
	t = c.send(0, t, req)
	return c.send(1, t+c.w.itService(), resp)
}

// resolve is one DNS query of h for name and the plant DNS server's answer.
func resolve(w *wire, h Host, name string, t time.Duration) time.Duration {
	id := uint16(w.itRng.Uint32())
	sport := w.itPort(h.IP)
	w.udp(t, h, HostDC, sport, portDNS, dnsQuery(id, name))
	ip := plantNames[name]
	// Authoritative for its own zone, it answers at once; other names
	// take a recursion.
	auth := strings.HasSuffix(name, ".dam.local")
	t += w.itService()
	if !auth {
		t += time.Duration(5+w.itRng.IntN(20)) * time.Millisecond
	}
	w.udp(t, HostDC, h, portDNS, sport, dnsAnswer(id, name, ip, auth))
	return t
}

// ntpExchange is one NTP request of h and the time server's answer.
func ntpExchange(w *wire, h Host, t time.Duration) time.Duration {
	// The Linux hosts' ntpd sends from port 123; the Windows hosts from
	// an ephemeral port, as SNTP clients do.
	sport := uint16(portNTP)
	if h.TTL == 128 {
		sport = w.itPort(h.IP)
	}
	req := ntpClient(t)
	w.udp(t, h, HostClock, sport, portNTP, req)
	rx := t + rtt(w.itRng)/2
	tx := rx + 30*time.Microsecond
	w.udp(tx, HostClock, h, portNTP, sport, ntpServer(req, rx, tx))
	return tx
}

// tlsSession is a TLS 1.3 connection's handshake for sni followed by
// request/response pairs of the given sizes; it returns the connection
// and the time of the last answer, for the caller to close.
func tlsSession(w *wire, cli, srv Host, port uint16, sni string, t time.Duration, sizes [][2]int) (*tcpConn, time.Duration) {
	c, t := w.itOpen(cli, srv, port, t)
	hello := tlsClientHello(w.itRng, sni, "h2", "http/1.1")
	t = c.exchange(t, hello, tlsServerHello(w.itRng, hello, 2800+w.itRng.IntN(600)))
	t = c.send(0, t+rtt(w.itRng), tlsClientFinished(w.itRng))
	for _, s := range sizes {
		t = c.exchange(t+50*time.Microsecond, tlsAppData(w.itRng, s[0]), tlsAppData(w.itRng, s[1]))
	}
	return c, t
}

// historianUpload is the historian's periodic HTTPS upload to the
// corporate historian: a few POSTs of buffered values.
func historianUpload(w *wire, t time.Duration) time.Duration {
	t = resolve(w, HostSCADA, corpName, t)
	n := 2 + w.itRng.IntN(3)
	sizes := make([][2]int, n)
	for i := range sizes {
		sizes[i] = [2]int{1200 + w.itRng.IntN(3000), 120 + w.itRng.IntN(80)}
	}
	c, t := tlsSession(w, HostSCADA, HostCorp, portHTTPS, corpName, t+time.Millisecond, sizes)
	return c.close(0, t+2*time.Millisecond)
}

// rdpSession is an RDP session from cli to srv (the X.224 negotiation with
// the user's cookie, TLS with CredSSP inside, then input and screen
// updates) lasting about length, closed by the client.
func rdpSession(w *wire, cli, srv Host, name, user string, length, t time.Duration) time.Duration {
	c, t := w.itOpen(cli, srv, portRDP, t)
	t = c.exchange(t, rdpConnectionRequest(user), rdpConnectionConfirm())
	hello := tlsClientHello(w.itRng, name)
	t = c.exchange(t+rtt(w.itRng), hello, tlsServerHello(w.itRng, hello, 1100+w.itRng.IntN(200)))
	t = c.send(0, t+rtt(w.itRng), tlsClientFinished(w.itRng))
	// CredSSP (NTLM inside TLS), then the MCS connection and licensing.
	for _, s := range [][2]int{{120, 290}, {560, 60}, {440, 900}, {350, 220}, {30, 1200}} {
		t = c.exchange(t+2*time.Millisecond, tlsAppData(w.itRng, s[0]), tlsAppData(w.itRng, s[1]))
	}
	// The session: the engineer's input and the HMI's screen updates,
	// one exchange every 0.5-2.5 s.
	for end := t + length; t < end; {
		t = c.exchange(t+time.Duration(500+w.itRng.IntN(2000))*time.Millisecond,
			tlsAppData(w.itRng, 30+w.itRng.IntN(60)), tlsAppData(w.itRng, 200+w.itRng.IntN(6000)))
	}
	return c.close(0, t+time.Second)
}

// nightlyBackup copies the HMI's project and alarm history to the NAS over
// SMB 3.0.2: negotiate, NTLM session setup, tree connect, then the files
// written 32 KiB at a time, closed, and a logoff.
func nightlyBackup(w *wire, t time.Duration) time.Duration {
	t = resolve(w, HostHMI, "backup-nas.dam.local", t)
	c, t := w.itOpen(HostHMI, HostBackup, portSMB, t+time.Millisecond)
	s := &smb2{}
	t = smbLogin(w, c, s, t, "svc-backup", "HMI", "BACKUP-NAS")
	req := s.treeConnect(`\\backup-nas.dam.local\plant-backup`)
	t = c.exchange(t, req, s.treeConnected(1, false))
	for _, f := range []struct {
		name string
		size int
	}{{`hmi\project.apa`, 5 << 17}, {`hmi\alarms.db`, 3 << 17}} {
		t = smbPutFile(w, c, s, t, f.name, f.size)
	}
	t = c.exchange(t, s.simple(smb2TreeDisconnect, false), s.simple(smb2TreeDisconnect, true))
	t = c.exchange(t, s.simple(smb2Logoff, false), s.simple(smb2Logoff, true))
	return c.close(0, t+time.Millisecond)
}

// smbLogin negotiates SMB and logs user of host in to server with NTLM.
func smbLogin(w *wire, c *tcpConn, s *smb2, t time.Duration, user, host, server string) time.Duration {
	req := s.negotiateRequest(w.itRng)
	t = c.exchange(t, req, s.negotiateResponse(w.itRng, t))
	req = s.sessionSetupRequest(ntlmNegotiate())
	s.session = 0x0000_0400_0000_0000 | uint64(w.itRng.Uint32())
	t = c.exchange(t, req, s.sessionSetupResponse(smbStatusMoreProcessing, ntlmChallenge(w.itRng, "DAM", server)))
	req = s.sessionSetupRequest(ntlmAuthenticate(w.itRng, t, "DAM", user, host))
	return c.exchange(t, req, s.sessionSetupResponse(0, nil))
}

// smbPutFile creates name on the connected tree and writes size bytes.
func smbPutFile(w *wire, c *tcpConn, s *smb2, t time.Duration, name string, size int) time.Duration {
	fid := random(w.itRng, 16)
	req := s.create(name)
	t = c.exchange(t, req, s.created(fid, t))
	for off := 0; off < size; off += 32 << 10 {
		n := min(32<<10, size-off)
		req := s.write(fid, uint64(off), random(w.itRng, n))
		t = c.exchange(t+100*time.Microsecond, req, s.written(n))
	}
	req = s.closeFile(fid)
	return c.exchange(t, req, s.closed())
}

// plantHosts is every host of the plant network and what it does, in the
// order docs/simulator.md lists them.
var plantHosts = []struct {
	h    *Host
	role string
}{
	{&HostPLC, "Modbus/TCP PLC (units 1 dam, 2 turbines); Telnet shell in plc_remote_shell"},
	{&HostUAServer, "OPC UA server (Linux)"},
	{&HostRTU, "DNP3 gate station (outstation 10)"},
	{&HostHMI, "HMI (Windows): Modbus master, DNS and NTP client, nightly SMB backup"},
	{&HostSCADA, "SCADA historian and DNP3 master (Windows): OPC UA client, HTTPS to the corporate historian"},
	{&HostEWS, "engineering workstation (Windows): Modbus reads, RDP to the HMI in working hours"},
	{&HostDC, "domain controller: DNS server for dam.local, NTP client"},
	{&HostClock, "GPS time server (NTP stratum 1)"},
	{&HostBackup, "backup NAS: SMB share plant-backup, NTP client"},
	{&HostCorp, "corporate historian behind the firewall (HTTPS); frames carry the router's MAC"},
	{&HostLaptop, "contractor laptop (opcua_new_client)"},
	{&HostAttacker, "attacker on another subnet; frames carry the router's MAC"},
	{&HostC2, "command-and-control server on the Internet (c2_beacon)"},
}

// PlantHosts returns every host of the plant network.
func PlantHosts() []Host {
	out := make([]Host, len(plantHosts))
	for i, p := range plantHosts {
		out[i] = *p.h
	}
	return out
}

// HostMarkdown renders the plant's hosts as the Markdown table that
// docs/simulator.md embeds between its host-table markers.
func HostMarkdown() string {
	var b strings.Builder
	b.WriteString("| Host | IP | MAC (vendor) | TTL | Role |\n|---|---|---|---|---|\n")
	for _, p := range plantHosts {
		h := p.h
		m := h.MAC.String()
		if routed(h.IP) {
			m = "— (routed)"
		} else if v := oui.Vendor([6]byte(h.MAC)); v != "" {
			m += " (" + v + ")"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %d | %s |\n", h.Name, h.IP, m, h.TTL, p.role)
	}
	return b.String()
}
