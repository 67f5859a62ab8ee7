package service

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sluice-ics/sluice/internal/testpcaps"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt")

// conv is one conversation of a capture: its server side and the first
// payload each way.
type conv struct {
	tr                 Transport
	client, server     netip.AddrPort
	toServer, toClient []byte
	serverKnown        bool // a SYN or SYN-ACK said which side serves
}

// key orders a conversation's two ends.
type key struct {
	tr   Transport
	a, b netip.AddrPort
}

func mkKey(tr Transport, x, y netip.AddrPort) key {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return key{tr, x, y}
}

// conversations reads a capture's TCP and UDP conversations in the order
// they start. Without a handshake, the end on the lower port serves.
func conversations(t *testing.T, path string) []*conv {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	var src *gopacket.PacketSource
	if err == nil {
		src = gopacket.NewPacketSource(r, r.LinkType())
	} else {
		f.Seek(0, 0)
		pr, err := pcapgo.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		src = gopacket.NewPacketSource(pr, pr.LinkType())
	}
	byKey := map[key]*conv{}
	var order []*conv
	for p := range src.Packets() {
		var sa, da netip.Addr
		if ip := p.Layer(layers.LayerTypeIPv4); ip != nil {
			v := ip.(*layers.IPv4)
			sa, _ = netip.AddrFromSlice(v.SrcIP)
			da, _ = netip.AddrFromSlice(v.DstIP)
		} else if ip := p.Layer(layers.LayerTypeIPv6); ip != nil {
			v := ip.(*layers.IPv6)
			sa, _ = netip.AddrFromSlice(v.SrcIP)
			da, _ = netip.AddrFromSlice(v.DstIP)
		} else {
			continue
		}
		var tr Transport
		var sp, dp uint16
		var payload []byte
		syn, ack := false, false
		if l := p.Layer(layers.LayerTypeTCP); l != nil {
			tcp := l.(*layers.TCP)
			tr, sp, dp, payload, syn, ack = TCP, uint16(tcp.SrcPort), uint16(tcp.DstPort), tcp.Payload, tcp.SYN, tcp.ACK
		} else if l := p.Layer(layers.LayerTypeUDP); l != nil {
			udp := l.(*layers.UDP)
			tr, sp, dp, payload = UDP, uint16(udp.SrcPort), uint16(udp.DstPort), udp.Payload
		} else {
			continue
		}
		s, d := netip.AddrPortFrom(sa.Unmap(), sp), netip.AddrPortFrom(da.Unmap(), dp)
		k := mkKey(tr, s, d)
		c := byKey[k]
		if c == nil {
			c = &conv{tr: tr, client: s, server: d}
			if dp > sp {
				c.client, c.server = d, s
			}
			byKey[k] = c
			order = append(order, c)
		}
		if syn && !c.serverKnown {
			c.serverKnown = true
			if ack {
				c.client, c.server = d, s
			} else {
				c.client, c.server = s, d
			}
		}
		if len(payload) == 0 {
			continue
		}
		if s == c.client && c.toServer == nil {
			c.toServer = slices.Clone(payload)
		} else if s == c.server && c.toClient == nil {
			c.toClient = slices.Clone(payload)
		}
	}
	return order
}

// tsharkNames maps tshark's protocol column to the service names; a
// column not here (TCP, UDP, Data, …) says nothing.
var tsharkNames = map[string]string{
	"Modbus/TCP": Modbus, "OpcUa": OPCUA, "DNP 3.0": DNP3, "TLSv1": TLS, "TLSv1.1": TLS, "TLSv1.2": TLS,
	"TLSv1.3": TLS, "SSLv3": TLS, "SSL": TLS, "HTTP": HTTP, "DCERPC": DCERPC, "NFS": NFS, "Portmap": SunRPC,
	"DNS": DNS, "SSH": SSH, "SSHv2": SSH, "SMB": SMB, "SMB2": SMB, "NTP": NTP, "SNMP": SNMP, "S7COMM": S7comm,
	"ENIP": ENIP, "CIP": ENIP, "BACnet-APDU": BACnet, "BACnet-NPDU": BACnet, "BVLC": BACnet, "TELNET": Telnet,
	"FTP": FTP, "VNC": VNC, "RDP": RDP,
}

