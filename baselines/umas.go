package baselines

import (
	"fmt"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// program_transfer (issue #14 §2): a Schneider UMAS (Modbus FC 90) client
// writes a program into the PLC (T0843 Program Download: the logic
// replaced) or reads the PLC's program out (T0845 Program Upload: the
// logic an attacker studies first). UMAS calls the first "upload"
// (0x30-0x32) and the second "download" (0x33-0x35), the other way round
// from ATT&CK (modbus.UMASFunction.Transfer). A signature rule like
// dnp3_file_operation: it fires in every mode, learning included, because
// a transfer is rare and always worth a line; one deviation per channel
// and direction, so the hundreds of blocks of one transfer raise one alert.
//
// plc_mode_change: UMAS STOP_PLC and START_PLC (0x41, 0x40) put the PLC
// out of or back into run mode (T0858 Change Operating Mode; a stop halts
// the process logic, T0881 Service Stop). The same kind of signature: one
// deviation per channel and direction (item what "stop" or "start").

// The rules; their numbers are stable.
const (
	ProgramTransfer Rule = 34
	PLCModeChange   Rule = 41
)

func init() {
	addRules([]ruleInfo{
		{ProgramTransfer, "program_transfer", 1, "Program Download", false, false, []string{"T0843", "T0845"}},
		{PLCModeChange, "plc_mode_change", 1, "Change Operating Mode", false, false, []string{"T0858", "T0881"}},
	})
}

// umasSignatures raises the UMAS rules of a request (m.UMAS is 0 for any
// request that is not UMAS).
func umasSignatures(e *Engine, o *Observation, m *ModbusObs, key *ChannelKey) {
	programTransfer(e, o, m, key)
	plcModeChange(e, o, m, key)
}

// plcModeChange raises plc_mode_change for UMAS STOP_PLC and START_PLC.
func plcModeChange(e *Engine, o *Observation, m *ModbusObs, key *ChannelKey) {
	var what, verb string
	switch m.UMAS {
	case modbus.UMASStopPLC:
		what, verb = "stop", "stops"
	case modbus.UMASStartPLC:
		what, verb = "start", "starts"
	default:
		return
	}
	if a := e.raise(o.Time, PLCModeChange, *key, Item{Function: uint8(modbus.FuncUMAS), What: what}, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("Modbus master %s %s PLC %s unit %d (UMAS %s)", key.Client, verb, key.Server, key.Unit, m.UMAS))
	}
}

// programTransfer raises program_transfer for a UMAS request that moves a
// program (m.UMAS is 0 for any request that is not UMAS).
func programTransfer(e *Engine, o *Observation, m *ModbusObs, key *ChannelKey) {
	flow := m.UMAS.Transfer()
	if flow == "" {
		return
	}
	what := "writes a program into"
	if flow == "from_plc" {
		what = "reads the program out of"
	}
	if a := e.raise(o.Time, ProgramTransfer, *key, Item{Function: uint8(modbus.FuncUMAS), What: flow}, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("Modbus master %s %s PLC %s unit %d (UMAS %s)",
			key.Client, what, key.Server, key.Unit, m.UMAS))
	}
}
