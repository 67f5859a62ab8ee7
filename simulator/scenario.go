package simulator

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/gopcua/opcua/ua"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// Label describes one injected attack: when it happened on the wire, between
// whom, which detection rules (names of issue 3, 7) should fire and the MITRE
// ATT&CK for ICS techniques it demonstrates.
type Label struct {
	Name          string
	Start, End    time.Time
	SrcIP, DestIP string
	ExpectedRules []string
	MITRE         []string
	// Incident names the incident the attack's alerts must form (Sluice
	// groups alerts by actor and target): attacks with the same key are
	// one incident, with different keys different ones.
	Incident string
}

// Scenario is normal operation with zero or more attacks injected.
type Scenario struct {
	Name        string
	Description string
	attacks     []attack
}

// attack is one labelled attack: its steps at offsets from the attack start.
type attack struct {
	name   string
	src    Host
	dst    Host
	rules  []string
	mitre  []string
	steps  []step
	extend time.Duration // the window goes on after the last step (poll_stop's return)
	// synthesized: the steps write onto a capture's wire (the IT side,
	// it_scenarios.go) and send nothing live.
	synthesized bool
}

type step struct {
	at  time.Duration // from the attack start
	run func(e *env) error
}

// event is one action on the scheduler's timeline.
type event struct {
	at    time.Duration
	run   func(e *env) error
	label int  // index into the run's labels, -1 for normal traffic
	opcua bool // talks to the OPC UA server
	dnp3  bool // talks to the DNP3 gate station
}

// attackStart is when attacks begin: 60 % into the capture (6 min of 10),
// at least 30 s in, so there is normal traffic before and after.
func attackStart(d time.Duration) time.Duration {
	return max(30*time.Second, (d * 6 / 10).Truncate(time.Second))
}

// Scenarios returns every scenario, "normal" first.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "normal", Description: "normal operation only: HMI polls, OPC UA historian, operator setpoints, engineering workstation"},
		{Name: "rogue_master", Description: "a new host writes the spillway gate 1 setpoint", attacks: []attack{atkRogueMaster}},
		{Name: "unexpected_write", Description: "the HMI writes the high-level alarm limit, a register it never writes", attacks: []attack{atkUnexpectedWrite}},
		{Name: "out_of_range_setpoint", Description: "the HMI opens spillway gate 1 to 95 % (normal 12.5-17.5 %)", attacks: []attack{atkOutOfRange}},
		{Name: "diagnostics", Description: "FC 8: force listen-only mode, then restart communications", attacks: []attack{atkDiagnostics}},
		{Name: "recon", Description: "FC 43/14 device identification, FC 17, unit-id sweep and address sweep", attacks: []attack{atkRecon}},
		{Name: "write_flood", Description: "the HMI writes the gate 1 setpoint 200 times in 10 s", attacks: []attack{atkWriteFlood}},
		{Name: "poll_stop", Description: "the HMI goes silent for 3 minutes, then returns", attacks: []attack{atkPollStop}},
		{Name: "malformed", Description: "after a valid read, bad MBAP lengths and a bad protocol id on the same connection; HTTP on port 502", attacks: []attack{atkMalformed}},
		{Name: "opcua_anonymous_write", Description: "an anonymous OPC UA session writes the gate 1 setpoint", attacks: []attack{atkUAAnonWrite}},
		{Name: "opcua_new_client", Description: "an unknown laptop browses the OPC UA address space and reads every tag", attacks: []attack{atkUANewClient}},
		{Name: "opcua_security_downgrade", Description: "the historian reconnects with an anonymous token instead of its user name", attacks: []attack{atkUADowngrade}},
		{Name: "opcua_method_call", Description: "the historian's session calls Dam.AcknowledgeAlarms, a method it never calls", attacks: []attack{atkUACall}},
		{Name: "opcua_cleartext_login", Description: "the historian reconnects with its user-name token's password in clear (a client reconfigured without token encryption)", attacks: []attack{atkUACleartext}},
		{Name: "dnp3_rogue_master", Description: "a new host reads the gate RTU over DNP3 and latches spillway gate 2's drive off (CROB)", attacks: []attack{atkDNP3RogueMaster}},
		{Name: "dnp3_cold_restart", Description: "a cold restart of the gate RTU on the SCADA master's own DNP3 connection", attacks: []attack{atkDNP3ColdRestart}},
		{Name: "dnp3_disable_unsolicited", Description: "the SCADA master's connection disables the RTU's unsolicited reporting (its alarms go quiet)", attacks: []attack{atkDNP3DisableUnsolicited}},
		{Name: "dnp3_file_write", Description: "the engineering workstation opens, writes and closes a configuration file on the gate RTU over DNP3", attacks: []attack{atkDNP3FileWrite}},
		{Name: "level_replay", Description: "a man in the middle answers the HMI's reads of the dam's measurements with an old response for 3 minutes (level, flows, gate positions frozen) while the operator opens both gates", attacks: []attack{atkLevelReplay}},
		{Name: "spillway_night", Description: "at night (the capture's clock starts at midnight), the compromised HMI opens spillway gate 2 fully (normal 12.5-17.5 %)", attacks: []attack{atkSpillwayNight}},
		{Name: "turbine_overspeed", Description: "the compromised HMI drives turbine 1's power setpoint to 34 MW (rated 25, trips above 30): the unit overloads, trips and overspeeds to 420 rpm (normal 295-305)", attacks: []attack{atkTurbineOverspeed}},
		{Name: "dnp3_out_of_range_setpoint", Description: "the SCADA master sets the ecological release to 9.5 m3/s (select, operate; permit 2-3)", attacks: []attack{atkDNP3OutOfRange}},
		{Name: "lateral_movement", Description: "the compromised engineering workstation copies a service to the HMI over SMB (psexec), then opens RDP to the historian", attacks: []attack{atkLateralSMB, atkLateralRDP}},
		{Name: "c2_beacon", Description: "the compromised HMI checks in with a command-and-control server on the Internet over TLS every 60 s", attacks: []attack{atkC2Beacon}},
		{Name: "it_port_scan", Description: "an unknown host SYN-scans 34 ports of the PLC, the OPC UA server and the gate RTU", attacks: []attack{atkPortScan}},
		{Name: "plc_remote_shell", Description: "the engineering workstation logs in to the PLC's VxWorks shell over Telnet with the default account", attacks: []attack{atkRemoteShell}},
	}
}

