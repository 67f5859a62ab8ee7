package dnp3

import (
	"encoding/binary"
	"math"

	"github.com/sluice-ics/sluice/internal/jsonw"
)

// Objects with an inner layout of their own, written field by field in
// events: device attributes (group 0), file transfer (group 70), secure
// authentication (group 120) and security statistics (groups 121, 122).
// Each decoder checks the object's fixed part against its length; an
// object too short for it is written as hex "data".

// Device attribute data types (IEEE 1815-2012, 11.9.2.2, table 11-9).
var attrTypeNames = [256]string{1: "vstr", 2: "uint", 3: "int", 4: "flt", 5: "ostr", 6: "bstr", 254: "u8bs8list", 255: "u8bs8exlist"}

// AttributeValue returns a device attribute's value (group 0) as a number
// when its data type is an integer or a float of a length that fits.
func (p *Point) AttributeValue() (Value, bool) {
	v := p.Raw
	switch {
	case p.AttrType == 2 && len(v) <= 8 && len(v) > 0:
		return Value{Kind: UintValue, Uint: leUint(v)}, true
	case p.AttrType == 3 && len(v) <= 8 && len(v) > 0:
		// Sign-extend from the attribute's length.
		shift := 64 - 8*uint(len(v))
		return Value{Kind: IntValue, Int: int64(leUint(v)<<shift) >> shift}, true
	case p.AttrType == 4 && len(v) == 4:
		return Value{Kind: FloatValue, Float: float64(math.Float32frombits(binary.LittleEndian.Uint32(v))), Float32: true}, true
	case p.AttrType == 4 && len(v) == 8:
		return Value{Kind: FloatValue, Float: math.Float64frombits(binary.LittleEndian.Uint64(v))}, true
	}
	return Value{}, false
}

func appendAttribute(dst []byte, p *Point) []byte {
	dst = uintMember(dst, `,"type":`, uint64(p.AttrType))
	if n := attrTypeNames[p.AttrType]; n != "" {
		dst = nameMember(dst, `,"type_name":`, n)
	}
	if p.AttrType == 1 {
		return textMember(dst, `,"text":`, p.Raw)
	}
	if v, ok := p.AttributeValue(); ok {
		return appendValue(dst, &v)
	}
	return hexMember(dst, `,"data":`, p.Raw)
}

