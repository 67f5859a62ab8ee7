package dnp3

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// seg is a transport segment from src to dst: header octet and body.
type seg struct {
	src, dst uint16
	th       byte
	body     string
}

// reassemble feeds the segments to a Reassembler and lists the fragments
// that come out ("src>dst segments body").
func reassemble(r *Reassembler, segs ...seg) string {
	var out []string
	for _, s := range segs {
		f := Frame{LinkHeader: LinkHeader{Control: 0x44, Source: s.src, Dest: s.dst}, Data: append([]byte{s.th}, s.body...)}
		r.Segment(&f, func(fr *Fragment) {
			out = append(out, fmt.Sprintf("%d>%d %d %s", fr.Link.Source, fr.Link.Dest, fr.Segments, fr.Data))
		})
	}
	return strings.Join(out, "|")
}

// Transport headers (IEEE 1815-2012, 8.2.1): FIN 0x80, FIR 0x40, sequence.
const (
	firFin = 0xc0
	fir    = 0x40
	fin    = 0x80
	mid    = 0x00
)

func TestReassembler(t *testing.T) {
	for _, tc := range []struct {
		name  string
		segs  []seg
		want  string
		stats TransportStats
	}{
		{"one segment", []seg{{1, 10, firFin | 5, "abc"}}, "1>10 1 abc",
			TransportStats{Segments: 1, Fragments: 1}},
		{"three segments", []seg{{1, 10, fir | 62, "ab"}, {1, 10, mid | 63, "cd"}, {1, 10, fin | 0, "ef"}}, "1>10 3 abcdef",
			TransportStats{Segments: 3, Fragments: 1}},
		{"repeated segment", []seg{{1, 10, fir | 1, "ab"}, {1, 10, mid | 2, "cd"}, {1, 10, mid | 2, "cd"}, {1, 10, fin | 3, "ef"}}, "1>10 3 abcdef",
			TransportStats{Segments: 4, Fragments: 1, Repeated: 1}},
		{"lost first", []seg{{1, 10, mid | 2, "cd"}, {1, 10, fin | 3, "ef"}, {1, 10, firFin | 4, "gh"}}, "1>10 1 gh",
			TransportStats{Segments: 3, Fragments: 1, Lost: 2}},
		{"lost last", []seg{{1, 10, fir | 1, "ab"}, {1, 10, firFin | 9, "gh"}}, "1>10 1 gh",
			TransportStats{Segments: 2, Fragments: 1, Lost: 1}},
		{"out of order", []seg{{1, 10, fir | 1, "ab"}, {1, 10, fin | 3, "ef"}, {1, 10, mid | 2, "cd"}}, "",
			TransportStats{Segments: 3, OutOfOrder: 1, Lost: 1}},
		{"interleaved stations", []seg{{10, 1, fir | 1, "ab"}, {11, 1, fir | 7, "xy"}, {10, 1, fin | 2, "cd"}, {11, 1, fin | 8, "z"}},
			"10>1 2 abcd|11>1 2 xyz", TransportStats{Segments: 4, Fragments: 2}},
	} {
		var r Reassembler
		if got := reassemble(&r, tc.segs...); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if r.Stats() != tc.stats {
			t.Errorf("%s: stats %+v, want %+v", tc.name, r.Stats(), tc.stats)
		}
	}
}

func TestReassemblerCaps(t *testing.T) {
	r := Reassembler{MaxFragment: 5, MaxPending: 2}
	if got := reassemble(&r, seg{1, 10, fir, "abc"}, seg{1, 10, fin | 1, "def"}); got != "" || r.Stats().Oversize != 1 || r.Pending() != 0 {
		t.Errorf("oversize: %q %+v", got, r.Stats())
	}
	// A single-segment fragment is never held, so the cap is for
	// reassembly only.
	if got := reassemble(&r, seg{1, 10, firFin, "abcdefgh"}); got != "1>10 1 abcdefgh" {
		t.Errorf("single segment over the cap: %q", got)
	}
	got := reassemble(&r, seg{10, 1, fir, "a"}, seg{11, 1, fir, "b"}, seg{12, 1, fir, "c"}, seg{11, 1, fin | 1, "B"}, seg{10, 1, fin | 1, "A"})
	if got != "11>1 2 bB" || r.Stats().Evicted != 1 {
		t.Errorf("evicted: %q %+v", got, r.Stats())
	}
	r.Reset()
	if r.Pending() != 0 {
		t.Errorf("Reset left %d pending", r.Pending())
	}
	// An empty frame carries no transport header.
	r.Segment(&Frame{}, func(*Fragment) { t.Error("emitted an empty frame") })
	if r.Stats().Empty != 1 {
		t.Errorf("empty: %+v", r.Stats())
	}
}

// TestReassemblerCapture checks the two-segment response of
// iti_read_and_response.pcap (frames 6 and 8, 249 + 20 octets) and that
// the one-segment fragment aliases the frame's data, not a copy.
func TestReassemblerCapture(t *testing.T) {
	d := decodeCapture(t, pathOf(t, "iti_read_and_response.pcap"))
	if len(d.out) != 2 || len(d.out[1].raw) != 269 || d.out[1].frame != 8 {
		t.Fatalf("fragments %d, want a read and a 269-octet response in frame 8", len(d.out))
	}
	data := []byte{firFin, 0xc0, 0x01}
	var r Reassembler
	r.Segment(&Frame{Data: data}, func(f *Fragment) {
		if &f.Data[0] != &data[1] {
			t.Error("a one-segment fragment was copied")
		}
	})
	if !bytes.Equal(data, []byte{firFin, 0xc0, 0x01}) {
		t.Error("the frame's data changed")
	}
}
