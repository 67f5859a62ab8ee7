package agent

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/ua"

	"github.com/sluice-ics/sluice/simulator"
)

// impostorCert makes what an adversary in the middle would present for
// the simulator's OPC UA server: a certificate of its own with the same
// subject and application URI, valid until 2027.
func impostorCert(t *testing.T) ([]byte, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	uri, _ := url.Parse("urn:sluice:sim:dam-opcua")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "Sluice dam simulator", Organization: []string{"Sluice Automation"}},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		URIs:         []*url.URL{uri},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// uaConnect opens a session on endpoint as an anonymous client over
// SecurityPolicy None, then closes it: OpenSecureChannel, CreateSession,
// ActivateSession, CloseSession.
func uaConnect(t *testing.T, ctx context.Context, endpoint string) {
	t.Helper()
	c, err := opcua.NewClient(endpoint, opcua.SecurityPolicy(ua.SecurityPolicyURINone),
		opcua.SecurityMode(ua.MessageSecurityModeNone), opcua.AuthAnonymous(), opcua.AutoReconnect(false))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect %s: %v", endpoint, err)
	}
	c.Close(ctx)
}

// TestCertificateChangedLive: the agent learns (learn mode) a client's
// session with the simulator's OPC UA server, captured on loopback; then
// another server answers on the same address and port with a certificate
// of its own (same subject, same application URI: only the certificate
// tells it apart). One certificate_changed alert names both thumbprints,
// nothing calls it a new identity, and the inventory holds the new
// certificate. Needs root (CAP_NET_RAW), like the other live tests.
func TestCertificateChangedLive(t *testing.T) {
	der, key := impostorCert(t)
	sum := sha1.Sum(der)
	impostor := hex.EncodeToString(sum[:])

	uaPort, mbPort := freeLoopbackPort(t), freeLoopbackPort(t)
	endpoint := "opc.tcp://127.0.0.1:" + strconv.Itoa(int(uaPort))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := startLiveAgent(t, ctx, func(cfg *Config) {
		cfg.Ports = map[string][]uint16{"opcua": {uaPort}}
		cfg.Mode = ModeLearn
	})

	// The simulator's server, with its own certificate.
	simCtx, simCancel := context.WithCancel(ctx)
	_, simDone := serveSimulator(t, simCtx, simulator.Config{ModbusAddr: "127.0.0.1:" + strconv.Itoa(int(mbPort)),
		OPCUAEndpoint: endpoint, DNP3Addr: "off", Seed: 1})
	uaConnect(t, ctx, endpoint)
	simCancel()
	<-simDone

	// The impostor on the same endpoint.
	srv := server.New(server.EndPoint("127.0.0.1", int(uaPort)), server.Certificate(der), server.PrivateKey(key),
		server.EnableSecurity("None", ua.MessageSecurityModeNone), server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.ServerName("Sluice dam simulator"))
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	uaConnect(t, ctx, endpoint)
	srv.Close()

	o := l.stop(t)
	var sigs []string
	for _, line := range strings.Split(o, "\n") {
		if strings.Contains(line, `"event_type":"alert"`) && strings.Contains(line, `"rule":"device_identity_changed"`) {
			t.Errorf("identity alert: %s", line)
		}
		if strings.Contains(line, `"event_type":"alert"`) && strings.Contains(line, `"rule":"certificate_changed"`) && !strings.Contains(line, `"update":true`) {
			_, sig, _ := strings.Cut(line, `"signature":"`)
			sig, _, _ = strings.Cut(sig, `","`)
			sigs = append(sigs, sig)
		}
	}
	want := `OPC UA server 127.0.0.1 presents a new certificate: thumbprint \"31486501bbd82721e310236be2b7841c375031fa\" → \"` + impostor +
		`\", not after \"2126-11-10T03:13:41Z\" → \"2027-01-01T00:00:00Z\"`
	if len(sigs) != 1 || sigs[0] != want {
		t.Errorf("certificate_changed alerts %q, want one %q", sigs, want)
	}
	d := l.BaselineSnapshot().Device("127.0.0.1")
	if d == nil || d.Server == nil || d.Server.CertThumbprint != impostor || d.Server.AppURI != "urn:sluice:sim:dam-opcua" {
		t.Errorf("inventory %+v", d)
	}
}