// ScenarioByName returns the scenario called name.
func ScenarioByName(name string) (Scenario, error) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, nil
		}
	}
	return Scenario{}, fmt.Errorf("simulator: unknown scenario %q (see 'sluice sim scenarios')", name)
}

// Operator setpoints: the operator moves both gates through these values, so
// an hour of normal traffic shows each of them (a baseline's envelope) and
// any ten minutes shows only them.
var operatorGate = []float64{15, 12.5, 17.5}

// historianTags are what the SCADA historian reads every 2 s.
var historianTags = []string{TagLevel, TagInflow, TagOutflow, TagGate1Pos, TagGate2Pos, TagT1Power, TagT2Power, TagTurbidity}

// normalEvents is the timeline of normal operation for duration d.
func normalEvents(d time.Duration, seed uint64) []event {
	rng := rand.New(rand.NewPCG(seed, 0x0e7a70))
	var evs []event
	add := func(at time.Duration, f func(*env) error) {
		if at < d {
			evs = append(evs, event{at: at, run: f, label: -1})
		}
	}
	addUA := func(at time.Duration, f func(*env) error) {
		if at < d {
			evs = append(evs, event{at: at, run: f, label: -1, opcua: true})
		}
	}
	// HMI: measurements every second, setpoints every fifth.
	for k := time.Duration(1); k*time.Second < d; k++ {
		sp := k%5 == 0
		add(k*time.Second+50*time.Millisecond, func(e *env) error { return hmiPoll(e, sp) })
	}
	// Operator: both gates to the next value every 6-9 minutes.
	for t := 120*time.Second + time.Duration(rng.IntN(120))*time.Second; t < d; t += 360*time.Second + time.Duration(rng.IntN(180))*time.Second {
		add(t+400*time.Millisecond, operatorStep)
	}
	// Engineering workstation: reads the configuration now and then.
	for t := 180*time.Second + time.Duration(rng.IntN(600))*time.Second; t < d; t += 30 * time.Minute {
		add(t+250*time.Millisecond, ewsVisit)
	}
	// SCADA historian: one OPC UA session, reads every 2 s.
	addUA(500*time.Millisecond, historianConnect)
	for k := time.Duration(1); 2*k*time.Second < d; k++ {
		addUA(2*k*time.Second+700*time.Millisecond, historianRead)
	}
	for k := time.Duration(1); 10*k*time.Second < d; k++ {
		addUA(10*k*time.Second+1300*time.Millisecond, historianPublish)
	}
	// SCADA master and the DNP3 gate station: an event poll every 10 s,
	// an integrity poll every minute, the RTU's unsolicited level report
	// every 30 s, the operator's release setpoint every 7-11 minutes.
	addDNP3 := func(at time.Duration, f func(*env) error) {
		if at < d {
			evs = append(evs, event{at: at, run: f, label: -1, dnp3: true})
		}
	}
	for k := time.Duration(1); 10*k*time.Second < d; k++ {
		addDNP3(10*k*time.Second+3100*time.Millisecond, func(e *env) error { return dnp3Poll(e, false) })
	}
	for k := time.Duration(1); 60*k*time.Second < d; k++ {
		addDNP3(60*k*time.Second+8300*time.Millisecond, func(e *env) error { return dnp3Poll(e, true) })
	}
	for k := time.Duration(1); 30*k*time.Second < d; k++ {
		addDNP3(30*k*time.Second+17*time.Second+400*time.Millisecond, dnp3Report)
	}
	for t := 200*time.Second + time.Duration(rng.IntN(120))*time.Second; t < d; t += 420*time.Second + time.Duration(rng.IntN(240))*time.Second {
		addDNP3(t+600*time.Millisecond, dnp3Operator)
	}
	// A day of operation includes stopping a generating unit and starting
	// it again (issue #14: the learned and the held-back normal days hold
	// a turbine start-up): the operator opens turbine 2's breaker 12-16
	// minutes in and closes it 4 minutes later; the unit coasts down, then
	// spins up and ramps to its setpoint. Only captures longer than 20
	// minutes hold it (the attack scenarios' 10 do not), and its times
	// are drawn last, so that the other events keep theirs.
	if d > 20*time.Minute {
		t := 12*time.Minute + time.Duration(rng.IntN(240))*time.Second
		add(t+800*time.Millisecond, func(e *env) error { return hmiBreaker(e, TagT2Breaker, false) })
		add(t+4*time.Minute+800*time.Millisecond, func(e *env) error { return hmiBreaker(e, TagT2Breaker, true) })
	}
	return append(evs, itEvents(d, seed)...)
}

