package baselines

import "encoding/binary"

// Observe needs five things about a transaction's channel: the channel,
// its runtime state, its pair's, and the two devices. A plant has a few
// dozen busy channels, so a small cache finds them with one hash and one
// comparison instead of five map lookups; and as a connection's
// transactions nearly always belong to one channel, the slot where the
// connection's (Endpoints.FlowID's) last one was found is tried first,
// which spares the hash. Everything here is contained in the engine and
// checked against the key: any new device, channel or Load clears the
// cache, so an entry is never stale, a stale or foreign flow hint costs
// one comparison, and the reference engine (Engine.plain) does without
// the cache.

// hotSets is the number of two-slot sets of the lookup cache, flowHints
// the number of flow hints.
const (
	hotBits   = 6
	hotSets   = 1 << hotBits
	flowHints = 256
)

// hot is one slot of the lookup cache. An empty slot has a nil rt.
type hot struct {
	key      ChannelKey
	ch       *channel
	rt       *chanRuntime
	pr       *pairRuntime
	srv, cli *device
}

// hotIndex returns the cache set of key: a multiplicative hash of the last
// four bytes of the addresses (all of an IPv4 address), the unit, the port,
// the DNP3 link addresses and the protocol, whose top bits are well mixed. With two slots per set,
// the channels of a plant rarely evict each other. The address bytes are
// read 4 at a time: a 16-byte load of As16's result stalls on the two
// 8-byte stores that made it.
func hotIndex(key *ChannelKey) int {
	c, s := key.Client.As16(), key.Server.As16()
	x := uint64(binary.BigEndian.Uint32(c[12:])) | uint64(binary.BigEndian.Uint32(s[12:]))<<32
	x ^= uint64(key.Outstation)<<48 | uint64(key.Master)<<32 | uint64(key.Port)<<16 | uint64(key.Unit)<<8 | uint64(key.Protocol)
	x *= 0xff51afd7ed558ccd
	x ^= x >> 32
	return int((x * 0x9e3779b97f4a7c15) >> (64 - hotBits))
}

// sameKey reports *a == *b, field by field inline: == on ChannelKey calls
// its generated equality function. The fields that tell a plant's
// channels apart come first.
func sameKey(a, b *ChannelKey) bool {
	return a.Server == b.Server && a.Unit == b.Unit && a.Client == b.Client && a.Port == b.Port && a.Protocol == b.Protocol &&
		a.Outstation == b.Outstation && a.Master == b.Master
}

// clearHot empties the lookup cache.
func (e *Engine) clearHot() { e.hot = [hotSets][2]hot{} }

// lookup returns what Observe needs about the channel *kp of a
// transaction of connection flow, making its runtime state when there is
// none.
func (e *Engine) lookup(kp *ChannelKey, flow uint64) *hot {
	hint := &e.flowHint[flow%flowHints]
	if n := int(*hint) - 1; n >= 0 && !e.plain {
		if h := &e.hot[n>>1][n&1]; h.rt != nil && sameKey(&h.key, kp) {
			e.hotLRU[n>>1] = uint8(n&1) ^ 1
			return h
		}
	}
	i := hotIndex(kp)
	set := &e.hot[i]
	if !e.plain {
		for w := range set {
			if h := &set[w]; h.rt != nil && sameKey(&h.key, kp) {
				e.hotLRU[i] = uint8(w) ^ 1
				*hint = uint16(i*2 + w + 1)
				return h
			}
		}
	}
	w := int(e.hotLRU[i] & 1)
	h := &set[w]
	e.hotLRU[i] ^= 1
	if len(e.chanRT) >= maxRuntime || len(e.pairRT) >= maxRuntime {
		// Spoofed addresses must not grow memory without bound: the
		// runtime state starts afresh.
		clear(e.chanRT)
		clear(e.pairRT)
		e.clearHot()
	}
	key := *kp
	pk := pairKey{key.Protocol, key.Client, key.Server}
	rt := e.chanRT[key]
	if rt == nil {
		rt = &chanRuntime{key: key}
		e.chanRT[key] = rt
	}
	pr := e.pairRT[pk]
	if pr == nil {
		pr = &pairRuntime{}
		e.pairRT[pk] = pr
	}
	*h = hot{key: key, ch: e.channels[key], rt: rt, pr: pr, srv: e.devices[key.Server], cli: e.devices[key.Client]}
	*hint = uint16(i*2 + w + 1)
	return h
}
