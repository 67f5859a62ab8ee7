package report_test

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
	"github.com/sluice-ics/sluice/report"
)

func ExampleRangesText() {
	fmt.Println(report.RangesText(baselines.RangeSet{{First: 0, Last: 9}, {First: 20, Last: 20}, {First: 40, Last: 49}}))
	// Output: 0-9, 20, 40-49
}

// Build a report from a baseline learned by an engine (a store's Load gives
// the same snapshot) and write its JSON summary.
func ExampleBuild() {
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	hmi, plc := netip.MustParseAddr("10.10.1.10"), netip.MustParseAddr("10.10.2.1")
	t0 := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	for i := 0; i < 30; i++ {
		o := baselines.Observation{Time: t0.Add(time.Duration(i) * time.Second), Protocol: baselines.Modbus, Responded: true,
			Endpoints: baselines.Endpoints{ClientIP: hmi, ServerIP: plc, ClientPort: 40000, ServerPort: 502},
			Detail: &baselines.ModbusObs{Unit: 1, Function: 3, ReadTable: modbus.TableHoldingRegisters,
				Read: baselines.Range{Start: 0, Count: 10}}}
		e.Observe(&o)
	}
	r, err := report.Build(e.Snapshot(), report.Options{Generated: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	ch := r.Baselines[0].Channels[0]
	fmt.Println(r.Summary.Devices, "devices;", ch.Name)
	fmt.Println("reads", ch.Read[0].Table, ch.Read[0].Ranges, "by", ch.Functions[0].Name, ch.Functions[0].Count, "times")
	fmt.Println("matrix", r.Matrix.Clients, "→", r.Matrix.Servers, r.Matrix.Cells[0][0].Transactions)
	// Output:
	// 2 devices; modbus 10.10.1.10>10.10.2.1 unit 1
	// reads holding_registers 0-9 by read_holding_registers 30 times
	// matrix [10.10.1.10] → [10.10.2.1] 30
}
