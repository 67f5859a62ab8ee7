package simulator

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"
	"unicode/utf16"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// The first bytes of the IT protocols the synthesized background speaks.
// There are no IT servers behind them: each builder writes what a real
// client or server sends, field by field after the protocol's
// specification, so that Wireshark dissects it as that protocol
// (TestITTshark) and protocols/service names it (TestITServiceIdentify).
// What follows the handshakes is encrypted in real life, and random bytes
// here.

// be16 appends v big-endian.
func be16(b []byte, v int) []byte { return append(b, byte(v>>8), byte(v)) }

// vec8 and vec16 append body with its one- or two-byte length (TLS's
// variable-length vectors, RFC 8446 §3.4).
func vec8(b, body []byte) []byte  { return append(append(b, byte(len(body))), body...) }
func vec16(b, body []byte) []byte { return append(be16(b, len(body)), body...) }

// random returns n bytes of r.
func random(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// --- DNS (RFC 1035) ---

// dnsQuery is a recursive A query for name.
func dnsQuery(id uint16, name string) []byte {
	return serializeDNS(&layers.DNS{ID: id, RD: true, OpCode: layers.DNSOpCodeQuery,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}})
}

// dnsAnswer answers dnsQuery: the address, or NXDOMAIN when ip is invalid.
// The plant's DNS server is authoritative for dam.local and recursive for
// the rest.
func dnsAnswer(id uint16, name string, ip netip.Addr, authoritative bool) []byte {
	d := &layers.DNS{ID: id, QR: true, RD: true, RA: true, AA: authoritative, OpCode: layers.DNSOpCodeQuery,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	if ip.IsValid() {
		d.Answers = []layers.DNSResourceRecord{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: ip.AsSlice()}}
	} else {
		d.ResponseCode = layers.DNSResponseCodeNXDomain
	}
	return serializeDNS(d)
}

func serializeDNS(d *layers.DNS) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := d.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		panic(err) // only on programming errors: the names are constants
	}
	return append([]byte(nil), buf.Bytes()...)
}

// --- NTP (RFC 5905) ---

// ntpEra is the seconds from 1900 (NTP's epoch) to 1970.
const ntpEra = 2208988800

// ntpTime is t (simulated time) as an NTP timestamp.
func ntpTime(t time.Duration) []byte {
	at := Epoch.Add(t)
	frac := uint64(at.Nanosecond()) << 32 / 1e9
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(at.Unix()+ntpEra)), uint32(frac))
}

// ntpClient is a client request (version 4, mode 3) sent at t: only the
// transmit timestamp is set, as ntpd and w32time do.
func ntpClient(t time.Duration) []byte {
	b := make([]byte, 48)
	b[0] = 4<<3 | 3
	b[2] = 6    // poll 2^6 s
	b[3] = 0xe9 // precision 2^-23 s
	copy(b[40:], ntpTime(t))
	return b
}

// ntpServer is the answer (mode 4) of a stratum-1 GPS clock that received
// req at rx and sends at tx.
func ntpServer(req []byte, rx, tx time.Duration) []byte {
	b := make([]byte, 48)
	b[0] = 4<<3 | 4
	b[1] = 1 // stratum 1: a reference clock
	b[2] = req[2]
	b[3] = 0xec                      // precision 2^-20 s
	copy(b[8:], []byte{0, 0, 0, 10}) // root dispersion 0.00015 s
	copy(b[12:], "GPS\x00")          // reference id
	copy(b[16:], ntpTime(rx-16*time.Second))
	copy(b[24:], req[40:48]) // origin: the client's transmit time
	copy(b[32:], ntpTime(rx))
	copy(b[40:], ntpTime(tx))
	return b
}

// --- TLS 1.3 (RFC 8446) ---

// tlsRecord wraps body in a record of type typ with legacy version v.
func tlsRecord(typ byte, v int, body []byte) []byte { return vec16(be16([]byte{typ}, v), body) }

