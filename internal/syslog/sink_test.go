package syslog

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/agent"
)

// collector is a TCP syslog receiver for the tests: it reads octet-counted
// frames (RFC 6587 3.4.1) from every connection into msgs.
type collector struct {
	ln    net.Listener
	msgs  chan string
	conns chan net.Conn
}

// listen starts a collector on addr ("127.0.0.1:0" for a new port).
func listen(t *testing.T, addr string) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{ln: ln, msgs: make(chan string, 100000), conns: make(chan net.Conn, 16)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.conns <- conn
			go c.read(conn)
		}
	}()
	return c
}

func (c *collector) read(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		n, err := r.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSuffix(n, " "))
		if err != nil {
			c.msgs <- "BAD FRAME " + n
			return
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return
		}
		c.msgs <- string(b)
	}
}

// next returns the next message, failing after a few seconds.
func (c *collector) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
		return ""
	}
}

// numbered returns the alert record number n (its count is n).
func numbered(n int) *agent.Record {
	r := sampleAlert()
	r.Alert.Count = uint64(n)
	return r
}

// countOf returns the cn1 (count) of a CEF message.
func countOf(t *testing.T, msg string) int {
	t.Helper()
	m, err := parse5424(msg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseCEF(m.msg)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(c.ext["cn1"])
	return n
}

func newSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	if cfg.Hostname == "" {
		cfg.Hostname = "plc-mon"
	}
	cfg.Version = "test"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sinkhole starts a TCP collector that discards what it reads, or with
// read false never reads (and holds the connections open), and returns
// its address.
func sinkhole(t testing.TB, read bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			if read {
				go io.Copy(io.Discard, c)
			}
		}
	}()
	return ln.Addr().String()
}

// freeAddr returns a loopback TCP address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestSinkTCP(t *testing.T) {
	c := listen(t, "127.0.0.1:0")
	s := newSink(t, Config{URL: "tcp://" + c.ln.Addr().String()})
	for i := 1; i <= 3; i++ {
		s.Write(numbered(i))
	}
	s.Flush()
	for i := 1; i <= 3; i++ {
		msg := c.next(t)
		if want := string(s.appendMessage(nil, numbered(i))); msg != want {
			t.Fatalf("message %d:\n%q\nwant\n%q", i, msg, want)
		}
	}
	if st := s.Stats(); st.Sent != 3 || st.Dropped != 0 || st.Queued != 0 || !st.Connected || st.Reconnects != 0 {
		t.Errorf("stats %+v", st)
	}
	// Only alerts by default.
	if s.Accepts("modbus") || s.Accepts(agent.EventStats) || !s.Accepts(agent.EventAlert) {
		t.Error("Accepts: want alerts only")
	}
}

func TestSinkUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := newSink(t, Config{URL: "udp://" + pc.LocalAddr().String(), AllEvents: true})
	s.Write(numbered(7))
	s.Flush()
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:n]); countOf(t, got) != 7 {
		t.Errorf("datagram %q", got)
	}
	if !s.Accepts("modbus") {
		t.Error("AllEvents: modbus not accepted")
	}
}

