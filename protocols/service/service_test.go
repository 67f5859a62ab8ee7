package service

import (
	"crypto/tls"
	"encoding/hex"
	"net"
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

	"github.com/sluice-ics/sluice/internal/hostile"
)

// clientHello returns the first bytes a real TLS client (Go's) sends for
// server name sni.
func realClientHello(t *testing.T, sni string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: sni, InsecureSkipVerify: true}).Handshake()
	buf := make([]byte, 1<<14)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestTLSAgainstTshark: the ClientHello of a real TLS client, in a capture,
// gives the SNI it asked for and tshark's JA3, on a port no TLS dissector
// would guess (502).
func TestTLSAgainstTshark(t *testing.T) {
	hello := realClientHello(t, "historian.plant.example")
	in := Identify(TCP, 502, hello, nil)
	if in.Service != TLS || in.SNI != "historian.plant.example" || len(in.JA3) != 32 {
		t.Fatalf("%+v", in)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	path := filepath.Join(t.TempDir(), "tls.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := hostile.NewWriter(pcapgo.NewWriter(f))
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.Open(hostile.Endpoint{IP: [4]byte{10, 0, 0, 9}, Port: 40000}, hostile.Endpoint{IP: [4]byte{10, 0, 0, 1}, Port: 443})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Client(hello); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("tshark", "-n", "-r", path, "-Y", "tls.handshake.type==1", "-T", "fields",
		"-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3_full").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	ja3, full, _ := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if ja3 != in.JA3 || full != in.JA3Full {
		t.Errorf("JA3 %s (%s), tshark %s (%s)", in.JA3, in.JA3Full, ja3, full)
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestIdentify: the first bytes of each protocol as its clients and
// servers send them (from public traces and the specifications), the
// ones that look alike told apart, and the port only when nothing was
// said.
func TestIdentify(t *testing.T) {
	for _, c := range []struct {
		name               string
		tr                 Transport
		port               uint16
		toServer, toClient []byte
		want               string
		check              func(Info) bool
	}{
		{"ssh", TCP, 22, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), nil, SSH, func(i Info) bool { return i.Banner == "SSH-2.0-OpenSSH_9.2p1 Debian-2" }},
		{"ssh server first", TCP, 2222, nil, []byte("SSH-2.0-dropbear_2022.83\r\n"), SSH, nil},
		{"smb2 negotiate", TCP, 445, unhex("000000b4 fe534d42 40000000 00000000 00000000"), nil, SMB, nil},
		{"smb1 negotiate", TCP, 445, unhex("00000054 ff534d42 72000000 0018"), nil, SMB, nil},
		{"rdp cookie", TCP, 3389, append(unhex("03000023 1ee00000 000000"), []byte("Cookie: mstshash=admin\r\n")...), nil, RDP, nil},
		{"rdp negotiation", TCP, 3389, unhex("03000013 0ee00000 00000001 00080003 000000"), nil, RDP, nil},
		{"s7 connect", TCP, 102, unhex("03000016 11e00000 000100c1 020100c2 020102c0 010a"), nil, S7comm, nil},
		{"s7 setup", TCP, 102, unhex("03000019 02f08032 01000000 00000800 00f00000 01000101e0"), nil, S7comm, nil},
		{"enip register", TCP, 44818, unhex("65000400 00000000 00000000 00000000 00000000 00000000 01000000"), nil, ENIP, nil},
		{"enip list identity udp", UDP, 44818, unhex("63000000 00000000 00000000 00000000 00000000 00000000"), nil, ENIP, nil},
		{"bacnet who-is", UDP, 47808, unhex("810b000c 0120ffff 00ff1008"), nil, BACnet, nil},
		{"snmp v2c get", UDP, 161, unhex("302602010104067075626c6963a019020400f1aa1f020100020100300b300906052b060102010500"), nil, SNMP, nil},
		{"ntp client", UDP, 123, append([]byte{0x23}, make([]byte, 47)...), nil, NTP, nil},
		// A 50-byte query whose id 0x23c4 starts like an NTP v4 client
		// header: still DNS.
		{"dns query with an ntp-like id", UDP, 53, append([]byte{0x23, 0xc4, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 32},
			"pi-collectorxxxxxxxxxxxxxxxxxxxx\x03com\x00\x00\x01\x00\x01"...), nil, DNS, nil},
		{"telnet", TCP, 23, nil, unhex("fffd18 fffd20 fffd23 fffd27"), Telnet, nil},
		{"ftp", TCP, 21, []byte("USER anonymous\r\n"), []byte("220 (vsFTPd 3.0.3)\r\n"), FTP, nil},
		{"ftp banner", TCP, 2121, nil, []byte("220 ProFTPD Server (Debian) [::ffff:10.0.0.1]\r\n"), FTP, nil},
		{"smtp is not ftp", TCP, 25, []byte("EHLO x\r\n"), []byte("220 mail.example ESMTP Postfix\r\n"), Unknown, nil},
		{"vnc", TCP, 5900, nil, []byte("RFB 003.008\n"), VNC, func(i Info) bool { return i.Banner == "RFB 003.008" }},
		{"http", TCP, 8081, []byte("POST /api HTTP/1.1\r\nHost: hmi.local\r\nUser-Agent: curl/7.88.1\r\n\r\n"), nil, HTTP,
			func(i Info) bool {
				return i.HTTPHost == "hmi.local" && i.UserAgent == "curl/7.88.1" && i.HTTPMethod == "POST"
			}},
		{"http answer", TCP, 8081, []byte("\x01\x02"), []byte("HTTP/1.1 200 OK\r\n"), HTTP, nil},
		{"dns udp", UDP, 53, unhex("abcd01000001000000000000 0377777706676f6f676c6503636f6d00 00010001"), nil, DNS,
			func(i Info) bool { return i.DNSQuery == "www.google.com" }},
		{"dns tcp", TCP, 53, unhex("0020 abcd01000001000000000000 0377777706676f6f676c6503636f6d00 00010001"), nil, DNS, nil},
		{"modbus read", TCP, 502, unhex("00010000000601030000000a"), nil, Modbus, nil},
		{"modbus pipelined", TCP, 502, unhex("000100000006010300000001 000200000006010300000001"), nil, Modbus, nil},
		{"opcua hello", TCP, 4840, append([]byte("HELF"), unhex("38000000")...), nil, OPCUA, nil},
		{"dnp3", TCP, 20000, unhex("056405c9 0a000100 3f4c"), nil, DNP3, nil},
		{"dcerpc bind", TCP, 135, unhex("05000b03 10000000 48000000 01000000"), nil, DCERPC, nil},
		{"nfs call", TCP, 2049, unhex("80000028 7e86ab4a 00000000 00000002 000186a3 00000003 00000000"), nil, NFS, nil},
		{"portmap call udp", UDP, 111, unhex("7e86ab4a 00000000 00000002 000186a0 00000002 00000003"), nil, SunRPC, nil},
		{"garbage on 502", TCP, 502, []byte("MGLNDD_160.97.70.36_502\n"), nil, Unknown, nil},
		{"rejected connection to 3389", TCP, 3389, nil, nil, RDP, func(i Info) bool { return i.ByPort }},
		{"silent high port", TCP, 61234, nil, nil, Unknown, func(i Info) bool { return i.ByPort }},
	} {
		in := Identify(c.tr, c.port, c.toServer, c.toClient)
		if in.Service != c.want || c.check != nil && !c.check(in) {
			t.Errorf("%s: %+v, want %s", c.name, in, c.want)
		}
	}
}

// FuzzIdentify: whatever the first bytes, Identify names a service and
// what it reads of them stays printable (it ends up in events).
func FuzzIdentify(f *testing.F) {
	f.Add(uint8(0), uint16(443), []byte{22, 3, 1, 0, 5, 1, 0, 0, 1, 3}, []byte(nil))
	f.Add(uint8(0), uint16(80), []byte("GET / HTTP/1.1\r\nHost: \x00\xff\r\n"), []byte("HTTP/1.1 200"))
	f.Add(uint8(1), uint16(53), unhex("abcd01000001000000000000 3f"), []byte(nil))
	f.Add(uint8(0), uint16(102), unhex("0300001611e0"), unhex("0300000702f000"))
	f.Fuzz(func(t *testing.T, tr uint8, port uint16, toServer, toClient []byte) {
		in := Identify(Transport(tr&1), port, toServer, toClient)
		if in.Service == "" {
			t.Fatal("no service")
		}
		for _, s := range []string{in.SNI, in.HTTPMethod, in.HTTPHost, in.UserAgent, in.DNSQuery, in.Banner} {
			for _, r := range s {
				if r < 0x20 || r > 0x7e {
					t.Fatalf("unprintable %q in %+v", s, in)
				}
			}
		}
		// The host names of the same bytes, as DNS answers and a DHCP
		// request: bounded, printable.
		names := DNSAnswers(toClient)
		if n, ok := DHCPHost(toServer); ok {
			names = append(names, n)
		}
		if len(names) > maxAnswers+1 {
			t.Fatalf("%d names", len(names))
		}
		for _, n := range names {
			for _, r := range n.Name {
				if r < 0x20 || r > 0x7e || !n.Addr.IsValid() {
					t.Fatalf("name %+v", n)
				}
			}
		}
	})
}

// TestNames: the host names of a DNS response's A and AAAA records and of
// a DHCP request, built with gopacket's serializers; garbage gives none.
func TestNames(t *testing.T) {
	resp := &layers.DNS{ID: 9, QR: true, QDCount: 1, ANCount: 3,
		Questions: []layers.DNSQuestion{{Name: []byte("historian.dam.local"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers: []layers.DNSResourceRecord{
			{Name: []byte("historian.dam.local"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.ParseIP("10.10.9.20").To4()},
			{Name: []byte("historian.dam.local"), Type: layers.DNSTypeAAAA, Class: layers.DNSClassIN, TTL: 60, IP: net.ParseIP("2001:db8::20")},
			{Name: []byte("alias\x01<b>"), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 60, IP: net.ParseIP("10.10.9.21").To4()},
		}}
	buf := gopacket.NewSerializeBuffer()
	if err := resp.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	got := DNSAnswers(buf.Bytes())
	want := []Named{{"historian.dam.local", netip.MustParseAddr("10.10.9.20")}, {"historian.dam.local", netip.MustParseAddr("2001:db8::20")},
		{"alias?<b>", netip.MustParseAddr("10.10.9.21")}}
	if !slices.Equal(got, want) {
		t.Errorf("DNSAnswers %v, want %v", got, want)
	}
	if n := DNSAnswers(buf.Bytes()[:20]); n != nil {
		t.Errorf("a cut response gives %v", n)
	}
	req := &layers.DHCPv4{Operation: layers.DHCPOpRequest, HardwareType: layers.LinkTypeEthernet, HardwareLen: 6,
		ClientHWAddr: net.HardwareAddr{0, 1, 2, 3, 4, 5}, ClientIP: net.IPv4zero.To4(), YourClientIP: net.IPv4zero.To4(),
		NextServerIP: net.IPv4zero.To4(), RelayAgentIP: net.IPv4zero.To4(),
		Options: layers.DHCPOptions{
			layers.NewDHCPOption(layers.DHCPOptMessageType, []byte{byte(layers.DHCPMsgTypeRequest)}),
			layers.NewDHCPOption(layers.DHCPOptRequestIP, net.ParseIP("10.10.9.77").To4()),
			layers.NewDHCPOption(layers.DHCPOptHostname, []byte("EWS-02")),
		}}
	buf = gopacket.NewSerializeBuffer()
	if err := req.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatal(err)
	}
	if n, ok := DHCPHost(buf.Bytes()); !ok || n != (Named{"EWS-02", netip.MustParseAddr("10.10.9.77")}) {
		t.Errorf("DHCPHost %v %v", n, ok)
	}
	if _, ok := DHCPHost([]byte("garbage")); ok {
		t.Error("garbage is a DHCP request")
	}
}
