package modbus

import (
	"bytes"
	"errors"
	"testing"
)

// roundTripRequests and roundTripResponses hold one value per function code
// (and per MEI type), built as the simulator builds them.
var roundTripRequests = []Request{
	{Function: FuncReadCoils, Address: 10, Quantity: 2000},
	{Function: FuncReadDiscreteInputs, Address: 0xFFFF, Quantity: 1},
	{Function: FuncReadHoldingRegisters, Address: 100, Quantity: 125},
	{Function: FuncReadInputRegisters, Address: 30001, Quantity: 3},
	{Function: FuncWriteSingleCoil, Address: 7, Values: BitValues(true)},
	{Function: FuncWriteSingleCoil, Address: 8, Values: BitValues(false)},
	{Function: FuncWriteSingleRegister, Address: 40001, Values: RegisterValues(0xBEEF)},
	{Function: FuncReadExceptionStatus},
	{Function: FuncDiagnostics, SubFunction: SubReturnQueryData, Data: []byte{0xA5, 0x37}},
	{Function: FuncDiagnostics, SubFunction: SubRestartCommunicationsOption, Data: []byte{0xFF, 0x00}},
	{Function: FuncGetCommEventCounter},
	{Function: FuncGetCommEventLog},
	{Function: FuncWriteMultipleCoils, Address: 19, Quantity: 10, Values: BitValues(true, false, true, true, false, false, true, true, true, false)},
	{Function: FuncWriteMultipleRegisters, Address: 1, Quantity: 123, Values: RegisterValues(make([]uint16, 123)...)},
	{Function: FuncReportServerID},
	{Function: FuncReadFileRecord, Files: MakeFileRecords(LayoutFileReadRequest,
		FileRecord{RefType: 6, File: 4, Record: 1, Length: 2}, FileRecord{RefType: 6, File: 3, Record: 9, Length: 2})},
	{Function: FuncWriteFileRecord, Files: MakeFileRecords(LayoutFileWrite,
		FileRecord{RefType: 6, File: 4, Record: 7, Data: RegisterValues(0x06AF, 0x04BE, 0x100D)})},
	{Function: FuncMaskWriteRegister, Address: 4, AndMask: 0xF2, OrMask: 0x25},
	{Function: FuncReadWriteMultipleRegisters, Address: 3, Quantity: 6, WriteAddress: 14, WriteQuantity: 3, Values: RegisterValues(0xFF, 0xFF, 0xFF)},
	{Function: FuncReadFIFOQueue, Address: 0x04DE},
	{Function: FuncEncapsulatedInterfaceTransport, MEI: MEIReadDeviceID, DeviceID: DeviceID{ReadCode: ReadDeviceIDIndividual, ObjectID: ObjProductName}},
	{Function: FuncEncapsulatedInterfaceTransport, MEI: MEICANopenGeneralReference, Data: []byte{1, 2, 3}},
	{Function: FuncUMAS, UMAS: UMAS{Key: 1, Function: UMASInitializeDownload, Valid: true}, Data: []byte{0x00, 0x01}},
	{Function: 65, Data: nil},
}

var roundTripResponses = []Response{
	{Function: FuncReadCoils, Values: BitValues(true, false, true, true, false, false, true, true, true, false, true, false, false, false, false, false)},
	{Function: FuncReadDiscreteInputs, Values: BitValues(false, false, true, true, false, true, false, true)},
	{Function: FuncReadHoldingRegisters, Values: RegisterValues(0x022B, 0x0000, 0x0064)},
	{Function: FuncReadInputRegisters, Values: RegisterValues(make([]uint16, 125)...)},
	{Function: FuncWriteSingleCoil, Address: 172, Values: BitValues(true)},
	{Function: FuncWriteSingleRegister, Address: 1, Values: RegisterValues(3)},
	{Function: FuncReadExceptionStatus, Status: 0x6D},
	{Function: FuncDiagnostics, SubFunction: SubReturnBusMessageCount, Data: []byte{0x01, 0x08}},
	{Function: FuncGetCommEventCounter, Status: 0xFFFF, EventCount: 0x0108},
	{Function: FuncGetCommEventLog, Status: 0, EventCount: 0x0108, MessageCount: 0x0121, Data: []byte{0x20, 0x00}},
	{Function: FuncWriteMultipleCoils, Address: 19, Quantity: 10},
	{Function: FuncWriteMultipleRegisters, Address: 1, Quantity: 2},
	{Function: FuncReportServerID, Data: []byte("\x01\xffPLC-7")},
	{Function: FuncReadFileRecord, Files: MakeFileRecords(LayoutFileReadResponse,
		FileRecord{RefType: 6, Data: RegisterValues(0x0DFE, 0x0020)}, FileRecord{RefType: 6, Data: RegisterValues(0x33CD, 0x0040)})},
	{Function: FuncWriteFileRecord, Files: MakeFileRecords(LayoutFileWrite,
		FileRecord{RefType: 6, File: 4, Record: 7, Data: RegisterValues(0x06AF, 0x04BE, 0x100D)})},
	{Function: FuncMaskWriteRegister, Address: 4, AndMask: 0xF2, OrMask: 0x25},
	{Function: FuncReadWriteMultipleRegisters, Values: RegisterValues(0xFE, 0x0ACD, 1, 3, 0x0D, 0xFF)},
	{Function: FuncReadFIFOQueue, Quantity: 2, Values: RegisterValues(0x01B8, 0x1284)},
	{Function: FuncEncapsulatedInterfaceTransport, MEI: MEIReadDeviceID, DeviceID: DeviceID{
		ReadCode: ReadDeviceIDBasic, Conformity: 0x01, MoreFollows: true, NextObjectID: 2,
		Objects: MakeObjects(Object{ObjVendorName, []byte("Sluice")}, Object{ObjProductCode, []byte("DAM-1")})}},
	{Function: FuncEncapsulatedInterfaceTransport, MEI: MEICANopenGeneralReference, Data: []byte{9}},
	{Function: FuncUMAS, UMAS: UMAS{Key: 1, Function: UMASOK, Valid: true}, Data: []byte{0x00, 0xFE}},
	ExceptionResponse(FuncWriteMultipleRegisters, ExIllegalDataAddress),
	ExceptionResponse(90, ExIllegalFunction),
}

