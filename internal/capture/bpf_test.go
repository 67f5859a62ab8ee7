package capture

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// frame serialises Ethernet / IPv4 or IPv6 / TCP or UDP with the given ports.
func frame(t testing.TB, sport, dport uint16, v6, udp bool, fragOff uint16) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), SYN: true, Window: 1024}
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	var nl gopacket.NetworkLayer
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
		if udp {
			ip.NextHeader = layers.IPProtocolUDP
		}
		nl = ip
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}, FragOffset: fragOff}
		if udp {
			ip.Protocol = layers.IPProtocolUDP
		}
		nl = ip
	}
	tcp.SetNetworkLayerForChecksum(nl)
	u.SetNetworkLayerForChecksum(nl)
	var tl gopacket.SerializableLayer = tcp
	if udp {
		tl = u
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, nl.(gopacket.SerializableLayer), tl); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPortFilter runs the default kernel filter in x/net/bpf's interpreter,
// which implements the same classic BPF semantics as the kernel.
func TestPortFilter(t *testing.T) {
	frames := []struct {
		name         string
		sport, dport uint16
		v6, udp      bool
		frag         uint16
		want         bool
	}{
		{"v4 to 502", 40000, 502, false, false, 0, true},
		{"v4 from 502", 502, 40000, false, false, 0, true},
		{"v6 to 4840", 40000, 4840, true, false, 0, true},
		{"v6 from 502", 502, 40001, true, false, 0, true},
		{"v4 to 80", 40000, 80, false, false, 0, false},
		{"v6 to 22", 40000, 22, true, false, 0, false},
		{"udp 502", 40000, 502, false, true, 0, false},
		{"udp6 502", 40000, 502, true, true, 0, false},
		{"non-first fragment", 40000, 502, false, false, 100, false},
	}
	tests := []struct {
		ports []uint16
		want  func(sport, dport uint16, base bool) bool
	}{
		{[]uint16{502, 4840}, func(s, d uint16, base bool) bool { return base }},
		{[]uint16{502}, func(s, d uint16, base bool) bool { return base && (s == 502 || d == 502) }},
		{nil, func(s, d uint16, base bool) bool { return true }},
	}
	for _, tt := range tests {
		raw, err := PortFilter(tt.ports, nil)
		if err != nil {
			t.Fatal(err)
		}
		insns, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("ports %v: program does not disassemble", tt.ports)
		}
		vm, err := bpf.NewVM(insns)
		if err != nil {
			t.Fatalf("ports %v: %v", tt.ports, err)
		}
		for _, f := range frames {
			n, err := vm.Run(frame(t, f.sport, f.dport, f.v6, f.udp, f.frag))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want(f.sport, f.dport, f.want)
			if tt.ports == nil {
				want = !f.udp // "tcp" looks at the protocol only, fragments included (as tcpdump)
			}
			if (n > 0) != want {
				t.Errorf("ports %v, %s: accepted=%v, want %v", tt.ports, f.name, n > 0, want)
			}
		}
		// An ARP frame and a runt never pass.
		for _, pkt := range [][]byte{append(make([]byte, 12), 0x08, 0x06, 0, 1), {1, 2, 3}} {
			if n, _ := vm.Run(pkt); n != 0 {
				t.Errorf("ports %v: accepted %x", tt.ports, pkt)
			}
		}
	}
	many := make([]uint16, 300)
	for i := range many {
		many[i] = uint16(1000 + i)
	}
	if _, err := PortFilter(many, nil); err == nil {
		t.Error("300 ports: want an error (jumps too long), got a program")
	}
}

// TestPortFilterUDP: with UDP ports (DNP3 over UDP) the filter keeps UDP to
// or from them too, TCP as before, and nothing else.
func TestPortFilterUDP(t *testing.T) {
	raw, err := PortFilter([]uint16{502, 20000}, []uint16{20000})
	if err != nil {
		t.Fatal(err)
	}
	insns, _ := bpf.Disassemble(raw)
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name         string
		sport, dport uint16
		v6, udp      bool
		want         bool
	}{
		{"tcp 502", 40000, 502, false, false, true},
		{"tcp 20000", 40000, 20000, false, false, true},
		{"udp to 20000", 20000, 20000, false, true, true},
		{"udp6 from 20000", 20000, 40000, true, true, true},
		{"udp 502", 40000, 502, false, true, false},
		{"udp 53", 40000, 53, false, true, false},
		{"tcp 80", 40000, 80, false, false, false},
	} {
		n, err := vm.Run(frame(t, c.sport, c.dport, c.v6, c.udp, 0))
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != c.want {
			t.Errorf("%s: accepted=%v, want %v", c.name, n > 0, c.want)
		}
	}
	if e := PortExpr([]uint16{502}, []uint16{20000}); e != "(tcp and (port 502)) or (udp and (port 20000))" {
		t.Errorf("expression %q", e)
	}
}