// While the collector is unreachable the queue keeps the newest messages,
// drops the oldest and counts them, and Flush does not wait for a retry
// beyond its timeout; once the collector listens, what was queued arrives
// in order.
func TestSinkQueueWhileDown(t *testing.T) {
	addr := freeAddr(t)
	s := newSink(t, Config{URL: "tcp://" + addr, QueueSize: 3, FlushTimeout: 300 * time.Millisecond,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	for i := 1; i <= 5; i++ {
		s.Write(numbered(i))
	}
	start := time.Now()
	s.Flush()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Flush took %v with the collector down", d)
	}
	if st := s.Stats(); st.Dropped != 2 || st.Queued != 3 || st.Connected || st.Sent != 0 {
		t.Errorf("stats while down %+v", st)
	}
	c := listen(t, addr)
	for want := 3; want <= 5; want++ {
		if got := countOf(t, c.next(t)); got != want {
			t.Errorf("got message %d, want %d", got, want)
		}
	}
	s.Flush() // the collector may read a batch before the sender counts it
	if st := s.Stats(); st.Sent != 3 || st.Dropped != 2 || st.Queued != 0 {
		t.Errorf("stats after %+v", st)
	}
}

// A collector that goes away is noticed before the next write (its
// messages are queued, not written into a dead socket) and reconnected to
// when it is back.
func TestSinkReconnect(t *testing.T) {
	c := listen(t, "127.0.0.1:0")
	addr := c.ln.Addr().String()
	s := newSink(t, Config{URL: "tcp://" + addr, MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	s.Write(numbered(1))
	if got := countOf(t, c.next(t)); got != 1 {
		t.Fatalf("got %d", got)
	}
	c.ln.Close()
	(<-c.conns).Close()
	for i := 2; i <= 4; i++ {
		s.Write(numbered(i))
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Connected && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c2 := listen(t, addr)
	for want := 2; want <= 4; want++ {
		if got := countOf(t, c2.next(t)); got != want {
			t.Errorf("got message %d, want %d", got, want)
		}
	}
	s.Flush()
	if st := s.Stats(); st.Sent != 4 || st.Dropped != 0 || st.Reconnects != 1 || !st.Connected {
		t.Errorf("stats %+v", st)
	}
}

// Write only queues: a collector that accepts and never reads cannot slow
// the agent down; the sender gives up on the write after WriteTimeout.
func TestSinkWriteNeverBlocks(t *testing.T) {
	s := newSink(t, Config{URL: "tcp://" + sinkhole(t, false), QueueSize: 1000, FlushTimeout: 100 * time.Millisecond,
		WriteTimeout: 2 * time.Second})
	r := numbered(1)
	r.Alert.Signature = strings.Repeat("x", 4000)
	const n = 5000 // 20 MB: more than the socket buffers hold
	var slowest time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		s.Write(r)
		slowest = max(slowest, time.Since(start))
	}
	// A Write that waited for the network would wait for the write
	// timeout.
	if slowest > time.Second {
		t.Errorf("slowest Write took %v", slowest)
	}
	s.Flush()
	st := s.Close()
	if st.Dropped == 0 || st.Sent+st.Dropped != n {
		t.Errorf("stats %+v: want drops, and every message sent or dropped", st)
	}
}

// Close counts what is still queued as dropped and returns promptly while
// the collector is down.
func TestSinkCloseWhileDown(t *testing.T) {
	s := newSink(t, Config{URL: "tcp://" + freeAddr(t), MinBackoff: time.Minute})
	for i := 0; i < 5; i++ {
		s.Write(numbered(i))
	}
	start := time.Now()
	st := s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if st.Dropped != 5 || st.Queued != 0 || st.Sent != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := s.Write(numbered(6)); err != nil || s.Stats().Dropped != 5 {
		t.Error("Write after Close")
	}
}

func ExampleSink() {
	s, err := New(Config{URL: "tcp://127.0.0.1:1514", Format: FormatLEEF, Sensor: "dam-1", Site: "north"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	// cfg.Sinks = append(cfg.Sinks, s): the agent writes the alerts to it.
	fmt.Println(s, s.Critical())
	// Output: syslog tcp://127.0.0.1:1514 false
}

// BenchmarkSinkWrite is what forwarding costs the agent per alert: the
// message rendered and queued (the sender runs on another goroutine,
// writing to a collector that reads and discards).
func BenchmarkSinkWrite(b *testing.B) {
	addr := sinkhole(b, true)
	for _, f := range []Format{FormatCEF, FormatLEEF, FormatEVE} {
		b.Run(f.String(), func(b *testing.B) {
			s, err := New(Config{URL: "tcp://" + addr, Format: f, Hostname: "plc-mon", Sensor: "dam-1", Site: "north", Version: "test"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			r := sampleAlert()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Write(r)
			}
		})
	}
}
