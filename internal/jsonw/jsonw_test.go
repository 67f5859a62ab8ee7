package jsonw

import (
	"encoding/json"
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
