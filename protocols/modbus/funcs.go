package modbus

import (
	"fmt"
	"strconv"
)

// FunctionCode is the first byte of a PDU. In a response, bit 7 set marks an
// exception (Modbus Application Protocol Specification V1.1b3, chapter 7):
// the code is then the request's code | 0x80.
type FunctionCode uint8

// Public function codes (MAP V1.1b3, 5.1 and chapter 6).
const (
	FuncReadCoils                      FunctionCode = 1  // 6.1
	FuncReadDiscreteInputs             FunctionCode = 2  // 6.2
	FuncReadHoldingRegisters           FunctionCode = 3  // 6.3
	FuncReadInputRegisters             FunctionCode = 4  // 6.4
	FuncWriteSingleCoil                FunctionCode = 5  // 6.5
	FuncWriteSingleRegister            FunctionCode = 6  // 6.6
	FuncReadExceptionStatus            FunctionCode = 7  // 6.7 (serial line only)
	FuncDiagnostics                    FunctionCode = 8  // 6.8 (serial line only)
	FuncGetCommEventCounter            FunctionCode = 11 // 6.9 (serial line only)
	FuncGetCommEventLog                FunctionCode = 12 // 6.10 (serial line only)
	FuncWriteMultipleCoils             FunctionCode = 15 // 6.11
	FuncWriteMultipleRegisters         FunctionCode = 16 // 6.12
	FuncReportServerID                 FunctionCode = 17 // 6.13 (serial line only)
	FuncReadFileRecord                 FunctionCode = 20 // 6.14
	FuncWriteFileRecord                FunctionCode = 21 // 6.15
	FuncMaskWriteRegister              FunctionCode = 22 // 6.16
	FuncReadWriteMultipleRegisters     FunctionCode = 23 // 6.17
	FuncReadFIFOQueue                  FunctionCode = 24 // 6.18
	FuncEncapsulatedInterfaceTransport FunctionCode = 43 // 6.19
)

// exceptionBit marks an exception response's function code (MAP V1.1b3, 7).
const exceptionBit = 0x80

// IsException reports whether f is an exception response's code (bit 7 set).
func (f FunctionCode) IsException() bool { return f&exceptionBit != 0 }

// Base returns f without the exception bit: the code of the request an
// exception answers.
func (f FunctionCode) Base() FunctionCode { return f &^ exceptionBit }

// Known reports whether f (without the exception bit) is a public function
// code this package decodes field by field. Other codes (user-defined ranges
// 65-72 and 100-110, vendor codes such as Schneider UMAS 90) decode as
// opaque data.
func (f FunctionCode) Known() bool { return funcTable[f.Base()].name != "" }

// String returns the snake_case name Wireshark and ICSNPP use
// ("read_holding_registers"), "unknown_N" for a code without a public
// definition, and the base name with "_exception" for an exception code.
func (f FunctionCode) String() string {
	if f.IsException() {
		if n := funcTable[f.Base()].name; n != "" {
			return n + "_exception"
		}
		return "unknown_" + strconv.Itoa(int(f.Base())) + "_exception"
	}
	if n := funcTable[f].name; n != "" {
		return n
	}
	return unknownNames[f]
}

// Info returns the table entry that describes f (without the exception bit).
// For a code that is not public, Info returns an entry whose layouts are
// LayoutOpaque and whose Name is "unknown_N".
func (f FunctionCode) Info() FuncInfo {
	e := funcTable[f.Base()]
	if e.name == "" {
		return FuncInfo{Code: f.Base(), Name: unknownNames[f.Base()], Class: ClassOther,
			Request: LayoutOpaque, Response: LayoutOpaque}
	}
	return FuncInfo{Code: f.Base(), Name: e.name, Class: e.class, Table: e.table,
		Request: e.req, Response: e.resp, Spec: e.spec}
}

// Table returns the data table f (without the exception bit) touches,
// TableNone for a code that touches none or is not public. It is Info's
// Table without copying the whole entry.
func (f FunctionCode) Table() Table { return funcTable[f.Base()].table }

