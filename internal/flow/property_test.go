package flow

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// streamCollector gathers what a Stream receives, per direction: the bytes,
// and the stream with each gap's lost bytes as zeros (so positions stay
// comparable with the original).
type streamCollector struct {
	data     [2][]byte
	withGaps [2][]byte
	lost     [2][]bool
	gaps     int
	closes   []CloseReason
}

func (c *streamCollector) Data(d Dir, b []byte, _ time.Time) {
	c.data[d] = append(c.data[d], b...)
	c.withGaps[d] = append(c.withGaps[d], b...)
	c.lost[d] = append(c.lost[d], make([]bool, len(b))...)
}

func (c *streamCollector) Gap(d Dir, n int, _ time.Time) {
	c.gaps++
	c.withGaps[d] = append(c.withGaps[d], make([]byte, n)...)
	for range n {
		c.lost[d] = append(c.lost[d], true)
	}
}

func (c *streamCollector) Close(r CloseReason, _ time.Time) { c.closes = append(c.closes, r) }

// reassemblyRun sends two byte streams over one connection as a hostile but
// lossless network would: random segment sizes, retransmissions with other
// boundaries (overlaps), duplicates, and bounded reordering, directions
// interleaved. It returns what the Stream received.
func reassemblyRun(t testing.TB, rng *rand.Rand, c2s, s2c []byte, lossPct int) *streamCollector {
	col, _ := reassemblyRunWith(t, rng, c2s, s2c, lossPct, 0, false)
	return col
}

// reassemblyRunWith is reassemblyRun, with segment's fast path off when
// slowOnly is set, and returns the table's counters too. When snapPct is
// set, that share of the data segments arrive snapped: only a prefix of
// the payload captured, the rest reported as Missing.
func reassemblyRunWith(t testing.TB, rng *rand.Rand, c2s, s2c []byte, lossPct, snapPct int, slowOnly bool) (*streamCollector, Stats) {
	type pkt struct {
		dir     Dir
		seq     uint32
		payload []byte
		flags   uint8
		ack     uint32 // for pure ACKs (lossy runs): acknowledges the peer up to here
	}
	const cISN, sISN = 0xfffff000, 77 // the client's sequence numbers wrap
	var pkts []pkt
	cut := func(dir Dir, isn uint32, data []byte) {
		for off := 0; off < len(data); {
			n := 1 + rng.IntN(200)
			end := min(off+n, len(data))
			pkts = append(pkts, pkt{dir, isn + 1 + uint32(off), data[off:end], flagACK, 0})
			if rng.IntN(4) == 0 { // a retransmission, re-cut: overlaps
				a := max(0, off-rng.IntN(50))
				b := min(len(data), end+rng.IntN(50))
				pkts = append(pkts, pkt{dir, isn + 1 + uint32(a), data[a:b], flagACK, 0})
			}
			if rng.IntN(8) == 0 { // an exact duplicate
				pkts = append(pkts, pkts[len(pkts)-1])
			}
			if lossPct > 0 {
				// The receiver got it (only the capture loses
				// packets) and acknowledges it; reordering may
				// show the capture that ACK before the data.
				pkts = append(pkts, pkt{dir: 1 - dir, flags: flagACK, ack: isn + 1 + uint32(end)})
			}
			off = end
		}
	}
	cut(ClientToServer, cISN, c2s)
	cut(ServerToClient, sISN, s2c)
	// Interleave the directions, then reorder within a window of 6.
	byDir := [2][]pkt{}
	for _, p := range pkts {
		byDir[p.dir] = append(byDir[p.dir], p)
	}
	var mixed []pkt
	for len(byDir[0])+len(byDir[1]) > 0 {
		d := rng.IntN(2)
		if len(byDir[d]) == 0 {
			d = 1 - d
		}
		mixed = append(mixed, byDir[d][0])
		byDir[d] = byDir[d][1:]
	}
	for i := range mixed {
		j := min(len(mixed)-1, i+rng.IntN(6))
		mixed[i], mixed[j] = mixed[j], mixed[i]
	}

	col := &streamCollector{}
	tab := NewTable(Config{}, func(*Conn, time.Time) Stream { return col })
	tab.slowOnly = slowOnly
	now := time.Unix(1_700_000_000, 0)
	send := func(dir Dir, seq uint32, flags uint8, payload []byte, ack uint32) {
		s := Segment{SrcPort: 40000, DstPort: 502, Seq: seq, Flags: flags, Payload: payload}
		if snapPct > 0 && len(payload) > 1 && rng.IntN(100) < snapPct {
			kept := rng.IntN(len(payload))
			s.Payload, s.Missing = payload[:kept], len(payload)-kept
		}
		s.Src[0], s.Dst[0] = 10, 10
		s.Src[3], s.Dst[3] = 1, 2
		s.Ack = sISN + 1
		if dir == ServerToClient {
			s.Src, s.Dst = s.Dst, s.Src
			s.SrcPort, s.DstPort = s.DstPort, s.SrcPort
			s.Ack = cISN + 1
		}
		if ack != 0 {
			s.Ack = ack
		}
		now = now.Add(time.Microsecond)
		tab.Segment(&s, now)
	}
	send(ClientToServer, cISN, flagSYN, nil, 0)
	send(ServerToClient, sISN, flagSYN|flagACK, nil, 0)
	for _, p := range mixed {
		if lossPct > 0 && rng.IntN(100) < lossPct {
			continue // lost by the capture
		}
		if p.payload == nil { // a pure ACK carries the sender's next sequence number
			p.seq = cISN + 1
			if p.dir == ServerToClient {
				p.seq = sISN + 1
			}
		}
		send(p.dir, p.seq, p.flags, p.payload, p.ack)
	}
	send(ClientToServer, cISN+1+uint32(len(c2s)), flagFIN|flagACK, nil, 0)
	send(ServerToClient, sISN+1+uint32(len(s2c)), flagFIN|flagACK, nil, 0)
	tab.Close()
	return col, tab.Stats()
}

