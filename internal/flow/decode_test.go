package flow

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
)

// tcpSpec describes one TCP segment to serialise.
type tcpSpec struct {
	src, dst       string
	sport, dport   uint16
	seq, ack       uint32
	syn, ack_, fin bool
	rst            bool
	payload        string
	frag           bool // IPv4 "more fragments" set: not decodable TCP
	ethPad         int  // Ethernet trailer bytes beyond the IP packet
	vlans          []uint16
	// tpids are the tags' TPIDs, outermost first (0x8100 where absent).
	tpids []uint16
}

// ipTCP serialises IPv4 or IPv6 (by address family) + TCP + payload and
// returns the bytes and the EtherType.
func ipTCP(t testing.TB, s tcpSpec) ([]byte, layers.EthernetType) {
	t.Helper()
	src, dst := netip.MustParseAddr(s.src), netip.MustParseAddr(s.dst)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(s.sport), DstPort: layers.TCPPort(s.dport), Seq: s.seq, Ack: s.ack,
		SYN: s.syn, ACK: s.ack_, FIN: s.fin, RST: s.rst, Window: 65535}
	var ip gopacket.SerializableLayer
	et := layers.EthernetTypeIPv4
	if src.Is4() {
		ip4 := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		if s.frag {
			ip4.Flags = layers.IPv4MoreFragments
		}
		tcp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		et = layers.EthernetTypeIPv6
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	}
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, tcp, gopacket.Payload(s.payload))
	if err != nil {
		t.Fatal(err)
	}
	return append(buf.Bytes(), make([]byte, s.ethPad)...), et
}

