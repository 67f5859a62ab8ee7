package jsonw

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestStringMatchesEncodingJSON: String writes what encoding/json writes,
// except for \b and \f, which String writes as \u0008 and \u000c (see
// TestStringEscapes).
func TestStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x01\x1f\n\r\t", "<script>&</script>",
		"bad utf8 \xff\xfe end", "ünïcödé ✓", "line\u2028sep\u2029", "\x7f"} {
		got := String(nil, s)
		want, _ := json.Marshal(s)
		if string(got) != string(want) {
			t.Errorf("String(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestStringEscapes pins String's bytes for every character it escapes.
// They are in every event Sluice writes and must not change, whatever
// encoding/json does (since Go 1.22 it writes \b and \f for U+0008 and
// U+000C; String keeps \u0008 and \u000c: both are valid JSON).
func TestStringEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"\b\f":                 `"\u0008\u000c"`,
		"\x00\x01\x1f\x7f":     `"\u0000\u0001\u001f` + "\x7f" + `"`,
		"\n\r\t":               `"\n\r\t"`,
		"\"\\/":                `"\"\\/"`,
		"<a href=x>&amp;</a>":  `"\u003ca href=x\u003e\u0026amp;\u003c/a\u003e"`,
		"\u2028\u2029\u2027":   `"\u2028\u2029` + "\u2027" + `"`,
		"\xff\xe2\x82 \ufffd":  `"\ufffd\ufffd\ufffd ` + "\ufffd" + `"`, // three bad bytes; a valid U+FFFD stays raw
		"\xed\xa0\x80":         `"\ufffd\ufffd\ufffd"`,                  // an encoded surrogate: three bad bytes
		"Schneider Electric ✓": `"Schneider Electric ✓"`,
	} {
		if got := String(nil, in); string(got) != want {
			t.Errorf("String(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzString checks what matters of String's output for any input: it is
// valid JSON and decodes to the input as encoding/json's own output does
// (for invalid UTF-8: U+FFFD for each bad byte); it holds no raw control
// character, <, >, &, U+2028, U+2029 or invalid UTF-8; and it escapes only
// those (and " and \), each in the one form String writes (checkEscapes).
// Together these fix every output byte without comparing with encoding/json's
// encoding, which is free to choose other valid escapes, and did.
func FuzzString(f *testing.F) {
	f.Add("hello")
	f.Add("\xff<&>\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		got := String(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("String(%q) = %s: not valid JSON: %v", s, got, err)
		}
		enc, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(enc, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Fatalf("String(%q) = %s decodes to %q; encoding/json's encoding decodes to %q", s, got, back, want)
		}
		checkEscapes(t, s, got)
	})
}

// checkEscapes checks that out, String(s), writes each character in the
// one form String uses: \" \\ \n \r \t; \u00xx (lowercase hex) for the other
// control characters and for <, > and &; \u2028 and \u2029; \ufffd for each
// byte of s that is not valid UTF-8 (a valid U+FFFD is written as it is);
// everything else as it is.
func checkEscapes(t *testing.T, s string, out []byte) {
	t.Helper()
	if len(out) < 2 || out[0] != '"' || out[len(out)-1] != '"' {
		t.Fatalf("String(%q) = %s: not quoted", s, out)
	}
	body := out[1 : len(out)-1]
	bad := 0 // bytes of s that are not valid UTF-8
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			bad++
		}
		i += n
	}
	replaced := 0
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\' && i+1 < len(body) && strings.IndexByte(`"\nrt`, body[i+1]) >= 0:
			i += 2
		case c == '\\' && i+5 < len(body) && body[i+1] == 'u':
			h := string(body[i+2 : i+6])
			v, err := strconv.ParseUint(h, 16, 16)
			if err != nil || strings.ToLower(h) != h {
				t.Fatalf("String(%q) = %s: escape \\u%s", s, out, h)
			}
			switch {
			case v < 0x20 && v != '\n' && v != '\r' && v != '\t', v == '<', v == '>', v == '&', v == 0x2028, v == 0x2029:
			case v == utf8.RuneError:
				replaced++
			default:
				t.Fatalf("String(%q) = %s: \\u%s escapes what String writes as it is", s, out, h)
			}
			i += 6
		case c == '\\':
			t.Fatalf("String(%q) = %s: escape %q at %d is not one String writes", s, out, body[i:min(i+2, len(body))], i)
		case c < 0x20 || c == '"' || c == '<' || c == '>' || c == '&':
			t.Fatalf("String(%q) = %s: raw %q at %d", s, out, c, i)
		default:
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n == 1 || r == '\u2028' || r == '\u2029' {
				t.Fatalf("String(%q) = %s: raw %q at %d", s, out, body[i:i+n], i)
			}
			i += n
		}
	}
	if replaced != bad {
		t.Fatalf("String(%q) = %s: %d \\ufffd escapes for %d bytes that are not UTF-8", s, out, replaced, bad)
	}
}

