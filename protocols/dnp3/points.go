package dnp3

import (
	"encoding/binary"
	"math"
)

// Point is one object of a header, decoded: its index and whatever its
// variation carries. Which fields are meaningful follows from the object's
// group and variation (see the Has* fields and docs/dnp3.md).
type Point struct {
	// Index is the point index: the prefix of index-prefixed qualifiers,
	// Start+i for a range, i for a count without prefix.
	Index uint32
	// Size is the size prefix of a free-format object (HasSize).
	Size    uint32
	HasSize bool

	// Flags is the flag octet (HasFlags): quality bits whose meaning
	// depends on the group, or a command event's status.
	Flags    uint8
	HasFlags bool

	// Value is the point's value: a state (0/1), a double-bit state
	// (0-3), a counter, an analog, a time (ms since 1970), a delay.
	Value Value

	// Time is an event's or a frozen value's absolute time, ms since
	// 1970-01-01 UTC (HasTime); RelTime the time relative to the message's
	// CTO, ms (HasRelTime).
	Time       uint64
	HasTime    bool
	RelTime    uint16
	HasRelTime bool

	// Status is a command's status code (CROB, analog output block; 0-127
	// for command events) (HasStatus).
	Status    uint8
	HasStatus bool

	// CROB and pattern control block fields (group 12 v1/v2, 11.9.7).
	Control ControlCode
	Count   uint8
	OnTime  uint32 // ms
	OffTime uint32 // ms

	// Interval (ms) and Units of a time-and-date-with-interval object (g50
	// v2, v4).
	Interval uint32
	Units    uint8

	// AttrType is a device attribute's data type code (group 0).
	AttrType uint8

	// Raw is the octets of a free-format object, an octet string or a
	// device attribute's value, aliasing the fragment.
	Raw []byte
}

// ValueKind says how to read a Value.
type ValueKind uint8

// Value kinds.
const (
	NoValue ValueKind = iota
	IntValue
	UintValue
	FloatValue
	TimeValue // ms since 1970-01-01 UTC, in Uint
)

// Value is a point's value.
type Value struct {
	Kind  ValueKind
	Int   int64
	Uint  uint64
	Float float64
	// Float32 is set when Float came from a single-precision field, which
	// is then written with float32 precision.
	Float32 bool
}

// ControlCode is a CROB's control code octet (IEEE 1815-2012, 11.9.7.1.1):
// the trip-close code (bits 6-7), clear (bit 5), queue (bit 4, obsolete) and
// the operation type (bits 0-3).
type ControlCode uint8

// OpType returns the operation type: 0 nul, 1 pulse on, 2 pulse off, 3
// latch on, 4 latch off.
func (c ControlCode) OpType() uint8 { return uint8(c & 0x0F) }

// Queue reports the queue bit (obsolete).
func (c ControlCode) Queue() bool { return c&0x10 != 0 }

// Clear reports the clear bit.
func (c ControlCode) Clear() bool { return c&0x20 != 0 }

// TripClose returns the trip-close code: 0 nul, 1 close, 2 trip, 3
// reserved.
func (c ControlCode) TripClose() uint8 { return uint8(c >> 6) }

var opTypeNames = [16]string{"nul", "pulse_on", "pulse_off", "latch_on", "latch_off"}
var tripCloseNames = [4]string{"nul", "close", "trip", "reserved"}

// OpTypeName returns the operation type's name, "unknown" for 5-15.
func (c ControlCode) OpTypeName() string {
	if n := opTypeNames[c.OpType()]; n != "" {
		return n
	}
	return "unknown"
}

// TripCloseName returns the trip-close code's name.
func (c ControlCode) TripCloseName() string { return tripCloseNames[c.TripClose()] }

// commandStatusNames name the control status codes (IEEE 1815-2012, table
// 11-5).
var commandStatusNames = [128]string{
	0: "success", 1: "timeout", 2: "no_select", 3: "format_error", 4: "not_supported",
	5: "already_active", 6: "hardware_error", 7: "local", 8: "too_many_objs", 9: "not_authorized",
	10: "automation_inhibit", 11: "processing_limited", 12: "out_of_range", 13: "downstream_local",
	14: "already_complete", 15: "blocked", 16: "canceled", 17: "blocked_other_master",
	18: "downstream_fail", 126: "reserved", 127: "undefined",
}

// CommandStatusName names a control status code (0-127), "unknown" for
// codes without a definition.
func CommandStatusName(s uint8) string {
	if n := commandStatusNames[s&0x7F]; n != "" {
		return n
	}
	return "unknown"
}

// PointIter walks the points of an object (Object.Points).
type PointIter struct {
	o     *Object
	i     uint32
	off   int
	plen  int
	sized bool
}

// Points returns an iterator over the object's points; it yields nothing
// for a header without data (a read names points, it gives none). Points of
// zero octets (octet strings of variation 0) take no data, so a header can
// name 2^32 of them: bound the walk (AppendJSON writes at most MaxPoints).
func (o *Object) Points() PointIter {
	it := PointIter{o: o}
	it.plen, it.sized = o.Qualifier.prefixLen()
	return it
}

