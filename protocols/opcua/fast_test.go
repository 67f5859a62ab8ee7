package opcua

import (
	"reflect"
	"testing"
)

// TestFastPathMatchesGopcua decodes every single-chunk MSG body of the real
// captures twice, with the fast path and with gopcua alone, and requires
// the same Service.
func TestFastPathMatchesGopcua(t *testing.T) {
	var compared int
	for _, f := range captures(t) {
		fr := [2]*Framer{NewFramer(0), NewFramer(0)}
		for _, s := range readSegments(t, f) {
			d := 0
			if s.src.Port() == 4840 {
				d = 1
			}
			fr[d].Feed(s.payload, func(c Chunk) {
				if c.Type != TypeMSG || c.ChunkType != ChunkFinal {
					return
				}
				tid, n, ok := peekTypeID(c.Body)
				if !ok {
					return
				}
				fast, _, fu, ferr := decodeBodyWith(c.Body, 1<<20, true)
				slow, _, su, serr := decodeBodyWith(c.Body, 1<<20, false)
				if _, hot := fastDecode(&Service{}, tid, c.Body[n:]); !hot {
					return
				}
				compared++
				if ferr != nil || serr != nil {
					t.Fatalf("%s: errors fast %v gopcua %v", f, ferr, serr)
				}
				if fu != su {
					t.Errorf("%s: %s length fast %d gopcua %d", f, fast.Name, fu, su)
				}
				if !reflect.DeepEqual(fast, slow) {
					t.Errorf("%s: %s\n fast   %+v\n gopcua %+v", f, fast.Name, fast, slow)
				}
			})
		}
	}
	if compared < 100 {
		t.Fatalf("only %d bodies compared", compared)
	}
	t.Logf("%d Read/Write/Publish bodies identical on both paths", compared)
}
