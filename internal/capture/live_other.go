//go:build !linux

package capture

import (
	"errors"

	"golang.org/x/net/bpf"
)

// LiveOptions configures OpenLive; see the Linux implementation.
type LiveOptions struct {
	Ports         []uint16
	UDPPorts      []uint16
	SnapOther     int
	Filter        []bpf.RawInstruction
	RingMiB       int
	NoPromiscuous bool
}

// LiveStats are the counters of a live capture.
type LiveStats struct {
	Received, KernelDrops, QueueFreezes, Snapped, Trimmed uint64
}

// Live is unavailable off Linux: live capture uses AF_PACKET.
type Live struct{}

// OpenLive reports that live capture needs Linux (AF_PACKET); replay of
// capture files works everywhere.
func OpenLive(iface string, opts LiveOptions) (*Live, error) {
	return nil, errors.New("live capture needs Linux (AF_PACKET)")
}

func (*Live) Next() (Packet, error)     { return Packet{}, errors.New("live capture needs Linux") }
func (*Live) Stats() (LiveStats, error) { return LiveStats{}, nil }
func (*Live) Close() error              { return nil }
func (*Live) Interface() string         { return "" }
