package baselines

import (
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"testing"
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
		i := hotIndex(k)
		if i < 0 || i >= hotSets {
			t.Fatalf("set %d of %v out of range", i, k)
		}
		if seen[i] = append(seen[i], k); len(seen[i]) > 2 {
			t.Errorf("%v share set %d", seen[i], i)
		}
	}
}
