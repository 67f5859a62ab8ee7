package opcua

import (
	"path/filepath"
	"strings"
	"testing"
)

// The simulator's server certificate (simulator/certs/opcua.pem) as
// `openssl x509 -noout -fingerprint -sha1 -enddate -subject` shows it:
// SHA1 Fingerprint=31:48:65:01:BB:D8:27:21:E3:10:23:6B:E2:B7:84:1C:37:50:31:FA,
// notAfter=Nov 10 03:13:41 2126 GMT, CN = Sluice dam simulator, O = Sluice Automation.
var simCert = Certificate{Thumbprint: "31486501bbd82721e310236be2b7841c375031fa",
	Subject: "CN=Sluice dam simulator,O=Sluice Automation", NotAfter: "2126-11-10T03:13:41Z"}

// TestServerCertificate: in the simulator's traffic (policy None) the
// server sends its certificate in the OPN response's asymmetric header and
// again in the CreateSession response; both name the certificate as
// openssl does, the channel's on every later message of the channel.
func TestServerCertificate(t *testing.T) {
	msgs, _ := replay(t, filepath.Join("..", "..", "testdata", "sim_normal.pcap"), Config{})
	var opn, session int
	for _, m := range msgs {
		if m.Request != nil && m.Request.Name == "OpenSecureChannelRequest" {
			opn++
			if c := (Certificate{m.Channel.ServerThumbprint, m.Channel.ServerSubject, m.Channel.ServerNotAfter}); c != simCert {
				t.Errorf("OPN channel certificate %+v, want %+v", c, simCert)
			}
		}
		if m.Response != nil && m.Response.Name == "CreateSessionResponse" {
			session++
			if c := m.Response.ServerCertificate; c == nil || *c != simCert {
				t.Errorf("CreateSession server certificate %+v, want %+v", c, simCert)
			}
			b := string(m.AppendJSON(nil))
			if want := `"server_certificate":{"thumbprint":"31486501bbd82721e310236be2b7841c375031fa","subject":"CN=Sluice dam simulator,O=Sluice Automation","not_after":"2126-11-10T03:13:41Z"}`; !strings.Contains(b, want) {
				t.Errorf("event %s\nlacks %s", b, want)
			}
		}
	}
	if opn == 0 || session == 0 {
		t.Fatalf("%d OPN, %d CreateSession in the simulator's capture", opn, session)
	}
}

// TestCertInfo: a chain gives its first certificate's thumbprint; bytes
// that are no certificate give a thumbprint of what was sent and no
// subject or date (sha1sum of the same bytes); nothing gives nothing.
func TestCertInfo(t *testing.T) {
	if c := certInfo(nil); c != (Certificate{}) {
		t.Errorf("empty: %+v", c)
	}
	c := certInfo([]byte("not a certificate"))
	if c.Thumbprint != "34491fe877745149646ce28c6b98961e9124390b" || c.Subject != "" || c.NotAfter != "" {
		t.Errorf("garbage: %+v", c)
	}
}
