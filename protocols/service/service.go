// Package service names the application protocol of a conversation from
// its first bytes (issue #11 §3): content first, the server port second.
// It reads only the first payload of each direction, keeps nothing, and
// knows nothing of flows or baselines: the caller hands it the bytes.
//
// What it recognises: the ICS protocols (Modbus/TCP, OPC UA, DNP3,
// S7comm, EtherNet/IP, BACnet/IP) and what lateral movement and
// command-and-control use on a control network (SMB, RDP, SSH, TLS with
// its SNI and JA3 fingerprint, HTTP with host and user agent, DNS with the
// query name, NTP, Telnet, FTP, SNMP, VNC, DCE/RPC, ONC RPC and NFS).
// Payload that matches none is Unknown; a conversation that carried no
// payload at all is named after its server port (Info.ByPort), as
// firewall logs do.
package service

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// Service names: the values of the events' app_proto. Stable.
const (
	Unknown = "unknown"
	Modbus  = "modbus"
	OPCUA   = "opcua"
	DNP3    = "dnp3"
	S7comm  = "s7comm"
	ENIP    = "enip"
	BACnet  = "bacnet"
	SMB     = "smb"
	RDP     = "rdp"
	SSH     = "ssh"
	TLS     = "tls"
	HTTP    = "http"
	DNS     = "dns"
	NTP     = "ntp"
	Telnet  = "telnet"
	FTP     = "ftp"
	SNMP    = "snmp"
	VNC     = "vnc"
	DCERPC  = "dcerpc"
	SunRPC  = "sunrpc"
	NFS     = "nfs"
)

// Transport is the conversation's transport protocol.
type Transport uint8

const (
	TCP Transport = iota
	UDP
)

// Info is what the first bytes say.
type Info struct {
	// Service is one of the names above.
	Service string
	// ByPort: no payload said anything (a connection attempt, a
	// conversation without data); Service comes from the server port.
	ByPort bool
	// TLS: the ClientHello's server name and JA3 fingerprint (MD5 hex)
	// with its full string.
	SNI, JA3, JA3Full string
	// HTTP: the request's method, Host and User-Agent.
	HTTPMethod, HTTPHost, UserAgent string
	// DNS: the first query name.
	DNSQuery string
	// SSH, FTP, VNC: the software banner of the side that sent one.
	Banner string
}

// Identify names the service of a conversation from the first payload of
// each direction (either may be empty; longer is better, a few hundred
// bytes is enough but for a TLS ClientHello) and the server's port.
func Identify(tr Transport, serverPort uint16, toServer, toClient []byte) Info {
	if len(toServer) == 0 && len(toClient) == 0 {
		if s, ok := byPort(tr, serverPort); ok {
			return Info{Service: s, ByPort: true}
		}
		return Info{Service: Unknown, ByPort: true}
	}
	if tr == UDP {
		return identifyUDP(serverPort, toServer, toClient)
	}
	// Client-first protocols, most specific first.
	if len(toServer) > 0 {
		if in, ok := identifyClient(toServer); ok {
			return in
		}
	}
	// Server-first protocols (banners), and answers that name their
	// protocol when the request did not.
	if len(toClient) > 0 {
		if in, ok := identifyServer(toClient); ok {
			return in
		}
	}
	// The ICS protocols answer in the framing they were asked in: a
	// capture that lost the request (or a client that sent garbage) is
	// named by the answer. A banner may also come from the client's side
	// of a capture picked up mid-stream.
	if len(toClient) > 0 {
		if in, ok := identifyClient(toClient); ok {
			return Info{Service: in.Service}
		}
	}
	if len(toServer) > 0 {
		if in, ok := identifyServer(toServer); ok {
			return in
		}
	}
	return Info{Service: Unknown}
}

func identifyClient(b []byte) (Info, bool) {
	switch {
	case isTLSHandshake(b):
		in := Info{Service: TLS}
		clientHello(b, &in)
		return in, true
	case bytes.HasPrefix(b, []byte("SSH-")):
		return Info{Service: SSH, Banner: line(b)}, true
	case isHTTPRequest(b):
		in := Info{Service: HTTP}
		httpRequest(b, &in)
		return in, true
	case isSMB(b):
		return Info{Service: SMB}, true
	case isTPKT(b):
		if s := tpkt(b); s != "" {
			return Info{Service: s}, true
		}
	case isModbus(b):
		return Info{Service: Modbus}, true
	case isOPCUA(b):
		return Info{Service: OPCUA}, true
	case isDNP3(b):
		return Info{Service: DNP3}, true
	case isENIP(b):
		return Info{Service: ENIP}, true
	case isDCERPC(b):
		return Info{Service: DCERPC}, true
	case isONCRPC(b, true):
		return Info{Service: oncProgram(b[4:])}, true
	case isTelnet(b):
		return Info{Service: Telnet}, true
	case hasAnyPrefix(b, "USER ", "AUTH TLS", "AUTH SSL", "FEAT\r\n"):
		return Info{Service: FTP}, true
	case len(b) > 2 && binary.BigEndian.Uint16(b) == uint16(len(b)-2):
		// DNS over TCP: a two-byte length, then a message.
		if q, ok := dnsQuery(b[2:]); ok {
			return Info{Service: DNS, DNSQuery: q}, true
		}
	}
	return Info{}, false
}

