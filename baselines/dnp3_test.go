package baselines

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/dnp3"
)

// DNP3 fragments as the master and the outstation send them (IEEE
// 1815-2012 clause 4 and the object layouts of clause 11), built byte by
// byte and decoded by protocols/dnp3 as the agent would.
var (
	rtu       = netip.MustParseAddr("10.10.4.20")
	classes   = []byte{0x3C, 0x02, 0x06, 0x3C, 0x03, 0x06, 0x3C, 0x04, 0x06} // g60v2-v4, all points
	integrity = []byte{0x3C, 0x02, 0x06, 0x3C, 0x03, 0x06, 0x3C, 0x04, 0x06, 0x3C, 0x01, 0x06}
)

// fragment decodes a fragment, failing the test when it does not decode.
func fragment(t testing.TB, b ...byte) *dnp3.Message {
	t.Helper()
	m := new(dnp3.Message)
	if err := m.Parse(slices.Clone(b)); err != nil {
		t.Fatalf("fragment % x: %v", b, err)
	}
	return m
}

func request(t testing.TB, fc dnp3.FunctionCode, objs ...byte) *dnp3.Message {
	return fragment(t, append([]byte{0xC0, byte(fc)}, objs...)...)
}

func response(t testing.TB, iin dnp3.IIN, objs ...byte) *dnp3.Message {
	return fragment(t, append([]byte{0xC0, 0x81, byte(iin >> 8), byte(iin)}, objs...)...)
}

// crob is a CROB (g12v1, qualifier 0x28: a 2-octet count and index) on
// point index with control code code.
func crob(index uint16, code byte) []byte {
	b := []byte{0x0C, 0x01, 0x28, 0x01, 0x00, byte(index), byte(index >> 8), code, 0x01}
	b = binary.LittleEndian.AppendUint32(b, 1000)
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, 0x00)
}

// analogOut is an analog output block (g41v2, 16-bit) on point index.
func analogOut(index uint16, v int16) []byte {
	return []byte{0x29, 0x02, 0x28, 0x01, 0x00, byte(index), byte(index >> 8), byte(v), byte(uint16(v) >> 8), 0x00}
}

// timeObj is a write's time and date (g50v1, qualifier 0x07: a count of 1).
func timeObj(t time.Time) []byte {
	b := []byte{0x32, 0x01, 0x07, 0x01}
	ms := uint64(t.UnixMilli())
	return append(b, byte(ms), byte(ms>>8), byte(ms>>16), byte(ms>>24), byte(ms>>32), byte(ms>>40))
}

// dn builds a DNP3 observation of master cli (link address 1) and the RTU
// (link address 10): req answered by resp (nil: unanswered).
func dn(t time.Time, cli netip.Addr, req, resp *dnp3.Message) Observation {
	return Observation{
		Time: t, Protocol: DNP3, Responded: resp != nil,
		Endpoints: Endpoints{FlowID: 3, ClientIP: cli, ServerIP: rtu, ClientPort: 41000, ServerPort: 20000},
		Detail:    &DNP3Obs{Master: 1, Outstation: 10, Request: req, Response: resp},
	}
}

func dnOf(o *Observation) *DNP3Obs { return o.Detail.(*DNP3Obs) }

// dnp3Normal is a SCADA master's day with one RTU, from start for d: an
// event poll (class 1,2,3) every 10 s, an integrity poll every minute, a
// gate opened or closed (CROB on index 0) and a flow setpoint (analog
// output index 1, 100..120) every 5 minutes, the RTU's unsolicited events
// every 7 s.
func dnp3Normal(t testing.TB, start time.Time, d time.Duration) []Observation {
	ok := response(t, 0)
	var out []Observation
	for s := 0; s < int(d/time.Second); s++ {
		ts := start.Add(time.Duration(s)*time.Second + 15*time.Millisecond*time.Duration(s%3))
		if s%10 == 0 {
			out = append(out, dn(ts, scada, request(t, dnp3.FuncRead, classes...), ok))
		}
		if s%60 == 5 {
			out = append(out, dn(ts, scada, request(t, dnp3.FuncRead, integrity...), ok))
		}
		if s%300 == 150 {
			code := byte(0x41) // close, pulse on
			if s%600 == 150 {
				code = 0x81 // trip, pulse on
			}
			out = append(out, dn(ts, scada, request(t, dnp3.FuncDirectOperate, crob(0, code)...), ok))
			out = append(out, dn(ts.Add(200*time.Millisecond), scada,
				request(t, dnp3.FuncDirectOperate, analogOut(1, int16(100+s/300%21))...), ok))
		}
		if s%7 == 3 {
			u := fragment(t, 0xF0, 0x82, 0x00, 0x00, 0x02, 0x01, 0x17, 0x01, 0x00, 0x81) // g2v1 event on index 0
			out = append(out, Observation{Time: ts, Protocol: DNP3, Responded: true,
				Endpoints: Endpoints{FlowID: 3, ClientIP: scada, ServerIP: rtu, ClientPort: 41000, ServerPort: 20000},
				Detail:    &DNP3Obs{Master: 1, Outstation: 10, Response: u}})
		}
	}
	return out
}

