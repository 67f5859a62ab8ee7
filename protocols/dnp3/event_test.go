package dnp3

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestTransactionJSON renders whole transactions: a request and response
// pair, a lone unsolicited response with internal indications, an
// unanswered request, a malformed fragment, a response whose points exceed
// MaxPoints.
func TestTransactionJSON(t *testing.T) {
	ts := time.Unix(1_422_556_220, 867_932_000)
	linkReq := LinkHeader{Length: 26, Control: 0xc4, Dest: 10, Source: 1}
	linkResp := LinkHeader{Length: 28, Control: 0x44, Dest: 1, Source: 10}
	half := func(link LinkHeader, frag string, at time.Time) Half {
		h := Half{Link: link, Segments: 1, Time: at}
		h.Message.Parse(mustHex(frag))
		return h
	}
	// iti_select_operate_and_responses.pcap frames 4 and 6.
	selectReq := "c0 03 | 0c 01 28 01 00 | 00 00 03 01 64 00 00 00 64 00 00 00 00"
	selectResp := "c0 81 00 00 | 0c 01 28 01 00 | 00 00 03 01 64 00 00 00 64 00 00 00 00"
	crob := `{"group":12,"variation":1,"name":"crob","qualifier":40,"prefix_code":2,"range_code":8,"count":1,"points":[` +
		`{"index":0,"op_type":3,"operation":"latch_on","tcc":0,"trip_close":"nul","cr":0,"qu":0,"count":1,"ontime":100,"offtime":100,"status_code":0,"status":"success"}]}`
	reqJSON := `"request":{"type":"request","src":1,"dst":10,"control":{"dir":true,"pri":true,"fcb":false,"fcv":false,"function_code":4,"function":"unconfirmed_user_data"},` +
		`"application":{"control":{"fir":true,"fin":true,"con":false,"uns":false,"sequence":0},"function_code":3,"function":"select","objects":[` + crob + `],"complete":true}}`

	many := "c0 81 00 00 | 01 01 01 00 00 2b 01" + strings.Repeat(" 55", 38) // 300 packed points
	for _, tc := range []struct {
		name string
		tx   Transaction
		want string
	}{
		{"paired", Transaction{HasRequest: true, Request: half(linkReq, selectReq, ts), HasResponse: true,
			Response: half(linkResp, selectResp, ts.Add(694*time.Microsecond)), Latency: 694 * time.Microsecond},
			`{` + reqJSON + `,"response":{"type":"response","src":10,"dst":1,"control":{"dir":false,"pri":true,"fcb":false,"fcv":false,"function_code":4,"function":"unconfirmed_user_data"},` +
				`"iin":{"indicators":[]},"application":{"control":{"fir":true,"fin":true,"con":false,"uns":false,"sequence":0},"function_code":129,"function":"response","objects":[` + crob + `],"complete":true}},"latency_us":694}`},
		{"unanswered", Transaction{HasRequest: true, Request: half(linkReq, selectReq, ts), Timeout: true},
			`{` + reqJSON + `,"timeout":true}`},
		{"unsolicited with IIN (iti_full_exchange.pcap frame 4)", Transaction{HasResponse: true, Response: half(linkResp, "f0 82 80 00", ts)},
			`{"response":{"type":"unsolicited_response","src":10,"dst":1,"control":{"dir":false,"pri":true,"fcb":false,"fcv":false,"function_code":4,"function":"unconfirmed_user_data"},` +
				`"iin":{"indicators":["device_restart"]},"application":{"control":{"fir":true,"fin":true,"con":true,"uns":true,"sequence":0},"function_code":130,"function":"unsolicited_response","objects":[],"complete":true}}}`},
		{"malformed", Transaction{HasRequest: true, Request: half(linkReq, "c1 15 3c 02 06 3c 04 ed", ts)},
			`{"request":{"type":"request","src":1,"dst":10,"control":{"dir":true,"pri":true,"fcb":false,"fcv":false,"function_code":4,"function":"unconfirmed_user_data"},` +
				`"application":{"control":{"fir":true,"fin":true,"con":false,"uns":false,"sequence":1},"function_code":21,"function":"disable_unsolicited","objects":[` +
				`{"group":60,"variation":2,"name":"class_1_data","qualifier":6,"prefix_code":0,"range_code":6,"count":0},` +
				`{"group":60,"variation":4,"name":"class_3_data","qualifier":237,"prefix_code":6,"range_code":13,"count":0}],` +
				`"complete":false,"error":"dnp3: malformed fragment: object 1 (group 60 variation 4 qualifier 0xed): reserved qualifier at octet 7"}}}`},
	} {
		if got := string(tc.tx.AppendJSON(nil)); got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.name, got, tc.want)
		}
	}

	tx := Transaction{HasResponse: true, Response: half(linkResp, many, ts)}
	var ev struct {
		Response struct {
			Application struct {
				Objects []struct {
					Count   int              `json:"count"`
					Points  []map[string]any `json:"points"`
					Omitted int              `json:"points_omitted"`
				} `json:"objects"`
			} `json:"application"`
		} `json:"response"`
	}
	if err := json.Unmarshal(tx.AppendJSON(nil), &ev); err != nil {
		t.Fatal(err)
	}
	o := ev.Response.Application.Objects[0]
	if o.Count != 300 || len(o.Points) != MaxPoints || o.Omitted != 300-MaxPoints {
		t.Errorf("300 points: count %d, written %d, omitted %d", o.Count, len(o.Points), o.Omitted)
	}
}

// TestCaptureEventsJSON: every transaction of every shared capture renders
// as valid JSON.
func TestCaptureEventsJSON(t *testing.T) {
	n := 0
	for _, f := range captureFiles(t) {
		_, evs := captureEvents(t, f)
		for _, e := range evs {
			if !json.Valid([]byte(e)) {
				t.Fatalf("%s: invalid JSON %s", baseName(f), e)
			}
			n++
		}
	}
	if n < 100 {
		t.Errorf("only %d transactions in the captures", n)
	}
}
