package oui

import (
	"strconv"
	"strings"
	"testing"
)

func TestVendor(t *testing.T) {
	tests := []struct {
		mac  [6]byte
		want string
	}{
		{[6]byte{0x00, 0x00, 0x54, 0x12, 0x34, 0x56}, "Schneider Electric"},      // MA-L /24
		{[6]byte{0x00, 0x1b, 0xc5, 0x00, 0x00, 0x01}, "Converging Systems Inc."}, // MA-S /36 inside an IEEE /24
		{[6]byte{0x00, 0x1b, 0xc5, 0x00, 0x10, 0x01}, "OpenRB.com, Direct SIA"},  // next /36
		{[6]byte{0x02, 0x00, 0x54, 0x12, 0x34, 0x56}, ""},                        // locally administered
		{[6]byte{}, ""}, // unknown: no link layer
		{[6]byte{0x00, 0x00, 0x01, 0, 0, 1}, "Xerox Corporation"},
	}
	if err := Err(); err != nil {
		t.Fatal(err)
	}
	if Len() < 40000 {
		t.Fatalf("table has %d prefixes, want the full IEEE registry", Len())
	}
	for _, tt := range tests {
		if got := Vendor(tt.mac); got != tt.want {
			t.Errorf("Vendor(% x) = %q, want %q", tt.mac, got, tt.want)
		}
	}
}

func BenchmarkVendor(b *testing.B) {
	mac := [6]byte{0x00, 0x1b, 0xc5, 0x00, 0x10, 0x01}
	Vendor(mac)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		mac[5] = byte(i)
		if Vendor(mac) == "" {
			b.Fatal("no vendor")
		}
	}
}

func TestVendorHasNoDanglingComma(t *testing.T) {
	// Wireshark's manuf cuts long names at a comma; the generator drops it.
	if got := Vendor([6]byte{0x00, 0x1b, 0x1b, 0x01, 0x02, 0x03}); got != "Siemens AG" {
		t.Fatalf("Vendor(00:1b:1b:…) = %q, want %q", got, "Siemens AG")
	}
}

// TestVendorMatchesMapOfEveryLine checks the indexed lookup against the
// plainest reading of the table: a map of every line, longest prefix
// first, for a MAC inside every prefix of the table and its neighbours.
func TestVendorMatchesMapOfEveryLine(t *testing.T) {
	ref := map[uint64]string{}
	for _, line := range strings.Split(strings.TrimSuffix(manuf, "\n"), "\n") {
		p, name, _ := strings.Cut(line, "\t")
		h, b, _ := strings.Cut(p, "/")
		v, err1 := strconv.ParseUint(h, 16, 64)
		n, err2 := strconv.ParseUint(b, 10, 8)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad line %q", line)
		}
		ref[v<<8|n] = name
	}
	want := func(v uint64) string {
		if v>>40&0x02 != 0 || v == 0 {
			return ""
		}
		for n := uint64(48); n > 0; n-- {
			if name, ok := ref[(v&^(1<<(48-n)-1))<<8|n]; ok {
				return name
			}
		}
		return ""
	}
	if Len() != len(ref) {
		t.Fatalf("Len() = %d, the table has %d lines", Len(), len(ref))
	}
	checked := 0
	for k := range ref {
		base := k >> 8
		for _, v := range []uint64{base, base | 0xfff, base - 1, base + 1<<12} {
			v &= 1<<48 - 1
			var mac [6]byte
			for i := range mac {
				mac[i] = byte(v >> (40 - 8*i))
			}
			if got, w := Vendor(mac), want(v); got != w {
				t.Fatalf("Vendor(% x) = %q, want %q", mac, got, w)
			}
			checked++
		}
	}
	t.Logf("%d addresses agree", checked)
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		keys, lines, bits, err = nil, nil, nil, nil
		load()
	}
	if err != nil {
		b.Fatal(err)
	}
}

func TestParseKey(t *testing.T) {
	for _, tt := range []struct {
		line string
		want uint64
		ok   bool
	}{
		{"000000000000/24\tXerox", 24, true},
		{"001bc5000000/36\tConverging", 0x001bc5000000<<8 | 36, true},
		{"ffffffffffff/48\tx", 0xffffffffffff<<8 | 48, true},
		{"00000000000/24\tshort prefix", 0, false},
		{"00000000000G/24\tnot hex", 0, false},
		{"00000000000A/24\tupper case", 0, false},
		{"000000000000/0\tzero bits", 0, false},
		{"000000000000/49\ttoo many bits", 0, false},
		{"000000000000/240\tthree digits", 0, false},
		{"000000000000/\tno bits", 0, false},
		{"000000000000/24", 0, false}, // no tab, no name
		{"000000000000-24\tdash", 0, false},
		{"", 0, false},
	} {
		got, ok := parseKey(tt.line)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseKey(%q) = %#x, %v; want %#x, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}
