package syslog

import (
	"context"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"strconv"
	"time"
)

// Batches: the sender takes up to this many messages, or bytes, from the
// queue for one write.
const (
	batchMessages = 256
	batchBytes    = 256 << 10
)

// link is an open connection to the collector.
type link struct {
	net.Conn
	// tcp is the TCP connection under a TLS one (the same as Conn for
	// plain TCP), nil for UDP.
	tcp net.Conn
	// closed is closed when a read returns: a collector never sends, so
	// end of stream or an error (TLS close_notify included) means the
	// connection is gone.
	closed chan struct{}
	// wrote says a write succeeded on the link.
	wrote bool
}

// abort closes the connection at once: the TCP socket under TLS, without
// the close_notify that would wait behind a blocked write.
func (l *link) abort() {
	if l.tcp != nil {
		l.tcp.Close()
	} else {
		l.Close()
	}
}

// watch reads the connection until it ends. For TLS it also consumes what
// the server sends after the handshake (session tickets).
func (l *link) watch() {
	buf := make([]byte, 512)
	for {
		if _, err := l.Read(buf); err != nil {
			close(l.closed)
			return
		}
	}
}

// open reports whether the connection is still usable for a write.
func (l *link) open() bool {
	select {
	case <-l.closed:
		return false
	default:
	}
	return l.tcp == nil || peerOpen(l.tcp)
}

// run is the sender: it takes batches from the queue and writes them,
// connecting and reconnecting as needed, until Close.
func (s *Sink) run() {
	defer close(s.stopped)
	var (
		l        *link
		batch    [][]byte
		frame    []byte
		failures int // consecutive failed connections
		everUp   bool
	)
	defer func() {
		if l != nil {
			l.Close()
		}
		s.mu.Lock()
		s.q.pushFront(batch)
		s.inflight = 0
		s.conn = nil
		s.mu.Unlock()
	}()
	for {
		if len(batch) == 0 {
			if batch = s.take(batch); len(batch) == 0 {
				return // closed
			}
		}
		if l != nil && !l.open() {
			wrote := l.wrote
			s.drop(l)
			if l = nil; !wrote && !s.backoff(&batch, &failures) {
				return
			}
			continue
		}
		if l == nil {
			var err error
			l, err = s.dial()
			if err != nil {
				if !s.backoff(&batch, &failures) {
					return
				}
				continue
			}
			s.mu.Lock()
			if everUp {
				s.reconnects++
			}
			everUp = true
			s.conn, s.retryAt = l, time.Time{}
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
		}
		n, err := s.send(l, batch, &frame)
		s.mu.Lock()
		s.sent += uint64(n)
		s.inflight -= n
		for _, m := range batch[:n] {
			s.q.release(m)
		}
		if s.waiters > 0 {
			s.broadcastLocked()
		}
		s.mu.Unlock()
		batch = append(batch[:0], batch[n:]...)
		if err != nil {
			wrote := l.wrote
			s.drop(l)
			if l = nil; !wrote && !s.backoff(&batch, &failures) {
				return
			}
			continue
		}
		l.wrote, failures = true, 0
	}
}

// take waits for messages and moves up to a batch of them out of the
// queue; it returns an empty batch when the sink is closed.
func (s *Sink) take(batch [][]byte) [][]byte {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return batch[:0]
		}
		size := 0
		for s.q.len() > 0 && len(batch) < batchMessages && size < batchBytes {
			m := s.q.popFront()
			size += len(m)
			batch = append(batch, m)
		}
		s.inflight += len(batch)
		s.mu.Unlock()
		if len(batch) > 0 {
			return batch
		}
		select {
		case <-s.wake:
		case <-s.stop:
		}
	}
}

// drop closes a lost link. The sender then reconnects at once if a write
// succeeded on it, else backs off (a collector that accepts and hangs up
// must not be redialled in a tight loop).
func (s *Sink) drop(l *link) {
	l.abort() // nothing more can be said on it: no close_notify to wait for
	s.mu.Lock()
	s.conn = nil
	if s.waiters > 0 {
		s.broadcastLocked()
	}
	s.mu.Unlock()
}

// backoff puts the batch back in the queue (where the oldest messages are
// dropped first when it fills up), waits before the next connection
// attempt, and reports false when the sink was closed meanwhile. The wait
// doubles from MinBackoff with each consecutive failure up to MaxBackoff,
// less up to a quarter at random so that many sensors do not come back in
// step.
func (s *Sink) backoff(batch *[][]byte, failures *int) bool {
	*failures++
	d := s.minBackoff
	for i := 1; i < *failures && d < s.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.maxBackoff)
	d -= time.Duration(rand.Int64N(int64(d)/4 + 1))
	s.mu.Lock()
	s.q.pushFront(*batch)
	s.inflight = 0
	s.retryAt = time.Now().Add(d)
	if s.waiters > 0 {
		s.broadcastLocked()
	}
	s.mu.Unlock()
	*batch = (*batch)[:0]
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		s.mu.Lock()
		s.retryAt = time.Time{}
		s.mu.Unlock()
		return true
	case <-s.stop:
		return false
	}
}

// dial connects to the collector (and for TLS completes the handshake
// within the dial timeout).
func (s *Sink) dial() (*link, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.dialTimeout)
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, s.dest.network, s.dest.addr)
	if err != nil {
		return nil, err
	}
	l := &link{Conn: c, closed: make(chan struct{})}
	if s.dest.network == "udp" {
		return l, nil
	}
	l.tcp = c
	if s.dest.tls {
		tc := tls.Client(c, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		l.Conn = tc
	}
	go l.watch()
	return l, nil
}

// send writes the batch and returns how many of its messages were written
// whole. Over TCP and TLS the messages are framed by octet counting (RFC
// 6587 3.4.1, RFC 5425 4.3: "LEN SP MSG") and written at once; over UDP
// each is one datagram.
func (s *Sink) send(l *link, batch [][]byte, frame *[]byte) (int, error) {
	if err := l.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		return 0, err
	}
	if l.tcp == nil {
		for i, m := range batch {
			if _, err := l.Write(m[:min(len(m), maxDatagram)]); err != nil {
				return i, err
			}
		}
		return len(batch), nil
	}
	b := (*frame)[:0]
	ends := make([]int, 0, len(batch)) // where each message's frame ends
	for _, m := range batch {
		b = strconv.AppendInt(b, int64(len(m)), 10)
		b = append(append(b, ' '), m...)
		ends = append(ends, len(b))
	}
	*frame = b
	n, err := l.Write(b)
	if err == nil {
		return len(batch), nil
	}
	whole := 0
	for whole < len(ends) && ends[whole] <= n {
		whole++
	}
	return whole, err
}
