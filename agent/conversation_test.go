package agent

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
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
	for _, l := range ls {
		if n, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, nl := range ls {
				if ip, ok := nl.(gopacket.NetworkLayer); ok {
					_ = n.SetNetworkLayerForChecksum(ip)
				}
			}
		}
	}
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
	tcp := func(label string, fromA bool, src, dst string, sp, dp layers.TCPPort, t layers.TCP, payload string) {
		t.SrcPort, t.DstPort, t.Window = sp, dp, 1024
		ipl := ip4(src, dst, layers.IPProtocolTCP)
		_ = t.SetNetworkLayerForChecksum(ipl)
		c.frame(label, eth4(fromA), ipl, &t, gopacket.Payload(payload))
	}
	tcp("refused", true, a, b, 40100, 3389, layers.TCP{SYN: true, Seq: 100}, "")
	tcp("refused", false, b, a, 3389, 40100, layers.TCP{RST: true, ACK: true, Ack: 101}, "")
	tcp("unanswered", true, a, far, 40200, 445, layers.TCP{SYN: true, Seq: 500}, "")
	tcp("ssh", true, a, b, 40300, 22, layers.TCP{SYN: true, Seq: 1000}, "")
	tcp("ssh", false, b, a, 22, 40300, layers.TCP{SYN: true, ACK: true, Seq: 9000, Ack: 1001}, "")
	tcp("ssh", true, a, b, 40300, 22, layers.TCP{ACK: true, Seq: 1001, Ack: 9001}, "")
	tcp("ssh", false, b, a, 22, 40300, layers.TCP{PSH: true, ACK: true, Seq: 9001, Ack: 1001}, "SSH-2.0-OpenSSH_9.2\r\n")
	tcp("ssh", true, a, b, 40300, 22, layers.TCP{PSH: true, ACK: true, Seq: 1001, Ack: 9022}, "SSH-2.0-PuTTY_0.78\r\n")
	tcp("ssh", true, a, b, 40300, 22, layers.TCP{FIN: true, ACK: true, Seq: 1021, Ack: 9022}, "")
	tcp("ssh", false, b, a, 22, 40300, layers.TCP{FIN: true, ACK: true, Seq: 9022, Ack: 1022}, "")
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
