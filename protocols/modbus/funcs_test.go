package modbus

import "testing"

func TestFunctionCodeTable(t *testing.T) {
	tests := []struct {
		fc    FunctionCode
		name  string
		class Class
		table Table
		req   Layout
		resp  Layout
	}{
		{1, "read_coils", ClassRead, TableCoils, LayoutAddrQty, LayoutReadBits},
		{2, "read_discrete_inputs", ClassRead, TableDiscreteInputs, LayoutAddrQty, LayoutReadBits},
		{3, "read_holding_registers", ClassRead, TableHoldingRegisters, LayoutAddrQty, LayoutReadRegs},
		{4, "read_input_registers", ClassRead, TableInputRegisters, LayoutAddrQty, LayoutReadRegs},
		{5, "write_single_coil", ClassWrite, TableCoils, LayoutAddrValue, LayoutAddrValue},
		{6, "write_single_register", ClassWrite, TableHoldingRegisters, LayoutAddrValue, LayoutAddrValue},
		{7, "read_exception_status", ClassDiagnostic, TableNone, LayoutEmpty, LayoutStatus},
		{8, "diagnostics", ClassDiagnostic, TableNone, LayoutDiag, LayoutDiag},
		{11, "get_comm_event_counter", ClassDiagnostic, TableNone, LayoutEmpty, LayoutEventCounter},
		{12, "get_comm_event_log", ClassDiagnostic, TableNone, LayoutEmpty, LayoutEventLog},
		{15, "write_multiple_coils", ClassWrite, TableCoils, LayoutWriteBits, LayoutAddrQty},
		{16, "write_multiple_registers", ClassWrite, TableHoldingRegisters, LayoutWriteRegs, LayoutAddrQty},
		{17, "report_server_id", ClassDiagnostic, TableNone, LayoutEmpty, LayoutServerID},
		{20, "read_file_record", ClassRead, TableFileRecords, LayoutFileReadRequest, LayoutFileReadResponse},
		{21, "write_file_record", ClassWrite, TableFileRecords, LayoutFileWrite, LayoutFileWrite},
		{22, "mask_write_register", ClassWrite, TableHoldingRegisters, LayoutMaskWrite, LayoutMaskWrite},
		{23, "read_write_multiple_registers", ClassWrite, TableHoldingRegisters, LayoutReadWrite, LayoutReadRegs},
		{24, "read_fifo_queue", ClassRead, TableHoldingRegisters, LayoutFIFOPointer, LayoutFIFO},
		{43, "encapsulated_interface_transport", ClassDiagnostic, TableNone, LayoutMEI, LayoutMEI},
		{90, "unknown_90", ClassOther, TableNone, LayoutOpaque, LayoutOpaque},
		{0, "unknown_0", ClassOther, TableNone, LayoutOpaque, LayoutOpaque},
	}
	known := 0
	for _, tc := range tests {
		info := tc.fc.Info()
		if tc.fc.String() != tc.name || info.Name != tc.name || info.Class != tc.class || info.Table != tc.table ||
			info.Request != tc.req || info.Response != tc.resp || info.Code != tc.fc {
			t.Errorf("%d: %v %+v", tc.fc, tc.fc, info)
		}
		if tc.fc.Known() != (tc.class != ClassOther) {
			t.Errorf("%d: Known() = %v", tc.fc, tc.fc.Known())
		}
		if tc.fc.Known() {
			known++
			if info.Spec == "" {
				t.Errorf("%d: no spec section", tc.fc)
			}
		}
	}
	// Every public code is in the test table: no silent additions.
	n := 0
	for fc := 0; fc < 128; fc++ {
		if FunctionCode(fc).Known() {
			n++
		}
	}
	if n != known {
		t.Errorf("table has %d public codes, test covers %d", n, known)
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{FunctionCode(0x83).String(), "read_holding_registers_exception"},
		{FunctionCode(0xDA).String(), "unknown_90_exception"},
		{FunctionCode(0x83).Base().String(), "read_holding_registers"},
		{ExIllegalFunction.String(), "illegal_function"},
		{ExIllegalDataAddress.String(), "illegal_data_address"},
		{ExIllegalDataValue.String(), "illegal_data_value"},
		{ExServerDeviceFailure.String(), "server_device_failure"},
		{ExAcknowledge.String(), "acknowledge"},
		{ExServerDeviceBusy.String(), "server_device_busy"},
		{ExMemoryParityError.String(), "memory_parity_error"},
		{ExGatewayPathUnavailable.String(), "gateway_path_unavailable"},
		{ExGatewayTargetDeviceFailedToRespond.String(), "gateway_target_device_failed_to_respond"},
		{ExceptionCode(7).String(), "unknown_7"},
		{ExceptionCode(200).String(), "unknown_200"},
		{SubReturnQueryData.String(), "return_query_data"},
		{SubRestartCommunicationsOption.String(), "restart_communications_option"},
		{SubReturnDiagnosticRegister.String(), "return_diagnostic_register"},
		{SubChangeASCIIInputDelimiter.String(), "change_ascii_input_delimiter"},
		{SubForceListenOnlyMode.String(), "force_listen_only_mode"},
		{SubClearCountersAndDiagnosticReg.String(), "clear_counters_and_diagnostic_register"},
		{SubReturnBusMessageCount.String(), "return_bus_message_count"},
		{SubReturnServerBusyCount.String(), "return_server_busy_count"},
		{SubClearOverrunCounterAndFlag.String(), "clear_overrun_counter_and_flag"},
		{SubFunction(5).String(), "unknown"},
		{SubFunction(0xFFFF).String(), "unknown"},
		{MEIReadDeviceID.String(), "read_device_identification"},
		{MEICANopenGeneralReference.String(), "canopen_general_reference"},
		{ReadDeviceIDIndividual.String(), "individual"},
		{ObjectName(ObjVendorName), "VendorName"},
		{ObjectName(ObjVendorURL), "VendorUrl"},
		{ObjectName(ObjUserApplicationName), "UserApplicationName"},
		{ObjectName(0x80), ""},
		{ClassDiagnostic.String(), "diagnostic"},
		{TableInputRegisters.String(), "input_registers"},
		{LayoutReadWrite.String(), "read_write"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if FunctionCode(0x83).IsException() != true || FunctionCode(0x03).IsException() {
		t.Error("IsException")
	}
}
