package baselines

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

var (
	t0       = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hmi      = netip.MustParseAddr("10.10.1.10")
	scada    = netip.MustParseAddr("10.10.1.11")
	plc      = netip.MustParseAddr("10.10.2.1")
	rogue    = netip.MustParseAddr("10.10.9.66")
	hmiMAC   = [6]byte{0x00, 0x1b, 0x1b, 0x01, 0x02, 0x03}
	plcMAC   = [6]byte{0x00, 0x80, 0xf4, 0x0a, 0x0b, 0x0c}
	policy   = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
	noPolicy = "http://opcfoundation.org/UA/SecurityPolicy#None"
)

// mb builds a responded Modbus observation from cli to the PLC.
func mb(t time.Time, cli netip.Addr, unit, fc uint8) Observation {
	return Observation{
		Time: t, Protocol: Modbus, Responded: true,
		Endpoints: Endpoints{FlowID: 1, ClientIP: cli, ServerIP: plc, ClientMAC: hmiMAC, ServerMAC: plcMAC,
			ClientPort: 40000 + uint16(t.Unix()%1000), ServerPort: 502},
		Detail: &ModbusObs{Unit: unit, Function: fc},
	}
}

func mbRead(t time.Time, cli netip.Addr, unit uint8, start, count uint16) Observation {
	o := mb(t, cli, unit, 3)
	mbOf(&o).ReadTable, mbOf(&o).Read = modbus.TableHoldingRegisters, Range{start, count}
	return o
}

func mbWrite(t time.Time, cli netip.Addr, unit uint8, addr, v uint16) Observation {
	o := mb(t, cli, unit, 6)
	mbOf(&o).WriteTable, mbOf(&o).Write, mbOf(&o).Values = modbus.TableHoldingRegisters, Range{addr, 1}, []uint16{v}
	return o
}

// ua builds a responded OPC UA observation from cli with the learned
// session context.
func ua(t time.Time, cli netip.Addr, service string) Observation {
	return Observation{
		Time: t, Protocol: OPCUA, Responded: true,
		Endpoints: Endpoints{FlowID: 2, ClientIP: cli, ServerIP: plc, ClientPort: 50000, ServerPort: 4840},
		Detail: &OPCUAObs{Service: service, SecurityPolicy: policy, SecurityMode: SecuritySignAndEncrypt,
			Token: TokenUserName, User: "operator", ClientAppURI: "urn:scada:client"},
	}
}

// normal returns the plant's normal traffic from start for d: the HMI
// polls unit 1 every second and unit 2 every 5 s and writes a setpoint
// within 40..60 every minute; the SCADA reads a node every 2 s and writes
// a gate setpoint within 10..20 every 5 minutes.
func normal(start time.Time, d time.Duration) []Observation {
	var out []Observation
	for s := 0; s < int(d/time.Second); s++ {
		t := start.Add(time.Duration(s)*time.Second + 20*time.Millisecond*time.Duration(s%3))
		out = append(out, mbRead(t, hmi, 1, 0, 10))
		if s%5 == 0 {
			out = append(out, mbRead(t.Add(100*time.Millisecond), hmi, 2, 100, 5))
		}
		if s%60 == 30 {
			out = append(out, mbWrite(t.Add(200*time.Millisecond), hmi, 1, 40, uint16(40+(s/60)%21)))
		}
		if s%2 == 0 {
			o := ua(t.Add(300*time.Millisecond), scada, "Read")
			uaOf(&o).Read = []string{"ns=2;s=Level", "ns=2;s=Inflow"}
			out = append(out, o)
		}
		if s%300 == 150 {
			o := ua(t.Add(400*time.Millisecond), scada, "Write")
			uaOf(&o).Written = []NodeValue{{Node: "ns=2;s=Gate1.Setpoint", Value: float64(10 + (s/300)%11), Numeric: true}}
			out = append(out, o)
		}
	}
	return out
}