// ethFrame wraps the segment in Ethernet, with VLAN tags when s.vlans is
// set (802.1Q 0x8100, or the TPIDs s.tpids gives: 802.1ad 0x88a8 or the
// pre-standard 0x9100 for QinQ).
func ethFrame(t testing.TB, s tcpSpec) []byte {
	t.Helper()
	body, et := ipTCP(t, s)
	var hdr []byte
	hdr = append(hdr, macB...)
	hdr = append(hdr, macA...)
	for i, v := range s.vlans {
		tpid := uint16(0x8100)
		if i < len(s.tpids) {
			tpid = s.tpids[i]
		}
		hdr = append(hdr, byte(tpid>>8), byte(tpid))
		hdr = append(hdr, byte(v>>8), byte(v))
	}
	hdr = append(hdr, byte(et>>8), byte(et))
	return append(hdr, body...)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

var v4seg = tcpSpec{src: "192.168.1.10", dst: "192.168.1.20", sport: 40000, dport: 502, seq: 1000, ack: 7, ack_: true, payload: "\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x0a"}
var v6seg = tcpSpec{src: "::1", dst: "::1", sport: 51000, dport: 4840, seq: 42, ack: 9, ack_: true, payload: "HELF"}

func TestDecodeLinkTypes(t *testing.T) {
	ip4, _ := ipTCP(t, v4seg)
	ip6, _ := ipTCP(t, v6seg)
	tests := []struct {
		name    string
		lt      layers.LinkType
		frame   []byte
		want    tcpSpec
		wantMAC bool
	}{
		{"ethernet", layers.LinkTypeEthernet, ethFrame(t, v4seg), v4seg, true},
		{"ethernet ipv6", layers.LinkTypeEthernet, ethFrame(t, v6seg), v6seg, true},
		{"ethernet padded", layers.LinkTypeEthernet, ethFrame(t, tcpSpec{src: "10.0.0.1", dst: "10.0.0.2", sport: 1, dport: 502, payload: "x", ethPad: 6}),
			tcpSpec{src: "10.0.0.1", dst: "10.0.0.2", sport: 1, dport: 502, payload: "x"}, true},
		{"802.1Q", layers.LinkTypeEthernet, ethFrame(t, withVLAN(v4seg, false, 100)), v4seg, true},
		{"QinQ 802.1ad", layers.LinkTypeEthernet, ethFrame(t, withVLAN(v4seg, true, 200, 100)), v4seg, true},
		{"QinQ 8100/8100", layers.LinkTypeEthernet, ethFrame(t, withVLAN(v6seg, false, 200, 100)), v6seg, true},
		// The pre-standard QinQ TPID 0x9100 (Cisco, Juniper and others
		// before 802.1ad), outer or alone, and 0x88a8 stacked.
		{"QinQ 9100/8100", layers.LinkTypeEthernet, ethFrame(t, withTags(v4seg, []uint16{0x9100, 0x8100}, 200, 100)), v4seg, true},
		{"QinQ 9100/8100 ipv6", layers.LinkTypeEthernet, ethFrame(t, withTags(v6seg, []uint16{0x9100, 0x8100}, 200, 100)), v6seg, true},
		{"VLAN 9100", layers.LinkTypeEthernet, ethFrame(t, withTags(v4seg, []uint16{0x9100}, 300)), v4seg, true},
		{"QinQ 9100/9100", layers.LinkTypeEthernet, ethFrame(t, withTags(v4seg, []uint16{0x9100, 0x9100}, 200, 100)), v4seg, true},
		{"QinQ 88a8/88a8", layers.LinkTypeEthernet, ethFrame(t, withTags(v4seg, []uint16{0x88a8, 0x88a8}, 200, 100)), v4seg, true},
		{"triple 88a8/9100/8100", layers.LinkTypeEthernet, ethFrame(t, withTags(v4seg, []uint16{0x88a8, 0x9100, 0x8100}, 300, 200, 100)), v4seg, true},
		// Linux cooked capture keeps the inner tags of a frame whose
		// outer tag the NIC stripped: protocol 0x9100 (SLL's protocol
		// field is an EtherType).
		{"linux sll 9100", layers.LinkTypeLinuxSLL, append(mustHex("0000 0001 0006 02000000000a0000 9100 0064 0800"), ip4...), v4seg, false},
		// 9100 0000 00000001 0001 00 06 02000000000a0000 | 0064 86dd
		{"linux sll2 9100", layers.LinkTypeLinuxSLL2, append(mustHex("9100 0000 00000001 0001 00 06 02000000000a0000 0064 86dd"), ip6...), v6seg, false},
		// Linux cooked v1: packet type 0 (to us), ARPHRD_ETHER, address
		// length 6, address padded to 8, protocol 0x0800.
		// 0000 0001 0006 02000000000a 0000 0800
		{"linux sll", layers.LinkTypeLinuxSLL, append(mustHex("0000 0001 0006 02000000000a0000 0800"), ip4...), v4seg, false},
		// Linux cooked v2: protocol 0x86dd, reserved, ifindex 1,
		// ARPHRD_LOOPBACK 772, packet type 0, address length 6, address.
		// 86dd 0000 00000001 0304 00 06 0000000000000000
		{"linux sll2", layers.LinkTypeLinuxSLL2, append(mustHex("86dd 0000 00000001 0304 00 06 0000000000000000"), ip6...), v6seg, false},
		// BSD loopback, family in host order: 2 (AF_INET) little-endian,
		// 30 (AF_INET6 on macOS) little-endian, 24 (OpenBSD, LOOP is
		// big-endian).
		{"null ipv4", layers.LinkTypeNull, append(mustHex("02000000"), ip4...), v4seg, false},
		{"null ipv6 darwin", layers.LinkTypeNull, append(mustHex("1e000000"), ip6...), v6seg, false},
		{"null ipv6 freebsd", layers.LinkTypeNull, append(mustHex("1c000000"), ip6...), v6seg, false},
		{"loop ipv6", layers.LinkTypeLoop, append(mustHex("00000018"), ip6...), v6seg, false},
		{"raw 101 v4", layers.LinkTypeRaw, ip4, v4seg, false},
		{"raw 101 v6", layers.LinkTypeRaw, ip6, v6seg, false},
		{"raw 12", 12, ip4, v4seg, false},
		{"raw 14", 14, ip6, v6seg, false},
		{"ipv4 228", layers.LinkTypeIPv4, ip4, v4seg, false},
		{"ipv6 229", layers.LinkTypeIPv6, ip6, v6seg, false},
	}
	d := NewDecoder()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := d.Decode(tt.frame, tt.lt)
			if err != nil {
				t.Fatal(err)
			}
			if s == nil {
				t.Fatal("no TCP segment decoded")
			}
			w := tt.want
			src, dst := netip.MustParseAddr(w.src), netip.MustParseAddr(w.dst)
			if s.V6 != src.Is6() || !bytes.Equal(segAddr(s.Src, s.V6), src.AsSlice()) || !bytes.Equal(segAddr(s.Dst, s.V6), dst.AsSlice()) {
				t.Errorf("addresses %x → %x (v6 %v), want %v → %v", s.Src, s.Dst, s.V6, src, dst)
			}
			if s.SrcPort != w.sport || s.DstPort != w.dport || s.Seq != w.seq || s.Ack != w.ack || s.ACK() != w.ack_ || s.SYN() || s.FIN() || s.RST() {
				t.Errorf("tcp %d→%d seq %d ack %d flags %02x", s.SrcPort, s.DstPort, s.Seq, s.Ack, s.Flags)
			}
			if string(s.Payload) != w.payload {
				t.Errorf("payload %q, want %q", s.Payload, w.payload)
			}
			if s.HasMAC != tt.wantMAC || (tt.wantMAC && (!bytes.Equal(s.SrcMAC[:], macA) || !bytes.Equal(s.DstMAC[:], macB))) {
				t.Errorf("MACs %x %x (has %v)", s.SrcMAC, s.DstMAC, s.HasMAC)
			}
		})
	}
}

