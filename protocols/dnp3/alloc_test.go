package dnp3

import (
	"bytes"
	"testing"
)

// TestZeroAllocs holds the decode path to zero allocations per frame once
// its buffers are warm: framing with CRC checks, transport reassembly of
// one- and two-segment fragments, pairing, decoding and writing every
// transaction's event, and resynchronising over junk.
func TestZeroAllocs(t *testing.T) {
	master, outstation, _ := session(20)
	// A fragment of two segments too (a 300-octet write).
	var seq byte
	long := append([]byte{0xc0, 0x02, 0x6e, 0xff, 0x00, 0x00, 0x00}, bytes.Repeat([]byte{'x'}, 255)...)
	master = appendFragment(master, 1, 10, true, &seq, long)
	// A malformed one, whose event carries the error.
	master = appendFragment(master, 1, 10, true, &seq, mustHex("c1 15 3c 02 06 3c 04 ed"))
	d := newDecoder(true)
	d.feed(master, outstation) // warm the pairer's free list, the reassembler's buffers and the JSON buffer
	if n := testing.AllocsPerRun(20, func() {
		d.fr = [2]Framer{}
		d.feed(master, outstation)
	}); n != 0 {
		t.Errorf("decode path: %.1f allocations per run, want 0", n)
	}
	if d.txs == 0 {
		t.Fatal("no transactions")
	}
	junk := append(bytes.Repeat([]byte{0x05, 0x64, 0x0a}, 200), master...)
	var f Framer
	if n := testing.AllocsPerRun(20, func() {
		f.Resync()
		_ = f.Feed(junk, func(*Frame) {})
	}); n != 0 {
		t.Errorf("resync: %.1f allocations per run, want 0", n)
	}
	if f.Frames() == 0 {
		t.Fatal("resync found no frame")
	}
	// Bad frames in a trusted stream cost no allocation either.
	bad := bytes.Clone(selectFrame)
	bad[12] ^= 1
	stream := bytes.Join([][]byte{selectFrame, bad, []byte("junk"), selectFrame}, nil)
	var g Framer
	if n := testing.AllocsPerRun(20, func() {
		_ = g.Feed(stream, func(*Frame) {})
	}); n != 0 || g.LinkErrors() == 0 {
		t.Errorf("link errors: %.1f allocations per run (%d errors), want 0", n, g.LinkErrors())
	}
}
