package baselines

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

func pfx(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}

// testPolicy: the HMI alone may talk to the PLC; reads and FC 6/16 only;
// holding 0-9 writable; a setpoint (uint16 × 0.1, ≤ 60 %), a signed
// offset (int16) and a flow (float32 low word first) limited.
func testPolicy() *Policy {
	return &Policy{
		Variables: []Variable{
			{Name: "Gate.SP", EngUnit: "%", InModbus: true, Unit: 1, Table: modbus.TableHoldingRegisters, Addr: 0, Type: Uint16, Scale: 0.1},
			{Name: "Trim", InModbus: true, Unit: 1, Table: modbus.TableHoldingRegisters, Addr: 1, Type: Int16, Scale: 1},
			{Name: "Flow", EngUnit: "m3/s", InModbus: true, Unit: 1, Table: modbus.TableHoldingRegisters, Addr: 4, Type: Float32, LowWordFirst: true, Scale: 1},
			{Name: "UA.SP", Node: "ns=2;s=Gate.SP"},
			{Name: "RTU.Release", EngUnit: "m3/s", InDNP3: true, AnalogOutput: 1, Scale: 0.1},
		},
		Rules: []PolicyRule{
			{Name: "hmi-only", Scope: Scope{Protocol: Modbus, Servers: []netip.Prefix{pfx("10.10.2.0/24")}}, Allow: []netip.Prefix{pfx("10.10.1.10")}},
			{Name: "functions", Scope: Scope{Protocol: Modbus, Units: []uint8{1}}, ModbusFunctions: []uint8{3, 6, 16}},
			{Name: "writable", Scope: Scope{Protocol: Modbus}, HasWritable: true,
				Writable: []TableRange{{modbus.TableHoldingRegisters, 0, 5}, {modbus.TableHoldingRegisters, 6, 9}}},
			{Name: "limits", Limits: []Limit{{Var: 0, Max: 60, HasMax: true}, {Var: 1, Min: -5, HasMin: true, Max: 5, HasMax: true},
				{Var: 2, Max: 100, HasMax: true}, {Var: 3, Max: 60, HasMax: true}, {Var: 4, Max: 50, HasMax: true}}},
			{Name: "ua-services", Scope: Scope{Protocol: OPCUA, Ports: []uint16{4840}}, Services: []string{"Read", "Write"}},
		},
	}
}

// policyAlerts observes o on e and returns the policy names it broke.
func policyAlerts(e *Engine, o Observation) []string {
	var out []string
	for _, a := range e.Observe(&o) {
		if a.Rule == PolicyViolation {
			if !strings.Contains(a.Signature, `"`+a.Item.What+`"`) {
				return []string{"signature without the rule's name: " + a.Signature}
			}
			out = append(out, a.Item.What)
		}
	}
	return out
}

func TestPolicyChecks(t *testing.T) {
	f32 := func(v float32) []uint16 { // low word first
		u := math.Float32bits(v)
		return []uint16{uint16(u), uint16(u >> 16)}
	}
	write := func(cli netip.Addr, fc uint8, addr uint16, vals ...uint16) Observation {
		o := mb(t0, cli, 1, fc)
		m := mbOf(&o)
		m.WriteTable, m.Write, m.Values = modbus.TableHoldingRegisters, Range{addr, uint16(len(vals))}, vals
		return o
	}
	uaw := func(node string, v float64) Observation {
		o := ua(t0, hmi, "Write")
		uaOf(&o).Written = []NodeValue{{Node: node, Value: v, Numeric: true}}
		return o
	}
	read := func(addr uint16, vals ...uint16) Observation {
		o := mbRead(t0, hmi, 1, addr, uint16(len(vals)))
		mbOf(&o).ReadValues = modbus.RegisterValues(vals...)
		return o
	}
	uar := func(node string, v float64) Observation {
		o := ua(t0, hmi, "Read")
		uaOf(&o).Values = []NodeValue{{Node: node, Value: v, Numeric: true}}
		return o
	}
	// The RTU's integrity response: analog output 1's status (g40v2,
	// 16-bit with flags, online) reads raw.
	rtuRead := func(raw int16) Observation {
		return dn(t0, scada, request(t, 1, integrity...), response(t, 0, 0x28, 0x02, 0x00, 0x01, 0x01, 0x01, byte(raw), byte(uint16(raw)>>8)))
	}
	for _, tc := range []struct {
		name string
		o    Observation
		want string // the broken rules, comma-separated
	}{
		{"setpoint read above its limit", read(0, 950, 0), "limits"},
		{"setpoint read within", read(0, 450, 0), ""},
		{"OPC UA node read above its limit", uar("ns=2;s=Gate.SP", 95), "limits"},
		{"OPC UA node read within", uar("ns=2;s=Gate.SP", 15), ""},
		{"DNP3 analog output status above its limit", rtuRead(800), "limits"},
		{"DNP3 analog output status within", rtuRead(300), ""},
		{"normal read", mbRead(t0, hmi, 1, 0, 10), ""},
		{"rogue read", mbRead(t0, rogue, 1, 0, 10), "hmi-only"},
		{"diagnostics", mb(t0, hmi, 1, 8), "functions"},
		{"diagnostics on unit 2 is out of the rule's scope", mb(t0, hmi, 2, 8), ""},
		{"setpoint within", write(hmi, 6, 0, 450), ""},
		{"setpoint above", write(hmi, 6, 0, 950), "limits"},
		{"rogue setpoint above", write(rogue, 6, 0, 950), "hmi-only,limits"},
		{"int16 below", write(hmi, 6, 1, 0xfff0), "limits"}, // -16
		{"int16 within", write(hmi, 6, 1, 0xfffe), ""},      // -2
		{"float32 across two registers", write(hmi, 16, 4, f32(120.5)...), "limits"},
		{"float32 within", write(hmi, 16, 4, f32(99.5)...), ""},
		{"float32 NaN", write(hmi, 16, 4, f32(float32(math.NaN()))...), "limits"},
		{"half a float32 is not judged", write(hmi, 6, 5, 0x42f0), ""},
		{"write past the writable ranges", write(hmi, 16, 8, 1, 2, 3), "writable"},
		{"write of a coil", func() Observation {
			o := mb(t0, hmi, 1, 6)
			m := mbOf(&o)
			m.WriteTable, m.Write, m.Values = modbus.TableCoils, Range{0, 1}, []uint16{1}
			return o
		}(), "writable"},
		{"OPC UA node limit", uaw("ns=2;s=Gate.SP", 95), "limits"},
		{"OPC UA node within", uaw("ns=2;s=Gate.SP", 15), ""},
		{"OPC UA service", ua(t0, hmi, "Call"), "ua-services"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []Mode{Learn, Monitor, Auto} {
				e := New(Config{Mode: mode})
				e.SetPolicy(testPolicy())
				if got := strings.Join(policyAlerts(e, tc.o), ","); got != tc.want {
					t.Errorf("mode %v: broke %q, want %q", mode, got, tc.want)
				}
			}
		})
	}
}

