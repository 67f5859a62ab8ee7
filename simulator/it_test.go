package simulator

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sluice-ics/sluice/baselines/oui"
	"github.com/sluice-ics/sluice/protocols/service"
)

// itScenarios are the scenarios whose attacks are synthesized (the IT
// side); their 10-minute captures also hold the whole IT background but
// the working-hours RDP session (the nightly backup runs at 5 min).
func itScenarios(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, sc := range Scenarios() {
		if sc.CaptureOnly() {
			out = append(out, sc.Name)
		}
	}
	if len(out) < 4 {
		t.Fatalf("only %d capture-only scenarios: %v", len(out), out)
	}
	return out
}

// TestITTshark has Wireshark dissect the synthesized IT protocols: each is
// recognised as what it claims to be, with the fields a real client and
// server put there (the SNI, the query names, the NTP modes, the RDP
// cookie, the SMB2 commands and the NTLM user, the Telnet login), and the
// scan's probes are answered by RSTs or nothing.
func TestITTshark(t *testing.T) {
	tshark := needTshark(t, "runs tshark on the IT scenarios")
	dir := t.TempDir()
	seen := map[string]map[string]bool{} // field → values, over every capture
	add := func(k, v string) {
		if seen[k] == nil {
			seen[k] = map[string]bool{}
		}
		for _, x := range strings.Split(v, ",") {
			if x != "" {
				seen[k][x] = true
			}
		}
	}
	fields := []string{"frame.protocols", "tls.handshake.extensions_server_name", "dns.qry.name", "dns.a",
		"ntp.flags.mode", "rdp.rt_cookie", "smb2.cmd", "ntlmssp.auth.username", "telnet.data", "tcp.flags.str", "ip.src", "ip.dst"}
	resets := 0
	for _, name := range itScenarios(t) {
		f := filepath.Join(dir, name+".pcap")
		if _, err := WriteCapture(context.Background(), CaptureConfig{Scenario: name, Duration: 10 * time.Minute, Seed: 3, Out: f}); err != nil {
			t.Fatal(err)
		}
		args := []string{"-n", "-r", f, "-T", "fields", "-E", "separator=|", "-E", "aggregator=,"}
		for _, fl := range fields {
			args = append(args, "-e", fl)
		}
		out, err := exec.Command(tshark, args...).Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			v := strings.Split(line, "|")
			if len(v) != len(fields) {
				t.Fatalf("tshark line %q", line)
			}
			for i, fl := range fields[:len(fields)-3] {
				add(fl, v[i])
			}
			// The scanner's probes of closed ports: RST/ACK back.
			if strings.Contains(v[9], "R") && v[11] == HostAttacker.IP.String() {
				resets++
			}
		}
		// RDP's TLS: Wireshark 4.0 does not hand RDP over to TLS after
		// the negotiation, so ask it to read port 3389 as TLS.
		out, err = exec.Command(tshark, "-n", "-r", f, "-d", "tcp.port==3389,tls", "-Y", "tls.handshake.type == 1",
			"-T", "fields", "-e", "tls.handshake.extensions_server_name").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		add("rdp.tls.sni", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", ","))
	}
	protos := strings.Join(slices.Sorted(maps.Keys(seen["frame.protocols"])), " ")
	for _, want := range []string{"udp:dns", "udp:ntp", "tcp:tls", "tcp:tpkt:cotp:rdp", "tcp:nbss:smb2", "smb2:ntlmssp", "tcp:telnet"} {
		if !strings.Contains(protos, want) {
			t.Errorf("tshark dissected no frame as %s; protocols seen: %s", want, protos)
		}
	}
	for _, c := range []struct{ field, want string }{
		{"tls.handshake.extensions_server_name", corpName},
		{"tls.handshake.extensions_server_name", c2Name},
		{"rdp.tls.sni", "historian.dam.local"},
		{"dns.qry.name", "historian.dam.local"},
		{"dns.qry.name", "wpad.dam.local"},
		{"dns.a", HostBackup.IP.String()},
		{"ntp.flags.mode", "3"},
		{"ntp.flags.mode", "4"},
		{"rdp.rt_cookie", "Cookie: mstshash=administrator"},
		{"smb2.cmd", "0"}, {"smb2.cmd", "1"}, {"smb2.cmd", "3"}, {"smb2.cmd", "5"}, {"smb2.cmd", "9"},
		{"ntlmssp.auth.username", "svc-backup"},
		{"ntlmssp.auth.username", "administrator"},
		{"telnet.data", "target\\r\\n"},
	} {
		if !seen[c.field][c.want] {
			t.Errorf("tshark shows no %s %q; it shows %v", c.field, c.want, slices.Sorted(maps.Keys(seen[c.field])))
		}
	}
	if resets < 2*(len(scanPorts)-1) {
		t.Errorf("%d RSTs from the PLC and the RTU to the scan, want %d", resets, 2*(len(scanPorts)-1))
	}
}

