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
	if t.CaptureLoss {
		dst = append(dst, `,"capture_loss":true`...)
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

// Objects are written member by member, each member with its leading comma
// (`,"address":` is passed whole, so a key costs one copy of a constant);
// closeObject then turns the first comma into the opening brace. No state
// says whether a member is the first, and the helpers below are small
// enough to be inlined with their constant keys.

// closeObject ends the object whose members were written from start on.
func closeObject(dst []byte, start int) []byte {
	if len(dst) == start {
		return append(dst, '{', '}')
	}
	dst[start] = '{'
	return append(dst, '}')
}

// num writes a member whose value is a PDU field: at most 16 bits wide.
func num(dst []byte, k string, v uint16) []byte {
	return jsonw.Uint16(append(dst, k...), v)
}

// numIf writes the member if ok: a field that a short PDU did not carry is
// left out.
func numIf(dst []byte, ok bool, k string, v uint16) []byte {
	if ok {
		dst = num(dst, k, v)
	}
	return dst
}

func hexMember(dst []byte, k string, b []byte) []byte {
	return jsonw.Bytes(append(dst, k...), b)
}

// name writes a member whose value is one of our own names (no escaping).
func name(dst []byte, k, v string) []byte {
	dst = append(dst, k...)
	dst = append(dst, '"')
	dst = append(dst, v...)
	return append(dst, '"')
}

// values writes v as a JSON array, the longest part of an event (up to 125
// registers, 2,000 coils).
func values(dst []byte, k string, v Values) []byte {
	dst = append(dst, k...)
	if v.bits {
		return appendBits(dst, v)
	}
	dst = append(dst, '[')
	dst = jsonw.BigEndianUint16s(dst, v.raw[:2*v.n])
	return append(dst, ']')
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
		// An array assignment: a fixed 16-byte move, not a memmove call.
		*(*[16]byte)(out[1+16*i:]) = bitsJSON[c]
	}
	// Bit i is at out[1+2i], its comma at out[2+2i]: the last comma
	// becomes the bracket, and whatever follows (bits past v.n in the last
	// byte) is cut off.
	out[2*v.n] = ']'
	return dst[:start+2*v.n+1]
}

func boolMember(dst []byte, k string, v bool) []byte {
	return jsonw.Bool(append(dst, k...), v)
}

// errMember writes the decoding error, if any. It is small enough to be
// inlined: a PDU without error (nearly all) costs a comparison.
func errMember(dst []byte, err error) []byte {
	if err != nil {
		dst = appendError(dst, err)
	}
	return dst
}

func appendError(dst []byte, err error) []byte {
	return jsonw.String(append(dst, `,"error":`...), err.Error())
}

func subFunction(dst []byte, s SubFunction, data []byte) []byte {
	dst = num(dst, `,"sub_function":`, uint16(s))
	dst = name(dst, `,"sub_function_name":`, s.String())
	return hexMember(dst, `,"data":`, data)
}

func files(dst []byte, f FileRecords, withAddr bool) []byte {
	dst = append(dst, `,"records":[`...)
	i := 0
	for r := range f.All() {
		if i > 0 {
			dst = append(dst, ',')
		}
		i++
		start := len(dst)
		dst = num(dst, `,"ref_type":`, uint16(r.RefType))
		if withAddr {
			dst = num(dst, `,"file":`, r.File)
			dst = num(dst, `,"record":`, r.Record)
			dst = num(dst, `,"length":`, r.Length)
		}
		if f.layout != LayoutFileReadRequest {
			dst = values(dst, `,"values":`, r.Data)
		}
		dst = closeObject(dst, start)
	}
	return append(dst, ']')
}

func mei(dst []byte, m MEIType) []byte {
	dst = num(dst, `,"mei_type":`, uint16(m))
	return name(dst, `,"mei":`, m.String())
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
	start := len(dst)
	if r.Function.IsException() {
		dst = hexMember(dst, `,"data":`, r.Data)
		dst = errMember(dst, err)
		return closeObject(dst, start)
	}
	end := fieldEnd(err, r.avail)
	switch funcTable[r.Function].req {
	case LayoutEmpty:
	case LayoutAddrQty:
		dst = numIf(dst, end >= 2, `,"address":`, r.Address)
		dst = numIf(dst, end >= 4, `,"quantity":`, r.Quantity)
	case LayoutAddrValue:
		dst = numIf(dst, end >= 2, `,"address":`, r.Address)
		if r.Values.Len() > 0 {
			dst = values(dst, `,"values":`, r.Values)
		}
	case LayoutWriteBits, LayoutWriteRegs:
		dst = numIf(dst, end >= 2, `,"address":`, r.Address)
		dst = numIf(dst, end >= 4, `,"quantity":`, r.Quantity)
		if err == nil {
			dst = values(dst, `,"values":`, r.Values)
		}
	case LayoutDiag:
		if err == nil {
			dst = subFunction(dst, r.SubFunction, r.Data)
		}
	case LayoutFileReadRequest, LayoutFileWrite:
		if err == nil {
			dst = files(dst, r.Files, true)
		}
	case LayoutMaskWrite:
		dst = numIf(dst, end >= 2, `,"address":`, r.Address)
		dst = numIf(dst, end >= 4, `,"and_mask":`, r.AndMask)
		dst = numIf(dst, end >= 6, `,"or_mask":`, r.OrMask)
	case LayoutReadWrite:
		dst = numIf(dst, end >= 2, `,"address":`, r.Address)
		dst = numIf(dst, end >= 4, `,"quantity":`, r.Quantity)
		dst = numIf(dst, end >= 6, `,"write_address":`, r.WriteAddress)
		dst = numIf(dst, end >= 8, `,"write_quantity":`, r.WriteQuantity)
		if err == nil {
			dst = values(dst, `,"values":`, r.Values)
		}
	case LayoutFIFOPointer:
		dst = numIf(dst, end >= 2, `,"address":`, r.Address)
	case LayoutMEI:
		if end >= 1 {
			dst = mei(dst, r.MEI)
		}
		if r.MEI == MEIReadDeviceID {
			dst = numIf(dst, end >= 2, `,"read_device_id_code":`, uint16(r.DeviceID.ReadCode))
			dst = numIf(dst, end >= 3, `,"object_id":`, uint16(r.DeviceID.ObjectID))
		} else if err == nil {
			dst = hexMember(dst, `,"data":`, r.Data)
		}
	default:
		if r.UMAS.Valid {
			dst = umas(dst, r.UMAS, `,"function_code":`, `,"function":`)
		}
		dst = hexMember(dst, `,"data":`, r.Data)
	}
	dst = errMember(dst, err)
	return closeObject(dst, start)
}

