//go:build linux

package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TestLiveLoopback captures on lo with the default port filter while two
// local TCP connections exchange data: frames of the configured port come
// through with their payload, frames of the other port stay in the kernel.
// It needs CAP_NET_RAW and skips without it.
func TestLiveLoopback(t *testing.T) {
	wanted, other := listen(t), listen(t)
	wp := uint16(wanted.Addr().(*net.TCPAddr).Port)
	op := uint16(other.Addr().(*net.TCPAddr).Port)
	live := openLo(t, LiveOptions{Ports: []uint16{wp}, RingMiB: 4})
	defer live.Close()

	// Traffic on the other port first, so that by the time the wanted
	// payload is seen, the other port's frames would have been too.
	otherClient := send(t, other, "not for us")
	wantedClient := send(t, wanted, "for the monitor")

	var sawPayload bool
	seen := map[string]bool{} // loopback shows each frame leaving and arriving: only one copy may pass
	for !sawPayload {
		p, err := live.Next()
		if err == io.EOF {
			t.Fatal("capture closed before the wanted payload was seen")
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.LinkType != layers.LinkTypeEthernet || p.Timestamp.IsZero() || p.Length < len(p.Data) {
			t.Fatalf("packet %+v", p)
		}
		sport, dport, payload, ok := tcp4Ports(p.Data)
		if !ok {
			if isTCP6Port(p.Data, wp) {
				continue // another process's IPv6 traffic on the same port number
			}
			t.Fatalf("frame without TCP port %d passed the filter: %x", wp, p.Data)
		}
		if sport != wp && dport != wp {
			t.Fatalf("frame %d→%d passed a filter for port %d (the other connection is %d↔%d)", sport, dport, wp, otherClient, op)
		}
		if seen[string(p.Data)] {
			t.Fatalf("frame %d→%d captured twice (the outgoing copy on lo must be dropped): %x", sport, dport, p.Data)
		}
		seen[string(p.Data)] = true
		if sport == wantedClient || dport == wantedClient {
			sawPayload = bytes.Contains(payload, []byte("for the monitor"))
		}
	}
	st, err := live.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Received == 0 {
		t.Errorf("stats %+v: nothing received", st)
	}
	live.Close()
	if _, err := live.Next(); err != io.EOF {
		t.Errorf("Next after Close: %v", err)
	}
}

// openLo opens a live capture on lo with opts, skipping without
// CAP_NET_RAW. A safety net, not a timing assertion, closes it after 30 s:
// if the filter were wrong and nothing came, Next returns io.EOF instead of
// hanging.
func openLo(t *testing.T, opts LiveOptions) *Live {
	t.Helper()
	live, err := OpenLive("lo", opts)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			t.Skipf("no permission for AF_PACKET (needs CAP_NET_RAW): %v", err)
		}
		t.Fatal(err)
	}
	guard := time.AfterFunc(30*time.Second, func() { live.Close() })
	t.Cleanup(func() { guard.Stop(); live.Close() })
	return live
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return l
}

