package dnp3

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// AppControl is the application control octet (IEEE 1815-2012, 4.2.2.4):
// FIR, FIN, CON, UNS and a 4-bit sequence number.
type AppControl uint8

// FIR reports whether the fragment is the first of its message.
func (c AppControl) FIR() bool { return c&0x80 != 0 }

// FIN reports whether the fragment is the last of its message.
func (c AppControl) FIN() bool { return c&0x40 != 0 }

// CON reports whether the sender asks for an application confirmation.
func (c AppControl) CON() bool { return c&0x20 != 0 }

// UNS reports whether the fragment is (or confirms) an unsolicited
// response.
func (c AppControl) UNS() bool { return c&0x10 != 0 }

// Seq returns the sequence number (0-15) that pairs a request with its
// response (4.2.2.4.3).
func (c AppControl) Seq() uint8 { return uint8(c & 0x0F) }

// Qualifier is an object header's qualifier octet (4.2.2.7.3.2): the prefix
// code in bits 4-6, the range specifier code in bits 0-3.
type Qualifier uint8

// PrefixCode returns the object prefix code: 0 none, 1-3 an index of 1, 2
// or 4 octets, 4-6 an object size of 1, 2 or 4 octets.
func (q Qualifier) PrefixCode() uint8 { return uint8(q>>4) & 7 }

// RangeCode returns the range specifier code: 0-2 start and stop indexes of
// 1, 2 or 4 octets, 3-5 the same as virtual addresses, 6 no range (all
// points), 7-9 a count of 1, 2 or 4 octets, 0xB a one-octet count of
// free-format objects.
func (q Qualifier) RangeCode() uint8 { return uint8(q & 0x0F) }

// HasRange reports whether the range field holds start and stop indexes.
func (q Qualifier) HasRange() bool { return q.RangeCode() <= 5 }

// prefixLen returns the octets of the prefix before each object (0 for
// none), and whether it is a size rather than an index.
func (q Qualifier) prefixLen() (n int, size bool) {
	switch p := q.PrefixCode(); p {
	case 1, 2, 3:
		return 1 << (p - 1), false
	case 4, 5, 6:
		return 1 << (p - 4), true
	}
	return 0, false
}

// Object is one object header and the data that follows it.
type Object struct {
	Group     uint8
	Variation uint8
	Qualifier Qualifier
	// Start and Stop are the range field's indexes (range codes 0-5).
	Start, Stop uint32
	// Count is how many objects the header names: Stop-Start+1, or the
	// range field's count; 0 for "all points" (range code 6).
	Count uint32
	// Data is the objects' octets after the header, prefixes included;
	// empty when the header names points without giving their values (a
	// read). It aliases the fragment.
	Data []byte
	info varInfo
	// hasData is set when the header is followed by its points (not a
	// read's or a freeze's bare header), even points of zero octets.
	hasData bool
}

// Name returns the object's snake_case name (see ObjectName).
func (o *Object) Name() string {
	if o.info.known() {
		return o.info.name
	}
	return groupNames[o.Group]
}

// Known reports whether the group and variation are described here, so
// that their points can be decoded.
func (o *Object) Known() bool { return o.info.known() }

// Message limits: objects beyond MaxObjects are walked and counted, not
// kept (a real fragment names a few dozen at most).
const MaxObjects = 64

// ErrMalformed is wrapped by the error of a fragment whose object headers
// or data do not fit their definitions.
var ErrMalformed = errors.New("dnp3: malformed fragment")

// ParseError says where and why the walk over a fragment's objects stopped.
type ParseError struct {
	Offset    int    // octet of the fragment where the fault is
	Object    int    // index of the object header at fault (counting those before)
	Reason    string // what is wrong
	Group     uint8
	Variation uint8
	Qualifier Qualifier
	hasObject bool
}

func (e *ParseError) Error() string { return string(e.append(nil)) }

