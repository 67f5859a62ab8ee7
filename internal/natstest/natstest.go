// Package natstest starts real nats-server processes for the tests of the
// fleet stream: single servers and JetStream clusters on loopback, which a
// test can kill (SIGKILL) and restart on the same port and store. The
// binary is the pinned release `make tools` installs into .tools/bin
// (or $SLUICE_NATS_SERVER, or nats-server on the PATH); without it the
// tests skip. Only tests import it.
package natstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-ics/sluice/internal/testcerts"
)

// Binary returns the nats-server to run, or skips the test.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SLUICE_NATS_SERVER"); p != "" {
		return p
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, ".tools", "bin", "nats-server")
				if _, err := os.Stat(p); err == nil {
					return p
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	t.Skip("nats-server not installed (make tools installs the pinned release into .tools/bin)")
	return ""
}

// Server is one nats-server process with JetStream.
type Server struct {
	t    testing.TB
	bin  string
	args []string
	// Name, Port (clients) and Dir (the JetStream store) stay the same
	// across restarts.
	Name string
	Port int
	Dir  string
	tls  bool

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// syncBuffer is a bytes.Buffer the process's output goroutine and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// New prepares a single JetStream server on a free port; Start runs it.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), Name: "n1", Port: FreePort(t), Dir: t.TempDir()}
	s.args = []string{"-a", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-n", s.Name, "-js", "-sd", s.Dir}
	t.Cleanup(s.Kill)
	return s
}

// NewTLS prepares a single JetStream server that takes only TLS clients
// with a certificate signed by f.CA, presenting f's server certificate.
func NewTLS(t testing.TB, f testcerts.Files) *Server {
	t.Helper()
	s := New(t)
	s.tls = true
	s.args = append(s.args, "--tlsverify", "--tlscert", f.ServerCert, "--tlskey", f.ServerKey, "--tlscacert", f.CA)
	return s
}

// Cluster starts n servers that form a JetStream cluster on loopback.
func Cluster(t testing.TB, n int) []*Server {
	t.Helper()
	bin := Binary(t)
	routes := make([]string, n)
	cports := make([]int, n)
	for i := range n {
		cports[i] = FreePort(t)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", cports[i])
	}
	var out []*Server
	for i := range n {
		s := &Server{t: t, bin: bin, Name: fmt.Sprintf("n%d", i+1), Port: FreePort(t), Dir: t.TempDir()}
		s.args = []string{"-a", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-n", s.Name, "-js", "-sd", s.Dir,
			"--cluster_name", "sluice", "--cluster", routes[i], "--routes", strings.Join(routes, ",")}
		t.Cleanup(s.Kill)
		out = append(out, s)
	}
	for _, s := range out {
		s.Start()
	}
	return out
}

// URLs joins the servers' client URLs as a client takes them.
func URLs(servers []*Server) string {
	var u []string
	for _, s := range servers {
		u = append(u, s.URL())
	}
	return strings.Join(u, ",")
}

// URL is the server's client URL.
func (s *Server) URL() string {
	if s.tls {
		return fmt.Sprintf("tls://127.0.0.1:%d", s.Port)
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", s.Port)
}

// Start runs the server and waits until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	s.out = new(syncBuffer)
	s.cmd = exec.Command(s.bin, s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.done = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("nats-server: %v", err)
	}
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(s.cmd, s.done)
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server %s did not listen on %d: %v\n%s", s.Name, s.Port, err, s.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL (a crash: nothing is flushed) and
// waits for it to exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Messages reads every message of stream at url, in stream order, with
// an ordered consumer of its own.
func Messages(t testing.TB, url, stream string) []jetstream.Msg {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m)
			n++
		}
		if n == 0 {
			return out
		}
	}
}

// Output is what the server printed (for failure messages).
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}
