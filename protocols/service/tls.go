package service

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
)

// isTLSHandshake: a TLS record of type handshake (22), version SSL 3.0 to
// TLS 1.3 in the record layer, holding a ClientHello (1) or ServerHello (2).
func isTLSHandshake(b []byte) bool {
	return len(b) >= 6 && b[0] == 22 && b[1] == 3 && b[2] <= 4 && (b[5] == 1 || b[5] == 2)
}

// clientHello reads the server name and the JA3 fingerprint of the
// ClientHello in b (the first record; a hello cut short gives what it
// holds). JA3 (Salesforce, 2017) is the MD5 of
// "version,ciphers,extensions,groups,point formats", each list in the
// order sent, values in decimal joined by '-', GREASE values (RFC 8701)
// left out; tshark's tls.handshake.ja3 is the same.
func clientHello(b []byte, in *Info) {
	if len(b) < 9 || b[5] != 1 {
		return
	}
	p := b[9:] // after the record header (5) and the handshake header (4)
	if len(p) < 34 {
		return
	}
	version := binary.BigEndian.Uint16(p)
	p = p[34:] // version, random
	sid, ok := vec8(&p)
	_ = sid
	if !ok {
		return
	}
	ciphers, ok := vec16(&p)
	if !ok {
		return
	}
	if _, ok := vec8(&p); !ok { // compression methods
		return
	}
	var exts, groups, formats []uint16
	if e, ok := vec16(&p); ok {
		for len(e) >= 4 {
			typ, n := binary.BigEndian.Uint16(e), int(binary.BigEndian.Uint16(e[2:]))
			if 4+n > len(e) {
				break
			}
			body := e[4 : 4+n]
			e = e[4+n:]
			if !grease(typ) {
				exts = append(exts, typ)
			}
			switch typ {
			case 0: // server_name
				if len(body) >= 5 && body[2] == 0 {
					l := int(binary.BigEndian.Uint16(body[3:]))
					if 5+l <= len(body) {
						in.SNI = line(body[5 : 5+l])
					}
				}
			case 10: // supported_groups
				if len(body) >= 2 {
					for g := body[2:min(len(body), 2+int(binary.BigEndian.Uint16(body)))]; len(g) >= 2; g = g[2:] {
						if v := binary.BigEndian.Uint16(g); !grease(v) {
							groups = append(groups, v)
						}
					}
				}
			case 11: // ec_point_formats
				if len(body) >= 1 {
					for _, f := range body[1:min(len(body), 1+int(body[0]))] {
						formats = append(formats, uint16(f))
					}
				}
			}
		}
	}
	var cs []uint16
	for ; len(ciphers) >= 2; ciphers = ciphers[2:] {
		if v := binary.BigEndian.Uint16(ciphers); !grease(v) {
			cs = append(cs, v)
		}
	}
	full := strconv.Itoa(int(version)) + "," + join(cs) + "," + join(exts) + "," + join(groups) + "," + join(formats)
	sum := md5.Sum([]byte(full))
	in.JA3Full, in.JA3 = full, hex.EncodeToString(sum[:])
}

// grease reports a GREASE value (RFC 8701): 0x0a0a, 0x1a1a, … 0xfafa.
func grease(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

func join(vs []uint16) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(int(v))
	}
	return strings.Join(s, "-")
}

// vec8 and vec16 take a vector with a one- or two-byte length off p.
func vec8(p *[]byte) ([]byte, bool) {
	b := *p
	if len(b) < 1 || 1+int(b[0]) > len(b) {
		return nil, false
	}
	v := b[1 : 1+int(b[0])]
	*p = b[1+int(b[0]):]
	return v, true
}

func vec16(p *[]byte) ([]byte, bool) {
	b := *p
	if len(b) < 2 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(b))
	if 2+n > len(b) {
		// A hello longer than the bytes given: read what is there.
		v := b[2:]
		*p = nil
		return v, true
	}
	v := b[2 : 2+n]
	*p = b[2+n:]
	return v, true
}
