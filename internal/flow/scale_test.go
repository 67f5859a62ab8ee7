package flow

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// nopStream accepts everything and keeps nothing.
type nopStream struct{}

func (nopStream) Data(Dir, []byte, time.Time)  {}
func (nopStream) Gap(Dir, int, time.Time)      {}
func (nopStream) Close(CloseReason, time.Time) {}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestMillionFlows pushes a million SYNs from distinct random addresses and
// ports through a table capped at 50,000 flows: the heap stays under the
// budget that cap implies (checked along the way, after GC), and every flow
// beyond the cap is evicted and counted.
func TestMillionFlows(t *testing.T) {
	const (
		total    = 1_000_000
		maxFlows = 50_000
		// Budget per tracked flow: the flow struct, its Conn, its
		// map entry and the map's spare capacity, with room to spare.
		perFlow = 1024
		slack   = 8 << 20
	)
	frame := ethFrame(t, tcpSpec{src: "10.0.0.1", dst: "10.9.9.9", sport: 1, dport: 502, seq: 1, syn: true})
	const srcOff, sportOff = 14 + 12, 14 + 20
	rng := rand.New(rand.NewPCG(1, 2))
	tab := NewTable(Config{MaxFlows: maxFlows}, func(*Conn, time.Time) Stream { return nopStream{} })
	base := heapInUse()
	start := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	var peak uint64
	for i := range total {
		// i × an odd constant is a bijection on uint32: distinct
		// addresses in a scattered order; ports are random.
		binary.BigEndian.PutUint32(frame[srcOff:], uint32(i)*2654435761)
		binary.BigEndian.PutUint16(frame[sportOff:], uint16(1024+rng.IntN(60000)))
		tab.Handle(frame, layers.LinkTypeEthernet, start.Add(time.Duration(i)*time.Microsecond))
		if i%200_000 == 199_999 {
			peak = max(peak, heapInUse()-min(base, heapInUse()))
		}
	}
	st := tab.Stats()
	if st.FlowsCreated != total || st.FlowsActive != maxFlows || st.Evicted != total-maxFlows || st.DecodeErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	budget := uint64(maxFlows*perFlow + slack)
	t.Logf("peak heap growth %.1f MiB for %d flows (%.0f B/flow), budget %.1f MiB", float64(peak)/(1<<20), maxFlows, float64(peak)/maxFlows, float64(budget)/(1<<20))
	if peak > budget {
		t.Errorf("heap grew by %d bytes, budget %d", peak, budget)
	}
	tab.Close()
	runtime.KeepAlive(tab)
}

// TestTableZeroAlloc guards the hot path: data on an established
// connection, decoded, looked up, reassembled and delivered, allocates
// nothing.
func TestTableZeroAlloc(t *testing.T) {
	c := tcpSpec{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 502, seq: 1, ack: 1, ack_: true, payload: "\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x0a"}
	fr := ethFrame(t, c)
	const seqOff = 14 + 20 + 4
	tab := NewTable(Config{}, func(*Conn, time.Time) Stream { return nopStream{} })
	ts := time.Unix(1_700_000_000, 0)
	seq := uint32(1)
	next := func() {
		binary.BigEndian.PutUint32(fr[seqOff:], seq)
		seq += uint32(len(c.payload))
		ts = ts.Add(time.Millisecond)
		tab.Handle(fr, layers.LinkTypeEthernet, ts)
	}
	next() // creates the flow: that allocates, once
	if allocs := testing.AllocsPerRun(1000, next); allocs != 0 {
		t.Errorf("%v allocations per in-order data packet, want 0", allocs)
	}
	if st := tab.Stats(); st.FlowsCreated != 1 || st.Gaps != 0 || st.Retransmissions != 0 {
		t.Errorf("stats %+v", st)
	}
}
