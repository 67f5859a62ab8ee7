package opcua

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"time"
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

// certDetails returns the subject of a DER certificate and the end of its
// validity (RFC 3339, UTC), or "" for both when it does not parse.
// crypto/x509 is hardened against hostile input; the recover is belt and
// braces.
func certDetails(der []byte) (subject, notAfter string) {
	defer func() {
		if recover() != nil {
			subject, notAfter = "", ""
		}
	}()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return "", ""
	}
	return clip(c.Subject.String()), c.NotAfter.UTC().Format(time.RFC3339)
}

// certInfo returns the hex SHA-1 thumbprint of the first certificate of a
// DER chain (as OPC UA's ReceiverCertificateThumbprint and Windows' store
// show it), with its subject and end of validity when it parses.
func certInfo(chain []byte) Certificate {
	if len(chain) == 0 {
		return Certificate{}
	}
	cert := firstDER(chain)
	sum := sha1.Sum(cert)
	c := Certificate{Thumbprint: hex.EncodeToString(sum[:])}
	c.Subject, c.NotAfter = certDetails(cert)
	return c
}
