package baselines

import (
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// TestProgramTransfer: UMAS requests that move a program raise
// program_transfer in every mode, once per channel and direction however
// many blocks follow; other UMAS functions (init_comm, stop_plc) and other
// function codes raise nothing.
func TestProgramTransfer(t *testing.T) {
	for _, mode := range []Mode{Learn, Monitor, Auto} {
		e := New(Config{Mode: mode})
		var sigs []string
		for i, f := range []modbus.UMASFunction{modbus.UMASInitComm, modbus.UMASStopPLC, modbus.UMASInitializeDownload,
			modbus.UMASDownloadBlock, modbus.UMASDownloadBlock, modbus.UMASEndStrategyDownload,
			modbus.UMASInitializeUpload, modbus.UMASUploadBlock, modbus.UMASEndStrategyUpload, modbus.UMASStartPLC} {
			o := mb(t0.Add(time.Duration(i)*time.Second), hmi, 1, 90)
			mbOf(&o).UMAS = f
			for _, a := range e.Observe(&o) {
				if a.Rule == ProgramTransfer {
					sigs = append(sigs, a.Signature)
				}
			}
		}
		want := []string{
			"Modbus master 10.10.1.10 reads the program out of PLC 10.10.2.1 unit 1 (UMAS initialize_download)",
			"Modbus master 10.10.1.10 writes a program into PLC 10.10.2.1 unit 1 (UMAS initialize_upload)",
		}
		if len(sigs) != len(want) || sigs[0] != want[0] || sigs[1] != want[1] {
			t.Errorf("%s: alerts %q, want %q", mode, sigs, want)
		}
	}
}

// TestPLCModeChange: UMAS STOP_PLC and START_PLC raise plc_mode_change in
// every mode, once per channel and direction; program transfers and other
// UMAS functions do not.
func TestPLCModeChange(t *testing.T) {
	for _, mode := range []Mode{Learn, Monitor, Auto} {
		e := New(Config{Mode: mode})
		var sigs []string
		for i, f := range []modbus.UMASFunction{modbus.UMASInitComm, modbus.UMASStopPLC, modbus.UMASStopPLC,
			modbus.UMASInitializeUpload, modbus.UMASStartPLC, modbus.UMASReadID} {
			o := mb(t0.Add(time.Duration(i)*time.Second), hmi, 1, 90)
			mbOf(&o).UMAS = f
			for _, a := range e.Observe(&o) {
				if a.Rule == PLCModeChange {
					sigs = append(sigs, a.Signature)
				}
			}
		}
		want := []string{
			"Modbus master 10.10.1.10 stops PLC 10.10.2.1 unit 1 (UMAS stop_plc)",
			"Modbus master 10.10.1.10 starts PLC 10.10.2.1 unit 1 (UMAS start_plc)",
		}
		if len(sigs) != len(want) || sigs[0] != want[0] || sigs[1] != want[1] {
			t.Errorf("%s: alerts %q, want %q", mode, sigs, want)
		}
	}
}
