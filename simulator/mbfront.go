package simulator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// Identity is what a unit answers to FC 43/14 (Read Device Identification,
// Modbus Application Protocol Specification V1.1b3, 6.21) and FC 17 (Report
// Server ID, 6.13).
type Identity struct {
	Vendor, ProductCode, Revision string // basic objects 0x00-0x02
	VendorURL, ProductName, Model string // regular objects 0x03-0x05
	AppName                       string // regular object 0x06
	ServerID                      byte   // FC 17 server id
}

// Identities of the two units behind the PLC address.
var Identities = map[uint8]Identity{
	UnitDam: {Vendor: "Sluice Automation", ProductCode: "SLC-DAM-400", Revision: "v2.4.1",
		VendorURL: "https://sluice.invalid/plc", ProductName: "Dam Controller", Model: "DC-400",
		AppName: "Reservoir and spillway control", ServerID: 0x41},
	UnitTurbine: {Vendor: "Sluice Automation", ProductCode: "SLC-TGC-220", Revision: "v1.9.0",
		VendorURL: "https://sluice.invalid/plc", ProductName: "Turbine Governor Controller", Model: "TG-220",
		AppName: "Generating units 1 and 2", ServerID: 0x42},
}

func (id Identity) object(n uint8) (string, bool) {
	switch n {
	case modbus.ObjVendorName:
		return id.Vendor, true
	case modbus.ObjProductCode:
		return id.ProductCode, true
	case modbus.ObjMajorMinorRevision:
		return id.Revision, true
	case modbus.ObjVendorURL:
		return id.VendorURL, true
	case modbus.ObjProductName:
		return id.ProductName, true
	case modbus.ObjModelName:
		return id.Model, true
	case modbus.ObjUserApplicationName:
		return id.AppName, true
	}
	return "", false
}

// mbTap observes a Modbus front's connections for the capture recorder. Calls
// for one connection come from that connection's goroutine, in wire order,
// before the bytes they describe are written.
type mbTap interface {
	accepted(c net.Conn)
	request(c net.Conn, adu []byte)
	response(c net.Conn, adu []byte)
	// dropped reports a request consumed without an answer (listen-only
	// mode). If it returns true the front closes c without telling the tap:
	// in a capture the client's timeout is simulated, not waited for.
	dropped(c net.Conn) bool
	// violation reports bytes that are not Modbus/TCP; the front then closes
	// the connection, as a PLC's stack does.
	violation(c net.Conn, b []byte)
}

// mbFront is the PLC's Modbus/TCP front end. It frames requests itself and
// answers what github.com/simonvetter/modbus does not implement (the library
// answers exception 01 to anything but FC 1-6, 15 and 16): FC 8 diagnostics
// with listen-only mode and counters, FC 17, FC 23 and FC 43/14. FC 1-6, 15
// and 16 go unchanged to the library's server (on a loopback port of its own)
// and its answer goes back unchanged, so those bytes are the library's.
type mbFront struct {
	p       *Process
	h       *plcHandler
	backend string // host:port of the library's server
	tap     mbTap  // nil when live
	logger  *log.Logger

	mu         sync.Mutex
	listenOnly bool
	// Diagnostic counters (MAP V1.1b3, 6.8.1 sub-functions 0x0B-0x12).
	busMessages, busCommErrors, busExceptions, serverMessages, noResponses uint16
}

// errHangUp ends a connection after a request the front chose not to answer.
var errHangUp = errors.New("hang up")

