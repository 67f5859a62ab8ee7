package agent

import (
	"testing"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// TestTableOfFunc checks the precomputed function-to-table map against the
// data model of MAP V1.1b3, 4.3 and 6.
func TestTableOfFunc(t *testing.T) {
	tests := []struct {
		fc   modbus.FunctionCode
		want baselines.Table
	}{
		{modbus.FuncReadCoils, baselines.Coils},
		{modbus.FuncReadDiscreteInputs, baselines.DiscreteInputs},
		{modbus.FuncReadHoldingRegisters, baselines.HoldingRegisters},
		{modbus.FuncReadInputRegisters, baselines.InputRegisters},
		{modbus.FuncWriteSingleCoil, baselines.Coils},
		{modbus.FuncWriteSingleRegister, baselines.HoldingRegisters},
		{modbus.FuncWriteMultipleCoils, baselines.Coils},
		{modbus.FuncWriteMultipleRegisters, baselines.HoldingRegisters},
		{modbus.FuncDiagnostics, baselines.NoTable},
		{20, baselines.NoTable}, // read file record: no baselines table
		{90, baselines.NoTable}, // vendor code
		{0x7f, baselines.NoTable},
	}
	for _, tt := range tests {
		if got := tableOfFunc[tt.fc]; got != tt.want {
			t.Errorf("FC %d: table %v, want %v", tt.fc, got, tt.want)
		}
	}
}