func identifyServer(b []byte) (Info, bool) {
	switch {
	case bytes.HasPrefix(b, []byte("SSH-")):
		return Info{Service: SSH, Banner: line(b)}, true
	case bytes.HasPrefix(b, []byte("RFB 0")):
		return Info{Service: VNC, Banner: line(b)}, true
	case bytes.HasPrefix(b, []byte("220")) && len(b) > 3 && (b[3] == ' ' || b[3] == '-') &&
		bytes.Contains(bytes.ToUpper(b[:min(len(b), 200)]), []byte("FTP")):
		return Info{Service: FTP, Banner: line(b[4:])}, true
	case bytes.HasPrefix(b, []byte("HTTP/1.")):
		return Info{Service: HTTP}, true
	case isTLSHandshake(b):
		return Info{Service: TLS}, true
	case isTelnet(b):
		return Info{Service: Telnet}, true
	case isSMB(b):
		return Info{Service: SMB}, true
	}
	return Info{}, false
}

func identifyUDP(port uint16, toServer, toClient []byte) Info {
	for _, b := range [][]byte{toServer, toClient} {
		switch {
		case len(b) == 0:
		case isDNP3(b):
			return Info{Service: DNP3}
		case isBACnet(b):
			return Info{Service: BACnet}
		case isSNMP(b):
			return Info{Service: SNMP}
		case port == 123 && isNTP(b):
			return Info{Service: NTP}
		}
		// A DNS message before NTP off port 123: isNTP reads only the
		// first byte, and a query of 48 bytes or more whose random id
		// starts with a byte like 0x23 would pass for NTP, flipping a
		// resolver's conversation between two services.
		if q, ok := dnsQuery(b); ok {
			return Info{Service: DNS, DNSQuery: q}
		}
		switch {
		case len(b) >= 48 && isNTP(b):
			return Info{Service: NTP}
		case isONCRPC(b, false):
			return Info{Service: oncProgram(b)}
		case isENIP(b):
			return Info{Service: ENIP}
		}
	}
	return Info{Service: Unknown}
}

// udpPorts and tcpPorts are the ports' usual services (IANA and the
// vendors' defaults), for conversations that said nothing.
var (
	udpPorts = map[uint16]string{53: DNS, 123: NTP, 161: SNMP, 162: SNMP, 2222: ENIP, 20000: DNP3, 47808: BACnet, 111: SunRPC, 2049: NFS}
	tcpPorts = map[uint16]string{21: FTP, 22: SSH, 23: Telnet, 53: DNS, 80: HTTP, 102: S7comm, 111: SunRPC, 135: DCERPC,
		139: SMB, 443: TLS, 445: SMB, 502: Modbus, 2049: NFS, 3389: RDP, 4840: OPCUA, 5900: VNC, 8080: HTTP,
		20000: DNP3, 44818: ENIP}
)

// byPort is the port's usual service.
func byPort(tr Transport, port uint16) (string, bool) {
	ports := tcpPorts
	if tr == UDP {
		ports = udpPorts
	}
	s, ok := ports[port]
	return s, ok
}

// titles name the services for people.
var titles = map[string]string{
	Modbus: "Modbus/TCP", OPCUA: "OPC UA", DNP3: "DNP3", S7comm: "S7comm", ENIP: "EtherNet/IP", BACnet: "BACnet/IP",
	SMB: "SMB", RDP: "RDP", SSH: "SSH", TLS: "TLS", HTTP: "HTTP", DNS: "DNS", NTP: "NTP", Telnet: "Telnet", FTP: "FTP",
	SNMP: "SNMP", VNC: "VNC", DCERPC: "DCE/RPC", SunRPC: "ONC RPC", NFS: "NFS", Unknown: "unknown",
}

// Title names a service for people ("DCE/RPC" for dcerpc).
func Title(service string) string {
	if t, ok := titles[service]; ok {
		return t
	}
	return service
}

