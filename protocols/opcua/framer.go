package opcua

import (
	"encoding/binary"
	"fmt"
)

// DefaultMaxChunkSize bounds a chunk before (or without) a HEL/ACK
// negotiation. OPC 10000-6 §7.1.2.3 lets peers negotiate any buffer size
// >= 8192; stacks use 8 KiB to 2 MiB. A larger announced size is treated as
// garbage, which also bounds the bytes a Framer buffers for one direction.
const DefaultMaxChunkSize = 4 << 20

// minBufferSize is the smallest legal ReceiveBufferSize/SendBufferSize
// (OPC 10000-6 §7.1.2.3).
const minBufferSize = 8192

// FramerStats counts what a Framer did since it was made.
type FramerStats struct {
	Chunks       uint64 // chunks emitted
	Bytes        uint64 // bytes in emitted chunks
	SkippedBytes uint64 // bytes dropped while resynchronising
	Resyncs      uint64 // times the framer lost and searched for a header
	Resets       uint64 // calls to Reset
}

// Framer cuts one direction of a reassembled TCP stream into OPC UA chunks.
//
// A complete chunk found in the data given to Feed is emitted without a copy;
// only a partial chunk at the end is buffered, bounded by the maximum chunk
// size: DefaultMaxChunkSize (or the value given to NewFramer) until a HEL
// (client direction) or ACK (server direction) seen on this stream announces
// the sender's SendBufferSize.
//
// When bytes do not start with a plausible header (handshake not captured,
// TCP gap, non-OPC UA traffic) the Framer scans forward for the next
// plausible header. While resynchronising it is strict: the size must fit,
// MSG/CLO chunks must carry the secure channel id seen before (when one
// was), and when the bytes are present, the chunk must be followed by another
// plausible header.
//
// The zero value is not usable; call NewFramer.
type Framer struct {
	buf     []byte
	hardMax uint32
	max     uint32
	resync  bool
	lost    bool   // skipping bytes since the last chunk
	channel uint32 // last secure channel id seen, 0 if none
	stats   FramerStats
	scratch Chunk
}

// NewFramer returns a Framer whose chunks may not exceed maxChunk bytes
// (DefaultMaxChunkSize when maxChunk is 0). Negotiation can only lower it.
func NewFramer(maxChunk uint32) *Framer {
	if maxChunk == 0 {
		maxChunk = DefaultMaxChunkSize
	}
	if maxChunk < minBufferSize {
		maxChunk = minBufferSize
	}
	return &Framer{hardMax: maxChunk, max: maxChunk}
}

// MaxChunkSize returns the current maximum chunk size.
func (f *Framer) MaxChunkSize() uint32 { return f.max }

// Stats returns the counters.
func (f *Framer) Stats() FramerStats { return f.stats }

// Reset drops any partial chunk and makes the Framer resynchronise strictly
// on the next data. Call it after a TCP gap, or before the first Feed of a
// stream picked up mid-connection.
func (f *Framer) Reset() {
	f.buf = f.buf[:0]
	f.resync = true
	f.stats.Resets++
}

// Feed consumes the next in-order bytes of the stream and calls emit for each
// complete chunk, in order. The Chunk's slices are valid only during emit.
//
// The error, when not nil, wraps ErrMalformed and reports bytes skipped
// while resynchronising; it is informational: the Framer has already
// recovered and keeps going.
func (f *Framer) Feed(data []byte, emit func(Chunk)) error {
	var skipped uint64
	if len(f.buf) == 0 {
		n := f.process(data, emit, &skipped)
		f.keep(data[n:])
	} else {
		f.buf = append(f.buf, data...)
		n := f.process(f.buf, emit, &skipped)
		rest := copy(f.buf, f.buf[n:])
		f.buf = f.buf[:rest]
	}
	if skipped > 0 {
		return fmt.Errorf("%w: skipped %d bytes to resynchronise", ErrMalformed, skipped)
	}
	return nil
}

// keep buffers the unconsumed tail.
func (f *Framer) keep(tail []byte) {
	if len(tail) == 0 {
		return
	}
	f.buf = append(f.buf[:0], tail...)
}

// process emits the complete chunks at the start of b and returns the number
// of bytes consumed (emitted or skipped).
func (f *Framer) process(b []byte, emit func(Chunk), skipped *uint64) int {
	pos := 0
	for len(b)-pos >= headerLen {
		rem := b[pos:]
		t, size := f.candidate(rem)
		if t == 0 {
			skip := f.scan(rem)
			f.resync = true
			if !f.lost {
				f.lost = true
				f.stats.Resyncs++
			}
			*skipped += uint64(skip)
			f.stats.SkippedBytes += uint64(skip)
			pos += skip
			continue
		}
		if uint32(len(rem)) < size {
			break // partial chunk: wait for more
		}
		c := &f.scratch
		if err := parseChunk(rem[:size], c); err != nil {
			// The header looked right but the security header does not
			// fit: treat as noise.
			f.resync = true
			if !f.lost {
				f.lost = true
				f.stats.Resyncs++
			}
			*skipped++
			f.stats.SkippedBytes++
			pos++
			continue
		}
		f.resync, f.lost = false, false
		f.observe(c)
		f.stats.Chunks++
		f.stats.Bytes += uint64(size)
		pos += int(size)
		emit(*c)
	}
	return pos
}

// candidate returns the type and size of a chunk starting at b, or 0 when b
// does not start with an acceptable header.
func (f *Framer) candidate(b []byte) (MessageType, uint32) {
	t, size := plausibleHeader(b, f.max)
	if t == 0 || !f.resync {
		return t, size
	}
	// Strict checks while resynchronising.
	if (t == TypeMSG || t == TypeCLO) && f.channel != 0 && len(b) >= secureHeaderLen &&
		binary.LittleEndian.Uint32(b[8:12]) != f.channel {
		return 0, 0
	}
	if uint32(len(b)) >= size+headerLen {
		if nt, _ := plausibleHeader(b[size:], f.max); nt == 0 {
			return 0, 0
		}
	}
	return t, size
}

// scan returns how many bytes to skip from b to reach the next acceptable
// header, or all but the last headerLen-1 bytes (a header may straddle the
// end) when there is none.
func (f *Framer) scan(b []byte) int {
	for i := 1; i+headerLen <= len(b); i++ {
		switch b[i] {
		case 'M', 'O', 'C', 'H', 'A', 'E', 'R':
			if t, _ := f.candidate(b[i:]); t != 0 {
				return i
			}
		}
	}
	n := len(b) - (headerLen - 1)
	if n < 1 {
		n = 1
	}
	return n
}

// observe learns the negotiated chunk size and the channel id.
func (f *Framer) observe(c *Chunk) {
	switch c.Type {
	case TypeHEL, TypeACK:
		// ProtocolVersion(4) ReceiveBufferSize(4) SendBufferSize(4): the
		// sender of this message promises not to send larger chunks.
		if len(c.Body) >= 12 {
			if s := binary.LittleEndian.Uint32(c.Body[8:]); s >= minBufferSize && s <= f.hardMax {
				f.max = s
			}
		}
	case TypeOPN, TypeMSG, TypeCLO:
		if c.SecureChannelID != 0 {
			f.channel = c.SecureChannelID
		}
	}
}