// hmiBreaker is the operator opening or closing a generating unit's
// breaker from the HMI (FC 5).
func hmiBreaker(e *env, tag string, closed bool) error {
	if e.hmiSilent {
		return nil
	}
	t := TagByName(tag)
	return hmiDo(e, t.UnitID, func(c *mb.ModbusClient) error { return c.WriteCoil(t.Addr, closed) })
}

func hmiPoll(e *env, setpoints bool) error {
	if e.hmiSilent {
		return nil
	}
	if e.hmi == nil {
		s, err := e.openLib(HostHMI)
		if err != nil {
			return err
		}
		e.hmi = s
	}
	c := e.hmi.c
	type rq struct {
		unit  uint8
		table Table
		n     uint16
	}
	reqs := []rq{{UnitDam, InputRegisters, 9}, {UnitDam, DiscreteInputs, 4}, {UnitTurbine, InputRegisters, 6}, {UnitTurbine, DiscreteInputs, 4}}
	if setpoints {
		reqs = append(reqs, rq{UnitDam, HoldingRegisters, 4}, rq{UnitTurbine, HoldingRegisters, 2}, rq{UnitDam, Coils, 3}, rq{UnitTurbine, Coils, 2})
	}
	for _, r := range reqs {
		if err := c.SetUnitId(r.unit); err != nil {
			return err
		}
		var err error
		switch r.table {
		case InputRegisters:
			_, err = c.ReadRegisters(0, r.n, mb.INPUT_REGISTER)
		case HoldingRegisters:
			_, err = c.ReadRegisters(0, r.n, mb.HOLDING_REGISTER)
		case DiscreteInputs:
			_, err = c.ReadDiscreteInputs(0, r.n)
		case Coils:
			_, err = c.ReadCoils(0, r.n)
		}
		if err != nil && !isException(err) {
			// No answer (listen-only PLC) or a broken connection: the
			// HMI times out, drops the connection and reconnects on
			// its next poll.
			e.hmi.close(e, true)
			e.hmi = nil
			return nil
		}
	}
	return nil
}

