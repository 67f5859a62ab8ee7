package capture

import (
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/sluice-ics/sluice/internal/testpcaps"
	"golang.org/x/net/bpf"
)

// filterExprs are checked against tcpdump's compiler frame by frame. They
// include the compound forms that pure-Go compilers tend to get wrong (mixed
// and/or without parentheses, negated groups).
var filterExprs = []string{
	"tcp", "udp", "ip", "ip6", "arp", "icmp", "icmp6",
	"port 502", "tcp port 502", "udp port 502", "tcp src port 502", "tcp dst port 502",
	"tcp and (port 502 or port 4840)",
	"tcp and port 502 or port 4840",
	"port 502 or port 4840 and udp",
	"port 502 or 4840",
	"not (port 502 or port 4840)",
	"tcp && !(port 502 || port 4840)",
	"(tcp and port 502) or (tcp and port 4840)",
	"tcp portrange 500-510", "dst portrange 4000-5000",
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2 and tcp", "dst host 10.0.0.2 or 10.0.0.1",
	"host fd00::1", "ip6 dst host fd00::2", "src fd00::1",
	"net 10.0.0.0/8", "src net 10.0.0.0/30 and tcp port 502", "net fd00::/64", "dst net fd00::2/127",
	"net 192.168.0.0/16 or net 10.0.0.0/24", "net ::/0", "src net 0.0.0.0/0 and tcp",
	"ip proto 6", "proto 17", "ip6 proto 17",
	"ether host 02:00:00:00:00:0a", "ether src 02:00:00:00:00:0b", "ether dst 02:00:00:00:00:0a and tcp",
	"not tcp", "not not ip",
}

