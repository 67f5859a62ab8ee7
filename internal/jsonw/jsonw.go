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

// Uint appends v.
func Uint(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }

// Int appends v.
func Int(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

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
