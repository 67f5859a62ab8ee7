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
// UMAS START_PLC and STOP_PLC (0x40, 0x41) are named in events but raise
// no rule here: they change the operating mode, they transfer nothing.

// ProgramTransfer is the rule; its number is stable.
const ProgramTransfer Rule = 34

func init() {
	addRules([]ruleInfo{
		{ProgramTransfer, "program_transfer", 1, "Program Download", false, false, []string{"T0843", "T0845"}},
	})
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