// leUint reads up to eight octets as a little-endian unsigned integer.
func leUint(b []byte) uint64 {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// File control status codes (IEEE 1815-2012, 11.9.27.4, table 11-20).
var fileStatusNames = [256]string{
	0: "success", 1: "permission_denied", 2: "invalid_mode", 3: "file_not_found", 4: "file_locked",
	5: "too_many_open", 6: "invalid_handle", 7: "write_block_size", 8: "comm_lost", 9: "cannot_abort",
	16: "not_opened", 17: "handle_expired", 18: "buffer_overrun", 19: "fatal", 20: "block_seq", 255: "undefined",
}

var fileModeNames = [4]string{"null", "read", "write", "append"}

// FileObject is a file-control object (group 70, IEEE 1815-2012, 11.9.27)
// decoded; which fields are set depends on the variation: 2
// authentication (UserName, PasswordLen, AuthKey), 3 file command (Name,
// Created, Permissions, AuthKey, FileSize, Mode, MaxBlockSize, RequestID),
// 4 command status (Handle, FileSize, MaxBlockSize, RequestID, Status,
// Text), 5 transport (Handle, Block, Last, Data), 6 transport status
// (Handle, Block, Last, Status, Text), 7 descriptor (Name, FileType,
// FileSize, Created, Permissions, RequestID), 8 specification string
// (Name). Byte fields alias the object.
type FileObject struct {
	Name, UserName, Text, Data []byte
	Created                    uint64 // ms since 1970
	Permissions, Mode          uint16
	MaxBlockSize, RequestID    uint16
	FileType, PasswordLen      uint16
	AuthKey, FileSize          uint32
	Handle, Block              uint32
	Last                       bool
	Status                     uint8
}

// fileFixed is the length of the fixed part of each file-control variation
// (11.9.27); 0 for variations without one.
var fileFixed = [9]int{2: 12, 3: 26, 4: 13, 5: 8, 6: 9, 7: 20}

// ParseFile decodes a file-control object of variation v; it reports false
// for variation 1 (obsolete), unknown variations and objects too short for
// their fixed part.
func ParseFile(v uint8, b []byte) (f FileObject, ok bool) {
	if v < 2 || int(v) >= len(fileFixed) || len(b) < fileFixed[v] {
		return f, false
	}
	u16 := func(i int) uint16 { return binary.LittleEndian.Uint16(b[i:]) }
	u32 := func(i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }
	switch v {
	case 2:
		f.UserName, f.PasswordLen, f.AuthKey = within(b, u16(0), u16(2)), u16(6), u32(8)
	case 3:
		f.Name, f.Created, f.Permissions = within(b, u16(0), u16(2)), time48(b[4:]), u16(10)
		f.AuthKey, f.FileSize, f.Mode = u32(12), u32(16), u16(20)
		f.MaxBlockSize, f.RequestID = u16(22), u16(24)
	case 4:
		f.Handle, f.FileSize, f.MaxBlockSize, f.RequestID = u32(0), u32(4), u16(8), u16(10)
		f.Status, f.Text = b[12], b[13:]
	case 5, 6:
		f.Handle, f.Block, f.Last = u32(0), u32(4)&0x7FFFFFFF, u32(4)>>31 != 0
		if v == 5 {
			f.Data = b[8:]
		} else {
			f.Status, f.Text = b[8], b[9:]
		}
	case 7:
		f.Name, f.FileType, f.FileSize = within(b, u16(0), u16(2)), u16(4), u32(6)
		f.Created, f.Permissions, f.RequestID = time48(b[10:]), u16(16), u16(18)
	case 8:
		f.Name = b
	}
	return f, true
}

func appendFile(dst []byte, v uint8, b []byte) []byte {
	f, ok := ParseFile(v, b)
	if !ok {
		return hexMember(dst, `,"data":`, b)
	}
	switch v {
	case 2:
		dst = textMember(dst, `,"user_name":`, f.UserName)
		// The password is in clear on the wire; the event keeps only
		// its length.
		dst = uintMember(dst, `,"password_length":`, uint64(f.PasswordLen))
		dst = uintMember(dst, `,"authentication_key":`, uint64(f.AuthKey))
	case 3:
		dst = textMember(dst, `,"file_name":`, f.Name)
		dst = uintMember(dst, `,"created":`, f.Created)
		dst = uintMember(dst, `,"permissions":`, uint64(f.Permissions))
		dst = uintMember(dst, `,"authentication_key":`, uint64(f.AuthKey))
		dst = uintMember(dst, `,"file_size":`, uint64(f.FileSize))
		dst = uintMember(dst, `,"operational_mode":`, uint64(f.Mode))
		if int(f.Mode) < len(fileModeNames) {
			dst = nameMember(dst, `,"mode":`, fileModeNames[f.Mode])
		}
		dst = uintMember(dst, `,"max_block_size":`, uint64(f.MaxBlockSize))
		dst = uintMember(dst, `,"request_id":`, uint64(f.RequestID))
	case 4:
		dst = uintMember(dst, `,"file_handle":`, uint64(f.Handle))
		dst = uintMember(dst, `,"file_size":`, uint64(f.FileSize))
		dst = uintMember(dst, `,"max_block_size":`, uint64(f.MaxBlockSize))
		dst = uintMember(dst, `,"request_id":`, uint64(f.RequestID))
		dst = fileStatus(dst, f.Status, f.Text)
	case 5, 6:
		dst = uintMember(dst, `,"file_handle":`, uint64(f.Handle))
		dst = uintMember(dst, `,"block_number":`, uint64(f.Block))
		dst = jsonw.Bool(append(dst, `,"last_block":`...), f.Last)
		if v == 5 {
			// The block's content is not written, only its size.
			dst = uintMember(dst, `,"data_length":`, uint64(len(f.Data)))
		} else {
			dst = fileStatus(dst, f.Status, f.Text)
		}
	case 7:
		dst = textMember(dst, `,"file_name":`, f.Name)
		dst = uintMember(dst, `,"file_type":`, uint64(f.FileType))
		dst = uintMember(dst, `,"file_size":`, uint64(f.FileSize))
		dst = uintMember(dst, `,"created":`, f.Created)
		dst = uintMember(dst, `,"permissions":`, uint64(f.Permissions))
		dst = uintMember(dst, `,"request_id":`, uint64(f.RequestID))
	case 8:
		dst = textMember(dst, `,"file_name":`, f.Name)
	}
	return dst
}

func fileStatus(dst []byte, code byte, text []byte) []byte {
	dst = uintMember(dst, `,"status_code":`, uint64(code))
	if n := fileStatusNames[code]; n != "" {
		dst = nameMember(dst, `,"status":`, n)
	}
	if len(text) > 0 {
		dst = textMember(dst, `,"text":`, text)
	}
	return dst
}

// within returns b[off:off+n], cut to what b holds.
func within(b []byte, off, n uint16) []byte {
	if int(off) > len(b) {
		return nil
	}
	return b[off:min(int(off)+int(n), len(b))]
}

// Secure authentication (IEEE 1815-2012, 7.6.1 and 11.9.38): key status
// codes (table 7-6) and error codes (table 7-9).
var keyStatusNames = [256]string{1: "ok", 2: "not_init", 3: "comm_fail", 4: "auth_fail"}

var authErrorNames = [256]string{
	1: "authentication_failed", 2: "unexpected_response", 3: "no_response", 4: "aggressive_mode_not_supported",
	5: "mac_algorithm_not_supported", 6: "key_wrap_algorithm_not_supported", 7: "authorization_failed",
	8: "update_key_change_method_not_permitted", 9: "invalid_signature", 10: "invalid_certification_data",
	11: "unknown_user", 12: "max_session_key_status_requests_exceeded",
}

// authFixed is the length of the fixed part of each group 120 variation.
var authFixed = [16]int{1: 8, 2: 6, 3: 6, 4: 2, 5: 11, 6: 6, 7: 15}

func appendAuth(dst []byte, v uint8, b []byte) []byte {
	if int(v) >= len(authFixed) || len(b) < authFixed[v] {
		return uintMember(dst, `,"data_length":`, uint64(len(b)))
	}
	u16 := func(i int) uint64 { return uint64(binary.LittleEndian.Uint16(b[i:])) }
	u32 := func(i int) uint64 { return uint64(binary.LittleEndian.Uint32(b[i:])) }
	switch v {
	case 1: // challenge
		dst = uintMember(dst, `,"csq":`, u32(0))
		dst = uintMember(dst, `,"user":`, u16(4))
		dst = uintMember(dst, `,"mac_algorithm":`, uint64(b[6]))
		dst = uintMember(dst, `,"reason":`, uint64(b[7]))
		dst = uintMember(dst, `,"challenge_length":`, uint64(len(b)-8))
	case 2: // reply
		dst = uintMember(dst, `,"csq":`, u32(0))
		dst = uintMember(dst, `,"user":`, u16(4))
		dst = uintMember(dst, `,"mac_length":`, uint64(len(b)-6))
	case 3: // aggressive mode request
		dst = uintMember(dst, `,"csq":`, u32(0))
		dst = uintMember(dst, `,"user":`, u16(4))
	case 4: // session key status request
		dst = uintMember(dst, `,"user":`, u16(0))
	case 5: // session key status
		dst = uintMember(dst, `,"ksq":`, u32(0))
		dst = uintMember(dst, `,"user":`, u16(4))
		dst = uintMember(dst, `,"key_wrap_algorithm":`, uint64(b[6]))
		dst = uintMember(dst, `,"key_status_code":`, uint64(b[7]))
		if n := keyStatusNames[b[7]]; n != "" {
			dst = nameMember(dst, `,"key_status":`, n)
		}
		dst = uintMember(dst, `,"mac_algorithm":`, uint64(b[8]))
		dst = uintMember(dst, `,"challenge_length":`, u16(9))
	case 6: // session key change
		dst = uintMember(dst, `,"ksq":`, u32(0))
		dst = uintMember(dst, `,"user":`, u16(4))
		dst = uintMember(dst, `,"wrapped_key_length":`, uint64(len(b)-6))
	case 7: // error
		dst = uintMember(dst, `,"csq":`, u32(0))
		dst = uintMember(dst, `,"user":`, u16(4))
		dst = uintMember(dst, `,"association_id":`, u16(6))
		dst = uintMember(dst, `,"error_code":`, uint64(b[8]))
		if n := authErrorNames[b[8]]; n != "" {
			dst = nameMember(dst, `,"error":`, n)
		}
		dst = uintMember(dst, `,"timestamp":`, time48(b[9:]))
		if len(b) > 15 {
			dst = textMember(dst, `,"text":`, b[15:])
		}
	default:
		dst = uintMember(dst, `,"data_length":`, uint64(len(b)))
	}
	return dst
}

// appendStatistic writes a security statistic (g121 v1, g122 v1/v2): a
// flag octet (a counter's), the association id, the count and, for g122
// v2, the time.
func appendStatistic(dst []byte, b []byte) []byte {
	if len(b) < 7 {
		return hexMember(dst, `,"data":`, b)
	}
	dst = uintMember(dst, `,"value":`, uint64(binary.LittleEndian.Uint32(b[3:])))
	dst = uintMember(dst, `,"association_id":`, uint64(binary.LittleEndian.Uint16(b[1:])))
	dst = appendFlags(dst, flagsCounter, b[0])
	if len(b) >= 13 {
		dst = uintMember(dst, `,"timestamp":`, time48(b[7:]))
	}
	return dst
}