// append appends the error's text to dst, without the allocations of
// formatting it: events of malformed fragments write it.
func (e *ParseError) append(dst []byte) []byte {
	dst = append(dst, "dnp3: malformed fragment: "...)
	if e.hasObject {
		dst = append(dst, "object "...)
		dst = strconv.AppendInt(dst, int64(e.Object), 10)
		dst = append(dst, " (group "...)
		dst = strconv.AppendUint(dst, uint64(e.Group), 10)
		dst = append(dst, " variation "...)
		dst = strconv.AppendUint(dst, uint64(e.Variation), 10)
		dst = append(dst, " qualifier 0x"...)
		dst = append(dst, hexDigits[e.Qualifier>>4], hexDigits[e.Qualifier&0x0F])
		dst = append(dst, "): "...)
	}
	dst = append(dst, e.Reason...)
	dst = append(dst, " at octet "...)
	return strconv.AppendInt(dst, int64(e.Offset), 10)
}

const hexDigits = "0123456789abcdef"

// Is makes errors.Is(err, ErrMalformed) true.
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

// Message is one application fragment, decoded (IEEE 1815-2012, 4.2): the
// header and the object headers with their data. Points are decoded from
// an object's Data on demand (Object.Points), so decoding a fragment
// costs one pass over its headers.
type Message struct {
	Control  AppControl
	Function FunctionCode
	IIN      IIN // responses only (Function.IsResponse)
	// Objects are the fragment's objects in order, up to MaxObjects.
	Objects []Object
	// Omitted counts objects walked beyond MaxObjects.
	Omitted int
	// Err is nil when every octet of the fragment was accounted for, else
	// a *ParseError (wrapping ErrMalformed): the objects before the fault
	// are in Objects, the rest of the fragment is not decoded.
	Err  error
	Size int // octets in the fragment
	perr ParseError
}

// HeaderLen returns the application header's length: 4 for responses (with
// IIN), 2 otherwise.
func (m *Message) HeaderLen() int {
	if m.Function.IsResponse() {
		return 4
	}
	return 2
}

// Parse decodes fragment b into m, reusing m's storage; m's objects alias b.
// It returns m.Err. A fragment shorter than its header leaves Function and
// Control as far as they were read.
func (m *Message) Parse(b []byte) error {
	m.Control, m.Function, m.IIN = 0, 0, 0
	m.Objects, m.Omitted, m.Err, m.Size = m.Objects[:0], 0, nil, len(b)
	if len(b) < 2 {
		if len(b) == 1 {
			m.Control = AppControl(b[0])
		}
		return m.fail(len(b), -1, nil, "fragment shorter than its header")
	}
	m.Control, m.Function = AppControl(b[0]), FunctionCode(b[1])
	off := 2
	if m.Function.IsResponse() {
		if len(b) < 4 {
			return m.fail(len(b), -1, nil, "response shorter than its header")
		}
		m.IIN = IIN(b[2])<<8 | IIN(b[3])
		off = 4
	}
	for n := 0; off < len(b); n++ {
		var o Object
		next, reason := parseObject(b, off, m.Function, &o)
		if reason != "" && len(b)-off < 3 {
			return m.fail(next, n, nil, reason)
		}
		// An object whose header was read is kept even when the rest
		// is at fault: its group, variation and qualifier, and the
		// points that fit in a truncated fragment, are listed.
		if len(m.Objects) < MaxObjects {
			m.Objects = append(m.Objects, o)
		} else {
			m.Omitted++
		}
		if reason != "" {
			return m.fail(next, n, &o, reason)
		}
		off = next
	}
	return nil
}

func (m *Message) fail(off, n int, o *Object, reason string) error {
	m.perr = ParseError{Offset: off, Object: n, Reason: reason}
	if o != nil {
		m.perr.Group, m.perr.Variation, m.perr.Qualifier, m.perr.hasObject = o.Group, o.Variation, o.Qualifier, true
	}
	m.Err = &m.perr
	return m.Err
}

