package modbus

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 21, 22, 33, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func adu(t *testing.T, tid uint16, unit uint8, pdu string) ADU {
	t.Helper()
	p := mustHex(pdu)
	return ADU{TransactionID: tid, UnitID: unit, Length: uint16(1 + len(p)), PDU: p}
}

// record keeps the JSON of every emitted transaction (a Transaction is only
// valid during the callback).
type record struct{ events []string }

func (r *record) emit(tx *Transaction) { r.events = append(r.events, string(tx.AppendJSON(nil))) }

func TestPairer(t *testing.T) {
	type step struct {
		req  bool
		tid  uint16
		unit uint8
		pdu  string
		ms   int
	}
	tests := []struct {
		name   string
		max    int
		steps  []step
		expire int // ms; 0: none
		flush  bool
		want   []string
		stats  PairStats
	}{
		{
			name: "issue example",
			steps: []step{
				{true, 5, 1, "10 0064 0002 04 0011 002a", 0},
				{false, 5, 1, "10 0064 0002", 0},
			},
			want:  []string{`{"transaction_id":5,"unit_id":1,"function_code":16,"function":"write_multiple_registers","request":{"address":100,"quantity":2,"values":[17,42]},"response":{"address":100,"quantity":2},"latency_us":0}`},
			stats: PairStats{Paired: 1},
		},
		{
			name: "out of order by transaction id",
			steps: []step{
				{true, 1, 1, "03 0000 0001", 0},
				{true, 2, 1, "03 0010 0001", 1},
				{false, 2, 1, "03 02 0007", 3},
				{false, 1, 1, "03 02 0009", 4},
			},
			want: []string{
				`{"transaction_id":2,"unit_id":1,"function_code":3,"function":"read_holding_registers","request":{"address":16,"quantity":1},"response":{"values":[7]},"latency_us":2000}`,
				`{"transaction_id":1,"unit_id":1,"function_code":3,"function":"read_holding_registers","request":{"address":0,"quantity":1},"response":{"values":[9]},"latency_us":4000}`,
			},
			stats: PairStats{Paired: 2},
		},
		{
			name: "same transaction id, different units",
			steps: []step{
				{true, 7, 1, "01 0000 0003", 0},
				{true, 7, 2, "01 0000 0003", 0},
				{false, 7, 2, "01 01 05", 1},
				{false, 7, 1, "01 01 02", 2},
			},
			want: []string{
				`{"transaction_id":7,"unit_id":2,"function_code":1,"function":"read_coils","request":{"address":0,"quantity":3},"response":{"values":[1,0,1]},"latency_us":1000}`,
				`{"transaction_id":7,"unit_id":1,"function_code":1,"function":"read_coils","request":{"address":0,"quantity":3},"response":{"values":[0,1,0]},"latency_us":2000}`,
			},
			stats: PairStats{Paired: 2},
		},
		{
			name: "exception",
			steps: []step{
				{true, 1, 0, "03 0258 000a", 0},
				{false, 1, 0, "83 02", 1},
			},
			want:  []string{`{"transaction_id":1,"unit_id":0,"function_code":3,"function":"read_holding_registers","request":{"address":600,"quantity":10},"response":{},"exception_code":2,"exception":"illegal_data_address","latency_us":1000}`},
			stats: PairStats{Paired: 1},
		},
		{
			name:  "unsolicited response",
			steps: []step{{false, 9, 3, "06 0001 0003", 0}},
			want:  []string{`{"transaction_id":9,"unit_id":3,"function_code":6,"function":"write_single_register","response":{"address":1,"values":[3]}}`},
			stats: PairStats{Unsolicited: 1},
		},
		{
			name:  "unsolicited exception",
			steps: []step{{false, 9, 3, "86 04", 0}},
			want:  []string{`{"transaction_id":9,"unit_id":3,"function_code":6,"function":"write_single_register","response":{},"exception_code":4,"exception":"server_device_failure"}`},
			stats: PairStats{Unsolicited: 1},
		},
		{
			name: "timeout on packet time",
			steps: []step{
				{true, 1, 1, "04 0000 0002", 0},
				{true, 2, 1, "04 0000 0002", 9000},
			},
			expire: 10001,
			want:   []string{`{"transaction_id":1,"unit_id":1,"function_code":4,"function":"read_input_registers","request":{"address":0,"quantity":2},"timeout":true}`},
			stats:  PairStats{Pending: 1, TimedOut: 1},
		},
		{
			name: "cap evicts the oldest",
			max:  2,
			steps: []step{
				{true, 1, 1, "07", 0},
				{true, 2, 1, "07", 1},
				{true, 3, 1, "07", 2},
				{false, 3, 1, "07 01", 3},
			},
			want: []string{
				`{"transaction_id":1,"unit_id":1,"function_code":7,"function":"read_exception_status","request":{},"timeout":true}`,
				`{"transaction_id":3,"unit_id":1,"function_code":7,"function":"read_exception_status","request":{},"response":{"status":1},"latency_us":1000}`,
			},
			stats: PairStats{Pending: 1, Evicted: 1, Paired: 1},
		},
		{
			name: "repeated ids replace",
			steps: []step{
				{true, 1, 1, "05 0001 ff00", 0},
				{true, 1, 1, "05 0001 0000", 5},
				{false, 1, 1, "05 0001 0000", 6},
			},
			want: []string{
				`{"transaction_id":1,"unit_id":1,"function_code":5,"function":"write_single_coil","request":{"address":1,"values":[1]},"timeout":true}`,
				`{"transaction_id":1,"unit_id":1,"function_code":5,"function":"write_single_coil","request":{"address":1,"values":[0]},"response":{"address":1,"values":[0]},"latency_us":1000}`,
			},
			stats: PairStats{Replaced: 1, Paired: 1},
		},
		{
			name:  "flush at close",
			steps: []step{{true, 4, 1, "2b 0e 01 00", 0}},
			flush: true,
			want:  []string{`{"transaction_id":4,"unit_id":1,"function_code":43,"function":"encapsulated_interface_transport","request":{"mei_type":14,"mei":"read_device_identification","read_device_id_code":1,"object_id":0},"timeout":true}`},
			stats: PairStats{TimedOut: 1},
		},
		{
			name: "function mismatch is shown",
			steps: []step{
				{true, 1, 1, "03 0000 0001", 0},
				{false, 1, 1, "04 02 0001", 1},
			},
			want:  []string{`{"transaction_id":1,"unit_id":1,"function_code":3,"function":"read_holding_registers","request":{"address":0,"quantity":1},"response":{"function_code":4,"values":[1]},"latency_us":1000}`},
			stats: PairStats{Paired: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPairer(tc.max, 0)
			var r record
			for _, s := range tc.steps {
				a := adu(t, s.tid, s.unit, s.pdu)
				if s.req {
					p.Request(a, at(s.ms), r.emit)
				} else {
					p.Response(a, at(s.ms), r.emit)
				}
				// The pairer must have copied the request.
				for i := range a.PDU {
					a.PDU[i] = 0xEE
				}
			}
			if tc.expire > 0 {
				p.Expire(at(tc.expire), r.emit)
			}
			if tc.flush {
				p.Flush(r.emit)
			}
			if got, want := strings.Join(r.events, "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("events\n got %s\nwant %s", got, want)
			}
			for _, e := range r.events {
				if !json.Valid([]byte(e)) {
					t.Errorf("invalid JSON %s", e)
				}
			}
			if got := p.Stats(); got != tc.stats {
				t.Errorf("stats = %+v, want %+v", got, tc.stats)
			}
		})
	}
}

