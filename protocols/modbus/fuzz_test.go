package modbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzADU decodes one ADU as a request and as a response, renders both as
// event JSON and re-encodes what decoded cleanly. Seeds: testdata/fuzz/FuzzADU
// (real ADUs from ../shared/pcaps/modbus) and the byte vectors of pdu_test.go.
func FuzzADU(f *testing.F) {
	for _, v := range pduVectors {
		s := mustHex(stripBar(v.adu))
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		adu, n, err := ParseADU(b)
		if err != nil || n == 0 {
			return
		}
		fc := adu.Function()
		data := adu.PDU[1:]
		req, rerr := DecodeRequest(fc, data)
		resp, perr := DecodeResponse(fc, data)
		for _, e := range []error{rerr, perr} {
			if e != nil && !errors.Is(e, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", e)
			}
		}
		tx := Transaction{TransactionID: adu.TransactionID, UnitID: adu.UnitID, FunctionCode: fc.Base(),
			HasRequest: true, Request: req, RequestErr: rerr, HasResponse: true, Response: resp, ResponseErr: perr}
		js := tx.AppendJSON(nil)
		if !jsonValid(js) {
			t.Fatalf("invalid JSON %s", js)
		}
		if rerr == nil {
			enc, err := req.AppendPDU(nil)
			if err != nil || !bytes.Equal(enc, adu.PDU) {
				t.Fatalf("request re-encode % x (%v), want % x", enc, err, adu.PDU)
			}
		}
		if perr == nil {
			enc, err := resp.AppendPDU(nil)
			if err != nil {
				t.Fatalf("response re-encode: %v", err)
			}
			// FC 43/14 more-follows is a bool on our side: any non-0xFF
			// byte re-encodes as 0x00; everything else is exact.
			if !bytes.Equal(enc, adu.PDU) && !(fc == FuncEncapsulatedInterfaceTransport && len(enc) == len(adu.PDU)) {
				t.Fatalf("response re-encode % x, want % x", enc, adu.PDU)
			}
		}
	})
}

// FuzzFramer feeds a stream to the Framer whole and in two random pieces, in
// strict and resync mode: the same ADUs must come out, none longer than the
// MBAP bounds, and the Pairer must take them without panicking. Seeds:
// testdata/fuzz/FuzzFramer (real stream prefixes).
func FuzzFramer(f *testing.F) {
	f.Add(twoADUs, uint16(5), false)
	f.Add(append(mustHex("deadbeef"), twoADUs...), uint16(3), true)
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16, resync bool) {
		run := func(chunks ...[]byte) (string, error) {
			var fr Framer
			if resync {
				fr.Resync()
			}
			var p Pairer
			var out []ADU
			var err error
			ts := time.Unix(0, 0)
			for i, c := range chunks {
				err = fr.Feed(c, func(a ADU) {
					if len(a.PDU) == 0 || len(a.PDU) > MaxPDULen || int(a.Length) != 1+len(a.PDU) || a.ProtocolID != 0 {
						t.Fatalf("bad ADU %+v", a)
					}
					if i%2 == 0 {
						p.Request(a, ts, func(tx *Transaction) { tx.AppendJSON(nil) })
					} else {
						p.Response(a, ts, func(tx *Transaction) { tx.AppendJSON(nil) })
					}
					a.PDU = bytes.Clone(a.PDU)
					out = append(out, a)
				})
				if err != nil {
					break
				}
			}
			p.Flush(func(tx *Transaction) { tx.AppendJSON(nil) })
			if err != nil && !errors.Is(err, ErrNotModbus) {
				t.Fatalf("error %v does not wrap ErrNotModbus", err)
			}
			return summary(out), err
		}
		whole, werr := run(stream)
		k := int(cut) % (len(stream) + 1)
		split, serr := run(stream[:k], stream[k:])
		if whole != split || (werr == nil) != (serr == nil) {
			t.Fatalf("cut at %d: %q (%v) vs whole %q (%v)", k, split, serr, whole, werr)
		}
	})
}

func stripBar(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '|' && s[i] != ' ' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

func jsonValid(b []byte) bool { return json.Valid(b) }
