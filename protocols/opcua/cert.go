package opcua

import (
	"crypto/x509"
)

// firstDER returns the first DER element of a certificate chain (OPC
// 10000-6 §6.7.2.3: SenderCertificate may hold the sender's certificate
// followed by its issuers, concatenated). When the outer length does not
// parse, the whole input is returned.
func firstDER(b []byte) []byte {
	if len(b) < 2 || b[0] != 0x30 {
		return b
	}
	l := int(b[1])
	hdr := 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 4 || len(b) < 2+n {
			return b
		}
		l = 0
		for _, c := range b[2 : 2+n] {
			l = l<<8 | int(c)
		}
		hdr += n
	}
	if l < 0 || hdr+l > len(b) {
		return b
	}
	return b[:hdr+l]
}

// certSubject returns the subject of a DER certificate, or "" when it does
// not parse. crypto/x509 is hardened against hostile input; the recover is
// belt and braces.
func certSubject(der []byte) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return ""
	}
	return clip(c.Subject.String())
}
