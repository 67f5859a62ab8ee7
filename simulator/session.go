package simulator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// env is what actions run against: the servers' loopback addresses and, in
// a capture, the recorder. Actions run one at a time (see run), so env needs
// no locking.
type env struct {
	ctx    context.Context
	p      *Process
	rec    *recorder // nil when live
	srv    *servers  // the in-process servers of a capture, nil when live
	mbAddr string    // host:port of the Modbus front
	uaAddr string    // host:port of the OPC UA server
	uaURL  string    // its endpoint URL
	// dnp3Addr is host:port of the DNP3 gate station ("" for none).
	dnp3Addr string
	seed     uint64
	logf     func(format string, args ...any)
	nconn    uint64 // connections opened, to seed each OPC UA connection

	// Actor state.
	hmi           *libSession
	hmiSilent     bool
	historian     *uaConn
	liveHist      *liveHistorian // the historian when live (gopcua's client)
	historianAnon bool
	// historianClear: the historian's password goes in clear
	// (opcua_cleartext_login).
	historianClear bool
	opIndex        int
	atkRaw         *rawSession // an attack's connection between its steps
	atkUA          *uaConn
	// scadaDNP3 is the SCADA master's connection to the gate station;
	// dnp3Op counts the DNP3 operator's steps.
	scadaDNP3 *dnp3Master
	dnp3Op    int
}

func (e *env) live() bool { return e.rec == nil }

// now is the current simulated (capture) or wall (live) time.
func (e *env) now() time.Time {
	if e.rec != nil {
		return Epoch.Add(e.rec.now())
	}
	return time.Now().UTC()
}

// wait lets d pass: on the recorder's cursor in a capture, for real live.
func (e *env) wait(d time.Duration) {
	if e.rec != nil {
		e.rec.wait(d)
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-e.ctx.Done():
	case <-t.C:
	}
}

// loopbackFor maps a plant address to a loopback one (10.10.9.66 →
// 127.10.9.66) so live traffic from different actors has different sources.
func loopbackFor(h Host) *net.TCPAddr {
	a := h.IP.As4()
	return &net.TCPAddr{IP: netip.AddrFrom4([4]byte{127, a[1], a[2], a[3]}).AsSlice()}
}

// dial connects a client of host h to addr: live from h's loopback image
// (so detections that key on the source work on lo), falling back to
// 127.0.0.1 where only that is routed; in a capture from anywhere (the
// recorder names the hosts).
func (e *env) dial(h Host, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if e.live() {
		d.LocalAddr = loopbackFor(h)
	}
	c, err := d.DialContext(e.ctx, "tcp", addr)
	if err != nil && e.live() {
		d.LocalAddr = nil
		c, err = d.DialContext(e.ctx, "tcp", addr)
	}
	return c, err
}

// clientTimeout is how long a Modbus master waits for an answer. In a
// capture, unanswered requests end at once (the front hangs up) and the
// timeout is simulated; the long value only guards against a stuck server.
func (e *env) clientTimeout() time.Duration {
	if e.live() {
		return time.Second
	}
	return 10 * time.Second
}

// hmiTimeout is the simulated time an HMI waits before giving up a request.
const hmiTimeout = 800 * time.Millisecond

var discard = log.New(io.Discard, "", 0)

// libSession is a Modbus master using github.com/simonvetter/modbus.
type libSession struct {
	c  *mb.ModbusClient
	rc *rconn
}

func (e *env) openLib(h Host) (*libSession, error) {
	if e.rec != nil {
		e.rec.expect(h, HostPLC, PortModbus, false)
	}
	c, err := mb.NewClient(&mb.ClientConfiguration{URL: "tcp://" + e.mbAddr, Timeout: e.clientTimeout(), Logger: discard})
	if err == nil {
		err = c.Open()
	}
	if err != nil {
		return nil, fmt.Errorf("modbus client %s: %w", h.Name, err)
	}
	s := &libSession{c: c}
	if e.rec != nil {
		s.rc = e.rec.waitAccepted()
	}
	return s, nil
}

// isException reports whether err is a Modbus exception answer (the
// connection is fine) rather than a transport failure.
func isException(err error) bool {
	for _, x := range []error{mb.ErrIllegalFunction, mb.ErrIllegalDataAddress, mb.ErrIllegalDataValue,
		mb.ErrServerDeviceFailure, mb.ErrAcknowledge, mb.ErrServerDeviceBusy, mb.ErrMemoryParityError,
		mb.ErrGWPathUnavailable, mb.ErrGWTargetFailedToRespond} {
		if errors.Is(err, x) {
			return true
		}
	}
	return false
}

// close closes the session, after the master's timeout when it gave up on an
// unanswered request.
func (s *libSession) close(e *env, timedOut bool) {
	if timedOut {
		e.wait(hmiTimeout)
	}
	if e.rec != nil && s.rc != nil {
		e.rec.clientClose(s.rc)
	}
	s.c.Close()
}

