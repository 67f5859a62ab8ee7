package modbus

import (
	"encoding/binary"
	"errors"
	"iter"
)

// ErrMalformed is returned (wrapped) when a PDU's data does not fit the
// layout of its function code: wrong length, a byte count that disagrees with
// the bytes present or with the quantity, an illegal coil value. The value
// returned alongside still holds every field decoded before the fault.
var ErrMalformed = errors.New("modbus: malformed pdu")

// Preallocated so that hostile traffic cannot make decoding allocate.
var (
	errShort     = &decodeError{"data too short for the function's layout"}
	errLength    = &decodeError{"unexpected bytes after the function's layout"}
	errByteCount = &decodeError{"byte count does not match the data"}
	errQuantity  = &decodeError{"byte count does not match the quantity"}
	errCoilValue = &decodeError{"write single coil value is neither 0xFF00 nor 0x0000"}
	errFile      = &decodeError{"malformed file record sub-request"}
	errObjects   = &decodeError{"malformed device identification object list"}
	errException = &decodeError{"exception response must carry exactly one byte"}
)

type decodeError struct{ msg string }

func (e *decodeError) Error() string { return "modbus: malformed pdu: " + e.msg }
func (e *decodeError) Unwrap() error { return ErrMalformed }

// Values is a sequence of register or bit values that aliases PDU bytes:
// big-endian 16-bit registers, or bits packed LSB first as coils and
// discrete inputs travel (MAP V1.1b3, 6.1: "the LSB of the first data byte
// contains the output addressed in the query").
type Values struct {
	raw  []byte
	n    int
	bits bool
}

// RegisterValues returns Values holding regs (for encoders; it allocates).
func RegisterValues(regs ...uint16) Values {
	raw := make([]byte, 0, 2*len(regs))
	for _, r := range regs {
		raw = binary.BigEndian.AppendUint16(raw, r)
	}
	return Values{raw: raw, n: len(regs)}
}

// BitValues returns Values holding bits packed LSB first (for encoders; it
// allocates).
func BitValues(bits ...bool) Values {
	raw := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		if b {
			raw[i/8] |= 1 << (i % 8)
		}
	}
	return Values{raw: raw, n: len(bits), bits: true}
}

func registers(raw []byte) Values   { return Values{raw: raw, n: len(raw) / 2} }
func bits(raw []byte, n int) Values { return Values{raw: raw, n: n, bits: true} }

// Len returns the number of values.
func (v Values) Len() int { return v.n }

// IsBits reports whether the values are coils or discrete inputs.
func (v Values) IsBits() bool { return v.bits }

// At returns value i: a register, or 0/1 for a bit. It panics if i is out of
// range, like a slice index.
func (v Values) At(i int) uint16 {
	if uint(i) >= uint(v.n) {
		panic("modbus: Values index out of range")
	}
	if v.bits {
		return uint16(v.raw[i/8]>>(i%8)) & 1
	}
	return binary.BigEndian.Uint16(v.raw[2*i:])
}

// Bit returns value i as a bool.
func (v Values) Bit(i int) bool { return v.At(i) != 0 }

// Raw returns the values' wire bytes (aliasing the PDU).
func (v Values) Raw() []byte { return v.raw }

// Head returns the first n values (all of them if n ≥ Len). Bit responses
// (FC 1, 2) carry whole bytes; the request's quantity says how many bits
// count.
func (v Values) Head(n int) Values {
	if n < 0 || n >= v.n {
		return v
	}
	v.n = n
	if v.bits {
		v.raw = v.raw[:(n+7)/8]
	} else {
		v.raw = v.raw[:2*n]
	}
	return v
}

// FileRecord is one sub-request or sub-response of Read File Record (FC 20)
// or Write File Record (FC 21) (MAP V1.1b3, 6.14, 6.15). A read response's
// sub-response carries only RefType and Data.
type FileRecord struct {
	RefType uint8 // always 6
	File    uint16
	Record  uint16
	Length  uint16 // record length in registers
	Data    Values // registers
}

