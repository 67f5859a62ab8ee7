package baselines

import (
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// TestBitset256 checks the kept size against a count of the bits.
func TestBitset256(t *testing.T) {
	var b bitset256
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		got := b.set(uint8(r.IntN(256)))
		want := 0
		for _, w := range b.w {
			want += bits.OnesCount64(w)
		}
		if got != want {
			t.Fatalf("size %d, %d bits set", got, want)
		}
	}
}

// TestHotIndexSpreads checks that the channels of the plants we replay fit
// in the cache (at most two per set): the thirteen Modbus channels of
// iti_ModbusTCP.pcap and the test plant's two Modbus units and OPC UA
// endpoint.
func TestHotIndexSpreads(t *testing.T) {
	var keys []ChannelKey
	for _, srv := range []string{"141.81.0.86", "141.81.0.24", "141.81.0.44", "141.81.0.144", "141.81.0.104",
		"141.81.0.164", "141.81.0.26", "141.81.0.46", "141.81.0.66", "141.81.0.64", "141.81.0.84",
		"141.81.0.143", "141.81.0.163"} {
		keys = append(keys, ChannelKey{Protocol: Modbus, Client: netip.MustParseAddr("141.81.0.10"),
			Server: netip.MustParseAddr(srv), Unit: 255})
	}
	keys = append(keys, ChannelKey{Protocol: Modbus, Client: hmi, Server: plc, Unit: 1},
		ChannelKey{Protocol: Modbus, Client: hmi, Server: plc, Unit: 2},
		ChannelKey{Protocol: OPCUA, Client: scada, Server: plc, Port: 4840})
	seen := map[int][]ChannelKey{}
	for _, k := range keys {
		i := hotIndex(&k)
		if i < 0 || i >= hotSets {
			t.Fatalf("set %d of %v out of range", i, k)
		}
		if seen[i] = append(seen[i], k); len(seen[i]) > 2 {
			t.Errorf("%v share set %d", seen[i], i)
		}
	}
}

// TestInlineTimeComparisons checks the inlined comparisons of packet times
// against the time package: Device.seen (and seenBoth for each of its
// devices) moves LastSeen exactly when
// t.After(LastSeen), and learning is t.Before(learnEnd), over random times
// that often share their second (so nanoseconds decide), before 1970 too.
func TestInlineTimeComparisons(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rt := func() time.Time {
		sec := r.Int64N(8) - 4
		if r.IntN(4) == 0 {
			sec = r.Int64N(1<<40) - 1<<39
		}
		ns := int64(r.IntN(4)) * 250_000_000
		if r.IntN(2) == 0 {
			ns = r.Int64N(1e9)
		}
		return time.Unix(1_700_000_000+sec, ns)
	}
	e := New(Config{Mode: Auto, LearnFor: time.Hour})
	for range 200_000 {
		last, at := rt(), rt()
		d := &device{Device: Device{LastSeen: last}}
		d.seen(at)
		want := last
		if at.After(last) {
			want = at
		}
		if d.LastSeen != want || d.Transactions != 1 || !d.dirty {
			t.Fatalf("seen(%v) from %v: LastSeen %v, want %v", at, last, d.LastSeen, want)
		}
		other := rt()
		a, b := &device{Device: Device{LastSeen: last}}, &device{Device: Device{LastSeen: other}}
		seenBoth(a, b, at)
		wantB := other
		if at.After(other) {
			wantB = at
		}
		if a.LastSeen != want || b.LastSeen != wantB || a.Transactions != 1 || b.Transactions != 1 || !a.dirty || !b.dirty {
			t.Fatalf("seenBoth(%v) from %v and %v: LastSeen %v and %v", at, last, other, a.LastSeen, b.LastSeen)
		}
		srv := &device{Device: Device{FirstSeen: last}}
		if got, want := e.learning(srv, at), at.Before(last.Add(time.Hour)); got != want {
			t.Fatalf("learning at %v, first seen %v: %v, want %v", at, last, got, want)
		}
	}
}

// TestSameKey checks sameKey against == on keys that differ in one field
// (or none), each field in turn.
func TestSameKey(t *testing.T) {
	base := ChannelKey{Protocol: Modbus, Client: hmi, Server: plc, Unit: 1, Port: 502}
	other := netip.MustParseAddr("fe80::1%eth0")
	for i, k := range []ChannelKey{base,
		{Protocol: OPCUA, Client: hmi, Server: plc, Unit: 1, Port: 502},
		{Protocol: Modbus, Client: other, Server: plc, Unit: 1, Port: 502},
		{Protocol: Modbus, Client: hmi, Server: other, Unit: 1, Port: 502},
		{Protocol: Modbus, Client: hmi, Server: plc, Unit: 2, Port: 502},
		{Protocol: Modbus, Client: hmi, Server: plc, Unit: 1, Port: 4840},
		{Protocol: Modbus, Client: netip.MustParseAddr("fe80::1%eth1"), Server: plc, Unit: 1, Port: 502},
		{Protocol: Modbus, Client: netip.AddrFrom16(hmi.As16()), Server: plc, Unit: 1, Port: 502},
	} {
		for _, l := range []ChannelKey{base, k} {
			if got, want := sameKey(&k, &l), k == l; got != want {
				t.Errorf("case %d: sameKey(%v, %v) = %v, == says %v", i, k, l, got, want)
			}
		}
	}
}
