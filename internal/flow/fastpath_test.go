package flow

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// sameSegment reports how a and b differ ("" when they do not): every
// field, and the payload by content and by where it starts in the frame.
func sameSegment(a, b *Segment) string {
	if (a == nil) != (b == nil) {
		return fmt.Sprintf("segment %v vs %v", a != nil, b != nil)
	}
	if a == nil {
		return ""
	}
	type fields struct {
		Src, Dst         [16]byte
		V6               bool
		SrcPort, DstPort uint16
		Seq, Ack         uint32
		Flags            uint8
		Missing          int
		SrcMAC, DstMAC   [6]byte
		HasMAC           bool
	}
	f := func(s *Segment) fields {
		return fields{s.Src, s.Dst, s.V6, s.SrcPort, s.DstPort, s.Seq, s.Ack, s.Flags, s.Missing, s.SrcMAC, s.DstMAC, s.HasMAC}
	}
	if x, y := f(a), f(b); x != y {
		return fmt.Sprintf("fields %+v vs %+v", x, y)
	}
	if !bytes.Equal(a.Payload, b.Payload) || (len(a.Payload) > 0 && &a.Payload[0] != &b.Payload[0]) {
		return fmt.Sprintf("payload % x vs % x", a.Payload, b.Payload)
	}
	return ""
}

// checkFastPath decodes frame with the fast path and with the
// DecodingLayerParser and fails when they disagree: where the fast path
// takes a frame, its Segment must equal gopacket's field for field.
func checkFastPath(t *testing.T, frame []byte) bool {
	t.Helper()
	fast := NewDecoder()
	// As if reused after an IPv6 frame: every field of the previous
	// Segment must be overwritten.
	ff := [16]byte{0: 0xff, 4: 0xff, 15: 0xff}
	fast.seg = Segment{Src: ff, Dst: ff, V6: true, SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: 0xff,
		Payload: []byte("stale"), Missing: 5, SrcMAC: [6]byte{6}, DstMAC: [6]byte{7}, HasMAC: false}
	fast.key, fast.srcIsA = flowKey{a: [2]uint64{1, 2}, b: [2]uint64{3, 4}, ports: 5}, true
	if !fast.fastEthernet(frame) {
		return false
	}
	var k flowKey
	if srcIsA := k.set(&fast.seg); k != fast.key || srcIsA != fast.srcIsA {
		t.Fatalf("fast path's key %+v (source is a: %v), flowKey.set's %+v (%v)\nframe % x", fast.key, fast.srcIsA, k, srcIsA, frame)
	}
	slow := NewDecoder()
	seg, err := slow.decodeLayers(frame, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatalf("fast path took a frame gopacket rejects (%v): % x", err, frame)
	}
	if d := sameSegment(&fast.seg, seg); d != "" {
		t.Fatalf("fast path and gopacket differ: %s\nframe % x", d, frame)
	}
	return true
}

// TestFastPathCases covers the edges of the fast path: each case is a
// variation of the Modbus request v4seg in Ethernet II.
func TestFastPathCases(t *testing.T) {
	base := ethFrame(t, v4seg)
	// base, 66 bytes: Ethernet II, IPv4 (45 00 00 34 ...), TCP with a
	// 20-byte header and a 12-byte Modbus request.
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), base...)) }
	for _, tc := range []struct {
		name  string
		frame []byte
		fast  bool // the fast path takes it
	}{
		{"plain", base, true},
		{"padded", append(append([]byte(nil), base...), 0, 0, 0, 0), true},
		{"snapped", base[:len(base)-5], true},
		{"IP options", mod(func(b []byte) []byte { b[14] = 0x46; return b }), false},
		{"IP version 6 in 0x0800", mod(func(b []byte) []byte { b[14] = 0x65; return b }), false},
		{"TSO zero length", mod(func(b []byte) []byte { b[16], b[17] = 0, 0; return b }), false},
		{"IP length under 20", mod(func(b []byte) []byte { b[16], b[17] = 0, 19; return b }), false},
		{"more fragments", mod(func(b []byte) []byte { b[20] |= 0x20; return b }), false},
		{"fragment offset", mod(func(b []byte) []byte { b[21] = 1; return b }), false},
		{"don't fragment", mod(func(b []byte) []byte { b[20] = 0x40; return b }), true},
		{"UDP", mod(func(b []byte) []byte { b[23] = 17; return b }), false},
		{"VLAN", mod(func(b []byte) []byte { b[12], b[13] = 0x81, 0; return b }), false},
		{"QinQ 9100/8100", ethFrame(t, withTags(v4seg, []uint16{0x9100, 0x8100}, 200, 100)), false},
		{"QinQ 88a8/8100", ethFrame(t, withTags(v4seg, []uint16{0x88a8, 0x8100}, 200, 100)), false},
		{"TCP data offset 4", mod(func(b []byte) []byte { b[46] = 0x40; return b }), false},
		{"TCP header beyond IP length", mod(func(b []byte) []byte { b[46] = 0xf0; return b }), false},
		{"TCP header cut", base[:14+20+19], false},
		{"all flags", mod(func(b []byte) []byte { b[47] = 0xff; return b }), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkFastPath(t, tc.frame); got != tc.fast {
				t.Fatalf("fast path took it: %v, want %v", got, tc.fast)
			}
		})
	}
}

