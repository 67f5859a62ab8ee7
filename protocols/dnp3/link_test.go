package dnp3

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// mustHex decodes hex written with spaces and "|" between fields.
func mustHex(s string) []byte {
	s = strings.NewReplacer(" ", "", "|", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestCRC checks the DNP3 CRC (IEEE 1815-2012, Annex E) on headers whose
// CRC the standard's examples and a real capture give.
func TestCRC(t *testing.T) {
	for _, tc := range []struct {
		data string
		want uint16
	}{
		// RESET_LINK_STATES from master 1 to outstation 1024:
		// 05 64 05 c0 01 00 00 04 | e9 21
		{"05 64 05 c0 01 00 00 04", 0x21e9},
		// iti_select_operate_and_responses.pcap frame 4, link header:
		// 05 64 1a c4 0a 00 01 00 | 8a 1c
		{"05 64 1a c4 0a 00 01 00", 0x1c8a},
		// The same frame's first user-data block | fd 6b
		{"c0 c0 03 0c 01 28 01 00 00 00 03 01 64 00 00 00", 0x6bfd},
		{"64 00 00 00 00", 0x5b00},
		{"", 0xffff},
	} {
		if got := CRC(mustHex(tc.data)); got != tc.want {
			t.Errorf("CRC(%s) = %#04x, want %#04x", tc.data, got, tc.want)
		}
	}
}

// selectFrame is iti_select_operate_and_responses.pcap frame 4: a SELECT of
// one CROB (latch on, 100 ms on and off) from master 1 to outstation 10.
//
//	05 64 1a c4 0a 00 01 00 | 8a 1c                  header: length 26, DIR PRM unconfirmed user data, to 10 from 1, CRC
//	c0 c0 03 0c 01 28 01 00 00 00 03 01 64 00 00 00  block 0: transport FIR FIN seq 0, app FIR FIN seq 0, SELECT, g12v1 q=0x28 count 1, index 0, code 3, count 1, on 100 …
//	fd 6b                                            block 0 CRC
//	64 00 00 00 00 | 00 5b                           block 1: … off 100, status 0; CRC
var selectFrame = mustHex(`05641ac40a0001008a1c
	c0c0030c012801000000030164000000fd6b
	6400000000005b`)

// TestCRCSlicing checks the eight-octets-per-step CRC against the
// one-octet-per-step definition on every length up to 40.
func TestCRCSlicing(t *testing.T) {
	b := make([]byte, 40)
	for i := range b {
		b[i] = byte(i*37 + 11)
	}
	for n := range len(b) + 1 {
		var c uint16
		for _, x := range b[:n] {
			c = c>>8 ^ crcTables[0][byte(c)^x]
		}
		if got := CRC(b[:n]); got != ^c {
			t.Errorf("length %d: %#04x, want %#04x", n, got, ^c)
		}
	}
}

func TestParseFrame(t *testing.T) {
	var buf [MaxUserData]byte
	f, n, err := ParseFrame(selectFrame, &buf)
	if err != nil || n != len(selectFrame) {
		t.Fatalf("ParseFrame: n %d, err %v", n, err)
	}
	want := LinkHeader{Length: 26, Control: 0xc4, Dest: 10, Source: 1}
	if f.LinkHeader != want {
		t.Errorf("header %+v, want %+v", f.LinkHeader, want)
	}
	if got := hex.EncodeToString(f.Data); got != "c0c0030c0128010000000301640000006400000000" {
		t.Errorf("user data %s", got)
	}
	c := f.Control
	if !c.Dir() || !c.Primary() || c.FCB() || c.FCV() || c.Function() != LinkUnconfirmedUserData || !c.Function().UserData() {
		t.Errorf("control %#02x decoded as dir %v prm %v fcb %v fcv %v %s", uint8(c), c.Dir(), c.Primary(), c.FCB(), c.FCV(), c.Function())
	}
	// Every prefix is a partial frame, not an error.
	for i := range len(selectFrame) {
		if _, n, err := ParseFrame(selectFrame[:i], &buf); n != 0 || err != nil {
			t.Fatalf("prefix %d: n %d, err %v", i, n, err)
		}
	}
	// Round trip.
	enc, err := AppendFrame(nil, f.LinkHeader, f.Data)
	if err != nil || !bytes.Equal(enc, selectFrame) {
		t.Errorf("AppendFrame = % x (%v), want % x", enc, err, selectFrame)
	}
}

func TestParseFrameErrors(t *testing.T) {
	var buf [MaxUserData]byte
	corrupt := func(i int) []byte {
		b := bytes.Clone(selectFrame)
		b[i] ^= 0x01
		return b
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		is    error
		n     int // octets to skip
		block int
	}{
		{"header CRC", corrupt(4), ErrCRC, 0, -1},
		{"block 0 CRC", corrupt(12), ErrCRC, len(selectFrame), 0},
		{"block 1 CRC", corrupt(29), ErrCRC, len(selectFrame), 1},
		{"start octets", corrupt(1), ErrLinkHeader, 0, 0},
	} {
		_, n, err := ParseFrame(tc.frame, &buf)
		if !errors.Is(err, tc.is) || n != tc.n {
			t.Errorf("%s: n %d, err %v; want n %d, %v", tc.name, n, err, tc.n, tc.is)
			continue
		}
		var ce *CRCError
		if errors.As(err, &ce) && ce.Block != tc.block {
			t.Errorf("%s: block %d, want %d (%v)", tc.name, ce.Block, tc.block, err)
		}
	}
	// A length below 5 with a good CRC.
	short := mustHex("05 64 04 c0 01 00 00 04")
	short = append(short, byte(CRC(short)), byte(CRC(short)>>8))
	if _, _, err := ParseFrame(short, &buf); !errors.Is(err, ErrLinkHeader) {
		t.Errorf("length 4: %v, want ErrLinkHeader", err)
	}
	if _, err := AppendFrame(nil, LinkHeader{}, make([]byte, MaxUserData+1)); err == nil {
		t.Error("AppendFrame accepted 251 octets of user data")
	}
}

func TestLinkFunctionNames(t *testing.T) {
	for _, tc := range []struct {
		control LinkControl
		want    string
	}{
		{0xc0, "reset_link_states"}, {0xd2, "test_link_states"}, {0xf3, "confirmed_user_data"},
		{0xc4, "unconfirmed_user_data"}, {0xc9, "request_link_status"}, {0x00, "ack"}, {0x01, "nack"},
		{0x0b, "link_status"}, {0x0f, "not_supported"}, {0x41, "unknown"}, {0x05, "unknown"},
	} {
		if got := tc.control.Function().String(); got != tc.want {
			t.Errorf("control %#02x: %s, want %s", uint8(tc.control), got, tc.want)
		}
	}
}