// rawSession is a Modbus master that sends bytes of our choosing (attack
// scripts): requests no library would send and bytes that are not Modbus.
type rawSession struct {
	c   net.Conn
	rc  *rconn
	tid uint16
	e   *env
}

func (e *env) openRaw(h Host) (*rawSession, error) {
	if e.rec != nil {
		e.rec.expect(h, HostPLC, PortModbus, true)
	}
	c, err := e.dial(h, e.mbAddr)
	if err != nil {
		return nil, fmt.Errorf("modbus raw %s: %w", h.Name, err)
	}
	s := &rawSession{c: c, e: e}
	if e.rec != nil {
		s.rc = e.rec.waitAccepted()
	}
	return s, nil
}

// send writes b as one segment.
func (s *rawSession) send(b []byte) error {
	if s.e.rec != nil {
		s.e.rec.send(s.rc, b)
	}
	_, err := s.c.Write(b)
	return err
}

// request sends req to unit, encoded by protocols/modbus (the same encoder
// the agent's tests round-trip), and returns the answer ADU, or an error when
// none comes (listen-only, closed).
func (s *rawSession) request(unit uint8, req modbus.Request) ([]byte, error) {
	pdu, err := req.AppendPDU(make([]byte, 0, modbus.MaxPDULen))
	if err != nil {
		return nil, fmt.Errorf("modbus raw request: %w", err)
	}
	s.tid++
	a := modbus.ADU{TransactionID: s.tid, UnitID: unit, PDU: pdu}
	b, err := a.Append(make([]byte, 0, modbus.HeaderLen+len(pdu)))
	if err != nil {
		return nil, fmt.Errorf("modbus raw request: %w", err)
	}
	if err := s.send(b); err != nil {
		return nil, err
	}
	return s.answer()
}

// answer reads one ADU (the front has recorded it before writing it).
func (s *rawSession) answer() ([]byte, error) {
	if err := s.c.SetReadDeadline(time.Now().Add(s.e.clientTimeout())); err != nil {
		return nil, err
	}
	return readADU(s.c)
}

// waitClosed waits for the server to close after bytes it rejects.
func (s *rawSession) waitClosed() {
	_ = s.c.SetReadDeadline(time.Now().Add(s.e.clientTimeout()))
	var b [64]byte
	for {
		if _, err := s.c.Read(b[:]); err != nil {
			return
		}
	}
}

func (s *rawSession) close() {
	if s.e.rec != nil {
		s.e.rec.clientClose(s.rc)
	}
	s.c.Close()
}

// Requests of the raw master (MAP V1.1b3, chapter 6), as protocols/modbus
// Request values.
func reqRead(fc modbus.FunctionCode, addr, qty uint16) modbus.Request {
	return modbus.Request{Function: fc, Address: addr, Quantity: qty}
}

func reqWriteRegister(addr, v uint16) modbus.Request {
	return modbus.Request{Function: modbus.FuncWriteSingleRegister, Address: addr, Values: modbus.RegisterValues(v)}
}

// reqDiag is FC 8 with one 16-bit data word, as every sub-function the
// scenarios send carries (MAP V1.1b3, 6.8).
func reqDiag(sub modbus.SubFunction, data uint16) modbus.Request {
	return modbus.Request{Function: modbus.FuncDiagnostics, SubFunction: sub, Data: binary.BigEndian.AppendUint16(nil, data)}
}

func reqDeviceID(code modbus.ReadDeviceIDCode, obj uint8) modbus.Request {
	return modbus.Request{Function: modbus.FuncEncapsulatedInterfaceTransport, MEI: modbus.MEIReadDeviceID,
		DeviceID: modbus.DeviceID{ReadCode: code, ObjectID: obj}}
}

// openUA connects an OPC UA client from h: anonymous when user is "".
func (e *env) openUA(h Host, app, user, pass string) (*uaConn, error) {
	var rc *rconn
	if e.rec != nil {
		rc = e.rec.direct(h, HostUAServer, PortOPCUA)
	}
	c, err := e.dial(h, e.uaAddr)
	if err != nil {
		return nil, fmt.Errorf("opc ua %s: %w", h.Name, err)
	}
	e.nconn++
	u, err := uaDial(c, e.uaURL, e.rec, rc, e.seed^(e.nconn*0x9e3779b97f4a7c15), e.now)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("opc ua %s: %w", h.Name, err)
	}
	u.clearPassword = e.historianClear && h.IP == HostSCADA.IP
	if err := u.createSession(app, user, pass); err != nil {
		c.Close()
		return nil, fmt.Errorf("opc ua %s: %w", h.Name, err)
	}
	return u, nil
}
