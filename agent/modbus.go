package agent

import (
	"encoding/hex"
	"errors"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// modbusModule is Modbus/TCP in the protocol registry.
var modbusModule = module{
	name:         "modbus",
	title:        "Modbus/TCP",
	defaultPorts: []uint16{502},
	baseline:     baselines.Modbus,
	newStream:    newModbusStream,
}

// modbusStream is the glue between one TCP connection on a Modbus port and
// protocols/modbus: a Framer per direction cuts the reassembled bytes into
// ADUs, the Pairer pairs them by (transaction id, unit id), and every
// Transaction becomes a "modbus" event and a baseline observation.
//
// A connection whose bytes fail Modbus sanity (protocol id 0, length
// 2..254, as Zeek's grammar enforces) is reported once as an anomaly and
// silenced: TLS, HTTP or random bytes on 502 never produce modbus events
// (zeek_modbus-and-non-modbus-p502.pcap).
type modbusStream struct {
	conn
	fr [2]modbus.Framer // indexed by flow.Dir
	pr modbus.Pairer
	// ts is the packet time of the data being framed, for the callbacks.
	ts time.Time
	// The callbacks are bound once: a method value made per call would
	// allocate.
	onRequest, onResponse func(modbus.ADU)
	onTx                  func(*modbus.Transaction)
	last                  pairCounts
	// values is reused for every transaction's written values.
	values []uint16
	// desyncSeen limits the malformed anomaly of a desynchronised but
	// trusted stream to one per connection.
	desyncSeen bool
}

func newModbusStream(c conn) flow.Stream {
	s := &modbusStream{conn: c}
	s.pr = modbus.Pairer{MaxPending: c.a.cfg.MaxPendingPerFlow, Timeout: c.a.cfg.TransactionTimeout}
	s.onRequest = func(adu modbus.ADU) { s.pr.Request(adu, s.ts, s.onTx) }
	s.onResponse = func(adu modbus.ADU) { s.pr.Response(adu, s.ts, s.onTx) }
	s.onTx = s.transaction
	if c.c.MidStream {
		// Picked up without the SYN: the first bytes may be the middle
		// of an ADU. Scan for a plausible MBAP header instead.
		s.fr[flow.ClientToServer].Resync()
		s.fr[flow.ServerToClient].Resync()
	}
	return s
}

// Data implements flow.Stream.
func (s *modbusStream) Data(dir flow.Dir, data []byte, ts time.Time) {
	if s.dead {
		return
	}
	s.ts = ts
	emit := s.onRequest
	if dir == flow.ServerToClient {
		emit = s.onResponse
	}
	fr := &s.fr[dir&1]
	desyncs := fr.Desyncs()
	// A desync in this call may precede the transaction that confirms
	// the framing again: judge it by the state before.
	gapped := s.gapped[dir&1]
	if err := fr.Feed(data, emit); err != nil {
		s.fail(dir, ts, err, data)
		return
	}
	if d := fr.Desyncs(); d != desyncs && !gapped {
		// A trusted stream carried a bad header: the framer resynchronised
		// and goes on; the connection stays. Every fault is counted, the
		// first one per connection is reported. (Until an answered
		// transaction confirms the framing after a capture loss or a
		// mid-stream start, a header looked for in the wrong place is
		// no fault: look-alike headers in other bytes are common.)
		s.stats.DecodeErrors += d - desyncs
		if !s.desyncSeen {
			s.desyncSeen = true
			s.anomaly(ts, dir, anomalyMalformed, "bad MBAP header in an established Modbus stream; resynchronised")
		}
	}
	if s.expireDue(ts) {
		s.pr.Expire(ts, s.onTx)
		s.account()
	}
}

// Gap implements flow.Stream: the framer of that direction drops its partial
// ADU and scans for the next plausible header.
func (s *modbusStream) Gap(dir flow.Dir, lost int, ts time.Time) {
	if s.dead {
		return
	}
	s.gap(ts, dir, lost)
	s.fr[dir&1].Resync()
	if dir == flow.ServerToClient {
		s.pr.Lost() // the responses of waiting requests may be gone
	} else {
		s.pr.ClientLost() // requests behind the hole may come after their responses
	}
}

// Close implements flow.Stream: requests still waiting for their response
// are emitted with "timeout": true, or "capture_loss": true when the
// capture (or the file) ended before their responses could come.
func (s *modbusStream) Close(reason flow.CloseReason, ts time.Time) {
	if s.dead {
		return
	}
	if reason == flow.CloseEnd {
		// The capture ended (or the next file began) before the
		// responses: they are the capture's loss, not timeouts.
		s.pr.Lost()
	}
	s.pr.Flush(s.onTx)
	s.account()
	s.dead = true
}

// fail handles a framer error: the stream is not (or no longer) Modbus.
// A connection that never framed an ADU carries another protocol
// (non_protocol_traffic); one that did and then broke is malformed Modbus.
// Either way it is reported once and silenced; requests already seen are
// emitted first.
func (s *modbusStream) fail(dir flow.Dir, ts time.Time, err error, data []byte) {
	nonProtocol := errors.Is(err, modbus.ErrNotModbus) && s.fr[0].Frames()+s.fr[1].Frames() == 0
	s.pr.Flush(s.onTx)
	s.account()
	s.silence(dir, ts, err, nonProtocol, data)
}

// account adds the Pairer's counters since the last call to the stats.
func (s *modbusStream) account() {
	st := s.pr.Stats()
	s.countPairs(pairCounts{st.TimedOut, st.Evicted, st.Lost}, &s.last)
}

// transaction is the Pairer's emit function: the event, then the
// baselines learn or judge.
func (s *modbusStream) transaction(t *modbus.Transaction) {
	if t.RequestErr != nil || t.ResponseErr != nil {
		s.stats.DecodeErrors++
	} else if t.HasRequest && t.HasResponse {
		s.confirmed(t.RequestTime, t.ResponseTime)
	}
	s.conn.transaction(t.Time(), modbusPayload{t}, s.observation(t))
}

// modbusPayload is a transaction as the glue reports it (a one-pointer
// struct: no allocation in the interface).
type modbusPayload struct{ *modbus.Transaction }

func (p modbusPayload) Function() string { return p.FunctionCode.String() }

// observation fills s.obs from t and reports whether the baselines should
// see it: transactions with a decodable request (a lone response says
// nothing about what the master asked).
func (s *modbusStream) observation(t *modbus.Transaction) bool {
	if !t.HasRequest || t.RequestErr != nil {
		return false
	}
	o := &s.obs // Protocol and Endpoints were set with the connection
	o.Responded = t.HasResponse
	o.Time, o.RequestTime = t.RequestTime, t.RequestTime
	if t.HasResponse {
		o.Time = t.ResponseTime
	}
	// The detail is made once per connection and reused.
	m, _ := o.Detail.(*baselines.ModbusObs)
	if m == nil {
		m = new(baselines.ModbusObs)
		o.Detail = m
	}
	*m = baselines.ModbusObs{
		TransactionID: t.TransactionID,
		Unit:          t.UnitID,
		Function:      uint8(t.FunctionCode.Base()),
		Timeout:       t.Timeout,
	}
	if ex, ok := t.Exception(); ok {
		m.Exception = uint8(ex)
	} else if t.HasResponse && t.ResponseErr != nil {
		// A response that does not decode is no proof of success:
		// learn nothing from it.
		o.Responded = false
	}
	r := &t.Request
	table := t.FunctionCode.Table()
	vals := s.values[:0]
	switch t.FunctionCode.Base() {
	case modbus.FuncReadCoils, modbus.FuncReadDiscreteInputs, modbus.FuncReadHoldingRegisters, modbus.FuncReadInputRegisters:
		m.ReadTable, m.Read = table, baselines.Range{Start: r.Address, Count: r.Quantity}
	case modbus.FuncWriteSingleCoil, modbus.FuncWriteSingleRegister:
		m.WriteTable, m.Write = table, baselines.Range{Start: r.Address, Count: 1}
		vals = appendValues(vals, r.Values)
	case modbus.FuncWriteMultipleCoils, modbus.FuncWriteMultipleRegisters:
		m.WriteTable, m.Write = table, baselines.Range{Start: r.Address, Count: r.Quantity}
		vals = appendValues(vals, r.Values)
	case modbus.FuncMaskWriteRegister:
		m.WriteTable, m.Write = modbus.TableHoldingRegisters, baselines.Range{Start: r.Address, Count: 1}
	case modbus.FuncReadWriteMultipleRegisters:
		m.ReadTable, m.Read = modbus.TableHoldingRegisters, baselines.Range{Start: r.Address, Count: r.Quantity}
		m.WriteTable, m.Write = modbus.TableHoldingRegisters, baselines.Range{Start: r.WriteAddress, Count: r.WriteQuantity}
		vals = appendValues(vals, r.Values)
	case modbus.FuncDiagnostics:
		m.SubFunction = uint16(r.SubFunction)
	case modbus.FuncEncapsulatedInterfaceTransport:
		m.MEIType = uint8(r.MEI)
		if t.HasResponse && t.ResponseErr == nil && !t.Response.IsException() && r.MEI == modbus.MEIReadDeviceID {
			m.Ident = deviceIdent(&t.Response.DeviceID)
		}
	case modbus.FuncUMAS:
		if r.UMAS.Valid {
			m.UMAS = r.UMAS.Function
		}
	case modbus.FuncReportServerID:
		if t.HasResponse && t.ResponseErr == nil && !t.Response.IsException() && len(t.Response.Data) > 0 {
			m.Ident = &baselines.DeviceIdent{ServerID: hex.EncodeToString(t.Response.Data)}
		}
	}
	s.values = vals
	m.Values = vals
	if m.ReadTable != modbus.TableNone && o.Responded && m.Exception == 0 && t.ResponseErr == nil {
		// The values read, for the process variables: the decoder's
		// view, read during Observe only.
		m.ReadValues = t.Response.Values
	}
	return true
}

func appendValues(dst []uint16, v modbus.Values) []uint16 {
	for i := 0; i < v.Len(); i++ {
		dst = append(dst, v.At(i))
	}
	return dst
}

// deviceIdent copies the basic and regular FC 43/14 objects (MAP V1.1b3,
// 6.21, objects 0x00-0x06) into a DeviceIdent. It allocates, but only for
// device identification responses, which are rare.
func deviceIdent(d *modbus.DeviceID) *baselines.DeviceIdent {
	id := &baselines.DeviceIdent{}
	for oid, v := range d.Objects.All() {
		switch oid {
		case 0x00:
			id.VendorName = string(v)
		case 0x01:
			id.ProductCode = string(v)
		case 0x02:
			id.Revision = string(v)
		case 0x03:
			id.VendorURL = string(v)
		case 0x04:
			id.ProductName = string(v)
		case 0x05:
			id.ModelName = string(v)
		case 0x06:
			id.UserAppName = string(v)
		}
	}
	return id
}
