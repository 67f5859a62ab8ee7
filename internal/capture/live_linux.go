//go:build linux

package capture

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// LiveOptions configures OpenLive. The zero value captures TCP on any port,
// whole, and nothing else.
type LiveOptions struct {
	// Ports are the TCP ports the kernel filter keeps whole (either
	// direction) when Filter is nil: the configured Modbus, OPC UA and
	// DNP3 ports.
	Ports []uint16
	// UDPPorts are the UDP ports it keeps whole too (DNP3 over UDP).
	UDPPorts []uint16
	// SnapOther, when Filter is nil, is how many bytes of every other
	// IPv4, IPv6 or ARP frame the kernel copies (SnapFilter; sluice
	// monitor's --snap-other, DefaultSnapOther by default); 0 drops
	// them in the kernel, the filter of the agent before issue #11.
	// With Filter, it is the snap length Filter gives the frames it cuts
	// on purpose (CompileFilterSnap), 0 for none: LiveStats.Trimmed
	// counts them apart from Snapped.
	SnapOther int
	// Filter, when set, replaces the port filter: a classic BPF program
	// for Ethernet frames, from CompileFilter or CompileFilterSnap of the
	// operator's --bpf expression.
	Filter []bpf.RawInstruction
	// RingMiB is the size of the TPACKET_V3 ring (default 64 MiB): how
	// long a burst the kernel can hold while the agent is busy.
	RingMiB int
	// NoPromiscuous leaves the interface's promiscuous flag alone. A span
	// port delivers frames addressed to other hosts, which the kernel
	// drops unless the interface is promiscuous, so it is on by default.
	NoPromiscuous bool
}

// pollTimeout bounds how long Next blocks in poll(2) before it looks at
// whether Close was called.
const pollTimeout = 200 * time.Millisecond

// dropOutgoing rejects frames the host itself sends (packet type
// PACKET_OUTGOING, linux/if_packet.h) and falls through to the filter
// appended after it; BPF jumps are relative, so the appended program is
// unchanged.
var dropOutgoing = mustAssemble(
	bpf.LoadExtension{Num: bpf.ExtType},
	bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 4 /* PACKET_OUTGOING */, SkipTrue: 1},
	bpf.RetConstant{Val: 0},
)

func mustAssemble(ins ...bpf.Instruction) []bpf.RawInstruction {
	raw, err := bpf.Assemble(ins)
	if err != nil {
		panic(err) // a constant program: caught by any test that opens a live capture
	}
	return raw
}

// Live is a Source reading from a network interface through an AF_PACKET
// TPACKET_V3 memory-mapped ring, without cgo.
//
// Live is receive-only: it has no method that writes to the socket and never
// exposes the underlying handle, so the agent stays passive on the wire (the
// systemd unit grants CAP_NET_RAW, which would allow sending).
//
// Next and Close may be called from different goroutines; Next is not safe
// for concurrent use with itself.
type Live struct {
	iface string
	mu    sync.Mutex // held by Next while it owns the ring
	tp    *afpacket.TPacket
	quit  atomic.Bool

	statsMu sync.Mutex
	closed  bool
	snapped atomic.Uint64 // frames longer than the ring's frame size
	trimmed atomic.Uint64 // frames the filter cut to snapOther on purpose
	// snapOther is the default filter's snap length of the frames no
	// decoder needs (0 with --bpf): a frame of exactly that many bytes
	// out of more was trimmed by design, not lost.
	snapOther int
	last      LiveStats

	// filteredFrom is when the kernel filter was attached. AF_PACKET
	// starts queueing frames when the socket is bound, an instant before
	// the filter is in place, so frames stamped earlier may be any
	// traffic on the interface; Next drops them (as libpcap flushes its
	// socket after setting a filter). Once one later frame is seen the
	// check is off: the ring is in arrival order.
	filteredFrom time.Time
	settled      bool

	frame []byte // the last frame, copied out of the ring (see Next)
	idle  func() // OnIdle's function, called by Next at each poll timeout
}

var _ Source = (*Live)(nil)

// LiveStats are the counters of a live capture.
type LiveStats struct {
	// Received is what the kernel passed the filter and queued.
	Received uint64
	// KernelDrops is what the kernel dropped because the ring was full:
	// the agent did not keep up.
	KernelDrops uint64
	// QueueFreezes counts times the ring filled up (TPACKET_V3).
	QueueFreezes uint64
	// Snapped counts frames delivered shorter than on the wire because
	// they did not fit the ring's frame size (64 KiB); their TCP payload
	// is incomplete and the flow layer will see gaps.
	Snapped uint64
	// Trimmed counts frames the default filter cut to LiveOptions'
	// SnapOther bytes on purpose: traffic no decoder reads, of which the
	// agent needs the headers and first bytes only.
	Trimmed uint64
}