// Details lists what the bytes said beyond the service, each as a name
// and a quoted value (`server name "x"`, `JA3 "…"`), in a fixed order.
func (in Info) Details() []string {
	var out []string
	for _, kv := range [...][2]string{{"server name", in.SNI}, {"JA3", in.JA3}, {"method", in.HTTPMethod},
		{"host", in.HTTPHost}, {"user agent", in.UserAgent}, {"query", in.DNSQuery}, {"banner", in.Banner}} {
		if kv[1] != "" {
			out = append(out, fmt.Sprintf("%s %q", kv[0], kv[1]))
		}
	}
	return out
}

func hasAnyPrefix(b []byte, ps ...string) bool {
	for _, p := range ps {
		if bytes.HasPrefix(b, []byte(p)) {
			return true
		}
	}
	return false
}

// line returns the first line of b, printable ASCII only, at most 100
// bytes: a banner for people, from the network.
func line(b []byte) string {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	b = b[:min(len(b), 100)]
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, string(b))
}

func isHTTPRequest(b []byte) bool {
	for _, m := range []string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE "} {
		if bytes.HasPrefix(b, []byte(m)) {
			l := b[:min(len(b), 2048)]
			if i := bytes.IndexByte(l, '\n'); i >= 0 {
				l = l[:i]
			}
			return bytes.Contains(l, []byte(" HTTP/1.")) || bytes.Contains(l, []byte(" HTTP/2"))
		}
	}
	return false
}

func httpRequest(b []byte, in *Info) {
	in.HTTPMethod = line(b[:bytes.IndexByte(b, ' ')])
	for _, l := range bytes.Split(b[:min(len(b), 8192)], []byte("\n")) {
		k, v, ok := bytes.Cut(bytes.TrimRight(l, "\r"), []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(string(k)) {
		case "host":
			in.HTTPHost = line(bytes.TrimSpace(v))
		case "user-agent":
			in.UserAgent = line(bytes.TrimSpace(v))
		}
	}
}

// isSMB: a NetBIOS session message (type 0, 24-bit length) holding an
// SMB1 or SMB2/3 header, or a NetBIOS session request (port 139).
func isSMB(b []byte) bool {
	if len(b) >= 8 && b[0] == 0 {
		p := b[4:8]
		return (p[0] == 0xff || p[0] == 0xfe || p[0] == 0xfd) && string(p[1:]) == "SMB"
	}
	return len(b) >= 4 && b[0] == 0x81 && b[1] == 0 && int(binary.BigEndian.Uint16(b[2:])) == len(b)-4
}

// isTPKT: RFC 1006 (ISO transport over TCP), as RDP and S7comm use it.
func isTPKT(b []byte) bool {
	return len(b) >= 7 && b[0] == 3 && b[1] == 0 && binary.BigEndian.Uint16(b[2:]) >= 7 && int(b[4]) <= len(b)-5
}

// tpkt tells RDP from S7comm by the COTP connection request's content
// (an RDP cookie or negotiation request; S7's TSAP parameters) or by the
// S7comm (0x32) or S7comm-plus (0x72) protocol id after a COTP data
// header; "" when the segment says neither (a bare COTP data header).
func tpkt(b []byte) string {
	cotp := b[4:]
	li := int(cotp[0])
	switch cotp[1] & 0xf0 {
	case 0xe0: // connection request
		rest := cotp[min(len(cotp), 7):]
		if bytes.HasPrefix(rest, []byte("Cookie: mstshash=")) || bytes.HasPrefix(rest, []byte{1, 0, 8, 0}) || li == 6 {
			return RDP
		}
		if bytes.Contains(cotp[:min(len(cotp), li+1)], []byte{0xc1}) {
			return S7comm
		}
		return RDP
	case 0xf0: // data
		if li+1 < len(cotp) && cotp[li+1] == 0x32 {
			return S7comm
		}
		if li+1 < len(cotp) && cotp[li+1] == 0x72 {
			return S7comm // S7comm-plus (S7-1200/1500)
		}
	}
	return ""
}

// isModbus: an MBAP header with protocol id 0 whose length (2 to 254)
// frames the segment: it ends there, or another MBAP header follows; a
// segment cut short must at least hold a function code (1 to 127, or an
// exception answer's).
func isModbus(b []byte) bool {
	if len(b) < 8 || b[2] != 0 || b[3] != 0 {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[4:]))
	switch rest := len(b) - 6; {
	case n < 2 || n > 254:
		return false
	case n == rest:
		return true
	case n < rest:
		next := b[6+n:]
		return len(next) < 4 || next[2] == 0 && next[3] == 0
	}
	return b[7]&0x7f != 0
}

