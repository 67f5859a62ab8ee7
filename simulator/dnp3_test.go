package simulator

import (
	"context"
	"testing"

	"github.com/sluice-ics/sluice/protocols/dnp3"
)

// TestRTU talks to the gate station over loopback as its SCADA master
// does, and reads what it answers with protocols/dnp3's decoder: the class
// 0 points are the process's values, controls move the process (and a
// value the device refuses gets status 7), unsolicited reports come once
// enabled, and functions it lacks are answered with IIN2.0.
func TestRTU(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := NewProcess(1)
	srv, err := startServers(ctx, p, "127.0.0.1:0", "", "127.0.0.1:0", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.close()
	e := &env{ctx: ctx, p: p, dnp3Addr: srv.rtu.ln.Addr().String(), logf: t.Logf}
	m, err := e.openDNP3(HostSCADA, DNP3MasterAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer m.c.Close()

	resp, err := m.request(dnp3.FuncRead, dnp3Integrity...)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Err != nil || resp.Function != dnp3.FuncResponse {
		t.Fatalf("integrity response %s: %v", resp.Function, resp.Err)
	}
	counts := map[[2]uint8]uint32{}
	for i := range resp.Objects {
		ob := &resp.Objects[i]
		counts[[2]uint8{ob.Group, ob.Variation}] = ob.Count
		if ob.Group == 30 {
			var pt dnp3.Point
			it := ob.Points()
			if !it.Next(&pt) || uint16(pt.Value.Int) != TagByName(TagLevel).Raw(p.Get(TagLevel)) || pt.Flags&1 == 0 {
				t.Errorf("analog input 0 %+v, level raw %d", pt, TagByName(TagLevel).Raw(p.Get(TagLevel)))
			}
		}
	}
	want := map[[2]uint8]uint32{{1, 2}: 3, {10, 2}: 2, {30, 2}: 4, {40, 2}: 2}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("g%dv%d: %d points, want %d (got %v)", k[0], k[1], counts[k], n, counts)
		}
	}

	operate := func(raw uint16) uint8 {
		t.Helper()
		resp, err := m.request(dnp3.FuncDirectOperate, analogOutObj(1, raw)...)
		if err != nil {
			t.Fatal(err)
		}
		var pt dnp3.Point
		if len(resp.Objects) != 1 {
			t.Fatalf("echo of the control: %d objects (%v)", len(resp.Objects), resp.Err)
		}
		it := resp.Objects[0].Points()
		if !it.Next(&pt) || !pt.HasStatus {
			t.Fatalf("echo %+v", pt)
		}
		return pt.Status
	}
	if st := operate(25); st != 0 || p.Get(TagEcoSP) != 2.5 {
		t.Errorf("release setpoint 2.5: status %d, tag %v", st, p.Get(TagEcoSP))
	}
	if st := operate(200); st != 7 || p.Get(TagEcoSP) != 2.5 {
		t.Errorf("release setpoint 20 (above the device's 10): status %d, tag %v", st, p.Get(TagEcoSP))
	}
	if _, err := m.request(dnp3.FuncDirectOperate, crobObj(0, crobLatchOff)...); err != nil || p.Get(TagGate2Enable) != 0 {
		t.Errorf("latch off the drive: %v, enable %v", err, p.Get(TagGate2Enable))
	}

	if n := srv.rtu.pushUnsolicited(); n != 0 {
		t.Errorf("unsolicited sent to %d masters before enabling", n)
	}
	if _, err := m.request(dnp3.FuncEnableUnsolicited, dnp3EventClasses...); err != nil {
		t.Fatal(err)
	}
	if n := srv.rtu.pushUnsolicited(); n != 1 {
		t.Fatalf("unsolicited sent to %d masters", n)
	}
	if err := m.awaitUnsolicited(); err != nil {
		t.Fatal(err)
	}
	resp, err = m.request(dnp3.FuncImmediateFreeze, 0x14, 0x00, 0x06)
	if err != nil {
		t.Fatal(err)
	}
	if resp.IIN&dnp3.IINNoFuncCodeSupport == 0 {
		t.Errorf("immediate freeze answered with IIN %04x, want function not supported", uint16(resp.IIN))
	}
}