// umas writes the UMAS header of an FC 90 PDU as an object: the pairing
// key and the request's function or the response's status, by number and
// name.
func umas(dst []byte, u UMAS, code, nameKey string) []byte {
	dst = jsonw.Uint16(append(dst, `,"umas":{"pairing_key":`...), uint16(u.Key))
	dst = num(dst, code, uint16(u.Function))
	return append(name(dst, nameKey, u.Function.String()), '}')
}

func appendResponse(dst []byte, r *Response, err error, mismatch bool) []byte {
	start := len(dst)
	if mismatch {
		// The ids paired it with a request of another function.
		dst = num(dst, `,"function_code":`, uint16(r.Function))
	}
	if r.Function.IsException() {
		dst = errMember(dst, err)
		return closeObject(dst, start)
	}
	end := fieldEnd(err, r.avail)
	switch funcTable[r.Function].resp {
	case LayoutAddrQty:
		dst = numIf(dst, end >= 2, `,"address":`, r.Address)
		dst = numIf(dst, end >= 4, `,"quantity":`, r.Quantity)
	case LayoutAddrValue:
		dst = numIf(dst, end >= 2, `,"address":`, r.Address)
		if r.Values.Len() > 0 {
			dst = values(dst, `,"values":`, r.Values)
		}
	case LayoutReadBits, LayoutReadRegs:
		if err == nil {
			dst = values(dst, `,"values":`, r.Values)
		}
	case LayoutStatus:
		if err == nil {
			dst = num(dst, `,"status":`, r.Status)
		}
	case LayoutDiag:
		if err == nil {
			dst = subFunction(dst, r.SubFunction, r.Data)
		}
	case LayoutEventCounter:
		dst = numIf(dst, end >= 2, `,"status":`, r.Status)
		dst = numIf(dst, end >= 4, `,"event_count":`, r.EventCount)
	case LayoutEventLog:
		dst = numIf(dst, end >= 3, `,"status":`, r.Status)
		dst = numIf(dst, end >= 5, `,"event_count":`, r.EventCount)
		dst = numIf(dst, end >= 7, `,"message_count":`, r.MessageCount)
		if err == nil {
			dst = hexMember(dst, `,"events":`, r.Data)
		}
	case LayoutServerID:
		if err == nil {
			dst = hexMember(dst, `,"server_id":`, r.Data)
		}
	case LayoutFileReadResponse, LayoutFileWrite:
		if err == nil {
			dst = files(dst, r.Files, r.Files.layout == LayoutFileWrite)
		}
	case LayoutMaskWrite:
		dst = numIf(dst, end >= 2, `,"address":`, r.Address)
		dst = numIf(dst, end >= 4, `,"and_mask":`, r.AndMask)
		dst = numIf(dst, end >= 6, `,"or_mask":`, r.OrMask)
	case LayoutFIFO:
		dst = numIf(dst, end >= 4, `,"quantity":`, r.Quantity)
		if err == nil {
			dst = values(dst, `,"values":`, r.Values)
		}
	case LayoutMEI:
		if end >= 1 {
			dst = mei(dst, r.MEI)
		}
		if r.MEI == MEIReadDeviceID && end >= 6 {
			d := &r.DeviceID
			dst = num(dst, `,"read_device_id_code":`, uint16(d.ReadCode))
			dst = num(dst, `,"conformity_level":`, uint16(d.Conformity))
			dst = boolMember(dst, `,"more_follows":`, d.MoreFollows)
			dst = num(dst, `,"next_object_id":`, uint16(d.NextObjectID))
			if err == nil {
				dst = append(dst, `,"objects":[`...)
				i := 0
				for id, v := range d.Objects.All() {
					if i > 0 {
						dst = append(dst, ',')
					}
					i++
					obj := len(dst)
					dst = num(dst, `,"id":`, uint16(id))
					if n := ObjectName(id); n != "" {
						dst = name(dst, `,"name":`, n)
					}
					dst = jsonw.String(append(dst, `,"value":`...), unsafeString(v))
					dst = closeObject(dst, obj)
				}
				dst = append(dst, ']')
			}
		} else if r.MEI != MEIReadDeviceID && err == nil {
			dst = hexMember(dst, `,"data":`, r.Data)
		}
	default:
		if r.UMAS.Valid {
			dst = umas(dst, r.UMAS, `,"status_code":`, `,"status":`)
		}
		dst = hexMember(dst, `,"data":`, r.Data)
	}
	dst = errMember(dst, err)
	return closeObject(dst, start)
}

// unsafeString views b as a string without copying, for passing PDU bytes to
// jsonw.String, which only reads them before returning.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