// FileRecords is the list of sub-requests or sub-responses of FC 20/21,
// aliasing the PDU (the bytes after the byte count).
type FileRecords struct {
	raw    []byte
	layout Layout
}

// MakeFileRecords encodes recs in the given layout (LayoutFileReadRequest,
// LayoutFileReadResponse or LayoutFileWrite) for an encoder; it allocates.
func MakeFileRecords(layout Layout, recs ...FileRecord) FileRecords {
	var raw []byte
	for _, r := range recs {
		switch layout {
		case LayoutFileReadRequest:
			raw = append(raw, r.RefType)
			raw = binary.BigEndian.AppendUint16(raw, r.File)
			raw = binary.BigEndian.AppendUint16(raw, r.Record)
			raw = binary.BigEndian.AppendUint16(raw, r.Length)
		case LayoutFileReadResponse:
			raw = append(raw, byte(1+len(r.Data.raw)), r.RefType)
			raw = append(raw, r.Data.raw...)
		case LayoutFileWrite:
			raw = append(raw, r.RefType)
			raw = binary.BigEndian.AppendUint16(raw, r.File)
			raw = binary.BigEndian.AppendUint16(raw, r.Record)
			raw = binary.BigEndian.AppendUint16(raw, uint16(r.Data.Len()))
			raw = append(raw, r.Data.raw...)
		}
	}
	return FileRecords{raw: raw, layout: layout}
}

// Raw returns the encoded sub-requests (without the byte count).
func (f FileRecords) Raw() []byte { return f.raw }

// All yields the records in order. The records were validated by the
// decoder, so iteration cannot fail.
func (f FileRecords) All() iter.Seq[FileRecord] {
	return func(yield func(FileRecord) bool) {
		b := f.raw
		for len(b) > 0 {
			var r FileRecord
			var n int
			switch f.layout {
			case LayoutFileReadRequest:
				if len(b) < 7 {
					return
				}
				r = FileRecord{RefType: b[0], File: be16(b[1:]), Record: be16(b[3:]), Length: be16(b[5:])}
				n = 7
			case LayoutFileReadResponse:
				l := int(b[0])
				if l < 1 || len(b) < 1+l {
					return
				}
				r = FileRecord{RefType: b[1], Data: registers(b[2 : 1+l])}
				r.Length = uint16(r.Data.Len())
				n = 1 + l
			case LayoutFileWrite:
				if len(b) < 7 {
					return
				}
				r = FileRecord{RefType: b[0], File: be16(b[1:]), Record: be16(b[3:]), Length: be16(b[5:])}
				n = 7 + 2*int(r.Length)
				if len(b) < n {
					return
				}
				r.Data = registers(b[7:n])
			default:
				return
			}
			if !yield(r) {
				return
			}
			b = b[n:]
		}
	}
}

// Len returns the number of records.
func (f FileRecords) Len() int {
	n := 0
	for range f.All() {
		n++
	}
	return n
}

// validFileRecords checks that raw splits exactly into records of layout.
func validFileRecords(raw []byte, layout Layout) bool {
	for b := raw; len(b) > 0; {
		switch layout {
		case LayoutFileReadRequest:
			if len(b) < 7 {
				return false
			}
			b = b[7:]
		case LayoutFileReadResponse:
			l := int(b[0])
			if l < 1 || l%2 == 0 || len(b) < 1+l {
				return false
			}
			b = b[1+l:]
		case LayoutFileWrite:
			if len(b) < 7 {
				return false
			}
			n := 7 + 2*int(be16(b[5:]))
			if len(b) < n {
				return false
			}
			b = b[n:]
		}
	}
	return true
}

