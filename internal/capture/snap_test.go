package capture

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/sluice-ics/sluice/internal/testpcaps"
	"golang.org/x/net/bpf"
)

// The decoders' default ports, as sluice monitor passes them: Modbus, OPC
// UA and DNP3 over TCP, DNP3 over UDP.
var (
	snapTCPPorts = []uint16{502, 4840, 20000}
	snapUDPPorts = []uint16{20000}
)

func snapVM(t *testing.T, snapOther int) *bpf.VM {
	t.Helper()
	raw, err := SnapFilter(snapTCPPorts, snapUDPPorts, snapOther)
	if err != nil {
		t.Fatal(err)
	}
	return vmFor(t, "default filter", raw)
}

// generalVM runs the default filter's expression (PortExpr) compiled by
// the general compiler, which TestCompileFilterAgainstTcpdump checks
// against tcpdump's: SnapFilter's compact program must cut every frame as
// it does.
func generalVM(t testing.TB, tcp, udp []uint16, snapOther int) *bpf.VM {
	t.Helper()
	raw, err := CompileFilterSnap(PortExpr(tcp, udp), snapOther)
	if err != nil {
		t.Fatal(err)
	}
	return vmFor(t, PortExpr(tcp, udp), raw)
}

// captured is how many bytes of frame the kernel copies: the program's
// return value, at most the frame (x/net/bpf returns the value as is).
func captured(t testing.TB, vm *bpf.VM, frame []byte) int {
	t.Helper()
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatal(err)
	}
	return min(n, len(frame))
}

// wantSnap is the snap length the default filter must return for frame,
// decided from gopacket's decoding of it rather than from the program:
// snapAll for TCP or UDP to or from a decoder port (tcpPorts, udpPorts), other for every other
// IPv4, IPv6 or ARP frame, 0 for the rest.
//
// Two cases follow the filter's (and tcpdump's "port") definition rather
// than what gopacket can see: an IPv4 fragment carries ports only when it
// is the first (gopacket decodes none of the fragments' TCP), and an IPv6
// packet's ports are looked for right after the fixed header, not behind
// extension headers (which the agent's flow decoder does not walk either).
func wantSnap(frame []byte, tcpPorts, udpPorts []uint16, other int) int {
	pkt := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	if eth == nil {
		return 0
	}
	var proto layers.IPProtocol
	var l4 []byte
	switch eth.EthernetType {
	case layers.EthernetTypeARP:
		return other
	case layers.EthernetTypeIPv4:
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			return other
		}
		if ip.FragOffset == 0 {
			proto, l4 = ip.Protocol, ip.Payload
		}
	case layers.EthernetTypeIPv6:
		ip, _ := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		if ip == nil {
			return other
		}
		proto, l4 = ip.NextHeader, ip.Payload
	default:
		return 0
	}
	if len(l4) < 4 {
		return other
	}
	ports := tcpPorts
	switch proto {
	case layers.IPProtocolTCP:
	case layers.IPProtocolUDP:
		ports = udpPorts
	default:
		return other
	}
	if slices.Contains(ports, binary.BigEndian.Uint16(l4)) || slices.Contains(ports, binary.BigEndian.Uint16(l4[2:])) {
		return snapAll
	}
	return other
}

// kernelView is the frame as an AF_PACKET socket filter sees it, or false
// when the kernel would not show it to one: the kernel removes an 802.1Q
// or 802.1ad tag before the filter runs (skb_vlan_untag), and a BSD
// loopback capture's frames are given the Ethernet header an Ethernet
// interface would carry.
func kernelView(p Packet) ([]byte, bool) {
	f := p.Data
	switch p.LinkType {
	case layers.LinkTypeEthernet:
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(f) < 4 {
			return nil, false
		}
		af := binary.LittleEndian.Uint32(f)
		if af > 0xffff {
			af = binary.BigEndian.Uint32(f)
		}
		et := uint16(0x0800)
		switch af {
		case 2:
		case 24, 28, 30:
			et = 0x86dd
		default:
			return nil, false
		}
		eth := make([]byte, 14, 14+len(f)-4)
		binary.BigEndian.PutUint16(eth[12:], et)
		return append(eth, f[4:]...), true
	default:
		return nil, false
	}
	if len(f) >= 18 {
		if et := binary.BigEndian.Uint16(f[12:]); et == 0x8100 || et == 0x88a8 {
			return append(slices.Clone(f[:12]), f[16:]...), true
		}
	}
	return f, true
}