// Class groups function codes by what they do to a server, as a baseline
// or a rule sees it.
type Class uint8

const (
	ClassOther      Class = iota // opaque, vendor, encapsulated transport other than device id
	ClassRead                    // reads data, changes nothing
	ClassWrite                   // changes outputs, registers or files
	ClassDiagnostic              // diagnostics, counters, identification (MAP V1.1b3, 5.1 "Diagnostics")
)

func (c Class) String() string {
	switch c {
	case ClassRead:
		return "read"
	case ClassWrite:
		return "write"
	case ClassDiagnostic:
		return "diagnostic"
	}
	return "other"
}

// Table is the data model table a function code touches (MAP V1.1b3, 4.3).
// Its numbers are stable: package baselines hashes them into deviation ids
// and keeps the names in stored baselines, so a new table goes at the end.
type Table uint8

const (
	TableNone             Table = 0
	TableCoils            Table = 1 // 0x: read/write bits (FC 1, 5, 15)
	TableDiscreteInputs   Table = 2 // 1x: read-only bits (FC 2)
	TableInputRegisters   Table = 3 // 3x: read-only words (FC 4)
	TableHoldingRegisters Table = 4 // 4x: read/write words (FC 3, 6, 16, 22, 23, 24)
	TableFileRecords      Table = 5 // extended memory files, 6.14/6.15
)

var tableNames = [...]string{TableNone: "none", TableCoils: "coils", TableDiscreteInputs: "discrete_inputs",
	TableInputRegisters: "input_registers", TableHoldingRegisters: "holding_registers", TableFileRecords: "file_records"}

// String returns the snake_case name of t ("holding_registers"), "none"
// for TableNone and for a number that is no table.
func (t Table) String() string {
	if int(t) < len(tableNames) {
		return tableNames[t]
	}
	return "none"
}

// MarshalText writes the name of t.
func (t Table) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a name that String writes.
func (t *Table) UnmarshalText(b []byte) error {
	for v, n := range tableNames {
		if n == string(b) {
			*t = Table(v)
			return nil
		}
	}
	return fmt.Errorf("modbus: unknown table %q", b)
}

// Layout names the shape of a PDU's data (the bytes after the function code).
// Decoders, encoders and the JSON writer switch on it, so adding a function
// code is one table row.
type Layout uint8

const (
	LayoutOpaque           Layout = iota // unknown or vendor code: raw data
	LayoutEmpty                          // no data (7, 11, 12, 17 requests)
	LayoutAddrQty                        // address(2) quantity(2)
	LayoutAddrValue                      // address(2) value(2) (5, 6)
	LayoutWriteBits                      // address(2) quantity(2) byte count(1) packed bits (15 request)
	LayoutWriteRegs                      // address(2) quantity(2) byte count(1) registers (16 request)
	LayoutReadBits                       // byte count(1) packed bits (1, 2 responses)
	LayoutReadRegs                       // byte count(1) registers (3, 4, 23 responses)
	LayoutStatus                         // output data(1) (7 response)
	LayoutDiag                           // sub-function(2) data(N) (8)
	LayoutEventCounter                   // status(2) event count(2) (11 response)
	LayoutEventLog                       // byte count(1) status(2) event count(2) message count(2) events(N) (12 response)
	LayoutServerID                       // byte count(1) server id(N) run indicator(1) (17 response)
	LayoutFileReadRequest                // byte count(1) sub-requests of 7 bytes (20 request)
	LayoutFileReadResponse               // byte count(1) sub-responses: length(1) ref(1) registers (20 response)
	LayoutFileWrite                      // byte count(1) sub-requests with data (21 request and response)
	LayoutMaskWrite                      // address(2) and-mask(2) or-mask(2) (22)
	LayoutReadWrite                      // read address(2) read qty(2) write address(2) write qty(2) byte count(1) registers (23 request)
	LayoutFIFOPointer                    // FIFO pointer address(2) (24 request)
	LayoutFIFO                           // byte count(2) FIFO count(2) registers (24 response)
	LayoutMEI                            // MEI type(1) MEI data (43)
)

