package baselines

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz seed files from the learned test plant")

// TestUpdateSeeds writes the committed fuzz seeds: the export of the test
// plant's learned baseline (FuzzLoad), and its traffic for FuzzObserve:
// two minutes of normal polling, then the same with a rogue master, an
// anonymous OPC UA write to the shutdown node, and Modbus diagnostics,
// identification, exceptions and timeouts, each in the three modes. Run
// with -update-seeds.
func TestUpdateSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite the fuzz seeds")
	}
	b, err := json.Marshal(learnedSnap())
	if err != nil {
		t.Fatal(err)
	}
	write := func(target, name string, data []byte) {
		t.Helper()
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FuzzLoad", "learned-plant", b)
	// FuzzObserve's inputs start with the mode byte: each traffic is
	// written for learning, judging, and learning then judging.
	observe := func(name string, obs []Observation) {
		t.Helper()
		for mode, m := range []string{"learn", "monitor", "auto"} {
			write("FuzzObserve", name+"-"+m, append([]byte{byte(mode)}, encodeObs(obs)...))
		}
	}

	start := t0.Add(5 * time.Hour)
	observe("normal-two-minutes", normal(start, 2*time.Minute))
	rogue := normal(start, 20*time.Second)
	for i := range rogue {
		if i%4 == 3 && rogue[i].Protocol == Modbus {
			rogue[i].ClientIP = netip.MustParseAddr("10.10.1.66")
		}
	}
	rogue = append(rogue, mbWrite(start.Add(21*time.Second), netip.MustParseAddr("10.10.1.66"), 1, 40, 999))
	observe("rogue-master", rogue)
	anon := ua(start.Add(time.Second), scada, "Write")
	uaOf(&anon).SecurityPolicy, uaOf(&anon).SecurityMode, uaOf(&anon).Token = noPolicy, SecurityNone, TokenAnonymous
	uaOf(&anon).Written = []NodeValue{{Node: "ns=2;s=Dam.Shutdown", Value: 1, Numeric: true}}
	call := ua(start.Add(2*time.Second), scada, "Call")
	uaOf(&call).Called = []string{"ns=2;s=Dam.Shutdown"}
	observe("opcua-anonymous-write-and-call", append(normal(start, 10*time.Second), anon, call))
	diag := mb(start.Add(time.Second), hmi, 1, 8)
	mbOf(&diag).SubFunction = 1 // restart communications
	ident := mb(start.Add(2*time.Second), hmi, 1, 43)
	mbOf(&ident).MEIType = 14
	exc := mbRead(start.Add(3*time.Second), hmi, 1, 9000, 10)
	mbOf(&exc).Exception = 2 // illegal data address
	lost := mbRead(start.Add(4*time.Second), hmi, 2, 100, 5)
	lost.Responded, mbOf(&lost).Timeout = false, true
	many := mb(start.Add(5*time.Second), hmi, 1, 16)
	mbOf(&many).WriteTable, mbOf(&many).Write, mbOf(&many).Values = modbus.TableHoldingRegisters, Range{40, 10}, []uint16{50, 51, 52, 53, 54, 55, 56, 57, 58, 59}
	observe("modbus-diagnostics-exceptions-timeouts", append(normal(start, 5*time.Second), diag, ident, exc, lost, many))
}
