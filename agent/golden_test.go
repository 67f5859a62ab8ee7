package agent

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current output")

// goldenDir is where expected events live, relative to this package.
const goldenDir = "../testdata/golden"

// goldenShared are small real captures from ../shared/pcaps replayed end to
// end (capture → flows → decoders → baselines → EVE) against the events in
// testdata/golden. Each covers something the others do not.
var goldenShared = []string{
	"modbus/icsnpp_modbus_example.pcap",            // FC 1-8, 15-17, 20-24, 43 over many unit ids
	"modbus/zeek_modbus-and-non-modbus-p502.pcap",  // TLS, HTTP, raw bytes on 502: anomalies, then silence
	"modbus/zeek_modbus-eit.pcap",                  // FC 43/14 device identification, exception
	"modbus/zeek_4SICS-GeekLounge-151022-min.pcap", // FC 23 + exception, length mismatch
	"modbus/zeek_fuzz-72.pcap",                     // undefined function codes, IP length beyond capture
	"modbus/zeek_fuzz-1011.pcap",                   // bogus IP version
	"modbus/suricata_modbus.pcap",                  // Suricata's test set
	"modbus/iti_modbus_test_data_part1.pcap",       // FC 1,3,5,6,8,17,42,43 and exceptions
	"modbus/iti_modicon_test.pcap",                 // Schneider UMAS (FC 90): opaque data
	"opcua/icsnpp_open62541_client-server-getEndpoints.pcap",
	"opcua/icsnpp_python_opcua-client-server_minimal.pcap",
	"opcua/icsnpp_open62541_client-server_mainloop-no-handshake.pcap", // mid-session pick-up
	"opcua/icsnpp_opcua_with-gap.pcap",                                // TCP gap resets the framer
	"dnp3/iti_dnp3_test_data_part1.pcap",                              // unsolicited responses and confirms, writes, restarts, a bad link header, fuzzed fragments
	"dnp3/iti_full_exchange.pcap",                                     // a response in two transport segments: binary, double-bit, counter, analog points
	"dnp3/iti_select_operate_and_responses.pcap",                      // CROB select, then operate
}

// goldenName maps a capture path to its golden file.
func goldenName(path string) string {
	base := filepath.Base(path)
	base = strings.TrimSuffix(base, filepath.Ext(base))
	return filepath.Join(goldenDir, base+".json")
}

// TestGolden replays each capture and compares the events byte for byte
// with testdata/golden; `go test ./agent -run TestGolden -update` rewrites
// them after a deliberate change (review the diff).
func TestGolden(t *testing.T) {
	t.Run("shared", func(t *testing.T) {
		dir := pcapsDir(t)
		for _, rel := range goldenShared {
			path := filepath.Join(dir, rel)
			t.Run(filepath.Base(rel), func(t *testing.T) { checkGolden(t, path, nil) })
		}
	})
	t.Run("simulator", func(t *testing.T) {
		sims, _ := filepath.Glob("../testdata/sim_*.pcap")
		if len(sims) == 0 {
			t.Skip("no simulator captures in testdata/ (make testdata generates them)")
		}
		// The simulator's attacks start 72 s in: learn the first minute,
		// so the golden events include the alerts.
		learn := func(c *Config) { c.LearnFor = time.Minute }
		for _, path := range sims {
			t.Run(filepath.Base(path), func(t *testing.T) { checkGolden(t, path, learn) })
		}
	})
}

func checkGolden(t *testing.T, path string, mutate func(*Config)) {
	if _, err := os.Stat(path); err != nil {
		t.Skipf("capture absent: %v", err)
	}
	got := replayFile(t, path, mutate)
	evs := parseEvents(t, got) // every line must be JSON, whatever the golden says
	if len(evs) == 0 || evs[len(evs)-1].EventType != EventStats {
		t.Fatalf("output does not end with a stats event")
	}
	golden := goldenName(path)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./agent -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("events differ from %s:\n%s\n(if the change is deliberate: go test ./agent -run 'TestGolden|TestEventsDoc' -update, which also refreshes the examples in docs/events.md and README.md)", golden, firstDiff(got, want))
	}
}

// firstDiff describes the first differing line of two NDJSON outputs.
func firstDiff(got, want []byte) string {
	g := strings.Split(string(got), "\n")
	w := strings.Split(string(want), "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, gl, wl)
		}
	}
	return "(same lines, different bytes)"
}

// TestReplayDeterministic replays the same capture twice, with new agents:
// the outputs must be byte-identical (time comes from packets only; no map
// iteration order or wall clock leaks into events).
func TestReplayDeterministic(t *testing.T) {
	dir := pcapsDir(t)
	for _, rel := range []string{"modbus/iti_modbus_test.pcap", "modbus/zeek_modbus-and-non-modbus-p502.pcap", "opcua/icsnpp_open62541_client-server_mainloop.pcap"} {
		path := filepath.Join(dir, rel)
		a := replayFile(t, path, nil)
		b := replayFile(t, path, nil)
		if len(a) == 0 {
			t.Fatalf("%s: no output", rel)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two replays differ:\n%s", rel, firstDiff(a, b))
		}
	}
}
