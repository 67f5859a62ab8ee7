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
	order  binary.ByteOrder
	ifaces []ngInterface
	hdr    [12]byte
	body   []byte // the current block: in the read buffer, or in scratch
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

func (r *ngReader) next(f *File) (Packet, error) {
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

func (r *ngReader) packet(f *File, ifID, tsHigh, tsLow, capLen, orig uint32, data []byte) (Packet, error) {
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