// DeviceID holds the fields of Read Device Identification (FC 43, MEI 14;
// MAP V1.1b3, 6.21). A request sets ReadCode and ObjectID; a response sets
// all fields.
type DeviceID struct {
	ReadCode     ReadDeviceIDCode
	ObjectID     uint8 // request: first object asked for
	Conformity   uint8 // response: conformity level (0x01-0x03, 0x81-0x83)
	MoreFollows  bool  // response: 0xFF, more objects in a next transaction
	NextObjectID uint8 // response: where to continue when MoreFollows
	Objects      Objects
}

// Object is one device identification object: id and value (a string on
// the wire, attacker-controlled: escape before display).
type Object struct {
	ID    uint8
	Value []byte
}

// Objects is a device identification object list aliasing the PDU: count
// objects of id(1) length(1) value(length).
type Objects struct {
	raw []byte
	n   int
}

// MakeObjects encodes objs for an encoder; it allocates. Values longer than
// 255 bytes are cut to 255.
func MakeObjects(objs ...Object) Objects {
	var raw []byte
	for _, o := range objs {
		v := o.Value
		if len(v) > 255 {
			v = v[:255]
		}
		raw = append(raw, o.ID, byte(len(v)))
		raw = append(raw, v...)
	}
	return Objects{raw: raw, n: len(objs)}
}

// Len returns the number of objects.
func (o Objects) Len() int { return o.n }

// All yields each object's id and value, in wire order.
func (o Objects) All() iter.Seq2[uint8, []byte] {
	return func(yield func(uint8, []byte) bool) {
		b := o.raw
		for i := 0; i < o.n && len(b) >= 2; i++ {
			l := int(b[1])
			if len(b) < 2+l {
				return
			}
			if !yield(b[0], b[2:2+l]) {
				return
			}
			b = b[2+l:]
		}
	}
}

// Request is a decoded request PDU. Which fields are set depends on the
// function code's request Layout (see FuncInfo); slices alias the PDU.
type Request struct {
	Function FunctionCode
	// Address is the starting address (FC 1-6, 15, 16, 22), the read
	// address of FC 23 and the FIFO pointer address of FC 24.
	Address uint16
	// Quantity is the number of coils or registers (FC 1-4, 15, 16) and
	// the read quantity of FC 23.
	Quantity uint16
	// Values are the values written: FC 5 (one bit), 6 (one register),
	// 15, 16 and the write part of 23.
	Values                      Values
	WriteAddress, WriteQuantity uint16      // FC 23
	SubFunction                 SubFunction // FC 8
	AndMask, OrMask             uint16      // FC 22
	MEI                         MEIType     // FC 43
	DeviceID                    DeviceID    // FC 43 / MEI 14
	Files                       FileRecords // FC 20, 21
	// UMAS is the Schneider UMAS header of FC 90 (umas.go).
	UMAS UMAS
	// Data is the sub-function data of FC 8, the MEI data of FC 43 other
	// than MEI 14, the data after the UMAS header of FC 90, and the whole
	// data of other codes that are not public.
	Data []byte

	avail int // len(data): which fields a too-short PDU still carried
}

// Response is a decoded normal or exception response PDU. Which fields are
// set depends on the function code's response Layout; slices alias the PDU.
type Response struct {
	// Function is the code on the wire: for an exception, the request's
	// code | 0x80.
	Function  FunctionCode
	Exception ExceptionCode // set when Function.IsException()
	// Address and Quantity echo the request: FC 5, 6 (Address), 15, 16
	// (Address, Quantity), 22 (Address). Quantity is also the FIFO count
	// of FC 24.
	Address, Quantity uint16
	// Values are the data read (FC 1-4, 23, 24: for FC 1 and 2 as many
	// bits as the bytes hold; Transaction trims them to the request's
	// quantity) or echoed (FC 5, 6).
	Values          Values
	SubFunction     SubFunction // FC 8
	Status          uint16      // FC 7 output data, FC 11 and 12 status
	EventCount      uint16      // FC 11, 12
	MessageCount    uint16      // FC 12
	AndMask, OrMask uint16      // FC 22
	MEI             MEIType
	DeviceID        DeviceID
	Files           FileRecords
	// Data is FC 8's echoed data, FC 12's event bytes, FC 17's data (server
	// id, run indicator and additional data: the server id's length is
	// device specific, so the run indicator cannot be located in general,
	// MAP V1.1b3, 6.13),
	// the MEI data of FC 43 other than MEI 14, the data after the UMAS
	// header of FC 90 (UMAS: pairing key and status), and the whole data
	// of other codes that are not public.
	UMAS UMAS
	Data []byte

	avail int // len(data): which fields a too-short PDU still carried
}