func withVLAN(s tcpSpec, outer88a8 bool, ids ...uint16) tcpSpec {
	s.vlans = ids
	if outer88a8 {
		s.tpids = []uint16{0x88a8}
	}
	return s
}

// withTags tags s with VLAN ids under the given TPIDs, outermost first.
func withTags(s tcpSpec, tpids []uint16, ids ...uint16) tcpSpec {
	s.vlans, s.tpids = ids, tpids
	return s
}

func segAddr(b [16]byte, v6 bool) []byte {
	if v6 {
		return b[:]
	}
	return b[:4]
}

func TestDecodeNotTCP(t *testing.T) {
	d := NewDecoder()
	udp := func() []byte {
		buf := gopacket.NewSerializeBuffer()
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
		u := &layers.UDP{SrcPort: 5000, DstPort: 502}
		u.SetNetworkLayerForChecksum(ip)
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}, ip, u); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	tests := []struct {
		name    string
		lt      layers.LinkType
		frame   []byte
		wantErr bool
	}{
		// ARP request: ff..ff 02..0a 0806 ...
		{"arp", layers.LinkTypeEthernet, mustHex("ffffffffffff 02000000000a 0806 0001 0800 0604 0001 02000000000a c0a8010a 000000000000 c0a80114"), false},
		{"udp to 502", layers.LinkTypeEthernet, udp, false},
		{"ipv4 fragment", layers.LinkTypeEthernet, ethFrame(t, tcpSpec{src: "10.0.0.1", dst: "10.0.0.2", sport: 1, dport: 502, frag: true, payload: "abc"}), false},
		{"802.3 llc", layers.LinkTypeEthernet, mustHex("0180c2000000 02000000000a 0026 4242 03 0000 00"), false},
		{"runt", layers.LinkTypeEthernet, mustHex("0102"), true},
		{"truncated ipv4", layers.LinkTypeEthernet, ethFrame(t, v4seg)[:20], true},
		{"unknown link type", layers.LinkType(147), ethFrame(t, v4seg), true},
		{"empty raw", layers.LinkTypeRaw, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := d.Decode(tt.frame, tt.lt)
			if s != nil {
				t.Errorf("decoded a segment: %+v", s)
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestDecodeZeroAlloc guards the hot path: a well-formed TCP frame decodes
// without allocating.
func TestDecodeZeroAlloc(t *testing.T) {
	d := NewDecoder()
	frames := [][]byte{ethFrame(t, v4seg), ethFrame(t, withVLAN(v6seg, true, 1, 2))}
	for _, f := range frames {
		d.Decode(f, layers.LinkTypeEthernet) // warm the reused slices
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			if s, err := d.Decode(f, layers.LinkTypeEthernet); s == nil || err != nil {
				t.Fatal("decode failed", err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per decode, want 0", allocs)
	}
}

func BenchmarkDecode(b *testing.B) {
	frame := ethFrame(b, v4seg)
	d := NewDecoder()
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if s, _ := d.Decode(frame, layers.LinkTypeEthernet); s == nil {
			b.Fatal("no segment")
		}
	}
}

// withIPv6Ext inserts an 8-byte IPv6 extension header of type typ right
// after the fixed header of an Ethernet/IPv6/TCP frame.
func withIPv6Ext(frame []byte, typ byte, body [6]byte) []byte {
	const ip6 = 14
	out := append([]byte(nil), frame[:ip6+40]...)
	next := out[ip6+6]
	out[ip6+6] = typ
	pl := int(out[ip6+4])<<8 | int(out[ip6+5]) + 8
	out[ip6+4], out[ip6+5] = byte(pl>>8), byte(pl)
	out = append(out, next, 0)
	out = append(out, body[:]...)
	return append(out, frame[ip6+40:]...)
}

func TestDecodeIPv6Extensions(t *testing.T) {
	base := ethFrame(t, v6seg)
	d := NewDecoder()
	tests := []struct {
		name  string
		frame []byte
		want  bool
	}{
		// Destination options: next header, length 0, PadN of 4.
		// 06 00 01 04 00000000
		{"destination options", withIPv6Ext(base, 60, [6]byte{1, 4}), true},
		// Hop-by-hop options, then routing header type 0 with no
		// addresses left (segments left 0).
		{"hop-by-hop", withIPv6Ext(base, 0, [6]byte{1, 4}), true},
		{"routing", withIPv6Ext(base, 43, [6]byte{0, 0}), true},
		// Fragment header: offset 0, M=0 (atomic fragment) leads to
		// TCP; M=1 is the first of several fragments, skipped.
		// 06 00 0000 00000001
		{"atomic fragment", withIPv6Ext(base, 44, [6]byte{0, 0, 0, 0, 0, 1}), true},
		{"first fragment", withIPv6Ext(base, 44, [6]byte{0, 1, 0, 0, 0, 1}), false},
		{"later fragment", withIPv6Ext(base, 44, [6]byte{0x05, 0x00, 0, 0, 0, 1}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := d.Decode(tt.frame, layers.LinkTypeEthernet)
			if err != nil {
				t.Fatal(err)
			}
			if (s != nil) != tt.want {
				t.Fatalf("segment %v, want one: %v", s != nil, tt.want)
			}
			if s != nil && (string(s.Payload) != v6seg.payload || s.SrcPort != v6seg.sport || !s.V6 || s.Missing != 0) {
				t.Errorf("segment %+v", s)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{ClientToServer.String(), "to_server"},
		{ServerToClient.String(), "to_client"},
		{CloseFIN.String(), "fin"},
		{CloseRST.String(), "rst"},
		{CloseIdle.String(), "idle"},
		{CloseEvicted.String(), "evicted"},
		{CloseEnd.String(), "end"},
		{CloseReason(200).String(), "unknown"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
}
