package modbus

import (
	"slices"
	"strconv"
	"unsafe"

	"github.com/sluice-ics/sluice/internal/jsonw"
)

// AppendJSON appends the value of an EVE event's "modbus" key for t, e.g.
//
//	{"transaction_id":5,"unit_id":1,"function_code":16,"function":"write_multiple_registers",
//	 "request":{"address":100,"quantity":2,"values":[17,42]},
//	 "response":{"address":100,"quantity":2},"latency_us":830}
//
// "request" and "response" are absent when not seen; an exception adds
// "exception_code" and "exception"; an unanswered request adds
// "timeout":true. The fields of each layout are listed in docs/modbus.md.
// Every byte string from the network goes through jsonw (escaped strings or
// hex), so hostile PDUs cannot break the NDJSON line. It allocates nothing
// once dst has room.
func (t *Transaction) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"transaction_id":`...)
	dst = jsonw.Uint16(dst, t.TransactionID)
	dst = append(dst, `,"unit_id":`...)
	dst = jsonw.Uint16(dst, uint16(t.UnitID))
	dst = append(dst, functionJSON[t.FunctionCode]...)
	if t.HasRequest {
		dst = append(dst, `,"request":`...)
		dst = appendRequest(dst, &t.Request, t.RequestErr)
	}
	if t.HasResponse {
		dst = append(dst, `,"response":`...)
		dst = appendResponse(dst, &t.Response, t.ResponseErr, t.HasRequest && t.Response.Function.Base() != t.FunctionCode)
		if ex, ok := t.Exception(); ok {
			dst = append(dst, exceptionJSON[ex]...)
		}
	}
	if t.HasRequest && t.HasResponse {
		dst = append(dst, `,"latency_us":`...)
		dst = jsonw.Int(dst, t.Latency.Microseconds())
	}
	if t.Timeout {
		dst = append(dst, `,"timeout":true`...)
	}
	return append(dst, '}')
}

// functionJSON and exceptionJSON hold, for each code, the members an event
// writes for it (`,"function_code":3,"function":"read_holding_registers"`,
// `,"exception_code":2,"exception":"illegal_data_address"`), composed once
// so that an event copies one string instead of writing a number, a key and
// a name.
var functionJSON, exceptionJSON = func() (fns, exs [256]string) {
	for c := range 256 {
		fns[c] = `,"function_code":` + strconv.Itoa(c) + `,"function":"` + FunctionCode(c).String() + `"`
		exs[c] = `,"exception_code":` + strconv.Itoa(c) + `,"exception":"` + ExceptionCode(c).String() + `"`
	}
	return fns, exs
}()

// obj writes object members, putting the commas in. Keys are passed whole,
// with their leading comma and trailing colon (`,"address":`), so a member
// costs one copy; the first member of an object drops the comma.
type obj struct {
	dst   []byte
	first bool
}

func (o *obj) key(k string) {
	if o.first {
		o.first = false
		k = k[1:]
	}
	o.dst = append(o.dst, k...)
}

func (o *obj) uint(k string, v uint64) { o.key(k); o.dst = jsonw.Uint(o.dst, v) }
func (o *obj) uintIf(ok bool, k string, v uint64) {
	if ok {
		o.uint(k, v)
	}
}
func (o *obj) bool(k string, v bool)  { o.key(k); o.dst = jsonw.Bool(o.dst, v) }
func (o *obj) hex(k string, b []byte) { o.key(k); o.dst = jsonw.Bytes(o.dst, b) }
func (o *obj) name(k, v string) {
	o.key(k)
	o.dst = append(o.dst, '"')
	o.dst = append(o.dst, v...)
	o.dst = append(o.dst, '"')
}

// values writes v as a JSON array, the longest part of an event (up to 125
// registers, 2,000 coils).
func (o *obj) values(k string, v Values) {
	o.key(k)
	if v.bits {
		o.dst = appendBits(o.dst, v)
		return
	}
	o.dst = append(o.dst, '[')
	o.dst = jsonw.BigEndianUint16s(o.dst, v.raw[:2*v.n])
	o.dst = append(o.dst, ']')
}

// bitsJSON holds, for each byte of coils or discrete inputs, its eight bits
// LSB first as JSON list elements: "1,0,1,0,0,0,0,0,".
var bitsJSON = func() (t [256][16]byte) {
	for c := range t {
		for i := range 8 {
			t[c][2*i], t[c][2*i+1] = '0'+byte(c>>i)&1, ','
		}
	}
	return t
}()

// appendBits appends bit values as a JSON list of 0 and 1, copying sixteen
// bytes from bitsJSON per byte of bits and cutting the list after the last
// bit, instead of extracting and writing every bit.
func appendBits(dst []byte, v Values) []byte {
	if v.n == 0 {
		return append(dst, '[', ']')
	}
	raw := v.raw[:(v.n+7)/8]
	start := len(dst)
	dst = slices.Grow(dst, 1+16*len(raw))
	out := dst[start : start+1+16*len(raw)]
	out[0] = '['
	for i, c := range raw {
		copy(out[1+16*i:17+16*i], bitsJSON[c][:])
	}
	// Bit i is at out[1+2i], its comma at out[2+2i]: the last comma
	// becomes the bracket, and whatever follows (bits past v.n in the last
	// byte) is cut off.
	out[2*v.n] = ']'
	return dst[:start+2*v.n+1]
}

func (o *obj) err(err error) {
	if err != nil {
		o.key(`,"error":`)
		o.dst = jsonw.String(o.dst, err.Error())
	}
}

func (o *obj) subFunction(s SubFunction, data []byte) {
	o.uint(`,"sub_function":`, uint64(s))
	o.name(`,"sub_function_name":`, s.String())
	o.hex(`,"data":`, data)
}

func (o *obj) files(f FileRecords, withAddr bool) {
	o.key(`,"records":`)
	o.dst = append(o.dst, '[')
	i := 0
	for r := range f.All() {
		if i > 0 {
			o.dst = append(o.dst, ',')
		}
		i++
		sub := obj{dst: append(o.dst, '{'), first: true}
		sub.uint(`,"ref_type":`, uint64(r.RefType))
		if withAddr {
			sub.uint(`,"file":`, uint64(r.File))
			sub.uint(`,"record":`, uint64(r.Record))
			sub.uint(`,"length":`, uint64(r.Length))
		}
		if f.layout != LayoutFileReadRequest {
			sub.values(`,"values":`, r.Data)
		}
		o.dst = append(sub.dst, '}')
	}
	o.dst = append(o.dst, ']')
}

func (o *obj) mei(m MEIType) {
	o.uint(`,"mei_type":`, uint64(m))
	o.name(`,"mei":`, m.String())
}

// fieldEnd bounds the fields written for a PDU: all of them, or for a PDU
// too short for its layout only those that end within the data it had.
func fieldEnd(err error, avail int) int {
	if err == errShort {
		return avail
	}
	return 1 << 30
}

func appendRequest(dst []byte, r *Request, err error) []byte {
	o := obj{dst: append(dst, '{'), first: true}
	if r.Function.IsException() {
		o.hex(`,"data":`, r.Data)
		o.err(err)
		return append(o.dst, '}')
	}
	end := fieldEnd(err, r.avail)
	switch funcTable[r.Function].req {
	case LayoutEmpty:
	case LayoutAddrQty:
		o.uintIf(end >= 2, `,"address":`, uint64(r.Address))
		o.uintIf(end >= 4, `,"quantity":`, uint64(r.Quantity))
	case LayoutAddrValue:
		o.uintIf(end >= 2, `,"address":`, uint64(r.Address))
		if r.Values.Len() > 0 {
			o.values(`,"values":`, r.Values)
		}
	case LayoutWriteBits, LayoutWriteRegs:
		o.uintIf(end >= 2, `,"address":`, uint64(r.Address))
		o.uintIf(end >= 4, `,"quantity":`, uint64(r.Quantity))
		if err == nil {
			o.values(`,"values":`, r.Values)
		}
	case LayoutDiag:
		if err == nil {
			o.subFunction(r.SubFunction, r.Data)
		}
	case LayoutFileReadRequest, LayoutFileWrite:
		if err == nil {
			o.files(r.Files, true)
		}
	case LayoutMaskWrite:
		o.uintIf(end >= 2, `,"address":`, uint64(r.Address))
		o.uintIf(end >= 4, `,"and_mask":`, uint64(r.AndMask))
		o.uintIf(end >= 6, `,"or_mask":`, uint64(r.OrMask))
	case LayoutReadWrite:
		o.uintIf(end >= 2, `,"address":`, uint64(r.Address))
		o.uintIf(end >= 4, `,"quantity":`, uint64(r.Quantity))
		o.uintIf(end >= 6, `,"write_address":`, uint64(r.WriteAddress))
		o.uintIf(end >= 8, `,"write_quantity":`, uint64(r.WriteQuantity))
		if err == nil {
			o.values(`,"values":`, r.Values)
		}
	case LayoutFIFOPointer:
		o.uintIf(end >= 2, `,"address":`, uint64(r.Address))
	case LayoutMEI:
		if end >= 1 {
			o.mei(r.MEI)
		}
		if r.MEI == MEIReadDeviceID {
			o.uintIf(end >= 2, `,"read_device_id_code":`, uint64(r.DeviceID.ReadCode))
			o.uintIf(end >= 3, `,"object_id":`, uint64(r.DeviceID.ObjectID))
		} else if err == nil {
			o.hex(`,"data":`, r.Data)
		}
	default:
		o.hex(`,"data":`, r.Data)
	}
	o.err(err)
	return append(o.dst, '}')
}

func appendResponse(dst []byte, r *Response, err error, mismatch bool) []byte {
	o := obj{dst: append(dst, '{'), first: true}
	if mismatch {
		// The ids paired it with a request of another function.
		o.uint(`,"function_code":`, uint64(r.Function))
	}
	if r.Function.IsException() {
		o.err(err)
		return append(o.dst, '}')
	}
	end := fieldEnd(err, r.avail)
	switch funcTable[r.Function].resp {
	case LayoutAddrQty:
		o.uintIf(end >= 2, `,"address":`, uint64(r.Address))
		o.uintIf(end >= 4, `,"quantity":`, uint64(r.Quantity))
	case LayoutAddrValue:
		o.uintIf(end >= 2, `,"address":`, uint64(r.Address))
		if r.Values.Len() > 0 {
			o.values(`,"values":`, r.Values)
		}
	case LayoutReadBits, LayoutReadRegs:
		if err == nil {
			o.values(`,"values":`, r.Values)
		}
	case LayoutStatus:
		if err == nil {
			o.uint(`,"status":`, uint64(r.Status))
		}
	case LayoutDiag:
		if err == nil {
			o.subFunction(r.SubFunction, r.Data)
		}
	case LayoutEventCounter:
		o.uintIf(end >= 2, `,"status":`, uint64(r.Status))
		o.uintIf(end >= 4, `,"event_count":`, uint64(r.EventCount))
	case LayoutEventLog:
		o.uintIf(end >= 3, `,"status":`, uint64(r.Status))
		o.uintIf(end >= 5, `,"event_count":`, uint64(r.EventCount))
		o.uintIf(end >= 7, `,"message_count":`, uint64(r.MessageCount))
		if err == nil {
			o.hex(`,"events":`, r.Data)
		}
	case LayoutServerID:
		if err == nil {
			o.hex(`,"server_id":`, r.Data)
		}
	case LayoutFileReadResponse, LayoutFileWrite:
		if err == nil {
			o.files(r.Files, r.Files.layout == LayoutFileWrite)
		}
	case LayoutMaskWrite:
		o.uintIf(end >= 2, `,"address":`, uint64(r.Address))
		o.uintIf(end >= 4, `,"and_mask":`, uint64(r.AndMask))
		o.uintIf(end >= 6, `,"or_mask":`, uint64(r.OrMask))
	case LayoutFIFO:
		o.uintIf(end >= 4, `,"quantity":`, uint64(r.Quantity))
		if err == nil {
			o.values(`,"values":`, r.Values)
		}
	case LayoutMEI:
		if end >= 1 {
			o.mei(r.MEI)
		}
		if r.MEI == MEIReadDeviceID && end >= 6 {
			d := &r.DeviceID
			o.uint(`,"read_device_id_code":`, uint64(d.ReadCode))
			o.uint(`,"conformity_level":`, uint64(d.Conformity))
			o.bool(`,"more_follows":`, d.MoreFollows)
			o.uint(`,"next_object_id":`, uint64(d.NextObjectID))
			if err == nil {
				o.key(`,"objects":`)
				o.dst = append(o.dst, '[')
				i := 0
				for id, v := range d.Objects.All() {
					if i > 0 {
						o.dst = append(o.dst, ',')
					}
					i++
					sub := obj{dst: append(o.dst, '{'), first: true}
					sub.uint(`,"id":`, uint64(id))
					if n := ObjectName(id); n != "" {
						sub.name(`,"name":`, n)
					}
					sub.key(`,"value":`)
					sub.dst = jsonw.String(sub.dst, unsafeString(v))
					o.dst = append(sub.dst, '}')
				}
				o.dst = append(o.dst, ']')
			}
		} else if r.MEI != MEIReadDeviceID && err == nil {
			o.hex(`,"data":`, r.Data)
		}
	default:
		o.hex(`,"data":`, r.Data)
	}
	o.err(err)
	return append(o.dst, '}')
}

// unsafeString views b as a string without copying, for passing PDU bytes to
// jsonw.String, which only reads them before returning.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