// tlsHandshake wraps body in a handshake message of type typ.
func tlsHandshake(typ byte, body []byte) []byte {
	return append([]byte{typ, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

func tlsExt(b []byte, typ int, body []byte) []byte { return vec16(be16(b, typ), body) }

// tlsClientHello is a browser-like TLS 1.3 ClientHello for sni offering
// alpn (none when empty), in its record.
func tlsClientHello(r *rand.Rand, sni string, alpn ...string) []byte {
	var ext []byte
	ext = tlsExt(ext, 0x0000, vec16(nil, vec16([]byte{0}, []byte(sni)))) // server_name, host_name
	ext = tlsExt(ext, 0x0017, nil)                                       // extended_master_secret
	ext = tlsExt(ext, 0xff01, []byte{0})                                 // renegotiation_info
	ext = tlsExt(ext, 0x000a, vec16(nil, []byte{0x00, 0x1d, 0x00, 0x17, 0x00, 0x18}))
	ext = tlsExt(ext, 0x000b, vec8(nil, []byte{0})) // ec_point_formats: uncompressed
	ext = tlsExt(ext, 0x0023, nil)                  // session_ticket
	if len(alpn) > 0 {
		var l []byte
		for _, p := range alpn {
			l = vec8(l, []byte(p))
		}
		ext = tlsExt(ext, 0x0010, vec16(nil, l))
	}
	ext = tlsExt(ext, 0x0005, []byte{1, 0, 0, 0, 0}) // status_request: OCSP
	ext = tlsExt(ext, 0x000d, vec16(nil, []byte{0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01}))
	ext = tlsExt(ext, 0x0033, vec16(nil, vec16([]byte{0x00, 0x1d}, random(r, 32)))) // key_share: x25519
	ext = tlsExt(ext, 0x002d, vec8(nil, []byte{1}))                                 // psk_key_exchange_modes: psk_dhe_ke
	ext = tlsExt(ext, 0x002b, vec8(nil, []byte{0x03, 0x04, 0x03, 0x03}))            // supported_versions: 1.3, 1.2
	body := []byte{3, 3}
	body = append(body, random(r, 32)...)
	body = vec8(body, random(r, 32)) // legacy session id (middlebox compatibility)
	body = vec16(body, []byte{0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30, 0xcc, 0xa9, 0xcc, 0xa8, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35})
	body = vec8(body, []byte{0}) // compression: null
	body = vec16(body, ext)
	return tlsRecord(22, 0x0301, tlsHandshake(1, body))
}

// tlsServerHello answers hello choosing TLS 1.3 with TLS_AES_128_GCM_SHA256
// and x25519, then a ChangeCipherSpec and the encrypted rest of the
// server's flight (certificate, verify, finished) of n bytes.
func tlsServerHello(r *rand.Rand, hello []byte, n int) []byte {
	sid := hello[5+4+2+32+1 : 5+4+2+32+1+int(hello[5+4+2+32])]
	var ext []byte
	ext = tlsExt(ext, 0x002b, []byte{0x03, 0x04})
	ext = tlsExt(ext, 0x0033, vec16([]byte{0x00, 0x1d}, random(r, 32)))
	body := []byte{3, 3}
	body = append(body, random(r, 32)...)
	body = vec8(body, sid)
	body = append(body, 0x13, 0x01, 0)
	body = vec16(body, ext)
	out := tlsRecord(22, 0x0303, tlsHandshake(2, body))
	out = append(out, tlsChangeCipherSpec...)
	return append(out, tlsAppData(r, n)...)
}

// tlsChangeCipherSpec is TLS 1.3's compatibility ChangeCipherSpec record.
var tlsChangeCipherSpec = []byte{20, 3, 3, 0, 1, 1}

// tlsAppData is one application-data record of n encrypted bytes.
func tlsAppData(r *rand.Rand, n int) []byte { return tlsRecord(23, 0x0303, random(r, n)) }

// tlsClientFinished is the client's second flight: ChangeCipherSpec and its
// encrypted Finished.
func tlsClientFinished(r *rand.Rand) []byte {
	return append(append([]byte(nil), tlsChangeCipherSpec...), tlsAppData(r, 53)...)
}

// --- RDP (MS-RDPBCGR 2.2.1.1, 2.2.1.2) ---

// rdpConnectionRequest is the TPKT/X.224 Connection Request with the
// user's mstshash cookie and an RDP negotiation request for TLS and
// CredSSP.
func rdpConnectionRequest(user string) []byte {
	x224 := []byte{0, 0xe0, 0, 0, 0, 0, 0}
	x224 = append(x224, "Cookie: mstshash="+user+"\r\n"...)
	x224 = append(x224, 1, 0, 8, 0, 3, 0, 0, 0) // RDP_NEG_REQ: PROTOCOL_SSL | PROTOCOL_HYBRID
	x224[0] = byte(len(x224) - 1)
	return tpktFrame(x224)
}

// rdpConnectionConfirm selects CredSSP (PROTOCOL_HYBRID); TLS follows.
func rdpConnectionConfirm() []byte {
	return tpktFrame([]byte{14, 0xd0, 0, 0, 0x12, 0x34, 0, 2, 0x1f, 8, 0, 2, 0, 0, 0})
}

// tpktFrame wraps an X.224 TPDU in its RFC 1006 header.
func tpktFrame(tpdu []byte) []byte { return append(be16([]byte{3, 0}, len(tpdu)+4), tpdu...) }

// --- SMB2 (MS-SMB2 2.2) over direct TCP (MS-SMB2 2.1) ---

// SMB2 commands.
const (
	smb2Negotiate      = 0
	smb2SessionSetup   = 1
	smb2Logoff         = 2
	smb2TreeConnect    = 3
	smb2TreeDisconnect = 4
	smb2Create         = 5
	smb2Close          = 6
	smb2Write          = 9
)

// smbStatusMoreProcessing is STATUS_MORE_PROCESSING_REQUIRED.
const smbStatusMoreProcessing = 0xc0000016

// smb2 is one client's SMB2 session state: the next message id, the
// session and tree ids the server gave.
type smb2 struct {
	msgID   uint64
	session uint64
	tree    uint32
}

// msg frames one SMB2 message (request, or response when status is set or
// resp) in its NetBIOS session header. Requests take the next message id;
// a response echoes the last one.
func (s *smb2) msg(cmd uint16, resp bool, status uint32, body []byte) []byte {
	h := make([]byte, 64)
	copy(h, "\xfeSMB")
	binary.LittleEndian.PutUint16(h[4:], 64)
	binary.LittleEndian.PutUint16(h[6:], 1) // credit charge
	binary.LittleEndian.PutUint32(h[8:], status)
	binary.LittleEndian.PutUint16(h[12:], cmd)
	binary.LittleEndian.PutUint16(h[14:], 31) // credits requested / granted
	id := s.msgID
	if resp {
		binary.LittleEndian.PutUint32(h[16:], 1) // SMB2_FLAGS_SERVER_TO_REDIR
		id--
	} else {
		s.msgID++
	}
	binary.LittleEndian.PutUint64(h[24:], id)
	binary.LittleEndian.PutUint32(h[32:], 0xfeff) // process id
	binary.LittleEndian.PutUint32(h[36:], s.tree)
	binary.LittleEndian.PutUint64(h[40:], s.session)
	m := append(h, body...)
	return append([]byte{0, byte(len(m) >> 16), byte(len(m) >> 8), byte(len(m))}, m...)
}

// le builds a little-endian body from fields of 1, 2, 4 or 8 bytes (by the
// Go type) and raw byte slices.
func le(fields ...any) []byte {
	var b []byte
	for _, f := range fields {
		switch v := f.(type) {
		case uint8:
			b = append(b, v)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, v)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, v)
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, v)
		case []byte:
			b = append(b, v...)
		default:
			panic("simulator: le: unsupported field") // programming error
		}
	}
	return b
}

