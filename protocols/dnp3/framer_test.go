package dnp3

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// frame builds one user-data frame (unconfirmed, from master 1 to
// outstation 10) around data.
func frame(t testing.TB, data []byte) []byte {
	t.Helper()
	b, err := AppendFrame(nil, LinkHeader{Control: 0xc4, Dest: 10, Source: 1}, data)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frameAll feeds the chunks to a Framer (resynchronising first if resync)
// and describes what came out: one line per frame, the link errors, the
// error.
func frameAll(resync bool, chunks ...[]byte) (string, *Framer, error) {
	var f Framer
	if resync {
		f.Resync()
	}
	var out strings.Builder
	var err error
	for _, c := range chunks {
		if err = f.Feed(c, func(fr *Frame) {
			fmt.Fprintf(&out, "%d>%d %02x %x\n", fr.Source, fr.Dest, uint8(fr.Control), fr.Data)
		}); err != nil {
			break
		}
	}
	return out.String(), &f, err
}

// TestFramerSplits feeds a stream of frames of every length class (no user
// data, one block, several blocks, the longest) whole and cut at every
// point: the same frames come out.
func TestFramerSplits(t *testing.T) {
	var stream []byte
	for _, n := range []int{0, 1, 15, 16, 17, 32, 100, MaxUserData} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(n + i)
		}
		stream = append(stream, frame(t, data)...)
	}
	// A link status frame (no user data) from the outstation.
	ls, _ := AppendFrame(nil, LinkHeader{Control: 0x0b, Dest: 1, Source: 10}, nil)
	stream = append(stream, ls...)
	whole, _, err := frameAll(false, stream)
	if err != nil || strings.Count(whole, "\n") != 9 {
		t.Fatalf("whole stream: %v\n%s", err, whole)
	}
	for cut := 0; cut <= len(stream); cut++ {
		if got, _, err := frameAll(false, stream[:cut], stream[cut:]); got != whole || err != nil {
			t.Fatalf("cut at %d: %v\n%s\nwant\n%s", cut, err, got, whole)
		}
	}
	// One octet at a time, and at random cuts in resync mode.
	var octets [][]byte
	for i := range stream {
		octets = append(octets, stream[i:i+1])
	}
	if got, _, err := frameAll(false, octets...); got != whole || err != nil {
		t.Fatalf("octet by octet: %v\n%s", err, got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		junk := make([]byte, r.IntN(40))
		for i := range junk {
			junk[i] = byte(r.IntN(256))
		}
		s := append(junk, stream...)
		a, b := r.IntN(len(s)+1), r.IntN(len(s)+1)
		a, b = min(a, b), max(a, b)
		got, _, err := frameAll(true, s[:a], s[a:b], s[b:])
		if err != nil || !strings.HasSuffix(got, whole) {
			t.Fatalf("junk % x, cuts %d %d: %v\n%s", junk, a, b, err, got)
		}
	}
}

// TestFramerNotDNP3: a stream that does not start with a link header is not
// DNP3; the frames before a fault in a trusted stream are kept.
func TestFramerNotDNP3(t *testing.T) {
	tls := []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 hello")
	if _, f, err := frameAll(false, tls); !errors.Is(err, ErrNotDNP3) || f.Frames() != 0 {
		t.Fatalf("TLS: %v", err)
	} else if err2 := f.Feed(selectFrame, func(*Frame) {}); err2 != err {
		t.Errorf("a failed Framer took more data: %v", err2)
	}
	// Mid-stream: 64 KiB of bytes without a valid header.
	junk := bytes.Repeat([]byte{0x05, 0x64, 0x05, 0xc0}, resyncLimit/4+10)
	_, f, err := frameAll(true, junk)
	if !errors.Is(err, ErrNotDNP3) || f.Skipped() < resyncLimit {
		t.Fatalf("junk after resync: %v, skipped %d", err, f.Skipped())
	}
	// The same junk cut in pieces fails the same way.
	if _, _, err := frameAll(true, junk[:1000], junk[1000:50001], junk[50001:]); !errors.Is(err, ErrNotDNP3) {
		t.Fatalf("junk in pieces: %v", err)
	}
}

// TestFramerLinkErrors: in a stream known to be DNP3, a frame with a bad
// block CRC is skipped whole and a bad header costs a resynchronisation;
// the frames around them come out.
func TestFramerLinkErrors(t *testing.T) {
	good := frame(t, []byte{0xc0, 0xc1, 0x01, 0x3c, 0x01, 0x06})
	badBlock := bytes.Clone(selectFrame)
	badBlock[15] ^= 0xff
	badHeader := bytes.Clone(selectFrame)
	badHeader[5] ^= 0xff
	stream := bytes.Join([][]byte{good, badBlock, good, badHeader, good, []byte("garbage"), good}, nil)
	for cut := 0; cut <= len(stream); cut++ {
		got, f, err := frameAll(false, stream[:cut], stream[cut:])
		if err != nil || strings.Count(got, "\n") != 4 {
			t.Fatalf("cut %d: %v\n%s", cut, err, got)
		}
		// The bad block, the bad header, and the junk before the last
		// frame (which starts a resync of its own only if not already
		// resynchronising).
		if f.LinkErrors() != 3 {
			t.Fatalf("cut %d: %d link errors, want 3 (last %v)", cut, f.LinkErrors(), f.LastLinkError())
		}
	}
	_, f, _ := frameAll(false, good, badBlock)
	var ce *CRCError
	if !errors.As(f.LastLinkError(), &ce) || ce.Block != 0 || ce.Src != 1 || ce.Dest != 10 {
		t.Errorf("last link error %v", f.LastLinkError())
	}
	// Before any good frame, octets other than 05 64 prove it is not
	// DNP3, but a bad CRC after 05 64 is a link error.
	if _, f, err := frameAll(false, badHeader, good); err != nil || f.Frames() != 1 || f.LinkErrors() != 1 {
		t.Errorf("bad header first: %v, %d frames, %d errors", err, f.Frames(), f.LinkErrors())
	}
	// Trust lets the other direction's garbage cost a resync only.
	var tr Framer
	tr.Trust()
	n := 0
	if err := tr.Feed(append([]byte("\x05\x05\x11\xc4"), good...), func(*Frame) { n++ }); err != nil || n != 1 {
		t.Errorf("trusted: %v, %d frames", err, n)
	}
}
