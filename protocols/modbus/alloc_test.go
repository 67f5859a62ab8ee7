package modbus

import (
	"testing"
	"time"
)

// TestZeroAllocs holds the decode path to its promise: framing, decoding,
// pairing and writing the event allocate nothing once buffers are warm
// (issue 2, §8), for well-formed and malformed traffic alike.
func TestZeroAllocs(t *testing.T) {
	req, resp, _ := benchStreams(30)
	var fq, fs Framer
	p := NewPairer(0, 0)
	ts := time.Unix(1_700_000_000, 0)
	buf := make([]byte, 0, 4096)
	emitTx := func(tx *Transaction) { buf = tx.AppendJSON(buf[:0]) }
	onReq := func(a ADU) { p.Request(a, ts, emitTx) }
	onResp := func(a ADU) { p.Response(a, ts, emitTx) }
	run := func() {
		fq.Reset()
		fs.Reset()
		for i := 0; i < len(req); i += 100 {
			_ = fq.Feed(req[i:min(i+100, len(req))], onReq)
		}
		for i := 0; i < len(resp); i += 100 {
			_ = fs.Feed(resp[i:min(i+100, len(resp))], onResp)
		}
		p.Flush(emitTx)
	}
	run() // warm the pairer's free list and buf
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Errorf("pipeline: %.1f allocations per run, want 0", n)
	}
	if p.Stats().Paired == 0 {
		t.Fatal("nothing paired")
	}

	var pdus [][]byte
	for _, v := range pduVectors {
		pdus = append(pdus, mustHex(stripBar(v.adu))[HeaderLen:])
	}
	if n := testing.AllocsPerRun(20, func() {
		for _, b := range pdus {
			_, _ = DecodeRequest(FunctionCode(b[0]), b[1:])
			_, _ = DecodeResponse(FunctionCode(b[0]), b[1:])
		}
	}); n != 0 {
		t.Errorf("decode: %.1f allocations per run, want 0", n)
	}
	// Resynchronising over junk does not allocate either.
	junk := append(make([]byte, 500), req...)
	var f Framer
	if n := testing.AllocsPerRun(20, func() {
		f.Resync()
		_ = f.Feed(junk, func(ADU) {})
	}); n != 0 {
		t.Errorf("resync: %.1f allocations per run, want 0", n)
	}
}
