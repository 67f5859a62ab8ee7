package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// sweep learns 300 clients, each polling 4 units of the PLC (1,200
// channels), client i making i+1 polls per unit: the busiest are the last.
func sweep(t *testing.T) *baselines.Snapshot {
	t.Helper()
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	for i := range 300 {
		cli := netip.AddrFrom4([4]byte{10, 20, byte(i >> 8), byte(i)})
		for u := range 4 {
			for k := 0; k <= i%7; k++ {
				o, m := mbObs(t0.Add(time.Duration(i*100+u*10+k)*time.Millisecond), cli, uint8(u+1), 3)
				m.ReadTable, m.Read = modbus.TableHoldingRegisters, baselines.Range{Start: 0, Count: 10}
				e.Observe(&o)
			}
		}
	}
	return e.Snapshot()
}

// TestBoundedReport: a report of a big baseline lists at most MaxRows of
// each list and MaxMatrix clients and servers, keeps the busiest, says how
// many it left out in every format, and still counts everything in its
// summary (issue #15: 65,536 channels made a 62 MB page).
func TestBoundedReport(t *testing.T) {
	s := sweep(t)
	r, err := Build(s, Options{Generated: t0, MaxRows: 100, MaxMatrix: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.Summary.Channels != 1200 || r.Summary.Devices != 301 {
		t.Fatalf("summary %d channels, %d devices: it must count everything", r.Summary.Channels, r.Summary.Devices)
	}
	if r.Omitted == nil || r.Omitted.Channels != 1100 || r.Omitted.Devices != 201 || r.Omitted.MatrixClients != 290 {
		t.Fatalf("omitted %+v", r.Omitted)
	}
	if n := r.channelCount(); n != 100 {
		t.Fatalf("%d channels listed, want 100", n)
	}
	for _, db := range r.Baselines {
		for _, c := range db.Channels {
			if c.Transactions < 7 { // the busiest clients poll 7 times per unit
				t.Errorf("channel %s with %d transactions kept over busier ones", c.Name, c.Transactions)
			}
		}
	}
	// The PLC, the only server, is kept whatever its rank.
	plcKept := false
	for _, d := range r.Devices {
		plcKept = plcKept || d.IP == plc.String()
	}
	if !plcKept || len(r.Devices) != 100 {
		t.Fatalf("%d devices listed, PLC kept %v", len(r.Devices), plcKept)
	}
	if len(r.Matrix.Clients) != 10 || len(r.Matrix.Cells) != 10 || len(r.Matrix.Servers) != 1 {
		t.Fatalf("matrix %d×%d", len(r.Matrix.Clients), len(r.Matrix.Servers))
	}
	for _, f := range []Format{HTML, Markdown} {
		out := render(t, r, f)
		for _, want := range []string{"… and 1100 more channels", "… and 201 more devices", "… and 290 more clients"} {
			if !bytes.Contains(out, []byte(want)) {
				t.Errorf("%v report does not say %q", f, want)
			}
		}
	}
	var back struct{ Omitted Omitted }
	if err := json.Unmarshal(render(t, r, JSON), &back); err != nil || back.Omitted != *r.Omitted {
		t.Errorf("JSON report's omitted %+v (%v), want %+v", back.Omitted, err, *r.Omitted)
	}

	// Everything with MaxRows < 0, and nothing omitted in a small report.
	all, err := Build(s, Options{Generated: t0, MaxRows: -1, MaxMatrix: -1})
	if err != nil {
		t.Fatal(err)
	}
	if all.Omitted != nil || all.channelCount() != 1200 || len(all.Matrix.Clients) != 300 {
		t.Fatalf("--all: omitted %+v, %d channels, %d matrix clients", all.Omitted, all.channelCount(), len(all.Matrix.Clients))
	}
	if small := build(t, plant(t).Snapshot(), t0); small.Omitted != nil {
		t.Fatalf("small plant report omits %+v", small.Omitted)
	}
}
