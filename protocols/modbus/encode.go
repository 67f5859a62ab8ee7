package modbus

import (
	"encoding/binary"
	"fmt"
)

// Encoders are the inverse of DecodeRequest and DecodeResponse, for every
// function code: AppendPDU writes the function code and the data its layout
// (funcs.go) prescribes from the struct's fields. Byte counts and lengths are
// computed from the data, never taken from the caller, so an encoded PDU is
// always well formed as long as the data fits in MaxPDULen. Attack traffic
// that needs malformed PDUs can be built by hand on top of ADU.Append.

// AppendPDU appends r's PDU to dst. It fails (wrapping ErrMalformed) if the
// result would exceed MaxPDULen or a field cannot be encoded (a write single
// coil with more or less than one value).
func (r *Request) AppendPDU(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, byte(r.Function))
	var err error
	if r.Function.IsException() {
		dst = append(dst, r.Data...)
		return checkLen(dst, start, r.Function)
	}
	e := &funcTable[r.Function]
	switch e.req {
	case LayoutEmpty:
	case LayoutAddrQty:
		dst = be16s(dst, r.Address, r.Quantity)
	case LayoutAddrValue:
		dst, err = appendSingle(dst, r.Address, r.Values)
	case LayoutWriteBits, LayoutWriteRegs:
		if len(r.Values.raw) > 255 {
			return dst[:start], fmt.Errorf("modbus: encode %v: %d value bytes: %w", r.Function, len(r.Values.raw), ErrMalformed)
		}
		dst = be16s(dst, r.Address, uint16(r.Values.Len()))
		dst = append(dst, byte(len(r.Values.raw)))
		dst = append(dst, r.Values.raw...)
	case LayoutDiag:
		dst = be16s(dst, uint16(r.SubFunction))
		dst = append(dst, r.Data...)
	case LayoutFileReadRequest, LayoutFileWrite:
		dst = append(dst, byte(len(r.Files.raw)))
		dst = append(dst, r.Files.raw...)
	case LayoutMaskWrite:
		dst = be16s(dst, r.Address, r.AndMask, r.OrMask)
	case LayoutReadWrite:
		dst = be16s(dst, r.Address, r.Quantity, r.WriteAddress, uint16(r.Values.Len()))
		dst = append(dst, byte(len(r.Values.raw)))
		dst = append(dst, r.Values.raw...)
	case LayoutFIFOPointer:
		dst = be16s(dst, r.Address)
	case LayoutMEI:
		dst = append(dst, byte(r.MEI))
		if r.MEI == MEIReadDeviceID {
			dst = append(dst, byte(r.DeviceID.ReadCode), r.DeviceID.ObjectID)
		} else {
			dst = append(dst, r.Data...)
		}
	default:
		if r.UMAS.Valid {
			dst = append(dst, r.UMAS.Key, byte(r.UMAS.Function))
		}
		dst = append(dst, r.Data...)
	}
	if err != nil {
		return dst[:start], fmt.Errorf("modbus: encode %v request: %w", r.Function, err)
	}
	return checkLen(dst, start, r.Function)
}

// AppendPDU appends r's PDU to dst. An exception response (Function with bit
// 7 set) is the function code and the exception code. Read responses of
// FC 1 and 2 carry whole bytes of bits, padded with zeros.
func (r *Response) AppendPDU(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, byte(r.Function))
	var err error
	if r.Function.IsException() {
		return append(dst, byte(r.Exception)), nil
	}
	e := &funcTable[r.Function]
	switch e.resp {
	case LayoutAddrQty:
		dst = be16s(dst, r.Address, r.Quantity)
	case LayoutAddrValue:
		dst, err = appendSingle(dst, r.Address, r.Values)
	case LayoutReadBits, LayoutReadRegs:
		if len(r.Values.raw) > 255 {
			return dst[:start], fmt.Errorf("modbus: encode %v: %d value bytes: %w", r.Function, len(r.Values.raw), ErrMalformed)
		}
		dst = append(dst, byte(len(r.Values.raw)))
		dst = append(dst, r.Values.raw...)
	case LayoutStatus:
		dst = append(dst, byte(r.Status))
	case LayoutDiag:
		dst = be16s(dst, uint16(r.SubFunction))
		dst = append(dst, r.Data...)
	case LayoutEventCounter:
		dst = be16s(dst, r.Status, r.EventCount)
	case LayoutEventLog:
		dst = append(dst, byte(6+len(r.Data)))
		dst = be16s(dst, r.Status, r.EventCount, r.MessageCount)
		dst = append(dst, r.Data...)
	case LayoutServerID:
		dst = append(dst, byte(len(r.Data)))
		dst = append(dst, r.Data...)
	case LayoutFileReadResponse, LayoutFileWrite:
		dst = append(dst, byte(len(r.Files.raw)))
		dst = append(dst, r.Files.raw...)
	case LayoutMaskWrite:
		dst = be16s(dst, r.Address, r.AndMask, r.OrMask)
	case LayoutFIFO:
		dst = be16s(dst, uint16(2+len(r.Values.raw)), uint16(r.Values.Len()))
		dst = append(dst, r.Values.raw...)
	case LayoutMEI:
		dst = append(dst, byte(r.MEI))
		if r.MEI == MEIReadDeviceID {
			d := &r.DeviceID
			more := byte(0)
			if d.MoreFollows {
				more = 0xFF
			}
			dst = append(dst, byte(d.ReadCode), d.Conformity, more, d.NextObjectID, byte(d.Objects.n))
			dst = append(dst, d.Objects.raw...)
		} else {
			dst = append(dst, r.Data...)
		}
	default:
		if r.UMAS.Valid {
			dst = append(dst, r.UMAS.Key, byte(r.UMAS.Function))
		}
		dst = append(dst, r.Data...)
	}
	if err != nil {
		return dst[:start], fmt.Errorf("modbus: encode %v response: %w", r.Function, err)
	}
	return checkLen(dst, start, r.Function)
}

// ExceptionResponse returns the exception response to a request with
// function code fc (MAP V1.1b3, 7).
func ExceptionResponse(fc FunctionCode, code ExceptionCode) Response {
	return Response{Function: fc | exceptionBit, Exception: code}
}

// appendSingle writes FC 5/6's address and value: a coil as 0xFF00 or
// 0x0000 (MAP V1.1b3, 6.5), a register as is.
func appendSingle(dst []byte, addr uint16, v Values) ([]byte, error) {
	if v.Len() != 1 {
		return dst, fmt.Errorf("single write needs exactly one value, got %d: %w", v.Len(), ErrMalformed)
	}
	dst = be16s(dst, addr)
	if v.bits {
		if v.Bit(0) {
			return append(dst, 0xFF, 0x00), nil
		}
		return append(dst, 0, 0), nil
	}
	return append(dst, v.raw[0], v.raw[1]), nil
}

func be16s(dst []byte, vs ...uint16) []byte {
	for _, v := range vs {
		dst = binary.BigEndian.AppendUint16(dst, v)
	}
	return dst
}

func checkLen(dst []byte, start int, fc FunctionCode) ([]byte, error) {
	if n := len(dst) - start; n > MaxPDULen {
		return dst[:start], fmt.Errorf("modbus: encode %v: pdu of %d bytes exceeds %d: %w", fc, n, MaxPDULen, ErrMalformed)
	}
	return dst, nil
}
