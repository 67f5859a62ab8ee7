package modbus

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

func TestValues(t *testing.T) {
	// FC 1 response data 0xe9 0x01: 9 bits LSB first, then padding.
	v := bits(mustHex("e901"), 16)
	h := v.Head(9)
	if h.Len() != 9 || !h.IsBits() || !bytes.Equal(h.Raw(), mustHex("e901")) || !h.Bit(0) || h.Bit(1) || !h.Bit(8) {
		t.Errorf("Head(9) = %+v", h)
	}
	if v.Head(100).Len() != 16 || v.Head(-1).Len() != 16 {
		t.Error("Head beyond Len must keep all values")
	}
	r := RegisterValues(1, 0xFFFF, 3)
	if r.Len() != 3 || r.IsBits() || r.At(1) != 0xFFFF || r.Head(2).Len() != 2 || len(r.Head(2).Raw()) != 4 {
		t.Errorf("registers = %+v", r)
	}
	defer func() {
		if recover() == nil {
			t.Error("At out of range must panic like a slice index")
		}
	}()
	r.At(3)
}

func TestFileRecordsAndObjects(t *testing.T) {
	f := MakeFileRecords(LayoutFileReadRequest, FileRecord{RefType: 6, File: 1, Record: 2, Length: 3}, FileRecord{RefType: 6, File: 4})
	if f.Len() != 2 || len(f.Raw()) != 14 {
		t.Errorf("file records: len %d, raw % x", f.Len(), f.Raw())
	}
	for r := range f.All() { // early break must be honoured
		if r.File != 1 || r.Record != 2 || r.Length != 3 {
			t.Errorf("first record = %+v", r)
		}
		break
	}
	o := MakeObjects(Object{0, []byte("a")}, Object{1, bytes.Repeat([]byte("b"), 300)})
	n := 0
	for id, v := range o.All() {
		if id == 1 && len(v) != 255 {
			t.Errorf("object 1 not cut to 255 bytes: %d", len(v))
		}
		n++
	}
	if n != 2 || o.Len() != 2 {
		t.Errorf("objects: %d iterated, Len %d", n, o.Len())
	}
	for range o.All() {
		break
	}
}

func TestFramerAccessors(t *testing.T) {
	var f Framer
	f.Resync()
	if !f.Resyncing() {
		t.Error("Resyncing after Resync")
	}
	got, err := collect(&f, append(mustHex("ffff"), twoADUs...))
	if err != nil || len(got) != 2 || f.Resyncing() || f.Frames() != 2 || f.Skipped() != 2 {
		t.Errorf("%d ADUs, err %v, resyncing %v, frames %d, skipped %d", len(got), err, f.Resyncing(), f.Frames(), f.Skipped())
	}
	if a := (ADU{}); a.Function() != 0 {
		t.Error("empty ADU function")
	}
}

func TestPairerClockStepsBack(t *testing.T) {
	p := Pairer{Timeout: time.Second}
	var got []uint16
	emit := func(tx *Transaction) { got = append(got, tx.TransactionID) }
	p.Request(adu(t, 1, 1, "03 0000 0001"), at(5000), emit) // later timestamp first
	p.Request(adu(t, 2, 1, "03 0000 0001"), at(0), emit)    // the capture's clock stepped back
	p.Expire(at(2000), emit)
	if len(got) != 1 || got[0] != 2 || p.Stats().Pending != 1 {
		t.Errorf("expired %v, pending %d", got, p.Stats().Pending)
	}
	var lone Transaction
	p.Response(adu(t, 9, 1, "03 02 0001"), at(2500), func(tx *Transaction) { lone = *tx })
	if !lone.Time().Equal(at(2500)) || lone.HasRequest {
		t.Errorf("lone response time %v", lone.Time())
	}
}

// TestValuesJSON checks the event's list writers (a byte table for bits,
// jsonw.BigEndianUint16s for registers) against the plain definition, one
// At per element, for lists of every length up to 2,000 bits or 125
// registers cut anywhere, with and without room in the destination.
func TestValuesJSON(t *testing.T) {
	ref := func(v Values) string {
		var b []byte
		b = append(b, '[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, uint64(v.At(i)), 10)
		}
		return string(append(b, ']'))
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	raw := make([]byte, 250)
	for i := range raw {
		raw[i] = byte(rnd.Uint32())
	}
	check := func(v Values) {
		t.Helper()
		want := `{"values":` + ref(v)
		got := values([]byte("{"), `"values":`, v)
		roomy := values(append(make([]byte, 0, 4096), '{'), `"values":`, v)
		if string(got) != want || string(roomy) != want {
			t.Fatalf("values(%+v) = %s / %s, want %s", v, got, roomy, want)
		}
	}
	for n := 0; n <= 8*len(raw); n++ {
		check(bits(raw, 8*len(raw)).Head(n))
	}
	for n := 0; n <= len(raw)/2; n++ {
		check(registers(raw).Head(n))
	}
	check(BitValues(true, false, true))
	check(RegisterValues(0, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535))
}