// filterFrames builds frames covering the primitives above.
func filterFrames(t testing.TB) [][]byte {
	var frames [][]byte
	for _, v6 := range []bool{false, true} {
		for _, udp := range []bool{false, true} {
			for _, ports := range [][2]uint16{{40000, 502}, {502, 40001}, {40000, 4840}, {4840, 502}, {40000, 80}, {22, 40000}, {505, 4999}} {
				frames = append(frames, frame(t, ports[0], ports[1], v6, udp, 0))
			}
		}
	}
	frames = append(frames, frame(t, 40000, 502, false, false, 100)) // non-first fragment
	// Other addresses, so host and net primitives see both outcomes.
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x0b}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x0a}, EthernetType: layers.EthernetTypeIPv4}
	for _, pair := range [][2]string{{"10.0.0.2", "10.0.0.1"}, {"10.0.0.9", "192.168.1.1"}, {"172.16.0.1", "10.0.0.3"}} {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(pair[0]).To4(), DstIP: net.ParseIP(pair[1]).To4()}
		tcp := &layers.TCP{SrcPort: 502, DstPort: 40000, ACK: true}
		frames = append(frames, serialize(t, eth, ip, tcp))
	}
	eth6 := &layers.Ethernet{SrcMAC: eth.SrcMAC, DstMAC: eth.DstMAC, EthernetType: layers.EthernetTypeIPv6}
	for _, pair := range [][2]string{{"fd00::2", "fd00::1"}, {"fd00::3", "fe80::1"}, {"2001:db8::1", "fd00::1:0:0:2"}} {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.ParseIP(pair[0]), DstIP: net.ParseIP(pair[1])}
		tcp := &layers.TCP{SrcPort: 4840, DstPort: 40000, ACK: true}
		frames = append(frames, serialize(t, eth6, ip, tcp))
	}
	icmp := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	frames = append(frames, serialize(t, eth, icmp, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}))
	icmp6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
	ic6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	ic6.SetNetworkLayerForChecksum(icmp6)
	frames = append(frames, serialize(t, eth6, icmp6, ic6))
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1,
		SourceHwAddress: eth.SrcMAC, SourceProtAddress: net.IP{172, 31, 0, 1}, DstHwAddress: make(net.HardwareAddr, 6), DstProtAddress: net.IP{172, 31, 0, 2}}
	frames = append(frames, serialize(t, &layers.Ethernet{SrcMAC: eth.SrcMAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}, arp))
	frames = append(frames, []byte{1, 2, 3}) // runt
	return frames
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	for _, l := range ls {
		if tcp, ok := l.(*layers.TCP); ok {
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					tcp.SetNetworkLayerForChecksum(nl)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tcpdumpProgram compiles expr with tcpdump (libpcap) for Ethernet.
func tcpdumpProgram(t *testing.T, tcpdump, expr string) *bpf.VM {
	t.Helper()
	out, err := exec.Command(tcpdump, "-ddd", "-y", "EN10MB", expr).Output()
	if err != nil {
		t.Fatalf("tcpdump -ddd %q: %v", expr, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var raw []bpf.RawInstruction
	for _, l := range lines[1:] {
		var f [4]uint64
		for i, s := range strings.Fields(l) {
			f[i], _ = strconv.ParseUint(s, 10, 32)
		}
		raw = append(raw, bpf.RawInstruction{Op: uint16(f[0]), Jt: uint8(f[1]), Jf: uint8(f[2]), K: uint32(f[3])})
	}
	return vmFor(t, expr, raw)
}

func vmFor(t testing.TB, expr string, raw []bpf.RawInstruction) *bpf.VM {
	t.Helper()
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("%q: program does not disassemble", expr)
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	return vm
}

// TestCompileFilterAgainstTcpdump runs each expression compiled by
// CompileFilter and by tcpdump over synthetic frames and over every frame of
// real Ethernet captures: both must accept exactly the same frames.
func TestCompileFilterAgainstTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed: no reference compiler (make tools installs it)")
	}
	frames := filterFrames(t)
	if dir, ok := pcapsDirIfPresent(); ok {
		for _, name := range []string{"zeek_modbus-and-non-modbus-p502.pcap", "iti_modbus_test.pcap", "icsnpp_modbus_example.pcap"} {
			f, err := OpenFile(filepath.Join(dir, "modbus", name))
			if err != nil {
				t.Fatal(err)
			}
			for {
				p, err := f.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				frames = append(frames, append([]byte(nil), p.Data...))
			}
			f.Close()
		}
	}
	for _, expr := range filterExprs {
		raw, err := CompileFilter(expr)
		if err != nil {
			t.Errorf("%q: %v", expr, err)
			continue
		}
		ours, ref := vmFor(t, expr, raw), tcpdumpProgram(t, tcpdump, expr)
		accepted, mismatches := 0, 0
		for i, fr := range frames {
			a, _ := ours.Run(fr)
			b, _ := ref.Run(fr)
			if (a > 0) != (b > 0) {
				mismatches++
				if mismatches <= 3 {
					t.Errorf("%q frame %d: ours accepts=%v, tcpdump accepts=%v (%x)", expr, i, a > 0, b > 0, fr[:min(len(fr), 64)])
				}
			}
			if a > 0 {
				accepted++
			}
		}
		if accepted == 0 || accepted == len(frames) {
			t.Errorf("%q accepts %d of %d frames: the frame set does not exercise it", expr, accepted, len(frames))
		}
	}
}

func pcapsDirIfPresent() (string, bool) {
	return testpcaps.Root(), testpcaps.Available()
}

func TestCompileFilterErrors(t *testing.T) {
	for _, expr := range []string{
		"", "tcp[13] & 2 != 0", "vlan and tcp", "host example.com", "port modbus", "port 70000",
		"tcp and", "(tcp", "tcp)", "ip host fd00::1", "icmp port 5", "net 10", "ether net 1.2.3.4/8",
		"gateway 10.0.0.1", "less 100", "10.0.0.2", "tcp or 10.0.0.2", "src", "ip proto 300", "portrange 5", "proto udp",
	} {
		if raw, err := CompileFilter(expr); err == nil {
			t.Errorf("%q compiled to %d instructions, want an error", expr, len(raw))
		} else if !strings.Contains(err.Error(), "bpf ") {
			t.Errorf("%q: error %q does not say it is about the filter", expr, err)
		}
	}
}
