package capture

import (
	"encoding/binary"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// maxPcapRecord bounds one pcap record. libpcap's MAXIMUM_SNAPLEN is 262144;
// some writers (dpkt) declare a small snap length and write larger records
// anyway, so the bound is the larger of that and the file's snap length, but
// never more than this, whatever the header claims.
const (
	libpcapMaxSnaplen = 262144
	maxPcapRecord     = 16 << 20
)

// pcapReader reads the classic libpcap format: a 24-byte file header, then
// records of a 16-byte header and the captured bytes
// (draft-ietf-opsawg-pcap, sections 4 and 5).
type pcapReader struct {
	order     binary.ByteOrder
	bigEndian bool
	nanoScale int64 // nanoseconds per unit of the fractional timestamp
	snaplen   uint32
	linkType  layers.LinkType
	maxRecord int
	buf       []byte // records larger than the read buffer
}

func (r *pcapReader) readHeader(f *File) error {
	var h [24]byte
	if err := f.readFull(h[:], false, "pcap file header"); err != nil {
		return err
	}
	switch binary.LittleEndian.Uint32(h[:4]) {
	case magicMicro:
		r.order, r.nanoScale = binary.LittleEndian, 1000
	case magicNano:
		r.order, r.nanoScale = binary.LittleEndian, 1
	case magicMicroSwapped:
		r.order, r.nanoScale = binary.BigEndian, 1000
	case magicNanoSwapped:
		r.order, r.nanoScale = binary.BigEndian, 1
	}
	r.bigEndian = r.order == binary.BigEndian
	if major := r.order.Uint16(h[4:]); major != 2 {
		return f.corrupt("pcap version %d.%d (only 2.x exists)", major, r.order.Uint16(h[6:]))
	}
	r.snaplen = r.order.Uint32(h[16:])
	// The upper bits of the link-type field carry FCS information
	// (draft-ietf-opsawg-pcap, 4: LinkType and additional information).
	r.linkType = layers.LinkType(r.order.Uint32(h[20:]) & 0xffff)
	r.maxRecord = libpcapMaxSnaplen
	if int64(r.snaplen) > libpcapMaxSnaplen {
		r.maxRecord = int(min(int64(r.snaplen), maxPcapRecord))
	}
	return nil
}

// next reads the next record the general way: File.ReadPacket parses the
// common case (the whole record in the read buffer) itself and calls this for
// the rest, which it reports (a refill, a record too large or past the end of
// the file).
func (r *pcapReader) next(f *File, p *Packet) error {
	hdr, err := f.take(16, &r.buf, true, "pcap record header")
	if err != nil {
		return err
	}
	sec := int64(r.u32(hdr[0:]))
	frac := int64(r.u32(hdr[4:]))
	incl := r.u32(hdr[8:])
	orig := r.u32(hdr[12:])
	if int64(incl) > int64(r.maxRecord) {
		return f.corrupt("record of %d bytes exceeds the limit of %d", incl, r.maxRecord)
	}
	if f.exceedsFile(int64(incl)) {
		return f.truncated("pcap record", int64(incl))
	}
	data, err := f.take(int(incl), &r.buf, false, "pcap record")
	if err != nil {
		return err
	}
	*p = Packet{
		Data:      data,
		Timestamp: time.Unix(sec, frac*r.nanoScale).UTC(),
		Length:    int(max(orig, incl)),
		LinkType:  r.linkType,
	}
	return nil
}

// u32 reads the file's byte order without an interface call per field: the
// record header is on the per-packet path.
func (r *pcapReader) u32(b []byte) uint32 {
	if r.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}