// TestSnapFilterCaptures runs the default kernel filter in x/net/bpf's
// interpreter (classic BPF as the kernel runs it) over every frame of the
// simulator's captures and the shared real ones, and checks each returned
// snap length against wantSnap's independent decision.
func TestSnapFilterCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "*.pcap"))
	if len(files) == 0 {
		t.Fatal("no simulator captures in testdata/")
	}
	if testpcaps.Available() {
		files = append(files, testpcaps.Files(t, "modbus", "opcua", "dnp3")...)
	} else {
		t.Log("shared captures absent: simulator captures only")
	}
	const other = DefaultSnapOther
	vm := snapVM(t, other)
	general := generalVM(t, snapTCPPorts, snapUDPPorts, other)
	var whole, short, dropped, skipped int
	for _, file := range files {
		f, err := OpenFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; ; n++ {
			p, err := f.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if errors.Is(err, ErrTruncated) || errors.Is(err, ErrCorrupt) {
					break // the fuzzer-made shared captures end early
				}
				t.Fatal(err)
			}
			frame, ok := kernelView(p)
			if !ok || p.Length > len(p.Data) {
				// Not Ethernet, or snapped by the capture: the kernel
				// would have filtered the whole frame.
				skipped++
				continue
			}
			got := captured(t, vm, frame)
			want := min(wantSnap(frame, snapTCPPorts, snapUDPPorts, other), len(frame))
			if got != want {
				t.Errorf("%s frame %d: snap %d, want %d: %x", filepath.Base(file), n, got, want, frame[:min(len(frame), 80)])
			}
			if g := captured(t, general, frame); g != got {
				t.Errorf("%s frame %d: snap %d, the general compiler's %d", filepath.Base(file), n, got, g)
			}
			switch {
			case got == 0:
				dropped++
			case got == len(frame) && wantSnap(frame, snapTCPPorts, snapUDPPorts, other) == snapAll:
				whole++
			default:
				short++
			}
		}
		f.Close()
	}
	t.Logf("%d captures: %d frames whole, %d cut to %d bytes (or their length), %d dropped, %d not checked", len(files), whole, short, other, dropped, skipped)
	if whole == 0 || short == 0 {
		t.Errorf("the captures exercised too little: %d whole, %d short", whole, short)
	}
}

