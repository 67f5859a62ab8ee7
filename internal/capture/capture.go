// Package capture reads link-layer frames from capture files (pcap and pcapng,
// detected by magic number) and from live interfaces (AF_PACKET, cgo-free).
// It yields bytes and timestamps; it never decodes beyond the link type and
// never transmits.
package capture

import (
	"errors"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Packet is one captured frame. Data is owned by the Source and is valid only
// until the next call to Next.
type Packet struct {
	Data      []byte
	Timestamp time.Time
	// Length is the frame's length on the wire (may exceed len(Data) when
	// the capture was snapped).
	Length   int
	LinkType layers.LinkType
}

// Source yields packets in capture order. Next returns io.EOF at the end of
// a file; a truncated file yields every complete packet and then an error
// wrapping ErrTruncated.
type Source interface {
	Next() (Packet, error)
	Close() error
}

// Idler is a Source that waits for packets inside Next (a live capture on
// a quiet link) and can call a function meanwhile: OnIdle's fn is called
// from Next, on the goroutine that called it, whenever the wait has lasted
// a while without a packet (Live: every poll timeout, 200 ms). A wrapper
// that publishes the reader's state (the metrics) uses it to keep time
// while no packet comes. Call OnIdle before the first Next.
type Idler interface {
	OnIdle(fn func())
}

// ErrTruncated is wrapped by the error Next returns when a capture file ends
// in the middle of a record (a capture cut short by a full disk, a killed
// tcpdump or a partial copy). Every complete record before the cut has been
// returned by then.
var ErrTruncated = errors.New("capture truncated")

// ErrNotCapture is wrapped by the error OpenFile returns when a file starts
// with neither a pcap nor a pcapng magic number.
var ErrNotCapture = errors.New("not a capture file")

// ErrCorrupt is wrapped by the error Next returns when a record is
// structurally impossible (a length beyond every sane bound, a pcapng block
// whose trailing length disagrees with its leading one). Reading stops there:
// the framing of what follows cannot be trusted.
var ErrCorrupt = errors.New("corrupt capture")

// Link types with the same meaning as layers.LinkTypeRaw that appear in real
// files: DLT_RAW is 12 on most BSDs and 14 on OpenBSD, and some writers store
// the DLT rather than the LINKTYPE_ value (libpcap's pcap-common.c maps both
// to LINKTYPE_RAW 101). layers.LinkTypeIPv4 (228) and layers.LinkTypeIPv6
// (229) are raw IP of one version only.
const (
	LinkTypeRawBSD     layers.LinkType = 12
	LinkTypeRawOpenBSD layers.LinkType = 14
)