// The alert names the variable, its engineering value and unit.
func TestPolicySignature(t *testing.T) {
	e := New(Config{Mode: Learn})
	e.SetPolicy(testPolicy())
	o := mbWrite(t0, hmi, 1, 0, 950)
	as := e.Observe(&o)
	if len(as) != 1 {
		t.Fatalf("%d alerts", len(as))
	}
	a := as[0]
	want := `Policy "limits" violated: 10.10.1.10 wrote Gate.SP = 95 % on PLC 10.10.2.1 unit 1, above its maximum 60 %`
	if a.Signature != want || a.Value != 95 || a.Item.Addr != 0 || a.Item.What != "limits" || a.SignatureID != 9000036 || a.Severity != 1 {
		t.Errorf("alert %+v\nwant signature %s", a, want)
	}
	// The same variable read beyond its limit: another deviation (the
	// read's function in its item), which says "read".
	r := mbRead(t0.Add(time.Second), hmi, 1, 0, 1)
	mbOf(&r).ReadValues = modbus.RegisterValues(950)
	as = e.Observe(&r)
	want = `Policy "limits" violated: 10.10.1.10 read Gate.SP = 95 % on PLC 10.10.2.1 unit 1, above its maximum 60 %`
	if len(as) != 1 || as[0].Signature != want || as[0].Item.Function != 3 || as[0].ID == a.ID {
		t.Errorf("read alerts %+v\nwant signature %s", as, want)
	}
}

// A maintenance window quiets the rules it names, of the file and of
// Sluice (a deviation rule: new_master), on its servers, in its time; a
// daily window crossing midnight counts from its start's day.
func TestMaintenance(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip(err)
	}
	p := testPolicy()
	// 2026-01-01 is a Thursday; 23:00-01:00 Paris is 22:00-00:00 UTC.
	p.Maintenance = []Maintenance{
		{Name: "thursday-night", Quiet: []string{"hmi-only", "new_master"}, Servers: []netip.Prefix{pfx("10.10.2.1")},
			Days: 1 << time.Thursday, Start: 23 * 60, End: 60, Location: paris},
		{Name: "overhaul", Quiet: []string{"policy_violation"}, From: t0.Add(48 * time.Hour), To: t0.Add(50 * time.Hour)},
	}
	e := New(Config{Mode: Auto, LearnFor: time.Hour})
	e.SetPolicy(p)
	// Learn the HMI for the first hour.
	for s := 0; s < 3600; s += 10 {
		o := mbRead(t0.Add(time.Duration(s)*time.Second), hmi, 1, 0, 10)
		e.Observe(&o)
	}
	rules := func(at time.Time) string {
		o := mbRead(at, rogue, 1, 0, 10)
		var rs []string
		for _, a := range e.Observe(&o) {
			rs = append(rs, a.Rule.String()+":"+a.Item.What)
		}
		return strings.Join(rs, ",")
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{t0.Add(2 * time.Hour), "new_device:modbus_master,policy_violation:hmi-only,new_master:master"},
		{t0.Add(22*time.Hour + 30*time.Minute), ""}, // Thursday 23:30 Paris
		{t0.Add(23*time.Hour + 30*time.Minute), ""}, // Friday 00:30 Paris: the window began Thursday
		{t0.Add(25 * time.Hour), "policy_violation:hmi-only,new_master:master"},
		{t0.Add(49 * time.Hour), "new_master:master"}, // overhaul: every policy rule quiet
	} {
		got := rules(tc.at)
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.at.In(paris), got, tc.want)
		}
	}
}
