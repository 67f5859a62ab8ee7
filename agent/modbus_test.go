package agent

import (
	"testing"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// TestObservationTables checks the data tables a transaction's observation
// names for the baselines, against the data model of MAP V1.1b3, 4.3 and 6:
// reads and writes of the four tables, FC 22 and 23 on holding registers,
// and nothing for the codes that address no table the baselines learn.
func TestObservationTables(t *testing.T) {
	tests := []struct {
		fc           modbus.FunctionCode
		read, writes modbus.Table
	}{
		{modbus.FuncReadCoils, modbus.TableCoils, modbus.TableNone},
		{modbus.FuncReadDiscreteInputs, modbus.TableDiscreteInputs, modbus.TableNone},
		{modbus.FuncReadHoldingRegisters, modbus.TableHoldingRegisters, modbus.TableNone},
		{modbus.FuncReadInputRegisters, modbus.TableInputRegisters, modbus.TableNone},
		{modbus.FuncWriteSingleCoil, modbus.TableNone, modbus.TableCoils},
		{modbus.FuncWriteSingleRegister, modbus.TableNone, modbus.TableHoldingRegisters},
		{modbus.FuncWriteMultipleCoils, modbus.TableNone, modbus.TableCoils},
		{modbus.FuncWriteMultipleRegisters, modbus.TableNone, modbus.TableHoldingRegisters},
		{modbus.FuncMaskWriteRegister, modbus.TableNone, modbus.TableHoldingRegisters},
		{modbus.FuncReadWriteMultipleRegisters, modbus.TableHoldingRegisters, modbus.TableHoldingRegisters},
		{modbus.FuncDiagnostics, modbus.TableNone, modbus.TableNone},
		{modbus.FuncReadFileRecord, modbus.TableNone, modbus.TableNone}, // file records: not learned
		{modbus.FuncReadFIFOQueue, modbus.TableNone, modbus.TableNone},
		{90, modbus.TableNone, modbus.TableNone}, // vendor code
		{0x7f, modbus.TableNone, modbus.TableNone},
	}
	s := modbusStream{}
	for _, tt := range tests {
		tx := modbus.Transaction{FunctionCode: tt.fc, HasRequest: true,
			Request: modbus.Request{Function: tt.fc, Address: 10, Quantity: 2, WriteAddress: 20, WriteQuantity: 1}}
		if !s.observation(&tx) {
			t.Fatalf("FC %d: no observation", tt.fc)
		}
		m := s.obs.Detail.(*baselines.ModbusObs)
		if m.ReadTable != tt.read || m.WriteTable != tt.writes {
			t.Errorf("FC %d: read %v write %v, want read %v write %v", tt.fc, m.ReadTable, m.WriteTable, tt.read, tt.writes)
		}
	}
}
