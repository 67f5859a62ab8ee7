package opcua

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
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
	// Budget, when set, is shared by every Conn of a monitor and bounds
	// the unfinished messages of all of them together (see Budget).
	Budget *Budget
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
	Messages        uint64 // Messages emitted
	Paired          uint64 // of which request+response pairs
	Unpaired        uint64 // of which requests or responses alone
	Expired         uint64 // requests emitted unpaired on PendingTimeout
	Evicted         uint64 // requests emitted unpaired on MaxPending
	Aborted         uint64 // messages discarded by an abort chunk
	Oversize        uint64 // messages discarded above MaxMessageSize/MaxChunkCount
	OverBudget      uint64 // unfinished messages discarded to respect the shared Budget
	DecodeErrors    uint64 // bodies the codec rejected
	CodecPanics     uint64 // codec panics recovered
	EncryptedBodies uint64 // bodies reported with metadata only
	// MonitoredDropped counts monitored items not remembered beyond
	// maxMonitored: their data changes are emitted without a node.
	MonitoredDropped uint64
	Framer           [2]FramerStats // client, server
}

// Conn is the OPC UA state of one TCP connection: reassembly, secure channel,
// sessions and request/response pairing. It is fed chunks (Client, Server)
// or raw stream bytes (FeedClient, FeedServer, which use internal Framers).
// Time only comes from the packet timestamps given to it.
type Conn struct {
	cfg  Config
	emit func(*Message)
	fr   [2]*Framer
	st   Stats
	ch   Channel

	dirs [2]dirState
	// maxMsg and maxChunks are per direction: an ACK bounds what the
	// client sends, a HEL what the server sends (OPC 10000-6 §7.1.2.3-4).
	maxMsg    [2]int
	maxChunks [2]int

	pending map[uint64]pending
	order   []pendingRef
	head    int
	seq     uint64
	// opn is an encrypted OpenSecureChannel request, whose request id is
	// ciphertext: it pairs with the next OPN from the server.
	opn *Message

	// sessions maps an AuthenticationToken to the session it belongs to.
	// Sessions are copied on write, so a *Session handed out in a Message
	// never changes afterwards.
	sessions map[string]*Session
	// monitored names the nodes of the channel's monitored items
	// (monitored.go).
	monitored map[uint64]monitoredNode

	// held is what this Conn holds against cfg.Budget.
	held int

	// Security mode inference (OPC 10000-6 §6.7.2: with a policy other than
	// None the OPN is encrypted, so its SecurityMode is unreadable).
	sigLen     int
	plainFails int
}

type dirState struct {
	partial map[uint32]*partial // by request id
	// buffered is the size of all partial messages: together they may not
	// exceed the direction's maximum message size, so interleaving many
	// requests ids cannot multiply the memory a direction holds.
	buffered int
	enc      *partial // encrypted chunks (request id unreadable)
}

type partial struct {
	buf    []byte
	chunks int
	size   int
	t      time.Time
}

type pending struct {
	m   *Message
	seq uint64
}

type pendingRef struct {
	key uint64
	seq uint64
}

// Limits on per-connection tables.
const (
	maxPartials = 64
	maxSessions = 64
)

// Security policy URIs (OPC 10000-7).
const (
	PolicyNone = "http://opcfoundation.org/UA/SecurityPolicy#None"
)