// TestSnapFilterFrames checks the cases the captures may not hold: IPv4
// with options (the ports are behind a longer header), fragments, ICMP,
// ARP, other EtherTypes and a runt; and --snap-other 0, the filter before
// issue #11.
func TestSnapFilterFrames(t *testing.T) {
	const other = 200
	vm, old := snapVM(t, other), snapVM(t, 0)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	withOptions := func(dport uint16, payload int) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2},
			Options: []layers.IPv4Option{{OptionType: 7, OptionLength: 11, OptionData: make([]byte, 9)}}} // record route
		return serialize(t, eth, ip, &layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(dport), ACK: true}, gopacket.Payload(make([]byte, payload)))
	}
	lldp := append(make([]byte, 12), 0x88, 0xcc)
	lldp = append(lldp, make([]byte, 300)...)
	cases := []struct {
		name  string
		frame []byte
		want  int // snap length; snapAll for the whole frame
	}{
		{"v4 options to 502", withOptions(502, 1000), snapAll},
		{"v4 options to 80", withOptions(80, 1000), other},
		{"v4 tcp to 502", frame(t, 40000, 502, false, false, 0), snapAll},
		{"v6 tcp from 4840", frame(t, 4840, 40000, true, false, 0), snapAll},
		{"v4 udp to 20000", frame(t, 40000, 20000, false, true, 0), snapAll},
		{"v6 udp from 20000", frame(t, 20000, 40000, true, true, 0), snapAll},
		{"v4 tcp to 20000", frame(t, 40000, 20000, false, false, 0), snapAll},
		{"v4 udp to 502", frame(t, 40000, 502, false, true, 0), other},
		{"v6 tcp to 445", frame(t, 40000, 445, true, false, 0), other},
		{"v4 non-first fragment of 502", frame(t, 40000, 502, false, false, 100), other},
		{"lldp", lldp, 0},
		{"runt", []byte{1, 2, 3}, 0},
	}
	for _, f := range filterFrames(t) {
		cases = append(cases, struct {
			name  string
			frame []byte
			want  int
		}{"filterFrames", f, wantSnap(f, snapTCPPorts, snapUDPPorts, other)})
	}
	general := generalVM(t, snapTCPPorts, snapUDPPorts, other)
	for _, c := range cases {
		if got, g := captured(t, vm, c.frame), captured(t, general, c.frame); got != g {
			t.Errorf("%s: snap %d, the general compiler's %d", c.name, got, g)
		}
		want := min(c.want, len(c.frame))
		if got := captured(t, vm, c.frame); got != want {
			t.Errorf("%s: snap %d of %d bytes, want %d", c.name, got, len(c.frame), want)
		}
		if w := wantSnap(c.frame, snapTCPPorts, snapUDPPorts, other); c.name != "filterFrames" && w != c.want {
			t.Errorf("%s: wantSnap says %d, the case %d", c.name, w, c.want)
		}
		// --snap-other 0: the decoders' frames whole, nothing else.
		oldWant := 0
		if c.want == snapAll {
			oldWant = len(c.frame)
		}
		if got := captured(t, old, c.frame); got != oldWant {
			t.Errorf("%s, --snap-other 0: snap %d, want %d", c.name, got, oldWant)
		}
	}
	// --bpf EXPR --snap-other N: the operator's expression chooses what
	// is whole; the default expression gives the default filter.
	custom, err := CompileFilterSnap("tcp port 80", other)
	if err != nil {
		t.Fatal(err)
	}
	cvm := vmFor(t, "tcp port 80", custom)
	for _, c := range []struct {
		frame []byte
		want  int
	}{
		{frame(t, 40000, 80, true, false, 0), snapAll},
		{frame(t, 40000, 502, false, false, 0), other},
		{lldp, 0},
	} {
		if got := captured(t, cvm, c.frame); got != min(c.want, len(c.frame)) {
			t.Errorf("tcp port 80 with snap %d: %d of %d bytes, want %d", other, got, len(c.frame), c.want)
		}
	}
	if _, err := CompileFilterSnap("tcp", 10); err == nil || !strings.Contains(err.Error(), "bpf ") {
		t.Errorf("snap length 10: error %v, want one about the filter", err)
	}
	// Long port lists: every one of them, first and last, is kept whole.
	many := make([]uint16, maxListPorts)
	for i := range many {
		many[i] = uint16(1000 + i)
	}
	mvm := vmFor(t, "many ports", must(SnapFilter(many, many, other)))
	for _, p := range []uint16{many[0], many[len(many)-1]} {
		for _, udp := range []bool{false, true} {
			for _, v6 := range []bool{false, true} {
				f := frame(t, 40000, p, v6, udp, 0)
				if got := captured(t, mvm, f); got != len(f) {
					t.Errorf("%d ports, port %d (udp %v, v6 %v): %d of %d bytes", len(many), p, udp, v6, got, len(f))
				}
			}
		}
	}
	if f := frame(t, 40000, 999, false, false, 0); captured(t, mvm, f) != min(other, len(f)) {
		t.Errorf("%d ports: port 999 not cut", len(many))
	}
	if _, err := SnapFilter(append(many, 5), nil, other); err == nil {
		t.Errorf("%d ports: no error", len(many)+1)
	}
	for _, n := range []int{-1, 1, MinSnapOther - 1, MaxSnapOther + 1} {
		if _, err := SnapFilter(snapTCPPorts, snapUDPPorts, n); err == nil {
			t.Errorf("snap length %d: accepted", n)
		}
	}
	for _, n := range []int{0, MinSnapOther, MaxSnapOther} {
		if _, err := SnapFilter(snapTCPPorts, snapUDPPorts, n); err != nil {
			t.Errorf("snap length %d: %v", n, err)
		}
	}
}