func TestDNP3LearnsAndJudges(t *testing.T) {
	learner := New(Config{Mode: Learn})
	if got := feed(learner, dnp3Normal(t, t0, time.Hour)); len(got) != 0 {
		t.Fatalf("learning raised %v", ruleNames(got))
	}
	snap := learner.Snapshot()
	if len(snap.Channels) != 1 {
		t.Fatalf("channels: %v", snap.Channels)
	}
	ch := snap.Channels[0]
	if ch.Key.Master != 1 || ch.Key.Outstation != 10 || ch.Key.String() != "dnp3 10.10.1.11>10.10.4.20 1>10" {
		t.Errorf("key %+v %s", ch.Key, ch.Key)
	}
	dm := ch.Model.(*DNP3Model)
	for _, fc := range []dnp3.FunctionCode{dnp3.FuncRead, dnp3.FuncDirectOperate} {
		if !dm.Functions.Has(uint8(fc)) {
			t.Errorf("function %s not learned: %v", fc, dm.Functions)
		}
	}
	if !dm.Read.Has(ObjKey{60, 1}) || !dm.Unsolicited.Has(ObjKey{2, 1}) {
		t.Errorf("read %v unsolicited %v", dm.Read, dm.Unsolicited)
	}
	if env := dm.Controls[PointKey{41, 1}]; env == nil || !env.Contains(110, 0) || env.Contains(5000, 0.1) {
		t.Errorf("analog output envelope %+v", env)
	}
	if env := dm.Controls[PointKey{12, 0}]; env == nil || !env.Contains(0x41, 0) || !env.Contains(0x81, 0) {
		t.Errorf("CROB envelope %+v", env)
	}
	events := dm.Polls[PollKey{Node: "class 1,2,3"}]
	if events == nil || !events.Regular(10) || events.Period < 9*time.Second || events.Period > 11*time.Second {
		t.Errorf("event poll %+v (polls %v)", events, dm.Polls)
	}
	if ip := dm.Polls[PollKey{Node: "class 0,1,2,3"}]; ip == nil || ip.Period != time.Minute {
		t.Errorf("integrity poll %+v", ip)
	}
	// The RTU's address is in the inventory, the master and outstation
	// roles on the right devices.
	if d := snap.Device(rtu.String()); d == nil || d.DNP3 == nil || !slices.Equal(d.DNP3.Addresses, []uint16{10}) ||
		d.Roles&RoleDNP3Outstation == 0 {
		t.Errorf("RTU device %+v", d)
	}
	if d := snap.Device(scada.String()); d == nil || d.Roles&RoleDNP3Master == 0 {
		t.Errorf("master device %+v", d)
	}

	// The baseline round-trips through its JSON whole.
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if b2, _ := json.Marshal(&back); string(b2) != string(b) {
		t.Errorf("snapshot JSON does not round-trip:\n%s\n%s", b, b2)
	}

	judge := func(t *testing.T) *Engine {
		e := New(Config{Mode: Monitor})
		if err := e.Load(snap); err != nil {
			t.Fatal(err)
		}
		return e
	}
	later := t0.Add(2 * time.Hour)
	t.Run("normal is silent", func(t *testing.T) {
		if got := feed(judge(t), dnp3Normal(t, later, time.Hour)); len(got) != 0 {
			t.Errorf("normal day raised %v: %s", ruleNames(got), got[0].Signature)
		}
	})
	ok := response(t, 0)
	at := later.Add(30 * time.Second)
	cases := []struct {
		name string
		obs  []Observation
		want []string
		sig  string
	}{
		{"rogue master", []Observation{dn(at, rogue, request(t, dnp3.FuncDirectOperate, crob(0, 0x41)...), ok)},
			[]string{"dnp3_new_master", "dnp3_unexpected_control", "new_device"}, "DNP3 master 10.10.9.66 (address 1) never seen before sends direct_operate"},
		{"new link address", func() []Observation {
			o := dn(at, scada, request(t, dnp3.FuncRead, classes...), ok)
			dnOf(&o).Master = 3
			return []Observation{o}
		}(), []string{"dnp3_new_master"}, "as link address 3"},
		{"unexpected function", []Observation{dn(at, scada, request(t, dnp3.FuncImmediateFreeze, 0x14, 0x00, 0x06), ok)},
			[]string{"dnp3_unexpected_function"}, "sends immediate_freeze (function 7)"},
		{"unexpected control", []Observation{dn(at, scada, request(t, dnp3.FuncDirectOperate, crob(5, 0x41)...), ok)},
			[]string{"dnp3_unexpected_control"}, "operates binary output 5 of outstation 10.10.4.20 address 10 (direct_operate control code 0x41 close pulse_on)"},
		{"setpoint out of range", []Observation{dn(at, scada, request(t, dnp3.FuncSelect, analogOut(1, 5000)...), ok),
			dn(at.Add(time.Second), scada, request(t, dnp3.FuncOperate, analogOut(1, 5000)...), ok)},
			[]string{"dnp3_control_value_out_of_range", "dnp3_unexpected_function"}, "operates analog output 1 of outstation 10.10.4.20 address 10 with value 5000, outside the learned"},
		{"cold restart", []Observation{dn(at, scada, request(t, dnp3.FuncColdRestart), ok)},
			[]string{"dnp3_restart"}, "orders a cold restart"},
		{"stop application", []Observation{dn(at, scada, request(t, dnp3.FuncStopApplication), ok)},
			[]string{"dnp3_stop_application"}, "stops an application"},
		{"disable unsolicited", []Observation{dn(at, scada, request(t, dnp3.FuncDisableUnsolicited, classes...), ok)},
			[]string{"dnp3_disable_unsolicited"}, "disables unsolicited reporting"},
		{"file write", []Observation{dn(at, scada, request(t, dnp3.FuncOpenFile), ok), dn(at.Add(time.Second), scada, request(t, dnp3.FuncCloseFile), ok)},
			[]string{"dnp3_file_operation"}, "sends open_file"},
		{"clock set", []Observation{dn(at, scada, request(t, dnp3.FuncWrite, timeObj(at.Add(-48*time.Hour))...), ok)},
			[]string{"dnp3_time_change"}, "sets the clock of outstation 10.10.4.20 address 10 to 2025-12-30T02:00:30Z (-48h0m0s from the packet's time)"},
		{"integrity scan out of rhythm", []Observation{dn(later.Add(5*time.Second), scada, request(t, dnp3.FuncRead, integrity...), ok),
			dn(later.Add(9*time.Second), scada, request(t, dnp3.FuncRead, integrity...), ok)},
			[]string{"dnp3_integrity_scan"}, "repeats the integrity scan of outstation 10.10.4.20 address 10 after 4s, learned every 1m0s"},
		{"auth failure", []Observation{dn(at, scada, request(t, dnp3.FuncRead, classes...),
			response(t, 0, append([]byte{0x78, 0x07, 0x5B, 0x01, 0x0F, 0x00}, make([]byte, 15)...)...))},
			[]string{"dnp3_auth_failure"}, "secure authentication error"},
		{"address sweep", func() []Observation {
			var out []Observation
			for i := range 5 {
				o := dn(at.Add(time.Duration(i)*time.Second), scada, request(t, dnp3.FuncRead, classes...), nil)
				dnOf(&o).Outstation, dnOf(&o).Timeout = uint16(100+i), true
				out = append(out, o)
			}
			return out
		}(), []string{"dnp3_new_master", "scan"}, "probes 5 distinct DNP3 addresses of 10.10.4.20"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := feed(judge(t), tc.obs)
			if names := ruleNames(got); !slices.Equal(names, tc.want) {
				t.Fatalf("rules %v, want %v", names, tc.want)
			}
			var sigs []string
			for _, a := range got {
				sigs = append(sigs, a.Signature)
			}
			if !strings.Contains(strings.Join(sigs, "\n"), tc.sig) {
				t.Errorf("no signature with %q in\n%s", tc.sig, strings.Join(sigs, "\n"))
			}
		})
	}
}