var layoutNames = [...]string{"opaque", "empty", "addr_qty", "addr_value", "write_bits", "write_regs",
	"read_bits", "read_regs", "status", "diag", "event_counter", "event_log", "server_id",
	"file_read_request", "file_read_response", "file_write", "mask_write", "read_write",
	"fifo_pointer", "fifo", "mei"}

func (l Layout) String() string {
	if int(l) < len(layoutNames) {
		return layoutNames[l]
	}
	return "layout_" + strconv.Itoa(int(l))
}

// FuncInfo describes one function code: the row of the table that drives
// decoding, encoding and event writing.
type FuncInfo struct {
	Code     FunctionCode
	Name     string // snake_case, as Wireshark and ICSNPP name it
	Class    Class
	Table    Table  // the data table it touches, TableNone if none
	Request  Layout // shape of the request PDU's data
	Response Layout // shape of the normal response PDU's data
	Spec     string // section of the Modbus Application Protocol Specification V1.1b3
}

type funcEntry struct {
	name      string
	class     Class
	table     Table
	req, resp Layout
	spec      string
}

// funcTable is indexed by function code; an entry with an empty name is not
// a public code. Sections refer to the Modbus Application Protocol
// Specification V1.1b3 (modbus.org, 2012).
var funcTable = [128]funcEntry{
	FuncReadCoils:                      {"read_coils", ClassRead, TableCoils, LayoutAddrQty, LayoutReadBits, "6.1"},
	FuncReadDiscreteInputs:             {"read_discrete_inputs", ClassRead, TableDiscreteInputs, LayoutAddrQty, LayoutReadBits, "6.2"},
	FuncReadHoldingRegisters:           {"read_holding_registers", ClassRead, TableHoldingRegisters, LayoutAddrQty, LayoutReadRegs, "6.3"},
	FuncReadInputRegisters:             {"read_input_registers", ClassRead, TableInputRegisters, LayoutAddrQty, LayoutReadRegs, "6.4"},
	FuncWriteSingleCoil:                {"write_single_coil", ClassWrite, TableCoils, LayoutAddrValue, LayoutAddrValue, "6.5"},
	FuncWriteSingleRegister:            {"write_single_register", ClassWrite, TableHoldingRegisters, LayoutAddrValue, LayoutAddrValue, "6.6"},
	FuncReadExceptionStatus:            {"read_exception_status", ClassDiagnostic, TableNone, LayoutEmpty, LayoutStatus, "6.7"},
	FuncDiagnostics:                    {"diagnostics", ClassDiagnostic, TableNone, LayoutDiag, LayoutDiag, "6.8"},
	FuncGetCommEventCounter:            {"get_comm_event_counter", ClassDiagnostic, TableNone, LayoutEmpty, LayoutEventCounter, "6.9"},
	FuncGetCommEventLog:                {"get_comm_event_log", ClassDiagnostic, TableNone, LayoutEmpty, LayoutEventLog, "6.10"},
	FuncWriteMultipleCoils:             {"write_multiple_coils", ClassWrite, TableCoils, LayoutWriteBits, LayoutAddrQty, "6.11"},
	FuncWriteMultipleRegisters:         {"write_multiple_registers", ClassWrite, TableHoldingRegisters, LayoutWriteRegs, LayoutAddrQty, "6.12"},
	FuncReportServerID:                 {"report_server_id", ClassDiagnostic, TableNone, LayoutEmpty, LayoutServerID, "6.13"},
	FuncReadFileRecord:                 {"read_file_record", ClassRead, TableFileRecords, LayoutFileReadRequest, LayoutFileReadResponse, "6.14"},
	FuncWriteFileRecord:                {"write_file_record", ClassWrite, TableFileRecords, LayoutFileWrite, LayoutFileWrite, "6.15"},
	FuncMaskWriteRegister:              {"mask_write_register", ClassWrite, TableHoldingRegisters, LayoutMaskWrite, LayoutMaskWrite, "6.16"},
	FuncReadWriteMultipleRegisters:     {"read_write_multiple_registers", ClassWrite, TableHoldingRegisters, LayoutReadWrite, LayoutReadRegs, "6.17"},
	FuncReadFIFOQueue:                  {"read_fifo_queue", ClassRead, TableHoldingRegisters, LayoutFIFOPointer, LayoutFIFO, "6.18"},
	FuncEncapsulatedInterfaceTransport: {"encapsulated_interface_transport", ClassDiagnostic, TableNone, LayoutMEI, LayoutMEI, "6.19"},
}

