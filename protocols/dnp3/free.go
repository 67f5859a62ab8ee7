package dnp3

import (
	"encoding/binary"
	"math"
)

// Objects with an inner layout of their own, written field by field in
// events: device attributes (group 0), file transfer (group 70), secure
// authentication (group 120) and security statistics (groups 121, 122).
// Each decoder checks the object's fixed part against its length; an
// object too short for it is written as hex "data".

// Device attribute data types (IEEE 1815-2012, 11.9.2.2, table 11-9).
var attrTypeNames = [256]string{1: "vstr", 2: "uint", 3: "int", 4: "flt", 5: "ostr", 6: "bstr", 254: "u8bs8list", 255: "u8bs8exlist"}

func appendAttribute(dst []byte, p *Point) []byte {
	dst = uintMember(dst, `,"type":`, uint64(p.AttrType))
	if n := attrTypeNames[p.AttrType]; n != "" {
		dst = nameMember(dst, `,"type_name":`, n)
	}
	v := p.Raw
	switch {
	case p.AttrType == 1:
		return textMember(dst, `,"text":`, v)
	case p.AttrType == 2 && len(v) <= 8 && len(v) > 0:
		return uintMember(dst, `,"value":`, leUint(v))
	case p.AttrType == 3 && len(v) <= 8 && len(v) > 0:
		// Sign-extend from the attribute's length.
		shift := 64 - 8*uint(len(v))
		return intMember(dst, `,"value":`, int64(leUint(v)<<shift)>>shift)
	case p.AttrType == 4 && len(v) == 4:
		dst = append(dst, `,"value":`...)
		return appendFloat(dst, float64(math.Float32frombits(binary.LittleEndian.Uint32(v))), true)
	case p.AttrType == 4 && len(v) == 8:
		dst = append(dst, `,"value":`...)
		return appendFloat(dst, math.Float64frombits(binary.LittleEndian.Uint64(v)), false)
	}
	return hexMember(dst, `,"data":`, v)
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

// fileFixed is the length of the fixed part of each file-control variation
// (11.9.27); 0 for variations without one.
var fileFixed = [9]int{2: 12, 3: 26, 4: 13, 5: 8, 6: 9, 7: 20}

func appendFile(dst []byte, v uint8, b []byte) []byte {
	if int(v) >= len(fileFixed) || len(b) < fileFixed[v] || v == 1 {
		return hexMember(dst, `,"data":`, b)
	}
	u16 := func(i int) uint64 { return uint64(binary.LittleEndian.Uint16(b[i:])) }
	u32 := func(i int) uint64 { return uint64(binary.LittleEndian.Uint32(b[i:])) }
	switch v {
	case 2: // authentication: user name and password offsets and sizes, key
		dst = textMember(dst, `,"user_name":`, within(b, u16(0), u16(2)))
		// The password is in clear on the wire; the event keeps only
		// its length.
		dst = uintMember(dst, `,"password_length":`, u16(6))
		dst = uintMember(dst, `,"authentication_key":`, u32(8))
	case 3: // file command
		dst = textMember(dst, `,"file_name":`, within(b, u16(0), u16(2)))
		dst = uintMember(dst, `,"created":`, time48(b[4:]))
		dst = uintMember(dst, `,"permissions":`, u16(10))
		dst = uintMember(dst, `,"authentication_key":`, u32(12))
		dst = uintMember(dst, `,"file_size":`, u32(16))
		dst = uintMember(dst, `,"operational_mode":`, u16(20))
		if m := u16(20); m < uint64(len(fileModeNames)) {
			dst = nameMember(dst, `,"mode":`, fileModeNames[m])
		}
		dst = uintMember(dst, `,"max_block_size":`, u16(22))
		dst = uintMember(dst, `,"request_id":`, u16(24))
	case 4: // file command status
		dst = uintMember(dst, `,"file_handle":`, u32(0))
		dst = uintMember(dst, `,"file_size":`, u32(4))
		dst = uintMember(dst, `,"max_block_size":`, u16(8))
		dst = uintMember(dst, `,"request_id":`, u16(10))
		dst = fileStatus(dst, b[12], b[13:])
	case 5: // file transport: the block's data is not written, only its size
		dst = uintMember(dst, `,"file_handle":`, u32(0))
		dst = uintMember(dst, `,"block_number":`, u32(4)&0x7FFFFFFF)
		dst = uintMember(dst, `,"last_block":`, u32(4)>>31)
		dst = uintMember(dst, `,"data_length":`, uint64(len(b)-8))
	case 6: // file transport status
		dst = uintMember(dst, `,"file_handle":`, u32(0))
		dst = uintMember(dst, `,"block_number":`, u32(4)&0x7FFFFFFF)
		dst = uintMember(dst, `,"last_block":`, u32(4)>>31)
		dst = fileStatus(dst, b[8], b[9:])
	case 7: // file descriptor
		dst = textMember(dst, `,"file_name":`, within(b, u16(0), u16(2)))
		dst = uintMember(dst, `,"file_type":`, u16(4))
		dst = uintMember(dst, `,"file_size":`, u32(6))
		dst = uintMember(dst, `,"created":`, time48(b[10:]))
		dst = uintMember(dst, `,"permissions":`, u16(16))
		dst = uintMember(dst, `,"request_id":`, u16(18))
	case 8: // file specification string
		dst = textMember(dst, `,"file_name":`, b)
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
func within(b []byte, off, n uint64) []byte {
	if off > uint64(len(b)) {
		return nil
	}
	return b[off:min(off+n, uint64(len(b)))]
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
