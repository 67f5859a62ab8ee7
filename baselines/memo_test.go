package baselines

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// TestKnownReadMemo learns the same traffic twice, once with the channels'
// memos of learned request shapes (and the devices' convergence bucket
// ends) and once with them emptied before every transaction, and requires identical baselines. The traffic rotates
// through more reads and writes than the memos hold, mixes read functions
// on the same range, a read-write (FC 23) that shares a read key, a hostile
// read that also carries a write, multi-register writes with and without
// values, longer than a memo entry holds, and a coil write to a register
// address also written. The store's delta must agree on the counts.
func TestKnownReadMemo(t *testing.T) {
	const memoShapes = shapeSets * shapeWays // what a channel's memo holds
	var obs []Observation
	at := t0
	for round := range 40 {
		for blk := range memoShapes + 4 {
			at = at.Add(50 * time.Millisecond)
			obs = append(obs, mbRead(at, hmi, 1, uint16(blk*20), 10))
		}
		at = at.Add(50 * time.Millisecond)
		in := mb(at, hmi, 1, 4)
		mbOf(&in).ReadTable, mbOf(&in).Read = modbus.TableInputRegisters, Range{0, 10}
		obs = append(obs, in)
		at = at.Add(50 * time.Millisecond)
		rw := mb(at, hmi, 1, 23)
		mbOf(&rw).ReadTable, mbOf(&rw).Read = modbus.TableHoldingRegisters, Range{0, 10}
		mbOf(&rw).WriteTable, mbOf(&rw).Write, mbOf(&rw).Values = modbus.TableHoldingRegisters, Range{100, 1}, []uint16{uint16(round)}
		obs = append(obs, rw)
		if round%3 == 0 {
			at = at.Add(50 * time.Millisecond)
			odd := mbRead(at, hmi, 1, 0, 10)
			mbOf(&odd).WriteTable, mbOf(&odd).Write, mbOf(&odd).Values = modbus.TableHoldingRegisters, Range{5, 1}, []uint16{7}
			obs = append(obs, odd)
		}
		at = at.Add(50 * time.Millisecond)
		obs = append(obs, mbRead(at, hmi, 1, 65530, 10)) // wraps: not learnable
		for reg := range memoShapes + 3 {
			at = at.Add(50 * time.Millisecond)
			obs = append(obs, mbWrite(at, hmi, 1, uint16(200+reg), uint16(round*7%50+reg)))
		}
		at = at.Add(50 * time.Millisecond)
		multi := mb(at, hmi, 1, 16)
		mbOf(&multi).WriteTable, mbOf(&multi).Write = modbus.TableHoldingRegisters, Range{300, 3}
		mbOf(&multi).Values = []uint16{uint16(round), uint16(round * 2), 9}
		if round%4 == 0 {
			mbOf(&multi).Values = nil // a write whose values were not decoded
		}
		obs = append(obs, multi)
		at = at.Add(50 * time.Millisecond)
		long := mb(at, hmi, 1, 16) // more registers than a memo entry holds
		mbOf(&long).WriteTable, mbOf(&long).Write = modbus.TableHoldingRegisters, Range{400, shapeRegs + 3}
		for i := range shapeRegs + 3 {
			mbOf(&long).Values = append(mbOf(&long).Values, uint16(round*i%17))
		}
		obs = append(obs, long)
		at = at.Add(50 * time.Millisecond)
		coil := mb(at, hmi, 1, 15)
		mbOf(&coil).WriteTable, mbOf(&coil).Write, mbOf(&coil).Values = modbus.TableCoils, Range{300, 1}, []uint16{uint16(round % 2)}
		obs = append(obs, coil)
	}
	learnAll := func(forget bool) string {
		// Short convergence buckets, so that the device's cached bucket
		// end is crossed too.
		e := New(Config{Mode: Learn, ConvergenceWindow: time.Minute})
		e.plain = forget
		for i := range obs {
			e.Observe(&obs[i])
		}
		b, err := json.Marshal(e.Snapshot())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	with, without := learnAll(false), learnAll(true)
	if with != without {
		t.Fatalf("the memo changed what was learned:\nwith    %s\nwithout %s", with, without)
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(with), &s); err != nil {
		t.Fatal(err)
	}
	// The store's delta carries the counts the memo bumped.
	e := New(Config{Mode: Learn, ConvergenceWindow: time.Minute})
	for i := range obs {
		e.Observe(&obs[i])
	}
	recs, err := e.TakeDelta()
	if err != nil {
		t.Fatal(err)
	}
	snapChannel, err := json.Marshal(s.Channels[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Bucket == ChannelBucket(Modbus) && string(r.Value) != string(snapChannel) {
			t.Fatalf("delta\n%s\nsnapshot\n%s", r.Value, snapChannel)
		}
	}
	// The memo must not merge registers: each envelope holds exactly the
	// values written to its register.
	type env struct {
		n        uint64
		min, max float64
	}
	want := map[RegKey]env{}
	for _, o := range obs {
		m := mbOf(&o)
		for i, v := range m.Values {
			if m.WriteTable == modbus.TableNone || i >= int(m.Write.Count) {
				break
			}
			k := RegKey{m.WriteTable, m.Write.Start + uint16(i)}
			w, ok := want[k]
			if !ok {
				w = env{min: float64(v), max: float64(v)}
			}
			w.n++
			w.min, w.max = min(w.min, float64(v)), max(w.max, float64(v))
			want[k] = w
		}
	}
	got := s.Channels[0].Model.(*ModbusModel).Values
	if len(got) != len(want) {
		t.Fatalf("%d registers learned, want %d", len(got), len(want))
	}
	for k, w := range want {
		g := got[k]
		if g == nil || g.Writes != w.n || g.Min != w.min || g.Max != w.max {
			t.Fatalf("register %v: envelope %+v, want %d writes within %g..%g", k, g, w.n, w.min, w.max)
		}
	}
	// Twelve holding-register blocks, the input registers and the
	// wrapping read (a poll, though its range is not learnable).
	if len(s.Channels) != 1 || len(s.Channels[0].Polls()) != memoShapes+6 {
		t.Fatalf("want one channel with %d polls, got %d channels", memoShapes+6, len(s.Channels))
	}
}

// TestCounts checks Counts' one-operation increment: the counter and the
// new-key report, from a nil map, and the JSON, which is a map of numbers.
func TestCounts(t *testing.T) {
	var m Counts[string]
	steps := []struct {
		key   string
		isNew bool
	}{{"Read", true}, {"Read", false}, {"Write", true}, {"", true}, {"Read", false}, {"", false}}
	for i, s := range steps {
		n, isNew := m.add(s.key)
		if isNew != s.isNew || n != m[s.key] {
			t.Fatalf("step %d (%q): new = %v, want %v", i, s.key, isNew, s.isNew)
		}
	}
	want := map[string]uint64{"Read": 3, "Write": 1, "": 2}
	if len(m) != len(want) {
		t.Fatalf("map %v, want %v", m, want)
	}
	for k, n := range want {
		if m.N(k) != n || !m.Has(k) {
			t.Fatalf("count of %q %d, want %d", k, m.N(k), n)
		}
	}
	if m.N("Browse") != 0 || m.Has("Browse") {
		t.Fatal("a key never counted has a count")
	}
	got, _ := json.Marshal(m)
	plain, _ := json.Marshal(want)
	if string(got) != string(plain) {
		t.Fatalf("JSON %s, want %s", got, plain)
	}
	var back Counts[string]
	if err := json.Unmarshal([]byte(`{"Read":3,"Write":null}`), &back); err != nil {
		t.Fatal(err)
	}
	back.sanitize()
	if got, _ := json.Marshal(back); string(got) != `{"Read":3,"Write":0}` {
		t.Fatalf("sanitized %s", got)
	}
}

// TestJudgeMemo judges the same traffic twice, once with the channels'
// shape and call memos and once with them emptied before every
// transaction, and requires the same alerts and the same baseline. The
// traffic carries every deviation the memos could hide (Modbus: an unknown
// function, a write outside the learned ranges, values outside their
// envelope, a poll that stops and resumes; OPC UA: an unknown service, an
// anonymous session, an unknown method), an acceptance that widens an
// envelope half-way, and, in Auto mode, the move from learning to judging.
func TestJudgeMemo(t *testing.T) {
	start := t0.Add(3 * time.Hour)
	obs := normal(start, 20*time.Minute)
	var dev []Observation
	for i := range 20 {
		at := start.Add(time.Duration(i)*time.Minute + 500*time.Millisecond)
		dev = append(dev, mbWrite(at, hmi, 1, 40, uint16(30+i*3))) // out of range early and late
		if i >= 6 {                                                // after Auto's learning too
			dev = append(dev, mbWrite(at.Add(10*time.Millisecond), hmi, 1, 41, 7)) // never written
		}
		if i >= 6 {
			multi := mb(at.Add(20*time.Millisecond), hmi, 1, 16)
			mbOf(&multi).WriteTable, mbOf(&multi).Write = modbus.TableHoldingRegisters, Range{40, 2}
			mbOf(&multi).Values = []uint16{uint16(45 + i), 3}
			dev = append(dev, multi)
		}
		if i%4 == 0 && i >= 6 {
			dev = append(dev, mb(at.Add(30*time.Millisecond), hmi, 1, 7)) // never used
		}
		if i >= 6 && i%3 == 0 {
			browse := ua(at.Add(40*time.Millisecond), scada, "Browse") // never used
			anon := ua(at.Add(50*time.Millisecond), scada, "Read")
			uaOf(&anon).Read, uaOf(&anon).Token, uaOf(&anon).User = []string{"ns=2;s=Level"}, TokenAnonymous, ""
			call := ua(at.Add(60*time.Millisecond), scada, "Call")
			uaOf(&call).Called = []string{"ns=2;s=Dam.Open"} // never called
			dev = append(dev, browse, anon, call)
		}
	}
	obs = append(obs, dev...)
	// The unit 1 poll pauses for two minutes.
	gapFrom, gapTo := start.Add(9*time.Minute), start.Add(11*time.Minute)
	obs = slices.DeleteFunc(obs, func(o Observation) bool {
		return o.Protocol == Modbus && mbOf(&o).Unit == 1 && mbOf(&o).Function == 3 &&
			!o.Time.Before(gapFrom) && o.Time.Before(gapTo)
	})
	slices.SortStableFunc(obs, func(a, b Observation) int { return a.Time.Compare(b.Time) })
	accept := Deviation{Rule: WriteValueOutOfRange, Channel: ChannelKey{Protocol: Modbus, Client: hmi, Server: plc, Unit: 1},
		Item: Item{Table: modbus.TableHoldingRegisters, Addr: 40}, Value: 80}

	for _, mode := range []Mode{Monitor, Auto} {
		run := func(forget bool) string {
			e := New(Config{Mode: mode, LearnFor: 5 * time.Minute, ConvergenceWindow: time.Minute})
			e.plain = forget
			if mode == Monitor {
				if err := e.Load(learnedSnap()); err != nil {
					t.Fatal(err)
				}
			}
			var log strings.Builder
			for i := range obs {
				if i == len(obs)/2 {
					if _, err := e.Accept(accept, "test", "wider setpoint", obs[i].Time, 1); err != nil {
						t.Fatal(err)
					}
				}
				for _, a := range append(e.Tick(obs[i].Time), e.Observe(&obs[i])...) {
					fmt.Fprintf(&log, "%s %s\n", a.Rule, a.Signature)
				}
			}
			b, err := json.Marshal(e.Snapshot())
			if err != nil {
				t.Fatal(err)
			}
			return log.String() + string(b)
		}
		with, without := run(false), run(true)
		if with != without {
			t.Fatalf("%s: the memo changed the verdicts:\nwith    %s\nwithout %s", mode, with, without)
		}
		for _, rule := range []string{"unexpected_function", "unexpected_write", "write_value_out_of_range", "poll_stopped",
			"opcua_anonymous_session", "opcua_unexpected_call"} {
			if !strings.Contains(with, rule) {
				t.Errorf("%s: no %s raised: the test lost its deviations", mode, rule)
			}
		}
	}
}

// TestCallMemo learns OPC UA traffic with and without the channels' memos
// of learned calls (emptied before every transaction) and requires the
// same baseline and the same store delta: more distinct calls than the
// memo holds, session context changes, reads of several nodes, calls,
// writes (never memoized) and a client without an application URI.
func TestCallMemo(t *testing.T) {
	var obs []Observation
	at := t0
	services := []string{"Read", "Browse", "Publish", "Call", "Read", "CreateSubscription", "Read"}
	for round := range 60 {
		for i, svc := range services {
			at = at.Add(100 * time.Millisecond)
			o := ua(at, scada, svc)
			switch svc {
			case "Read":
				uaOf(&o).Read = []string{"ns=2;s=Level", "ns=2;s=Inflow"}[:1+i%2]
			case "Call":
				uaOf(&o).Called = []string{"ns=2;s=Dam.Reset"}
			}
			if round%7 == 3 {
				uaOf(&o).User, uaOf(&o).Token = "", TokenAnonymous
			}
			if round%5 == 1 {
				uaOf(&o).ClientAppURI = ""
			}
			obs = append(obs, o)
		}
		if round%10 == 0 {
			at = at.Add(100 * time.Millisecond)
			w := ua(at, scada, "Write")
			uaOf(&w).Written = []NodeValue{{Node: "ns=2;s=Gate1.Setpoint", Value: float64(round), Numeric: true}}
			obs = append(obs, w)
		}
	}
	learnAll := func(forget bool) (string, string) {
		e := New(Config{Mode: Learn})
		e.plain = forget
		for i := range obs {
			e.Observe(&obs[i])
		}
		recs, err := e.TakeDelta()
		if err != nil {
			t.Fatal(err)
		}
		var delta strings.Builder
		for _, r := range recs {
			if r.Bucket == ChannelBucket(OPCUA) {
				delta.Write(r.Value)
			}
		}
		b, err := json.Marshal(e.Snapshot())
		if err != nil {
			t.Fatal(err)
		}
		return string(b), delta.String()
	}
	with, withDelta := learnAll(false)
	without, withoutDelta := learnAll(true)
	if with != without {
		t.Fatalf("the memo changed what was learned:\nwith    %s\nwithout %s", with, without)
	}
	if withDelta != withoutDelta {
		t.Fatalf("the memo changed the store delta:\nwith    %s\nwithout %s", withDelta, withoutDelta)
	}
	if !strings.Contains(with, `"Read":`) || !strings.Contains(with, `"ns=2;s=Dam.Reset":`) {
		t.Fatalf("the test learned no reads or calls: %s", with)
	}
}

// TestMemoAfter checks that a channel gets its memo only once it has
// learned memoAfter transactions, judged or learned: spoofed channels of a
// few packets each must not cost one.
func TestMemoAfter(t *testing.T) {
	e := New(Config{Mode: Auto, LearnFor: time.Minute})
	at := t0
	for i := range memoAfter - 1 {
		at = at.Add(time.Second)
		e.Observe(new(mbRead(at, hmi, 1, 0, 10)))
		e.Observe(new(mbRead(at, hmi, 2, uint16(i), 10)))
	}
	key := func(unit uint8) ChannelKey { return ChannelKey{Protocol: Modbus, Client: hmi, Server: plc, Unit: unit} }
	shapes := func(unit uint8) *shapeMemo {
		if st, _ := e.chanRT[key(unit)].state.(*modbusRuntime); st != nil {
			return st.shapes
		}
		return nil
	}
	if ch := e.channels[key(1)]; ch == nil || shapes(1) != nil {
		t.Fatalf("channel after %d transactions: %+v, want one without a memo", memoAfter-1, ch)
	}
	e.Observe(new(mbRead(at.Add(time.Second), hmi, 1, 0, 10)))
	if shapes(1) == nil {
		t.Fatalf("no memo after %d transactions", memoAfter)
	}
	// Judged (after LearnFor), unit 2 stays without a memo.
	for i := range 50 {
		e.Observe(new(mbRead(at.Add(2*time.Minute+time.Duration(i)*time.Second), hmi, 2, 0, 10)))
	}
	if ch := e.channels[key(2)]; ch == nil || shapes(2) != nil {
		t.Fatalf("judged channel of %d learned transactions has a memo", memoAfter-1)
	}
}