// parseObject decodes the object header at b[off:] and finds the end of its
// data. It returns the offset after the object, or the offset of the fault
// and a reason. o holds what was decoded either way.
func parseObject(b []byte, off int, fc FunctionCode, o *Object) (int, string) {
	if len(b)-off < 3 {
		return off, "object header truncated"
	}
	o.Group, o.Variation, o.Qualifier = b[off], b[off+1], Qualifier(b[off+2])
	o.info = lookup(o.Group, o.Variation)
	off += 3
	q := o.Qualifier
	if q&0x80 != 0 || q.PrefixCode() == 7 {
		return off - 1, "reserved qualifier"
	}
	var width int
	switch r := q.RangeCode(); {
	case r <= 5:
		width = 1 << (r % 3)
	case r == 6:
	case r <= 9:
		width = 1 << (r - 7)
	case r == 0xB:
		width = 1
	default:
		return off - 1, "reserved range code"
	}
	if width > 0 && len(b)-off < width*(1+boolInt(q.HasRange())) {
		return off, "range field truncated"
	}
	switch r := q.RangeCode(); {
	case r <= 5:
		o.Start = readUint(b[off:], width)
		o.Stop = readUint(b[off+width:], width)
		off += 2 * width
		if o.Stop < o.Start {
			return off - 2*width, "stop index below start index"
		}
		o.Count = o.Stop - o.Start + 1
	case r == 6:
		o.Start, o.Stop, o.Count = 0, 0, 0
	default:
		o.Start, o.Stop = 0, 0
		o.Count = readUint(b[off:], width)
		off += width
	}
	n, reason := dataLen(b[off:], fc, o)
	switch {
	case reason == errTruncated:
		// Keep what there is: the points that fit are decoded.
		o.Data, o.hasData = b[off:len(b):len(b)], true
		return off, reason
	case reason != "":
		return off, reason
	}
	o.Data, o.hasData = b[off:off+n:off+n], n > 0 || (o.Count > 0 && !headerOnly(fc, o.Group))
	return off + n, ""
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readUint reads a little-endian unsigned integer of width 1, 2 or 4.
func readUint(b []byte, width int) uint32 {
	switch width {
	case 1:
		return uint32(b[0])
	case 2:
		return uint32(binary.LittleEndian.Uint16(b))
	}
	return binary.LittleEndian.Uint32(b)
}

// dataLen returns how many octets of b the objects of header o take (none
// when the header only names them), or why that cannot be known.
func dataLen(b []byte, fc FunctionCode, o *Object) (int, string) {
	q := o.Qualifier
	plen, sized := q.prefixLen()
	if q.RangeCode() == 0xB && !sized {
		return 0, "free-format range without a size prefix"
	}
	// Objects that carry their own size carry their data even in a read
	// (a file transport object names the block to read, 11.9.27).
	if o.Count == 0 || (!sized && headerOnly(fc, o.Group)) {
		return 0, ""
	}
	info := &o.info
	switch {
	case sized:
		// Every object carries its own size: walk them.
		return walk(b, o.Count, func(b []byte) int {
			if len(b) < plen {
				return -1
			}
			return plen + int(readUint(b, plen))
		})
	case info.layout == layoutAttribute:
		// Device attributes: data type, length, value (11.9.2).
		return walk(b, o.Count, func(b []byte) int {
			if len(b) < plen+2 {
				return -1
			}
			return plen + 2 + int(b[plen+1])
		})
	case info.bits > 0:
		if plen > 0 {
			return 0, "packed variation with an index prefix"
		}
		n := (uint64(o.Count)*uint64(info.bits) + 7) / 8
		if n > uint64(len(b)) {
			return 0, errTruncated
		}
		return int(n), ""
	case info.size > 0 || info.value == valOctets:
		// Octet strings of length 0 (variation 0) take their prefixes.
		n := uint64(o.Count) * uint64(plen+int(info.size))
		if n > uint64(len(b)) {
			return 0, errTruncated
		}
		return int(n), ""
	case info.known() && !info.free:
		// Class data and the like: names without data.
		return 0, ""
	case !info.known():
		return 0, "unknown object: its size cannot be known"
	}
	return 0, "free-format object without a size prefix"
}

// errTruncated is the reason of a fragment that ends inside an object's
// data.
const errTruncated = "object data truncated"

// walk adds up the sizes of count variable-size objects at the start of b;
// size returns one object's octets or -1 when b is too short for its
// prefix.
func walk(b []byte, count uint32, size func([]byte) int) (int, string) {
	off := 0
	for range count {
		n := size(b[off:])
		if n < 0 || n > len(b)-off {
			return 0, errTruncated
		}
		off += n
	}
	return off, ""
}
