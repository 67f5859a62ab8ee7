package flow

import (
	"fmt"
	"slices"

	"github.com/gopacket/gopacket/layers"
)

// LinkTypeCount is how many frames of one link type the Table skipped
// because the Decoder does not handle that link type.
type LinkTypeCount struct {
	LinkType layers.LinkType
	Frames   uint64
}

// String says it for a warning: "3 frames of link type 105 (IEEE 802.11)".
func (c LinkTypeCount) String() string {
	return fmt.Sprintf("%d frames of link type %d (%s)", c.Frames, uint32(c.LinkType), LinkTypeName(c.LinkType))
}

// UnsupportedLinkTypes returns the frames skipped so far per link type the
// Decoder does not handle (IEEE 802.11, USB, a USERn type…), by link
// type. Such frames are also counted in Stats.DecodeErrors.
func (t *Table) UnsupportedLinkTypes() []LinkTypeCount {
	out := make([]LinkTypeCount, 0, len(t.unsupported))
	for lt, n := range t.unsupported {
		out = append(out, LinkTypeCount{lt, n})
	}
	slices.SortFunc(out, func(a, b LinkTypeCount) int { return int(a.LinkType) - int(b.LinkType) })
	return out
}

// LinkTypeName names a link type (the LINKTYPE_ values of
// https://www.tcpdump.org/linktypes.html) for people: the common ones by
// name, USER0-USER15 as private, others as unknown.
func LinkTypeName(lt layers.LinkType) string {
	if lt >= 147 && lt <= 162 {
		return fmt.Sprintf("USER%d, reserved for private use", lt-147)
	}
	if n, ok := linkTypeNames[lt]; ok {
		return n
	}
	return "not a known link type"
}

var linkTypeNames = map[layers.LinkType]string{
	0:   "BSD loopback",
	1:   "Ethernet",
	6:   "IEEE 802.5 Token Ring",
	9:   "PPP",
	10:  "FDDI",
	50:  "PPP in HDLC framing",
	51:  "PPPoE",
	101: "raw IP",
	104: "Cisco HDLC",
	105: "IEEE 802.11",
	108: "OpenBSD loopback",
	113: "Linux cooked capture",
	119: "IEEE 802.11 with Prism header",
	127: "IEEE 802.11 with radiotap header",
	163: "IEEE 802.11 with AVS header",
	187: "Bluetooth HCI UART",
	189: "Linux USB",
	192: "PPI",
	195: "IEEE 802.15.4",
	220: "Linux USB, memory-mapped",
	228: "raw IPv4",
	229: "raw IPv6",
	249: "Linux netlink",
	276: "Linux cooked capture v2",
}
