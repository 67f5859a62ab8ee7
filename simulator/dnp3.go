package simulator

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/sluice-ics/sluice/protocols/dnp3"
)

// The remote gate station: a DNP3 outstation (IEEE 1815-2012) over TCP
// for spillway gate 2 and the ecological release, polled by the SCADA
// master. Its encoder is ours (no maintained, permissively licensed Go
// DNP3 library was found: github.com/dnp3 and the Go ports of opendnp3 are
// unmaintained or GPL); frames are built with protocols/dnp3's AppendFrame
// and read back with its ParseFrame and Message, the decoder the agent
// uses. Every message is one fragment in one transport segment in one
// link frame (the station's messages are short).

// HostRTU is the gate station's RTU, on the controllers' subnet.
var HostRTU = Host{Name: "gate-rtu", IP: netip.MustParseAddr("10.10.2.20"), MAC: mac("00:50:c2:4d:20:14"), TTL: 64}

// PortDNP3 is DNP3's port (IEEE 1815-2012 Annex C); the link addresses
// of the SCADA master and of the RTU.
const (
	PortDNP3              = 20000
	DNP3MasterAddr uint16 = 1
	DNP3RTUAddr    uint16 = 10
)

// The station's points, by DNP3 index: what the SCADA master's point list
// says (docs/simulator.md).
var (
	// rtuBinaryInputs are read as g1v2 (class 0) and reported as g2v1
	// events.
	rtuBinaryInputs = []string{TagGate2Enable, TagAlarmGate2Fault, TagAlarmHighLevel}
	// rtuAnalogInputs are read as g30v2 (16-bit with flag), raw as in
	// Modbus (Tag.Raw).
	rtuAnalogInputs = []string{TagLevel, TagGate2Pos, TagGate2Flow, TagEcoFlow}
	// rtuBinaryOutputs are operated by CROB (g12v1): 0 drive enable
	// (latch on/off), 1 alarm acknowledge (pulse on).
	rtuBinaryOutputs = []string{TagGate2Enable, TagAlarmAck}
	// rtuAnalogOutputs are operated by g41v2 (16-bit) blocks, raw.
	rtuAnalogOutputs = []string{TagGate2SP, TagEcoSP}
)

// CROB control codes the scenarios use (IEEE 1815-2012 table 11-12).
const (
	crobPulseOn  = 0x01
	crobLatchOn  = 0x03
	crobLatchOff = 0x04
)

// dnp3Frame appends the link frame carrying app (an application fragment)
// from src to dest: unconfirmed user data, PRM set, DIR set from a master;
// one transport segment, FIR and FIN, with sequence tseq.
func dnp3Frame(dst []byte, fromMaster bool, src, dest uint16, tseq uint8, app []byte) ([]byte, error) {
	ctl := dnp3.LinkControl(0x44)
	if fromMaster {
		ctl |= 0x80
	}
	data := append([]byte{0xC0 | tseq&0x3F}, app...)
	return dnp3.AppendFrame(dst, dnp3.LinkHeader{Control: ctl, Dest: dest, Source: src}, data)
}

// readDNP3Frame reads one whole link frame: the header, then as many
// octets as its length says (blocks of 16 data octets, each with a CRC).
func readDNP3Frame(r io.Reader) ([]byte, error) {
	b := make([]byte, dnp3.HeaderLen, dnp3.MaxFrameLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	if b[0] != 0x05 || b[1] != 0x64 || b[2] < 5 {
		return nil, fmt.Errorf("dnp3: bad link header % x", b[:3])
	}
	n := int(b[2]) - 5
	n += 2 * ((n + 15) / 16)
	b = b[:dnp3.HeaderLen+n]
	if _, err := io.ReadFull(r, b[dnp3.HeaderLen:]); err != nil {
		return nil, err
	}
	return b, nil
}

// parseDNP3 decodes a frame read by readDNP3Frame into its header and
// application fragment (a copy).
func parseDNP3(raw []byte) (dnp3.LinkHeader, []byte, error) {
	var buf [dnp3.MaxUserData]byte
	f, _, err := dnp3.ParseFrame(raw, &buf)
	if err != nil {
		return dnp3.LinkHeader{}, nil, err
	}
	if len(f.Data) < 3 || f.Data[0]&0xC0 != 0xC0 {
		return f.LinkHeader, nil, errors.New("dnp3: not a single-segment fragment")
	}
	return f.LinkHeader, append([]byte(nil), f.Data[1:]...), nil
}

// rtu is the outstation: the process behind it, and its connections with
// whether each has unsolicited reporting enabled.
type rtu struct {
	p  *Process
	ln net.Listener
	mu sync.Mutex
	// conns maps each master connection to its state.
	conns map[net.Conn]*rtuConn
	done  chan struct{}
	// lastBI are the binary inputs as last reported, for events.
	lastBI []bool
}

type rtuConn struct {
	unsolicited bool
	useq        uint8 // next unsolicited sequence number
	tseq        uint8 // next transport sequence
	master      uint16
	wmu         sync.Mutex
}

func startRTU(p *Process, addr string) (*rtu, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dnp3 listen %s: %w", addr, err)
	}
	r := &rtu{p: p, ln: ln, conns: map[net.Conn]*rtuConn{}, done: make(chan struct{})}
	go r.accept()
	return r, nil
}