// unknownNames holds "unknown_N" for every code, built once so String never
// allocates.
var unknownNames = func() (n [256]string) {
	for i := range n {
		n[i] = "unknown_" + strconv.Itoa(i)
	}
	return n
}()

// ExceptionCode is the single data byte of an exception response
// (MAP V1.1b3, chapter 7).
type ExceptionCode uint8

const (
	ExIllegalFunction                    ExceptionCode = 0x01
	ExIllegalDataAddress                 ExceptionCode = 0x02
	ExIllegalDataValue                   ExceptionCode = 0x03
	ExServerDeviceFailure                ExceptionCode = 0x04
	ExAcknowledge                        ExceptionCode = 0x05
	ExServerDeviceBusy                   ExceptionCode = 0x06
	ExMemoryParityError                  ExceptionCode = 0x08
	ExGatewayPathUnavailable             ExceptionCode = 0x0A
	ExGatewayTargetDeviceFailedToRespond ExceptionCode = 0x0B
)

var exceptionNames = [...]string{
	ExIllegalFunction:                    "illegal_function",
	ExIllegalDataAddress:                 "illegal_data_address",
	ExIllegalDataValue:                   "illegal_data_value",
	ExServerDeviceFailure:                "server_device_failure",
	ExAcknowledge:                        "acknowledge",
	ExServerDeviceBusy:                   "server_device_busy",
	ExMemoryParityError:                  "memory_parity_error",
	ExGatewayPathUnavailable:             "gateway_path_unavailable",
	ExGatewayTargetDeviceFailedToRespond: "gateway_target_device_failed_to_respond",
}

// String returns the snake_case name of e, or "unknown_N".
func (e ExceptionCode) String() string {
	if int(e) < len(exceptionNames) && exceptionNames[e] != "" {
		return exceptionNames[e]
	}
	return unknownNames[e]
}

// SubFunction is the diagnostics (FC 8) sub-function code (MAP V1.1b3,
// 6.8.1).
type SubFunction uint16

const (
	SubReturnQueryData                  SubFunction = 0x00
	SubRestartCommunicationsOption      SubFunction = 0x01
	SubReturnDiagnosticRegister         SubFunction = 0x02
	SubChangeASCIIInputDelimiter        SubFunction = 0x03
	SubForceListenOnlyMode              SubFunction = 0x04
	SubClearCountersAndDiagnosticReg    SubFunction = 0x0A
	SubReturnBusMessageCount            SubFunction = 0x0B
	SubReturnBusCommunicationErrorCount SubFunction = 0x0C
	SubReturnBusExceptionErrorCount     SubFunction = 0x0D
	SubReturnServerMessageCount         SubFunction = 0x0E
	SubReturnServerNoResponseCount      SubFunction = 0x0F
	SubReturnServerNAKCount             SubFunction = 0x10
	SubReturnServerBusyCount            SubFunction = 0x11
	SubReturnBusCharacterOverrunCount   SubFunction = 0x12
	SubClearOverrunCounterAndFlag       SubFunction = 0x14
)

