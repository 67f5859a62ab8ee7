package flow

import (
	"math/bits"
	"math/rand/v2"
)

// index finds a tracked flow by its key: an open-addressing hash table with
// linear probing over a power-of-two array of slots, kept at most half full.
//
// It replaces a map[flowKey]*flow, which is looked up for most packets (the
// previous packet's flow is checked first) and cost some 200 instructions a
// lookup (valgrind), most of them in hashing through the map type's hasher
// and comparing the 40-byte key through memequal. Here the key's five words
// are mixed directly (hash), a slot holds the hash beside its flow, so a
// probe rejects another key without reaching its flow, and the one
// candidate is compared word by word (flowKey.equal).
//
// The hash is seeded with random words per index: crafted four-tuples on the
// span port cannot be aimed at one probe chain without knowing them. Nothing
// observable depends on the slot order (the table walks its LRU lists), so
// replays stay deterministic.
type index struct {
	seed  [4]uint64
	slots []slot // len is 0 or a power of two; at least half empty
	n     int    // flows held
}

// slot is one entry: f nil when empty.
type slot struct {
	hash uint64 // of f.key
	f    *flow
}

// minSlots is the first allocation: a few connections need no growth.
const minSlots = 16

func newIndex() index {
	return index{seed: [4]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64(), rand.Uint64()}}
}

// hash returns the hash of k that get, put and remove take. The address
// words are folded with the secret seed by wyhash's multiply-fold (the
// mixing of Go's runtime memhash where AES is not available,
// runtime/hash64.go); the ports join, and MurmurHash3's 64-bit finaliser
// spreads every bit over the low ones that pick a slot (a fold with one
// operand fixed leaves them in arithmetic progressions: TestIndexHashSpreads).
// hash/maphash (the AES hash) cost about 100 instructions a key here, this
// about 25.
func (x *index) hash(k *flowKey) uint64 {
	h := mix(k.a[0]^x.seed[0], k.b[0]^x.seed[1]) ^ mix(k.a[1]^x.seed[2], k.b[1]^x.seed[3]) ^ k.ports
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// mix folds the 128-bit product of a and b to 64 bits.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// get returns the flow with key k (of hash h), or nil.
func (x *index) get(k *flowKey, h uint64) *flow {
	if x.n == 0 {
		return nil
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		if s.f == nil {
			return nil
		}
		if s.hash == h && s.f.key.equal(k) {
			return s.f
		}
	}
}

// put adds f, whose key (of hash h) the index does not hold yet.
func (x *index) put(f *flow, h uint64) {
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
	}
	x.insert(slot{hash: h, f: f})
	x.n++
}

// insert places s in the first empty slot of its probe sequence.
func (x *index) insert(s slot) {
	mask := uint64(len(x.slots) - 1)
	i := s.hash & mask
	for x.slots[i].f != nil {
		i = (i + 1) & mask
	}
	x.slots[i] = s
}

// grow doubles the slots (or makes the first ones) and reinserts every flow
// by its stored hash.
func (x *index) grow() {
	old := x.slots
	x.slots = make([]slot, max(minSlots, 2*len(old)))
	for _, s := range old {
		if s.f != nil {
			x.insert(s)
		}
	}
}

// remove takes out f, whose key has hash h. Deletion shifts back the entries
// after it in the same run of slots rather than leaving a tombstone (Knuth,
// TAOCP vol. 3, 6.4, Algorithm R), so lookups never slow down with churn:
// every entry stays reachable from its home slot without crossing an empty
// slot.
func (x *index) remove(f *flow, h uint64) {
	if x.n == 0 {
		return
	}
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].f != f {
		if x.slots[i].f == nil {
			return // not held
		}
		i = (i + 1) & mask
	}
	// i is the hole. An entry further on may fill it when i lies on its
	// probe path, that is when the hole is no nearer to the entry's
	// slot j than its home slot is (distances taken cyclically).
	for j := (i + 1) & mask; x.slots[j].f != nil; j = (j + 1) & mask {
		if home := x.slots[j].hash & mask; (j-home)&mask >= (j-i)&mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = slot{}
	x.n--
}
