// Package jsonw appends JSON to byte slices without reflection or allocation.
// Event writers on the hot path (one event per Modbus transaction) use it
// instead of encoding/json, which allocates and reflects per value.
//
// Every string that came from the network goes through String, which escapes
// it as encoding/json does (including <, >, & and invalid UTF-8 as U+FFFD), so
// hostile bytes cannot break the NDJSON framing or a downstream HTML viewer.
package jsonw

import (
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// TimeLayout is the one timestamp format of every Sluice output: RFC 3339,
// UTC, microseconds, Z. Such timestamps sort as strings.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Time appends t as a quoted TimeLayout string in UTC.
func Time(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, TimeLayout)
	return append(dst, '"')
}

// Key appends `"k":`. k must be a plain ASCII identifier (a field name
// chosen by us, never network data).
func Key(dst []byte, k string) []byte {
	dst = append(dst, '"')
	dst = append(dst, k...)
	return append(dst, '"', ':')
}

// digitPairs holds "00".."99": numbers are written two digits per step.
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// Micros appends v, below 1,000,000, as exactly six digits with leading
// zeros: the fraction of a timestamp in TimeLayout, for writers that cache
// the rest of it. Three digit pairs: two divisions by constants, not six.
func Micros(dst []byte, v uint32) []byte {
	hi, mid, lo := v/10000%100, v/100%100, v%100
	return append(dst, digitPairs[2*hi], digitPairs[2*hi+1], digitPairs[2*mid], digitPairs[2*mid+1],
		digitPairs[2*lo], digitPairs[2*lo+1])
}

// Uint appends v in decimal. Event fields are mostly small numbers
// (registers, ports, ids); writing them two digits at a time from a stack
// buffer is measurably faster than strconv.AppendUint on the event path.
func Uint(dst []byte, v uint64) []byte {
	if v < 1<<16 {
		// Most event numbers: written in place, without the scratch
		// buffer's copy (a memmove call per number).
		return Uint16(dst, uint16(v))
	}
	var buf [20]byte
	i := len(buf)
	for v >= 100 {
		q := v / 100
		r := (v - q*100) * 2
		i -= 2
		buf[i], buf[i+1] = digitPairs[r], digitPairs[r+1]
		v = q
	}
	if v >= 10 {
		i -= 2
		buf[i], buf[i+1] = digitPairs[v*2], digitPairs[v*2+1]
	} else {
		i--
		buf[i] = byte('0' + v)
	}
	return append(dst, buf[i:]...)
}

// Uint16 appends v in decimal. Register values are the bulk of Modbus
// events (a read of 125 registers writes 125 of them); knowing there are at
// most five digits lets it write them in place, without Uint's scratch
// buffer and copy.
func Uint16(dst []byte, v uint16) []byte {
	switch {
	case v < 10:
		return append(dst, byte('0'+v))
	case v < 100:
		return append(dst, digitPairs[2*v], digitPairs[2*v+1])
	case v < 1000:
		q, r := v/100, 2*(v%100)
		return append(dst, byte('0'+q), digitPairs[r], digitPairs[r+1])
	case v < 10000:
		q, r := 2*(v/100), 2*(v%100)
		return append(dst, digitPairs[q], digitPairs[q+1], digitPairs[r], digitPairs[r+1])
	default:
		h, q, r := v/10000, 2*(v/100%100), 2*(v%100)
		return append(dst, byte('0'+h), digitPairs[q], digitPairs[q+1], digitPairs[r], digitPairs[r+1])
	}
}

// BigEndianUint16s appends the big-endian 16-bit words of raw (len(raw)/2
// of them; an odd last byte is ignored) in decimal, separated by commas,
// without brackets: the register values of a Modbus PDU, the longest part
// of its event (up to 125 registers). It is Uint16 in a loop, but writes
// into room reserved once for the whole list instead of appending digit by
// digit, so there is no capacity check and no call per value.
func BigEndianUint16s(dst, raw []byte) []byte {
	n := len(raw) / 2
	if n == 0 {
		return dst
	}
	start := len(dst)
	dst = slices.Grow(dst, 6*n) // each value at most "65535,"
	out := dst[start : start+6*n]
	j := 0
	for i := 1; i < len(raw); i += 2 {
		v := uint(raw[i-1])<<8 | uint(raw[i])
		w := out[j : j+6 : j+6] // the value's digits and its comma
		switch {
		case v < 10:
			w[0], w[1] = byte('0'+v), ','
			j += 2
		case v < 100:
			w[0], w[1], w[2] = digitPairs[2*v], digitPairs[2*v+1], ','
			j += 3
		case v < 1000:
			q, r := v/100, 2*(v%100)
			w[0], w[1], w[2], w[3] = byte('0'+q), digitPairs[r], digitPairs[r+1], ','
			j += 4
		case v < 10000:
			q, r := 2*(v/100), 2*(v%100)
			w[0], w[1], w[2], w[3], w[4] = digitPairs[q], digitPairs[q+1], digitPairs[r], digitPairs[r+1], ','
			j += 5
		default:
			h, q, r := v/10000, 2*(v/100%100), 2*(v%100)
			w[0], w[1], w[2], w[3], w[4], w[5] = byte('0'+h), digitPairs[q], digitPairs[q+1], digitPairs[r], digitPairs[r+1], ','
			j += 6
		}
	}
	return dst[:start+j-1] // without the last comma
}

// Int appends v in decimal.
func Int(dst []byte, v int64) []byte {
	if v < 0 {
		return Uint(append(dst, '-'), uint64(-v)) // -MinInt64 wraps to its own magnitude
	}
	return Uint(dst, uint64(v))
}

// Bool appends v.
func Bool(dst []byte, v bool) []byte { return strconv.AppendBool(dst, v) }

// Float appends v in the shortest form that round-trips; NaN and ±Inf,
// which JSON cannot carry, are written as null.
func Float(dst []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

const hex = "0123456789abcdef"

// String appends s as a quoted, escaped JSON string.
func String(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Bytes appends b as a quoted lowercase hex string (opaque payloads).
func Bytes(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	for _, c := range b {
		dst = append(dst, hex[c>>4], hex[c&0xF])
	}
	return append(dst, '"')
}