// subFunctions names each sub-function twice: the snake_case name of
// events and the phrase of alert sentences ("force listen only mode").
var subFunctions = [...]struct{ name, phrase string }{
	SubReturnQueryData:                  {"return_query_data", "return query data"},
	SubRestartCommunicationsOption:      {"restart_communications_option", "restart communications"},
	SubReturnDiagnosticRegister:         {"return_diagnostic_register", "return diagnostic register"},
	SubChangeASCIIInputDelimiter:        {"change_ascii_input_delimiter", "change ASCII input delimiter"},
	SubForceListenOnlyMode:              {"force_listen_only_mode", "force listen only mode"},
	SubClearCountersAndDiagnosticReg:    {"clear_counters_and_diagnostic_register", "clear counters and diagnostic register"},
	SubReturnBusMessageCount:            {"return_bus_message_count", "return bus message count"},
	SubReturnBusCommunicationErrorCount: {"return_bus_communication_error_count", "return bus communication error count"},
	SubReturnBusExceptionErrorCount:     {"return_bus_exception_error_count", "return bus exception error count"},
	SubReturnServerMessageCount:         {"return_server_message_count", "return server message count"},
	SubReturnServerNoResponseCount:      {"return_server_no_response_count", "return server no response count"},
	SubReturnServerNAKCount:             {"return_server_nak_count", "return server NAK count"},
	SubReturnServerBusyCount:            {"return_server_busy_count", "return server busy count"},
	SubReturnBusCharacterOverrunCount:   {"return_bus_character_overrun_count", "return bus character overrun count"},
	SubClearOverrunCounterAndFlag:       {"clear_overrun_counter_and_flag", "clear overrun counter"},
}

// String returns the snake_case name of s, or "unknown" for a reserved code
// (the number itself is always written next to it in events).
func (s SubFunction) String() string {
	if int(s) < len(subFunctions) && subFunctions[s].name != "" {
		return subFunctions[s].name
	}
	return "unknown"
}

// Phrase returns what s does in words, for sentences ("restart
// communications"), or "unknown sub-function" for a reserved code.
func (s SubFunction) Phrase() string {
	if int(s) < len(subFunctions) && subFunctions[s].phrase != "" {
		return subFunctions[s].phrase
	}
	return "unknown sub-function"
}

// MEIType is the first data byte of an Encapsulated Interface Transport
// (FC 43) PDU (MAP V1.1b3, 6.19).
type MEIType uint8

const (
	MEICANopenGeneralReference MEIType = 13 // 6.20
	MEIReadDeviceID            MEIType = 14 // 6.21
)

func (m MEIType) String() string {
	switch m {
	case MEICANopenGeneralReference:
		return "canopen_general_reference"
	case MEIReadDeviceID:
		return "read_device_identification"
	}
	return "unknown"
}

// ReadDeviceIDCode selects what a Read Device Identification request asks
// for (MAP V1.1b3, 6.21).
type ReadDeviceIDCode uint8

const (
	ReadDeviceIDBasic      ReadDeviceIDCode = 1 // stream access, objects 0-2
	ReadDeviceIDRegular    ReadDeviceIDCode = 2 // stream access, objects 0-0x7F
	ReadDeviceIDExtended   ReadDeviceIDCode = 3 // stream access, objects 0-0xFF
	ReadDeviceIDIndividual ReadDeviceIDCode = 4 // one specific object
)

func (c ReadDeviceIDCode) String() string {
	switch c {
	case ReadDeviceIDBasic:
		return "basic"
	case ReadDeviceIDRegular:
		return "regular"
	case ReadDeviceIDExtended:
		return "extended"
	case ReadDeviceIDIndividual:
		return "individual"
	}
	return "unknown"
}

// Device identification object ids (MAP V1.1b3, 6.21, table of objects).
const (
	ObjVendorName          uint8 = 0x00
	ObjProductCode         uint8 = 0x01
	ObjMajorMinorRevision  uint8 = 0x02
	ObjVendorURL           uint8 = 0x03
	ObjProductName         uint8 = 0x04
	ObjModelName           uint8 = 0x05
	ObjUserApplicationName uint8 = 0x06
)

var objectNames = [...]string{"VendorName", "ProductCode", "MajorMinorRevision", "VendorUrl",
	"ProductName", "ModelName", "UserApplicationName"}

// ObjectName returns the spec's name of a device identification object
// ("VendorName") or "" for reserved (7-0x7F) and private (0x80-0xFF) ids.
func ObjectName(id uint8) string {
	if int(id) < len(objectNames) {
		return objectNames[id]
	}
	return ""
}