func TestTime(t *testing.T) {
	ts := time.Date(2026, 11, 21, 22, 33, 0, 123456789, time.FixedZone("x", 3600))
	if got := string(Time(nil, ts)); got != `"2026-11-21T21:33:00.123456Z"` {
		t.Fatalf("Time = %s", got)
	}
}

func TestFloat(t *testing.T) {
	cases := map[float64]string{77.5: "77.5", 0: "0", math.NaN(): "null", math.Inf(1): "null", 1e21: "1e+21"}
	for v, want := range cases {
		if got := string(Float(nil, v)); got != want {
			t.Errorf("Float(%v) = %s, want %s", v, got, want)
		}
	}
}

func TestAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	ts := time.Now()
	n := testing.AllocsPerRun(100, func() {
		b := buf[:0]
		b = Key(b, "k")
		b = String(b, "a\"b<c>")
		b = Time(b, ts)
		b = Float(b, 1.5)
		_ = Uint(b, 7)
	})
	if n != 0 {
		t.Fatalf("allocs per run = %v, want 0", n)
	}
}

func TestUintInt(t *testing.T) {
	for _, v := range []uint64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, 1<<32 - 1, 12345678901234567890, math.MaxUint64} {
		if got, want := string(Uint(nil, v)), strconv.FormatUint(v, 10); got != want {
			t.Errorf("Uint(%d) = %s", v, got)
		}
	}
	for _, v := range []int64{0, -1, 7, -99, 100, math.MaxInt64, math.MinInt64, -1234567} {
		if got, want := string(Int(nil, v)), strconv.FormatInt(v, 10); got != want {
			t.Errorf("Int(%d) = %s, want %s", v, got, want)
		}
	}
}

func FuzzUint(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, v uint64) {
		if got, want := string(Uint(nil, v)), strconv.FormatUint(v, 10); got != want {
			t.Fatalf("Uint(%d) = %s", v, got)
		}
		if got, want := string(Int(nil, int64(v))), strconv.FormatInt(int64(v), 10); got != want {
			t.Fatalf("Int(%d) = %s", int64(v), got)
		}
	})
}

func BenchmarkUint(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	vals := []uint64{5, 42, 502, 40001, 1234567}
	for i := 0; i < b.N; i++ {
		buf = Uint(buf[:0], vals[i%len(vals)])
	}
}

func TestUint16(t *testing.T) {
	for v := 0; v <= math.MaxUint16; v++ {
		if got, want := string(Uint16([]byte("x"), uint16(v))), "x"+strconv.Itoa(v); got != want {
			t.Fatalf("Uint16(%d) = %s", v, got)
		}
	}
}

func BenchmarkUint16(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 64)
	vals := []uint16{5, 42, 502, 4001, 12345}
	for i := 0; i < b.N; i++ {
		buf = Uint16(buf[:0], vals[i%len(vals)])
	}
}

