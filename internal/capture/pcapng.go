package capture

import (
	"encoding/binary"
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// pcapng block types (draft-ietf-opsawg-pcapng, section 11.1).
const (
	ngBlockSHB = 0x0a0d0d0a // Section Header Block
	ngBlockIDB = 0x00000001 // Interface Description Block
	ngBlockOPB = 0x00000002 // Packet Block (obsolete, still written by old tools)
	ngBlockSPB = 0x00000003 // Simple Packet Block
	ngBlockEPB = 0x00000006 // Enhanced Packet Block
	ngBOM      = 0x1a2b3c4d // byte-order magic inside the SHB
)

// IDB options used to convert timestamps (draft-ietf-opsawg-pcapng, 4.2).
const (
	ngOptEnd      = 0
	ngOptTSResol  = 9
	ngOptTSOffset = 14
)

// Bounds against hostile files: Wireshark refuses blocks over 16 MiB
// (MAX_BLOCK_SIZE in wiretap/pcapng.c) and no real capture has thousands of
// interfaces.
const (
	maxNgBlock      = 16 << 20
	maxNgInterfaces = 4096
)

// ngInterface is what an Interface Description Block says about the packets
// that reference it.
type ngInterface struct {
	linkType layers.LinkType
	snaplen  uint32
	// Timestamps are counts of units of 10^-exp (pow2 false) or 2^-exp
	// (pow2 true) seconds, plus offset seconds.
	exp    uint8
	pow2   bool
	offset int64
}

// ngReader reads pcapng: a sequence of blocks, each framed by its type and a
// total length repeated at its end (draft-ietf-opsawg-pcapng, section 3).
// Each section (SHB) has its own byte order and its own interfaces; every
// packet carries its interface's link type, so one file may mix link types.
type ngReader struct {
	order binary.ByteOrder
	// bigEndian is order, tested in the per-block path instead of an
	// interface call per field.
	bigEndian bool
	ifaces    []ngInterface
	hdr       [12]byte
	body      []byte // the current block: in the read buffer, or in scratch
	// scratch holds blocks larger than the read buffer.
	scratch []byte
}

// init reads the first Section Header Block; the caller has seen its magic.
func (r *ngReader) init(f *File) error {
	_, err := r.readBlock(f, true)
	if err != nil {
		return err
	}
	return nil
}

// readBlock reads one block into r.body (without its 8-byte header and
// 4-byte trailer) and returns its type. An SHB is handled here because it
// sets the byte order that the lengths of every later block are read with.
func (r *ngReader) readBlock(f *File, first bool) (uint32, error) {
	// The common case, framed in place: a block other than a section
	// header, wholly in the read buffer, with a sane length and a
	// matching trailer. Anything else takes the general path below,
	// which reads the same bytes again and reports what is wrong.
	if b := f.buf[f.pos:f.end]; !first && len(b) >= 12 {
		typ, total := r.u32(b[0:]), r.u32(b[4:])
		if typ != ngBlockSHB && total >= 12 && total%4 == 0 && total <= maxNgBlock &&
			int(total) <= len(b) && !f.exceedsFile(int64(total)) && r.u32(b[total-4:]) == total {
			r.body = b[8 : total-4 : total-4]
			f.pos += int(total)
			return typ, nil
		}
	}
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
			r.order, r.bigEndian = binary.LittleEndian, false
		case binary.BigEndian.Uint32(r.hdr[8:]) == ngBOM:
			r.order, r.bigEndian = binary.BigEndian, true
		default:
			return 0, f.corrupt("section header byte-order magic 0x%08x", binary.BigEndian.Uint32(r.hdr[8:]))
		}
	} else if first {
		return 0, f.corrupt("first block is not a section header")
	}
	typ = r.u32(r.hdr[0:])
	total := r.u32(r.hdr[4:])
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
	trailer := r.u32(r.body[len(r.body)-4:])
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

