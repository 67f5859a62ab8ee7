package baselines

import (
	"fmt"
	"math"
)

// judge compares one transaction with its channel's learned model (ch is
// nil for a channel never learned) and raises deviations. Requests are
// judged whatever the response: an attempted write refused with an
// exception is still an attempt.
func (e *Engine) judge(o *Observation, key ChannelKey, ch *Channel, rt *chanRuntime) {
	switch o.Protocol {
	case Modbus:
		e.judgeModbus(o, key, ch)
	case OPCUA:
		e.judgeOPCUA(o, key, ch, rt)
	}
}

func (e *Engine) judgeModbus(o *Observation, key ChannelKey, ch *Channel) {
	m := &o.Modbus
	if ch == nil {
		rule, what := NewChannel, "unit"
		if e.pairs[pairKey{key.Protocol, key.Client, key.Server}] == 0 {
			rule, what = NewMaster, "master"
		}
		if a := e.raise(o.Time, rule, key, Item{What: what}, &o.Endpoints, o, nil); a != nil {
			verb := "reads from"
			if m.WriteTable != NoTable {
				verb = "writes to"
			}
			if rule == NewMaster {
				e.sign(a, fmt.Sprintf("Modbus master %s never seen before %s PLC %s unit %d (function %d)",
					key.Client, verb, key.Server, key.Unit, m.Function))
			} else {
				e.sign(a, fmt.Sprintf("Modbus master %s %s unit %d of PLC %s for the first time (function %d)",
					key.Client, verb, key.Unit, key.Server, m.Function))
			}
		}
		// A new channel has no learned writes: every write is unexpected.
		if m.WriteTable != NoTable && m.Write.Count > 0 {
			e.unexpectedWrite(o, key)
		}
		return
	}
	// A shape judged clean before (see memo.go) has only its values left
	// to judge: Functions and Written only grow.
	var sh *shape
	if m.ReadTable < numTables && m.WriteTable < numTables && ch.memoWorth() {
		sh = ch.shape(shapeOf(m))
		if !sh.pollSet {
			if pk, ok := pollKeyOf(o); ok {
				sh.poll = ch.poll(pk)
			}
			sh.pollSet = true
		}
		e.polled, e.pollKnown = sh.poll, true
	}
	write := m.WriteTable != NoTable && m.Write.Count > 0
	if sh == nil || !sh.clean {
		_, fnOK := ch.Functions[m.Function]
		if !fnOK {
			if a := e.raise(o.Time, UnexpectedFunction, key, Item{Function: m.Function}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("Modbus master %s sends function %d (%s), never used towards PLC %s unit %d",
					key.Client, m.Function, FunctionName(m.Function), key.Server, key.Unit))
			}
		}
		if write && !ch.Written[m.WriteTable].Contains(m.Write) {
			e.unexpectedWrite(o, key)
			return
		}
		if sh != nil && fnOK {
			sh.clean = true
		}
	}
	if !write {
		return
	}
	for i, v := range m.Values {
		if i >= int(m.Write.Count) {
			break
		}
		var env *Envelope
		if sh != nil && i < shapeRegs {
			env = sh.regs[i]
		}
		rk := RegKey{m.WriteTable, m.Write.Start + uint16(i)}
		if env == nil {
			env = ch.Values[rk]
			if sh != nil && i < shapeRegs {
				sh.regs[i] = env // stays nil until the register is learned
			}
		}
		if env == nil || env.Contains(float64(v), e.cfg.ValueSlack) {
			continue
		}
		if a := e.raiseValue(o.Time, WriteValueOutOfRange, key, Item{Table: rk.Table, Addr: rk.Addr},
			float64(v), "", &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Modbus master %s writes %d to %s %d of PLC %s unit %d, outside the learned %s",
				key.Client, v, tableNoun(rk.Table), rk.Addr, key.Server, key.Unit, env.describe()))
		}
		return // one value alert per transaction
	}
}

func (e *Engine) unexpectedWrite(o *Observation, key ChannelKey) {
	m := &o.Modbus
	item := Item{Table: m.WriteTable, Addr: m.Write.Start, Count: m.Write.Count}
	if a := e.raise(o.Time, UnexpectedWrite, key, item, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("Modbus master %s writes %s %s never written on PLC %s unit %d",
			key.Client, tableNoun(m.WriteTable), rangeText(m.Write), key.Server, key.Unit))
	}
}