// TestBigEndianUint16s checks the list writer against Uint16 for every
// value, first, inside and last in a list, after prefixes of several lengths
// and with or without spare capacity.
func TestBigEndianUint16s(t *testing.T) {
	ref := func(dst, raw []byte) []byte {
		for i := 0; i+1 < len(raw); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = Uint16(dst, uint16(raw[i])<<8|uint16(raw[i+1]))
		}
		return dst
	}
	raw := make([]byte, 0, 3*2)
	for v := 0; v <= math.MaxUint16; v++ {
		w := uint16(math.MaxUint16 - v)
		raw = append(raw[:0], byte(v>>8), byte(v), byte(w>>8), byte(w), byte(v>>8), byte(v))
		for _, prefix := range []string{"", "x", "[1,"} {
			for _, r := range [][]byte{raw[:0], raw[:2], raw[:4], raw, raw[:5]} {
				want := ref([]byte(prefix), r)
				if got := BigEndianUint16s([]byte(prefix), r); string(got) != string(want) {
					t.Fatalf("BigEndianUint16s(%q, % x) = %q, want %q", prefix, r, got, want)
				}
				roomy := append(make([]byte, 0, 64), prefix...)
				if got := BigEndianUint16s(roomy, r); string(got) != string(want) {
					t.Fatalf("BigEndianUint16s(%q with room, % x) = %q, want %q", prefix, r, got, want)
				}
			}
		}
	}
}

func FuzzBigEndianUint16s(f *testing.F) {
	f.Add([]byte{0, 0, 0xff, 0xff, 0x27, 0x10, 1})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want []byte
		for i := 0; i+1 < len(raw); i += 2 {
			if i > 0 {
				want = append(want, ',')
			}
			want = strconv.AppendUint(want, uint64(raw[i])<<8|uint64(raw[i+1]), 10)
		}
		if got := BigEndianUint16s(nil, raw); string(got) != string(want) {
			t.Fatalf("BigEndianUint16s(% x) = %q, want %q", raw, got, want)
		}
	})
}

// BenchmarkBigEndianUint16s: a read of 125 registers of mixed magnitudes
// (counts, levels, setpoints, raw 16-bit words).
func BenchmarkBigEndianUint16s(b *testing.B) {
	raw := make([]byte, 2*125)
	for i := range 125 {
		v := uint16((i*7919)%65536) >> (i * 5 % 16)
		raw[2*i], raw[2*i+1] = byte(v>>8), byte(v)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = BigEndianUint16s(buf[:0], raw)
	}
}

// BenchmarkBigEndianUint16sPlant: 125 registers distributed as the FC 4
// values of iti_ModbusTCP.pcap: 75 % below 10, 5 % below 100, 3 % below
// 1,000, 3 % below 10,000, 14 % above.
func BenchmarkBigEndianUint16sPlant(b *testing.B) {
	raw := make([]byte, 2*125)
	for i := range 125 {
		var v uint16
		switch k := (i * 37) % 100; {
		case k < 75:
			v = uint16(k % 10)
		case k < 80:
			v = uint16(10 + k)
		case k < 83:
			v = uint16(100 + 7*k)
		case k < 86:
			v = uint16(1000 + 97*k)
		default:
			v = uint16(10000 + 601*k)
		}
		raw[2*i], raw[2*i+1] = byte(v>>8), byte(v)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = BigEndianUint16s(buf[:0], raw)
	}
}

// BenchmarkUint16List: the same list written with Uint16, for comparison.
func BenchmarkUint16List(b *testing.B) {
	raw := make([]byte, 2*125)
	for i := range 125 {
		v := uint16((i*7919)%65536) >> (i * 5 % 16)
		raw[2*i], raw[2*i+1] = byte(v>>8), byte(v)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for i := 0; i+1 < len(raw); i += 2 {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = Uint16(buf, uint16(raw[i])<<8|uint16(raw[i+1]))
		}
	}
}

func TestMicros(t *testing.T) {
	for v := uint32(0); v < 1000000; v++ {
		if got, want := string(Micros(nil, v)), fmt.Sprintf("%06d", v); got != want {
			t.Fatalf("Micros(%d) = %q, want %q", v, got, want)
		}
	}
}
