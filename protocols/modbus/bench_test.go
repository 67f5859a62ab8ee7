package modbus

import (
	"testing"
	"time"
)

// benchStreams builds the two directions of a typical polling connection:
// FC 3 reads of 10 registers, FC 1 reads of 16 coils, FC 16 writes of 2
// registers, each answered; several ADUs per Feed call as a busy master
// pipelines them.
func benchStreams(n int) (req, resp []byte, adus int) {
	for i := 0; i < n; i++ {
		tid := uint16(i)
		var q Request
		var s Response
		switch i % 3 {
		case 0:
			q = Request{Function: FuncReadHoldingRegisters, Address: 100, Quantity: 10}
			s = Response{Function: FuncReadHoldingRegisters, Values: RegisterValues(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)}
		case 1:
			q = Request{Function: FuncReadCoils, Address: 0, Quantity: 16}
			s = Response{Function: FuncReadCoils, Values: BitValues(true, false, true, false, true, false, true, false, true, true, true, true, false, false, false, false)}
		case 2:
			q = Request{Function: FuncWriteMultipleRegisters, Address: 200, Values: RegisterValues(17, 42)}
			s = Response{Function: FuncWriteMultipleRegisters, Address: 200, Quantity: 2}
		}
		pq, _ := q.AppendPDU(nil)
		ps, _ := s.AppendPDU(nil)
		req, _ = (&ADU{TransactionID: tid, UnitID: 1, PDU: pq}).Append(req)
		resp, _ = (&ADU{TransactionID: tid, UnitID: 1, PDU: ps}).Append(resp)
	}
	return req, resp, 2 * n
}

func reportPerADU(b *testing.B, adus int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*adus), "ns/adu")
}

// BenchmarkFramer: framing only, the stream fed in 1,460-byte segments.
func BenchmarkFramer(b *testing.B) {
	req, _, _ := benchStreams(300)
	segs := splitEvery(req, 1460)
	var f Framer
	frames := 0
	emit := func(ADU) { frames++ }
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		f.Reset()
		for _, s := range segs {
			if err := f.Feed(s, emit); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPerADU(b, 300)
}

// BenchmarkDecode: DecodeRequest and DecodeResponse of the byte vectors.
func BenchmarkDecode(b *testing.B) {
	type pdu struct {
		resp bool
		b    []byte
	}
	var pdus []pdu
	for _, v := range pduVectors {
		pdus = append(pdus, pdu{v.response, mustHex(stripBar(v.adu))[HeaderLen:]})
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range pdus {
			if p.resp {
				_, _ = DecodeResponse(FunctionCode(p.b[0]), p.b[1:])
			} else {
				_, _ = DecodeRequest(FunctionCode(p.b[0]), p.b[1:])
			}
		}
	}
	reportPerADU(b, len(pdus))
}

// BenchmarkPipeline: the whole per-connection path the agent runs: framer
// on both directions, pairing, and the event JSON of every transaction. The
// master pipelines four requests per segment; the server answers them in one.
func BenchmarkPipeline(b *testing.B) { benchPipeline(b, true) }

// BenchmarkPairing: BenchmarkPipeline without the event JSON: framing,
// decoding and pairing only, the part every replay pays whatever it writes.
func BenchmarkPairing(b *testing.B) { benchPipeline(b, false) }

func benchPipeline(b *testing.B, writeJSON bool) {
	const n, depth = 300, 4
	req, resp, adus := benchStreams(n)
	var reqSegs, respSegs [][]byte
	for len(req) > 0 {
		k, m := aduSpan(req, depth), aduSpan(resp, depth)
		reqSegs, respSegs = append(reqSegs, req[:k]), append(respSegs, resp[:m])
		req, resp = req[k:], resp[m:]
	}
	var fq, fs Framer
	p := NewPairer(0, 0)
	ts := time.Unix(1_700_000_000, 0)
	buf := make([]byte, 0, 4096)
	txs := 0
	emitTx := func(tx *Transaction) {
		txs++
		if writeJSON {
			buf = tx.AppendJSON(buf[:0])
		}
	}
	onReq := func(a ADU) { p.Request(a, ts, emitTx) }
	onResp := func(a ADU) { p.Response(a, ts, emitTx) }
	b.ReportAllocs()
	for b.Loop() {
		fq.Reset()
		fs.Reset()
		for i := range reqSegs {
			if err := fq.Feed(reqSegs[i], onReq); err != nil {
				b.Fatal(err)
			}
			if err := fs.Feed(respSegs[i], onResp); err != nil {
				b.Fatal(err)
			}
		}
	}
	if st := p.Stats(); st.Evicted+st.Unsolicited+st.TimedOut != 0 || txs == 0 {
		b.Fatalf("unpaired: %+v", st)
	}
	reportPerADU(b, adus)
}

// aduSpan returns the length of the first k ADUs of a well-formed stream.
func aduSpan(b []byte, k int) int {
	n := 0
	for ; k > 0 && n < len(b); k-- {
		n += 6 + int(be16(b[n+4:]))
	}
	return n
}

// BenchmarkAppendJSON: the event object of the FC 16 example.
func BenchmarkAppendJSON(b *testing.B) {
	req, _ := DecodeRequest(FuncWriteMultipleRegisters, mustHex("0064 0002 04 0011 002a"))
	resp, _ := DecodeResponse(FuncWriteMultipleRegisters, mustHex("0064 0002"))
	tx := Transaction{TransactionID: 5, UnitID: 1, FunctionCode: FuncWriteMultipleRegisters,
		HasRequest: true, Request: req, HasResponse: true, Response: resp, Latency: 830 * time.Microsecond}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = tx.AppendJSON(buf[:0])
	}
}

// BenchmarkAppendJSONPoll: the event objects of a polling master's paired
// transactions (benchStreams: FC 3 of 10 registers, FC 1 of 16 coils, FC 16
// of 2 registers), the bulk of a plant's events.
func BenchmarkAppendJSONPoll(b *testing.B) {
	req, resp, _ := benchStreams(3)
	var txs []Transaction
	for len(req) > 0 {
		q, n, _ := ParseADU(req)
		s, m, _ := ParseADU(resp)
		req, resp = req[n:], resp[m:]
		t := Transaction{TransactionID: q.TransactionID, UnitID: q.UnitID, FunctionCode: q.Function(),
			HasRequest: true, HasResponse: true, Latency: 830 * time.Microsecond}
		t.Request, t.RequestErr = DecodeRequest(q.Function(), q.PDU[1:])
		t.Response, t.ResponseErr = DecodeResponse(s.Function(), s.PDU[1:])
		txs = append(txs, t)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		for i := range txs {
			buf = txs[i].AppendJSON(buf[:0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(txs)), "ns/tx")
}