// IsException reports whether r is an exception response.
func (r *Response) IsException() bool { return r.Function.IsException() }

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

// at16 returns the register at off, or 0 when data ends before it (for the
// fields a too-short PDU still carries).
// addrQty decodes the address + quantity layout (requests of FC 1-4,
// responses of FC 15 and 16). A short PDU keeps the address when present.
func addrQty(data []byte) (addr, qty uint16, err error) {
	if len(data) < 4 {
		return at16(data, 0), 0, errShort
	}
	addr, qty = be16(data), be16(data[2:])
	if len(data) != 4 {
		err = errLength
	}
	return addr, qty, err
}

// addrValue decodes the address + one value layout of FC 5 and 6 (request
// and echoed response); a coil value must be 0xFF00 or 0x0000 (Modbus
// Application Protocol v1.1b3, 6.5).
func addrValue(data []byte, isBits bool) (addr uint16, v Values, err error) {
	if len(data) < 4 {
		return at16(data, 0), Values{}, errShort
	}
	addr = be16(data)
	if isBits {
		v = bits(data[2:3], 1)
		if c := be16(data[2:]); c != 0xFF00 && c != 0 {
			err = errCoilValue
		}
	} else {
		v = registers(data[2:4])
	}
	if err == nil && len(data) != 4 {
		err = errLength
	}
	return addr, v, err
}

// maskWrite decodes FC 22's address, AND mask and OR mask (request and
// echoed response; Modbus Application Protocol v1.1b3, 6.16).
func maskWrite(data []byte) (addr, and, or uint16, err error) {
	if len(data) < 6 {
		return at16(data, 0), at16(data, 2), 0, errShort
	}
	if len(data) != 6 {
		err = errLength
	}
	return be16(data), be16(data[2:]), be16(data[4:]), err
}

// fileRecords decodes the byte count and sub-requests of FC 20 and 21
// (Modbus Application Protocol v1.1b3, 6.14 and 6.15) in the given layout.
func fileRecords(data []byte, layout Layout) (FileRecords, error) {
	if len(data) < 1 {
		return FileRecords{}, errShort
	}
	if int(data[0]) != len(data)-1 {
		return FileRecords{}, errByteCount
	}
	if !validFileRecords(data[1:], layout) {
		return FileRecords{}, errFile
	}
	return FileRecords{raw: data[1:], layout: layout}, nil
}

func at16(data []byte, off int) uint16 {
	if len(data) >= off+2 {
		return be16(data[off:])
	}
	return 0
}

// DecodeRequest decodes the data of a request PDU (the bytes after the
// function code fc). It never panics and allocates nothing; on error the
// Request holds the fields decoded before the fault and the error wraps
// ErrMalformed. Function codes with bit 7 set or without a public
// definition decode as opaque Data.
func DecodeRequest(fc FunctionCode, data []byte) (Request, error) {
	var r Request
	err := r.decode(fc, data)
	return r, err
}