func (e *Engine) judgeOPCUA(o *Observation, key ChannelKey, ch *Channel, rt *chanRuntime) {
	u := &o.OPCUA
	// A call judged clean before (see memo.go) leaves only the session
	// context to judge; its poll rhythm is resolved once.
	var k *call
	if ch != nil && len(u.Written) == 0 && ch.memoWorth() {
		k = ch.call(u)
		if !k.pollSet {
			if pk, ok := pollKeyOf(o); ok {
				k.poll = ch.poll(pk)
			}
			k.pollSet = true
		}
		e.polled, e.pollKnown = k.poll, true
	}
	clean := k != nil && k.clean
	dev := false // a deviation of the call itself (not of its session)
	if ch == nil {
		if a := e.raise(o.Time, OPCUANewClient, key, Item{What: "client"}, &o.Endpoints, o, nil); a != nil {
			app := "" // a client need not send an application URI before CreateSession
			if u.ClientAppURI != "" {
				app = fmt.Sprintf(" (%q)", u.ClientAppURI)
			}
			e.sign(a, fmt.Sprintf("OPC UA client %s%s never seen before uses %s on server %s port %d",
				key.Client, app, u.Service, key.Server, key.Port))
		}
	}
	if !clean && u.Token == TokenAnonymous && (ch == nil || ch.Tokens[TokenAnonymous] == 0) {
		dev = true
		if a := e.raise(o.Time, OPCUAAnonymousSession, key, Item{What: "token"}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("OPC UA client %s uses an anonymous session on server %s port %d, never learned",
				key.Client, key.Server, key.Port))
		}
	}
	// The session context repeats on every service call: judge it once
	// per change (the cache is runtime state, cleared with the channel).
	if ch != nil && !(rt.secOK && rt.secPolicy == u.SecurityPolicy && rt.secMode == u.SecurityMode &&
		rt.secToken == u.Token && rt.secApp == u.ClientAppURI) {
		dev := e.judgeSecurity(o, key, ch)
		dev = e.judgeClientApp(o, key, ch) || dev
		rt.secOK = !dev
		rt.secPolicy, rt.secMode, rt.secToken, rt.secApp = u.SecurityPolicy, u.SecurityMode, u.Token, u.ClientAppURI
	}
	if ch != nil && !clean {
		if u.Service != "" && !sessionService(u.Service) {
			if _, ok := ch.Services[u.Service]; !ok {
				dev = true
				if a := e.raise(o.Time, UnexpectedFunction, key, Item{What: "service", Node: u.Service}, &o.Endpoints, o, nil); a != nil {
					e.sign(a, fmt.Sprintf("OPC UA client %s calls service %s, never used on server %s port %d",
						key.Client, u.Service, key.Server, key.Port))
				}
			}
		}
	}
	for _, w := range u.Written {
		var env *Envelope
		if ch != nil {
			env = ch.NodesWritten[w.Node]
		}
		if env == nil {
			if a := e.raise(o.Time, OPCUAUnexpectedWrite, key, Item{Node: w.Node}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("OPC UA client %s writes node %s, never written on server %s port %d",
					key.Client, w.Node, key.Server, key.Port))
			}
			continue
		}
		if w.Numeric && env.Min <= env.Max && env.Writes > 0 && !env.Contains(w.Value, e.cfg.ValueSlack) && !envNonNumeric(env) {
			if a := e.raiseValue(o.Time, WriteValueOutOfRange, key, Item{Node: w.Node}, w.Value, "", &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("OPC UA client %s writes %g to node %s on server %s port %d, outside the learned %s",
					key.Client, w.Value, w.Node, key.Server, key.Port, env.describe()))
			}
		}
	}
	for _, n := range u.Called {
		if clean {
			break
		}
		var ok bool
		if ch != nil {
			_, ok = ch.NodesCalled[n]
		}
		if !ok {
			dev = true
			if a := e.raise(o.Time, OPCUAUnexpectedCall, key, Item{Node: n}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("OPC UA client %s calls method %s, never called on server %s port %d",
					key.Client, n, key.Server, key.Port))
			}
		}
	}
	if k != nil && !dev {
		k.clean = true
	}
}