// TestITServiceIdentify runs protocols/service on the first bytes of every
// conversation of the IT scenarios' captures: each is named as the
// protocol the simulator synthesized (or served) on its port, with the
// TLS server name and the DNS query.
func TestITServiceIdentify(t *testing.T) {
	want := map[string]string{"tcp/23": service.Telnet, "udp/53": service.DNS, "udp/123": service.NTP, "tcp/443": service.TLS,
		"tcp/445": service.SMB, "tcp/502": service.Modbus, "tcp/3389": service.RDP, "tcp/4840": service.OPCUA, "tcp/20000": service.DNP3}
	got := map[string]int{}
	snis := map[string]bool{}
	for _, name := range itScenarios(t) {
		pcap, _, err := Capture(context.Background(), CaptureConfig{Scenario: name, Duration: 10 * time.Minute, Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range firstBytes(t, pcap) {
			in := service.Identify(c.tr, c.port, c.toServer, c.toClient)
			key := fmt.Sprintf("%s/%d", map[service.Transport]string{service.TCP: "tcp", service.UDP: "udp"}[c.tr], c.port)
			if len(c.toServer) == 0 && len(c.toClient) == 0 {
				if !in.ByPort {
					t.Errorf("%s: %s without payload named %+v, not by its port", name, key, in)
				}
				continue // the scan's probes
			}
			if w, ok := want[key]; !ok || in.Service != w {
				t.Errorf("%s: %s %s → %s named %q, want %q", name, key, c.cli, c.srv, in.Service, w)
				continue
			}
			got[key]++
			if in.Service == service.DNS && in.DNSQuery == "" {
				t.Errorf("%s: DNS without its query name", name)
			}
			if in.Service == service.TLS {
				if in.SNI == "" || len(in.JA3) != 32 {
					t.Errorf("%s: TLS without SNI or JA3: %+v", name, in)
				}
				snis[in.SNI] = true
			}
		}
	}
	for k := range want {
		if got[k] == 0 {
			t.Errorf("no conversation on %s in the IT scenarios", k)
		}
	}
	if !snis[corpName] || !snis[c2Name] {
		t.Errorf("TLS server names %v, want %s and %s", snis, corpName, c2Name)
	}
}

// conv is one conversation's first payload each way.
type conv struct {
	start              time.Time // its first frame
	tr                 service.Transport
	cli, srv           netip.AddrPort
	port               uint16
	toServer, toClient []byte
}

// firstBytes reads a capture's conversations: the client is the side that
// sent the SYN (TCP) or the first datagram (UDP).
func firstBytes(t *testing.T, pcap []byte) []*conv {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(pcap))
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		tr   service.Transport
		a, b netip.AddrPort
	}
	byKey := map[key]*conv{}
	var out []*conv
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			t.Fatal("a frame without IPv4")
		}
		s, _ := netip.AddrFromSlice(ip.SrcIP)
		d, _ := netip.AddrFromSlice(ip.DstIP)
		var src, dst netip.AddrPort
		var payload []byte
		var tr service.Transport
		syn := false
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			src, dst = netip.AddrPortFrom(s, uint16(tcp.SrcPort)), netip.AddrPortFrom(d, uint16(tcp.DstPort))
			payload, tr, syn = tcp.Payload, service.TCP, tcp.SYN && !tcp.ACK
		} else if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			src, dst = netip.AddrPortFrom(s, uint16(udp.SrcPort)), netip.AddrPortFrom(d, uint16(udp.DstPort))
			payload, tr = udp.Payload, service.UDP
		} else {
			t.Fatal("a frame neither TCP nor UDP")
		}
		c := byKey[key{tr, src, dst}]
		if c == nil {
			c = byKey[key{tr, dst, src}]
		}
		if c == nil || (syn && c.cli == src && (len(c.toServer) > 0 || len(c.toClient) > 0)) {
			if tr == service.TCP && !syn {
				continue // the rest of a connection opened before (none here)
			}
			c = &conv{start: ci.Timestamp, tr: tr, cli: src, srv: dst, port: dst.Port()}
			byKey[key{tr, src, dst}] = c
			out = append(out, c)
		}
		switch {
		case len(payload) == 0:
		case src == c.cli && c.toServer == nil:
			c.toServer = payload
		case src == c.srv && c.toClient == nil:
			c.toClient = payload
		}
	}
	return out
}