func (r *rtu) accept() {
	defer close(r.done)
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		rc := &rtuConn{}
		r.mu.Lock()
		r.conns[c] = rc
		r.mu.Unlock()
		go func() {
			defer func() {
				recover() // a bug in one connection ends only that one
				r.mu.Lock()
				delete(r.conns, c)
				r.mu.Unlock()
				c.Close()
			}()
			r.serve(c, rc)
		}()
	}
}

func (r *rtu) close() {
	r.ln.Close()
	<-r.done
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
}

// serve answers one master until it hangs up or sends what is not DNP3.
func (r *rtu) serve(c net.Conn, rc *rtuConn) {
	for {
		raw, err := readDNP3Frame(c)
		if err != nil {
			return
		}
		h, app, err := parseDNP3(raw)
		if err != nil {
			return
		}
		var m dnp3.Message
		_ = m.Parse(app)
		if m.Function == dnp3.FuncConfirm || m.Function.IsResponse() || h.Dest != DNP3RTUAddr {
			continue // confirmations need no answer; other stations are not us
		}
		r.mu.Lock()
		rc.master = h.Source
		resp := r.answer(&m, rc)
		r.mu.Unlock()
		if resp == nil {
			continue // a _nr function: no response
		}
		if err := r.send(c, rc, resp); err != nil {
			return
		}
	}
}

// send writes one fragment to the master as one frame.
func (r *rtu) send(c net.Conn, rc *rtuConn, app []byte) error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	b, err := dnp3Frame(nil, false, DNP3RTUAddr, rc.master, rc.tseq, app)
	rc.tseq++
	if err != nil {
		return err
	}
	_, err = c.Write(b)
	return err
}

// answer builds the response to m (nil for a function answered by
// nothing). Callers hold r.mu.
func (r *rtu) answer(m *dnp3.Message, rc *rtuConn) []byte {
	resp := []byte{0xC0 | m.Control.Seq(), byte(dnp3.FuncResponse), 0, 0}
	switch m.Function {
	case dnp3.FuncRead:
		mask := 0
		for i := range m.Objects {
			if ob := &m.Objects[i]; ob.Group == 60 {
				mask |= 1 << (ob.Variation - 1)
			}
		}
		if mask&0b1110 != 0 {
			resp = r.events(resp)
		}
		if mask&1 != 0 {
			resp = r.static(resp)
		}
	case dnp3.FuncSelect, dnp3.FuncOperate, dnp3.FuncDirectOperate, dnp3.FuncDirectOperateNR:
		// Echo the controls with their status, operating them on
		// operate and direct operate.
		exec := m.Function != dnp3.FuncSelect
		for i := range m.Objects {
			ob := &m.Objects[i]
			resp = r.control(resp, ob, exec)
		}
		if m.Function == dnp3.FuncDirectOperateNR {
			return nil
		}
	case dnp3.FuncEnableUnsolicited, dnp3.FuncDisableUnsolicited:
		rc.unsolicited = m.Function == dnp3.FuncEnableUnsolicited
	case dnp3.FuncColdRestart, dnp3.FuncWarmRestart:
		// The time the master should wait before talking again (g52v2,
		// ms): the station "restarts" at once.
		resp = append(resp, 0x34, 0x02, 0x07, 0x01, 0xF4, 0x01)
	case dnp3.FuncWrite, dnp3.FuncOpenFile, dnp3.FuncCloseFile, dnp3.FuncDeleteFile, dnp3.FuncAbortFile:
		// Accepted: a null response.
	default:
		resp[3] |= byte(dnp3.IINNoFuncCodeSupport)
	}
	return resp
}

