package oui

import "testing"

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