// tsharkServices returns, per conversation, the first protocol column of
// its payload packets that names a service, and tshark's JA3 of each
// ClientHello by client.
func tsharkServices(t *testing.T, path string) (map[key]string, map[netip.AddrPort]string) {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-r", path, "-Y", "tcp.len>0 or udp", "-T", "fields", "-E", "separator=|",
		"-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport",
		"-e", "udp.srcport", "-e", "udp.dstport", "-e", "_ws.col.Protocol", "-e", "tls.handshake.ja3").Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", path, err)
	}
	names := map[key]string{}
	ja3 := map[netip.AddrPort]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) < 10 {
			continue
		}
		src, dst := first(f[0], f[1]), first(f[2], f[3])
		tr, sp, dp := TCP, f[4], f[5]
		if sp == "" {
			tr, sp, dp = UDP, f[6], f[7]
		}
		s, err1 := netip.ParseAddrPort(bracket(first(src, "")) + ":" + first(sp, ""))
		d, err2 := netip.ParseAddrPort(bracket(first(dst, "")) + ":" + first(dp, ""))
		if err1 != nil || err2 != nil {
			continue // ICMP errors quoting a datagram and the like
		}
		s, d = netip.AddrPortFrom(s.Addr().Unmap(), s.Port()), netip.AddrPortFrom(d.Addr().Unmap(), d.Port())
		k := mkKey(tr, s, d)
		if n, ok := tsharkNames[f[8]]; ok && names[k] == "" {
			names[k] = n
		}
		if f[9] != "" {
			ja3[s] = f[9]
		}
	}
	return names, ja3
}

func first(a, b string) string {
	if i := strings.IndexByte(a, ','); i >= 0 {
		a = a[:i]
	}
	if a != "" {
		return a
	}
	return b
}

func bracket(a string) string {
	if strings.Contains(a, ":") {
		return "[" + a + "]"
	}
	return a
}

// label is how the golden table writes an identification.
func label(in Info) string {
	s := in.Service
	if in.ByPort {
		s += " (by port)"
	}
	for _, d := range in.Details() {
		s += " " + d
	}
	return s
}

// TestAgainstTshark: on every shared capture, each conversation's service
// is what tshark's dissectors name it wherever they name one, and the JA3
// of each ClientHello is tshark's. The services found are a golden table
// (testdata/golden.txt), so a change in what is identified shows in review.
func TestAgainstTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	var golden strings.Builder
	agree, compared := 0, 0
	totals := map[string]int{}
	for _, path := range testpcaps.Files(t, "modbus", "opcua", "dnp3") {
		names, ja3 := tsharkServices(t, path)
		fmt.Fprintf(&golden, "# %s\n", filepath.Base(path))
		for _, c := range conversations(t, path) {
			in := Identify(c.tr, c.server.Port(), c.toServer, c.toClient)
			tr := "tcp"
			if c.tr == UDP {
				tr = "udp"
			}
			fmt.Fprintf(&golden, "%s %s -> %s %s\n", tr, c.client, c.server, label(in))
			totals[in.Service]++
			if want, ok := names[mkKey(c.tr, c.client, c.server)]; ok {
				compared++
				if in.Service == want {
					agree++
				} else {
					t.Errorf("%s: %s %s -> %s: %s, tshark says %s", filepath.Base(path), tr, c.client, c.server, label(in), want)
				}
			}
			if j, ok := ja3[c.client]; ok && in.Service == TLS && in.JA3 != j {
				t.Errorf("%s: %s -> %s: JA3 %s (%s), tshark %s", filepath.Base(path), c.client, c.server, in.JA3, in.JA3Full, j)
			}
		}
	}
	t.Logf("%d of %d conversations that tshark names agree; services found: %v", agree, compared, totals)
	if compared == 0 {
		t.Fatal("no conversation compared")
	}
	got := golden.String()
	if *update {
		if err := os.WriteFile("testdata/golden.txt", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/golden.txt")
	if err != nil {
		t.Fatalf("%v (go test ./protocols/service -run TestAgainstTshark -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("identified services differ from testdata/golden.txt (-update to accept):\n%s", diffLines(string(want), got))
	}
}

// diffLines lists the lines of b not in a and of a not in b.
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestNonModbusOnPort502: the capture of scanners knocking on a Modbus
// port (Zeek's modbus-and-non-modbus-p502) names what each spoke, by
// content: TLS with tshark's JA3, HTTP, DCE/RPC, NFS, an RDP connection
// request (which tshark leaves as TCP on port 502), and the Modbus.
func TestNonModbusOnPort502(t *testing.T) {
	dir := testpcaps.Dir(t, "modbus")
	cs := conversations(t, filepath.Join(dir, "zeek_modbus-and-non-modbus-p502.pcap"))
	got := map[string]Info{}
	for _, c := range cs {
		if c.server.Port() == 502 {
			in := Identify(c.tr, 502, c.toServer, c.toClient)
			got[in.Service] = in
		}
	}
	for _, s := range []string{Modbus, TLS, HTTP, DCERPC, NFS, RDP, Unknown} {
		if _, ok := got[s]; !ok {
			t.Errorf("no conversation on port 502 named %s; got %v", s, got)
		}
	}
	if j := got[TLS].JA3; j != "c3a6cf0bf2e690ac8e1ecf6081f17a50" {
		t.Errorf("JA3 %s (%s), tshark c3a6cf0bf2e690ac8e1ecf6081f17a50", j, got[TLS].JA3Full)
	}
	if got[HTTP].HTTPMethod != "GET" || got[HTTP].HTTPHost == "" {
		t.Errorf("HTTP: %+v", got[HTTP])
	}
}