// hmiWrite writes one holding register through the HMI's connection.
func hmiWrite(e *env, unit uint8, addr, v uint16) error {
	return hmiDo(e, unit, func(c *mb.ModbusClient) error { return c.WriteRegister(addr, v) })
}

// hmiDo runs write on the HMI's session (opened when needed) addressed to
// unit; a failure other than an exception closes the session.
func hmiDo(e *env, unit uint8, write func(*mb.ModbusClient) error) error {
	if e.hmi == nil {
		s, err := e.openLib(HostHMI)
		if err != nil {
			return err
		}
		e.hmi = s
	}
	if err := e.hmi.c.SetUnitId(unit); err != nil {
		return err
	}
	if err := write(e.hmi.c); err != nil && !isException(err) {
		e.hmi.close(e, true)
		e.hmi = nil
	}
	return nil
}

func operatorStep(e *env) error {
	if e.hmiSilent {
		return nil
	}
	v := operatorGate[e.opIndex%len(operatorGate)]
	e.opIndex++
	g1, g2 := TagByName(TagGate1SP), TagByName(TagGate2SP)
	if err := hmiWrite(e, UnitDam, g1.Addr, g1.Raw(v)); err != nil {
		return err
	}
	e.wait(150 * time.Millisecond)
	return hmiWrite(e, UnitDam, g2.Addr, g2.Raw(v))
}

func ewsVisit(e *env) error {
	s, err := e.openLib(HostEWS)
	if err != nil {
		return err
	}
	reads := []struct {
		unit uint8
		rt   mb.RegType
		n    uint16
	}{{UnitDam, mb.HOLDING_REGISTER, 4}, {UnitTurbine, mb.HOLDING_REGISTER, 2}, {UnitDam, mb.INPUT_REGISTER, 9}, {UnitTurbine, mb.INPUT_REGISTER, 6}}
	for _, r := range reads {
		if err := s.c.SetUnitId(r.unit); err != nil {
			return err
		}
		if _, err := s.c.ReadRegisters(0, r.n, r.rt); err != nil && !isException(err) {
			s.close(e, true)
			return nil
		}
		e.wait(300 * time.Millisecond) // an engineer clicking through pages
	}
	s.close(e, false)
	return nil
}

func historianConnect(e *env) error {
	if e.historian != nil || e.liveHist != nil {
		return nil // still connected from an earlier hour of a live run
	}
	user, pass := "historian", "h1st0rian"
	if e.historianAnon {
		user, pass = "", ""
	}
	if e.live() {
		h, err := openLiveHistorian(e, user, pass)
		if err != nil {
			return err
		}
		e.liveHist = h
		return nil
	}
	u, err := e.openUA(HostSCADA, "historian", user, pass)
	if err != nil {
		return err
	}
	e.historian = u
	return u.subscribe(alarmTags)
}

// historianPublish keeps the historian's subscription alive: one Publish
// every keep-alive period.
func historianPublish(e *env) error {
	if e.historian == nil {
		return nil
	}
	if e.srv != nil {
		e.srv.settle()
	}
	return e.historian.publish()
}

func historianRead(e *env) error {
	if e.liveHist != nil {
		return e.liveHist.read(e.ctx)
	}
	if e.historian == nil {
		return nil
	}
	_, err := e.historian.readTags(historianTags)
	return err
}

// Attacks. Times are from the attack start.