// TestRoundTrip encodes every value, decodes it, encodes the result again:
// the bytes must not change and the decoded value must render the same.
func TestRoundTrip(t *testing.T) {
	seen := map[FunctionCode]int{}
	for _, r := range roundTripRequests {
		b, err := r.AppendPDU(nil)
		if err != nil {
			t.Errorf("%v: encode: %v", r.Function, err)
			continue
		}
		d, err := DecodeRequest(FunctionCode(b[0]), b[1:])
		if err != nil {
			t.Errorf("%v: decode % x: %v", r.Function, b, err)
			continue
		}
		b2, _ := d.AppendPDU(nil)
		if !bytes.Equal(b, b2) {
			t.Errorf("%v: re-encoded % x, want % x", r.Function, b2, b)
		}
		if got, want := string(appendRequest(nil, &d, nil)), string(appendRequest(nil, &r, nil)); got != want {
			t.Errorf("%v request\n got %s\nwant %s", r.Function, got, want)
		}
		seen[r.Function] |= 1
	}
	for _, r := range roundTripResponses {
		b, err := r.AppendPDU(nil)
		if err != nil {
			t.Errorf("%v: encode: %v", r.Function, err)
			continue
		}
		d, err := DecodeResponse(FunctionCode(b[0]), b[1:])
		if err != nil {
			t.Errorf("%v: decode % x: %v", r.Function, b, err)
			continue
		}
		b2, _ := d.AppendPDU(nil)
		if !bytes.Equal(b, b2) {
			t.Errorf("%v: re-encoded % x, want % x", r.Function, b2, b)
		}
		if got, want := string(appendResponse(nil, &d, nil, false)), string(appendResponse(nil, &r, nil, false)); got != want {
			t.Errorf("%v response\n got %s\nwant %s", r.Function, got, want)
		}
		seen[r.Function.Base()] |= 2
	}
	for fc := FunctionCode(0); fc < 128; fc++ {
		if fc.Known() && seen[fc] != 3 {
			t.Errorf("%v: no round trip for request and response (%d)", fc, seen[fc])
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		enc  func() ([]byte, error)
	}{
		{"fc5 two values", func() ([]byte, error) {
			return (&Request{Function: FuncWriteSingleCoil, Values: BitValues(true, true)}).AppendPDU(nil)
		}},
		{"fc6 no value", func() ([]byte, error) {
			return (&Response{Function: FuncWriteSingleRegister}).AppendPDU(nil)
		}},
		{"fc16 too many registers", func() ([]byte, error) {
			return (&Request{Function: FuncWriteMultipleRegisters, Values: RegisterValues(make([]uint16, 128)...)}).AppendPDU(nil)
		}},
		{"fc3 response too long", func() ([]byte, error) {
			return (&Response{Function: FuncReadHoldingRegisters, Values: RegisterValues(make([]uint16, 127)...)}).AppendPDU(nil)
		}},
		{"opaque too long", func() ([]byte, error) {
			return (&Request{Function: 90, Data: make([]byte, MaxPDULen)}).AppendPDU(nil)
		}},
	}
	for _, tc := range tests {
		b, err := tc.enc()
		if !errors.Is(err, ErrMalformed) || len(b) != 0 {
			t.Errorf("%s: % x, %v", tc.name, b, err)
		}
	}
	// A failed encode leaves dst as it was.
	dst := []byte{1, 2}
	out, err := (&Request{Function: FuncWriteSingleCoil}).AppendPDU(dst)
	if err == nil || !bytes.Equal(out, dst) {
		t.Errorf("dst changed to % x (%v)", out, err)
	}
}
