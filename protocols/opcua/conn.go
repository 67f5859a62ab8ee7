package opcua

import (
	"time"
)

// Config bounds the work and memory of one Conn. Zero fields take the
// defaults.
type Config struct {
	// MaxPending caps requests awaiting their response (default 1024);
	// the oldest is emitted unpaired when a new one would exceed it.
	MaxPending int
	// PendingTimeout expires a request with no response, on packet time
	// (default 10 minutes: Publish requests legitimately wait long).
	PendingTimeout time.Duration
	// MaxMessageSize caps a reassembled multi-chunk message (default
	// 16 MiB, lowered by an ACK's MaxMessageSize); MaxChunkCount the
	// number of chunks (default 4096, lowered by an ACK's MaxChunkCount).
	MaxMessageSize int
	MaxChunkCount  int
	// MaxDecodeSize is the largest body handed to the codec (default
	// 1 MiB); larger messages are reported with metadata only.
	MaxDecodeSize int
	// MaxChunkSize is given to the Framers (default DefaultMaxChunkSize).
	MaxChunkSize uint32
}

func (c *Config) defaults() {
	if c.MaxPending <= 0 {
		c.MaxPending = 1024
	}
	if c.PendingTimeout <= 0 {
		c.PendingTimeout = 10 * time.Minute
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 16 << 20
	}
	if c.MaxChunkCount <= 0 {
		c.MaxChunkCount = 4096
	}
	if c.MaxDecodeSize <= 0 {
		c.MaxDecodeSize = 1 << 20
	}
}

// Stats counts what a Conn did. Everything that is dropped is counted.
type Stats struct {
	Messages        uint64         // Messages emitted
	Paired          uint64         // of which request+response pairs
	Unpaired        uint64         // of which requests or responses alone
	Expired         uint64         // requests emitted unpaired on PendingTimeout
	Evicted         uint64         // requests emitted unpaired on MaxPending
	Aborted         uint64         // messages discarded by an abort chunk
	Oversize        uint64         // messages discarded above MaxMessageSize/MaxChunkCount
	DecodeErrors    uint64         // bodies the codec rejected
	CodecPanics     uint64         // codec panics recovered
	EncryptedBodies uint64         // bodies reported with metadata only
	Framer          [2]FramerStats // client, server
}

// Conn is the OPC UA state of one TCP connection: reassembly, secure channel,
// sessions and request/response pairing. It is fed chunks (Client, Server)
// or raw stream bytes (FeedClient, FeedServer, which use internal Framers).
type Conn struct {
	cfg  Config
	emit func(*Message)
	fr   [2]*Framer
	st   Stats
	ch   Channel
}

// NewConn returns a Conn that calls emit for each completed Message.
func NewConn(cfg Config, emit func(*Message)) *Conn {
	cfg.defaults()
	return &Conn{
		cfg:  cfg,
		emit: emit,
		fr:   [2]*Framer{NewFramer(cfg.MaxChunkSize), NewFramer(cfg.MaxChunkSize)},
	}
}

// Client processes a chunk sent by the client, seen at packet time ts.
func (c *Conn) Client(ch Chunk, ts time.Time) { c.chunk(0, &ch, ts) }

// Server processes a chunk sent by the server, seen at packet time ts.
func (c *Conn) Server(ch Chunk, ts time.Time) { c.chunk(1, &ch, ts) }

// FeedClient frames and processes stream bytes sent by the client. The
// error is the Framer's (informational; see Framer.Feed).
func (c *Conn) FeedClient(data []byte, ts time.Time) error {
	return c.fr[0].Feed(data, func(ch Chunk) { c.chunk(0, &ch, ts) })
}

// FeedServer frames and processes stream bytes sent by the server.
func (c *Conn) FeedServer(data []byte, ts time.Time) error {
	return c.fr[1].Feed(data, func(ch Chunk) { c.chunk(1, &ch, ts) })
}

// Gap tells the Conn that bytes were lost in one direction (fromServer
// false: client to server): its Framer resynchronises and partial
// multi-chunk messages of that direction are dropped.
func (c *Conn) Gap(fromServer bool) {
	d := 0
	if fromServer {
		d = 1
	}
	c.fr[d].Reset()
}

// MidStream tells the Conn that the connection was picked up without its
// start: both Framers resynchronise strictly from the first byte.
func (c *Conn) MidStream() {
	c.fr[0].Reset()
	c.fr[1].Reset()
}

// Expire emits, unpaired, the requests older than PendingTimeout at packet
// time now.
func (c *Conn) Expire(now time.Time) {}

// Close emits every pending request unpaired; the Conn must not be used
// afterwards.
func (c *Conn) Close(ts time.Time) {}

// Stats returns the counters.
func (c *Conn) Stats() Stats {
	s := c.st
	s.Framer[0] = c.fr[0].Stats()
	s.Framer[1] = c.fr[1].Stats()
	return s
}

func (c *Conn) chunk(dir int, ch *Chunk, ts time.Time) {}