var atkRogueMaster = attack{
	name: "rogue master writes spillway gate 1 setpoint", src: HostAttacker, dst: HostPLC,
	rules: []string{"new_device", "new_master", "new_channel", "unexpected_write", "write_value_out_of_range"},
	mitre: []string{"T0848", "T0855", "T0836"},
	steps: []step{
		{0, func(e *env) error {
			s, err := e.openRaw(HostAttacker)
			if err != nil {
				return err
			}
			e.atkRaw = s
			_, err = s.request(UnitDam, reqRead(modbus.FuncReadHoldingRegisters, 0, 4))
			return err
		}},
		{1200 * time.Millisecond, func(e *env) error {
			s := e.atkRaw
			if s == nil {
				return nil
			}
			defer s.close()
			e.atkRaw = nil
			_, err := s.request(UnitDam, reqWriteRegister(0, TagByName(TagGate1SP).Raw(40)))
			return err
		}},
	},
}

var atkUnexpectedWrite = attack{
	name: "HMI writes the high-level alarm limit", src: HostHMI, dst: HostPLC,
	rules: []string{"unexpected_write", "write_value_out_of_range"},
	mitre: []string{"T0855", "T0836", "T0878"},
	steps: []step{{400 * time.Millisecond, func(e *env) error {
		t := TagByName(TagHighLevelLimit)
		return hmiWrite(e, UnitDam, t.Addr, t.Raw(125))
	}}},
}

var atkOutOfRange = attack{
	name: "HMI opens spillway gate 1 to 95 %", src: HostHMI, dst: HostPLC,
	rules: []string{"write_value_out_of_range"},
	mitre: []string{"T0836", "T0831"},
	steps: []step{{400 * time.Millisecond, func(e *env) error {
		t := TagByName(TagGate1SP)
		return hmiWrite(e, UnitDam, t.Addr, t.Raw(95))
	}}},
}

var atkDiagnostics = attack{
	name: "FC 8 force listen-only mode, then restart communications", src: HostAttacker, dst: HostPLC,
	rules: []string{"diagnostic_command", "new_device", "new_master", "new_channel", "unexpected_function"},
	mitre: []string{"T0814", "T0816"},
	steps: []step{
		{0, func(e *env) error {
			s, err := e.openRaw(HostAttacker)
			if err != nil {
				return err
			}
			e.atkRaw = s
			_, err = s.request(UnitDam, reqDiag(modbus.SubReturnQueryData, 0xA5A5))
			return err
		}},
		{500 * time.Millisecond, func(e *env) error {
			if e.atkRaw == nil {
				return nil
			}
			// No answer is expected: the PLC goes listen-only.
			_, _ = e.atkRaw.request(UnitDam, reqDiag(modbus.SubForceListenOnlyMode, 0))
			return nil
		}},
		{2500 * time.Millisecond, func(e *env) error {
			if e.atkRaw != nil {
				e.atkRaw.close()
				e.atkRaw = nil
			}
			return nil
		}},
		{20*time.Second + 300*time.Millisecond, func(e *env) error {
			s, err := e.openRaw(HostAttacker)
			if err != nil {
				return err
			}
			defer s.close()
			_, err = s.request(UnitDam, reqDiag(modbus.SubRestartCommunicationsOption, 0))
			return err
		}},
	},
	extend: 6 * time.Second, // the HMI's reconnection and its 5 s setpoint poll
}

var atkRecon = attack{
	name: "device identification, unit-id sweep and address sweep", src: HostAttacker, dst: HostPLC,
	rules: []string{"device_identification_read", "scan", "exception_burst", "new_device", "new_master", "new_channel", "unexpected_function"},
	mitre: []string{"T0888", "T0846", "T0861"},
	steps: []step{{0, func(e *env) error {
		s, err := e.openRaw(HostAttacker)
		if err != nil {
			return err
		}
		defer s.close()
		gap := func() { e.wait(40 * time.Millisecond) }
		for _, u := range []uint8{UnitDam, UnitTurbine} {
			if _, err := s.request(u, reqDeviceID(modbus.ReadDeviceIDBasic, 0)); err != nil {
				return err
			}
			gap()
			if _, err := s.request(u, reqDeviceID(modbus.ReadDeviceIDRegular, 0)); err != nil {
				return err
			}
			gap()
		}
		if _, err := s.request(UnitDam, modbus.Request{Function: modbus.FuncReportServerID}); err != nil {
			return err
		}
		gap()
		for u := 0; u <= 16; u++ {
			if _, err := s.request(uint8(u), reqRead(modbus.FuncReadHoldingRegisters, 0, 1)); err != nil {
				return err
			}
			gap()
		}
		for a := uint16(0); a < 32; a++ {
			if _, err := s.request(UnitDam, reqRead(modbus.FuncReadHoldingRegisters, a, 1)); err != nil {
				return err
			}
			gap()
		}
		return nil
	}}},
}

