package dnp3

import "strconv"

// FunctionCode is the application-layer function code (IEEE 1815-2012,
// 4.2.2.5): 0-33 in requests from a master, 129-131 in responses from an
// outstation.
type FunctionCode uint8

// Function codes (IEEE 1815-2012, table 4-3 and 4.2.2.5.1-4.2.2.5.3).
const (
	FuncConfirm                    FunctionCode = 0x00
	FuncRead                       FunctionCode = 0x01
	FuncWrite                      FunctionCode = 0x02
	FuncSelect                     FunctionCode = 0x03
	FuncOperate                    FunctionCode = 0x04
	FuncDirectOperate              FunctionCode = 0x05
	FuncDirectOperateNR            FunctionCode = 0x06
	FuncImmediateFreeze            FunctionCode = 0x07
	FuncImmediateFreezeNR          FunctionCode = 0x08
	FuncFreezeClear                FunctionCode = 0x09
	FuncFreezeClearNR              FunctionCode = 0x0A
	FuncFreezeAtTime               FunctionCode = 0x0B
	FuncFreezeAtTimeNR             FunctionCode = 0x0C
	FuncColdRestart                FunctionCode = 0x0D
	FuncWarmRestart                FunctionCode = 0x0E
	FuncInitializeData             FunctionCode = 0x0F // obsolete
	FuncInitializeApplication      FunctionCode = 0x10
	FuncStartApplication           FunctionCode = 0x11
	FuncStopApplication            FunctionCode = 0x12
	FuncSaveConfiguration          FunctionCode = 0x13 // deprecated
	FuncEnableUnsolicited          FunctionCode = 0x14
	FuncDisableUnsolicited         FunctionCode = 0x15
	FuncAssignClass                FunctionCode = 0x16
	FuncDelayMeasurement           FunctionCode = 0x17
	FuncRecordCurrentTime          FunctionCode = 0x18
	FuncOpenFile                   FunctionCode = 0x19
	FuncCloseFile                  FunctionCode = 0x1A
	FuncDeleteFile                 FunctionCode = 0x1B
	FuncGetFileInfo                FunctionCode = 0x1C
	FuncAuthenticateFile           FunctionCode = 0x1D
	FuncAbortFile                  FunctionCode = 0x1E
	FuncActivateConfig             FunctionCode = 0x1F
	FuncAuthenticationRequest      FunctionCode = 0x20
	FuncAuthenticationRequestNoAck FunctionCode = 0x21
	FuncResponse                   FunctionCode = 0x81
	FuncUnsolicitedResponse        FunctionCode = 0x82
	FuncAuthenticationResponse     FunctionCode = 0x83
	lastRequestCode                             = FuncAuthenticationRequestNoAck
)

var funcNames = [256]string{
	FuncConfirm:                    "confirm",
	FuncRead:                       "read",
	FuncWrite:                      "write",
	FuncSelect:                     "select",
	FuncOperate:                    "operate",
	FuncDirectOperate:              "direct_operate",
	FuncDirectOperateNR:            "direct_operate_nr",
	FuncImmediateFreeze:            "immediate_freeze",
	FuncImmediateFreezeNR:          "immediate_freeze_nr",
	FuncFreezeClear:                "freeze_clear",
	FuncFreezeClearNR:              "freeze_clear_nr",
	FuncFreezeAtTime:               "freeze_at_time",
	FuncFreezeAtTimeNR:             "freeze_at_time_nr",
	FuncColdRestart:                "cold_restart",
	FuncWarmRestart:                "warm_restart",
	FuncInitializeData:             "initialize_data",
	FuncInitializeApplication:      "initialize_application",
	FuncStartApplication:           "start_application",
	FuncStopApplication:            "stop_application",
	FuncSaveConfiguration:          "save_configuration",
	FuncEnableUnsolicited:          "enable_unsolicited",
	FuncDisableUnsolicited:         "disable_unsolicited",
	FuncAssignClass:                "assign_class",
	FuncDelayMeasurement:           "delay_measurement",
	FuncRecordCurrentTime:          "record_current_time",
	FuncOpenFile:                   "open_file",
	FuncCloseFile:                  "close_file",
	FuncDeleteFile:                 "delete_file",
	FuncGetFileInfo:                "get_file_info",
	FuncAuthenticateFile:           "authenticate_file",
	FuncAbortFile:                  "abort_file",
	FuncActivateConfig:             "activate_config",
	FuncAuthenticationRequest:      "authentication_request",
	FuncAuthenticationRequestNoAck: "authentication_request_no_ack",
	FuncResponse:                   "response",
	FuncUnsolicitedResponse:        "unsolicited_response",
	FuncAuthenticationResponse:     "authentication_response",
}