// TestDNP3AcceptFoldsIn: accepting a DNP3 deviation learns it.
func TestDNP3AcceptFoldsIn(t *testing.T) {
	learner := New(Config{Mode: Learn})
	feed(learner, dnp3Normal(t, t0, time.Hour))
	e := New(Config{Mode: Monitor})
	if err := e.Load(learner.Snapshot()); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(2 * time.Hour)
	ok := response(t, 0)
	obs := []Observation{
		dn(at, scada, request(t, dnp3.FuncDirectOperate, analogOut(7, 42)...), ok),
		dn(at.Add(time.Second), scada, request(t, dnp3.FuncDisableUnsolicited, classes...), ok),
		dn(at.Add(2*time.Second), scada, request(t, dnp3.FuncWrite, timeObj(at)...), ok),
	}
	got := feed(e, obs)
	if len(got) != 3 {
		t.Fatalf("alerts %v", ruleNames(got))
	}
	for i, a := range got {
		if _, err := e.Accept(a.Deviation, "operator", "planned", at, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	// What was accepted survives the snapshot.
	e2 := New(Config{Mode: Monitor})
	if err := e2.Load(e.Snapshot()); err != nil {
		t.Fatal(err)
	}
	later := make([]Observation, len(obs))
	for i, o := range obs {
		o.Time = o.Time.Add(time.Hour)
		later[i] = o
	}
	if got := feed(e2, later); len(got) != 0 {
		t.Errorf("accepted deviations raised again: %v", ruleNames(got))
	}
}

// TestDNP3Memo: the shape memo changes nothing. The same DNP3 traffic
// (learned, then judged with deviations among the repeats: an integrity
// scan out of rhythm, a poll's pause, a read of an object never read)
// through the engine and through the reference engine, which has no memos,
// gives the same alerts and the same baseline, in every mode.
func TestDNP3Memo(t *testing.T) {
	obs := dnp3Normal(t, t0, 30*time.Minute)
	ok := response(t, 0)
	for i := range 10 {
		at := t0.Add(time.Duration(i)*time.Minute + 5*time.Second + 500*time.Millisecond)
		obs = append(obs, dn(at, scada, request(t, dnp3.FuncRead, integrity...), ok))
		if i%3 == 0 {
			obs = append(obs, dn(at.Add(time.Second), scada, request(t, dnp3.FuncRead, 0x1E, 0x01, 0x06), ok))
		}
	}
	// The event poll pauses for two minutes.
	var cut []Observation
	for _, o := range obs {
		if o.Time.Before(t0.Add(20*time.Minute)) || o.Time.After(t0.Add(22*time.Minute)) || dnOf(&o).Request == nil ||
			classMask(dnOf(&o).Request) != 0b1110 {
			cut = append(cut, o)
		}
	}
	slices.SortStableFunc(cut, func(a, b Observation) int { return a.Time.Compare(b.Time) })
	learner := New(Config{Mode: Learn})
	feed(learner, dnp3Normal(t, t0.Add(-2*time.Hour), time.Hour))
	for _, mode := range []Mode{Learn, Monitor, Auto} {
		cfg := Config{Mode: mode, LearnFor: 10 * time.Minute}
		e, plain := New(cfg), reference(cfg)
		for _, x := range []*Engine{e, plain} {
			if err := x.Load(learner.Snapshot()); err != nil {
				t.Fatal(err)
			}
		}
		raised := 0
		for i := range cut {
			got := append(slices.Clone(e.Observe(&cut[i])), e.Tick(cut[i].Time)...)
			want := append(slices.Clone(plain.Observe(&cut[i])), plain.Tick(cut[i].Time)...)
			if g, w := alertSet(got), alertSet(want); g != w {
				t.Fatalf("%s: transaction %d raised\n%s\nwithout the memos\n%s", mode, i, g, w)
			}
			raised += len(got)
		}
		if g, w := modelOf(t, e), modelOf(t, plain); g != w {
			t.Fatalf("%s: the memos changed the baseline:\n%s\nwithout them\n%s", mode, g, w)
		}
		if st, _ := e.chanRT[ChannelKey{Protocol: DNP3, Client: scada, Server: rtu, Master: 1, Outstation: 10}].state.(*dnp3Runtime); st == nil {
			t.Errorf("%s: the channel has no memo: the test compares nothing", mode)
		}
		if mode != Learn && raised == 0 {
			t.Errorf("%s: nothing raised: the deviations did not reach the judge", mode)
		}
	}
}
