package flow

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstMap runs random puts, gets and removes on an index and on
// a Go map side by side and requires the same answers and the same count
// throughout. Besides the real hash, hashes squeezed into a few values force
// long runs of colliding keys that wrap around the end of the slots, which
// is where backward-shift deletion can go wrong.
func TestIndexAgainstMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash func(x *index, k *flowKey) uint64
	}{
		{"real hash", (*index).hash},
		{"8 values", func(x *index, k *flowKey) uint64 { return x.hash(k) % 8 }},
		{"high end", func(x *index, k *flowKey) uint64 { return ^uint64(0) - x.hash(k)%3 }},
		{"one value", func(*index, *flowKey) uint64 { return 13 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 11))
			x := newIndex()
			ref := map[flowKey]*flow{}
			key := func() flowKey {
				// Few distinct keys, so puts, hits and removes all
				// happen often; IPv4 and IPv6 shapes.
				k := flowKey{a: [2]uint64{uint64(rng.IntN(6)) << 32, 0}, b: [2]uint64{10 << 56, 0}, ports: uint64(rng.IntN(40)) << 32}
				if rng.IntN(4) == 0 {
					k.a[1], k.ports = uint64(rng.IntN(3)), k.ports|1
				}
				return k
			}
			for i := range 200_000 {
				k := key()
				want := ref[k]
				if got := x.get(&k, tc.hash(&x, &k)); got != want {
					t.Fatalf("op %d: get(%v) = %p, want %p", i, k, got, want)
				}
				switch {
				case want == nil && rng.IntN(3) != 0:
					f := &flow{key: k}
					x.put(f, tc.hash(&x, &k))
					ref[k] = f
				case want != nil && rng.IntN(2) == 0:
					x.remove(want, tc.hash(&x, &k))
					delete(ref, k)
				}
				if x.n != len(ref) || 2*x.n > len(x.slots) {
					t.Fatalf("op %d: %d flows in %d slots, map has %d", i, x.n, len(x.slots), len(ref))
				}
				if i%10_000 == 0 {
					for k, f := range ref {
						if got := x.get(&k, tc.hash(&x, &k)); got != f {
							t.Fatalf("op %d: get(%v) = %p, want %p", i, k, got, f)
						}
					}
				}
			}
			// Emptied, it holds nothing and its slots are all free.
			for k, f := range ref {
				x.remove(f, tc.hash(&x, &k))
			}
			for _, s := range x.slots {
				if s.f != nil || x.n != 0 {
					t.Fatalf("not empty after removing everything: n=%d", x.n)
				}
			}
		})
	}
}

// TestIndexRemoveAbsent: removing a flow the index does not hold (which the
// table never does) changes nothing and terminates.
func TestIndexRemoveAbsent(t *testing.T) {
	x := newIndex()
	x.remove(&flow{}, 3)
	a := &flow{key: flowKey{ports: 1 << 32}}
	x.put(a, 3)
	x.remove(&flow{}, 3)
	x.remove(&flow{}, 4)
	if x.n != 1 || x.get(&a.key, 3) != a {
		t.Fatalf("n=%d", x.n)
	}
}

func BenchmarkIndexGet(b *testing.B) {
	x := newIndex()
	keys := make([]flowKey, 1024)
	for i := range keys {
		keys[i] = flowKey{a: [2]uint64{uint64(0x0a000001+i) << 32}, b: [2]uint64{0x0a0000fe << 32}, ports: uint64(40000+i)<<32 | 502<<16}
		x.put(&flow{key: keys[i]}, x.hash(&keys[i]))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		k := &keys[i&1023]
		if x.get(k, x.hash(k)) == nil {
			b.Fatal("missing")
		}
	}
}

