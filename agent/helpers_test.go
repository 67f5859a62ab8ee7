package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// pcapsDir returns the shared real captures folder or skips the test.
func pcapsDir(t testing.TB) string {
	t.Helper()
	return testpcaps.Dir(t)
}

// replayFile runs a new agent with cfg (Output replaced) over the capture at
// path and returns everything it wrote.
func replayFile(t testing.TB, path string, mutate func(*Config)) []byte {
	t.Helper()
	var out bytes.Buffer
	cfg := DefaultConfig(&out)
	if mutate != nil {
		mutate(&cfg)
	}
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := Run(context.Background(), cfg, f); err != nil {
		t.Fatalf("replay %s: %v", path, err)
	}
	return out.Bytes()
}

// event is the part of an EVE event the tests look at.
type event struct {
	Timestamp string  `json:"timestamp"`
	FlowID    *uint64 `json:"flow_id"`
	EventType string  `json:"event_type"`
	SrcIP     string  `json:"src_ip"`
	SrcPort   int     `json:"src_port"`
	DestIP    string  `json:"dest_ip"`
	DestPort  int     `json:"dest_port"`
	Proto     string  `json:"proto"`
	// CommunityID is the connection's Community ID (v1).
	CommunityID string `json:"community_id"`
	// AppProto names the service of a conversation (flow events,
	// conversation alerts).
	AppProto string `json:"app_proto"`
	Flow     *struct {
		PktsToServer  uint64 `json:"pkts_toserver"`
		PktsToClient  uint64 `json:"pkts_toclient"`
		BytesToServer uint64 `json:"bytes_toserver"`
		BytesToClient uint64 `json:"bytes_toclient"`
		Start         string `json:"start"`
		End           string `json:"end"`
		State         string `json:"state"`
		Reason        string `json:"reason"`
	} `json:"flow"`
	Modbus *modbusEvent    `json:"modbus"`
	OPCUA  json.RawMessage `json:"opcua"`
	DNP3   json.RawMessage `json:"dnp3"`
	Alert  *struct {
		Rule        string   `json:"rule"`
		Rules       []string `json:"rules"`
		SignatureID int      `json:"signature_id"`
		Count       int      `json:"count"`
		Update      bool     `json:"update"`
		Pcap        string   `json:"pcap"`
	} `json:"alert"`
	Anomaly *struct {
		Event  string `json:"event"`
		Detail string `json:"detail"`
	} `json:"anomaly"`
	Stats *struct {
		Packets         uint64 `json:"packets"`
		Flows           uint64 `json:"flows"`
		RecoveredPanics uint64 `json:"recovered_panics"`
		Modbus          struct {
			Transactions uint64 `json:"transactions"`
			NonProtocol  uint64 `json:"non_protocol_flows"`
		} `json:"modbus"`
		AlertPcap AlertPcapStats `json:"alert_pcap"`
	} `json:"stats"`
}

type modbusEvent struct {
	TransactionID int             `json:"transaction_id"`
	UnitID        int             `json:"unit_id"`
	FunctionCode  int             `json:"function_code"`
	Request       json.RawMessage `json:"request"`
	Response      json.RawMessage `json:"response"`
	ExceptionCode *int            `json:"exception_code"`
	Timeout       bool            `json:"timeout"`
}

// parseEvents decodes NDJSON output, failing the test on any line that is
// not one JSON object.
func parseEvents(t testing.TB, out []byte) []event {
	t.Helper()
	var evs []event
	for i, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("line %d is not a JSON event: %v\n%s", i+1, err, line)
		}
		evs = append(evs, e)
	}
	return evs
}