// static appends the class 0 objects: every binary input (g1v2), binary
// output status (g10v2), analog input (g30v2) and analog output status
// (g40v2), with their flags online.
func (r *rtu) static(b []byte) []byte {
	bits := func(group uint8, tags []string) {
		b = append(b, group, 0x02, 0x00, 0x00, byte(len(tags)-1))
		for _, t := range tags {
			flag := byte(0x01)
			if r.p.Get(t) != 0 {
				flag |= 0x80
			}
			b = append(b, flag)
		}
	}
	analogs := func(group uint8, tags []string) {
		b = append(b, group, 0x02, 0x00, 0x00, byte(len(tags)-1))
		for _, t := range tags {
			b = append(b, 0x01)
			b = binary.LittleEndian.AppendUint16(b, TagByName(t).Raw(r.p.Get(t)))
		}
	}
	bits(1, rtuBinaryInputs)
	bits(10, rtuBinaryOutputs)
	analogs(30, rtuAnalogInputs)
	analogs(40, rtuAnalogOutputs)
	return b
}

// events appends a g2v1 event for every binary input that changed since
// the last report (none: a null response).
func (r *rtu) events(b []byte) []byte {
	now := make([]bool, len(rtuBinaryInputs))
	var idx []int
	for i, t := range rtuBinaryInputs {
		now[i] = r.p.Get(t) != 0
		if r.lastBI != nil && now[i] != r.lastBI[i] {
			idx = append(idx, i)
		}
	}
	r.lastBI = now
	if len(idx) == 0 {
		return b
	}
	b = append(b, 0x02, 0x01, 0x17, byte(len(idx)))
	for _, i := range idx {
		flag := byte(0x01)
		if now[i] {
			flag |= 0x80
		}
		b = append(b, byte(i), flag)
	}
	return b
}

// control appends the echo of one control object with its status, and
// operates its points when exec is set: CROBs on the binary outputs,
// analog output blocks on the setpoints.
func (r *rtu) control(b []byte, ob *dnp3.Object, exec bool) []byte {
	if ob.Group != 12 && ob.Group != 41 {
		return b
	}
	b = append(b, ob.Group, ob.Variation, byte(ob.Qualifier))
	// The header's count and the points, as the master sent them, with
	// the status octet set.
	start := len(b)
	var p dnp3.Point
	n := 0
	for it := ob.Points(); it.Next(&p); n++ {
		status := byte(0) // success
		switch {
		case ob.Group == 12 && int(p.Index) < len(rtuBinaryOutputs):
			if exec {
				on := p.Control.OpType() == crobLatchOn || p.Control.OpType() == crobPulseOn
				_ = r.p.Set(rtuBinaryOutputs[p.Index], boolValue(on))
			}
			b = binary.LittleEndian.AppendUint16(b, uint16(p.Index))
			b = append(b, byte(p.Control), p.Count)
			b = binary.LittleEndian.AppendUint32(b, p.OnTime)
			b = binary.LittleEndian.AppendUint32(b, p.OffTime)
		case ob.Group == 41 && int(p.Index) < len(rtuAnalogOutputs):
			t := TagByName(rtuAnalogOutputs[p.Index])
			raw := uint16(p.Value.Int)
			if exec {
				if err := r.p.Set(t.Name, t.Value(raw)); err != nil {
					status = 7 // out of range
				}
			}
			b = binary.LittleEndian.AppendUint16(b, uint16(p.Index))
			b = binary.LittleEndian.AppendUint16(b, raw)
		default:
			status = 4 // not supported
			b = binary.LittleEndian.AppendUint16(b, uint16(p.Index))
			if ob.Group == 12 {
				b = append(b, byte(p.Control), p.Count, 0, 0, 0, 0, 0, 0, 0, 0)
			} else {
				b = append(b, 0, 0)
			}
		}
		b = append(b, status)
	}
	// Qualifier 0x28: a 2-octet count before the points.
	count := binary.LittleEndian.AppendUint16(nil, uint16(n))
	return append(b[:start], append(count, b[start:]...)...)
}

func boolValue(on bool) float64 {
	if on {
		return 1
	}
	return 0
}