func TestPairerTransactionFields(t *testing.T) {
	var p Pairer
	var got Transaction
	p.Request(adu(t, 3, 1, "03 0001 0002"), at(0), func(*Transaction) { t.Fatal("emitted on request") })
	p.Response(adu(t, 3, 1, "83 06"), at(12), func(tx *Transaction) { got = *tx })
	ex, ok := got.Exception()
	if !got.HasRequest || !got.HasResponse || got.Timeout || got.Latency != 12*time.Millisecond ||
		!ok || ex != ExServerDeviceBusy || !got.Time().Equal(at(0)) || !got.ResponseTime.Equal(at(12)) ||
		got.FunctionCode != FuncReadHoldingRegisters || got.Request.Quantity != 2 {
		t.Errorf("transaction = %+v", got)
	}
}

// TestPairerSetsEveryField: Response fills the reused Transaction field by
// field instead of zeroing it first, so nothing of an earlier transaction
// (a timed-out request, a paired one) may show through. Two Pairers get the
// same random traffic; before every call one has its Transaction filled
// with junk. Both must emit identical transactions.
func TestPairerSetsEveryField(t *testing.T) {
	var pdus [][]byte
	for _, v := range pduVectors {
		pdus = append(pdus, mustHex(stripBar(v.adu))[HeaderLen:])
	}
	junkReq, _ := DecodeRequest(FuncWriteMultipleRegisters, mustHex("0064 0002 04 0011 002a"))
	junkResp, _ := DecodeResponse(FuncReadInputRegisters, mustHex("04 0001 0002"))
	junk := Transaction{TransactionID: 0xBEEF, UnitID: 0xEE, FunctionCode: FuncDiagnostics,
		HasRequest: true, Request: junkReq, RequestErr: errShort, RequestTime: at(-5),
		HasResponse: true, Response: junkResp, ResponseErr: errLength, ResponseTime: at(-3),
		Timeout: true, Latency: 12345}
	rng := rand.New(rand.NewPCG(7, 8))
	clean, dirty := NewPairer(4, time.Second), NewPairer(4, time.Second)
	// A Transaction aliases the Pairer's buffers: print it at once.
	var got, want []string
	keep := func(dst *[]string) func(*Transaction) {
		return func(tx *Transaction) { *dst = append(*dst, fmt.Sprintf("%+v", *tx)) }
	}
	for i := 0; i < 20000; i++ {
		a := ADU{TransactionID: uint16(rng.IntN(6)), UnitID: uint8(rng.IntN(2)), PDU: pdus[rng.IntN(len(pdus))]}
		ts := at(i * 100)
		dirty.tx = junk
		switch rng.IntN(5) {
		case 0, 1:
			clean.Request(a, ts, keep(&want))
			dirty.Request(a, ts, keep(&got))
		case 2, 3:
			clean.Response(a, ts, keep(&want))
			dirty.Response(a, ts, keep(&got))
		default:
			clean.Expire(ts, keep(&want))
			dirty.Expire(ts, keep(&got))
		}
	}
	if len(want) < 1000 || len(got) != len(want) {
		t.Fatalf("%d transactions, %d with a clean Pairer", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("transaction %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if st := clean.Stats(); st.Paired == 0 || st.Unsolicited == 0 || st.TimedOut == 0 || st.Replaced == 0 {
		t.Fatalf("traffic did not cover every path: %+v", st)
	}
}

// TestSince checks since against time.Time.Sub, including times too far
// apart for the fast path and both signs.
func TestSince(t *testing.T) {
	far := time.Date(2300, 1, 1, 0, 0, 0, 1, time.UTC)
	times := []time.Time{t0, at(1), at(-1), at(830), t0.Add(999999999), t0.Add(-999999999),
		time.Unix(0, 0), time.Unix(1<<32-1, 5), time.Unix(1<<32, 0), time.Unix(-1<<32, 7), far, {}}
	for _, a := range times {
		for _, b := range times {
			if got, want := since(a, b), b.Sub(a); got != want {
				t.Errorf("since(%v, %v) = %d, Sub = %d", a, b, got, want)
			}
		}
	}
}

// TestPairerCaptureLoss: requests whose responses the capture lost are
// emitted with capture_loss, not timeout, and counted as Lost.
func TestPairerCaptureLoss(t *testing.T) {
	read := "03 0000 0001"
	t.Run("server bytes lost", func(t *testing.T) {
		var r record
		p := NewPairer(0, time.Second)
		p.Request(adu(t, 1, 1, read), at(0), r.emit)
		p.Request(adu(t, 2, 1, read), at(1), r.emit)
		p.Lost() // 1 and 2 were waiting
		p.Request(adu(t, 3, 1, read), at(2), r.emit)
		p.Request(adu(t, 4, 1, read), at(3), r.emit)
		// The server's framer finds its feet at the response to 4: 3's
		// response was in the skipped bytes too. 1, 2, 3 are emitted at
		// once, in order, before 4's transaction.
		p.Response(adu(t, 4, 1, "03 02 0007"), at(4), r.emit)
		p.Request(adu(t, 5, 1, read), at(5), r.emit)
		p.Flush(r.emit) // 5: a plain timeout
		if len(r.events) != 5 {
			t.Fatalf("%d events: %v", len(r.events), r.events)
		}
		for i, e := range r.events[:3] {
			if !strings.Contains(e, `"capture_loss":true`) || strings.Contains(e, `"timeout"`) || !strings.Contains(e, fmt.Sprintf(`"transaction_id":%d,`, i+1)) {
				t.Errorf("event %d: %s", i, e)
			}
		}
		if !strings.Contains(r.events[3], `"response"`) || !strings.Contains(r.events[4], `"timeout":true`) {
			t.Errorf("events 4, 5: %s\n%s", r.events[3], r.events[4])
		}
		if s := p.Stats(); s.Lost != 3 || s.TimedOut != 1 || s.Paired != 1 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("client bytes lost", func(t *testing.T) {
		// The reassembler held request 8 behind the hole: its response
		// came first, alone.
		var r record
		p := NewPairer(0, time.Second)
		p.Response(adu(t, 7, 1, "03 02 0001"), at(0), r.emit) // its request lost
		p.Response(adu(t, 8, 1, "03 02 0002"), at(1), r.emit)
		p.ClientLost()
		p.Request(adu(t, 8, 1, read), at(2), r.emit)
		p.Request(adu(t, 9, 1, read), at(3), r.emit)
		p.Response(adu(t, 9, 1, "03 02 0003"), at(4), r.emit)
		p.Flush(r.emit)
		last := r.events[len(r.events)-1]
		if !strings.Contains(last, `"transaction_id":8,`) || !strings.Contains(last, `"capture_loss":true`) {
			t.Errorf("request 8: %s", last)
		}
		if s := p.Stats(); s.Lost != 1 || s.TimedOut != 0 || s.Unsolicited != 2 || s.Paired != 1 {
			t.Errorf("stats %+v", s)
		}
		// Without a loss, a late request is a timeout as before.
		var r2 record
		q := NewPairer(0, time.Second)
		q.Response(adu(t, 8, 1, "03 02 0002"), at(1), r2.emit)
		q.Request(adu(t, 8, 1, read), at(2), r2.emit)
		q.Flush(r2.emit)
		if s := q.Stats(); s.Lost != 0 || s.TimedOut != 1 {
			t.Errorf("no loss: stats %+v", s)
		}
	})
}
