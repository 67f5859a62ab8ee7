package flow

import (
	"encoding/binary"
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TCP flag bits as they sit in byte 13 of the TCP header (RFC 9293, 3.1).
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// Segment is one decoded TCP segment. It is owned by the Decoder and
// overwritten by the next Decode; Payload aliases the frame.
type Segment struct {
	// Src and Dst hold the addresses: IPv4 in the first 4 bytes when V6 is
	// false, so a Segment can be keyed without allocating.
	Src, Dst         [16]byte
	V6               bool
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8 // flagFIN | flagSYN | flagRST | flagACK bits
	Payload          []byte
	// Missing is how many payload bytes the IP header claims beyond those
	// captured. It means lost stream bytes only when the capture snapped
	// the frame (its wire length exceeds what was kept); a frame kept
	// whole with a longer IP length is lying, and Table ignores the claim.
	Missing int
	// SrcMAC and DstMAC are set when the link type carries them
	// (Ethernet); HasMAC tells.
	SrcMAC, DstMAC [6]byte
	HasMAC         bool
}

// SYN, ACK, FIN and RST report the segment's control flags.
func (s *Segment) SYN() bool { return s.Flags&flagSYN != 0 }
func (s *Segment) ACK() bool { return s.Flags&flagACK != 0 }
func (s *Segment) FIN() bool { return s.Flags&flagFIN != 0 }
func (s *Segment) RST() bool { return s.Flags&flagRST != 0 }

// ErrLinkType is Decode's error for a link type the Decoder does not
// handle, returned as it is: a capture full of frames of another link type
// costs no allocation per frame (Table.UnsupportedLinkTypes names them).
var ErrLinkType = errors.New("unsupported link type")

var errBadVersion = errors.New("IP version does not match its EtherType or link type")

// Decoder turns link-layer frames into TCP segments with gopacket's
// DecodingLayerParser: the layers are preallocated once and reused, so
// decoding allocates nothing per packet.
//
// Handled: Ethernet (with 802.1Q tags, stacked as QinQ: 802.1ad 0x88a8 or
// the pre-standard 0x9100), Linux
// cooked capture v1 and v2, BSD loopback (NULL and OpenBSD LOOP), raw IP
// (LINKTYPE_RAW and the DLT_RAW values 12 and 14, LINKTYPE_IPV4/IPV6); IPv4
// and IPv6 with its extension headers; TCP. Everything else (ARP, UDP, IP
// fragments, LLC) is skipped without an error. Fragments are not
// reassembled: TCP avoids fragmentation with path MTU discovery, and a
// fragment flood must not buy memory in a passive monitor. TCP checksums are
// not verified: captures taken on the sending host carry offloaded,
// not-yet-computed checksums.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	eth   ethLayer
	sll   sllLayer
	sll2  sll2Layer
	lo    layers.Loopback
	dot1q dot1qLayer
	ip4   layers.IPv4
	ip6   layers.IPv6
	ext6  layers.IPv6ExtensionSkipper
	frag6 layers.IPv6Fragment
	tcp   tcpLayer

	// One parser per first layer; they share the layer values above.
	pEth, pSLL, pSLL2, pLo, pIP4, pIP6 *gopacket.DecodingLayerParser
	decoded                            []gopacket.LayerType
	seg                                Segment
	// key and srcIsA are seg's flow key and side (flowKey.set), made
	// by fastEthernet from the bytes it decodes; Table takes them from
	// there rather than reading seg's addresses back.
	key    flowKey
	srcIsA bool
}

// NewDecoder returns a Decoder ready for every supported link type.
func NewDecoder() *Decoder {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	// The extension skipper covers every IPv6 extension header; the
	// fragment decoder, put after it, takes the fragment header back so
	// that only an atomic fragment (RFC 6946) leads on to TCP.
	all := []gopacket.DecodingLayer{&d.eth, &d.sll, &d.sll2, &d.lo, &d.dot1q, &d.ip4, &d.ip6, &d.ext6, &d.frag6, &d.tcp}
	// The sparse container indexes decoders by layer type: the fastest
	// of gopacket's containers, and the types here are small numbers.
	var sparse gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
	for _, l := range all {
		sparse = sparse.Put(l)
	}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first)
		p.SetDecodingLayerContainer(sparse)
		// A layer we do not decode (ARP, UDP, a fragment) ends the
		// walk quietly: the frame just carries no TCP for us.
		p.IgnoreUnsupported = true
		return p
	}
	d.pEth = mk(layers.LayerTypeEthernet)
	d.pSLL = mk(layers.LayerTypeLinuxSLL)
	d.pSLL2 = mk(layers.LayerTypeLinuxSLL2)
	d.pLo = mk(layers.LayerTypeLoopback)
	d.pIP4 = mk(layers.LayerTypeIPv4)
	d.pIP6 = mk(layers.LayerTypeIPv6)
	return d
}