// sessionService reports the services of the SecureChannel and Session
// service sets (OPC UA Part 4, 5.5 and 5.6): every client opens, activates
// and closes sessions, so they are not judged by unexpected_function. A
// baseline learned on a historian that never restarted has no
// CloseSession, and the historian's next restart would alert on it. What
// matters in them is judged by their own rules: the security policy, mode
// and token (opcua_security_downgrade, opcua_anonymous_session) and the
// client application (opcua_new_client).
func sessionService(name string) bool {
	switch name {
	case "OpenSecureChannel", "CloseSecureChannel", "CreateSession", "ActivateSession", "CloseSession", "Cancel":
		return true
	}
	return false
}

// envNonNumeric reports an envelope learned only from non-numeric writes
// (Writes counted, no min/max): values cannot be judged.
func envNonNumeric(env *Envelope) bool { return !env.Many && len(env.Distinct) == 0 }

// judgeClientApp raises opcua_new_client for an application URI never
// learned on the channel; it reports whether the URI deviates.
func (e *Engine) judgeClientApp(o *Observation, key ChannelKey, ch *Channel) bool {
	u := &o.OPCUA
	if u.ClientAppURI == "" || len(ch.ClientApps) == 0 {
		return false
	}
	if _, ok := ch.ClientApps[u.ClientAppURI]; ok {
		return false
	}
	if a := e.raise(o.Time, OPCUANewClient, key, Item{What: "application_uri", Node: u.ClientAppURI}, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("OPC UA client %s presents application URI %q, never seen on server %s port %d",
			key.Client, u.ClientAppURI, key.Server, key.Port))
	}
	return true
}

// judgeSecurity raises opcua_security_downgrade when the session's policy,
// mode or token is weaker than the weakest one learned for the channel; it
// reports whether any of them deviates.
func (e *Engine) judgeSecurity(o *Observation, key ChannelKey, ch *Channel) bool {
	u := &o.OPCUA
	dev := false
	if u.SecurityPolicy != "" && len(ch.Policies) > 0 {
		if _, ok := ch.Policies[u.SecurityPolicy]; !ok {
			weakest := math.MaxInt
			for p := range ch.Policies {
				weakest = min(weakest, policyStrength(p))
			}
			if policyStrength(u.SecurityPolicy) < weakest {
				e.downgrade(o, key, "policy", u.SecurityPolicy)
				dev = true
			}
		}
	}
	if u.SecurityMode != SecurityUnknown && len(ch.Modes) > 0 && ch.Modes[u.SecurityMode] == 0 {
		weakest := SecurityMode(math.MaxUint8)
		for m := range ch.Modes {
			weakest = min(weakest, m)
		}
		if u.SecurityMode < weakest {
			e.downgrade(o, key, "mode", u.SecurityMode.String())
			dev = true
		}
	}
	if u.Token != TokenUnknown && len(ch.Tokens) > 0 && ch.Tokens[u.Token] == 0 {
		weakest := math.MaxInt
		for t := range ch.Tokens {
			weakest = min(weakest, tokenStrength(t))
		}
		if tokenStrength(u.Token) < weakest {
			e.downgrade(o, key, "token", u.Token.String())
			dev = true
		}
	}
	return dev
}

func (e *Engine) downgrade(o *Observation, key ChannelKey, what, got string) {
	if a := e.raiseValue(o.Time, OPCUASecurityDowngrade, key, Item{What: what}, 0, got, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("OPC UA client %s connects to server %s port %d with security %s %s, weaker than learned",
			key.Client, key.Server, key.Port, what, got))
	}
}

// diagnosticSubs are the FC 8 sub-functions that change a device's state
// (Modbus Application Protocol v1.1b3, 6.8.1): 01 restart communications,
// 04 force listen only mode, 0A clear counters and diagnostic register,
// 14 clear overrun counter and flag. Echo (00) and the counter reads are
// harmless.
func diagnosticSub(sub uint16) bool {
	switch sub {
	case 0x01, 0x04, 0x0A, 0x14:
		return true
	}
	return false
}