// utf16le is s in UTF-16LE, SMB's and NTLM's string encoding.
func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// filetime is t as a Windows FILETIME (100 ns since 1601).
func filetime(t time.Duration) uint64 {
	return uint64(Epoch.Add(t).UnixNano()/100) + 116444736000000000
}

// smbNegotiateRequest offers SMB 2.0.2 to 3.0.2.
func (s *smb2) negotiateRequest(r *rand.Rand) []byte {
	body := le(uint16(36), uint16(4), uint16(1), uint16(0), uint32(0x7f), random(r, 16), uint64(0),
		uint16(0x0202), uint16(0x0210), uint16(0x0300), uint16(0x0302))
	return s.msg(smb2Negotiate, false, 0, body)
}

// negotiateResponse chooses SMB 3.0.2.
func (s *smb2) negotiateResponse(r *rand.Rand, t time.Duration) []byte {
	body := le(uint16(65), uint16(1), uint16(0x0302), uint16(0), random(r, 16), uint32(0x2f),
		uint32(8<<20), uint32(8<<20), uint32(8<<20), filetime(t), uint64(0), uint16(0x80), uint16(0), uint32(0))
	return s.msg(smb2Negotiate, true, 0, body)
}

// ntlmFlags are the NTLMSSP negotiate flags of a current Windows client.
const ntlmFlags = 0xe2088297

