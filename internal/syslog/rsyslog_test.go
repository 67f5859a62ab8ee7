package syslog

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/internal/testcerts"
)

// These tests send to a real rsyslogd (Debian's rsyslog and
// rsyslog-openssl; `make tools` installs them) that each starts with a
// private configuration: one input per transport, each written by omfile
// to its own file as rsyslog parsed the message (PRI, timestamp, host,
// app, procid, msgid, structured data, msg), with control characters kept
// as they came, so that a line break the sender let through would split a
// line of the file.

// transports are the rsyslog inputs: plain UDP and TCP, TLS with the
// server authenticated, and TLS where rsyslog also requires a client
// certificate signed by the test CA.
var transports = []string{"udp", "tcp", "tls", "mtls"}

// rsyslog is a private rsyslogd.
type rsyslog struct {
	t     testing.TB
	bin   string
	dir   string
	ports map[string]int
	cmd   *exec.Cmd
	out   *bytes.Buffer
	// tls trusts the test CA and presents the client certificate.
	tls *tls.Config
}

// startRsyslog starts rsyslogd, or skips the test when it is not
// installed.
func startRsyslog(t testing.TB) *rsyslog {
	t.Helper()
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		bin = "/usr/sbin/rsyslogd"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("rsyslogd is not installed (make tools installs Debian's rsyslog and rsyslog-openssl)")
		}
	}
	if m, _ := filepath.Glob("/usr/lib/*/rsyslog/lmnsd_ossl.so"); len(m) == 0 {
		t.Skip("rsyslog's OpenSSL driver is not installed (make tools installs rsyslog-openssl)")
	}
	r := &rsyslog{t: t, bin: bin, dir: t.TempDir(), ports: map[string]int{}}
	r.tls = writeCerts(t, r.dir)
	var conf strings.Builder
	fmt.Fprintf(&conf, `global(workDirectory=%q maxMessageSize="64k" parser.escapeControlCharactersOnReceive="off")
module(load="imudp")
module(load="imtcp")
template(name="fields" type="string" string="%%pri%%\t%%timereported:::date-rfc3339%%\t%%hostname%%\t%%app-name%%\t%%procid%%\t%%msgid%%\t%%structured-data%%\t%%msg%%\n")
`, r.dir)
	for _, tr := range transports {
		r.ports[tr] = freePort(t, tr == "udp")
		fmt.Fprintf(&conf, "ruleset(name=%q) { action(type=\"omfile\" file=%q template=\"fields\") }\n", tr, r.file(tr))
		switch tr {
		case "udp":
			fmt.Fprintf(&conf, "input(type=\"imudp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"udp\")\n", r.ports[tr])
		case "tcp":
			fmt.Fprintf(&conf, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\" ruleset=\"tcp\")\n", r.ports[tr])
		default:
			auth := "anon"
			if tr == "mtls" {
				auth = "x509/certvalid"
			}
			fmt.Fprintf(&conf, "input(type=\"imtcp\" address=\"127.0.0.1\" port=\"%d\" ruleset=%q streamDriver.name=\"ossl\" streamDriver.mode=\"1\" "+
				"streamDriver.authMode=%q streamDriver.CAFile=%q streamDriver.CertFile=%q streamDriver.KeyFile=%q)\n",
				r.ports[tr], tr, auth, filepath.Join(r.dir, "ca.pem"), filepath.Join(r.dir, "server.pem"), filepath.Join(r.dir, "server.key"))
		}
	}
	if err := os.WriteFile(filepath.Join(r.dir, "rsyslog.conf"), []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r.start()
	t.Cleanup(r.kill)
	return r
}

func (r *rsyslog) file(tr string) string { return filepath.Join(r.dir, tr+".log") }

// url is the sink URL of a transport.
func (r *rsyslog) url(tr string) string {
	scheme := tr
	if tr == "mtls" {
		scheme = "tls"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, r.ports[tr])
}

// start runs rsyslogd in the foreground and waits until its inputs
// answer: the TCP ones accept a connection, the UDP one writes a probe.
func (r *rsyslog) start() {
	t := r.t
	t.Helper()
	r.cmd = exec.Command(r.bin, "-n", "-f", filepath.Join(r.dir, "rsyslog.conf"), "-i", filepath.Join(r.dir, "rsyslogd.pid"))
	r.out = &bytes.Buffer{}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, tr := range transports[1:] {
		for {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", r.ports[tr]))
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rsyslogd does not listen on %s: %s", tr, r.out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	probe, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", r.ports["udp"]))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	before := len(r.read("udp"))
	for len(r.read("udp")) == before {
		probe.Write([]byte("<14>1 - test probe - probe - ready"))
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd does not listen on udp: %s", r.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill stops rsyslogd at once (SIGKILL) and waits for it.
func (r *rsyslog) kill() {
	if r.cmd != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// read returns the lines of a transport's file so far.
func (r *rsyslog) read(tr string) []string {
	b, _ := os.ReadFile(r.file(tr))
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// wait returns the lines of a transport's file after its first from,
// once there are want of them (after 10 s, whatever there is).
func (r *rsyslog) wait(tr string, from, want int) []string {
	deadline := time.Now().Add(10 * time.Second)
	for {
		lines := r.read(tr)
		if len(lines) >= from+want || time.Now().After(deadline) {
			return lines[min(from, len(lines)):]
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// received is one line of rsyslog's output: the message as rsyslog
// parsed it.
type received struct {
	pri                                           int
	time, host, app, procID, msgID, sd, msg, line string
}

func parseReceived(t testing.TB, line string) received {
	t.Helper()
	f := strings.SplitN(line, "\t", 8)
	pri, err := strconv.Atoi(f[0])
	if len(f) != 8 || err != nil {
		t.Fatalf("rsyslog line %q", line)
	}
	return received{pri, f[1], f[2], f[3], f[4], f[5], f[6], f[7], line}
}

// freePort returns a loopback port nothing listens on.
func freePort(t testing.TB, udp bool) int {
	t.Helper()
	if udp {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeCerts makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, writes them to dir as PEM, and returns the client side's
// TLS configuration (TLSConfig of the CA and the client's pair).
func writeCerts(t testing.TB, dir string) *tls.Config {
	t.Helper()
	f := testcerts.Write(t, dir)
	cfg, err := TLSConfig(f.CA, f.ClientCert, f.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// sensorName and siteName name the sensor with characters the structured
// data, CEF and LEEF escape or must leave alone.
const sensorName, siteName = `dam "1" [north] a=b`, `Rivière \ spillway | x`

// rsyslogSinks returns one sink per transport of r, in format f, with cfg's
// other settings (sensorName and siteName unless cfg names others).
func rsyslogSinks(t testing.TB, r *rsyslog, f Format, cfg Config) map[string]*Sink {
	t.Helper()
	sinks := map[string]*Sink{}
	for _, tr := range transports {
		c := cfg
		c.URL, c.Format, c.Hostname, c.Version = r.url(tr), f, "sluice-test", "test"
		if c.Sensor == "" {
			c.Sensor, c.Site = sensorName, siteName
		}
		if strings.HasSuffix(tr, "tls") {
			c.TLS = r.tls
		}
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sinks[tr] = s
	}
	return sinks
}

// mark returns how many lines each transport's file has.
func (r *rsyslog) mark() map[string]int {
	m := map[string]int{}
	for _, tr := range transports {
		m[tr] = len(r.read(tr))
	}
	return m
}