// decode is DecodeRequest into r, so the Pairer decodes in place.
func (r *Request) decode(fc FunctionCode, data []byte) error {
	*r = Request{Function: fc, avail: len(data)}
	if fc.IsException() {
		r.Data = data
		return nil
	}
	e := &funcTable[fc]
	isBits := e.table == TableCoils || e.table == TableDiscreteInputs
	switch e.req {
	case LayoutEmpty:
		if len(data) != 0 {
			r.Data = data
			return errLength
		}
	case LayoutAddrQty:
		var err error
		r.Address, r.Quantity, err = addrQty(data)
		if err != nil {
			return err
		}
	case LayoutAddrValue:
		var err error
		r.Address, r.Values, err = addrValue(data, isBits)
		if err != nil {
			return err
		}
	case LayoutWriteBits, LayoutWriteRegs:
		if len(data) < 5 {
			r.Address, r.Quantity = at16(data, 0), at16(data, 2)
			return errShort
		}
		r.Address, r.Quantity = be16(data), be16(data[2:])
		bc := int(data[4])
		if len(data) != 5+bc {
			return errByteCount
		}
		if e.req == LayoutWriteBits {
			if bc != (int(r.Quantity)+7)/8 {
				return errQuantity
			}
			r.Values = bits(data[5:], int(r.Quantity))
		} else {
			if bc != 2*int(r.Quantity) {
				return errQuantity
			}
			r.Values = registers(data[5:])
		}
	case LayoutDiag:
		if len(data) < 2 {
			return errShort
		}
		r.SubFunction, r.Data = SubFunction(be16(data)), data[2:]
	case LayoutFileReadRequest, LayoutFileWrite:
		var err error
		if r.Files, err = fileRecords(data, e.req); err != nil {
			return err
		}
	case LayoutMaskWrite:
		var err error
		r.Address, r.AndMask, r.OrMask, err = maskWrite(data)
		if err != nil {
			return err
		}
	case LayoutReadWrite:
		if len(data) < 9 {
			r.Address, r.Quantity = at16(data, 0), at16(data, 2)
			r.WriteAddress, r.WriteQuantity = at16(data, 4), at16(data, 6)
			return errShort
		}
		r.Address, r.Quantity = be16(data), be16(data[2:])
		r.WriteAddress, r.WriteQuantity = be16(data[4:]), be16(data[6:])
		bc := int(data[8])
		if len(data) != 9+bc {
			return errByteCount
		}
		if bc != 2*int(r.WriteQuantity) {
			return errQuantity
		}
		r.Values = registers(data[9:])
	case LayoutFIFOPointer:
		if len(data) < 2 {
			return errShort
		}
		r.Address = be16(data)
		if len(data) != 2 {
			return errLength
		}
	case LayoutMEI:
		if len(data) < 1 {
			return errShort
		}
		r.MEI = MEIType(data[0])
		if r.MEI != MEIReadDeviceID {
			r.Data = data[1:]
			break
		}
		if len(data) < 3 {
			if len(data) == 2 {
				r.DeviceID.ReadCode = ReadDeviceIDCode(data[1])
			}
			return errShort
		}
		r.DeviceID.ReadCode, r.DeviceID.ObjectID = ReadDeviceIDCode(data[1]), data[2]
		if len(data) != 3 {
			return errLength
		}
	default: // LayoutOpaque: not a public code
		r.Data = data
		if fc == FuncUMAS {
			r.UMAS, r.Data = umasHeader(data)
		}
	}
	return nil
}

// DecodeResponse decodes the data of a response PDU (the bytes after the
// function code fc). Any fc with bit 7 set is an exception response. It never
// panics and allocates nothing; on error the Response holds the fields
// decoded before the fault and the error wraps ErrMalformed.
func DecodeResponse(fc FunctionCode, data []byte) (Response, error) {
	var r Response
	err := r.decode(fc, data)
	return r, err
}