// FuzzFastPath checks that the Ethernet/IPv4/TCP fast path agrees with
// gopacket on any frame it accepts. Seeds: testdata/fuzz/FuzzFastPath
// (frames of iti_ModbusTCP.pcap and zeek_fuzz-72.pcap) and, when the
// shared captures are present, more of their frames.
func FuzzFastPath(f *testing.F) {
	f.Add(ethFrame(f, v4seg))
	f.Add(ethFrame(f, withTags(v4seg, []uint16{0x9100, 0x8100}, 200, 100)))
	f.Add(ethFrame(f, withTags(v6seg, []uint16{0x88a8, 0x9100}, 200, 100)))
	if testpcaps.Available() {
		for _, name := range []string{"modbus/iti_ModbusTCP.pcap", "modbus/zeek_fuzz-72.pcap"} {
			for _, fr := range firstFrames(f, filepath.Join(pcapsDir(f), name), 20) {
				f.Add(fr)
			}
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkFastPath(t, frame)
		// Decode as a whole must not depend on which path ran: a fresh
		// decoder and one that just decoded another frame agree.
		d := NewDecoder()
		d.Decode(ethFrame(t, v4seg), layers.LinkTypeEthernet)
		s1, err1 := d.Decode(frame, layers.LinkTypeEthernet)
		s2, err2 := NewDecoder().decodeLayers(frame, layers.LinkTypeEthernet)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("errors differ: %v vs %v", err1, err2)
		}
		if diff := sameSegment(s1, s2); diff != "" {
			t.Fatalf("Decode and gopacket differ: %s", diff)
		}
	})
}

// firstFrames returns copies of the first n Ethernet frames of a capture.
func firstFrames(t testing.TB, path string, n int) [][]byte {
	src, err := capture.OpenFile(path)
	if err != nil {
		return nil
	}
	defer src.Close()
	var out [][]byte
	for len(out) < n {
		p, err := src.Next()
		if errors.Is(err, io.EOF) || err != nil {
			break
		}
		if p.LinkType == layers.LinkTypeEthernet {
			out = append(out, append([]byte(nil), p.Data...))
		}
	}
	return out
}

// BenchmarkDecodeRealCapture decodes the frames of iti_ModbusTCP.pcap with Decode
// (fast path) and with the DecodingLayerParser alone, for comparison.
func BenchmarkDecodeRealCapture(b *testing.B) {
	frames := firstFrames(b, filepath.Join(pcapsDir(b), "modbus", "iti_ModbusTCP.pcap"), 1<<20)
	if len(frames) == 0 {
		b.Skip("no Ethernet frames")
	}
	for _, bc := range []struct {
		name string
		fn   func(d *Decoder, f []byte) (*Segment, error)
	}{
		{"Decode", func(d *Decoder, f []byte) (*Segment, error) { return d.Decode(f, layers.LinkTypeEthernet) }},
		{"gopacket", func(d *Decoder, f []byte) (*Segment, error) { return d.decodeLayers(f, layers.LinkTypeEthernet) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewDecoder()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := bc.fn(d, frames[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(frames) {
					i = 0
				}
			}
		})
	}
}
