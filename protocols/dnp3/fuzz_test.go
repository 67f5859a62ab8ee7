package dnp3

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzFramer feeds a stream to the Framer whole and cut in two, in strict
// and resync mode: the same frames and the same outcome must come out,
// every frame must re-encode to valid link octets, and the frames must go
// through reassembly, pairing and event writing without a panic and into
// valid JSON. Seeds: testdata/fuzz/FuzzFramer (the first 600 octets of
// every stream direction of the shared captures).
func FuzzFramer(f *testing.F) {
	f.Add(selectFrame, uint16(7), false)
	f.Add(append([]byte("\x05\x64junk"), selectFrame...), uint16(3), true)
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16, resync bool) {
		run := func(chunks ...[]byte) (string, error) {
			var fr Framer
			if resync {
				fr.Resync()
			}
			var ra Reassembler
			var pr Pairer
			ts := time.Unix(0, 0)
			emitTx := func(tx *Transaction) {
				if js := tx.AppendJSON(nil); !json.Valid(js) {
					t.Fatalf("invalid JSON %s", js)
				}
			}
			var out strings.Builder
			var err error
			for _, c := range chunks {
				err = fr.Feed(c, func(f *Frame) {
					if len(f.Data) > MaxUserData || int(f.Length) != MinLength+len(f.Data) {
						t.Fatalf("bad frame %+v", f)
					}
					if _, err := AppendFrame(nil, f.LinkHeader, f.Data); err != nil {
						t.Fatal(err)
					}
					fmt.Fprintf(&out, "%x %x|", f.LinkHeader, f.Data)
					if f.Control.Function().UserData() {
						ra.Segment(f, func(fr *Fragment) { pr.Fragment(fr, ts, emitTx) })
					}
				})
				if err != nil {
					break
				}
			}
			pr.Flush(emitTx)
			if err != nil && !errors.Is(err, ErrNotDNP3) {
				t.Fatalf("error %v does not wrap ErrNotDNP3", err)
			}
			return out.String(), err
		}
		whole, werr := run(stream)
		k := int(cut) % (len(stream) + 1)
		split, serr := run(stream[:k], stream[k:])
		if whole != split || (werr == nil) != (serr == nil) {
			t.Fatalf("cut at %d: %q (%v) vs whole %q (%v)", k, split, serr, whole, werr)
		}
	})
}

// FuzzTransport feeds a sequence of transport segments to a Reassembler:
// each record of the input is a length octet, a source-address octet and
// the segment (header octet first). Fragments must respect MaxFragment,
// the counters must add up, and every fragment must decode without a
// panic. Seeds: testdata/fuzz/FuzzTransport (the segments of the shared
// captures, per stream direction).
func FuzzTransport(f *testing.F) {
	f.Add([]byte{4, 1, 0x40, 'a', 'b', 'c', 3, 1, 0x81, 'd', 'e'})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := Reassembler{MaxFragment: 600, MaxPending: 3}
		var m Message
		for len(in) >= 2 {
			n := min(int(in[0]), len(in)-2)
			fr := Frame{LinkHeader: LinkHeader{Control: 0x44, Source: uint16(in[1] & 7), Dest: 1}, Data: in[2 : 2+n]}
			in = in[2+n:]
			r.Segment(&fr, func(f *Fragment) {
				if len(f.Data) > 600 && f.Segments > 1 {
					t.Fatalf("fragment of %d octets in %d segments beyond MaxFragment", len(f.Data), f.Segments)
				}
				m.Parse(f.Data)
			})
			if r.Pending() > 3 {
				t.Fatalf("%d pending beyond MaxPending", r.Pending())
			}
		}
		s := r.Stats()
		if s.Fragments > s.Segments {
			t.Fatalf("stats %+v", s)
		}
	})
}

// FuzzMessage decodes one application fragment, walks every point of every
// object and writes the event: no panic, errors wrap ErrMalformed, valid
// JSON. Seeds: testdata/fuzz/FuzzMessage (fragments of the shared captures)
// and the vectors of app_test.go.
func FuzzMessage(f *testing.F) {
	for _, v := range pointVectors {
		f.Add(mustHex(v.frag))
	}
	f.Fuzz(func(t *testing.T, frag []byte) {
		var tx Transaction
		tx.HasRequest = true
		if err := tx.Request.Message.Parse(frag); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		m := &tx.Request.Message
		for i := range m.Objects {
			o := &m.Objects[i]
			it := o.Points()
			var p Point
			// As AppendJSON does, bound the walk: objects of zero
			// octets (g110-g113 v0) can name 2^32 points.
			for n := 0; n < 4*MaxPoints && it.Next(&p); n++ {
				if n > len(frag)*8 && o.info.size > 0 {
					t.Fatalf("object %d yields more points than its data holds", i)
				}
			}
		}
		if js := tx.AppendJSON(nil); !json.Valid(js) {
			t.Fatalf("invalid JSON %s", js)
		}
	})
}
