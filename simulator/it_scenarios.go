package simulator

import (
	"fmt"
	"slices"
	"time"
)

// The attacks of the IT side (issue #11 §6): the steps before an attack
// touches a PLC, over ordinary IT protocols. Like the IT background they
// are synthesized onto the wire, so they exist only in captures (see
// Scenario.CaptureOnly).

// c2Name is the command-and-control server's name: a look-alike of a
// content-delivery host, the server name of its TLS.
const c2Name = "cdn-sync.msedge-update.top"

var atkLateralSMB = attack{
	synthesized: true,
	name:        "compromised engineering workstation copies a service to the HMI over SMB (psexec)", src: HostEWS, dst: HostHMI,
	rules: []string{"new_conversation"},
	mitre: []string{"T0867", "T0886"},
	steps: []step{{0, synth(psexec)}},
}

var atkLateralRDP = attack{
	synthesized: true,
	name:        "compromised engineering workstation opens RDP to the historian", src: HostEWS, dst: HostSCADA,
	rules: []string{"new_conversation"},
	mitre: []string{"T0886"},
	steps: []step{{40 * time.Second, synth(func(w *wire, t time.Duration) time.Duration {
		t = resolve(w, HostEWS, "historian.dam.local", t)
		return rdpSession(w, HostEWS, HostSCADA, "historian.dam.local", "administrator", time.Minute, t+time.Millisecond)
	})}},
}

var atkC2Beacon = attack{
	synthesized: true,
	name:        "HMI beacons to a command-and-control server over TLS every 60 s", src: HostHMI, dst: HostC2,
	rules: []string{"new_device", "new_conversation"},
	mitre: []string{"T0869", "T0885"},
	steps: c2Steps(),
}

// c2Steps: a beacon every minute for four minutes, each a DNS lookup and a
// short TLS connection (the implant's check-in and the server's answer)
// that the implant resets.
func c2Steps() []step {
	var out []step
	for i := range 4 {
		out = append(out, step{time.Duration(i) * time.Minute, synth(func(w *wire, t time.Duration) time.Duration {
			t = resolve(w, HostHMI, c2Name, t)
			c, t := tlsSession(w, HostHMI, HostC2, portHTTPS, c2Name, t+time.Millisecond, [][2]int{{180 + w.itRng.IntN(40), 90 + w.itRng.IntN(30)}})
			// The implant drops its socket: a reset, not a FIN.
			return c.abort(0, t+time.Millisecond, true)
		})})
	}
	return out
}

var atkPortScan = attack{
	synthesized: true,
	name:        "SYN scan of the controller network", src: HostAttacker, dst: HostPLC,
	rules: []string{"port_scan", "new_device"},
	mitre: []string{"T0846", "T0840"},
	steps: []step{{0, synth(portScan)}},
}

var atkRemoteShell = attack{
	synthesized: true,
	name:        "Telnet login to the PLC's VxWorks shell from the engineering workstation", src: HostEWS, dst: HostPLC,
	rules: []string{"it_protocol_to_controller", "new_service", "new_conversation"},
	mitre: []string{"T0886", "T0812"},
	steps: []step{{0, synth(remoteShell)}},
}

// CaptureOnly reports whether the scenario's attacks are synthesized on a
// capture's wire (the IT side): live (Play, the live demo) they send
// nothing.
func (s Scenario) CaptureOnly() bool {
	return slices.ContainsFunc(s.attacks, func(a attack) bool { return a.synthesized })
}

// liveScenario returns the scenario called name, or an error when it
// exists only in captures: live it would play nothing.
func liveScenario(name string) (Scenario, error) {
	sc, err := ScenarioByName(name)
	if err == nil && sc.CaptureOnly() {
		err = fmt.Errorf("simulator: scenario %q is synthesized in captures only (sluice sim capture --scenario %s)", name, name)
	}
	return sc, err
}

// psexec: the workstation logs in to the HMI's ADMIN$ share with stolen
// administrator credentials, writes a service binary and opens the
// service control manager's pipe to start it.
func psexec(w *wire, t time.Duration) time.Duration {
	c, t := w.itOpen(HostEWS, HostHMI, portSMB, t)
	s := &smb2{}
	t = smbLogin(w, c, s, t, "administrator", "ENGINEERING-WS", "HMI")
	req := s.treeConnect(`\\10.10.1.10\ADMIN$`)
	t = c.exchange(t, req, s.treeConnected(1, false))
	t = smbPutFile(w, c, s, t, "PSEXESVC.exe", 3<<15+1715)
	req = s.treeConnect(`\\10.10.1.10\IPC$`)
	t = c.exchange(t, req, s.treeConnected(5, true))
	fid := random(w.itRng, 16)
	req = s.create("svcctl")
	t = c.exchange(t, req, s.created(fid, t))
	req = s.closeFile(fid)
	t = c.exchange(t+300*time.Millisecond, req, s.closed())
	t = c.exchange(t, s.simple(smb2TreeDisconnect, false), s.simple(smb2TreeDisconnect, true))
	t = c.exchange(t, s.simple(smb2Logoff, false), s.simple(smb2Logoff, true))
	return c.close(0, t+time.Millisecond)
}