// pushUnsolicited sends an unsolicited response with the reservoir level
// (a g32v2 analog event) to every master that enabled unsolicited
// reporting, and returns how many it sent to.
func (r *rtu) pushUnsolicited() int {
	r.mu.Lock()
	type target struct {
		c  net.Conn
		rc *rtuConn
		b  []byte
	}
	var ts []target
	for c, rc := range r.conns {
		if !rc.unsolicited {
			continue
		}
		b := []byte{0xF0 | rc.useq&0x0F, byte(dnp3.FuncUnsolicitedResponse), 0, 0, 0x20, 0x02, 0x17, 0x01, 0x00, 0x01}
		b = binary.LittleEndian.AppendUint16(b, TagByName(TagLevel).Raw(r.p.Get(TagLevel)))
		rc.useq++
		ts = append(ts, target{c, rc, b})
	}
	r.mu.Unlock()
	for _, t := range ts {
		_ = r.send(t.c, t.rc, t.b)
	}
	return len(ts)
}

// dnp3Master is a master's connection to the RTU: it records what it sends
// and receives itself in a capture, and confirms unsolicited responses it
// meets while waiting for an answer.
type dnp3Master struct {
	c    net.Conn
	rc   *rconn
	e    *env
	addr uint16 // its link address
	seq  uint8  // next application sequence
	tseq uint8
}

func (e *env) openDNP3(h Host, addr uint16) (*dnp3Master, error) {
	var rc *rconn
	if e.rec != nil {
		rc = e.rec.direct(h, HostRTU, PortDNP3)
	}
	c, err := e.dial(h, e.dnp3Addr)
	if err != nil {
		return nil, fmt.Errorf("dnp3 %s: %w", h.Name, err)
	}
	return &dnp3Master{c: c, rc: rc, e: e, addr: addr}, nil
}

func (m *dnp3Master) send(app []byte) error {
	b, err := dnp3Frame(nil, true, m.addr, DNP3RTUAddr, m.tseq, app)
	m.tseq++
	if err != nil {
		return err
	}
	if m.e.rec != nil {
		m.e.rec.send(m.rc, b)
	}
	_, err = m.c.Write(b)
	return err
}

// recv reads one fragment from the RTU.
func (m *dnp3Master) recv() (*dnp3.Message, error) {
	if err := m.c.SetReadDeadline(time.Now().Add(m.e.clientTimeout())); err != nil {
		return nil, err
	}
	raw, err := readDNP3Frame(m.c)
	if err != nil {
		return nil, err
	}
	if m.e.rec != nil {
		m.e.rec.recv(m.rc, raw)
	}
	_, app, err := parseDNP3(raw)
	if err != nil {
		return nil, err
	}
	msg := new(dnp3.Message)
	_ = msg.Parse(app)
	return msg, nil
}

// request sends function fc with objects and returns the response; an
// unsolicited response that comes first is confirmed and skipped. A _nr
// function returns nil at once.
func (m *dnp3Master) request(fc dnp3.FunctionCode, objs ...byte) (*dnp3.Message, error) {
	seq := m.seq & 0x0F
	m.seq++
	if err := m.send(append([]byte{0xC0 | seq, byte(fc)}, objs...)); err != nil {
		return nil, err
	}
	if !fc.ExpectsResponse() {
		return nil, nil
	}
	for {
		resp, err := m.recv()
		if err != nil {
			return nil, err
		}
		if resp.Function == dnp3.FuncUnsolicitedResponse {
			if err := m.confirm(resp); err != nil {
				return nil, err
			}
			continue
		}
		if resp.Control.Seq() == seq {
			return resp, nil
		}
	}
}

// confirm answers an unsolicited response that asked for it.
func (m *dnp3Master) confirm(u *dnp3.Message) error {
	if !u.Control.CON() {
		return nil
	}
	m.e.wait(2 * time.Millisecond)
	return m.send([]byte{0xD0 | u.Control.Seq(), byte(dnp3.FuncConfirm)})
}

// awaitUnsolicited reads and confirms one unsolicited response.
func (m *dnp3Master) awaitUnsolicited() error {
	u, err := m.recv()
	if err != nil {
		return err
	}
	if u.Function != dnp3.FuncUnsolicitedResponse {
		return fmt.Errorf("dnp3: %s while waiting for an unsolicited response", u.Function)
	}
	return m.confirm(u)
}

func (m *dnp3Master) close() {
	if m.e.rec != nil {
		m.e.rec.clientClose(m.rc)
	}
	m.c.Close()
}

// Object headers the master sends.
var (
	dnp3EventClasses = []byte{0x3C, 0x02, 0x06, 0x3C, 0x03, 0x06, 0x3C, 0x04, 0x06}
	dnp3Integrity    = []byte{0x3C, 0x02, 0x06, 0x3C, 0x03, 0x06, 0x3C, 0x04, 0x06, 0x3C, 0x01, 0x06}
)