var atkLevelReplay = attack{
	name: "replayed measurements while the gates open", src: HostHMI, dst: HostPLC,
	rules: []string{"process_value_frozen"},
	mitre: []string{"T0856", "T0832"},
	steps: []step{
		{0, func(e *env) error { e.p.Replay(UnitDam, true); return nil }},
		{2 * time.Second, func(e *env) error {
			// The operator opens both gates to the top of their
			// normal range: the writes are normal, the HMI shows
			// nothing moving.
			g1, g2 := TagByName(TagGate1SP), TagByName(TagGate2SP)
			if err := hmiWrite(e, UnitDam, g1.Addr, g1.Raw(17.5)); err != nil {
				return err
			}
			e.wait(150 * time.Millisecond)
			return hmiWrite(e, UnitDam, g2.Addr, g2.Raw(17.5))
		}},
		{3 * time.Minute, func(e *env) error { e.p.Replay(UnitDam, false); return nil }},
	},
}

var atkSpillwayNight = attack{
	name: "HMI opens spillway gate 2 fully at night", src: HostHMI, dst: HostPLC,
	rules: []string{"write_value_out_of_range", "process_value_out_of_range"},
	mitre: []string{"T0831", "T0836"},
	steps: []step{{400 * time.Millisecond, func(e *env) error {
		t := TagByName(TagGate2SP)
		return hmiWrite(e, UnitDam, t.Addr, t.Raw(100))
	}}},
	// The gate travels at 0.5 %/s: its position leaves the learned range
	// (and its slack) some 20 s after the write.
	extend: 40 * time.Second,
}

var atkTurbineOverspeed = attack{
	name: "HMI drives turbine 1 past its rating", src: HostHMI, dst: HostPLC,
	rules: []string{"process_value_out_of_range", "unexpected_write", "unexpected_function"},
	mitre: []string{"T0831", "T0879"},
	steps: []step{{400 * time.Millisecond, func(e *env) error {
		t := TagByName(TagT1SP)
		return hmiWrite(e, UnitTurbine, t.Addr, t.Raw(34))
	}}},
	// The HMI never writes unit 2 (unexpected_write, and FC 6 is new on
	// that channel); the unit ramps at 0.2 MW/s from 18 MW, leaves its
	// learned power at once, passes 30 MW and trips some 60 s after the
	// write, overspeeding.
	extend: 90 * time.Second,
}

var atkWriteFlood = attack{
	name: "HMI floods gate 1 setpoint writes", src: HostHMI, dst: HostPLC,
	rules: []string{"request_flood"},
	mitre: []string{"T0806", "T0855"},
	steps: floodSteps(),
}

// floodSteps writes the gate 1 setpoint 200 times, 45 ms apart, each write
// its own event so the HMI's polls interleave on the same connection.
func floodSteps() []step {
	t := TagByName(TagGate1SP)
	var out []step
	for i := range 200 {
		v := t.Raw(operatorGate[i%len(operatorGate)])
		out = append(out, step{400*time.Millisecond + time.Duration(i)*45*time.Millisecond, func(e *env) error {
			return hmiWrite(e, UnitDam, t.Addr, v)
		}})
	}
	return out
}

// pollSilence is how long poll_stop keeps the HMI quiet.
const pollSilence = 3 * time.Minute

var atkPollStop = attack{
	name: "HMI stops polling for 3 minutes", src: HostHMI, dst: HostPLC,
	rules: []string{"poll_stopped"},
	mitre: []string{"T0815", "T0829"},
	steps: []step{
		{900 * time.Millisecond, func(e *env) error {
			e.hmiSilent = true
			if e.hmi != nil {
				e.hmi.close(e, false)
				e.hmi = nil
			}
			return nil
		}},
		{pollSilence + 900*time.Millisecond, func(e *env) error {
			e.hmiSilent = false
			return nil
		}},
	},
	extend: 15 * time.Second, // the return of the poll is part of the window
}

