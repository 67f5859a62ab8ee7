package agent

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
)

// convCapture builds a capture of the conversations no ICS decoder takes:
// an ICMP echo and its reply, an ICMP port unreachable (one-way), an
// ICMPv6 echo, a DNS query and its answer over UDP, a GRE packet, a TCP
// SYN refused with a reset, a TCP SYN never answered and an SSH connection
// that exchanges banners and closes.
type convCapture struct {
	t   *testing.T
	buf bytes.Buffer
	w   *pcapgo.Writer
	ts  time.Time
	// frames and bytes count what was written, per conversation label.
	frames map[string]int
}

func newConvCapture(t *testing.T) *convCapture {
	c := &convCapture{t: t, ts: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC), frames: map[string]int{}}
	c.w = pcapgo.NewWriter(&c.buf)
	if err := c.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *convCapture) frame(label string, ls ...gopacket.SerializableLayer) {
	c.t.Helper()
	c.ts = c.ts.Add(20 * time.Millisecond)
	sb := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		c.t.Fatal(err)
	}
	b := sb.Bytes()
	if err := c.w.WritePacket(gopacket.CaptureInfo{Timestamp: c.ts, CaptureLength: len(b), Length: len(b)}, b); err != nil {
		c.t.Fatal(err)
	}
	c.frames[label]++
}

var (
	convMAC1 = net.HardwareAddr{0x00, 0x1b, 0x1b, 0, 0, 1}
	convMAC2 = net.HardwareAddr{0x00, 0x80, 0xf4, 0, 0, 2}
)

func eth4(fromA bool) *layers.Ethernet {
	e := &layers.Ethernet{SrcMAC: convMAC1, DstMAC: convMAC2, EthernetType: layers.EthernetTypeIPv4}
	if !fromA {
		e.SrcMAC, e.DstMAC = convMAC2, convMAC1
	}
	return e
}

func ip4(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src).To4(), DstIP: net.ParseIP(dst).To4()}
}

// tcp writes one TCP segment from src to dst; the frame goes from MAC 1
// to MAC 2 when src sorts first.
func (c *convCapture) tcp(label, src, dst string, sp, dp layers.TCPPort, t layers.TCP, payload string) {
	t.SrcPort, t.DstPort, t.Window = sp, dp, 1024
	ipl := ip4(src, dst, layers.IPProtocolTCP)
	_ = t.SetNetworkLayerForChecksum(ipl)
	c.frame(label, eth4(src < dst), ipl, &t, gopacket.Payload(payload))
}

// session writes a whole TCP connection: the handshake, the client's
// bytes, the server's (either may be empty), and both FINs.
func (c *convCapture) session(label, cli, srv string, sp, dp layers.TCPPort, toServer, toClient string) {
	cs, ss := uint32(1000), uint32(9000)
	c.tcp(label, cli, srv, sp, dp, layers.TCP{SYN: true, Seq: cs}, "")
	c.tcp(label, srv, cli, dp, sp, layers.TCP{SYN: true, ACK: true, Seq: ss, Ack: cs + 1}, "")
	cs, ss = cs+1, ss+1
	c.tcp(label, cli, srv, sp, dp, layers.TCP{ACK: true, Seq: cs, Ack: ss}, "")
	if toClient != "" && strings.HasPrefix(toClient, "SSH-") {
		// A server-first protocol: its banner comes first.
		c.tcp(label, srv, cli, dp, sp, layers.TCP{PSH: true, ACK: true, Seq: ss, Ack: cs}, toClient)
		ss += uint32(len(toClient))
		toClient = ""
	}
	if toServer != "" {
		c.tcp(label, cli, srv, sp, dp, layers.TCP{PSH: true, ACK: true, Seq: cs, Ack: ss}, toServer)
		cs += uint32(len(toServer))
	}
	if toClient != "" {
		c.tcp(label, srv, cli, dp, sp, layers.TCP{PSH: true, ACK: true, Seq: ss, Ack: cs}, toClient)
		ss += uint32(len(toClient))
	}
	c.tcp(label, cli, srv, sp, dp, layers.TCP{FIN: true, ACK: true, Seq: cs, Ack: ss}, "")
	c.tcp(label, srv, cli, dp, sp, layers.TCP{FIN: true, ACK: true, Seq: ss, Ack: cs + 1}, "")
}