// unknownNames holds "unknown_N" for every code, built once so that naming
// an undefined code does not allocate.
var unknownNames = func() (n [256]string) {
	for i := range n {
		n[i] = "unknown_" + strconv.Itoa(i)
	}
	return n
}()

// String returns the code's snake_case name ("direct_operate"), or
// "unknown_N" for a code IEEE 1815-2012 does not define.
func (f FunctionCode) String() string {
	if n := funcNames[f]; n != "" {
		return n
	}
	return unknownNames[f]
}

// Known reports whether IEEE 1815-2012 defines f.
func (f FunctionCode) Known() bool { return funcNames[f] != "" }

// IsResponse reports whether f is sent by an outstation: response,
// unsolicited response or authentication response. Their application
// header carries the internal indications (4.2.2.6).
func (f FunctionCode) IsResponse() bool { return f >= FuncResponse && f <= FuncAuthenticationResponse }

// ExpectsResponse reports whether a master's request of this code is
// answered: every request but confirm, the no-acknowledgement codes
// (direct_operate_nr, immediate_freeze_nr, freeze_clear_nr,
// freeze_at_time_nr, authentication_request_no_ack; 4.2.2.5.1) and codes
// IEEE 1815-2012 does not define.
func (f FunctionCode) ExpectsResponse() bool {
	switch f {
	case FuncConfirm, FuncDirectOperateNR, FuncImmediateFreezeNR, FuncFreezeClearNR, FuncFreezeAtTimeNR,
		FuncAuthenticationRequestNoAck:
		return false
	}
	return f <= lastRequestCode
}

// headerOnly reports whether a request of code f carries object headers
// without data (the points are named, not given): reads, freezes,
// enable/disable unsolicited and assign class (IEEE 1815-2012, 4.4.2,
// 4.4.7-4.4.10, 4.4.13, 4.4.15). Freeze-at-time's time-and-interval object
// (group 50) carries its data all the same.
func headerOnly(f FunctionCode, group uint8) bool {
	switch f {
	case FuncRead, FuncImmediateFreeze, FuncImmediateFreezeNR, FuncFreezeClear, FuncFreezeClearNR,
		FuncEnableUnsolicited, FuncDisableUnsolicited, FuncAssignClass:
		return true
	case FuncFreezeAtTime, FuncFreezeAtTimeNR:
		return group != 50
	}
	return false
}

// IIN is the internal indications of a response (IEEE 1815-2012, 4.2.2.7):
// IIN1 in the high octet, IIN2 in the low one, as Wireshark shows them.
type IIN uint16

// Internal indication bits.
const (
	IINBroadcast           IIN = 0x0100 << iota       // IIN1.0 all stations: a broadcast was received
	IINClass1Events                                   // IIN1.1
	IINClass2Events                                   // IIN1.2
	IINClass3Events                                   // IIN1.3
	IINNeedTime                                       // IIN1.4 time synchronisation required
	IINLocalControl                                   // IIN1.5 some output points in local mode
	IINDeviceTrouble                                  // IIN1.6
	IINDeviceRestart                                  // IIN1.7
	IINNoFuncCodeSupport   IIN = 0x0001 << (iota - 8) // IIN2.0 function code not implemented
	IINObjectUnknown                                  // IIN2.1
	IINParameterError                                 // IIN2.2
	IINEventBufferOverflow                            // IIN2.3
	IINAlreadyExecuting                               // IIN2.4
	IINConfigCorrupt                                  // IIN2.5
	IINReserved2                                      // IIN2.6
	IINReserved1                                      // IIN2.7
)

// iinNames are the indications in bit order, IIN1.0 to IIN2.7, with the
// names Suricata's dnp3_ind keyword and EVE log use.
var iinNames = [16]string{
	"all_stations", "class_1_events", "class_2_events", "class_3_events",
	"need_time", "local_control", "device_trouble", "device_restart",
	"no_func_code_support", "object_unknown", "parameter_error", "event_buffer_overflow",
	"already_executing", "config_corrupt", "reserved_2", "reserved_1",
}

// iinBit returns the IIN bit of indication i (0-15, IIN1.0 to IIN2.7).
func iinBit(i int) IIN {
	if i < 8 {
		return IIN(0x0100) << i
	}
	return IIN(1) << (i - 8)
}

// Names calls yield with the name of every indication set in v, IIN1.0
// first.
func (v IIN) Names(yield func(string) bool) {
	for i, n := range iinNames {
		if v&iinBit(i) != 0 && !yield(n) {
			return
		}
	}
}