// TestPlantHostsHaveVendors: every host of the plant has a MAC whose
// vendor the OUI table knows, and no two share an address.
func TestPlantHostsHaveVendors(t *testing.T) {
	ips := map[netip.Addr]string{}
	for _, h := range PlantHosts() {
		if other, ok := ips[h.IP]; ok {
			t.Errorf("%s and %s share %s", h.Name, other, h.IP)
		}
		ips[h.IP] = h.Name
		if routed(h.IP) {
			continue // seen through the router's MAC
		}
		if v := oui.Vendor([6]byte(h.MAC)); v == "" {
			t.Errorf("%s: MAC %s has no vendor", h.Name, h.MAC)
		}
	}
}

// convKey is what a conversation baseline learns: client, server,
// transport, server port and service.
type convKey struct {
	cli, srv netip.Addr
	tr       service.Transport
	port     uint16
	service  string
}

// convKeys returns the conversations of a capture by key, with the time
// each key first appears.
func convKeys(t *testing.T, pcap []byte) map[convKey]time.Time {
	t.Helper()
	out := map[convKey]time.Time{}
	for _, c := range firstBytes(t, pcap) {
		k := convKey{c.cli.Addr(), c.srv.Addr(), c.tr, c.port, service.Identify(c.tr, c.port, c.toServer, c.toClient).Service}
		if _, ok := out[k]; !ok {
			out[k] = c.start
		}
	}
	return out
}

// TestITBackgroundRegular: the IT background is regular enough for a
// conversation baseline, and the IT attacks stand out of it. The hour
// `make detection` learns on (normal, seed 1) holds every (client, server,
// transport, port, service) of the held-back normal day (30 min, seed 3)
// and of another seed's 10 minutes, and a whole IT day: the nightly backup
// and the working-hours RDP session. In each IT scenario (10 min, seed 2,
// as make detection judges them) every conversation the hour lacks starts
// inside an attack's window from that attack's source, and every attack
// has one from its source to its destination.
func TestITBackgroundRegular(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 2 h 20 min of captures")
	}
	capture := func(name string, d time.Duration, seed uint64) (map[convKey]time.Time, *Labels) {
		pcap, l, err := Capture(context.Background(), CaptureConfig{Scenario: name, Duration: d, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		return convKeys(t, pcap), l
	}
	learned, _ := capture("normal", time.Hour, 1)
	for _, k := range []convKey{
		{HostHMI.IP, HostBackup.IP, service.TCP, portSMB, service.SMB},
		{HostEWS.IP, HostHMI.IP, service.TCP, portRDP, service.RDP},
		{HostSCADA.IP, HostCorp.IP, service.TCP, portHTTPS, service.TLS},
		{HostSCADA.IP, HostDC.IP, service.UDP, portDNS, service.DNS},
		{HostBackup.IP, HostClock.IP, service.UDP, portNTP, service.NTP},
	} {
		if _, ok := learned[k]; !ok {
			t.Errorf("the learning hour lacks %+v", k)
		}
	}
	for _, c := range []struct {
		d    time.Duration
		seed uint64
	}{{30 * time.Minute, 3}, {10 * time.Minute, 2}} {
		keys, _ := capture("normal", c.d, c.seed)
		for k := range keys {
			if _, ok := learned[k]; !ok {
				t.Errorf("normal, %s, seed %d: %+v never seen in the learning hour", c.d, c.seed, k)
			}
		}
	}
	for _, name := range itScenarios(t) {
		keys, l := capture(name, 10*time.Minute, 2)
		found := make([]bool, len(l.Attacks))
		for k, at := range keys {
			if _, ok := learned[k]; ok {
				continue
			}
			owner := -1
			for i, a := range l.Attacks {
				if !at.Before(a.Start) && !at.After(a.End) && k.cli.String() == a.SrcIP {
					owner = i
					if k.srv.String() == a.DestIP {
						found[i] = true
					}
				}
			}
			if owner < 0 {
				t.Errorf("%s: new conversation %+v at %s outside every attack", name, k, at.Format(time.TimeOnly))
			}
		}
		for i, ok := range found {
			if !ok {
				t.Errorf("%s: attack %q has no new conversation from %s to %s", name, l.Attacks[i].Name, l.Attacks[i].SrcIP, l.Attacks[i].DestIP)
			}
		}
	}
}

// TestCaptureOnlyNotLive: the IT scenarios cannot be played live (nothing
// would be sent), and say so; the others can.
func TestCaptureOnlyNotLive(t *testing.T) {
	for _, sc := range Scenarios() {
		_, err := liveScenario(sc.Name)
		if sc.CaptureOnly() != (err != nil) {
			t.Errorf("%s: capture only %v, live error %v", sc.Name, sc.CaptureOnly(), err)
		}
	}
	_, err := Play(context.Background(), PlayConfig{Scenario: "c2_beacon"})
	if err == nil || !strings.Contains(err.Error(), "captures only") {
		t.Errorf("Play(c2_beacon): %v", err)
	}
}
