//go:build unix

package syslog

import (
	"net"
	"syscall"
)

// peerOpen reports whether the peer of c has not closed or reset the
// connection, by peeking at its socket without blocking (recv with
// MSG_PEEK|MSG_DONTWAIT, as rsyslog's forwarder checks its connection
// before a send): end of stream or an error means it is gone; nothing to
// read, or bytes waiting (a TLS record the watcher has not consumed yet),
// mean it is open. Control, unlike the conn's Read, does not wait for the
// watching goroutine's read to return.
func peerOpen(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
		case err != nil || n == 0:
			open = false
		}
	})
	return open && err == nil
}
