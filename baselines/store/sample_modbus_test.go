package store

import (
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

func init() {
	samples[baselines.Modbus] = func() *baselines.Observation {
		return sampleObservation(baselines.Modbus, 502, &baselines.ModbusObs{Unit: 1, Function: 3,
			ReadTable: modbus.TableHoldingRegisters, Read: baselines.Range{Start: 0, Count: 10}})
	}
}