// OpenLive opens iface for capture, attaches the kernel filter (opts.Filter,
// or SnapFilter of opts.Ports, UDPPorts and SnapOther) and turns on
// promiscuous mode.
//
// The interface must frame packets as Ethernet (a NIC, a bridge, a span or
// TAP port, lo): the kernel filter and the decoder read Ethernet headers.
// Interfaces without (tun, ppp, the "any" pseudo-device) are refused.
func OpenLive(iface string, opts LiveOptions) (*Live, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", iface, err)
	}
	if ifc.Flags&net.FlagLoopback == 0 && len(ifc.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%s: not an Ethernet interface (hardware address %q): only Ethernet framing is supported", iface, ifc.HardwareAddr)
	}
	filter, snapOther := opts.Filter, opts.SnapOther
	if filter == nil {
		if filter, err = SnapFilter(opts.Ports, opts.UDPPorts, snapOther); err != nil {
			return nil, fmt.Errorf("%s: %w", iface, err)
		}
	}
	if ifc.Flags&net.FlagLoopback != 0 {
		// On loopback the kernel shows every frame twice, leaving and
		// arriving; keep the arriving copy only, or reassembly would see
		// each segment as its own retransmission.
		filter = append(dropOutgoing[:len(dropOutgoing):len(dropOutgoing)], filter...)
	}
	ring := opts.RingMiB
	if ring <= 0 {
		ring = 64
	}
	const frameSize = 1 << 16 // jumbo frames fit; V3 packs small frames densely anyway
	const blockSize = 1 << 20
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.TPacketVersion3,
		afpacket.OptFrameSize(frameSize),
		afpacket.OptBlockSize(blockSize),
		afpacket.OptNumBlocks(ring),
		afpacket.OptPollTimeout(pollTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("%s: open AF_PACKET socket: %w", iface, err)
	}
	if err := tp.SetBPF(filter); err != nil {
		tp.Close()
		return nil, fmt.Errorf("%s: attach filter: %w", iface, err)
	}
	filteredFrom := time.Now()
	if !opts.NoPromiscuous {
		if err := tp.SetPromiscuous(true); err != nil {
			tp.Close()
			return nil, fmt.Errorf("%s: promiscuous mode: %w", iface, err)
		}
	}
	// Counters start at the moment the filter is in place: drops of the
	// unfiltered instant before are not ours.
	if err := tp.InitSocketStats(); err != nil {
		tp.Close()
		return nil, fmt.Errorf("%s: socket statistics: %w", iface, err)
	}
	return &Live{iface: iface, tp: tp, filteredFrom: filteredFrom, snapOther: snapOther}, nil
}

// Next blocks until a frame arrives and returns it; Data is valid until the
// next call, even if Close is called meanwhile. After Close it returns
// io.EOF.
func (l *Live) Next() (Packet, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.quit.Load() || l.tp == nil {
			return Packet{}, io.EOF
		}
		data, ci, err := l.tp.ZeroCopyReadPacketData()
		if errors.Is(err, afpacket.ErrTimeout) {
			if l.idle != nil {
				l.idle()
			}
			continue
		}
		if err != nil {
			return Packet{}, fmt.Errorf("%s: read: %w", l.iface, err)
		}
		if !l.settled {
			if ci.Timestamp.Before(l.filteredFrom) {
				continue // queued before the filter was attached
			}
			l.settled = true
		}
		if ci.Length > len(data) {
			if len(data) == l.snapOther {
				l.trimmed.Add(1)
			} else {
				l.snapped.Add(1)
			}
		}
		// Copy the frame out of the ring: Close may unmap the ring from
		// another goroutine while the caller is still decoding this packet
		// (a SIGSEGV, not a recoverable panic, was seen in the live tests).
		// One copy of a frame costs far less than decoding it.
		l.frame = append(l.frame[:0], data...)
		return Packet{
			Data:      l.frame,
			Timestamp: ci.Timestamp.UTC(),
			Length:    ci.Length,
			LinkType:  layers.LinkTypeEthernet,
		}, nil
	}
}

// OnIdle implements Idler: fn is called by Next at each poll timeout
// (pollTimeout) while no frame arrives.
func (l *Live) OnIdle(fn func()) { l.idle = fn }

// Interface is the name of the interface captured on.
func (l *Live) Interface() string { return l.iface }

// Stats returns the counters so far. The kernel resets its counters each
// time they are read, so Live accumulates them.
func (l *Live) Stats() (LiveStats, error) {
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	if l.closed {
		return l.last, nil
	}
	_, v3, err := l.tp.SocketStats()
	if err != nil {
		return l.last, fmt.Errorf("%s: socket statistics: %w", l.iface, err)
	}
	l.last = LiveStats{
		Received:     uint64(v3.Packets()),
		KernelDrops:  uint64(v3.Drops()),
		QueueFreezes: uint64(v3.QueueFreezes()),
		Snapped:      l.snapped.Load(),
		Trimmed:      l.trimmed.Load(),
	}
	return l.last, nil
}

// Close stops the capture. It waits for a Next in progress to return (at
// most the poll timeout), then releases the ring and the socket.
func (l *Live) Close() error {
	l.quit.Store(true)
	l.Stats() // keep the final counters readable after Close
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statsMu.Lock()
	defer l.statsMu.Unlock()
	if l.tp != nil {
		l.tp.Close()
		l.tp = nil
	}
	l.closed = true
	return nil
}
