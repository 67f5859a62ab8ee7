package simulator

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	cp := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kp := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	if err := os.WriteFile(certFile, cp, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, kp, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err = tls.X509KeyPair(cp, kp)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// TestModbusTLS serves Modbus/TCP Security and reads through
// simonvetter/modbus's tcp+tls client (which insists on a client
// certificate, as the MBAPS specification does).
func TestModbusTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, srvPair := selfSigned(t, dir, "plc")
	_, _, cliPair := selfSigned(t, dir, "hmi")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Endpoints, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Config{ModbusAddr: "127.0.0.1:0", OPCUAEndpoint: "off", DNP3Addr: "127.0.0.1:0", TLSCertFile: cert, TLSKeyFile: key,
			Ready: func(ep Endpoints) { ready <- ep }})
	}()
	var ep Endpoints
	select {
	case ep = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		cancel()
		<-done
	}()
	if !ep.TLS || ep.OPCUA != "" {
		t.Errorf("endpoints %+v, want TLS and no OPC UA", ep)
	}
	roots := x509.NewCertPool()
	roots.AddCert(srvPair.Leaf)
	c, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp+tls://" + ep.Modbus, Timeout: 2 * time.Second,
		TLSClientCert: &cliPair, TLSRootCAs: roots, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Open(); err != nil {
		t.Fatalf("tls open: %v", err)
	}
	defer c.Close()
	v, err := c.ReadRegister(0, mb.INPUT_REGISTER)
	if err != nil || v != 11980 {
		t.Fatalf("level over TLS = %d, %v; want 11980", v, err)
	}
	// A plain Modbus/TCP client gets nothing useful from the TLS port.
	plain, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + ep.Modbus, Timeout: 500 * time.Millisecond, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Open(); err == nil {
		if _, err := plain.ReadRegister(0, mb.INPUT_REGISTER); err == nil {
			t.Error("plain Modbus/TCP read succeeded on the TLS port")
		}
		plain.Close()
	}
}
