package capture

// This file keeps the capture reader as it was before it parsed records out
// of its own buffer (a bufio.Reader with Peek and Discard, commit 7af1222),
// as an oracle: TestReaderMatchesReference and FuzzReaderMatchesReference
// check that the faster reader returns the same packets and the same errors
// on real, cut and damaged captures. Only the type names differ.

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// refFile is a Source reading a pcap or pcapng capture. It is not safe for
// concurrent use. Packet.Data returned by Next is reused by the next call.
type refFile struct {
	name   string
	closer io.Closer
	br     *bufio.Reader
	size   int64 // -1 when unknown (and for the decompressed content of a gzip file)
	off    int64 // bytes consumed so far
	// gz counts the compressed bytes read when the file is gzip-compressed;
	// Progress reports those against the file's size.
	gz       *refCountingReader
	fileSize int64
	format   Format
	pcap     refPcapReader
	ng       refNgReader
	err      error // sticky: once a read fails, every later Next returns it
}

func refNewFile(r io.Reader, name string, size int64) (*refFile, error) {
	f := &refFile{name: name, br: bufio.NewReaderSize(r, (256 << 10)), size: size}
	head, err := f.br.Peek(4)
	if len(head) < 4 {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(head) == 0 {
			return nil, fmt.Errorf("%s: %w (empty file)", name, ErrNotCapture)
		}
		return nil, fmt.Errorf("%s: %w (only %d bytes)", name, ErrNotCapture, len(head))
	}
	magic := binary.BigEndian.Uint32(head)
	if head[0] == 0x1f && head[1] == 0x8b {
		// gzip (RFC 1952): captures are often archived compressed.
		// Read through it; progress follows the compressed bytes.
		f.gz = &refCountingReader{r: f.br}
		zr, err := gzip.NewReader(f.gz)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (gzip: %v)", name, ErrNotCapture, err)
		}
		f.fileSize, f.size = size, -1
		f.br = bufio.NewReaderSize(zr, (256 << 10))
		if head, err = f.br.Peek(4); len(head) < 4 {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: %w (gzip: %v)", name, ErrNotCapture, err)
			}
			return nil, fmt.Errorf("%s: %w (gzip-compressed, %d bytes inside)", name, ErrNotCapture, len(head))
		}
		magic = binary.BigEndian.Uint32(head)
		if magic != magicMicro && magic != magicNano && magic != magicMicroSwapped && magic != magicNanoSwapped && magic != magicPcapng {
			return nil, fmt.Errorf("%s: %w (gzip-compressed, magic 0x%08x inside)", name, ErrNotCapture, magic)
		}
	}
	switch magic {
	case magicMicro, magicNano, magicMicroSwapped, magicNanoSwapped:
		f.format = FormatPcap
		err = f.pcap.readHeader(f)
	case magicPcapng:
		f.format = FormatPcapng
		err = f.ng.init(f)
	default:
		return nil, fmt.Errorf("%s: %w (magic 0x%08x)", name, ErrNotCapture, magic)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Next returns the next packet. It returns io.EOF at a clean end of file, an
// error wrapping ErrTruncated when the file stops inside a record, and one
// wrapping ErrCorrupt when a record cannot be framed; every error names the
// file and the byte offset.
func (f *refFile) Next() (Packet, error) {
	if f.err != nil {
		return Packet{}, f.err
	}
	var (
		p   Packet
		err error
	)
	if f.format == FormatPcap {
		p, err = f.pcap.next(f)
	} else {
		p, err = f.ng.next(f)
	}
	if err != nil {
		f.err = err
	}
	return p, err
}

// Progress returns how many bytes of the file have been consumed and its
// total size (-1 when unknown, e.g. a pipe), so a long replay can show a
// percentage.
func (f *refFile) Progress() (read, size int64) {
	if f.gz != nil {
		// Compressed bytes through the decompressor, minus what it
		// holds buffered: close enough for a progress bar.
		return f.gz.n, f.fileSize
	}
	return f.off, f.size
}

// refCountingReader counts the bytes read through it.
type refCountingReader struct {
	r io.Reader
	n int64
}

func (c *refCountingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readFull reads exactly len(buf) bytes. A clean end of file before the
// first byte is io.EOF only when atRecordStart; anything else that ends early
// is a truncation.
func (f *refFile) readFull(buf []byte, atRecordStart bool, what string) error {
	start := f.off
	n, err := io.ReadFull(f.br, buf)
	f.off += int64(n)
	return f.readErr(err, start, n, len(buf), atRecordStart, what)
}

// take returns the next n bytes without copying them when they fit in the
// read buffer (the slice then points into it, valid until the next read),
// else read into *scratch. Errors are those of readFull.
func (f *refFile) take(n int, scratch *[]byte, atRecordStart bool, what string) ([]byte, error) {
	if n > f.br.Size() {
		*scratch = refGrow(*scratch, n)
		return *scratch, f.readFull(*scratch, atRecordStart, what)
	}
	start := f.off
	b, err := f.br.Peek(n)
	// Discard only advances past bytes Peek has buffered: it reads
	// nothing, so b stays valid.
	f.br.Discard(len(b))
	f.off += int64(len(b))
	if len(b) == n {
		return b, nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return nil, f.readErr(err, start, len(b), n, atRecordStart, what)
}

// readErr classifies a read that stopped after n of want bytes.
func (f *refFile) readErr(err error, start int64, n, want int, atRecordStart bool, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) && n == 0 && atRecordStart {
		return io.EOF
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %w: %s at offset %d has %d of %d bytes", f.name, ErrTruncated, what, start, n, want)
	}
	var flateErr flate.CorruptInputError
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &flateErr) {
		return fmt.Errorf("%s: %w at offset %d: %s: %v", f.name, ErrCorrupt, start, what, err)
	}
	return fmt.Errorf("%s: read %s at offset %d: %w", f.name, what, start, err)
}

// exceedsFile reports whether n more bytes would run past the end of a file
// of known size: a truncated record, recognised before a buffer is grown for
// it (a hostile length field cannot make the reader allocate).
func (f *refFile) exceedsFile(n int64) bool {
	return f.size >= 0 && f.off+n > f.size
}

// truncated consumes the rest of the file and returns the truncation error
// for a record of want bytes of which only the tail of the file remains.
func (f *refFile) truncated(what string, want int64) error {
	start := f.off
	n, _ := f.br.Discard(int(min(want, int64(^uint(0)>>1))))
	f.off += int64(n)
	return fmt.Errorf("%s: %w: %s at offset %d has %d of %d bytes", f.name, ErrTruncated, what, start, n, want)
}

func (f *refFile) corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w at offset %d: %s", f.name, ErrCorrupt, f.off, fmt.Sprintf(format, args...))
}