// sessionSetupRequest carries an NTLMSSP message (raw, as Samba and
// older Windows clients send it without SPNEGO).
func (s *smb2) sessionSetupRequest(blob []byte) []byte {
	body := le(uint16(25), uint8(0), uint8(1), uint32(1), uint32(0), uint16(64+24), uint16(len(blob)), uint64(0), blob)
	return s.msg(smb2SessionSetup, false, 0, body)
}

func (s *smb2) sessionSetupResponse(status uint32, blob []byte) []byte {
	off := uint16(0)
	if len(blob) > 0 {
		off = 64 + 8
	}
	return s.msg(smb2SessionSetup, true, status, le(uint16(9), uint16(0), off, uint16(len(blob)), blob))
}

// ntlmNegotiate is an NTLMSSP NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1).
func ntlmNegotiate() []byte {
	return le([]byte("NTLMSSP\x00"), uint32(1), uint32(ntlmFlags), uint64(0), uint64(0), ntlmVersion)
}

// ntlmVersion is Windows 10's VERSION structure (10.0 build 19041, NTLM 15).
var ntlmVersion = []byte{10, 0, 0x61, 0x4a, 0, 0, 0, 15}

// ntlmChallenge is the server's CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) for
// domain and computer.
func ntlmChallenge(r *rand.Rand, domain, computer string) []byte {
	name := utf16le(domain)
	info := le(uint16(2), uint16(len(name)), name)
	c := utf16le(computer)
	info = append(info, le(uint16(1), uint16(len(c)), c)...)
	info = append(info, 0, 0, 0, 0) // MsvAvEOL
	const hdr = 56
	return le([]byte("NTLMSSP\x00"), uint32(2), uint16(len(name)), uint16(len(name)), uint32(hdr),
		uint32(ntlmFlags), random(r, 8), uint64(0), uint16(len(info)), uint16(len(info)), uint32(hdr+len(name)),
		ntlmVersion, name, info)
}

// ntlmAuthenticate is the client's AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3)
// with an NTLMv2 response.
func ntlmAuthenticate(r *rand.Rand, t time.Duration, domain, user, host string) []byte {
	lm := make([]byte, 24)
	nt := le(random(r, 16), uint8(1), uint8(1), uint16(0), uint32(0), filetime(t), random(r, 8), uint32(0), uint32(0), uint32(0))
	d, u, h := utf16le(domain), utf16le(user), utf16le(host)
	key := random(r, 16)
	const hdr = 88
	off := uint32(hdr)
	field := func(b []byte) []byte {
		f := le(uint16(len(b)), uint16(len(b)), off)
		off += uint32(len(b))
		return f
	}
	fields := le(field(lm), field(nt), field(d), field(u), field(h), field(key))
	return le([]byte("NTLMSSP\x00"), uint32(3), fields, uint32(ntlmFlags), ntlmVersion, make([]byte, 16), lm, nt, d, u, h, key)
}

