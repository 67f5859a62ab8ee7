package agent

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestCleartextCredentialsCapture: ICSNPP's open62541 capture logs in as
// user1 with the password "password" over SecurityPolicy None. Sluice
// raises one cleartext_credentials alert naming the user and the length,
// marks the session, and never writes the password (issue #16 §4).
func TestCleartextCredentialsCapture(t *testing.T) {
	out := replayFile(t, filepath.Join(pcapsDir(t), "opcua", "icsnpp_opcua_with-gap_with-handshake.pcap"), nil)
	alerts := 0
	for _, e := range parseEvents(t, out) {
		if e.Alert != nil && e.Alert.Rule == "cleartext_credentials" {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("%d cleartext_credentials alerts, want 1", alerts)
	}
	if !strings.Contains(string(out), `"user":"user1","password_cleartext":true,"password_length":8`) {
		t.Error("no session marked password_cleartext with its length")
	}
	if !strings.Contains(string(out), `sends the password of user \"user1\" (8 bytes) in clear`) {
		t.Error("no signature naming the user and the length")
	}
	// No string value anywhere is the password.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if strings.Contains(v, "password") && v != "password_cleartext" && !strings.Contains(v, "sends the password of user") {
				t.Errorf("a value holds the password: %q", v)
			}
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		walk(m)
	}
}

// TestProtocolFuzzingCapture: ITI's capture of a Modbus function fuzzer
// (unknown function codes 29…71 answered with exception 01) raises
// protocol_fuzzing; the plant captures and the simulator's normal traffic
// do not (TestDetection's normal row, TestGolden).
func TestProtocolFuzzingCapture(t *testing.T) {
	out := replayFile(t, filepath.Join(pcapsDir(t), "modbus", "iti_modbus_test_data_part2.pcap"), nil)
	n := 0
	for _, e := range parseEvents(t, out) {
		if e.Alert != nil && e.Alert.Rule == "protocol_fuzzing" && !e.Alert.Update {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d protocol_fuzzing alerts, want 1", n)
	}
}