// decode is DecodeResponse into r, so the Pairer decodes in place.
func (r *Response) decode(fc FunctionCode, data []byte) error {
	*r = Response{Function: fc, avail: len(data)}
	if fc.IsException() {
		if len(data) < 1 {
			return errException
		}
		r.Exception = ExceptionCode(data[0])
		if len(data) != 1 {
			return errException
		}
		return nil
	}
	e := &funcTable[fc]
	isBits := e.table == TableCoils || e.table == TableDiscreteInputs
	switch e.resp {
	case LayoutAddrQty:
		var err error
		r.Address, r.Quantity, err = addrQty(data)
		if err != nil {
			return err
		}
	case LayoutAddrValue:
		var err error
		r.Address, r.Values, err = addrValue(data, isBits)
		if err != nil {
			return err
		}
	case LayoutReadBits, LayoutReadRegs:
		if len(data) < 1 {
			return errShort
		}
		bc := int(data[0])
		if len(data) != 1+bc {
			return errByteCount
		}
		if e.resp == LayoutReadBits {
			r.Values = bits(data[1:], 8*bc)
		} else {
			if bc%2 != 0 {
				return errByteCount
			}
			r.Values = registers(data[1:])
		}
	case LayoutStatus:
		if len(data) != 1 {
			return errLength
		}
		r.Status = uint16(data[0])
	case LayoutDiag:
		if len(data) < 2 {
			return errShort
		}
		r.SubFunction, r.Data = SubFunction(be16(data)), data[2:]
	case LayoutEventCounter:
		if len(data) < 4 {
			r.Status = at16(data, 0)
			return errShort
		}
		r.Status, r.EventCount = be16(data), be16(data[2:])
		if len(data) != 4 {
			return errLength
		}
	case LayoutEventLog:
		if len(data) < 7 {
			r.Status, r.EventCount = at16(data, 1), at16(data, 3)
			return errShort
		}
		r.Status, r.EventCount, r.MessageCount = be16(data[1:]), be16(data[3:]), be16(data[5:])
		if int(data[0]) != len(data)-1 {
			return errByteCount
		}
		r.Data = data[7:]
	case LayoutServerID:
		if len(data) < 1 {
			return errShort
		}
		if int(data[0]) != len(data)-1 {
			return errByteCount
		}
		r.Data = data[1:]
	case LayoutFileReadResponse, LayoutFileWrite:
		var err error
		if r.Files, err = fileRecords(data, e.resp); err != nil {
			return err
		}
	case LayoutMaskWrite:
		var err error
		r.Address, r.AndMask, r.OrMask, err = maskWrite(data)
		if err != nil {
			return err
		}
	case LayoutFIFO:
		if len(data) < 4 {
			return errShort
		}
		bc, cnt := int(be16(data)), int(be16(data[2:]))
		r.Quantity = uint16(cnt)
		if bc != len(data)-2 {
			return errByteCount
		}
		if 2+2*cnt != bc {
			return errQuantity
		}
		r.Values = registers(data[4:])
	case LayoutMEI:
		if len(data) < 1 {
			return errShort
		}
		r.MEI = MEIType(data[0])
		if r.MEI != MEIReadDeviceID {
			r.Data = data[1:]
			break
		}
		return decodeDeviceID(&r.DeviceID, data[1:])
	default: // LayoutOpaque
		r.Data = data
		if fc == FuncUMAS {
			r.UMAS, r.Data = umasHeader(data)
		}
	}
	return nil
}

// decodeDeviceID decodes a Read Device Identification response after the
// MEI type: read code, conformity, more follows, next object id, number of
// objects, objects (MAP V1.1b3, 6.21).
func decodeDeviceID(d *DeviceID, b []byte) error {
	if len(b) < 5 {
		return errShort
	}
	d.ReadCode, d.Conformity, d.MoreFollows, d.NextObjectID = ReadDeviceIDCode(b[0]), b[1], b[2] == 0xFF, b[3]
	n := int(b[4])
	raw := b[5:]
	rest := raw
	for i := 0; i < n; i++ {
		if len(rest) < 2 || len(rest) < 2+int(rest[1]) {
			return errObjects
		}
		rest = rest[2+int(rest[1]):]
	}
	if len(rest) != 0 {
		return errObjects
	}
	d.Objects = Objects{raw: raw, n: n}
	return nil
}
