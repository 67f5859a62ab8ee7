package baselines

import (
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// maxFuzzObs bounds the transactions of one fuzz input: every one of them
// goes through two engines in three modes, with a Tick that walks every
// channel, and the fuzzer grows inputs to tens of kilobytes.
const maxFuzzObs = 512

// decodeObs turns fuzz bytes into observations, 24 bytes each:
//
//	0 protocol (low bit: modbus/opcua)  1 unit  2 function  3 exception
//	4 flags (responded, timeout, numeric, anonymous, ...)  5 tables
//	6-7 read start  8-9 read count  10-11 write start  12-13 write count
//	14-15 value (written, and the first read)  16-17 sub-function (16:
//	the UMAS function of FC 90; and the step between values read)
//	18 client  19 mode/token
//	20-23 time step in ms
//
// fuzzThumbs are the certificates a fuzzed OPC UA server presents.
var fuzzThumbs = [3]string{"aa", "bb", "cc"}

func decodeObs(data []byte) []Observation {
	var out []Observation
	t := t0.Add(5 * time.Hour)
	nodes, services := fuzzNodes, fuzzServices
	for len(data) >= 24 && len(out) < maxFuzzObs {
		b := data[:24]
		data = data[24:]
		t = t.Add(time.Duration(binary.BigEndian.Uint32(b[20:])%600000) * time.Millisecond)
		cli := netip.AddrFrom4([4]byte{10, 10, 1, b[18]})
		o := Observation{Time: t, Responded: b[4]&1 != 0,
			Endpoints: Endpoints{ClientIP: cli, ServerIP: plc, ClientPort: 40000, ServerPort: 502}}
		if b[0]&1 == 0 {
			o.Protocol = Modbus
			m := &ModbusObs{}
			o.Detail = m
			m.Unit, m.Function, m.Exception, m.Timeout = b[1]%4, b[2], b[3]%12, b[4]&2 != 0
			m.ReadTable, m.WriteTable = modbus.Table(b[5]&7), modbus.Table(b[5]>>3&7)
			m.Read = Range{binary.BigEndian.Uint16(b[6:]), binary.BigEndian.Uint16(b[8:])}
			m.Write = Range{binary.BigEndian.Uint16(b[10:]), binary.BigEndian.Uint16(b[12:]) % 130}
			for i := 0; i < int(m.Write.Count)%5; i++ {
				m.Values = append(m.Values, binary.BigEndian.Uint16(b[14:])+uint16(i))
			}
			m.SubFunction, m.MEIType = binary.BigEndian.Uint16(b[16:]), b[17]
			if m.Function == 90 {
				m.UMAS = modbus.UMASFunction(b[16]) // program_transfer
			}
			// The values read, hostile: any 16-bit value in any table
			// (coils included), a step from the sub-function bytes; as
			// many as the read asks up to 130, any address range.
			var read []uint16
			for i := range int(min(m.Read.Count, 130)) {
				read = append(read, binary.BigEndian.Uint16(b[14:])+uint16(i)*binary.BigEndian.Uint16(b[16:]))
			}
			m.ReadValues = modbus.RegisterValues(read...)
			if b[4]&64 != 0 {
				m.Ident = &DeviceIdent{VendorName: string(b[6:14])}
			}
		} else {
			o.Protocol, o.ServerPort = OPCUA, 4840
			u := &OPCUAObs{}
			o.Detail = u
			u.Service = services[int(b[1])%len(services)]
			u.Status = uint32(b[3])
			u.SecurityMode, u.Token = SecurityMode(b[19]&3), TokenType(b[19]>>2%5)
			if b[4]&8 != 0 {
				u.SecurityPolicy = noPolicy
			} else {
				u.SecurityPolicy = policy
			}
			n := nodes[int(b[2])%len(nodes)]
			u.Read = []string{n}
			u.Written = []NodeValue{{Node: n, Value: float64(int16(binary.BigEndian.Uint16(b[14:]))), Numeric: b[4]&4 != 0}}
			if b[4]&16 != 0 {
				u.Called = []string{n}
			}
			// A process value read or notified (opcua_process.go): any
			// number, NaN and infinities included, or a Boolean.
			v := math.Float64frombits(binary.BigEndian.Uint64(b[12:]))
			u.Values = []NodeValue{{Node: n, Value: v, Numeric: true, Bool: b[5]&1 != 0}}
			if b[4]&32 != 0 {
				u.ClientAppURI = string(b[6:14])
			}
			if b[4]&64 != 0 { // a server's certificate and version: certificate_changed, device_identity_changed
				u.Server = &ServerInfo{CertThumbprint: fuzzThumbs[b[16]%3], SoftwareVersion: fuzzThumbs[b[17]%3][:1]}
			}
		}
		out = append(out, o)
	}
	return out
}

// The OPC UA nodes and services decodeObs can express, by index.
var (
	fuzzNodes    = []string{"ns=2;s=Level", "ns=2;s=Gate1.Setpoint", "ns=2;s=Dam.Shutdown", ""}
	fuzzServices = []string{"Read", "Write", "Call", "ActivateSession", "Browse", ""}
)

// encodeObs writes obs in decodeObs's layout, as far as it can express
// them (a client is 10.10.1.x, a node or service not in fuzzNodes or
// fuzzServices becomes the last one): the seeds of FuzzObserve are real
// traffic of the test plant.
func encodeObs(obs []Observation) []byte {
	var out []byte
	prev := t0.Add(5 * time.Hour)
	for i := range obs {
		o := &obs[i]
		b := make([]byte, 24)
		if o.Responded {
			b[4] |= 1
		}
		b[18] = o.ClientIP.As4()[3]
		if o.Time.After(prev) {
			binary.BigEndian.PutUint32(b[20:], uint32(o.Time.Sub(prev)/time.Millisecond))
			prev = o.Time
		}
		index := func(list []string, v string) byte {
			if i := slices.Index(list, v); i >= 0 {
				return byte(i)
			}
			return byte(len(list) - 1)
		}
		if u, ok := o.Detail.(*OPCUAObs); ok {
			b[0], b[1], b[3] = 1, index(fuzzServices, u.Service), byte(u.Status)
			b[19] = byte(u.SecurityMode)&3 | byte(u.Token)<<2
			if u.SecurityPolicy == noPolicy {
				b[4] |= 8
			}
			node := ""
			switch {
			case len(u.Written) > 0:
				node = u.Written[0].Node
				binary.BigEndian.PutUint16(b[14:], uint16(int16(u.Written[0].Value)))
				if u.Written[0].Numeric {
					b[4] |= 4
				}
			case len(u.Called) > 0:
				node = u.Called[0]
			case len(u.Read) > 0:
				node = u.Read[0]
			}
			if len(u.Called) > 0 {
				b[4] |= 16
			}
			if si := u.Server; si != nil {
				b[4] |= 64
				b[16], b[17] = byte(max(0, slices.Index(fuzzThumbs[:], si.CertThumbprint))), byte(max(0, slices.Index([]string{"a", "b", "c"}, si.SoftwareVersion)))
			}
			b[2] = index(fuzzNodes, node)
		} else if m, ok := o.Detail.(*ModbusObs); ok {
			b[1], b[2], b[3] = m.Unit, m.Function, m.Exception
			if m.Timeout {
				b[4] |= 2
			}
			b[5] = byte(m.ReadTable) | byte(m.WriteTable)<<3
			binary.BigEndian.PutUint16(b[6:], m.Read.Start)
			binary.BigEndian.PutUint16(b[8:], m.Read.Count)
			binary.BigEndian.PutUint16(b[10:], m.Write.Start)
			binary.BigEndian.PutUint16(b[12:], m.Write.Count)
			if len(m.Values) > 0 {
				binary.BigEndian.PutUint16(b[14:], m.Values[0])
			}
			binary.BigEndian.PutUint16(b[16:], m.SubFunction)
			if m.Function == 90 {
				b[16] = byte(m.UMAS)
			}
		}
		out = append(out, b...)
	}
	return out
}

// FuzzObserve feeds arbitrary transactions (decodeObs's layout after a
// first byte that chooses the mode: learning, judging, or learning then
// judging) to an engine:
// no panic, every alert complete, the model always encodable and
// reloadable, and the same alerts, alert log and model as the reference
// engine, which has no memos and no caches (Engine.plain).
//
// One execution must stay cheap: the fuzzer minimises every input that
// finds new code, re-running it hundreds of times without counting those
// runs, so a slow check stalls it at the start (it used to reset the
// reference engine's memos on every channel before every transaction,
// and to run the three modes and three JSON snapshots per input: 10
// executions in 180 s). Hence one mode per input, the alert logs compared
// in place, and one snapshot.
func FuzzObserve(f *testing.F) {
	for mode := range byte(3) {
		f.Add(append([]byte{mode}, encodeObs(normal(t0, 20*time.Second)[:8])...))
	}
	f.Fuzz(fuzzObserve)
}

// reference returns an engine that works every verdict out from the
// baseline itself, without memos or caches.
func reference(cfg Config) *Engine {
	e := New(cfg)
	e.plain = true
	return e
}

// fuzzObserve is FuzzObserve's check of one input.
func fuzzObserve(t *testing.T, data []byte) {
	if len(data) == 0 {
		return
	}
	mode := []Mode{Learn, Monitor, Auto}[data[0]%3]
	Diff(learnedSnap(), withoutMemos(t, mode, learnedSnap(), decodeObs(data[1:])))
}

// withoutMemos runs obs through an engine and through the reference
// engine, both loaded with snap, in mode, and fails when they raise
// different alerts, learn different baselines or keep different alert
// logs, or when an alert is incomplete or the baseline does not load
// back. It returns the engine's snapshot.
func withoutMemos(t *testing.T, mode Mode, snap *Snapshot, obs []Observation) *Snapshot {
	t.Helper()
	cfg := Config{Mode: mode, LearnFor: time.Minute}
	e, plain := New(cfg), reference(cfg)
	for _, x := range []*Engine{e, plain} {
		if err := x.Load(snap); err != nil {
			t.Fatal(err)
		}
	}
	for i := range obs {
		// Observe's and Tick's results share one buffer: copy.
		got := append(slices.Clone(e.Observe(&obs[i])), e.Tick(obs[i].Time)...)
		for _, a := range got {
			if !a.Rule.known() || a.Signature == "" || a.Count == 0 || len(a.ID) != 16 {
				t.Fatalf("incomplete alert %+v", a)
			}
		}
		want := append(slices.Clone(plain.Observe(&obs[i])), plain.Tick(obs[i].Time)...)
		// Tick walks a map: compare the alerts as sets.
		if g, w := alertSet(got), alertSet(want); g != w {
			t.Fatalf("%s: transaction %d raised\n%s\nwithout the memos\n%s", mode, i, g, w)
		}
	}
	if g, w := modelOf(t, e), modelOf(t, plain); g != w {
		t.Fatalf("%s: the memos changed the baseline:\n%s\nwithout them\n%s", mode, g, w)
	}
	if !maps.EqualFunc(e.alerts, plain.alerts, func(a, b *AlertRecord) bool { return *a == *b }) {
		t.Fatalf("%s: the memos changed the alert log", mode)
	}
	if _, err := e.TakeDelta(); err != nil {
		t.Fatal(err)
	}
	s := e.Snapshot()
	if err := New(Config{}).Load(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// modelOf returns the JSON of e's devices and channels, in key order.
func modelOf(t *testing.T, e *Engine) string {
	var b strings.Builder
	for _, ip := range slices.SortedFunc(maps.Keys(e.devices), netip.Addr.Compare) {
		j, err := json.Marshal(&e.devices[ip].Device)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
	}
	for _, k := range slices.SortedFunc(maps.Keys(e.channels), compareKeys) {
		j, err := json.Marshal(&e.channels[k].Channel)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
	}
	return b.String()
}

// FuzzLoad loads arbitrary exports (`sluice baseline import` input): no
// panic, and a loaded baseline still judges and snapshots.
func FuzzLoad(f *testing.F) {
	b, err := json.Marshal(learnedSnap())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"schema":1,"channels":[{"key":{"protocol":"modbus","client":"10.10.1.10","server":"10.10.2.1","unit":1},"polls":{"3:holding_registers:0:10":null},"values":{"holding_registers:40":null},"written":{"holding_registers":[{"first":9,"last":3},{"first":0,"last":65535}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Snapshot
		if json.Unmarshal(data, &s) != nil {
			return
		}
		e := New(Config{Mode: Monitor})
		if e.Load(&s) != nil {
			return
		}
		for _, o := range normal(t0.Add(time.Hour), 30*time.Second) {
			e.Observe(&o)
			e.Tick(o.Time)
		}
		e.Tick(t0.Add(2 * time.Hour))
		s2 := e.Snapshot()
		if _, err := s2.SHA256(); err != nil {
			t.Fatal(err)
		}
		for _, c := range s2.Channels {
			c.Items()
		}
	})
}

// alertSet returns the rules and signatures of alerts, sorted.
func alertSet(alerts []Alert) string {
	var lines []string
	for _, a := range alerts {
		lines = append(lines, a.Rule.String()+" "+a.Signature)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
