package simulator

import (
	"crypto/rsa"
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"fmt"
)

// The OPC UA server's application instance certificate and key (RSA 2048,
// self-signed, CN "Sluice dam simulator", URI urn:sluice:sim:dam-opcua),
// made once with openssl and fixed so that captures stay byte for byte the
// same. It lets clients encrypt their user-name token's password for the
// server (a user token policy with SecurityPolicy Basic256Sha256 on the
// None endpoint), as the plant's clients should. The key is public: it
// protects nothing but the simulator.
var (
	//go:embed certs/opcua.pem
	uaCertPEM []byte
	//go:embed certs/opcua.key
	uaKeyPEM []byte
)

// uaCertificate returns the certificate (DER) and its private key.
func uaCertificate() ([]byte, *rsa.PrivateKey, error) {
	cb, _ := pem.Decode(uaCertPEM)
	kb, _ := pem.Decode(uaKeyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("opc ua: certificate or key is not PEM")
	}
	if _, err := x509.ParseCertificate(cb.Bytes); err != nil {
		return nil, nil, fmt.Errorf("opc ua: certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("opc ua: key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("opc ua: key is not RSA")
	}
	return cb.Bytes, rk, nil
}