// refGrow returns buf resized to n bytes, reallocating only when it is too small.
func refGrow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n, max(n, 2*cap(buf)))
	}
	return buf[:n]
}

// refPcapReader reads the classic libpcap format: a 24-byte file header, then
// records of a 16-byte header and the captured bytes
// (draft-ietf-opsawg-pcap, sections 4 and 5).
type refPcapReader struct {
	order     binary.ByteOrder
	bigEndian bool
	nanoScale int64 // nanoseconds per unit of the fractional timestamp
	snaplen   uint32
	linkType  layers.LinkType
	maxRecord int
	buf       []byte // records larger than the read buffer
}

func (r *refPcapReader) readHeader(f *refFile) error {
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

func (r *refPcapReader) next(f *refFile) (Packet, error) {
	hdr, err := f.take(16, &r.buf, true, "pcap record header")
	if err != nil {
		return Packet{}, err
	}
	sec := int64(r.u32(hdr[0:]))
	frac := int64(r.u32(hdr[4:]))
	incl := r.u32(hdr[8:])
	orig := r.u32(hdr[12:])
	if int64(incl) > int64(r.maxRecord) {
		return Packet{}, f.corrupt("record of %d bytes exceeds the limit of %d", incl, r.maxRecord)
	}
	if f.exceedsFile(int64(incl)) {
		return Packet{}, f.truncated("pcap record", int64(incl))
	}
	data, err := f.take(int(incl), &r.buf, false, "pcap record")
	if err != nil {
		return Packet{}, err
	}
	return Packet{
		Data:      data,
		Timestamp: time.Unix(sec, frac*r.nanoScale).UTC(),
		Length:    int(max(orig, incl)),
		LinkType:  r.linkType,
	}, nil
}

// u32 reads the file's byte order without an interface call per field: the
// record header is on the per-packet path.
func (r *refPcapReader) u32(b []byte) uint32 {
	if r.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// refNgInterface is what an Interface Description Block says about the packets
// that reference it.
type refNgInterface struct {
	linkType layers.LinkType
	snaplen  uint32
	// Timestamps are counts of units of 10^-exp (pow2 false) or 2^-exp
	// (pow2 true) seconds, plus offset seconds.
	exp    uint8
	pow2   bool
	offset int64
}

// refNgReader reads pcapng: a sequence of blocks, each framed by its type and a
// total length repeated at its end (draft-ietf-opsawg-pcapng, section 3).
// Each section (SHB) has its own byte order and its own interfaces; every
// packet carries its interface's link type, so one file may mix link types.
type refNgReader struct {
	order  binary.ByteOrder
	ifaces []refNgInterface
	hdr    [12]byte
	body   []byte // the current block: in the read buffer, or in scratch
	// scratch holds blocks larger than the read buffer.
	scratch []byte
}

// init reads the first Section Header Block; the caller has seen its magic.
func (r *refNgReader) init(f *refFile) error {
	_, err := r.readBlock(f, true)
	if err != nil {
		return err
	}
	return nil
}

// readBlock reads one block into r.body (without its 8-byte header and
// 4-byte trailer) and returns its type. An SHB is handled here because it
// sets the byte order that the lengths of every later block are read with.
func (r *refNgReader) readBlock(f *refFile, first bool) (uint32, error) {
	if err := f.readFull(r.hdr[:8], !first, "pcapng block header"); err != nil {
		return 0, err
	}
	typ := binary.LittleEndian.Uint32(r.hdr[0:])
	if typ == ngBlockSHB {
		// The byte-order magic follows the length: read it to learn
		// how to read the length.
		if err := f.readFull(r.hdr[8:12], false, "pcapng section header"); err != nil {
			return 0, err
		}
		switch {
		case binary.LittleEndian.Uint32(r.hdr[8:]) == ngBOM:
			r.order = binary.LittleEndian
		case binary.BigEndian.Uint32(r.hdr[8:]) == ngBOM:
			r.order = binary.BigEndian
		default:
			return 0, f.corrupt("section header byte-order magic 0x%08x", binary.BigEndian.Uint32(r.hdr[8:]))
		}
	} else if first {
		return 0, f.corrupt("first block is not a section header")
	}
	typ = r.order.Uint32(r.hdr[0:])
	total := r.order.Uint32(r.hdr[4:])
	if total < 12 || total%4 != 0 || total > maxNgBlock || (typ == ngBlockSHB && total < 28) {
		return 0, f.corrupt("block type 0x%08x with impossible length %d", typ, total)
	}
	read := int64(8) // header bytes already consumed
	if typ == ngBlockSHB {
		read = 12
	}
	rest := int64(total) - read // body after what was read, plus trailer
	if f.exceedsFile(rest) {
		return 0, f.truncated("pcapng block", rest)
	}
	body, err := f.take(int(rest), &r.scratch, false, "pcapng block")
	if err != nil {
		return 0, err
	}
	r.body = body
	trailer := r.order.Uint32(r.body[len(r.body)-4:])
	if trailer != total {
		return 0, f.corrupt("block length %d, trailer says %d", total, trailer)
	}
	r.body = r.body[:len(r.body)-4]
	if typ == ngBlockSHB {
		// Body after the BOM: major, minor, section length, options.
		if major := r.order.Uint16(r.body[0:]); major != 1 {
			return 0, f.corrupt("pcapng version %d (only 1.x exists)", major)
		}
		r.ifaces = r.ifaces[:0]
	}
	return typ, nil
}

func (r *refNgReader) next(f *refFile) (Packet, error) {
	for {
		typ, err := r.readBlock(f, false)
		if err != nil {
			return Packet{}, err
		}
		b := r.body
		switch typ {
		case ngBlockIDB:
			if err := r.addInterface(f, b); err != nil {
				return Packet{}, err
			}
		case ngBlockEPB:
			// Interface ID, timestamp (high, low), captured and
			// original length, data, options (4.3).
			if len(b) < 20 {
				return Packet{}, f.corrupt("enhanced packet block of %d bytes", len(b))
			}
			return r.packet(f, r.order.Uint32(b[0:]), r.order.Uint32(b[4:]), r.order.Uint32(b[8:]),
				r.order.Uint32(b[12:]), r.order.Uint32(b[16:]), b[20:])
		case ngBlockOPB:
			// Interface ID (16 bits), drops count (16 bits), then as
			// the EPB (appendix A).
			if len(b) < 20 {
				return Packet{}, f.corrupt("packet block of %d bytes", len(b))
			}
			return r.packet(f, uint32(r.order.Uint16(b[0:])), r.order.Uint32(b[4:]), r.order.Uint32(b[8:]),
				r.order.Uint32(b[12:]), r.order.Uint32(b[16:]), b[20:])
		case ngBlockSPB:
			// Original length, data; captured length is implied by
			// the block length and interface 0's snap length (4.4).
			if len(b) < 4 {
				return Packet{}, f.corrupt("simple packet block of %d bytes", len(b))
			}
			if len(r.ifaces) == 0 {
				return Packet{}, f.corrupt("simple packet block before any interface description")
			}
			orig := r.order.Uint32(b[0:])
			capLen := min(uint32(len(b)-4), orig)
			if sl := r.ifaces[0].snaplen; sl != 0 {
				capLen = min(capLen, sl)
			}
			return Packet{
				Data:     b[4 : 4+capLen],
				Length:   int(orig),
				LinkType: r.ifaces[0].linkType,
				// An SPB has no timestamp.
			}, nil
		default:
			// Name resolution, statistics, decryption secrets,
			// custom blocks: nothing a passive decoder needs.
		}
	}
}

func (r *refNgReader) packet(f *refFile, ifID, tsHigh, tsLow, capLen, orig uint32, data []byte) (Packet, error) {
	if int(ifID) >= len(r.ifaces) {
		return Packet{}, f.corrupt("packet on interface %d, only %d described", ifID, len(r.ifaces))
	}
	if uint64(capLen) > uint64(len(data)) {
		return Packet{}, f.corrupt("captured length %d exceeds its block (%d bytes)", capLen, len(data))
	}
	ifc := &r.ifaces[ifID]
	return Packet{
		Data:      data[:capLen],
		Timestamp: ifc.time(uint64(tsHigh)<<32 | uint64(tsLow)),
		Length:    int(max(orig, capLen)),
		LinkType:  ifc.linkType,
	}, nil
}

func (r *refNgReader) addInterface(f *refFile, b []byte) error {
	if len(b) < 8 {
		return f.corrupt("interface description block of %d bytes", len(b))
	}
	if len(r.ifaces) >= maxNgInterfaces {
		return f.corrupt("more than %d interfaces in one section", maxNgInterfaces)
	}
	ifc := refNgInterface{
		linkType: layers.LinkType(r.order.Uint16(b[0:])),
		snaplen:  r.order.Uint32(b[4:]),
		exp:      6, // default resolution: microseconds
	}
	for opts := b[8:]; len(opts) >= 4; {
		code, n := r.order.Uint16(opts[0:]), int(r.order.Uint16(opts[2:]))
		if code == ngOptEnd || 4+n > len(opts) {
			break
		}
		v := opts[4 : 4+n]
		switch {
		case code == ngOptTSResol && n == 1:
			ifc.pow2 = v[0]&0x80 != 0
			ifc.exp = v[0] & 0x7f
			if (!ifc.pow2 && ifc.exp > 19) || (ifc.pow2 && ifc.exp > 63) {
				return f.corrupt("interface timestamp resolution 0x%02x", v[0])
			}
		case code == ngOptTSOffset && n == 8:
			ifc.offset = int64(r.order.Uint64(v))
		}
		opts = opts[min(len(opts), 4+(n+3)&^3):]
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// time converts a raw 64-bit timestamp in the interface's units to UTC.
func (ifc *refNgInterface) time(ts uint64) time.Time {
	var sec, nsec uint64
	if ifc.pow2 {
		p := uint(ifc.exp)
		sec = ts >> p
		frac := ts & (1<<p - 1)
		hi, lo := bits.Mul64(frac, 1e9)
		if p == 0 {
			nsec = 0
		} else {
			nsec = hi<<(64-p) | lo>>p
		}
	} else {
		unit := pow10[ifc.exp]
		sec, nsec = ts/unit, ts%unit
		if ifc.exp <= 9 {
			nsec *= pow10[9-ifc.exp]
		} else {
			nsec /= pow10[ifc.exp-9]
		}
	}
	return time.Unix(int64(sec)+ifc.offset, int64(nsec)).UTC()
}