// TestIndexHashSpreads: keys that differ only in one field (the client port,
// the client address, an IPv6 low half) spread over the low bits that pick
// the home slot as random values would (about 1-1/e of 4,096 slots used by
// 4,096 keys), for every field a scan or a flood would vary.
func TestIndexHashSpreads(t *testing.T) {
	x := newIndex()
	base := flowKey{a: [2]uint64{0x0a000001 << 32}, b: [2]uint64{0x0a0000fe << 32}, ports: 40000<<32 | 502<<16}
	vary := map[string]func(k *flowKey, i uint64){
		"port a":     func(k *flowKey, i uint64) { k.ports = i<<32 | 502<<16 },
		"port b":     func(k *flowKey, i uint64) { k.ports = 1<<32 | i<<16 },
		"address a":  func(k *flowKey, i uint64) { k.a[0] = i << 32 },
		"address b":  func(k *flowKey, i uint64) { k.b[0] = (0xc0a80000 + i) << 32 },
		"IPv6 low a": func(k *flowKey, i uint64) { k.a[1], k.ports = i, k.ports|1 },
		"IPv6 top a": func(k *flowKey, i uint64) { k.a[0], k.ports = i<<52, k.ports|1 },
	}
	const n = 4096
	for name, set := range vary {
		used := map[uint64]bool{}
		for i := range uint64(n) {
			k := base
			set(&k, i)
			used[x.hash(&k)%n] = true
		}
		if len(used) < n*55/100 {
			t.Errorf("%s: %d of %d home slots used", name, len(used), n)
		}
	}
}

// TestKeySet checks flowKey.set against the definition it implements: the
// lower (address bytes, port) endpoint is a, the key holds both addresses
// as big-endian words, and both directions of a connection share it. The
// segments are random IPv4 and IPv6 ones, often with equal addresses or
// ports, where the order is decided by the next field.
func TestKeySet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	words := func(b [16]byte) [2]uint64 {
		return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
	}
	for i := range 100_000 {
		var s Segment
		s.V6 = i%3 == 0
		n := 4
		if s.V6 {
			n = 16
		}
		for j := range n {
			// Equal leading bytes, so that later ones (or the ports)
			// decide the order.
			s.Src[j], s.Dst[j] = 0x20, 0x20
			if j >= n-2 {
				s.Src[j], s.Dst[j] = byte(rng.IntN(3)), byte(rng.IntN(3))
			}
		}
		if rng.IntN(4) == 0 {
			s.Src[rng.IntN(n)] = byte(rng.Uint32())
		}
		s.SrcPort, s.DstPort = uint16(rng.IntN(3)), uint16(rng.IntN(3))
		if rng.IntN(2) == 0 {
			s.SrcPort, s.DstPort = uint16(rng.Uint32()), uint16(rng.Uint32())
		}
		c := bytes.Compare(s.Src[:], s.Dst[:])
		wantSrcFirst := c < 0 || c == 0 && s.SrcPort <= s.DstPort
		want := flowKey{a: words(s.Src), b: words(s.Dst), ports: uint64(s.SrcPort)<<32 | uint64(s.DstPort)<<16}
		if !wantSrcFirst {
			want = flowKey{a: words(s.Dst), b: words(s.Src), ports: uint64(s.DstPort)<<32 | uint64(s.SrcPort)<<16}
		}
		if s.V6 {
			want.ports |= 1
		}
		var k flowKey
		if srcFirst := k.set(&s); k != want || srcFirst != wantSrcFirst {
			t.Fatalf("%+v: key %+v srcFirst %v, want %+v %v", s, k, srcFirst, want, wantSrcFirst)
		}
		// The reply shares the key, from the other end.
		r := s
		r.Src, r.Dst, r.SrcPort, r.DstPort = s.Dst, s.Src, s.DstPort, s.SrcPort
		same := s.Src == s.Dst && s.SrcPort == s.DstPort
		var rk flowKey
		if srcFirst := rk.set(&r); rk != want || srcFirst != (same || !wantSrcFirst) {
			t.Fatalf("reply %+v: key %+v srcFirst %v, want %+v", r, rk, srcFirst, want)
		}
	}
}