// feed runs observations and a Tick per observation through e and returns
// copies of every alert raised.
func feed(e *Engine, obs []Observation) []Alert {
	var got []Alert
	for i := range obs {
		got = append(got, e.Tick(obs[i].Time)...)
		got = append(got, e.Observe(&obs[i])...)
	}
	return got
}

func ruleNames(as []Alert) []string {
	var out []string
	for _, a := range as {
		n := a.Rule.String()
		if a.Resolved {
			n += "(resolved)"
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// learnedSnap() returns a snapshot learned in Learn mode on one hour of
// normal traffic; it is computed once, when first asked (not while the
// package's variables are initialised: the models register in init).
var learnedSnap = sync.OnceValue(func() *Snapshot {
	e := New(Config{Mode: Learn})
	if got := feed(e, normal(t0, time.Hour)); len(got) != 0 {
		panic(fmt.Sprintf("learning raised %v", ruleNames(got)))
	}
	return e.Snapshot()
})

func monitor(t *testing.T) *Engine {
	t.Helper()
	e := New(Config{Mode: Monitor})
	if err := e.Load(learnedSnap()); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNormalAfterLearningIsSilent(t *testing.T) {
	e := monitor(t)
	start := t0.Add(2 * time.Hour)
	got := feed(e, normal(start, 20*time.Minute))
	got = append(got, e.Tick(start.Add(20*time.Minute))...)
	if len(got) != 0 {
		for _, a := range got {
			t.Errorf("unexpected alert %s: %s", a.Rule, a.Signature)
		}
	}
}

func TestLearnedModel(t *testing.T) {
	s := learnedSnap()
	if len(s.Devices) != 3 || len(s.Channels) != 3 {
		t.Fatalf("devices %d channels %d, want 3 and 3", len(s.Devices), len(s.Channels))
	}
	d := s.Device("10.10.2.1")
	if d == nil || d.Roles != RoleModbusSlave|RoleOPCUAServer || !slices.Equal(d.Units, []uint16{1, 2}) {
		t.Fatalf("plc device = %+v", d)
	}
	if d.MAC.String() != "00:80:f4:0a:0b:0c" || d.Vendor != "Telemechanique Electrique" {
		t.Errorf("plc MAC = %s vendor %q", d.MAC, d.Vendor)
	}
	var ch *Channel
	for _, c := range s.Channels {
		if c.Key == (ChannelKey{Protocol: Modbus, Client: hmi, Server: plc, Unit: 1}) {
			ch = c
		}
	}
	if ch == nil {
		t.Fatal("no channel hmi>plc unit 1")
	}
	m := ch.Model.(*ModbusModel)
	if m.Functions.N(3) != 3600 || m.Functions.N(6) != 60 {
		t.Errorf("functions = %v", m.Functions)
	}
	if !slices.Equal(m.Read[modbus.TableHoldingRegisters], RangeSet{{0, 9}}) || !slices.Equal(m.Written[modbus.TableHoldingRegisters], RangeSet{{40, 40}}) {
		t.Errorf("read %v written %v", m.Read, m.Written)
	}
	env := m.Values[RegKey{modbus.TableHoldingRegisters, 40}]
	if env == nil || env.Min != 40 || env.Max != 60 || !env.Many || env.Writes != 60 {
		t.Errorf("envelope = %+v", env)
	}
	r := ch.Polls()[PollKey{Function: 3, Table: modbus.TableHoldingRegisters, Start: 0, Count: 10}]
	if r == nil || !r.Regular(10) || r.Period < 900*time.Millisecond || r.Period > 1100*time.Millisecond {
		t.Errorf("poll rhythm = %+v", r)
	}
}

func TestDeviations(t *testing.T) {
	at := t0.Add(3 * time.Hour)
	tests := []struct {
		name string
		run  func(e *Engine) []Alert
		want []string
	}{
		{"rogue master writes a setpoint", func(e *Engine) []Alert {
			return feed(e, []Observation{mbWrite(at, rogue, 1, 40, 50)})
		}, []string{"new_device", "new_master", "unexpected_write"}},
		{"known master, new unit", func(e *Engine) []Alert {
			return feed(e, []Observation{mbRead(at, hmi, 3, 0, 10)})
		}, []string{"new_channel"}},
		{"write multiple registers never used", func(e *Engine) []Alert {
			o := mb(at, hmi, 1, 16)
			mbOf(&o).WriteTable, mbOf(&o).Write, mbOf(&o).Values = modbus.TableHoldingRegisters, Range{40, 1}, []uint16{50}
			return feed(e, []Observation{o})
		}, []string{"unexpected_function"}},
		{"write to a register never written", func(e *Engine) []Alert {
			return feed(e, []Observation{mbWrite(at, hmi, 1, 41, 50)})
		}, []string{"unexpected_write"}},
		{"setpoint outside the envelope", func(e *Engine) []Alert {
			return feed(e, []Observation{mbWrite(at, hmi, 1, 40, 999)})
		}, []string{"write_value_out_of_range"}},
		{"refused write is still judged", func(e *Engine) []Alert {
			o := mbWrite(at, hmi, 1, 40, 999)
			mbOf(&o).Exception = 3
			return feed(e, []Observation{o})
		}, []string{"write_value_out_of_range"}},
		{"force listen only", func(e *Engine) []Alert {
			o := mb(at, hmi, 1, 8)
			mbOf(&o).SubFunction = 4
			return feed(e, []Observation{o})
		}, []string{"diagnostic_command", "unexpected_function"}},
		{"device identification", func(e *Engine) []Alert {
			o := mb(at, hmi, 1, 43)
			mbOf(&o).MEIType = 14
			mbOf(&o).Ident = &DeviceIdent{VendorName: "Acme", ProductCode: "D-1"}
			return feed(e, []Observation{o})
		}, []string{"device_identification_read", "unexpected_function"}},
		{"address sweep answered with exception 02", func(e *Engine) []Alert {
			var obs []Observation
			for i := range 8 {
				o := mbRead(at.Add(time.Duration(i)*100*time.Millisecond), hmi, 1, uint16(1000*(i+1)), 1)
				mbOf(&o).Exception = 2
				obs = append(obs, o)
			}
			return feed(e, obs)
		}, []string{"scan"}},
		{"unit sweep", func(e *Engine) []Alert {
			var obs []Observation
			for u := range 8 {
				o := mbRead(at.Add(time.Duration(u)*100*time.Millisecond), hmi, uint8(u+1), 0, 10)
				if u >= 2 {
					o.Responded, mbOf(&o).Timeout = false, true
				}
				obs = append(obs, o)
			}
			return feed(e, obs)
		}, []string{"new_channel", "scan"}},
		{"malformed MBAP", func(e *Engine) []Alert {
			return e.ObserveAnomaly(&Anomaly{Time: at, Protocol: Modbus, Kind: Malformed,
				Endpoints: Endpoints{ClientIP: hmi, ServerIP: plc, ServerPort: 502}, Detail: "mbap length 300"})
		}, []string{"malformed"}},
		{"HTTP on 502", func(e *Engine) []Alert {
			return e.ObserveAnomaly(&Anomaly{Time: at, Protocol: Modbus, Kind: NonProtocol,
				Endpoints: Endpoints{ClientIP: rogue, ServerIP: plc, ServerPort: 502}, Detail: "GET /"})
		}, []string{"non_protocol_traffic"}},
		{"exception burst", func(e *Engine) []Alert {
			var obs []Observation
			for i := range 12 {
				o := mbRead(at.Add(time.Duration(i)*300*time.Millisecond), hmi, 1, 0, 10)
				mbOf(&o).Exception = 4
				obs = append(obs, o)
			}
			return feed(e, obs)
		}, []string{"exception_burst"}},
		{"request flood", func(e *Engine) []Alert {
			var obs []Observation
			for i := range 300 {
				obs = append(obs, mbRead(at.Add(time.Duration(i)*10*time.Millisecond), hmi, 1, 0, 10))
			}
			return feed(e, obs)
		}, []string{"request_flood"}},
		{"new OPC UA client", func(e *Engine) []Alert {
			o := ua(at, rogue, "Read")
			uaOf(&o).Read = []string{"ns=2;s=Level"}
			return feed(e, []Observation{o})
		}, []string{"new_device", "opcua_new_client"}},
		{"new application URI on a known client", func(e *Engine) []Alert {
			o := ua(at, scada, "Read")
			uaOf(&o).ClientAppURI = "urn:attacker:tool"
			return feed(e, []Observation{o})
		}, []string{"opcua_new_client"}},
		{"anonymous session", func(e *Engine) []Alert {
			o := ua(at, scada, "ActivateSession")
			uaOf(&o).Token, uaOf(&o).User = TokenAnonymous, ""
			return feed(e, []Observation{o})
		}, []string{"opcua_anonymous_session", "opcua_security_downgrade"}},
		{"known client closes and reopens its session", func(e *Engine) []Alert {
			var obs []Observation
			for i, svc := range []string{"CloseSession", "CloseSecureChannel", "OpenSecureChannel", "CreateSession", "ActivateSession", "Cancel"} {
				obs = append(obs, ua(at.Add(time.Duration(i)*10*time.Millisecond), scada, svc))
			}
			return feed(e, obs)
		}, nil},
		{"known client calls a service never used", func(e *Engine) []Alert {
			return feed(e, []Observation{ua(at, scada, "Browse")})
		}, []string{"unexpected_function"}},
		{"security policy and mode downgrade", func(e *Engine) []Alert {
			o := ua(at, scada, "Read")
			uaOf(&o).SecurityPolicy, uaOf(&o).SecurityMode = noPolicy, SecurityNone
			return feed(e, []Observation{o})
		}, []string{"opcua_security_downgrade"}},
		{"OPC UA write of a node never written", func(e *Engine) []Alert {
			o := ua(at, scada, "Write")
			uaOf(&o).Written = []NodeValue{{Node: "ns=2;s=Gate2.Setpoint", Value: 15, Numeric: true}}
			return feed(e, []Observation{o})
		}, []string{"opcua_unexpected_write"}},
		{"OPC UA write outside the envelope", func(e *Engine) []Alert {
			o := ua(at, scada, "Write")
			uaOf(&o).Written = []NodeValue{{Node: "ns=2;s=Gate1.Setpoint", Value: 95, Numeric: true}}
			return feed(e, []Observation{o})
		}, []string{"write_value_out_of_range"}},
		{"OPC UA method never called", func(e *Engine) []Alert {
			o := ua(at, scada, "Call")
			uaOf(&o).Called = []string{"ns=2;s=Dam.Shutdown"}
			return feed(e, []Observation{o})
		}, []string{"opcua_unexpected_call", "unexpected_function"}},
		{"HMI goes silent, then comes back", func(e *Engine) []Alert {
			var got []Alert
			got = append(got, feed(e, normal(at, 30*time.Second))...)
			for s := 30; s < 60; s++ {
				got = append(got, e.Tick(at.Add(time.Duration(s)*time.Second))...)
			}
			return append(got, feed(e, normal(at.Add(60*time.Second), 10*time.Second))...)
		}, []string{"poll_stopped", "poll_stopped(resolved)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := monitor(t)
			got := tt.run(e)
			if names := ruleNames(got); !slices.Equal(names, tt.want) {
				for _, a := range got {
					t.Logf("%s: %s", a.Rule, a.Signature)
				}
				t.Fatalf("rules = %v, want %v", names, tt.want)
			}
			for _, a := range got {
				if a.Signature == "" || a.SignatureID != a.Rule.SignatureID() || a.Count < 1 || len(a.ID) != 16 {
					t.Errorf("incomplete alert %+v", a)
				}
			}
		})
	}
}

func TestAlertEverySuppressesAndCounts(t *testing.T) {
	e := monitor(t)
	at := t0.Add(3 * time.Hour)
	var n int
	for i := range 5 {
		n += len(e.Observe(ptr(mbWrite(at.Add(time.Duration(i)*time.Minute), hmi, 1, 41, 1))))
	}
	if n != 1 {
		t.Fatalf("%d alerts within AlertEvery, want 1", n)
	}
	got := e.Observe(ptr(mbWrite(at.Add(11*time.Minute), hmi, 1, 41, 1)))
	if len(got) != 1 || got[0].Rule != UnexpectedWrite || got[0].Count != 5 {
		t.Fatalf("after AlertEvery got %+v, want one unexpected_write with count 5", got)
	}
	s := e.Snapshot()
	if len(s.Alerts) != 1 || s.Alerts[0].Count != 6 || s.Alerts[0].Alerts != 2 {
		t.Fatalf("alert log = %+v", s.Alerts)
	}
}

// TestAlertEveryBothWays: an observation emitted late (a request flushed
// at the end of its connection) carries a time before the last alert's;
// within AlertEvery it is the same episode and counted, not alerted again
// (issue #16). A clock stepped back further starts a new episode.
func TestAlertEveryBothWays(t *testing.T) {
	e := monitor(t)
	at := t0.Add(3 * time.Hour)
	if n := len(e.Observe(ptr(mbWrite(at, hmi, 1, 41, 1)))); n != 1 {
		t.Fatalf("%d alerts for the first write", n)
	}
	if got := e.Observe(ptr(mbWrite(at.Add(-2*time.Second), hmi, 1, 41, 1))); len(got) != 0 {
		t.Fatalf("a write emitted late, 2 s before the alert: %+v", got)
	}
	got := e.Observe(ptr(mbWrite(at.Add(-time.Hour), hmi, 1, 41, 1)))
	if len(got) != 1 || got[0].Rule != UnexpectedWrite || got[0].Count != 2 {
		t.Fatalf("a clock an hour back: %+v, want one unexpected_write counting the suppressed one", got)
	}
}

// TestHeldBackCounts: the repeats AlertEvery holds back are written, as
// an update alert, when AlertEvery has passed (Tick) or at the end of the
// run (FlushHeldBack): the counts of a deviation's alerts add up to its
// occurrences (issue #16 §3).
func TestHeldBackCounts(t *testing.T) {
	e := monitor(t)
	at := t0.Add(3 * time.Hour)
	var total uint64
	add := func(as []Alert) {
		for _, a := range as {
			if a.Rule == UnexpectedWrite {
				total += a.Count
			}
		}
	}
	for i := range 5 {
		add(e.Observe(ptr(mbWrite(at.Add(time.Duration(i)*time.Minute), hmi, 1, 41, 1))))
	}
	if total != 1 {
		t.Fatalf("alerted counts %d before AlertEvery, want 1", total)
	}
	var got []Alert
	for _, a := range e.Tick(at.Add(10 * time.Minute)) {
		if a.Rule == UnexpectedWrite { // the learned polls stopped too
			got = append(got, a)
		}
	}
	if len(got) != 1 || !got[0].Update || got[0].Count != 4 || got[0].Signature == "" || !got[0].Time.Equal(at.Add(10*time.Minute)) {
		t.Fatalf("Tick after AlertEvery: %+v, want one update counting the 4 repeats, at the tick", got)
	}
	add(got)
	add(e.Observe(ptr(mbWrite(at.Add(11*time.Minute), hmi, 1, 41, 1))))
	add(e.Observe(ptr(mbWrite(at.Add(12*time.Minute), hmi, 1, 41, 1))))
	add(e.FlushHeldBack(at.Add(13 * time.Minute)))
	if total != 7 {
		t.Fatalf("the alerts count %d occurrences, want 7", total)
	}
	if got := e.FlushHeldBack(at.Add(14 * time.Minute)); len(got) != 0 {
		t.Fatalf("a second flush: %+v", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestLearnOnlyFromSuccess(t *testing.T) {
	e := New(Config{Mode: Learn})
	ok := mbRead(t0, hmi, 1, 0, 10)
	refused := mbWrite(t0.Add(time.Second), hmi, 1, 40, 5)
	mbOf(&refused).Exception = 2
	lost := mbWrite(t0.Add(2*time.Second), hmi, 1, 41, 5)
	lost.Responded, mbOf(&lost).Timeout = false, true
	feed(e, []Observation{ok, refused, lost})
	m := New(Config{Mode: Monitor})
	if err := m.Load(e.Snapshot()); err != nil {
		t.Fatal(err)
	}
	got := feed(m, []Observation{mbWrite(t0.Add(time.Hour), hmi, 1, 40, 5)})
	if names := ruleNames(got); !slices.Equal(names, []string{"unexpected_function", "unexpected_write"}) {
		t.Fatalf("rules = %v", names)
	}
}

func TestAutoModeLearnsThenJudges(t *testing.T) {
	e := New(Config{LearnFor: time.Hour})
	// 56 minutes see every value of both setpoint cycles.
	if got := feed(e, normal(t0, 56*time.Minute)); len(got) != 0 {
		t.Fatalf("learning raised %v", ruleNames(got))
	}
	// During the window a write of a new register is learned, not judged.
	if got := e.Observe(ptr(mbWrite(t0.Add(57*time.Minute), hmi, 1, 41, 1))); len(got) != 0 {
		t.Fatalf("learning raised %v", ruleNames(got))
	}
	if got := feed(e, normal(t0.Add(58*time.Minute), 60*time.Minute)); len(got) != 0 {
		t.Fatalf("normal traffic raised %v", ruleNames(got))
	}
	late := t0.Add(2 * time.Hour)
	if got := e.Observe(ptr(mbWrite(late, hmi, 1, 41, 1))); len(got) != 0 {
		t.Fatalf("learned write raised %v", ruleNames(got))
	}
	got := e.Observe(ptr(mbWrite(late, rogue, 1, 40, 50)))
	if names := ruleNames(got); !slices.Equal(names, []string{"new_device", "new_master", "unexpected_write"}) {
		t.Fatalf("rules = %v", names)
	}
}

func TestConvergence(t *testing.T) {
	e := New(Config{Mode: Learn})
	feed(e, normal(t0, 10*time.Minute))
	early := e.Snapshot().Device("10.10.2.1").NewItemsPerHour(time.Hour)
	feed(e, normal(t0.Add(10*time.Minute), 3*time.Hour))
	d := e.Snapshot().Device("10.10.2.1")
	if early <= 0 {
		t.Errorf("convergence after 10 min = %v, want > 0", early)
	}
	// The setpoint cycles through 21 values in 21 minutes and the gate
	// setpoint through 11 in 55: after three hours nothing is new.
	if got := d.NewItemsPerHour(time.Hour); got != 0 {
		t.Errorf("convergence after 3h10m = %v, want 0 (buckets %v)", got, d.ConvergenceBuckets)
	}
	if d.NewItems == 0 {
		t.Error("no items counted")
	}
	if c := e.Snapshot().Device("10.10.1.10"); c == nil || c.NewItems == 0 || c.NewItems >= d.NewItems {
		t.Errorf("HMI (client of some of the PLC's channels) counted %+v items, PLC %d", c, d.NewItems)
	}
}

func TestAcceptFoldsIn(t *testing.T) {
	e := monitor(t)
	at := t0.Add(3 * time.Hour)
	tests := []struct {
		name string
		obs  Observation
	}{
		{"unexpected write", mbWrite(at, hmi, 1, 41, 7)},
		{"value out of range", mbWrite(at, hmi, 1, 40, 999)},
		{"diagnostics", func() Observation { o := mb(at, hmi, 1, 8); mbOf(&o).SubFunction = 1; return o }()},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.Observe(&tt.obs)
			if len(got) == 0 {
				t.Fatal("no alert to accept")
			}
			devs := make([]Deviation, len(got))
			for j, a := range got {
				devs[j] = a.Deviation
			}
			for _, d := range devs {
				if _, err := e.Accept(d, "alice", "commissioning", at, uint64(i)); err != nil {
					t.Fatal(err)
				}
			}
			o := tt.obs
			o.Time = at.Add(time.Hour)
			if got := e.Observe(&o); len(got) != 0 {
				t.Fatalf("accepted deviation still alerts: %v", ruleNames(got))
			}
		})
	}
	// Accepting 999 widened the envelope to 40..999; it did not silence
	// the register.
	got := e.Observe(ptr(mbWrite(at.Add(2*time.Hour), hmi, 1, 40, 5000)))
	if names := ruleNames(got); !slices.Equal(names, []string{"write_value_out_of_range"}) {
		t.Fatalf("value beyond the widened envelope: rules %v", names)
	}
	if got := e.Observe(ptr(mbWrite(at.Add(3*time.Hour), hmi, 1, 40, 500))); len(got) != 0 {
		t.Fatalf("value inside the widened envelope alerts: %v", ruleNames(got))
	}
	if _, err := e.Accept(Deviation{Rule: Scan}, "", "", at, 9); err == nil {
		t.Error("accept without who/why succeeded")
	}
}

func TestSnapshotCanonical(t *testing.T) {
	a, err := learnedSnap().SHA256()
	if err != nil {
		t.Fatal(err)
	}
	e := New(Config{Mode: Monitor})
	if err := e.Load(learnedSnap()); err != nil {
		t.Fatal(err)
	}
	b, _ := e.Snapshot().SHA256()
	if a != b {
		t.Fatalf("reloaded baseline hash %s != %s", b, a)
	}
	if err := e.Load(&Snapshot{Schema: ExportVersion + 1}); err == nil {
		t.Fatal("newer schema accepted")
	}
}

func TestDiff(t *testing.T) {
	e := New(Config{Mode: Learn})
	if err := e.Load(learnedSnap()); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(2 * time.Hour)
	feed(e, []Observation{mbWrite(at, hmi, 1, 41, 3), mbRead(at, rogue, 1, 0, 10)})
	got := Diff(learnedSnap(), e.Snapshot())
	want := []Change{
		{Kind: "channel", Name: "modbus 10.10.1.10>10.10.2.1 unit 1", Change: "changed",
			Added:   []string{"value holding_registers:41 3..3 [3]", "written holding_registers 40-41"},
			Removed: []string{"written holding_registers 40"}},
		{Kind: "channel", Name: "modbus 10.10.9.66>10.10.2.1 unit 1", Change: "added",
			Added: []string{"function 3 read_holding_registers", "read holding_registers 0-9"}},
		{Kind: "device", Name: "10.10.9.66", Change: "added", Added: []string{"roles modbus_master", "mac 00:1b:1b:01:02:03"}},
	}
	slices.SortStableFunc(want, func(x, y Change) int { return strings.Compare(x.Kind, y.Kind) })
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("diff =\n%+v\nwant\n%+v", got, want)
	}
	if d := Diff(learnedSnap(), learnedSnap()); len(d) != 0 {
		t.Fatalf("self diff = %+v", d)
	}
}

// mbOf and uaOf return the protocol detail of a test observation.
func mbOf(o *Observation) *ModbusObs { return o.Detail.(*ModbusObs) }
func uaOf(o *Observation) *OPCUAObs  { return o.Detail.(*OPCUAObs) }

// TestLoadRefusesForeignKeyFields: a channel key with a field of another
// protocol (a Modbus key with a port, an OPC UA key with a unit) is no key
// the engine makes, and two such keys that differ only there would be one
// record of the store: Load refuses it, and so does Accept.
func TestLoadRefusesForeignKeyFields(t *testing.T) {
	for _, k := range []ChannelKey{
		{Protocol: Modbus, Client: hmi, Server: plc, Unit: 1, Port: 502},
		{Protocol: OPCUA, Client: scada, Server: plc, Unit: 1, Port: 4840},
	} {
		c := &Channel{Key: k, Model: protoOf(k.Protocol).newChannel()}
		s := &Snapshot{Schema: ExportVersion, Baseline: Baseline{Channels: []*Channel{c}}}
		if err := New(Config{}).Load(s); err == nil {
			t.Errorf("Load of a channel %+v succeeded", k)
		}
		if _, err := New(Config{}).Accept(Deviation{Rule: UnexpectedFunction, Channel: k}, "alice", "test", t0, 1); err == nil {
			t.Errorf("Accept on a channel %+v succeeded", k)
		}
	}
}

// TestPollStoppedPerChannel: when a master stops polling, its channel
// raises one poll_stopped listing the polls overdue, not one per poll; the
// slower poll that stops later in the same silence adds nothing; the
// first poll answered again brings one return.
func TestPollStoppedPerChannel(t *testing.T) {
	var obs []Observation
	for s := 0; s < 600; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		obs = append(obs, mbRead(at, hmi, 1, 0, 10))
		if s%5 == 0 {
			obs = append(obs, mbRead(at.Add(100*time.Millisecond), hmi, 1, 100, 5))
		}
	}
	e := New(Config{Mode: Learn})
	feed(e, obs)
	m := New(Config{Mode: Monitor})
	if err := m.Load(e.Snapshot()); err != nil {
		t.Fatal(err)
	}
	// Ten more seconds of polling, a minute of silence, then polling again.
	var later []Observation
	for s := 600; s < 700; s++ {
		if s >= 610 && s < 670 {
			continue
		}
		at := t0.Add(time.Duration(s) * time.Second)
		later = append(later, mbRead(at, hmi, 1, 0, 10))
		if s%5 == 0 {
			later = append(later, mbRead(at.Add(100*time.Millisecond), hmi, 1, 100, 5))
		}
	}
	var stopped, resumed []Alert
	for i := range later {
		if i > 0 {
			// Tick every second of the silence, as the agent does.
			for ts := later[i-1].Time.Add(time.Second); ts.Before(later[i].Time); ts = ts.Add(time.Second) {
				for _, a := range m.Tick(ts) {
					stopped = append(stopped, a)
				}
			}
		}
		for _, a := range append(m.Tick(later[i].Time), m.Observe(&later[i])...) {
			if a.Resolved {
				resumed = append(resumed, a)
			} else {
				stopped = append(stopped, a)
			}
		}
	}
	if len(stopped) != 1 || stopped[0].Rule != PollStopped || stopped[0].Item.What != "polls" {
		t.Fatalf("stopped alerts %v (%d), want one poll_stopped for the channel", ruleNames(stopped), len(stopped))
	}
	if sig := stopped[0].Signature; !strings.Contains(sig, "Polling of PLC 10.10.2.1 unit 1 by 10.10.1.10 stopped: FC 3 holding_registers 0-9 not answered for") {
		t.Errorf("signature %q", sig)
	}
	if len(resumed) != 1 || resumed[0].ID != stopped[0].ID || !strings.Contains(resumed[0].Signature, "resumed") {
		t.Errorf("returns %+v, want one, of the stopped alert's deviation", resumed)
	}
}

// TestNewMasterSweep: a new master that sweeps units is one new_master
// deviation, alerted once; its count is its requests, and its record (the
// update line written at the end, the alert log) names every unit.
func TestNewMasterSweep(t *testing.T) {
	e := monitor(t)
	at := t0.Add(3 * time.Hour)
	var got []Alert
	for u := range 17 {
		o := mbRead(at.Add(time.Duration(u)*40*time.Millisecond), rogue, uint8(u), 0, 1)
		for _, a := range e.Observe(&o) {
			if a.Rule == NewMaster {
				got = append(got, a)
			}
		}
	}
	if len(got) != 1 || got[0].Channel.Unit != 0 || got[0].Count != 1 {
		t.Fatalf("new_master alerts %+v, want one, of the first unit", got)
	}
	var upd []Alert
	for _, a := range e.FlushHeldBack(at.Add(time.Minute)) {
		if a.Rule == NewMaster {
			upd = append(upd, a)
		}
	}
	if len(upd) != 1 || !upd[0].Update || upd[0].Count != 16 || upd[0].ID != got[0].ID ||
		upd[0].Signature != "Modbus master 10.10.9.66 never seen before sweeps PLC 10.10.2.1: units 0-16" {
		t.Errorf("update %+v, want the 16 other requests, naming units 0-16", upd)
	}
}