// Next decodes the next point into p and reports whether there was one. It
// stops at the end of Data, so the points of a truncated object are those
// that fit.
func (it *PointIter) Next(p *Point) bool {
	o := it.o
	if !o.hasData || it.i >= o.Count {
		return false
	}
	d := o.Data[it.off:]
	info := &o.info
	*p = Point{}
	switch {
	case it.sized:
		if len(d) < it.plen {
			return false
		}
		size := uint64(readUint(d, it.plen))
		if size > uint64(len(d)-it.plen) {
			return false
		}
		body := d[it.plen : it.plen+int(size)]
		p.Index, p.Size, p.HasSize = it.i, uint32(size), true
		switch {
		case info.size > 0 && len(body) >= int(info.size):
			decodeFixed(body, info, p)
		case info.layout == layoutAttribute && len(body) >= 2 && int(body[1]) <= len(body)-2:
			p.AttrType, p.Raw = body[0], body[2:2+int(body[1])]
		default:
			p.Raw = body
		}
		it.off += it.plen + len(body)
	case info.bits > 0:
		// Packed points are addressed by bit from the start of Data.
		bit := uint64(it.i) * uint64(info.bits)
		if bit/8 >= uint64(len(o.Data)) {
			return false
		}
		p.Index = o.Start + it.i
		p.Value = Value{Kind: UintValue, Uint: uint64(o.Data[bit/8]>>(bit%8)) & (1<<info.bits - 1)}
	case info.layout == layoutAttribute:
		if len(d) < it.plen+2 || len(d) < it.plen+2+int(d[it.plen+1]) {
			return false
		}
		it.index(d, p)
		a := d[it.plen:]
		p.AttrType, p.Raw = a[0], a[2:2+int(a[1])]
		it.off += it.plen + 2 + len(p.Raw)
	default:
		size := int(info.size)
		if len(d) < it.plen+size {
			return false
		}
		it.index(d, p)
		decodeFixed(d[it.plen:it.plen+size], info, p)
		it.off += it.plen + size
	}
	it.i++
	return true
}

// index sets p's index from the prefix at the start of d or from the
// position.
func (it *PointIter) index(d []byte, p *Point) {
	switch {
	case it.plen > 0:
		p.Index = readUint(d, it.plen)
	case it.o.Qualifier.HasRange():
		p.Index = it.o.Start + it.i
	default:
		p.Index = it.i
	}
}

// decodeFixed decodes one fixed-size object (len(d) ≥ info.size).
func decodeFixed(d []byte, info *varInfo, p *Point) {
	switch info.layout {
	case layoutCROB:
		p.Control, p.Count = ControlCode(d[0]), d[1]
		p.OnTime = binary.LittleEndian.Uint32(d[2:])
		p.OffTime = binary.LittleEndian.Uint32(d[6:])
		p.Status, p.HasStatus = d[10]&0x7F, true
		return
	case layoutOutputBlock:
		n := readValue(d, info.value, p)
		p.Status, p.HasStatus = d[n]&0x7F, true
		return
	case layoutTimeInterval, layoutIndexedTime:
		readValue(d, valTime, p)
		p.Interval = binary.LittleEndian.Uint32(d[6:])
		if info.layout == layoutIndexedTime {
			p.Units = d[10]
		}
		return
	case layoutStatistic, layoutAuth:
		p.Raw = d
		return
	}
	if info.flags != flagsNone {
		p.Flags, p.HasFlags = d[0], true
		d = d[1:]
		if info.flags == flagsCommand {
			p.Status, p.HasStatus = p.Flags&0x7F, true
		}
	}
	switch info.value {
	case valState:
		p.Value = Value{Kind: UintValue, Uint: uint64(p.Flags >> 7)}
	case valDouble:
		p.Value = Value{Kind: UintValue, Uint: uint64(p.Flags >> 6)}
	default:
		d = d[readValue(d, info.value, p):]
	}
	switch info.time {
	case timeAbs:
		p.Time, p.HasTime = time48(d), true
	case timeRel:
		p.RelTime, p.HasRelTime = binary.LittleEndian.Uint16(d), true
	}
}

// readValue decodes a value of kind k at the start of d into p.Value and
// returns its length.
func readValue(d []byte, k valueKind, p *Point) int {
	switch k {
	case valU8:
		p.Value = Value{Kind: UintValue, Uint: uint64(d[0])}
		return 1
	case valU16:
		p.Value = Value{Kind: UintValue, Uint: uint64(binary.LittleEndian.Uint16(d))}
		return 2
	case valU32:
		p.Value = Value{Kind: UintValue, Uint: uint64(binary.LittleEndian.Uint32(d))}
		return 4
	case valI16:
		p.Value = Value{Kind: IntValue, Int: int64(int16(binary.LittleEndian.Uint16(d)))}
		return 2
	case valI32:
		p.Value = Value{Kind: IntValue, Int: int64(int32(binary.LittleEndian.Uint32(d)))}
		return 4
	case valF32:
		p.Value = Value{Kind: FloatValue, Float: float64(math.Float32frombits(binary.LittleEndian.Uint32(d))), Float32: true}
		return 4
	case valF64:
		p.Value = Value{Kind: FloatValue, Float: math.Float64frombits(binary.LittleEndian.Uint64(d))}
		return 8
	case valTime:
		p.Value = Value{Kind: TimeValue, Uint: time48(d)}
		return 6
	case valBCD16, valBCD32, valBCD64:
		n := 2 << (k - valBCD16)
		p.Value = Value{Kind: UintValue, Uint: bcd(d[:n])}
		return n
	case valOctets:
		p.Raw = d
		return len(d)
	}
	return 0
}

// time48 reads a DNP3 absolute time: 48 bits, little-endian, milliseconds
// since 1970-01-01 00:00 UTC (IEEE 1815-2012, 11.3.7).
func time48(d []byte) uint64 {
	_ = d[5]
	return uint64(d[0]) | uint64(d[1])<<8 | uint64(d[2])<<16 | uint64(d[3])<<24 | uint64(d[4])<<32 | uint64(d[5])<<40
}

// bcd reads binary-coded decimal digits, least significant octet first
// (g101).
func bcd(d []byte) uint64 {
	var v uint64
	for i := len(d) - 1; i >= 0; i-- {
		v = v*100 + uint64(d[i]>>4)*10 + uint64(d[i]&0x0F)
	}
	return v
}