// crobObj is a CROB (g12v1, qualifier 0x28) on point index.
func crobObj(index uint16, code byte) []byte {
	b := []byte{0x0C, 0x01, 0x28, 0x01, 0x00, byte(index), byte(index >> 8), code, 0x01}
	b = binary.LittleEndian.AppendUint32(b, 500)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, 0x00)
}

// analogOutObj is an analog output block (g41v2, qualifier 0x28) on
// point index.
func analogOutObj(index uint16, raw uint16) []byte {
	b := []byte{0x29, 0x02, 0x28, 0x01, 0x00, byte(index), byte(index >> 8)}
	b = binary.LittleEndian.AppendUint16(b, raw)
	return append(b, 0x00)
}

// The SCADA master's actions (normal traffic).

// scadaDNP3 returns the SCADA master's connection to the RTU, opening it
// (integrity poll, then enable unsolicited) when there is none.
func scadaDNP3(e *env) (*dnp3Master, error) {
	if e.scadaDNP3 != nil {
		return e.scadaDNP3, nil
	}
	m, err := e.openDNP3(HostSCADA, DNP3MasterAddr)
	if err != nil {
		return nil, err
	}
	if _, err := m.request(dnp3.FuncRead, dnp3Integrity...); err != nil {
		m.c.Close()
		return nil, err
	}
	e.wait(20 * time.Millisecond)
	if _, err := m.request(dnp3.FuncEnableUnsolicited, dnp3EventClasses...); err != nil {
		m.c.Close()
		return nil, err
	}
	e.scadaDNP3 = m
	return m, nil
}

// dnp3Poll is the master's event poll (class 1, 2, 3) or, with integrity,
// its integrity poll (class 1, 2, 3 and 0).
func dnp3Poll(e *env, integrity bool) error {
	m, err := scadaDNP3(e)
	if err != nil {
		return err
	}
	objs := dnp3EventClasses
	if integrity {
		objs = dnp3Integrity
	}
	_, err = m.request(dnp3.FuncRead, objs...)
	return err
}

// dnp3Report has the RTU report the level unsolicited; the master
// confirms. Live, the RTU reports on its own clock (Serve).
func dnp3Report(e *env) error {
	if e.live() || e.srv == nil || e.srv.rtu == nil {
		return nil
	}
	m, err := scadaDNP3(e)
	if err != nil {
		return err
	}
	if e.srv.rtu.pushUnsolicited() == 0 {
		return nil
	}
	return m.awaitUnsolicited()
}

// dnp3Operator is the operator at the SCADA console: the ecological
// release setpoint through its permitted values (select, then operate),
// and every other time an alarm acknowledge (CROB pulse on index 1).
func dnp3Operator(e *env) error {
	m, err := scadaDNP3(e)
	if err != nil {
		return err
	}
	return dnp3OperatorWith(e, m)
}

// dnp3OperatorWith is one operator step on the master connection m.
func dnp3OperatorWith(e *env, m *dnp3Master) error {
	v := operatorEco[e.dnp3Op%len(operatorEco)]
	e.dnp3Op++
	obj := analogOutObj(1, TagByName(TagEcoSP).Raw(v))
	if _, err := m.request(dnp3.FuncSelect, obj...); err != nil {
		return err
	}
	e.wait(120 * time.Millisecond)
	if _, err := m.request(dnp3.FuncOperate, obj...); err != nil {
		return err
	}
	if e.dnp3Op%2 == 0 {
		e.wait(800 * time.Millisecond)
		if _, err := m.request(dnp3.FuncDirectOperate, crobObj(1, crobPulseOn)...); err != nil {
			return err
		}
	}
	return nil
}

// operatorEco are the ecological release setpoints the operator uses
// (m3/s, within the permit's 2-3).
var operatorEco = []float64{2.5, 2, 3}

// OperatorSetsRelease plays the operator's release setpoints live against
// a running simulator's gate RTU at dnp3Addr, from the SCADA master's
// address (its loopback image) and link address: each of the permitted
// values (select, then operate) and an alarm acknowledge. The demo does
// it inside its short learning window, as the normal operator would every
// 7-11 minutes, so the setpoints' range is learned.
func OperatorSetsRelease(ctx context.Context, dnp3Addr string) error {
	e := &env{ctx: ctx, dnp3Addr: dnp3Addr, logf: func(string, ...any) {}}
	m, err := e.openDNP3(HostSCADA, DNP3MasterAddr)
	if err != nil {
		return err
	}
	defer m.close()
	for range operatorEco {
		if err := dnp3OperatorWith(e, m); err != nil {
			return err
		}
	}
	return nil
}