var atkMalformed = attack{
	name: "malformed MBAP headers and HTTP on port 502", src: HostAttacker, dst: HostPLC,
	rules: []string{"malformed", "non_protocol_traffic", "new_device", "new_master", "new_channel"},
	mitre: []string{"T0814", "T0866"},
	steps: []step{{0, func(e *env) error {
		payloads := [][]byte{
			// MBAP length 0 (must be 2..254): tid 1, pid 0, len 0, unit 1, FC 3.
			{0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01},
			// MBAP length 0x0400 with a 6-byte PDU.
			{0x00, 0x02, 0x00, 0x00, 0x04, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01},
			// Protocol id 0x0001.
			{0x00, 0x03, 0x00, 0x01, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01},
			[]byte("GET / HTTP/1.1\r\nHost: 10.10.2.1\r\nUser-Agent: Mozilla/5.0\r\nAccept: */*\r\n\r\n"),
		}
		for i, p := range payloads {
			s, err := e.openRaw(HostAttacker)
			if err != nil {
				return err
			}
			if i < 3 {
				// A broken or fuzzing master: one valid request, then
				// the bad header on the same connection. A bad header
				// first on a fresh connection is not Modbus at all
				// (non_protocol_traffic); after a valid exchange it
				// is a malformed Modbus stream (malformed). The HTTP
				// request stays alone on its connection.
				if _, err := s.request(UnitDam, reqRead(modbus.FuncReadHoldingRegisters, 0, 1)); err != nil {
					return err
				}
			}
			if err := s.send(p); err != nil {
				return err
			}
			s.waitClosed()
			s.close()
			e.wait(700 * time.Millisecond)
		}
		return nil
	}}},
}

var atkUAAnonWrite = attack{
	name: "anonymous OPC UA session writes spillway gate 1 setpoint", src: HostAttacker, dst: HostUAServer,
	rules: []string{"opcua_new_client", "opcua_anonymous_session", "opcua_unexpected_write", "new_device", "new_channel"},
	mitre: []string{"T0855", "T0836"},
	steps: []step{
		{0, func(e *env) error {
			u, err := e.openUA(HostAttacker, "UaExpert", "", "")
			if err != nil {
				return err
			}
			e.atkUA = u
			_, err = u.readTags([]string{TagGate1SP})
			return err
		}},
		{1500 * time.Millisecond, func(e *env) error {
			u := e.atkUA
			if u == nil {
				return nil
			}
			defer u.close()
			e.atkUA = nil
			st, err := u.writeTag(TagGate1SP, float64(60))
			if err != nil {
				return err
			}
			if st != ua.StatusOK {
				return fmt.Errorf("anonymous write: %s", st)
			}
			return nil
		}},
	},
}

var atkUANewClient = attack{
	name: "unknown OPC UA client browses and reads every tag", src: HostLaptop, dst: HostUAServer,
	rules: []string{"opcua_new_client", "new_device", "new_channel"},
	mitre: []string{"T0861", "T0846"},
	steps: []step{{0, func(e *env) error {
		u, err := e.openUA(HostLaptop, "contractor-tool", "contractor", "summer2026")
		if err != nil {
			return err
		}
		defer u.close()
		if _, err := u.browse(ua.NewNumericNodeID(0, 85)); err != nil { // Objects folder
			return err
		}
		e.wait(300 * time.Millisecond)
		if _, err := u.browse(ua.NewStringNodeID(uaDamNS, "Dam")); err != nil {
			return err
		}
		e.wait(300 * time.Millisecond)
		names := make([]string, len(Tags))
		for i := range Tags {
			names[i] = Tags[i].Name
		}
		_, err = u.readTags(names)
		return err
	}}},
}

var atkUADowngrade = attack{
	name: "historian reconnects with an anonymous token", src: HostSCADA, dst: HostUAServer,
	rules: []string{"opcua_security_downgrade", "opcua_anonymous_session"},
	mitre: []string{"T0830"},
	steps: []step{{300 * time.Millisecond, func(e *env) error {
		return historianReconnect(e, func() { e.historianAnon = true })
	}}},
}