// scanPorts are the TCP ports of the scan: remote access, file sharing,
// web, databases and the ICS protocols (nmap's top ports and its ICS
// scripts' targets).
var scanPorts = []uint16{21, 22, 23, 25, 53, 80, 102, 110, 111, 135, 139, 143, 443, 445, 502, 993, 1089, 1433,
	1911, 2222, 2404, 3306, 3389, 4840, 5007, 5900, 8080, 8443, 9600, 18245, 20000, 20547, 44818, 47808}

// portScan is a SYN scan (nmap -sS -Pn --max-retries 0 --max-hostgroup
// 1) from one source port: the PLC first, then the OPC UA server, then the
// gate RTU, each host's ports in random order. Open ports answer SYN/ACK
// and get the scanner's RST, closed ones RST/ACK on the embedded stacks;
// the OPC UA server's firewall drops them unanswered. One host at a time,
// the PLC first, so a rule counting one source's probes crosses its
// threshold on the labelled target.
func portScan(w *wire, t time.Duration) time.Duration {
	targets := []struct {
		h    Host
		open uint16
		drop bool
	}{{HostPLC, PortModbus, false}, {HostUAServer, PortOPCUA, true}, {HostRTU, PortDNP3, false}}
	sport := w.itPort(HostAttacker.IP)
	end := t
	for _, tg := range targets {
		ports := slices.Clone(scanPorts)
		w.itRng.Shuffle(len(ports), func(i, j int) { ports[i], ports[j] = ports[j], ports[i] })
		for _, p := range ports {
			c := w.syn(w.itRng, HostAttacker, tg.h, sport, p, t)
			switch {
			case p == tg.open:
				r := rtt(w.itRng)
				c.emit(1, t+r/2, tcpFlags{syn: true, ack: true}, nil, mssOpt)
				c.next[1]++
				end = max(end, c.abort(0, t+r, false))
			case !tg.drop:
				end = max(end, c.reject(t))
			}
			t += time.Duration(400+w.itRng.IntN(800)) * time.Microsecond
		}
	}
	return max(end, t)
}

// remoteShell: the engineering workstation's Telnet login to the PLC's
// VxWorks shell with the vendor's default account, a look around, and a
// logout.
func remoteShell(w *wire, t time.Duration) time.Duration {
	c, t := w.itOpen(HostEWS, HostPLC, portTelnet, t)
	pause := func(ms int) time.Duration { return time.Duration(ms+w.itRng.IntN(ms)) * time.Millisecond }
	t = c.send(1, t+w.itService(), telnetServerDo)
	t = c.send(0, t+rtt(w.itRng), telnetClientWont)
	t = c.send(1, t+w.itService(), telnetServerWill)
	t = c.send(0, t+rtt(w.itRng), telnetClientDo)
	t = c.send(1, t+w.itService(), []byte("\r\n\r\nVxWorks login: "))
	t = c.send(0, t+pause(1200), []byte("target\r\n"))
	t = c.send(1, t+w.itService(), []byte("Password: "))
	t = c.send(0, t+pause(1500), []byte("password\r\n"))
	t = c.send(1, t+w.itService(), []byte("\r\n\r\n -> "))
	for _, cmd := range [][2]string{
		{"version\r\n", "VxWorks (for Schneider Electric BMX P34 2020) version 6.9.\r\nKernel: WIND version 2.13.\r\n"},
		{"i\r\n", "  NAME        ENTRY       TID    PRI   STATUS      PC       SP     ERRNO  DELAY\r\n" +
			"---------- ------------ -------- --- ---------- -------- -------- ------- -----\r\n" +
			"tExcTask   excTask      1e3d9c0    0 PEND         2b9b44  1e3d8a0       0     0\r\n" +
			"tModbusSrv mbServer     1f0a2e0   60 PEND         2b9b44  1f0a1a0       0     0\r\n" +
			"tPlcScan   plcScanTask  1f44c10   40 DELAY        2c0a10  1f44b20       0     1\r\n"},
		{"ifShow\r\n", "motfec (unit number 0):\r\n     Internet address: 10.10.2.1\r\n     Ethernet address is 00:80:f4:12:34:01\r\n"},
	} {
		t = c.send(0, t+pause(2000), []byte(cmd[0]))
		t = c.send(1, t+w.itService(), append([]byte(cmd[1]), "value = 0 = 0x0\r\n -> "...))
	}
	t = c.send(0, t+pause(1500), []byte("logout\r\n"))
	return c.close(1, t+w.itService())
}

// ExpectedRules lists the rules any of the scenario's attacks expects, in
// order, each once.
func (s Scenario) ExpectedRules() []string {
	var out []string
	for _, a := range s.attacks {
		for _, r := range a.rules {
			if !slices.Contains(out, r) {
				out = append(out, r)
			}
		}
	}
	return out
}