// NewConn returns a Conn that calls emit for each completed Message.
func NewConn(cfg Config, emit func(*Message)) *Conn {
	cfg.defaults()
	c := &Conn{
		cfg:      cfg,
		emit:     emit,
		fr:       [2]*Framer{NewFramer(cfg.MaxChunkSize), NewFramer(cfg.MaxChunkSize)},
		pending:  make(map[uint64]pending),
		sessions: make(map[string]*Session),
	}
	for d := range c.maxMsg {
		c.maxMsg[d], c.maxChunks[d] = cfg.MaxMessageSize, cfg.MaxChunkCount
	}
	return c
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
// false: client to server): its Framer resynchronises and the partial
// multi-chunk messages of that direction are dropped.
func (c *Conn) Gap(fromServer bool) {
	d := 0
	if fromServer {
		d = 1
	}
	c.fr[d].Reset()
	for _, p := range c.dirs[d].partial {
		c.free(cap(p.buf))
	}
	c.dirs[d] = dirState{}
}

// MidStream tells the Conn that the connection was picked up without its
// start: both Framers resynchronise strictly from the first byte.
func (c *Conn) MidStream() {
	c.fr[0].Reset()
	c.fr[1].Reset()
}

// Expire emits, unpaired, the requests older than PendingTimeout at packet
// time now. Chunks call it too, so a steady stream needs no extra calls.
func (c *Conn) Expire(now time.Time) {
	for c.head < len(c.order) {
		r := c.order[c.head]
		p, ok := c.pending[r.key]
		if !ok || p.seq != r.seq {
			c.head++ // stale reference: already paired or replaced
			continue
		}
		if now.Sub(p.m.Time) < c.cfg.PendingTimeout {
			break
		}
		c.head++
		delete(c.pending, r.key)
		c.st.Expired++
		p.m.Unpaired = "timeout"
		c.send(p.m)
	}
	c.compact()
}

// Close emits every pending request unpaired, oldest first. The Conn must
// not be used afterwards.
func (c *Conn) Close(ts time.Time) {
	for ; c.head < len(c.order); c.head++ {
		r := c.order[c.head]
		if p, ok := c.pending[r.key]; ok && p.seq == r.seq {
			delete(c.pending, r.key)
			p.m.Unpaired = "closed"
			c.send(p.m)
		}
	}
	c.order, c.head = c.order[:0], 0
	if c.opn != nil {
		c.opn.Unpaired = "closed"
		c.send(c.opn)
		c.opn = nil
	}
	c.Release()
}

// Stats returns the counters.
func (c *Conn) Stats() Stats {
	s := c.st
	s.Framer[0] = c.fr[0].Stats()
	s.Framer[1] = c.fr[1].Stats()
	return s
}

// Channel returns the current secure channel state.
func (c *Conn) Channel() Channel { return c.ch }

// compact bounds the arrival-order queue: references to paired requests
// stay in it until the head passes them, and one long-pending request (a
// Publish) would otherwise let it grow with every exchange behind it.
func (c *Conn) compact() {
	if c.head > 64 && c.head > len(c.order)/2 {
		n := copy(c.order, c.order[c.head:])
		c.order, c.head = c.order[:n], 0
	}
	if len(c.order) > 4*len(c.pending)+64 {
		live := c.order[:0]
		for _, r := range c.order[c.head:] {
			if p, ok := c.pending[r.key]; ok && p.seq == r.seq {
				live = append(live, r)
			}
		}
		c.order, c.head = live, 0
	}
}

// send emits m and counts it.
func (c *Conn) send(m *Message) {
	if m.Session == nil && m.Request != nil {
		m.Session = c.session(m.Request.authToken)
	}
	c.st.Messages++
	if m.Request != nil && m.Response != nil {
		c.st.Paired++
	} else if m.Type == TypeMSG || m.Type == TypeOPN {
		c.st.Unpaired++
	}
	c.emit(m)
}

func (c *Conn) chunk(dir int, ch *Chunk, ts time.Time) {
	if c.head < len(c.order) {
		c.Expire(ts)
	}
	switch ch.Type {
	case TypeHEL, TypeACK:
		h, err := parseHello(ch.Body, ch.Type == TypeHEL)
		if err != nil {
			c.st.DecodeErrors++
		}
		if ch.Type == TypeACK {
			c.limit(0, h) // the server's limits bound what the client sends
		} else {
			c.limit(1, h)
		}
		c.send(&Message{Type: ch.Type, Time: ts, FromServer: dir == 1, Channel: c.ch, Hello: h, RequestSize: len(ch.Raw)})
	case TypeERR:
		e := &Error{}
		if len(ch.Body) >= 4 {
			e.Status = ua.StatusCode(binary.LittleEndian.Uint32(ch.Body))
			r, _, _ := readByteString(ch.Body[4:], 4096)
			e.Reason = string(r)
		}
		c.send(&Message{Type: TypeERR, Time: ts, FromServer: dir == 1, Channel: c.ch, Error: e, RequestSize: len(ch.Raw)})
	case TypeRHE:
		r := &ReverseHello{}
		u, rest, _ := readByteString(ch.Body, 4096)
		e, _, _ := readByteString(rest, 4096)
		r.ServerURI, r.EndpointURL = string(u), string(e)
		c.send(&Message{Type: TypeRHE, Time: ts, FromServer: dir == 1, Channel: c.ch, ReverseHello: r, RequestSize: len(ch.Raw)})
	case TypeOPN:
		c.open(dir, ch, ts)
	case TypeMSG, TypeCLO:
		c.secure(dir, ch, ts)
	}
}

// limit applies a HEL/ACK's MaxMessageSize and MaxChunkCount (0: no limit)
// to direction d.
func (c *Conn) limit(d int, h *Hello) {
	if h.MaxMessageSize > 0 && int(h.MaxMessageSize) < c.cfg.MaxMessageSize {
		c.maxMsg[d] = int(h.MaxMessageSize)
	}
	if h.MaxChunkCount > 0 && int(h.MaxChunkCount) < c.cfg.MaxChunkCount {
		c.maxChunks[d] = int(h.MaxChunkCount)
	}
}

var errHelloShort = errors.New("opcua: HEL/ACK body too short")

// parseHello reads HEL (OPC 10000-6 §7.1.2.3) or ACK (§7.1.2.4).
func parseHello(b []byte, hel bool) (*Hello, error) {
	h := &Hello{}
	if len(b) < 20 {
		return h, errHelloShort
	}
	h.ProtocolVersion = binary.LittleEndian.Uint32(b)
	h.ReceiveBufferSize = binary.LittleEndian.Uint32(b[4:])
	h.SendBufferSize = binary.LittleEndian.Uint32(b[8:])
	h.MaxMessageSize = binary.LittleEndian.Uint32(b[12:])
	h.MaxChunkCount = binary.LittleEndian.Uint32(b[16:])
	if hel {
		u, _, err := readByteString(b[20:], 4096)
		if err != nil {
			return h, err
		}
		h.EndpointURL = string(u)
	}
	return h, nil
}

// sigLenFor is the symmetric signature length of a policy (OPC 10000-7:
// HMAC-SHA1 for Basic128Rsa15 and Basic256, HMAC-SHA256 for the others), or
// 0 when unknown.
func sigLenFor(policy string) int {
	switch policy {
	case "http://opcfoundation.org/UA/SecurityPolicy#Basic128Rsa15", "http://opcfoundation.org/UA/SecurityPolicy#Basic256":
		return 20
	case "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256",
		"http://opcfoundation.org/UA/SecurityPolicy#Aes128_Sha256_RsaOaep",
		"http://opcfoundation.org/UA/SecurityPolicy#Aes256_Sha256_RsaPss":
		return 32
	}
	return 0
}

// open handles an OPN chunk (OPC 10000-6 §6.7.4): the asymmetric security
// header is always plaintext; the body is plaintext only under policy None.
func (c *Conn) open(dir int, ch *Chunk, ts time.Time) {
	policy := string(ch.SecurityPolicyURI)
	if dir == 0 {
		if policy != c.ch.SecurityPolicy {
			// A new channel (or the first one seen): forget the mode.
			c.ch.Mode, c.ch.ModeInferred, c.plainFails = ModeUnknown, false, 0
			c.sigLen = sigLenFor(policy)
		}
		c.ch.SecurityPolicy = policy
		sc := certInfo(ch.SenderCertificate)
		c.ch.SenderThumbprint, c.ch.SenderSubject = sc.Thumbprint, sc.Subject
		c.ch.ReceiverThumbprint = hex.EncodeToString(ch.ReceiverThumbprint)
	} else {
		if c.ch.SecurityPolicy == "" {
			c.ch.SecurityPolicy = policy
			c.sigLen = sigLenFor(policy)
		}
		sc := certInfo(ch.SenderCertificate)
		c.ch.ServerThumbprint, c.ch.ServerSubject, c.ch.ServerNotAfter = sc.Thumbprint, sc.Subject, sc.NotAfter
		if ch.SecureChannelID != 0 {
			c.ch.ID = ch.SecureChannelID
		}
	}
	if policy == PolicyNone || policy == "" {
		if policy == PolicyNone {
			c.ch.Mode, c.ch.ModeInferred = ModeNone, false
		}
		c.plain(dir, ch, ts)
		return
	}
	// Encrypted OPN: metadata only, paired first-in first-out.
	if ch.ChunkType != ChunkFinal {
		return // certificate chains may span chunks; count the final one
	}
	c.st.EncryptedBodies++
	svc := &Service{ID: idOpenSecureChannelRequest, Name: "OpenSecureChannelRequest", DecodeError: ErrEncrypted.Error()}
	if dir == 0 {
		if c.opn != nil {
			c.opn.Unpaired = "replaced"
			c.send(c.opn)
		}
		c.opn = &Message{Type: TypeOPN, Time: ts, Channel: c.ch, Request: svc, RequestSize: len(ch.Raw), Encrypted: true}
		return
	}
	svc.ID, svc.Name = idOpenSecureChannelResponse, "OpenSecureChannelResponse"
	m := c.opn
	c.opn = nil
	if m == nil {
		m = &Message{Type: TypeOPN, Time: ts, FromServer: true, Encrypted: true, Unpaired: "unsolicited"}
	}
	m.Response, m.ResponseTime, m.ResponseSize = svc, ts, len(ch.Raw)
	m.Channel = c.ch
	c.send(m)
}

// secure handles MSG and CLO chunks.
func (c *Conn) secure(dir int, ch *Chunk, ts time.Time) {
	if ch.SecureChannelID != 0 {
		c.ch.ID = ch.SecureChannelID
	}
	c.ch.TokenID = ch.TokenID
	if c.ch.Mode == ModeSignAndEncrypt && !(c.ch.ModeInferred && looksPlain(ch)) {
		c.encrypted(dir, ch, ts)
		return
	}
	c.plain(dir, ch, ts)
}

// looksPlain reports whether a single-chunk body starts with the type id of
// a known service: ciphertext does so with a probability of about 2^-26,
// so an inferred SignAndEncrypt (perhaps from bodies gopcua could not
// decode) is revised when plaintext shows up.
func looksPlain(ch *Chunk) bool {
	if ch.ChunkType != ChunkFinal {
		return false
	}
	tid, _, ok := peekTypeID(ch.Body)
	if !ok {
		return false
	}
	_, known := serviceTypes[tid]
	return known
}

// encrypted accounts for a chunk whose sequence header and body are
// ciphertext: the chunk type (plaintext) still delimits messages.
func (c *Conn) encrypted(dir int, ch *Chunk, ts time.Time) {
	d := &c.dirs[dir]
	switch ch.ChunkType {
	case ChunkAbort:
		d.enc = nil
		c.st.Aborted++
		return
	case ChunkIntermediate:
		if d.enc == nil {
			d.enc = &partial{t: ts}
		}
		d.enc.chunks++
		d.enc.size += len(ch.Raw)
		return
	}
	size, t0 := len(ch.Raw), ts
	if d.enc != nil {
		size += d.enc.size
		t0 = d.enc.t
		d.enc = nil
	}
	c.st.EncryptedBodies++
	svc := &Service{DecodeError: ErrEncrypted.Error()}
	m := &Message{Type: ch.Type, Time: t0, FromServer: dir == 1, Channel: c.ch, Encrypted: true}
	if dir == 0 {
		m.Request, m.RequestSize = svc, size
	} else {
		m.Response, m.ResponseSize = svc, size
	}
	c.send(m)
}

// plain reassembles a plaintext (or possibly plaintext: mode unknown)
// chunk per request id (OPC 10000-6 §6.7.2.4) and completes the message on
// its final chunk.
func (c *Conn) plain(dir int, ch *Chunk, ts time.Time) {
	d := &c.dirs[dir]
	key := ch.RequestID
	switch ch.ChunkType {
	case ChunkAbort:
		c.drop(d, key)
		c.st.Aborted++
		return
	case ChunkIntermediate:
		p := d.partial[key]
		if p == nil {
			if len(d.partial) >= maxPartials {
				c.st.Oversize++
				return
			}
			if d.partial == nil {
				d.partial = make(map[uint32]*partial)
			}
			p = &partial{t: ts}
			d.partial[key] = p
		}
		body := ch.Body
		if c.ch.Mode == ModeSign && c.sigLen > 0 && len(body) >= c.sigLen {
			body = body[:len(body)-c.sigLen] // each chunk is signed
		}
		if p.size+len(ch.Raw) > c.maxMsg[dir] || p.chunks+1 > c.maxChunks[dir] || d.buffered+len(body) > c.maxMsg[dir] {
			c.drop(d, key)
			c.st.Oversize++
			return
		}
		if !c.grow(p, len(body)) {
			c.drop(d, key)
			c.st.OverBudget++
			return
		}
		p.buf = append(p.buf, body...)
		d.buffered += len(body)
		p.chunks++
		p.size += len(ch.Raw)
		return
	}
	body, size, t0, chunks := ch.Body, len(ch.Raw), ts, 1
	if p := d.partial[key]; p != nil {
		c.drop(d, key)
		body = append(p.buf, body...)
		size += p.size
		t0 = p.t
		chunks += p.chunks
		if size > c.maxMsg[dir] || chunks > c.maxChunks[dir] {
			c.st.Oversize++
			return
		}
	}
	c.complete(dir, ch, body, size, t0, ts)
}

// drop forgets the partial message of a request id.
func (c *Conn) drop(d *dirState, key uint32) {
	if p := d.partial[key]; p != nil {
		d.buffered -= len(p.buf)
		c.free(cap(p.buf))
		delete(d.partial, key)
	}
}

// complete decodes a reassembled plaintext body and pairs it.
func (c *Conn) complete(dir int, ch *Chunk, body []byte, size int, t0, ts time.Time) {
	svc, _, used, err := decodeBody(body, c.cfg.MaxDecodeSize)
	if err != nil {
		if errors.Is(err, errPanic) {
			c.st.CodecPanics++
		}
		if ch.Type == TypeMSG && c.ch.Mode == ModeUnknown && c.inferEncrypted() {
			// The body was ciphertext after all: report metadata only.
			c.st.EncryptedBodies++
			svc = &Service{DecodeError: ErrEncrypted.Error()}
			m := &Message{Type: ch.Type, Time: t0, FromServer: dir == 1, Channel: c.ch, Encrypted: true}
			if dir == 0 {
				m.Request, m.RequestSize = svc, size
			} else {
				m.Response, m.ResponseSize = svc, size
			}
			c.send(m)
			return
		}
		c.st.DecodeErrors++
	} else if ch.Type == TypeMSG && used >= 0 && (c.ch.Mode == ModeUnknown || c.ch.ModeInferred && c.ch.Mode == ModeSignAndEncrypt) {
		c.inferPlain(len(body) - used)
	}
	key := uint64(ch.SecureChannelID)<<32 | uint64(ch.RequestID)
	if ch.Type == TypeOPN {
		// The first OpenSecureChannelRequest carries channel id 0, its
		// response the new id: pair OPN by request id alone.
		key = uint64(ch.RequestID) | 1<<63
	}
	// A decoded body says itself whether it is a request or a response;
	// trust that over the direction guessed from ports (captures picked up
	// mid-stream on a non-standard port, or crafted ones).
	request := dir == 0
	if svc.Decoded {
		switch {
		case strings.HasSuffix(svc.Name, "Request"):
			request = true
		case strings.HasSuffix(svc.Name, "Response"), svc.ID == idServiceFault:
			request = false
		}
	}
	if request {
		m := &Message{Type: ch.Type, Time: t0, FromServer: dir == 1, Channel: c.ch, Request: svc, RequestID: ch.RequestID, RequestSize: size}
		if ch.Type == TypeCLO {
			m.Session = c.session(svc.authToken)
			c.send(m)
			return
		}
		c.addPending(key, m)
		return
	}
	var m *Message
	if p, ok := c.pending[key]; ok {
		delete(c.pending, key)
		m = p.m
	} else {
		m = &Message{Type: ch.Type, Time: t0, FromServer: dir == 1, RequestID: ch.RequestID, Unpaired: "unsolicited"}
	}
	m.Response, m.ResponseTime, m.ResponseSize = svc, ts, size
	c.track(m)
	c.monitor(m)
	m.Channel = c.ch
	c.send(m)
}

// inferPlain records that a body decoded as plaintext with trailing bytes
// left over: none means policy None, some means a signature (Sign).
func (c *Conn) inferPlain(trailing int) {
	c.plainFails = 0
	switch {
	case c.ch.SecurityPolicy != "" && c.ch.SecurityPolicy != PolicyNone:
		c.ch.Mode, c.ch.ModeInferred = ModeSign, true
		if c.sigLen == 0 && trailing > 0 {
			c.sigLen = trailing
		}
	case trailing == 0:
		c.ch.Mode, c.ch.ModeInferred = ModeNone, true
	default:
		c.ch.Mode, c.ch.ModeInferred = ModeSign, true
		c.sigLen = trailing
	}
}

// inferEncrypted records a body that did not decode while the mode is
// unknown; after two in a row (one could be a codec gap) with no success,
// the channel is taken to encrypt.
func (c *Conn) inferEncrypted() bool {
	c.plainFails++
	if c.plainFails >= 2 || (c.ch.SecurityPolicy != "" && c.ch.SecurityPolicy != PolicyNone) {
		c.ch.Mode, c.ch.ModeInferred = ModeSignAndEncrypt, true
		return true
	}
	return false
}

func (c *Conn) addPending(key uint64, m *Message) {
	if old, ok := c.pending[key]; ok {
		delete(c.pending, key) // request id reused before a response
		old.m.Unpaired = "replaced"
		c.send(old.m)
	}
	for len(c.pending) >= c.cfg.MaxPending && c.head < len(c.order) {
		r := c.order[c.head]
		c.head++
		if p, ok := c.pending[r.key]; ok && p.seq == r.seq {
			delete(c.pending, r.key)
			c.st.Evicted++
			p.m.Unpaired = "evicted"
			c.send(p.m)
		}
	}
	c.seq++
	c.pending[key] = pending{m: m, seq: c.seq}
	c.order = append(c.order, pendingRef{key: key, seq: c.seq})
	c.compact()
}

// session returns the session of an authentication token, creating a
// stub for a session whose CreateSession was not seen (mid-session
// pickup), or nil for no token.
func (c *Conn) session(token string) *Session {
	if token == "" {
		return nil
	}
	if s := c.sessions[token]; s != nil {
		return s
	}
	s := &Session{AuthenticationToken: token}
	c.store(s)
	return s
}

func (c *Conn) store(s *Session) {
	if _, ok := c.sessions[s.AuthenticationToken]; !ok && len(c.sessions) >= maxSessions {
		for k := range c.sessions { // evict an arbitrary one
			delete(c.sessions, k)
			break
		}
	}
	c.sessions[s.AuthenticationToken] = s
}

// track updates the session table from a completed exchange and links the
// message to its session (OPC 10000-4 §5.6).
func (c *Conn) track(m *Message) {
	rq, rs := m.Request, m.Response
	if rq == nil {
		return
	}
	good := rs != nil && rs.Decoded && rs.Status == ua.StatusGood
	switch rq.ID {
	case id.CreateSessionRequest_Encoding_DefaultBinary:
		if good && rq.SessionInfo != nil && rs.SessionInfo != nil && rs.SessionInfo.AuthenticationToken != "" {
			s := *rq.SessionInfo
			s.ID, s.AuthenticationToken = rs.SessionInfo.ID, rs.SessionInfo.AuthenticationToken
			c.store(&s)
			m.Session = &s
			return
		}
	case id.ActivateSessionRequest_Encoding_DefaultBinary:
		if good && rq.authToken != "" && rq.SessionInfo != nil {
			s := *c.session(rq.authToken) // copy on write
			s.Identity, s.User, s.CertThumbprint, s.Activated = rq.SessionInfo.Identity, rq.SessionInfo.User, rq.SessionInfo.CertThumbprint, true
			c.store(&s)
			m.Session = &s
			return
		}
	case id.CloseSessionRequest_Encoding_DefaultBinary:
		m.Session = c.session(rq.authToken)
		if good {
			delete(c.sessions, rq.authToken)
		}
		return
	}
	m.Session = c.session(rq.authToken)
}