// send connects to l, writes msg and closes; it returns the client's port.
func send(t *testing.T, l net.Listener, msg string) uint16 {
	t.Helper()
	c, err := net.Dial("tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	return uint16(c.LocalAddr().(*net.TCPAddr).Port)
}

// isTCP6Port reports whether f is Ethernet/IPv6/TCP with port as either port.
func isTCP6Port(f []byte, port uint16) bool {
	if len(f) < 14+40+4 || binary.BigEndian.Uint16(f[12:]) != 0x86dd || f[14+6] != 6 {
		return false
	}
	return binary.BigEndian.Uint16(f[54:]) == port || binary.BigEndian.Uint16(f[56:]) == port
}

// tcp4Ports extracts ports and payload from Ethernet/IPv4/TCP.
func tcp4Ports(f []byte) (sport, dport uint16, payload []byte, ok bool) {
	if len(f) < 14+20+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 || f[23] != 6 {
		return 0, 0, nil, false
	}
	ihl := int(f[14]&0x0f) * 4
	tcp := f[14+ihl:]
	if len(tcp) < 20 {
		return 0, 0, nil, false
	}
	off := int(tcp[12]>>4) * 4
	if len(tcp) < off {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint16(tcp), binary.BigEndian.Uint16(tcp[2:]), tcp[off:], true
}

func TestOpenLiveRefuses(t *testing.T) {
	for _, iface := range []string{"no-such-iface0", "any"} {
		if l, err := OpenLive(iface, LiveOptions{}); err == nil {
			l.Close()
			t.Errorf("%s: opened", iface)
		} else if !strings.HasPrefix(err.Error(), iface+": ") {
			t.Errorf("%s: error %q does not name the interface", iface, err)
		}
	}
}

// TestLiveDataOutlivesClose: a packet returned by Next stays readable after
// Close, which unmaps the ring (the agent's decoders were still reading one
// when another goroutine closed the capture: a SIGSEGV the runtime cannot
// recover, seen in the live tests).
func TestLiveDataOutlivesClose(t *testing.T) {
	ln := listen(t)
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	live := openLo(t, LiveOptions{Ports: []uint16{port}, RingMiB: 4})
	send(t, ln, "outlive the ring")
	p, err := live.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), p.Data...)
	live.Close()
	if !bytes.Equal(p.Data, want) {
		t.Fatalf("packet data changed after Close")
	}
}

// TestLiveSnapOther captures on lo with the default filter of issue #11
// while a decoder's port and another port each receive 3000 bytes in one
// segment: the decoder's frame arrives whole, the other one cut to
// SnapOther bytes with its wire length kept (Packet.Length), counted as
// Trimmed and not as Snapped.
func TestLiveSnapOther(t *testing.T) {
	const snap = 128
	wanted, other := listen(t), listen(t)
	wp := uint16(wanted.Addr().(*net.TCPAddr).Port)
	op := uint16(other.Addr().(*net.TCPAddr).Port)
	live := openLo(t, LiveOptions{Ports: []uint16{wp}, SnapOther: snap, RingMiB: 4})
	defer live.Close()

	msg := strings.Repeat("x", 3000)
	send(t, other, msg) // first: by the time the decoder's payload is seen, this one was too
	send(t, wanted, msg)
	var otherCut, wantedWhole bool
	for !wantedWhole {
		p, err := live.Next()
		if err == io.EOF {
			t.Fatal("capture closed before the decoder's payload was seen")
		}
		if err != nil {
			t.Fatal(err)
		}
		sport, dport, payload, ok := tcp4Ports(p.Data)
		switch {
		case ok && (sport == wp || dport == wp):
			if len(p.Data) != p.Length {
				t.Fatalf("a frame of the decoder's port %d arrived cut: %d of %d bytes", wp, len(p.Data), p.Length)
			}
			wantedWhole = wantedWhole || len(payload) == len(msg)
		case ok && (sport == op || dport == op) && p.Length > 1000:
			if len(p.Data) != snap {
				t.Fatalf("the other port's %d-byte frame arrived with %d bytes, want %d", p.Length, len(p.Data), snap)
			}
			if !strings.HasPrefix(msg, string(payload)) || len(payload) == 0 {
				t.Fatalf("the cut frame's payload %q is not the message's first bytes", payload)
			}
			otherCut = true
		default:
			// Any other IP or ARP traffic on lo is cut too.
			if len(p.Data) > snap {
				t.Fatalf("a frame of no decoder port arrived with %d bytes (snap %d): %x", len(p.Data), snap, p.Data[:64])
			}
		}
	}
	if !otherCut {
		t.Error("the other port's 3000-byte segment was not seen (cut)")
	}
	st, err := live.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Trimmed == 0 || st.Snapped != 0 {
		t.Errorf("stats %+v: want frames trimmed by the filter and none snapped by the ring", st)
	}
}