// ethernetTypeQinQ9100 is the TPID of a VLAN tag in the QinQ of switches
// that predate 802.1ad (Cisco, Juniper and others: "0x9100"). gopacket knows
// 0x8100 and 0x88a8 only, so a frame tagged with it ended as unsupported.
const ethernetTypeQinQ9100 layers.EthernetType = 0x9100

// tagged returns the layer after a header whose EtherType is t and whose
// own decoder says next: a VLAN tag for 0x9100 too.
func tagged(next gopacket.LayerType, t layers.EthernetType) gopacket.LayerType {
	if t == ethernetTypeQinQ9100 {
		return layers.LayerTypeDot1Q
	}
	return next
}

// ethLayer, dot1qLayer, sllLayer and sll2Layer are gopacket's layers with
// the 0x9100 TPID taken as a VLAN tag (tagged); everything else is theirs.
type (
	ethLayer   struct{ layers.Ethernet }
	dot1qLayer struct{ layers.Dot1Q }
	sllLayer   struct{ layers.LinuxSLL }
	sll2Layer  struct{ layers.LinuxSLL2 }
)

func (l *ethLayer) NextLayerType() gopacket.LayerType {
	return tagged(l.Ethernet.NextLayerType(), l.EthernetType)
}

func (l *dot1qLayer) NextLayerType() gopacket.LayerType {
	return tagged(l.Dot1Q.NextLayerType(), l.Type)
}

func (l *sllLayer) NextLayerType() gopacket.LayerType {
	return tagged(l.LinuxSLL.NextLayerType(), l.EthernetType)
}

func (l *sll2Layer) NextLayerType() gopacket.LayerType {
	return tagged(l.LinuxSLL2.NextLayerType(), l.ProtocolType)
}

// tcpLayer is layers.TCP ending the walk: what follows is stream payload,
// framed after reassembly, not by gopacket's guess from the port number
// (which would try port 502 as one Modbus ADU per segment).
type tcpLayer struct{ layers.TCP }

func (*tcpLayer) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// parser picks the parser for a link type; raw IP picks by version nibble.
func (d *Decoder) parser(data []byte, lt layers.LinkType) *gopacket.DecodingLayerParser {
	switch lt {
	case layers.LinkTypeEthernet:
		return d.pEth
	case layers.LinkTypeLinuxSLL:
		return d.pSLL
	case layers.LinkTypeLinuxSLL2:
		return d.pSLL2
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return d.pLo
	case layers.LinkTypeIPv4:
		return d.pIP4
	case layers.LinkTypeIPv6:
		return d.pIP6
	case layers.LinkTypeRaw, 12, 14:
		if len(data) == 0 {
			return d.pIP4 // reports the truncation
		}
		if data[0]>>4 == 6 {
			return d.pIP6
		}
		return d.pIP4
	}
	return nil
}

// Decode decodes one frame. It returns (nil, nil) for a frame without TCP,
// and an error for a malformed or truncated frame (the error allocates; a
// well-formed frame never does). The Segment is reused by the next call.
func (d *Decoder) Decode(data []byte, lt layers.LinkType) (*Segment, error) {
	if lt == layers.LinkTypeEthernet && d.fastEthernet(data) {
		return &d.seg, nil
	}
	return d.decodeLayers(data, lt)
}

// decodeLayers is Decode through gopacket's DecodingLayerParser: every link
// type and every frame the fast path leaves alone.
func (d *Decoder) decodeLayers(data []byte, lt layers.LinkType) (*Segment, error) {
	p := d.parser(data, lt)
	if p == nil {
		return nil, ErrLinkType
	}
	if err := p.DecodeLayers(data, &d.decoded); err != nil {
		return nil, err
	}
	s := &d.seg
	*s = Segment{}
	gotTCP := false
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeEthernet:
			copy(s.SrcMAC[:], d.eth.SrcMAC)
			copy(s.DstMAC[:], d.eth.DstMAC)
			s.HasMAC = true
		case layers.LayerTypeIPv4:
			if d.ip4.Version != 4 {
				// gopacket takes the EtherType's word for it;
				// Wireshark reports "Bogus IPv4 version".
				return nil, errBadVersion
			}
			s.V6 = false
			copy(s.Src[:4], d.ip4.SrcIP)
			copy(s.Dst[:4], d.ip4.DstIP)
		case layers.LayerTypeIPv6:
			if d.ip6.Version != 6 {
				return nil, errBadVersion
			}
			s.V6 = true
			copy(s.Src[:], d.ip6.SrcIP)
			copy(s.Dst[:], d.ip6.DstIP)
		case layers.LayerTypeTCP:
			gotTCP = true
		}
	}
	if !gotTCP {
		return nil, nil
	}
	t := &d.tcp
	s.SrcPort, s.DstPort = uint16(t.SrcPort), uint16(t.DstPort)
	s.Seq, s.Ack = t.Seq, t.Ack
	if t.FIN {
		s.Flags |= flagFIN
	}
	if t.SYN {
		s.Flags |= flagSYN
	}
	if t.RST {
		s.Flags |= flagRST
	}
	if t.ACK {
		s.Flags |= flagACK
	}
	s.Payload = t.Payload
	hdr := int(t.DataOffset) * 4
	claimed := -1
	if len(d.decoded) >= 2 {
		switch d.decoded[len(d.decoded)-2] {
		case layers.LayerTypeIPv4:
			claimed = int(d.ip4.Length) - int(d.ip4.IHL)*4 - hdr
		case layers.LayerTypeIPv6:
			if d.ip6.NextHeader == layers.IPProtocolTCP { // no extension header
				claimed = int(d.ip6.Length) - hdr
			}
		}
	}
	if claimed > len(s.Payload) {
		s.Missing = claimed - len(s.Payload)
	}
	return s, nil
}

