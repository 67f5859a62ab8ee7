package modbus

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
)

// Two pipelined requests in one segment, as iti_ModbusTCP.pcap carries them:
//
//	0001 0000 0006 01 | 01 0000 000a   read coils
//	0002 0000 0006 02 | 04 0064 0002   read input registers
var twoADUs = mustHex("0001 0000 0006 01 01 0000 000a" + "0002 0000 0006 02 04 0064 0002")

func collect(f *Framer, chunks ...[]byte) ([]ADU, error) {
	var out []ADU
	var err error
	for _, c := range chunks {
		err = f.Feed(c, func(a ADU) {
			a.PDU = bytes.Clone(a.PDU)
			out = append(out, a)
		})
		if err != nil {
			break
		}
	}
	return out, err
}

func summary(adus []ADU) string {
	var b strings.Builder
	for _, a := range adus {
		fmt.Fprintf(&b, "%d/%d/%d:%x ", a.TransactionID, a.UnitID, a.Length, a.PDU)
	}
	return strings.TrimSpace(b.String())
}

func TestFramer(t *testing.T) {
	good := "1/1/6:010000000a 2/2/6:0400640002"
	half := len(twoADUs) / 2
	tests := []struct {
		name    string
		resync  bool
		chunks  [][]byte
		want    string
		wantErr bool
	}{
		{name: "two in one call", chunks: [][]byte{twoADUs}, want: good},
		{name: "split in the header", chunks: [][]byte{twoADUs[:3], twoADUs[3:]}, want: good},
		{name: "split in the body", chunks: [][]byte{twoADUs[:9], twoADUs[9:]}, want: good},
		{name: "split across both", chunks: [][]byte{twoADUs[:half], twoADUs[half:]}, want: good},
		{name: "byte by byte", chunks: splitEvery(twoADUs, 1), want: good},
		{name: "empty calls", chunks: [][]byte{nil, twoADUs[:5], {}, twoADUs[5:]}, want: good},
		// TLS ClientHello on tcp/502 (zeek_modbus-and-non-modbus-p502.pcap): protocol id 0x0301.
		{name: "tls is not modbus", chunks: [][]byte{mustHex("16030100a5010000a10303")}, wantErr: true},
		{name: "length 1", chunks: [][]byte{mustHex("00010000000101")}, wantErr: true},
		{name: "length 255", chunks: [][]byte{mustHex("000100000000ff01")}, wantErr: true},
		{name: "bad header after good", chunks: [][]byte{twoADUs, mustHex("0003000100060101")}, want: good, wantErr: true},
		{name: "bad header split", chunks: [][]byte{mustHex("000300"), mustHex("01000601")}, wantErr: true},
		// Resync: junk, then the two ADUs.
		{name: "resync after junk", resync: true, chunks: [][]byte{append(mustHex("deadbeef00"), twoADUs...)}, want: good},
		{name: "resync header split over calls", resync: true, chunks: [][]byte{append(mustHex("ff"), twoADUs[:4]...), twoADUs[4:]}, want: good},
		{name: "resync byte by byte", resync: true, chunks: splitEvery(append(mustHex("0000ff0000"), twoADUs...), 1), want: good},
		// Resync mid-ADU: the tail of an ADU, then whole ones.
		{name: "resync mid adu", resync: true, chunks: [][]byte{append(twoADUs[9:12:12], twoADUs...)}, want: good},
		// A false lock on a look-alike, then garbage: probation scans again.
		{name: "resync false lock", resync: true,
			chunks: [][]byte{append(mustHex("000000000002ff03"+"ffffffffffffffff"), twoADUs...)}, want: "0/255/2:03 " + good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Framer
			if tc.resync {
				f.Resync()
			}
			got, err := collect(&f, tc.chunks...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrNotModbus) {
				t.Errorf("error %v does not wrap ErrNotModbus", err)
			}
			if s := summary(got); s != tc.want {
				t.Errorf("ADUs\n got %s\nwant %s", s, tc.want)
			}
		})
	}
}

func splitEvery(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

func TestFramerFailureIsSticky(t *testing.T) {
	var f Framer
	if _, err := collect(&f, mustHex("16030100a5010000")); !errors.Is(err, ErrNotModbus) {
		t.Fatalf("err = %v", err)
	}
	if got, err := collect(&f, twoADUs); !errors.Is(err, ErrNotModbus) || len(got) != 0 {
		t.Fatalf("after failure: %d ADUs, err %v", len(got), err)
	}
	f.Reset()
	if got, err := collect(&f, twoADUs); err != nil || len(got) != 2 {
		t.Fatalf("after Reset: %d ADUs, err %v", len(got), err)
	}
}

func TestFramerTrustedDesync(t *testing.T) {
	stream := bytes.Repeat(twoADUs, 2) // 4 good ADUs: trusted
	// A device's malformed frame: protocol id 1, then the stream goes on.
	stream = append(stream, mustHex("0009000100030101ff")...)
	stream = append(stream, twoADUs...)
	for _, strict := range []bool{false, true} {
		f := Framer{Strict: strict}
		got, err := collect(&f, stream)
		if strict {
			if !errors.Is(err, ErrNotModbus) || len(got) != 4 || f.Desyncs() != 0 {
				t.Errorf("strict: %d ADUs, err %v, desyncs %d", len(got), err, f.Desyncs())
			}
			continue
		}
		if err != nil || len(got) != 6 || f.Desyncs() != 1 || f.Skipped() != 9 {
			t.Errorf("tolerant: %d ADUs (%s), err %v, desyncs %d, skipped %d", len(got), summary(got), err, f.Desyncs(), f.Skipped())
		}
	}
}

func TestFramerResyncGivesUp(t *testing.T) {
	var f Framer
	f.Resync()
	junk := bytes.Repeat([]byte{0xff}, 1000)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = f.Feed(junk, func(ADU) { t.Fatal("ADU from junk") })
	}
	if !errors.Is(err, ErrNotModbus) {
		t.Fatalf("err = %v", err)
	}
	if f.Skipped() < resyncLimit {
		t.Errorf("skipped %d < %d", f.Skipped(), resyncLimit)
	}
}

