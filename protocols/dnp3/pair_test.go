package dnp3

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// frag is a fragment from src to dst: application control, function and
// the rest.
func frag(src, dst uint16, ctl, fc byte, rest ...byte) *Fragment {
	dir := LinkControl(0x44)
	if !FunctionCode(fc).IsResponse() {
		dir |= 0x80
	}
	return &Fragment{Link: LinkHeader{Control: dir, Source: src, Dest: dst}, Data: append([]byte{ctl, fc}, rest...), Segments: 1}
}

// pairAll feeds fragments one second apart and describes the transactions:
// "request_fn>response_fn seq latency timeout".
func pairAll(p *Pairer, frags ...*Fragment) []string {
	var out []string
	ts := time.Unix(1_700_000_000, 0)
	emit := func(t *Transaction) {
		s := "-"
		if t.HasRequest {
			s = fmt.Sprintf("%s/%d", t.Request.Message.Function, t.Request.Message.Control.Seq())
		}
		s += ">"
		if t.HasResponse {
			s += fmt.Sprintf("%s/%d", t.Response.Message.Function, t.Response.Message.Control.Seq())
		} else {
			s += "-"
		}
		if t.Latency > 0 {
			s += " " + t.Latency.String()
		}
		if t.Timeout {
			s += " timeout"
		}
		out = append(out, s)
	}
	for _, f := range frags {
		p.Fragment(f, ts, emit)
		ts = ts.Add(time.Second)
	}
	p.Flush(emit)
	return out
}

func TestPairer(t *testing.T) {
	resp := func(seq byte) *Fragment { return frag(10, 1, 0xc0|seq, 0x81, 0, 0) }
	for _, tc := range []struct {
		name  string
		frags []*Fragment
		want  string
	}{
		{"request and response", []*Fragment{frag(1, 10, 0xc3, 1), resp(3)}, "read/3>response/3 1s"},
		{"out of order by sequence, two outstations", []*Fragment{frag(1, 10, 0xc3, 1), frag(1, 11, 0xc3, 2), frag(11, 1, 0xc3, 0x81, 0, 0), resp(3)},
			"write/3>response/3 1s|read/3>response/3 3s"},
		{"a response from another station does not pair", []*Fragment{frag(1, 10, 0xc3, 1), frag(12, 1, 0xc3, 0x81, 0, 0)},
			"->response/3|read/3>- timeout"},
		{"unsolicited response and its confirm", []*Fragment{frag(10, 1, 0xf5, 0x82, 0, 0), frag(1, 10, 0xd5, 0)},
			"->unsolicited_response/5|confirm/5>-"},
		{"no-ack codes and broadcasts are alone", []*Fragment{frag(1, 10, 0xc1, 6), frag(1, 0xffff, 0xc2, 21), frag(1, 10, 0xc3, 0x21)},
			"direct_operate_nr/1>-|disable_unsolicited/2>-|authentication_request_no_ack/3>-"},
		{"a repeated request replaces the first", []*Fragment{frag(1, 10, 0xc3, 1), frag(1, 10, 0xc3, 1), resp(3)},
			"read/3>- timeout|read/3>response/3 1s"},
		{"a response without request", []*Fragment{resp(7)}, "->response/7"},
		// Alone, by its DIR bit; its Function reads 0, but its event
		// writes no function (Message.Size is 1).
		{"too short to carry a function", []*Fragment{{Link: LinkHeader{Control: 0xc4, Source: 1, Dest: 10}, Data: []byte{0xc0}}},
			"confirm/0>-"},
	} {
		p := &Pairer{}
		if got := strings.Join(pairAll(p, tc.frags...), "|"); got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, got, tc.want)
		}
	}
}

func TestPairerLimits(t *testing.T) {
	p := &Pairer{MaxPending: 2, Timeout: 1500 * time.Millisecond}
	var out []string
	emit := func(t *Transaction) {
		out = append(out, fmt.Sprintf("%d%v", t.Request.Message.Control.Seq(), t.Timeout))
	}
	ts := time.Unix(1_700_000_000, 0)
	for seq := range byte(3) {
		p.Fragment(frag(1, 10, 0xc0|seq, 1), ts.Add(time.Duration(seq)*time.Second), emit)
	}
	if got := strings.Join(out, ","); got != "0true" || p.Stats().Evicted != 1 || p.Stats().Pending != 2 {
		t.Fatalf("evict: %s %+v", got, p.Stats())
	}
	p.Expire(ts.Add(3*time.Second), emit) // seq 1 waited 2 s, seq 2 1 s
	if got := strings.Join(out, ","); got != "0true,1true" || p.Stats().TimedOut != 1 || p.Stats().Pending != 1 {
		t.Fatalf("expire: %s %+v", got, p.Stats())
	}
	p.Flush(emit)
	if p.Stats().Pending != 0 || p.Stats().TimedOut != 2 {
		t.Fatalf("flush: %+v", p.Stats())
	}
}
