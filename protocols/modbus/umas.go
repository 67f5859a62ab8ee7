package modbus

// Schneider Electric's UMAS (Unified Messaging Application Services) rides
// on Modbus function code 90 (0x5A), which the Modbus specification leaves
// to vendors: Unity/EcoStruxure Control Expert programs, starts, stops and
// reads Modicon M340/M580 PLCs with it. Schneider publishes no
// specification; the layout and the function codes below are those of the
// public research (Kaspersky ICS CERT, "The Secrets of Schneider
// Electric's UMAS Protocol", 2022) as Wireshark's recent dissector names
// them (epan/dissectors/packet-mbtcp.h; the tshark 4.0 of the tests has
// no UMAS dissector, so no oracle checks these names):
//
//	request:  90 | pairing key (1) | UMAS function (1) | data
//	response: 90 | pairing key (1) | status (1): 0xFE ok, 0xFD error | data
//
// The pairing key is 0 until a client takes the PLC's reservation (0x10),
// then the byte the PLC handed out for the session. FC 90 stays a vendor
// code in the function table (its function name is "unknown_90", as
// before); the UMAS header is decoded beside it, the rest stays opaque.

// FuncUMAS is the function code UMAS uses.
const FuncUMAS FunctionCode = 90

// UMASFunction is the UMAS function code of a request (the byte after the
// pairing key), or the status of a response (UMASOK, UMASError).
type UMASFunction uint8

// UMAS function codes (Wireshark's packet-mbtcp.h names them the same).
const (
	UMASInitComm              UMASFunction = 0x01
	UMASReadID                UMASFunction = 0x02
	UMASReadProjectInfo       UMASFunction = 0x03
	UMASReadPLCInfo           UMASFunction = 0x04
	UMASReadCardInfo          UMASFunction = 0x06
	UMASRepeat                UMASFunction = 0x0A
	UMASTakePLCReservation    UMASFunction = 0x10
	UMASReleasePLCReservation UMASFunction = 0x11
	UMASKeepAlive             UMASFunction = 0x12
	UMASReadMemoryBlock       UMASFunction = 0x20
	UMASReadVariables         UMASFunction = 0x22
	UMASWriteVariables        UMASFunction = 0x23
	UMASReadCoilsRegisters    UMASFunction = 0x24
	UMASWriteCoilsRegisters   UMASFunction = 0x25
	UMASDataDictionary        UMASFunction = 0x26
	UMASInitializeUpload      UMASFunction = 0x30 // a program into the PLC (Transfer)
	UMASUploadBlock           UMASFunction = 0x31
	UMASEndStrategyUpload     UMASFunction = 0x32
	UMASInitializeDownload    UMASFunction = 0x33 // the PLC's program out (Transfer)
	UMASDownloadBlock         UMASFunction = 0x34
	UMASEndStrategyDownload   UMASFunction = 0x35
	UMASReadEthMasterData     UMASFunction = 0x39
	UMASStartPLC              UMASFunction = 0x40
	UMASStopPLC               UMASFunction = 0x41
	UMASMonitorPLC            UMASFunction = 0x50
	UMASCheckPLC              UMASFunction = 0x58
	UMASReadIOObject          UMASFunction = 0x70
	UMASWriteIOObject         UMASFunction = 0x71
	UMASGetStatusModule       UMASFunction = 0x73
	UMASError                 UMASFunction = 0xFD // response status
	UMASOK                    UMASFunction = 0xFE // response status
)

var umasNames = [256]string{
	UMASInitComm:              "init_comm",
	UMASReadID:                "read_id",
	UMASReadProjectInfo:       "read_project_info",
	UMASReadPLCInfo:           "read_plc_info",
	UMASReadCardInfo:          "read_card_info",
	UMASRepeat:                "repeat",
	UMASTakePLCReservation:    "take_plc_reservation",
	UMASReleasePLCReservation: "release_plc_reservation",
	UMASKeepAlive:             "keep_alive",
	UMASReadMemoryBlock:       "read_memory_block",
	UMASReadVariables:         "read_variables",
	UMASWriteVariables:        "write_variables",
	UMASReadCoilsRegisters:    "read_coils_registers",
	UMASWriteCoilsRegisters:   "write_coils_registers",
	UMASDataDictionary:        "data_dictionary",
	UMASInitializeUpload:      "initialize_upload",
	UMASUploadBlock:           "upload_block",
	UMASEndStrategyUpload:     "end_strategy_upload",
	UMASInitializeDownload:    "initialize_download",
	UMASDownloadBlock:         "download_block",
	UMASEndStrategyDownload:   "end_strategy_download",
	UMASReadEthMasterData:     "read_eth_master_data",
	UMASStartPLC:              "start_plc",
	UMASStopPLC:               "stop_plc",
	UMASMonitorPLC:            "monitor_plc",
	UMASCheckPLC:              "check_plc",
	UMASReadIOObject:          "read_io_object",
	UMASWriteIOObject:         "write_io_object",
	UMASGetStatusModule:       "get_status_module",
	UMASError:                 "error",
	UMASOK:                    "ok",
}

// String returns the snake_case name of f ("initialize_download"), or
// "unknown_N" for a code the public research does not name.
func (f UMASFunction) String() string {
	if n := umasNames[f]; n != "" {
		return n
	}
	return unknownNames[f]
}

// Transfer tells a program transfer apart by where the program goes:
// "to_plc" for the functions that write a program into the PLC, "from_plc"
// for those that read it out, "" otherwise. UMAS names the directions the
// other way round from the engineer's (and ATT&CK's) words: its "upload"
// functions (0x30-0x32) copy a program from the engineering station into
// the PLC, its "download" ones (0x33-0x35) copy the PLC's program to the
// station. The public captures agree: in iti_modicon_test.pcap (frames
// 76-186) every download_block request is 6 bytes of data, its response
// up to 251 bytes of the program.
func (f UMASFunction) Transfer() string {
	switch {
	case f >= UMASInitializeUpload && f <= UMASEndStrategyUpload:
		return "to_plc"
	case f >= UMASInitializeDownload && f <= UMASEndStrategyDownload:
		return "from_plc"
	}
	return ""
}

// UMAS is the header of a UMAS PDU: the pairing key and the request's
// function or the response's status. Valid is false when the PDU is not
// FC 90 or too short to carry the header (the data then stays whole).
type UMAS struct {
	Key      uint8
	Function UMASFunction
	Valid    bool
}

// umasHeader splits the data of an FC 90 PDU into its header and the rest.
func umasHeader(data []byte) (UMAS, []byte) {
	if len(data) < 2 {
		return UMAS{}, data
	}
	return UMAS{Key: data[0], Function: UMASFunction(data[1]), Valid: true}, data[2:]
}
