package simulator_test

import (
	"fmt"

	"github.com/sluice-ics/sluice/simulator"
)

func ExampleTagByName() {
	t := simulator.TagByName(simulator.TagGate1SP)
	fmt.Println(t.NodeID(), t.Table, t.UnitID, t.ModbusRef(), t.Raw(17.5))
	// Output: ns=2;s=Dam.Spillway1.Setpoint holding_register 1 40001 175
}

func ExampleScenarios() {
	for _, s := range simulator.Scenarios()[:3] {
		fmt.Println(s.Name)
	}
	// Output:
	// normal
	// rogue_master
	// unexpected_write
}
