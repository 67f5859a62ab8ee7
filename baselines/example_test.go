package baselines_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// An HMI polls a PLC and writes a setpoint; after learning, a master never
// seen before writes the same register.
func Example() {
	hmi, plc := netip.MustParseAddr("10.10.1.10"), netip.MustParseAddr("10.10.2.1")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(t time.Time, from netip.Addr, v uint16) *baselines.Observation {
		return &baselines.Observation{
			Time: t, Protocol: baselines.Modbus, Responded: true,
			Endpoints: baselines.Endpoints{ClientIP: from, ServerIP: plc, ClientPort: 49152, ServerPort: 502},
			Detail: &baselines.ModbusObs{Unit: 1, Function: 6, WriteTable: modbus.TableHoldingRegisters,
				Write: baselines.Range{Start: 40, Count: 1}, Values: []uint16{v}},
		}
	}
	e := baselines.New(baselines.Config{LearnFor: time.Hour}) // auto mode
	for i := range 60 {
		e.Observe(write(start.Add(time.Duration(i)*time.Minute), hmi, uint16(40+i%20)))
	}
	later := start.Add(2 * time.Hour)
	for _, a := range e.Observe(write(later, hmi, 250)) {
		fmt.Println(a.SignatureID, a.Rule, a.Signature)
	}
	for _, a := range e.Observe(write(later, netip.MustParseAddr("10.10.9.66"), 50)) {
		fmt.Println(a.SignatureID, a.Rule, a.Techniques)
	}
	// Output:
	// 9000006 write_value_out_of_range Modbus master 10.10.1.10 writes 250 to holding register 40 of PLC 10.10.2.1 unit 1, outside the learned range 40..59
	// 9000001 new_device [T0846]
	// 9000002 new_master [T0848 T0855]
	// 9000005 unexpected_write [T0855 T0836]
}
