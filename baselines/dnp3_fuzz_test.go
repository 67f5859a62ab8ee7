package baselines

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/dnp3"
)

// dnp3LearnedSnap returns an hour of the SCADA master and the RTU learned
// (dnp3Normal), made once.
func dnp3LearnedSnap(t testing.TB) *Snapshot {
	dnp3Learned.once.Do(func() {
		e := New(Config{Mode: Learn})
		feed(e, dnp3Normal(t, t0, time.Hour))
		dnp3Learned.snap = e.Snapshot()
	})
	return dnp3Learned.snap
}

var dnp3Learned struct {
	once sync.Once
	snap *Snapshot
}

// decodeDNP3Obs turns fuzz bytes into DNP3 observations: per record a
// header of 8 bytes (0 flags: responded, timeout, unsolicited, from a
// rogue; 1 master address; 2 outstation address; 3 response IIN2; 4-5
// time step in ms; 6 request length; 7 response length), then the request
// and response fragments, decoded by protocols/dnp3 as the agent decodes
// them, hostile objects included.
func decodeDNP3Obs(data []byte) []Observation {
	var out []Observation
	t := t0.Add(2 * time.Hour)
	for len(data) >= 8 && len(out) < maxFuzzObs {
		h := data[:8]
		data = data[8:]
		rl, sl := min(int(h[6]), len(data)), 0
		req := data[:rl]
		data = data[rl:]
		sl = min(int(h[7]), len(data))
		resp := data[:sl]
		data = data[sl:]
		t = t.Add(time.Duration(binary.BigEndian.Uint16(h[4:])) * time.Millisecond)
		cli := scada
		if h[0]&8 != 0 {
			cli = netip.AddrFrom4([4]byte{10, 10, 9, h[1]})
		}
		d := &DNP3Obs{Master: uint16(h[1] % 4), Outstation: 10 + uint16(h[2]%3), Timeout: h[0]&2 != 0}
		if h[0]&4 == 0 {
			d.Request = new(dnp3.Message)
			d.Request.Parse(append([]byte{0xC0}, req...))
		}
		if h[0]&1 != 0 || d.Request == nil {
			d.Response = new(dnp3.Message)
			fc := byte(0x81)
			if d.Request == nil {
				fc = 0x82
			}
			d.Response.Parse(append([]byte{0xC0, fc, 0, h[3]}, resp...))
		}
		o := Observation{Time: t, Protocol: DNP3, Responded: d.Response != nil, Detail: d,
			Endpoints: Endpoints{FlowID: 3, ClientIP: cli, ServerIP: rtu, ClientPort: 41000, ServerPort: 20000}}
		if d.Request != nil {
			o.RequestTime = t
		}
		out = append(out, o)
	}
	return out
}

// FuzzObserveDNP3: hostile DNP3 transactions (any function, any objects,
// truncated or malformed) never panic the engine, raise only complete
// alerts, and the memos change nothing: the reference engine, without
// them, raises the same alerts and learns the same baseline, in every mode.
func FuzzObserveDNP3(f *testing.F) {
	rec := func(flags, iin2 byte, req, resp []byte) []byte {
		return append(append([]byte{flags, 1, 0, iin2, 0x03, 0xE8, byte(len(req)), byte(len(resp))}, req...), resp...)
	}
	poll := append([]byte{0x01}, classes...)
	f.Add(slices.Concat(rec(1, 0, poll, nil), rec(1, 0, poll, nil), rec(1, 0, append([]byte{0x01}, integrity...), nil)))
	f.Add(slices.Concat(rec(1, 0, append([]byte{0x05}, crob(0, 0x41)...), nil), rec(9, 0, append([]byte{0x03}, analogOut(1, 5000)...), nil)))
	f.Add(rec(1, 0, []byte{0x0D}, nil))
	f.Add(slices.Concat(rec(1, 0x01, []byte{0x07, 0x14, 0x00, 0x06}, nil), rec(5, 0, nil, []byte{0x02, 0x01, 0x17, 0x01, 0x00, 0x81})))
	f.Add(rec(1, 0, []byte{0x01, 0x1E, 0x01, 0x00, 0x00, 0xFF}, []byte{0x78, 0x07, 0x5B, 0x01, 0x0F, 0x00}))
	f.Fuzz(func(t *testing.T, data []byte) {
		obs := decodeDNP3Obs(data)
		for _, mode := range []Mode{Learn, Monitor, Auto} {
			withoutMemos(t, mode, dnp3LearnedSnap(t), obs)
		}
	})
}
