package jsonw

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"
)

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

func FuzzString(f *testing.F) {
	f.Add("hello")
	f.Add("\xff<&>\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		got := String(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("String(%q) = %s: not valid JSON: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		if string(got) != string(want) {
			t.Fatalf("String(%q) = %s, want %s", s, got, want)
		}
	})
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