// serve handles one client connection until it closes or violates the
// protocol. It never panics on client bytes.
func (f *mbFront) serve(c net.Conn) {
	defer c.Close()
	if f.tap != nil {
		f.tap.accepted(c)
	}
	var be net.Conn
	defer func() {
		if be != nil {
			be.Close()
		}
	}()
	buf := make([]byte, modbus.MaxADULen)
	for {
		if _, err := io.ReadFull(c, buf[:modbus.HeaderLen]); err != nil {
			return
		}
		proto := binary.BigEndian.Uint16(buf[2:4])
		length := binary.BigEndian.Uint16(buf[4:6])
		if proto != 0 || length < modbus.MinLength || length > modbus.MaxLength {
			f.count(func() { f.busCommErrors++ })
			if f.tap != nil {
				f.tap.violation(c, append([]byte(nil), buf[:modbus.HeaderLen]...))
			}
			return
		}
		n := modbus.HeaderLen - 1 + int(length)
		if _, err := io.ReadFull(c, buf[modbus.HeaderLen:n]); err != nil {
			return
		}
		req := buf[:n]
		if f.tap != nil {
			f.tap.request(c, req)
		}
		resp, err := f.handle(req, &be)
		if errors.Is(err, errHangUp) {
			if f.tap != nil && f.tap.dropped(c) {
				return
			}
			continue
		}
		if err != nil {
			if f.logger != nil {
				f.logger.Printf("modbus: %s: %v", c.RemoteAddr(), err)
			}
			return
		}
		if f.tap != nil {
			f.tap.response(c, resp)
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

func (f *mbFront) count(fn func()) {
	f.mu.Lock()
	fn()
	f.mu.Unlock()
}

// handle answers one request ADU. errHangUp means no answer (listen-only).
func (f *mbFront) handle(req []byte, be *net.Conn) ([]byte, error) {
	unit := req[6]
	pdu := req[modbus.HeaderLen:]
	fc := modbus.FunctionCode(pdu[0])
	f.mu.Lock()
	f.busMessages++
	lo := f.listenOnly
	restart := fc == modbus.FuncDiagnostics && len(pdu) >= 3 &&
		modbus.SubFunction(binary.BigEndian.Uint16(pdu[1:3])) == modbus.SubRestartCommunicationsOption
	if lo && !restart {
		// MAP V1.1b3, 6.8.1 sub-function 04: in listen-only mode the
		// device ignores every request but Restart Communications.
		f.noResponses++
		f.mu.Unlock()
		return nil, errHangUp
	}
	f.serverMessages++
	f.mu.Unlock()

	if unit != UnitDam && unit != UnitTurbine {
		// No such unit behind this address: answer as a gateway would
		// (MAP V1.1b3, 7, exception 0x0B).
		return f.exception(req, modbus.ExGatewayTargetDeviceFailedToRespond), nil
	}
	switch fc {
	case modbus.FuncReadCoils, modbus.FuncReadDiscreteInputs, modbus.FuncReadHoldingRegisters,
		modbus.FuncReadInputRegisters, modbus.FuncWriteSingleCoil, modbus.FuncWriteSingleRegister,
		modbus.FuncWriteMultipleCoils, modbus.FuncWriteMultipleRegisters:
		resp, err := f.forward(req, be)
		if err != nil {
			return f.exception(req, modbus.ExServerDeviceFailure), nil
		}
		if len(resp) > modbus.HeaderLen && resp[modbus.HeaderLen]&0x80 != 0 {
			f.count(func() { f.busExceptions++ })
		}
		return resp, nil
	case modbus.FuncDiagnostics:
		return f.diagnostics(req)
	case modbus.FuncReportServerID:
		return f.reportServerID(req), nil
	case modbus.FuncReadWriteMultipleRegisters:
		return f.readWriteMultiple(req), nil
	case modbus.FuncEncapsulatedInterfaceTransport:
		return f.deviceID(req), nil
	}
	return f.exception(req, modbus.ExIllegalFunction), nil
}

// reply encodes resp with protocols/modbus's encoder into a response ADU
// with req's transaction and unit id. A response the encoder refuses (only
// a PDU over 253 bytes, which no handler here builds) becomes exception 04,
// server device failure (MAP V1.1b3, 7), so the client still gets an answer.
func reply(req []byte, resp modbus.Response) []byte {
	pdu, err := resp.AppendPDU(make([]byte, 0, modbus.MaxPDULen))
	if err != nil {
		ex := modbus.ExceptionResponse(modbus.FunctionCode(req[modbus.HeaderLen]), modbus.ExServerDeviceFailure)
		pdu, _ = ex.AppendPDU(pdu[:0]) // two bytes: cannot fail
	}
	a := modbus.ADU{TransactionID: binary.BigEndian.Uint16(req[0:2]), UnitID: req[6], PDU: pdu}
	adu, err := a.Append(make([]byte, 0, modbus.HeaderLen+len(pdu)))
	if err != nil {
		return nil // unreachable: the PDU is 2 to 253 bytes
	}
	return adu
}

func (f *mbFront) exception(req []byte, code modbus.ExceptionCode) []byte {
	f.count(func() { f.busExceptions++ })
	return reply(req, modbus.ExceptionResponse(modbus.FunctionCode(req[modbus.HeaderLen]), code))
}

// forward sends req to the library's server on this connection's backend
// connection (dialled on first use, redialled once if the library has closed
// it) and returns its answer.
func (f *mbFront) forward(req []byte, be *net.Conn) ([]byte, error) {
	for attempt := 0; attempt < 2; attempt++ {
		if *be == nil {
			c, err := net.DialTimeout("tcp", f.backend, 5*time.Second)
			if err != nil {
				return nil, fmt.Errorf("modbus backend: %w", err)
			}
			*be = c
		}
		resp, err := roundTrip(*be, req)
		if err == nil {
			return resp, nil
		}
		(*be).Close()
		*be = nil
	}
	return nil, fmt.Errorf("modbus backend %s: no answer", f.backend)
}

// roundTrip writes one ADU to c and reads one ADU back.
func roundTrip(c net.Conn, req []byte) ([]byte, error) {
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	return readADU(c)
}

// readADU reads one MBAP-framed ADU from r.
func readADU(r io.Reader) ([]byte, error) {
	hdr := make([]byte, modbus.HeaderLen, modbus.MaxADULen)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	l := int(binary.BigEndian.Uint16(hdr[4:6]))
	if l < modbus.MinLength || l > modbus.MaxLength {
		return nil, fmt.Errorf("mbap length %d: %w", l, modbus.ErrNotModbus)
	}
	out := hdr[:modbus.HeaderLen-1+l]
	if _, err := io.ReadFull(r, out[modbus.HeaderLen:]); err != nil {
		return nil, err
	}
	return out, nil
}

// diagnostics serves FC 8 (MAP V1.1b3, 6.8; Modbus/TCP devices such as
// Schneider's M340 implement the counters and listen-only mode over TCP too).
func (f *mbFront) diagnostics(req []byte) ([]byte, error) {
	pdu := req[modbus.HeaderLen:]
	if len(pdu) != 5 {
		return f.exception(req, modbus.ExIllegalDataValue), nil
	}
	sub := modbus.SubFunction(binary.BigEndian.Uint16(pdu[1:3]))
	data := binary.BigEndian.Uint16(pdu[3:5])
	echo := func(v uint16) []byte {
		return reply(req, modbus.Response{Function: modbus.FuncDiagnostics, SubFunction: sub,
			Data: binary.BigEndian.AppendUint16(nil, v)})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch sub {
	case modbus.SubReturnQueryData:
		return echo(data), nil
	case modbus.SubRestartCommunicationsOption:
		if data != 0x0000 && data != 0xFF00 {
			f.busExceptions++
			return reply(req, modbus.ExceptionResponse(modbus.FuncDiagnostics, modbus.ExIllegalDataValue)), nil
		}
		f.listenOnly = false
		f.busMessages, f.busCommErrors, f.busExceptions, f.serverMessages, f.noResponses = 0, 0, 0, 0, 0
		return echo(data), nil
	case modbus.SubReturnDiagnosticRegister:
		return echo(0), nil
	case modbus.SubForceListenOnlyMode:
		f.listenOnly = true
		return nil, errHangUp // 6.8.1: "no response is returned"
	case modbus.SubClearCountersAndDiagnosticReg:
		f.busMessages, f.busCommErrors, f.busExceptions, f.serverMessages, f.noResponses = 0, 0, 0, 0, 0
		return echo(data), nil
	case modbus.SubReturnBusMessageCount:
		return echo(f.busMessages), nil
	case modbus.SubReturnBusCommunicationErrorCount:
		return echo(f.busCommErrors), nil
	case modbus.SubReturnBusExceptionErrorCount:
		return echo(f.busExceptions), nil
	case modbus.SubReturnServerMessageCount:
		return echo(f.serverMessages), nil
	case modbus.SubReturnServerNoResponseCount:
		return echo(f.noResponses), nil
	case modbus.SubReturnServerNAKCount, modbus.SubReturnServerBusyCount, modbus.SubReturnBusCharacterOverrunCount:
		return echo(0), nil
	}
	f.busExceptions++
	return reply(req, modbus.ExceptionResponse(modbus.FuncDiagnostics, modbus.ExIllegalFunction)), nil
}

// reportServerID serves FC 17 (MAP V1.1b3, 6.13): byte count, server id, run
// indicator status (0xFF = on) and device-specific data.
func (f *mbFront) reportServerID(req []byte) []byte {
	if len(req) != modbus.HeaderLen+1 {
		return f.exception(req, modbus.ExIllegalDataValue)
	}
	id := Identities[req[6]]
	extra := id.ProductCode + " " + id.Revision
	data := append([]byte{id.ServerID, 0xFF}, extra...)
	return reply(req, modbus.Response{Function: modbus.FuncReportServerID, Data: data})
}

// readWriteMultiple serves FC 23 (MAP V1.1b3, 6.17): the write is performed
// before the read.
func (f *mbFront) readWriteMultiple(req []byte) []byte {
	pdu := req[modbus.HeaderLen:]
	if len(pdu) < 10 {
		return f.exception(req, modbus.ExIllegalDataValue)
	}
	ra, rq := binary.BigEndian.Uint16(pdu[1:3]), binary.BigEndian.Uint16(pdu[3:5])
	wa, wq := binary.BigEndian.Uint16(pdu[5:7]), binary.BigEndian.Uint16(pdu[7:9])
	bc := int(pdu[9])
	if rq < 1 || rq > 0x7D || wq < 1 || wq > 0x79 || bc != 2*int(wq) || len(pdu) != 10+bc {
		return f.exception(req, modbus.ExIllegalDataValue)
	}
	unit := req[6]
	wt, err := tagsAt(unit, HoldingRegisters, wa, wq)
	if err != nil {
		return f.exception(req, modbus.ExIllegalDataAddress)
	}
	rt, err := tagsAt(unit, HoldingRegisters, ra, rq)
	if err != nil {
		return f.exception(req, modbus.ExIllegalDataAddress)
	}
	vals := make([]uint16, wq)
	for i := range vals {
		vals[i] = binary.BigEndian.Uint16(pdu[10+2*i:])
	}
	if err := f.h.writeRaw(wt, vals); err != nil {
		return f.exception(req, exceptionOf(err))
	}
	return reply(req, modbus.Response{Function: modbus.FuncReadWriteMultipleRegisters,
		Values: modbus.RegisterValues(f.h.readRaw(rt)...)})
}

// deviceID serves FC 43 / MEI 14 (MAP V1.1b3, 6.21) with conformity level
// 0x82 (regular identification, stream and individual access); everything
// fits one response, so "more follows" is always 0.
func (f *mbFront) deviceID(req []byte) []byte {
	pdu := req[modbus.HeaderLen:]
	if len(pdu) != 4 || modbus.MEIType(pdu[1]) != modbus.MEIReadDeviceID {
		if len(pdu) >= 2 && modbus.MEIType(pdu[1]) != modbus.MEIReadDeviceID {
			return f.exception(req, modbus.ExIllegalFunction)
		}
		return f.exception(req, modbus.ExIllegalDataValue)
	}
	code, obj := modbus.ReadDeviceIDCode(pdu[2]), pdu[3]
	id := Identities[req[6]]
	var first, last uint8
	switch code {
	case modbus.ReadDeviceIDBasic:
		first, last = 0, 2
	case modbus.ReadDeviceIDRegular, modbus.ReadDeviceIDExtended:
		first, last = 0, 6
	case modbus.ReadDeviceIDIndividual:
		if _, ok := id.object(obj); !ok {
			return f.exception(req, modbus.ExIllegalDataAddress)
		}
		first, last = obj, obj
	default:
		return f.exception(req, modbus.ExIllegalDataValue)
	}
	if code != modbus.ReadDeviceIDIndividual && obj > first && obj <= last {
		first = obj // stream access resumes at the requested object
	}
	objs := make([]modbus.Object, 0, last-first+1)
	for o := first; o <= last; o++ {
		s, _ := id.object(o)
		objs = append(objs, modbus.Object{ID: o, Value: []byte(s)})
	}
	return reply(req, modbus.Response{Function: modbus.FuncEncapsulatedInterfaceTransport, MEI: modbus.MEIReadDeviceID,
		DeviceID: modbus.DeviceID{ReadCode: code, Conformity: 0x82, Objects: modbus.MakeObjects(objs...)}})
}

func exceptionOf(err error) modbus.ExceptionCode {
	if errors.Is(err, mb.ErrIllegalDataValue) {
		return modbus.ExIllegalDataValue
	}
	return modbus.ExIllegalDataAddress
}