// treeConnect asks for the share at path (\\server\share); the answer sets
// the tree id (disk or pipe share).
func (s *smb2) treeConnect(path string) []byte {
	p := utf16le(path)
	return s.msg(smb2TreeConnect, false, 0, le(uint16(9), uint16(0), uint16(64+8), uint16(len(p)), p))
}

func (s *smb2) treeConnected(tree uint32, pipe bool) []byte {
	s.tree = tree
	typ, access := uint8(1), uint32(0x001f01ff)
	if pipe {
		typ = 2
	}
	return s.msg(smb2TreeConnect, true, 0, le(uint16(16), typ, uint8(0), uint32(0), uint32(0), access))
}

// create opens (overwriting) the file name for writing.
func (s *smb2) create(name string) []byte {
	n := utf16le(name)
	return s.msg(smb2Create, false, 0, le(uint16(57), uint8(0), uint8(0), uint32(2), uint64(0), uint64(0),
		uint32(0x0012019f), uint32(0x80), uint32(1), uint32(5), uint32(0x44), uint16(64+56), uint16(len(n)), uint32(0), uint32(0), n))
}

func (s *smb2) created(fid []byte, t time.Duration) []byte {
	ft := filetime(t)
	return s.msg(smb2Create, true, 0, le(uint16(89), uint8(0), uint8(0), uint32(2), ft, ft, ft, ft, uint64(0), uint64(0),
		uint32(0x80), uint32(0), fid, uint32(0), uint32(0)))
}

func (s *smb2) write(fid []byte, off uint64, data []byte) []byte {
	return s.msg(smb2Write, false, 0, le(uint16(49), uint16(64+48), uint32(len(data)), off, fid, uint32(0), uint32(0),
		uint16(0), uint16(0), uint32(0), data))
}

func (s *smb2) written(n int) []byte {
	return s.msg(smb2Write, true, 0, le(uint16(17), uint16(0), uint32(n), uint32(0), uint16(0), uint16(0)))
}

func (s *smb2) closeFile(fid []byte) []byte {
	return s.msg(smb2Close, false, 0, le(uint16(24), uint16(0), uint32(0), fid))
}

func (s *smb2) closed() []byte {
	return s.msg(smb2Close, true, 0, le(uint16(60), uint16(0), uint32(0), make([]byte, 48), uint32(0)))
}

// simple is a request or response whose body is StructureSize 4 and two
// reserved bytes (TREE_DISCONNECT, LOGOFF).
func (s *smb2) simple(cmd uint16, resp bool) []byte {
	return s.msg(cmd, resp, 0, le(uint16(4), uint16(0)))
}

// --- Telnet (RFC 854, 1091, 1073) ---

// Telnet option negotiation (IAC DO/WILL/WONT): the server asks for the
// terminal type, speed, X display and environment, which the client
// refuses, and offers to suppress go-ahead and to echo, which the client
// accepts (the character-at-a-time login of a VxWorks shell).
var (
	telnetServerDo   = []byte{0xff, 0xfd, 0x18, 0xff, 0xfd, 0x20, 0xff, 0xfd, 0x23, 0xff, 0xfd, 0x27}
	telnetClientWont = []byte{0xff, 0xfc, 0x18, 0xff, 0xfc, 0x20, 0xff, 0xfc, 0x23, 0xff, 0xfc, 0x27}
	telnetServerWill = []byte{0xff, 0xfb, 0x03, 0xff, 0xfb, 0x01}
	telnetClientDo   = []byte{0xff, 0xfd, 0x03, 0xff, 0xfd, 0x01}
)