// FuzzSnapFilter builds the default filter from operator input (the ports
// of --modbus-ports and the others, --snap-other) and checks it never
// panics, refuses bad snap lengths and too many ports (more than maxListPorts a list) with an error, and
// otherwise returns, on frames to and from the fuzzed ports and the
// fixed frame set, exactly wantSnap's lengths.
func FuzzSnapFilter(f *testing.F) {
	f.Add([]byte{0x01, 0xf6, 0x12, 0xe8}, []byte{0x4e, 0x20}, 256)
	f.Add([]byte{0x00, 0x16}, []byte{}, 0)
	f.Add([]byte{0xff, 0xff, 0x00, 0x00}, []byte{0x00, 0x35}, 64)
	f.Add([]byte{0x01, 0xf6}, []byte{0x01, 0xf6}, 65535)
	base := filterFrames(f)
	f.Fuzz(func(t *testing.T, tcpB, udpB []byte, snapOther int) {
		toPorts := func(b []byte) []uint16 {
			var ps []uint16
			for i := 0; i+1 < len(b); i += 2 {
				ps = append(ps, binary.BigEndian.Uint16(b[i:]))
			}
			return ps
		}
		tcpPorts, udpPorts := toPorts(tcpB), toPorts(udpB)
		if len(tcpPorts) == 0 {
			return // PortFilter keeps all TCP then: TestPortFilter's case
		}
		raw, err := SnapFilter(tcpPorts, udpPorts, snapOther)
		if CheckSnapOther(snapOther) != nil {
			if err == nil {
				t.Fatalf("snap length %d accepted", snapOther)
			}
			return
		}
		if err != nil {
			if len(tcpPorts) <= maxListPorts && len(udpPorts) <= maxListPorts {
				t.Fatalf("%d TCP and %d UDP ports: %v", len(tcpPorts), len(udpPorts), err)
			}
			return
		}
		vm := vmFor(t, "fuzzed", raw)
		var general *bpf.VM // the general compiler fits 11 ports in all
		if g, err := CompileFilterSnap(PortExpr(tcpPorts, udpPorts), snapOther); err == nil {
			general = vmFor(t, "general", g)
		}
		frames := base
		for i, p := range append(slices.Clone(tcpPorts[:min(len(tcpPorts), 4)]), udpPorts[:min(len(udpPorts), 4)]...) {
			frames = append(frames, frame(t, 40000, p, i%2 == 1, i >= min(len(tcpPorts), 4), 0), frame(t, p, 1234, i%2 == 0, i >= min(len(tcpPorts), 4), 0))
		}
		for i, fr := range frames {
			got := captured(t, vm, fr)
			if want := min(wantSnap(fr, tcpPorts, udpPorts, snapOther), len(fr)); got != want {
				t.Fatalf("ports %v udp %v snap %d, frame %d: %d bytes, want %d: %x", tcpPorts, udpPorts, snapOther, i, got, want, fr)
			}
			if general != nil {
				if g := captured(t, general, fr); g != got {
					t.Fatalf("ports %v udp %v snap %d, frame %d: %d bytes, the general compiler %d", tcpPorts, udpPorts, snapOther, i, got, g)
				}
			}
		}
	})
}

// FuzzCompileFilter compiles arbitrary --bpf expressions: never a panic;
// an error says it is about the filter; a program is valid classic BPF
// within the kernel's length, and runs on every frame.
func FuzzCompileFilter(f *testing.F) {
	for _, e := range filterExprs {
		f.Add(e)
	}
	f.Add("tcp[13] & 2 != 0")
	f.Add("((((port 1 or port 2) and not host 10.0.0.1)))")
	base := filterFrames(f)
	f.Fuzz(func(t *testing.T, expr string) {
		raw, err := CompileFilter(expr)
		if err != nil {
			if !strings.Contains(err.Error(), "bpf ") {
				t.Fatalf("%q: error %q does not name the filter", expr, err)
			}
			return
		}
		if len(raw) > maxBPFInstructions {
			t.Fatalf("%q: %d instructions", expr, len(raw))
		}
		vm := vmFor(t, expr, raw)
		for _, fr := range base {
			if n, err := vm.Run(fr); err != nil || (n != 0 && n != snapAll) {
				t.Fatalf("%q: %d, %v", expr, n, err)
			}
		}
	})
}

func must(raw []bpf.RawInstruction, err error) []bpf.RawInstruction {
	if err != nil {
		panic(err)
	}
	return raw
}
