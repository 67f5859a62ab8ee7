// Package capture reads link-layer frames from capture files (pcap and pcapng,
// detected by magic number) and from live interfaces (AF_PACKET, cgo-free).
// It yields bytes and timestamps; it never decodes beyond the link type and
// never transmits.
package capture

import (
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