// TestReassemblyProperty: whatever the segmentation, overlap, duplication
// and reordering, a lossless exchange comes out byte for byte, with no gap,
// closed once by the FINs.
func TestReassemblyProperty(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 42))
		c2s, s2c := make([]byte, 1+rng.IntN(6000)), make([]byte, rng.IntN(4000))
		for i := range c2s {
			c2s[i] = byte(rng.Uint32())
		}
		for i := range s2c {
			s2c[i] = byte(rng.Uint32())
		}
		col := reassemblyRun(t, rng, c2s, s2c, 0)
		if !bytes.Equal(col.data[ClientToServer], c2s) || !bytes.Equal(col.data[ServerToClient], s2c) || col.gaps != 0 ||
			len(col.closes) != 1 || col.closes[0] != CloseFIN {
			t.Fatalf("seed %d: got %d/%d bytes of %d/%d, %d gaps, closes %v", seed,
				len(col.data[0]), len(col.data[1]), len(c2s), len(s2c), col.gaps, col.closes)
		}
	}
}

// FuzzReassembly explores the same property with fuzzer-chosen seeds and
// stream lengths.
func FuzzReassembly(f *testing.F) {
	f.Add(uint64(1), uint16(100), uint16(50))
	f.Add(uint64(7), uint16(6000), uint16(0))
	f.Fuzz(func(t *testing.T, seed uint64, n1, n2 uint16) {
		rng := rand.New(rand.NewPCG(seed, 42))
		c2s, s2c := make([]byte, 1+int(n1)%8000), make([]byte, int(n2)%8000)
		for i := range c2s {
			c2s[i] = byte(i * 7)
		}
		for i := range s2c {
			s2c[i] = byte(i * 13)
		}
		col := reassemblyRun(t, rng, c2s, s2c, 0)
		if !bytes.Equal(col.data[ClientToServer], c2s) || !bytes.Equal(col.data[ServerToClient], s2c) || col.gaps != 0 ||
			len(col.closes) != 1 || col.closes[0] != CloseFIN {
			t.Fatalf("got %d/%d bytes of %d/%d, %d gaps, closes %v",
				len(col.data[0]), len(col.data[1]), len(c2s), len(s2c), col.gaps, col.closes)
		}
	})
}

// TestReassemblyLossProperty drops a tenth of the packets (retransmissions
// may or may not cover them) and mixes in the receivers' ACKs, which the
// reordering may show before the data they acknowledge (so holes are given
// up early and late data is discarded): every delivered byte sits at its
// true offset in the original stream, the gaps account exactly for the
// rest, and the stream ends at the FIN.
func TestReassemblyLossProperty(t *testing.T) {
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 7))
		orig := [2][]byte{make([]byte, 1+rng.IntN(6000)), make([]byte, rng.IntN(4000))}
		for _, b := range orig {
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
		}
		col := reassemblyRun(t, rng, orig[0], orig[1], 10)
		for d := range orig {
			got, lost := col.withGaps[d], col.lost[d]
			if len(got) != len(orig[d]) {
				t.Fatalf("seed %d dir %d: %d bytes with gaps, original %d", seed, d, len(got), len(orig[d]))
			}
			for i := range got {
				if !lost[i] && got[i] != orig[d][i] {
					t.Fatalf("seed %d dir %d: byte %d is %#x, original %#x", seed, d, i, got[i], orig[d][i])
				}
			}
		}
		if len(col.closes) != 1 || col.closes[0] != CloseFIN {
			t.Fatalf("seed %d: closes %v", seed, col.closes)
		}
	}
}

// TestFastSegmentPath runs the hostile exchanges of the reassembly property
// tests (reordering, overlaps, duplicates; lossless, and with a tenth of the
// packets lost, early ACKs and a tenth of the segments snapped) with and
// without segment's fast path: the Stream must receive the same calls and
// the counters must agree.
func TestFastSegmentPath(t *testing.T) {
	for _, lossPct := range []int{0, 10} {
		for seed := range uint64(200) {
			run := func(slowOnly bool) (*streamCollector, Stats) {
				rng := rand.New(rand.NewPCG(seed, 99))
				c2s, s2c := make([]byte, 1+rng.IntN(6000)), make([]byte, rng.IntN(4000))
				for i := range c2s {
					c2s[i] = byte(rng.Uint32())
				}
				for i := range s2c {
					s2c[i] = byte(rng.Uint32())
				}
				return reassemblyRunWith(t, rng, c2s, s2c, lossPct, lossPct, slowOnly)
			}
			fast, fastStats := run(false)
			slow, slowStats := run(true)
			if fastStats != slowStats {
				t.Fatalf("loss %d%% seed %d: stats with the fast path %+v\nwithout %+v", lossPct, seed, fastStats, slowStats)
			}
			for d := range 2 {
				if !bytes.Equal(fast.withGaps[d], slow.withGaps[d]) || !slices.Equal(fast.lost[d], slow.lost[d]) {
					t.Fatalf("loss %d%% seed %d dir %d: streams differ", lossPct, seed, d)
				}
			}
			if fast.gaps != slow.gaps || !slices.Equal(fast.closes, slow.closes) {
				t.Fatalf("loss %d%% seed %d: gaps %d vs %d, closes %v vs %v", lossPct, seed, fast.gaps, slow.gaps, fast.closes, slow.closes)
			}
		}
	}
}