// historianReconnect closes the historian's session, lets change alter how
// it logs in, and connects it again.
func historianReconnect(e *env, change func()) error {
	if e.historian != nil {
		e.historian.close()
		e.historian = nil
	}
	if e.liveHist != nil {
		e.liveHist.close()
		e.liveHist = nil
	}
	e.wait(200 * time.Millisecond)
	change()
	return historianConnect(e)
}

var atkUACleartext = attack{
	name: "historian reconnects with its password in clear", src: HostSCADA, dst: HostUAServer,
	rules: []string{"cleartext_credentials"},
	mitre: []string{"T0859"},
	steps: []step{{300 * time.Millisecond, func(e *env) error {
		return historianReconnect(e, func() { e.historianClear = true })
	}}},
}

var atkUACall = attack{
	name: "historian session calls the alarm acknowledge method", src: HostSCADA, dst: HostUAServer,
	rules: []string{"opcua_unexpected_call"},
	mitre: []string{"T0878", "T0855"},
	steps: []step{{1700 * time.Millisecond, func(e *env) error {
		if e.historian == nil {
			// Live without normal actors: a session of its own.
			u, err := e.openUA(HostSCADA, "historian", "historian", "h1st0rian")
			if err != nil {
				return err
			}
			defer u.close()
			_, err = u.callMethod(ua.NewStringNodeID(uaDamNS, "Dam"), ua.NewStringNodeID(uaDamNS, MethodAckAlarms))
			return err
		}
		st, err := e.historian.callMethod(ua.NewStringNodeID(uaDamNS, "Dam"), ua.NewStringNodeID(uaDamNS, MethodAckAlarms))
		if err == nil && st != ua.StatusOK {
			err = fmt.Errorf("call %s: %s", MethodAckAlarms, st)
		}
		return err
	}}},
}

// timeline merges normal traffic and the scenario's attacks, and returns the
// labels the attacks will fill in.
//
// a0 is when attacks start; normal adds normal traffic.
func (s Scenario) timeline(d, a0 time.Duration, seed uint64, normal bool) ([]event, []Label) {
	var evs []event
	if normal {
		evs = normalEvents(d, seed)
	}
	var labels []Label
	for _, a := range s.attacks {
		li := len(labels)
		labels = append(labels, Label{Name: a.name, SrcIP: a.src.IP.String(), DestIP: a.dst.IP.String(),
			ExpectedRules: a.rules, MITRE: a.mitre, Incident: fmt.Sprintf("%s/%d", s.Name, li+1)})
		for _, st := range a.steps {
			if a0+st.at < d {
				evs = append(evs, event{at: a0 + st.at, run: st.run, label: li, opcua: a.dst.IP == HostUAServer.IP,
					dnp3: a.dst.IP == HostRTU.IP})
			}
		}
	}
	slices.SortStableFunc(evs, func(x, y event) int {
		switch {
		case x.at < y.at:
			return -1
		case x.at > y.at:
			return 1
		}
		return 0
	})
	return evs, labels
}

// extension returns how long after its last step attack i's window lasts.
func (s Scenario) extension(i int) time.Duration {
	if i < 0 || i >= len(s.attacks) {
		return 0
	}
	return s.attacks[i].extend
}

// ScenarioMarkdown renders the scenarios as the Markdown table that
// docs/simulator.md embeds between its scenario-table markers.
func ScenarioMarkdown() string {
	var b strings.Builder
	b.WriteString("| Scenario | What happens | From → to | Expected rules | ATT&CK for ICS |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, s := range Scenarios() {
		if len(s.attacks) == 0 {
			fmt.Fprintf(&b, "| `%s` | %s | — | none | — |\n", s.Name, s.Description)
			continue
		}
		for _, a := range s.attacks {
			fmt.Fprintf(&b, "| `%s` | %s | %s → %s | %s | %s |\n", s.Name, s.Description, a.src.IP, a.dst.IP,
				"`"+strings.Join(a.rules, "`, `")+"`", strings.Join(a.mitre, ", "))
		}
	}
	return b.String()
}
