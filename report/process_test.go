package report

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// TestProcessVariablesListed: the report lists a channel's learned process
// variables with their range, step and changes, at most maxProcessRows of
// them (those that change most), and says how many it left out.
func TestProcessVariablesListed(t *testing.T) {
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	vals := make([]uint16, 100)
	for s := range 60 {
		for i := range vals {
			// Register i changes on i of the 60 reads: the busiest are
			// the highest addresses.
			vals[i] = uint16(i)
			if s < i {
				vals[i] = uint16(s)
			}
		}
		o, m := mbObs(t0.Add(time.Duration(s)*time.Second), hmi, 1, 3)
		m.ReadTable, m.Read, m.ReadValues = modbus.TableHoldingRegisters, baselines.Range{Start: 0, Count: 100}, modbus.RegisterValues(vals...)
		e.Observe(&o)
	}
	r := build(t, e.Snapshot(), genT)
	c := r.Baselines[0].Channels[0]
	if len(c.Process) != maxProcessRows || c.ProcessOmitted != 100-maxProcessRows {
		t.Fatalf("%d process rows, %d omitted", len(c.Process), c.ProcessOmitted)
	}
	first := c.Process[0]
	if first.Variable != "holding_registers 36" || first.Min != 0 || first.Max != 36 || first.Changes != 36 || first.Reads != 60 {
		t.Fatalf("first row %+v", first)
	}
	md := render(t, r, Markdown)
	for _, want := range []string{"| process variable |", "| `holding_registers 99` | 0 | 59 | 1 | 59 / 60 |",
		fmt.Sprintf("%d more process variables not listed", 100-maxProcessRows)} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}