// signaturesModbus raises the rules that need no baseline:
// diagnostic_command and device_identification_read. Only FC 8, 17 and
// 43 can raise them: the test of the function code is inlined in Observe.
func (e *Engine) signaturesModbus(o *Observation, key *ChannelKey) {
	if f := o.Modbus.Function; f == 8 || f == 17 || f == 43 {
		e.signatureModbus(o, key)
	}
}

// signatureModbus is signaturesModbus past the function-code test.
func (e *Engine) signatureModbus(o *Observation, kp *ChannelKey) {
	m, key := &o.Modbus, *kp
	switch {
	case m.Function == 8 && diagnosticSub(m.SubFunction):
		if a := e.raise(o.Time, DiagnosticCommand, key, Item{Function: 8, Sub: m.SubFunction}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Modbus master %s sends diagnostics %s (FC 8 sub-function %d) to PLC %s unit %d",
				key.Client, diagnosticName(m.SubFunction), m.SubFunction, key.Server, key.Unit))
		}
	case m.Function == 43 && m.MEIType == 14, m.Function == 17:
		if a := e.raise(o.Time, DeviceIdentificationRead, key, Item{Function: m.Function}, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("Modbus master %s reads the identity of PLC %s unit %d (%s)",
				key.Client, key.Server, key.Unit, FunctionName(m.Function)))
		}
	}
}

func diagnosticName(sub uint16) string {
	switch sub {
	case 0x01:
		return "restart communications"
	case 0x04:
		return "force listen only mode"
	case 0x0A:
		return "clear counters and diagnostic register"
	case 0x14:
		return "clear overrun counter"
	}
	return "sub-function"
}

// FunctionName names a Modbus function code (Modbus Application Protocol
// v1.1b3, 5.1).
func FunctionName(fc uint8) string {
	switch fc {
	case 1:
		return "read_coils"
	case 2:
		return "read_discrete_inputs"
	case 3:
		return "read_holding_registers"
	case 4:
		return "read_input_registers"
	case 5:
		return "write_single_coil"
	case 6:
		return "write_single_register"
	case 7:
		return "read_exception_status"
	case 8:
		return "diagnostics"
	case 11:
		return "get_comm_event_counter"
	case 12:
		return "get_comm_event_log"
	case 15:
		return "write_multiple_coils"
	case 16:
		return "write_multiple_registers"
	case 17:
		return "report_server_id"
	case 20:
		return "read_file_record"
	case 21:
		return "write_file_record"
	case 22:
		return "mask_write_register"
	case 23:
		return "read_write_multiple_registers"
	case 24:
		return "read_fifo_queue"
	case 43:
		return "encapsulated_interface_transport"
	}
	return "unknown"
}

func tableNoun(t Table) string {
	switch t {
	case Coils:
		return "coil"
	case DiscreteInputs:
		return "discrete input"
	case InputRegisters:
		return "input register"
	}
	return "holding register"
}

func rangeText(r Range) string {
	if r.Count <= 1 {
		return fmt.Sprint(r.Start)
	}
	return fmt.Sprintf("%d-%d", r.Start, r.End()-1)
}

func (env *Envelope) describe() string {
	if env.Enumeration() {
		return fmt.Sprintf("values %v", env.Distinct)
	}
	return fmt.Sprintf("range %g..%g", env.Min, env.Max)
}

func (e *Engine) fmtFlood(key ChannelKey, n, peak uint32) string {
	return fmt.Sprintf("Request flood: %d requests within %s from %s to %s (learned peak %d)",
		n, e.cfg.Window, key.Client, serverName(key), peak)
}

func (e *Engine) fmtBurst(key ChannelKey, n uint32, code uint8) string {
	return fmt.Sprintf("Exception burst: %d exception responses within %s from %s to master %s (last code %d)",
		n, e.cfg.Window, serverName(key), key.Client, code)
}

func (e *Engine) fmtScan(key ChannelKey, what string, n int) string {
	return fmt.Sprintf("Scan: %s probes %d distinct %s of %s within %s",
		key.Client, n, what, key.Server, e.cfg.Window)
}