// TestFramerLookAlikeJunk: junk full of MBAP look-alikes, each followed by
// bytes that cannot be a header, keeps a resynchronising Framer on
// probation; it must still give up with ErrNotModbus.
func TestFramerLookAlikeJunk(t *testing.T) {
	// 0000 0000 0002 ff | 03, then eight 0xff: a one-ADU false lock.
	unit := mustHex("0000 0000 0002 ff 03 ffffffffffffffff")
	junk := bytes.Repeat(unit, 2*resyncLimit/len(unit))
	for _, chunk := range []int{len(junk), 1000, 7} {
		var f Framer
		f.Resync()
		got, err := collect(&f, splitEvery(junk, chunk)...)
		if !errors.Is(err, ErrNotModbus) {
			t.Errorf("chunks of %d: err = %v after %d false ADUs", chunk, err, len(got))
		}
	}
}

func TestADUAppendParse(t *testing.T) {
	a := ADU{TransactionID: 0x1234, UnitID: 7, PDU: mustHex("0300000001")}
	b, err := a.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	// 1234 0000 0006 07 | 03 0000 0001
	if want := mustHex("12340000000607030000" + "0001"); !bytes.Equal(b, want) {
		t.Fatalf("Append = % x, want % x", b, want)
	}
	got, n, err := ParseADU(b)
	if err != nil || n != len(b) || got.TransactionID != 0x1234 || got.UnitID != 7 || got.Length != 6 || !bytes.Equal(got.PDU, a.PDU) {
		t.Fatalf("ParseADU = %+v, %d, %v", got, n, err)
	}
	if _, n, err := ParseADU(b[:len(b)-1]); n != 0 || err != nil {
		t.Errorf("partial: n %d err %v", n, err)
	}
	if _, err := (&ADU{PDU: make([]byte, MaxPDULen+1)}).Append(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversize PDU: %v", err)
	}
}

// TestFramerRealStreams feeds every direction of every real capture to the
// Framer at random split points and expects the ADUs of a one-call feed,
// and of a segment-by-segment feed, every time.
func TestFramerRealStreams(t *testing.T) {
	total := 0
	for _, file := range pcapFiles(t) {
		for _, s := range readStreams(t, file) {
			strict := s.sawSYN
			name := fmt.Sprintf("%s/%v-%v", filepath.Base(file), s.src, s.dst)
			feedPieces := func(split func([]byte) [][]byte) ([]ADU, error) {
				var f Framer
				if !strict {
					f.Resync()
				}
				var all []ADU
				for i, p := range s.pieces {
					if i > 0 {
						f.Resync() // a gap
					}
					got, err := collect(&f, split(p)...)
					all = append(all, got...)
					if err != nil {
						return all, err
					}
				}
				return all, nil
			}
			ref, refErr := feedPieces(func(b []byte) [][]byte { return [][]byte{b} })
			want := summary(ref)
			total += len(ref)
			// Segment by segment, as TCP delivered it.
			var segs [][]byte
			for _, sg := range s.segs {
				segs = append(segs, sg.payload)
			}
			if len(s.pieces) == 1 {
				var f Framer
				if !strict {
					f.Resync()
				}
				got, err := collect(&f, segs...)
				if summary(got) != want || (err == nil) != (refErr == nil) {
					t.Errorf("%s: per segment %d ADUs (err %v), one call %d (err %v)", name, len(got), err, len(ref), refErr)
				}
			}
			rng := rand.New(rand.NewPCG(uint64(len(s.segs)), 42))
			for round := 0; round < 5; round++ {
				got, err := feedPieces(func(b []byte) [][]byte { return randomSplit(rng, b) })
				if summary(got) != want || (err == nil) != (refErr == nil) {
					t.Errorf("%s round %d: %d ADUs (err %v), want %d (err %v)", name, round, len(got), err, len(ref), refErr)
				}
			}
		}
	}
	if total == 0 {
		t.Fatal("no ADU framed from any capture")
	}
	t.Logf("%d ADUs framed identically at random split points", total)
}

func randomSplit(rng *rand.Rand, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := 1 + rng.IntN(min(len(b), 300))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// TestFramerNonModbus: on zeek_modbus-and-non-modbus-p502.pcap only the
// Modbus connection (10.0.0.9:3082) frames; TLS, HTTP, DCERPC, NFS and raw
// bytes on tcp/502 fail with ErrNotModbus before any ADU.
func TestFramerNonModbus(t *testing.T) {
	file := filepath.Join(pcapDir(t), "zeek_modbus-and-non-modbus-p502.pcap")
	var modbus, other int
	for _, s := range readStreams(t, file) {
		adus, err := frameAll(s.bytes(), true)
		isModbus := s.src.Port() == 3082 || s.dst.Port() == 3082
		switch {
		case isModbus && (err != nil || len(adus) == 0):
			t.Errorf("%v->%v: Modbus stream: %d ADUs, err %v", s.src, s.dst, len(adus), err)
		case !isModbus && (!errors.Is(err, ErrNotModbus) || len(adus) != 0):
			t.Errorf("%v->%v: non-Modbus stream: %d ADUs, err %v", s.src, s.dst, len(adus), err)
		}
		if isModbus {
			modbus++
		} else {
			other++
		}
	}
	if modbus != 2 || other < 10 {
		t.Errorf("saw %d Modbus and %d other directions", modbus, other)
	}
}
