package simulator

import (
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"
)

// recorder turns what the in-process servers and clients exchange over
// loopback sockets into synthesized TCP connections between plant hosts, at
// simulated times. The scheduler runs one action at a time and every client
// waits for its answer, so the calls below arrive in a fixed order whatever
// the goroutine scheduling; times come from the scheduler's cursor and a
// seeded generator, never from the clock.
//
// Who records what: the Modbus front records the requests and responses of
// library clients (simonvetter/modbus dials its own sockets); our raw clients
// (attacks, OPC UA) record what they send and receive themselves, and the
// front records only its answers and its closes on their connections.
type recorder struct {
	mu       sync.Mutex
	w        *wire
	rng      *rand.Rand
	cur      time.Duration // simulated time of the next frame
	want     *rconn        // connection expected by the next accept
	accepted chan *rconn
	byConn   map[net.Conn]*rconn
	conns    []*rconn
}

// rconn is one recorded connection.
type rconn struct {
	tc            *tcpConn
	clientRecords bool // the client records its own requests
}

func newRecorder(seed uint64) *recorder {
	return &recorder{
		w:        newWire(seed),
		rng:      rand.New(rand.NewPCG(seed, 0xdec0de)),
		accepted: make(chan *rconn, 1),
		byConn:   map[net.Conn]*rconn{},
	}
}

// begin moves the cursor to the start of an action at simulated time t.
func (r *recorder) begin(t time.Duration) {
	r.mu.Lock()
	r.cur = t
	r.mu.Unlock()
}

// now returns the cursor.
func (r *recorder) now() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

// wait moves the cursor on by d (a client's think time or timeout).
func (r *recorder) wait(d time.Duration) {
	r.mu.Lock()
	r.cur += d
	r.mu.Unlock()
}

// service is how long a server takes to answer: 0.4-2.4 ms, the cycle of a
// PLC's communication task.
func (r *recorder) service() time.Duration {
	return time.Duration(400+r.rng.IntN(2000)) * time.Microsecond
}

// expect announces that the next connection the front accepts is from cli
// to srv:port; the scheduler then dials and calls waitAccepted.
func (r *recorder) expect(cli, srv Host, port uint16, clientRecords bool) {
	r.mu.Lock()
	tc, end := r.w.open(cli, srv, port, r.cur)
	r.cur = end
	r.want = &rconn{tc: tc, clientRecords: clientRecords}
	r.conns = append(r.conns, r.want)
	r.mu.Unlock()
}

// waitAccepted returns the connection announced by expect once the front
// has accepted it.
func (r *recorder) waitAccepted() *rconn { return <-r.accepted }

// direct records a connection whose client records everything itself (no
// front involved).
func (r *recorder) direct(cli, srv Host, port uint16) *rconn {
	r.mu.Lock()
	defer r.mu.Unlock()
	tc, end := r.w.open(cli, srv, port, r.cur)
	r.cur = end
	rc := &rconn{tc: tc, clientRecords: true}
	r.conns = append(r.conns, rc)
	return rc
}

// send records client data.
func (r *recorder) send(rc *rconn, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = rc.tc.data(0, r.cur, b) + 30*time.Microsecond
}

// recv records server data, after the server's service time.
func (r *recorder) recv(rc *rconn, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = rc.tc.data(1, r.cur+r.service(), b) + 30*time.Microsecond
}

// clientClose records a close initiated by the client.
func (r *recorder) clientClose(rc *rconn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = rc.tc.close(0, r.cur)
}

// finish flushes owed ACKs and returns the pcap frames' wire, without the
// frames at or after end: a synthesized conversation (an RDP session
// started near the end) is cut where the capture stops, as a real one is.
func (r *recorder) finish(end time.Duration) *wire {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rc := range r.conns {
		rc.tc.finish(end)
	}
	r.w.segs = slices.DeleteFunc(r.w.segs, func(s segment) bool { return s.at >= end })
	return r.w
}

// conn returns the recorded connection of the front's socket c, nil for a
// connection nobody announced.
func (r *recorder) conn(c net.Conn) *rconn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byConn[c]
}

// frontTap is the recorder as the Modbus front's mbTap.
type frontTap struct{ r *recorder }

// accepted binds the front's socket to the connection expect announced.
func (t frontTap) accepted(c net.Conn) {
	r := t.r
	r.mu.Lock()
	rc := r.want
	r.want = nil
	if rc != nil {
		r.byConn[c] = rc
	}
	r.mu.Unlock()
	if rc != nil {
		r.accepted <- rc
	}
}

func (t frontTap) request(c net.Conn, adu []byte) {
	if rc := t.r.conn(c); rc != nil && !rc.clientRecords {
		t.r.send(rc, adu)
	}
}

func (t frontTap) response(c net.Conn, adu []byte) {
	if rc := t.r.conn(c); rc != nil {
		t.r.recv(rc, adu)
	}
}

// dropped makes the front hang up: the client's timeout is simulated by the
// actor (libSession.close), not waited for.
func (t frontTap) dropped(c net.Conn) bool { return true }

// violation records the PLC closing the connection after bytes that are
// not Modbus/TCP (the client recorded the bytes).
func (t frontTap) violation(c net.Conn, b []byte) {
	rc := t.r.conn(c)
	if rc == nil {
		return
	}
	r := t.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur = rc.tc.close(1, r.cur+r.service())
}