// isOPCUA: a UA TCP message header (HEL, ACK, OPN, MSG, ERR, CLO, RHE)
// with the final chunk type and a size that covers the header.
func isOPCUA(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	switch string(b[:3]) {
	case "HEL", "ACK", "OPN", "MSG", "ERR", "CLO", "RHE":
	default:
		return false
	}
	return (b[3] == 'F' || b[3] == 'C' || b[3] == 'A') && binary.LittleEndian.Uint32(b[4:]) >= 8
}

// isDNP3: a link frame's start bytes and a length of at least the header.
func isDNP3(b []byte) bool { return len(b) >= 10 && b[0] == 0x05 && b[1] == 0x64 && b[2] >= 5 }

// isENIP: an EtherNet/IP encapsulation header with a known command and
// the length of what follows.
func isENIP(b []byte) bool {
	if len(b) < 24 {
		return false
	}
	switch binary.LittleEndian.Uint16(b) {
	case 0x0001, 0x0004, 0x0063, 0x0064, 0x0065, 0x0066, 0x006f, 0x0070:
	default:
		return false
	}
	return int(binary.LittleEndian.Uint16(b[2:])) <= len(b)-24 && binary.LittleEndian.Uint32(b[20:]) == 0
}

// isBACnet: a BACnet/IP virtual link header (type 0x81) whose length is
// the datagram's.
func isBACnet(b []byte) bool {
	return len(b) >= 4 && b[0] == 0x81 && b[1] <= 0x0c && int(binary.BigEndian.Uint16(b[2:])) == len(b)
}

// isDCERPC: a connection-oriented DCE/RPC PDU header, version 5.0 or 5.1.
func isDCERPC(b []byte) bool {
	return len(b) >= 16 && b[0] == 5 && b[1] <= 1 && b[2] <= 20 && int(binary.LittleEndian.Uint16(b[8:])) >= 16
}

// isONCRPC: an ONC RPC call (RFC 5531), behind the record mark on TCP.
func isONCRPC(b []byte, tcp bool) bool {
	if tcp {
		if len(b) < 4 || b[0]&0x80 == 0 {
			return false
		}
		b = b[4:]
	}
	return len(b) >= 24 && binary.BigEndian.Uint32(b[4:]) == 0 && binary.BigEndian.Uint32(b[8:]) == 2
}

// oncProgram names the program of an ONC RPC call: NFS, or ONC RPC.
func oncProgram(call []byte) string {
	if binary.BigEndian.Uint32(call[12:]) == 100003 {
		return NFS
	}
	return SunRPC
}

// isTelnet: option negotiation (IAC WILL/WONT/DO/DONT) first.
func isTelnet(b []byte) bool { return len(b) >= 3 && b[0] == 0xff && b[1] >= 0xfb && b[1] <= 0xfe }

// isNTP: a 48-byte or longer packet with version 1 to 4 and a mode.
func isNTP(b []byte) bool {
	if len(b) < 48 {
		return false
	}
	v, mode := b[0]>>3&7, b[0]&7
	return v >= 1 && v <= 4 && mode >= 1 && mode <= 5
}

// isSNMP: a BER SEQUENCE holding the version (0, 1 or 3) and, for v1 and
// v2c, the community string.
func isSNMP(b []byte) bool {
	if len(b) < 7 || b[0] != 0x30 {
		return false
	}
	i := 2
	if b[1]&0x80 != 0 {
		i += int(b[1] & 0x7f)
	}
	return i+3 <= len(b) && b[i] == 0x02 && b[i+1] == 1 && (b[i+2] <= 1 || b[i+2] == 3)
}

// dnsQuery reads the first question's name of a DNS message, when it is
// one: a standard query or response with one to a few questions whose
// name is made of valid labels.
func dnsQuery(b []byte) (string, bool) {
	if len(b) < 17 {
		return "", false
	}
	qd := binary.BigEndian.Uint16(b[4:])
	if opcode := b[2] >> 3 & 0xf; opcode > 5 || qd == 0 || qd > 4 {
		return "", false
	}
	var name []string
	i := 12
	for {
		if i >= len(b) {
			return "", false
		}
		n := int(b[i])
		if n == 0 {
			i++
			break
		}
		if n > 63 || i+1+n > len(b) || len(name) > 127 {
			return "", false
		}
		name = append(name, line(b[i+1:i+1+n]))
		i += 1 + n
	}
	if i+4 > len(b) {
		return "", false
	}
	if class := binary.BigEndian.Uint16(b[i+2:]); class&0x7fff != 1 && class != 3 && class != 4 && class != 255 {
		return "", false
	}
	return strings.Join(name, "."), true
}