func (c *convCapture) build() []byte {
	const a, b, far = "10.1.1.10", "10.1.1.20", "10.1.1.99"
	// ICMP echo and reply.
	c.frame("icmp", eth4(true), ip4(a, b, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}, gopacket.Payload("ping"))
	c.frame("icmp", eth4(false), ip4(b, a, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 7, Seq: 1}, gopacket.Payload("ping"))
	// DNS over UDP.
	q := &layers.DNS{ID: 1, RD: true, QDCount: 1, Questions: []layers.DNSQuestion{{Name: []byte("historian.dam.local"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	u := &layers.UDP{SrcPort: 40001, DstPort: 53}
	ip := ip4(a, b, layers.IPProtocolUDP)
	_ = u.SetNetworkLayerForChecksum(ip)
	c.frame("dns", eth4(true), ip, u, q)
	ans := *q
	ans.QR, ans.ANCount = true, 1
	ans.Answers = []layers.DNSResourceRecord{{Name: []byte("historian.dam.local"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.ParseIP(far).To4()}}
	u2 := &layers.UDP{SrcPort: 53, DstPort: 40001}
	ip2 := ip4(b, a, layers.IPProtocolUDP)
	_ = u2.SetNetworkLayerForChecksum(ip2)
	c.frame("dns", eth4(false), ip2, u2, &ans)
	// ICMP port unreachable, one way.
	c.frame("unreach", eth4(false), ip4(b, far, layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(make([]byte, 28)))
	// GRE, an IP protocol without ports.
	c.frame("gre", eth4(true), ip4(a, far, layers.IPProtocolGRE), gopacket.Payload([]byte{0, 0, 0x08, 0x00}))
	// ICMPv6 echo and reply.
	v6a, v6b := net.ParseIP("2001:db8::10"), net.ParseIP("2001:db8::20")
	e6 := func(fromA bool) *layers.Ethernet {
		e := eth4(fromA)
		e.EthernetType = layers.EthernetTypeIPv6
		return e
	}
	i6 := func(src, dst net.IP) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: src, DstIP: dst}
	}
	req6, rep6 := i6(v6a, v6b), i6(v6b, v6a)
	ic1 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	_ = ic1.SetNetworkLayerForChecksum(req6)
	c.frame("icmp6", e6(true), req6, ic1, &layers.ICMPv6Echo{Identifier: 3, SeqNumber: 1})
	ic2 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(129, 0)}
	_ = ic2.SetNetworkLayerForChecksum(rep6)
	c.frame("icmp6", e6(false), rep6, ic2, &layers.ICMPv6Echo{Identifier: 3, SeqNumber: 1})
	// TCP: refused, unanswered, and an SSH exchange.
	c.tcp("refused", a, b, 40100, 3389, layers.TCP{SYN: true, Seq: 100}, "")
	c.tcp("refused", b, a, 3389, 40100, layers.TCP{RST: true, ACK: true, Ack: 101}, "")
	c.tcp("unanswered", a, far, 40200, 445, layers.TCP{SYN: true, Seq: 500}, "")
	c.session("ssh", a, b, 40300, 22, "SSH-2.0-PuTTY_0.78\r\n", "SSH-2.0-OpenSSH_9.2\r\n")
	return c.buf.Bytes()
}

// TestFlowEvents: one flow event per conversation of every transport, with
// the packets each way, its state and service, and the Community ID tshark
// computes for its packets (ICMP and ICMPv6 with the specification's type
// pairs, GRE without ports).
func TestFlowEvents(t *testing.T) {
	cc := newConvCapture(t)
	pcap := cc.build()
	type want struct {
		proto, app, state  string
		toServer, toClient uint64
		label              string
	}
	wants := map[string]want{
		"10.1.1.10>10.1.1.20 ICMP":            {"ICMP", "", "established", 1, 1, "icmp"},
		"10.1.1.10:40001>10.1.1.20:53 UDP":    {"UDP", "dns", "established", 1, 1, "dns"},
		"10.1.1.20>10.1.1.99 ICMP":            {"ICMP", "", "new", 1, 0, "unreach"},
		"10.1.1.10>10.1.1.99 GRE":             {"GRE", "", "new", 1, 0, "gre"},
		"2001:db8::10>2001:db8::20 IPv6-ICMP": {"IPv6-ICMP", "", "established", 1, 1, "icmp6"},
		"10.1.1.10:40100>10.1.1.20:3389 TCP":  {"TCP", "", "rejected", 1, 1, "refused"},
		"10.1.1.10:40200>10.1.1.99:445 TCP":   {"TCP", "", "attempted", 1, 0, "unanswered"},
		"10.1.1.10:40300>10.1.1.20:22 TCP":    {"TCP", "ssh", "closed", 4, 3, "ssh"},
	}
	got := map[string]event{}
	for _, e := range replayAll(t, pcap) {
		if e.EventType != EventFlow {
			continue
		}
		src, dst := e.SrcIP, e.DestIP
		if e.SrcPort != 0 {
			src, dst = netip.AddrPortFrom(netip.MustParseAddr(e.SrcIP), uint16(e.SrcPort)).String(), netip.AddrPortFrom(netip.MustParseAddr(e.DestIP), uint16(e.DestPort)).String()
		}
		got[src+">"+dst+" "+e.Proto] = e
	}
	for k, w := range wants {
		e, ok := got[k]
		if !ok {
			t.Errorf("no flow event for %s (got %v)", k, keysOf(got))
			continue
		}
		if e.AppProto != w.app || e.Flow.State != w.state || e.Flow.PktsToServer != w.toServer || e.Flow.PktsToClient != w.toClient {
			t.Errorf("%s: app_proto %q state %s packets %d/%d, want %q %s %d/%d", k, e.AppProto, e.Flow.State,
				e.Flow.PktsToServer, e.Flow.PktsToClient, w.app, w.state, w.toServer, w.toClient)
		}
		if n := int(e.Flow.PktsToServer + e.Flow.PktsToClient); n != cc.frames[w.label] {
			t.Errorf("%s: %d packets, the capture has %d", k, n, cc.frames[w.label])
		}
		if e.CommunityID == "" {
			t.Errorf("%s: no community_id", k)
		}
	}
	if len(got) != len(wants) {
		t.Errorf("%d flow events, want %d: %v", len(got), len(wants), keysOf(got))
	}
	checkCommunityIDs(t, pcap, got)
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkCommunityIDs compares each flow event's community_id with tshark's
// for the first packet of its conversation (the packets are in the
// capture's order, one conversation after the other).
func checkCommunityIDs(t *testing.T, pcap []byte, flows map[string]event) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	path := filepath.Join(t.TempDir(), "conv.pcap")
	if err := os.WriteFile(path, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range tsharkRows(t, path, []string{"communityid"}, "--enable-protocol", "communityid") {
		ids[r[0]] = true
	}
	for k, e := range flows {
		if !ids[e.CommunityID] {
			t.Errorf("%s: community_id %s is none of tshark's %v", k, e.CommunityID, keysOf(ids))
		}
	}
	if len(ids) != len(flows) {
		t.Errorf("tshark sees %d conversations' ids, we %d: %s", len(ids), len(flows), strings.Join(keysOf(ids), " "))
	}
}

// dnsExchange writes a DNS query from cli to the server dns for name and
// its answer: name is ip.
func (c *convCapture) dnsExchange(cli, dns string, sport layers.UDPPort, name, ip string) {
	q := &layers.DNS{ID: 1, RD: true, QDCount: 1, Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	u := &layers.UDP{SrcPort: sport, DstPort: 53}
	ipq := ip4(cli, dns, layers.IPProtocolUDP)
	_ = u.SetNetworkLayerForChecksum(ipq)
	c.frame("dns", eth4(true), ipq, u, q)
	ans := *q
	ans.QR, ans.ANCount = true, 1
	ans.Answers = []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.ParseIP(ip).To4()}}
	u2 := &layers.UDP{SrcPort: 53, DstPort: sport}
	ipa := ip4(dns, cli, layers.IPProtocolUDP)
	_ = u2.SetNetworkLayerForChecksum(ipa)
	c.frame("dns", eth4(false), ipa, u2, &ans)
}

// TestConversationRules learns a small network (an HMI polling a PLC over
// Modbus, an SSH session from the HMI to a server) and monitors what an
// attacker on the HMI then does: SMB to the server (new_conversation), a
// Telnet the server starts answering (new_service too), Telnet to the PLC
// (it_protocol_to_controller), a scan of the server's ports refused one by
// one (port_scan), TLS to an address never seen (new_device). Nothing of
// the learned traffic alerts when it comes back.
func TestConversationRules(t *testing.T) {
	const hmi, srv, plc, ext = "10.1.1.10", "10.1.1.20", "10.1.1.30", "203.0.113.9"
	mbReq := "\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x01"
	mbResp := "\x00\x01\x00\x00\x00\x05\x01\x03\x02\x00\x2a"
	normal := func(c *convCapture) {
		c.session("modbus", hmi, plc, 41000, 502, mbReq, mbResp)
		c.session("ssh", hmi, srv, 41001, 22, "SSH-2.0-PuTTY_0.78\r\n", "SSH-2.0-OpenSSH_9.2\r\n")
		c.dnsExchange(hmi, "10.1.1.53", 41009, "files.dam.local", srv)
	}
	learn := newConvCapture(t)
	normal(learn)
	db := filepath.Join(t.TempDir(), "b.db")
	replayBytes(t, learn.buf.Bytes(), func(cfg *Config) { cfg.Mode, cfg.DBPath = ModeLearn, db })

	mon := newConvCapture(t)
	mon.ts = learn.ts.Add(time.Hour)
	normal(mon)
	smb := "\x00\x00\x00\x44\xfeSMB\x40\x00" + strings.Repeat("\x00", 60)
	mon.session("smb", hmi, srv, 41002, 445, smb, smb)
	telnet := "\xff\xfd\x18\xff\xfd\x20"
	mon.session("telnet-srv", hmi, srv, 41003, 23, telnet, telnet)
	mon.session("telnet-plc", hmi, plc, 41004, 23, telnet, telnet)
	for p := layers.TCPPort(1000); p < 1012; p++ {
		mon.tcp("scan", hmi, srv, 42000, p, layers.TCP{SYN: true, Seq: 7}, "")
		mon.tcp("scan", srv, hmi, p, 42000, layers.TCP{RST: true, ACK: true, Ack: 8}, "")
	}
	hello := "\x16\x03\x01\x00\x2f\x01\x00\x00\x2b\x03\x03" + strings.Repeat("\x01", 32) + "\x00\x00\x02\x00\x2f\x01\x00"
	mon.session("c2", hmi, ext, 41005, 443, hello, "\x16\x03\x03\x00\x04\x02\x00\x00\x00")
	out := replayBytes(t, mon.buf.Bytes(), func(cfg *Config) { cfg.Mode, cfg.DBPath = ModeMonitor, db })

	// The DNS answer of the learned capture named the server.
	snap := loadSnapshot(t, db)
	for _, d := range snap.Devices {
		if d.IP.String() == srv && !slices.Equal(d.Hostnames, []string{"files.dam.local"}) {
			t.Errorf("server's hostnames %v, want the DNS answer's", d.Hostnames)
		}
	}
	got := map[string][]string{}
	for _, e := range parseEvents(t, out) {
		if e.Alert == nil || e.Alert.Update {
			continue
		}
		k := fmt.Sprintf("%s>%s:%d", e.SrcIP, e.DestIP, e.DestPort)
		got[k] = append(got[k], e.Alert.Rules...)
	}
	want := map[string][]string{
		hmi + ">" + srv + ":445": {"new_conversation", "new_service"},
		hmi + ">" + srv + ":23":  {"new_conversation", "new_service"},
		hmi + ">" + plc + ":23":  {"it_protocol_to_controller", "new_conversation", "new_service"},
		hmi + ">" + ext + ":443": {"new_device"},
	}
	for k, rules := range want {
		g := slices.Clone(got[k])
		slices.Sort(g)
		if !slices.Equal(g, rules) {
			t.Errorf("%s: rules %v, want %v", k, g, rules)
		}
		delete(got, k)
	}
	// The scan: its first refused attempt is a new conversation between
	// the two (one deviation for every port, counted), its tenth a
	// port_scan.
	scans, attempts := 0, 0
	for k, rules := range got {
		// port_scan names the host probed most, without a port.
		if !strings.HasPrefix(k, hmi+">"+srv+":10") && k != hmi+">"+srv+":0" {
			t.Errorf("unexpected alert %s: %v", k, rules)
			continue
		}
		for _, r := range rules {
			switch r {
			case "port_scan":
				scans++
			case "new_conversation":
				attempts++
			default:
				t.Errorf("unexpected alert %s: %v", k, rules)
			}
		}
		delete(got, k)
	}
	if attempts != 1 {
		t.Errorf("%d new_conversation alerts for the scan's refused attempts, want 1", attempts)
	}
	for k, rules := range got {
		t.Errorf("unexpected alert %s: %v", k, rules)
	}
	if scans != 1 {
		t.Errorf("%d port_scan alerts, want 1", scans)
	}
}

// replayBytes replays a built capture with cfg mutated and returns the
// events.
func replayBytes(t *testing.T, pcap []byte, mutate func(*Config)) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "built.pcap")
	if err := os.WriteFile(path, pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	return replayFile(t, path, mutate)
}

// loadSnapshot reads the baseline stored in db.
func loadSnapshot(t *testing.T, db string) *baselines.Snapshot {
	t.Helper()
	st, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEventsNoFlow: --events all,-flow writes every event but the flows.
func TestEventsNoFlow(t *testing.T) {
	f, err := ParseEvents("all,-flow")
	if err != nil || f != EventsNoFlow || f.String() != "all,-flow" {
		t.Fatalf("ParseEvents: %v %v", f, err)
	}
	cc := newConvCapture(t)
	pcap := cc.build()
	var out bytes.Buffer
	replayBytes(t, pcap, func(c *Config) { c.Sinks = []Sink{NewEVE(&out, EventsNoFlow)} })
	types := map[string]int{}
	for _, e := range parseEvents(t, out.Bytes()) {
		types[e.EventType]++
	}
	all := map[string]int{}
	for _, e := range parseEvents(t, replayBytes(t, pcap, nil)) {
		all[e.EventType]++
	}
	if types[EventFlow] != 0 || all[EventFlow] == 0 || types[EventStats] != 1 {
		t.Errorf("all,-flow wrote %v; all wrote %v", types, all)
	}
}
