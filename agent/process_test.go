package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/internal/capture"
)

// processSilent are the shared captures where learning on the first half
// and monitoring the second may raise process alerts, and why (docs/process.md).
var processSilent = map[string]string{}

// TestProcessOnSharedCaptures is issue #14 §1's check on real traffic:
// each shared capture, learned on its first half (auto mode, --learn-for
// half its length) and judged on its second, raises no process alert
// where nothing happened. It logs, per capture, the process variables
// learned and what fired: the table of docs/process.md.
func TestProcessOnSharedCaptures(t *testing.T) {
	dir := pcapsDir(t)
	var rows []string
	for _, sub := range []string{"modbus", "opcua", "dnp3"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*.pcap*"))
		for _, path := range files {
			first, last := captureSpan(t, path)
			half := last.Sub(first) / 2
			if half <= 0 {
				half = time.Nanosecond
			}
			db := filepath.Join(t.TempDir(), "b.db")
			out := replayFile(t, path, func(c *Config) { c.Mode, c.LearnFor, c.DBPath = ModeAuto, half, db })
			fired := map[string]int{}
			for _, ev := range parseEvents(t, out) {
				if ev.Alert != nil && !ev.Alert.Update && strings.HasPrefix(ev.Alert.Rule, "process_") {
					fired[ev.Alert.Rule]++
				}
			}
			vars, judged, dropped := learnedVars(t, db)
			name := filepath.Base(path)
			what := "–"
			if len(fired) > 0 {
				what = fmt.Sprint(fired)
				if processSilent[name] == "" {
					t.Errorf("%s: process alerts on the second half: %v", name, fired)
				}
			}
			rows = append(rows, fmt.Sprintf("| %s/%s | %s | %d | %d | %d | %s |", sub, name, half.Round(time.Millisecond), vars, judged, dropped, what))
		}
	}
	t.Log("\n| capture | learned for | variables | judged | dropped | process alerts |\n| --- | ---: | ---: | ---: | ---: | --- |\n" + strings.Join(rows, "\n"))
}

// captureSpan returns the times of the first and last packets of path.
func captureSpan(t *testing.T, path string) (first, last time.Time) {
	t.Helper()
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p capture.Packet
	for {
		if err := f.ReadPacket(&p); err != nil {
			if !errors.Is(err, io.EOF) && first.IsZero() {
				t.Fatalf("%s: %v", path, err)
			}
			return first, last
		}
		if first.IsZero() || p.Timestamp.Before(first) {
			first = p.Timestamp
		}
		if p.Timestamp.After(last) {
			last = p.Timestamp
		}
	}
}

// learnedVars counts the process variables of the baseline in db, those
// read often enough to be judged (baselines' default ProcessMinReads),
// and the values of those beyond the cap.
func learnedVars(t *testing.T, db string) (vars, judged int, dropped uint64) {
	t.Helper()
	if _, err := os.Stat(db); err != nil {
		return 0, 0, 0
	}
	st, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	count := func(pv *baselines.ProcessVar) {
		vars++
		if pv.Reads >= 30 {
			judged++
		}
	}
	for _, c := range s.Channels {
		switch m := c.Model.(type) {
		case *baselines.ModbusModel:
			dropped += m.ProcessDropped
			for _, pv := range m.Process {
				count(pv)
			}
		case *baselines.OPCUAModel:
			dropped += m.ProcessDropped
			for _, pv := range m.Process {
				count(pv)
			}
		case *baselines.DNP3Model:
			dropped += m.ProcessDropped
			for _, pv := range m.Process {
				count(pv)
			}
		}
	}
	return vars, judged, dropped
}

// TestOPCUAProcessOnCapture: the variables an OPC UA capture teaches, on
// real traffic (icsnpp's with-gap capture with its handshake: a client
// that subscribes to 24 nodes of a Siemens PLC and reads others). Every
// subscribed node notified in the first Publish response is a variable
// named by its node id (protocols/opcua's TestDataChangesAgainstTshark
// checks those values against Wireshark), its Booleans states; the
// values read are variables too.
func TestOPCUAProcessOnCapture(t *testing.T) {
	path := filepath.Join(pcapsDir(t), "opcua", "icsnpp_opcua_with-gap_with-handshake.pcap")
	db := filepath.Join(t.TempDir(), "b.db")
	replayFile(t, path, func(c *Config) { c.Mode, c.DBPath = ModeLearn, db })
	st, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]*baselines.ProcessVar{}
	for _, c := range s.Channels {
		if m, ok := c.Model.(*baselines.OPCUAModel); ok {
			for n, pv := range m.Process {
				vars[n] = pv
			}
		}
	}
	// Two of the 23 notified nodes, as Wireshark decodes them: an Int16
	// counter of 174 and a Boolean sensor at 0.
	num, sens := vars["ns=2;s=sps-2.DB.OPC_UA.BandO_getNumPlastic"], vars["ns=2;s=sps-2.DB.OPC_UA.BandO_isOptSens"]
	if len(vars) < 23 || num == nil || num.Bit || num.Min != 174 || sens == nil || !sens.Bit || sens.States != 1 {
		t.Fatalf("%d variables; getNumPlastic %+v, isOptSens %+v", len(vars), num, sens)
	}
	bits := 0
	for _, pv := range vars {
		if pv.Bit {
			bits++
		}
	}
	t.Logf("%d variables learned, %d of them states", len(vars), bits)
}