// fastEthernet decodes the frame nearly every packet of a plant network is
// (untagged Ethernet II, IPv4 without options, not a fragment, TCP with a
// whole header) straight from the bytes into d.seg, and reports whether it
// did. Anything else, including every frame gopacket would reject, returns
// false and takes the DecodingLayerParser path, so the two agree on every
// input (FuzzFastPath checks it). It skips the parser's per-layer dispatch
// and TCP option walk, which the segment never uses: about a third of the
// decode cost.
//
// The checks mirror gopacket v1.7.7's Ethernet, IPv4 and TCP
// DecodeFromBytes: an IPv4 total length of 0 (TSO) is left to gopacket; a
// total length shorter than the frame cuts the Ethernet padding; a longer
// one (a snapped frame) keeps what was captured and reports the rest as
// Missing. RFC 791, 3.1 and RFC 9293, 3.1 give the header layouts.
func (d *Decoder) fastEthernet(data []byte) bool {
	const ethLen, ipLen, tcpLen = 14, 20, 20
	if len(data) < ethLen+ipLen || binary.BigEndian.Uint16(data[12:14]) != uint16(layers.EthernetTypeIPv4) {
		return false
	}
	ip := data[ethLen:]
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[0] != 0x45 || // version 4, IHL 5: no options
		total < ipLen ||
		binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 || // MF flag or a fragment offset
		ip[9] != uint8(layers.IPProtocolTCP) {
		return false
	}
	if total < len(ip) {
		ip = ip[:total]
	}
	tcp := ip[ipLen:]
	if len(tcp) < tcpLen {
		return false
	}
	hdr := int(tcp[12]>>4) * 4
	if hdr < tcpLen || hdr > len(tcp) {
		return false
	}
	// Every field is set one by one: building a whole Segment value and
	// copying it over d.seg (with a write barrier check for Payload) was
	// a third of this function. checkFastPath starts from a stale
	// Segment, so that nothing of the previous frame may survive.
	s := &d.seg
	// IPv4 in the first 4 bytes, the rest zero. Array assignments rather
	// than copy: one move each, without copy's check for overlap.
	s.Src, s.Dst = [16]byte{}, [16]byte{}
	*(*[4]byte)(s.Src[:4]) = [4]byte(ip[12:16])
	*(*[4]byte)(s.Dst[:4]) = [4]byte(ip[16:20])
	sp, dp := binary.BigEndian.Uint16(tcp[0:2]), binary.BigEndian.Uint16(tcp[2:4])
	s.SrcPort, s.DstPort = sp, dp
	// The flow key, as flowKey.set makes it from s (FuzzFastPath
	// checks), from the words at hand: the lower (address, port)
	// endpoint first.
	a, b := uint64(binary.BigEndian.Uint32(ip[12:16])), uint64(binary.BigEndian.Uint32(ip[16:20]))
	pa, pb := uint64(sp), uint64(dp)
	d.srcIsA = a < b || a == b && pa <= pb
	if !d.srcIsA {
		a, b, pa, pb = b, a, pb, pa
	}
	k := &d.key
	k.a[0], k.a[1], k.b[0], k.b[1], k.ports = a<<32, 0, b<<32, 0, pa<<32|pb<<16
	s.Seq = binary.BigEndian.Uint32(tcp[4:8])
	s.Ack = binary.BigEndian.Uint32(tcp[8:12])
	s.V6 = false
	s.Flags = tcp[13] & (flagFIN | flagSYN | flagRST | flagACK)
	s.Payload = tcp[hdr:]
	s.Missing = 0
	if claimed := total - ipLen - hdr; claimed > len(s.Payload) {
		s.Missing = claimed - len(s.Payload)
	}
	s.DstMAC, s.SrcMAC = [6]byte(data[0:6]), [6]byte(data[6:12])
	s.HasMAC = true
	return true
}