func (r *ngReader) next(f *File, p *Packet) error {
	for {
		typ, err := r.readBlock(f, false)
		if err != nil {
			return err
		}
		b := r.body
		switch typ {
		case ngBlockIDB:
			if err := r.addInterface(f, b); err != nil {
				return err
			}
		case ngBlockEPB:
			// Interface ID, timestamp (high, low), captured and
			// original length, data, options (4.3).
			if len(b) < 20 {
				return f.corrupt("enhanced packet block of %d bytes", len(b))
			}
			return r.packet(f, p, r.u32(b[0:]), r.u32(b[4:]), r.u32(b[8:]),
				r.u32(b[12:]), r.u32(b[16:]), b[20:])
		case ngBlockOPB:
			// Interface ID (16 bits), drops count (16 bits), then as
			// the EPB (appendix A).
			if len(b) < 20 {
				return f.corrupt("packet block of %d bytes", len(b))
			}
			return r.packet(f, p, uint32(r.u16(b[0:])), r.u32(b[4:]), r.u32(b[8:]),
				r.u32(b[12:]), r.u32(b[16:]), b[20:])
		case ngBlockSPB:
			// Original length, data; captured length is implied by
			// the block length and interface 0's snap length (4.4).
			if len(b) < 4 {
				return f.corrupt("simple packet block of %d bytes", len(b))
			}
			if len(r.ifaces) == 0 {
				return f.corrupt("simple packet block before any interface description")
			}
			orig := r.u32(b[0:])
			capLen := min(uint32(len(b)-4), orig)
			if sl := r.ifaces[0].snaplen; sl != 0 {
				capLen = min(capLen, sl)
			}
			*p = Packet{
				Data:     b[4 : 4+capLen],
				Length:   int(orig),
				LinkType: r.ifaces[0].linkType,
				// An SPB has no timestamp.
			}
			return nil
		default:
			// Name resolution, statistics, decryption secrets,
			// custom blocks: nothing a passive decoder needs.
		}
	}
}

func (r *ngReader) packet(f *File, p *Packet, ifID, tsHigh, tsLow, capLen, orig uint32, data []byte) error {
	if int(ifID) >= len(r.ifaces) {
		return f.corrupt("packet on interface %d, only %d described", ifID, len(r.ifaces))
	}
	if uint64(capLen) > uint64(len(data)) {
		return f.corrupt("captured length %d exceeds its block (%d bytes)", capLen, len(data))
	}
	ifc := &r.ifaces[ifID]
	// Field by field: a composite literal would be built on the stack
	// and copied, which costs more than the parse.
	p.Data = data[:capLen:capLen]
	p.Timestamp = ifc.time(uint64(tsHigh)<<32 | uint64(tsLow))
	p.Length = int(max(orig, capLen))
	p.LinkType = ifc.linkType
	return nil
}

func (r *ngReader) addInterface(f *File, b []byte) error {
	if len(b) < 8 {
		return f.corrupt("interface description block of %d bytes", len(b))
	}
	if len(r.ifaces) >= maxNgInterfaces {
		return f.corrupt("more than %d interfaces in one section", maxNgInterfaces)
	}
	ifc := ngInterface{
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

// u32 and u16 read the section's byte order without an interface call: the
// block and packet headers are on the per-packet path.
func (r *ngReader) u32(b []byte) uint32 {
	if r.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *ngReader) u16(b []byte) uint16 {
	if r.bigEndian {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

// pow10 holds 10^0 .. 10^19, every power of ten a uint64 holds.
var pow10 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return
}()

// time converts a raw 64-bit timestamp in the interface's units to UTC.
func (ifc *ngInterface) time(ts uint64) time.Time {
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
	} else if ifc.exp == 6 {
		// Microseconds (the default) and nanoseconds, nearly every
		// real file: division by a constant is a multiplication.
		sec, nsec = ts/1e6, ts%1e6*1e3
	} else if ifc.exp == 9 {
		sec, nsec = ts/1e9, ts%1e9
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
