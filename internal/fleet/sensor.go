package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
)

// Defaults of SensorConfig.
const (
	DefaultSpoolBytes   = 256 << 20
	DefaultQueueBytes   = 32 << 20
	DefaultFlushTimeout = 5 * time.Second
	DefaultBatch        = 512
	// DefaultDuplicates is the duplicate window of a stream the sensor or
	// hub creates: a message sent again within it (an ack lost with a
	// connection) is stored once.
	DefaultDuplicates = time.Hour
	// DefaultMaxAge bounds how long a stream the sensor or hub creates
	// keeps messages.
	DefaultMaxAge = 30 * 24 * time.Hour
	// maxDeltaBytes bounds one delta message: NATS refuses payloads over
	// its max_payload (1 MiB by default).
	maxDeltaBytes = 512 << 10
)

// SensorConfig is a sensor's connection to the fleet stream.
type SensorConfig struct {
	// URL is the server, or a comma-separated list of a cluster's
	// servers: nats://HOST:PORT or tls://HOST:PORT.
	URL string
	// Options add credentials, TLS and the like (nats.UserCredentials,
	// nats.RootCAs, …).
	Options []nats.Option
	// Site and Sensor name where the sensor watches and the sensor: the
	// subject's tokens and the headers. Site defaults to DefaultSite;
	// Sensor is required.
	Site, Sensor string
	// AllEvents publishes every event type; otherwise the alerts and the
	// event types of Events (alert is always published).
	AllEvents bool
	Events    []string
	// Stream is the JetStream stream (DefaultStream); when missing it is
	// created with Replicas replicas (1 when 0) on subjects sluice.>.
	Stream   string
	Replicas int
	// SpoolPath is the file that keeps messages while the server is
	// unreachable (required); SpoolBytes bounds it (DefaultSpoolBytes).
	SpoolPath  string
	SpoolBytes int64
	// QueueBytes bounds the messages waiting in memory for the sender
	// (DefaultQueueBytes); beyond, the oldest are dropped and counted.
	QueueBytes int
	// FlushTimeout bounds how long Flush and Close wait for the server
	// to acknowledge what is queued (DefaultFlushTimeout).
	FlushTimeout time.Duration
	// Batch is how many messages are published before their acks are
	// awaited (DefaultBatch).
	Batch int
}

func (c *SensorConfig) withDefaults() SensorConfig {
	d := *c
	if d.Site == "" {
		d.Site = DefaultSite
	}
	if d.Stream == "" {
		d.Stream = DefaultStream
	}
	if d.Replicas <= 0 {
		d.Replicas = 1
	}
	if d.SpoolBytes <= 0 {
		d.SpoolBytes = DefaultSpoolBytes
	}
	if d.QueueBytes <= 0 {
		d.QueueBytes = DefaultQueueBytes
	}
	if d.FlushTimeout <= 0 {
		d.FlushTimeout = DefaultFlushTimeout
	}
	if d.Batch <= 0 {
		d.Batch = DefaultBatch
	}
	return d
}

// Validate checks what the configuration says before anything connects.
func (c *SensorConfig) Validate() error {
	switch {
	case c.URL == "":
		return errors.New("no server URL")
	case c.Sensor == "":
		return errors.New("a sensor name is needed (--sensor): it names the sensor's subjects and message ids")
	case c.SpoolPath == "":
		return errors.New("a spool file is needed (--nats-spool) to keep events while the server is unreachable")
	}
	return nil
}

// SensorStats are a sensor's counters.
type SensorStats struct {
	// Destination is the URL.
	Destination string
	// Published counts messages the stream acknowledged; Duplicates
	// those of them it had already (sent again after a lost ack).
	Published, Duplicates uint64
	// Dropped counts messages lost: the memory queue or the spool full,
	// a message larger than the server takes.
	Dropped uint64
	// Spooled is the number of messages waiting in the spool file,
	// Queued those waiting in memory.
	Spooled, Queued int
	// Reconnects counts connections made after the first.
	Reconnects uint64
	// Connected says whether the sensor is connected and the stream is
	// there.
	Connected bool
	// LastError is the last publishing or stream error, "" if none.
	LastError string
}

// Sensor is an agent sink that publishes to the fleet stream. It is not
// critical: the network never stops the monitor. Create it with
// NewSensor; its methods are safe for concurrent use.
type Sensor struct {
	cfg      SensorConfig
	accepts  map[string]bool
	subjects map[string]string
	run      string
	seq      atomic.Uint64

	nc *nats.Conn
	js jetstream.JetStream

	mu sync.Mutex
	// queue waits for the sender; inflight are the messages it took and
	// has not yet settled (acknowledged or spooled).
	queue      []Message
	queueBytes int
	inflight   int
	closing    bool
	// streamOK: the stream was found or created on this connection.
	streamOK bool
	lastErr  string
	spooled  int

	wake chan struct{}
	done chan struct{}
	sp   *spool

	published, duplicates, dropped, reconnects atomic.Uint64
}

// NewSensor opens the spool (reporting what it found in it) and connects
// in the background: an unreachable server is not an error, the spool
// keeps the messages until it answers.
func NewSensor(cfg SensorConfig) (*Sensor, SpoolRecovery, error) {
	if err := cfg.Validate(); err != nil {
		return nil, SpoolRecovery{}, fmt.Errorf("nats: %w", err)
	}
	cfg = cfg.withDefaults()
	sp, rec, err := openSpool(cfg.SpoolPath, cfg.SpoolBytes)
	if err != nil {
		return nil, rec, fmt.Errorf("nats: %w", err)
	}
	s := &Sensor{
		cfg:      cfg,
		accepts:  map[string]bool{agent.EventAlert: true},
		subjects: map[string]string{},
		// The run id orders the runs of one sensor (fixed width: string
		// order is time order) and keeps message ids unique across them.
		run:     fmt.Sprintf("%016x", time.Now().UnixNano()),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		sp:      sp,
		spooled: sp.pending,
	}
	for _, t := range cfg.Events {
		s.accepts[t] = true
	}
	opts := append([]nats.Option{
		nats.Name("sluice sensor " + cfg.Sensor),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		// While disconnected a publish fails at once and the message
		// goes to the spool, instead of into the client's buffer,
		// which a process exit loses.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(*nats.Conn) { s.poke() }),
		nats.ReconnectHandler(func(*nats.Conn) { s.reconnects.Add(1); s.poke() }),
		// Each failed attempt (the first ones included, with
		// RetryOnFailedConnect) says why in LastError.
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s.setErr(err.Error())
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			s.mu.Lock()
			s.streamOK = false
			if err != nil {
				s.lastErr = err.Error()
			}
			s.mu.Unlock()
		}),
	}, cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		sp.close()
		return nil, rec, fmt.Errorf("nats: %s: %w", cfg.URL, err)
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.Batch),
		jetstream.WithPublishAsyncTimeout(cfg.FlushTimeout))
	if err != nil {
		nc.Close()
		sp.close()
		return nil, rec, fmt.Errorf("nats: %w", err)
	}
	s.nc, s.js = nc, js
	go s.sender()
	return s, rec, nil
}

func (s *Sensor) String() string { return s.cfg.URL }

// Accepts reports whether the sensor publishes events of type typ.
func (s *Sensor) Accepts(typ string) bool { return s.cfg.AllEvents || s.accepts[typ] }

// Critical is false: a sensor that cannot reach the server spools, counts
// and retries; it never stops the monitor.
func (s *Sensor) Critical() bool { return false }

// Write queues the record's EVE line for publishing.
func (s *Sensor) Write(r *agent.Record) error {
	kind := r.Type
	if kind == agent.EventAlert {
		kind = KindAlert
	}
	s.enqueue(Message{
		Subject: s.subject(kind), ID: s.nextID(), Kind: kind, Site: s.cfg.Site, Sensor: s.cfg.Sensor,
		Time: r.Time, Data: append([]byte(nil), r.Line...),
	})
	return nil
}

// subject returns the subject of kind, made once per kind.
func (s *Sensor) subject(kind string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subjects[kind]
	if !ok {
		sub = Subject(s.cfg.Site, s.cfg.Sensor, kind)
		s.subjects[kind] = sub
	}
	return sub
}

func (s *Sensor) nextID() string {
	return s.cfg.Sensor + "/" + s.run + "/" + fmt.Sprintf("%016x", s.seq.Add(1))
}

// Delta publishes a delta of the baseline store: the device records as an
// inventory message, the others as baseline messages, each cut to fit a
// message. It is the store's OnDelta hook (baselines/store).
func (s *Sensor) Delta(recs []baselines.Record) {
	var inv, base []DeltaRecord
	for _, r := range recs {
		dr := DeltaRecord{Bucket: r.Bucket, Key: string(r.Key), Value: json.RawMessage(r.Value)}
		if r.Value == nil {
			dr.Value = json.RawMessage("null")
		}
		if r.Bucket == baselines.BucketDevices {
			inv = append(inv, dr)
		} else {
			base = append(base, dr)
		}
	}
	s.deltas(KindInventory, inv)
	s.deltas(KindBaseline, base)
}

// deltas queues recs as messages of kind of at most maxDeltaBytes each; a
// record alone over the bound is dropped and counted.
func (s *Sensor) deltas(kind string, recs []DeltaRecord) {
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) {
			rs := len(recs[n].Bucket) + len(recs[n].Key) + len(recs[n].Value) + 40
			if n > 0 && size+rs > maxDeltaBytes {
				break
			}
			size += rs
			n++
		}
		if size > maxDeltaBytes {
			s.dropped.Add(1)
			s.setErr(fmt.Sprintf("a %s record of %d bytes is larger than a message may be; not published", recs[0].Bucket, size))
			recs = recs[1:]
			continue
		}
		data, err := json.Marshal(Delta{Records: recs[:n]})
		recs = recs[n:]
		if err != nil {
			s.dropped.Add(1)
			s.setErr("encoding a delta: " + err.Error())
			continue
		}
		s.enqueue(Message{Subject: s.subject(kind), ID: s.nextID(), Kind: kind, Site: s.cfg.Site, Sensor: s.cfg.Sensor, Data: data})
	}
}

func (s *Sensor) setErr(e string) {
	s.mu.Lock()
	s.lastErr = e
	s.mu.Unlock()
}

// enqueue hands m to the sender, dropping the oldest queued messages if
// the memory bound requires it (the sender fell behind the disk).
func (s *Sensor) enqueue(m Message) {
	s.mu.Lock()
	s.queue = append(s.queue, m)
	s.queueBytes += m.size()
	for s.queueBytes > s.cfg.QueueBytes && len(s.queue) > 1 {
		s.queueBytes -= s.queue[0].size()
		s.queue[0] = Message{}
		s.queue = s.queue[1:]
		s.dropped.Add(1)
	}
	s.mu.Unlock()
	s.poke()
}

func (s *Sensor) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Flush wakes the sender and returns: the agent flushes its sinks every
// second from the goroutine that also flushes the EVE file, which must not
// wait on the network. Close waits for delivery at the end of a run; Wait
// waits for it at any time.
func (s *Sensor) Flush() error {
	s.poke()
	return nil
}

// Wait waits, at most FlushTimeout, until every message written so far is
// acknowledged by the stream or kept in the spool.
func (s *Sensor) Wait() error {
	deadline := time.Now().Add(s.cfg.FlushTimeout)
	for {
		s.mu.Lock()
		idle := len(s.queue) == 0 && s.inflight == 0
		s.mu.Unlock()
		if idle {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats: %s: messages still unacknowledged after %v", s.cfg.URL, s.cfg.FlushTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Stats returns the sensor's counters.
func (s *Sensor) Stats() SensorStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SensorStats{
		Destination: s.cfg.URL,
		Published:   s.published.Load(), Duplicates: s.duplicates.Load(),
		Dropped: s.dropped.Load(), Spooled: s.spooled, Queued: len(s.queue) + s.inflight,
		Reconnects: s.reconnects.Load(), Connected: s.streamOK && s.nc.IsConnected(), LastError: s.lastErr,
	}
}

// Close lets the sender deliver what is queued and spooled for as long as
// the stream keeps acknowledging (a replay's last burst goes out whole),
// gives up after FlushTimeout without progress or when the server is
// unreachable, keeps the rest in the spool (delivered by the next run with
// the same spool) and closes the connection.
func (s *Sensor) Close() SensorStats {
	deadline := time.Now().Add(s.cfg.FlushTimeout)
	published := s.published.Load()
	for time.Now().Before(deadline) {
		s.mu.Lock()
		idle := len(s.queue) == 0 && s.inflight == 0 && s.spooled == 0
		up := s.streamOK && s.nc.IsConnected()
		s.mu.Unlock()
		if idle || !up {
			break
		}
		if p := s.published.Load(); p != published {
			published, deadline = p, time.Now().Add(s.cfg.FlushTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.poke()
	<-s.done
	s.nc.Close()
	s.sp.close()
	return s.Stats()
}

// sender moves messages from the queue to the stream, through the spool
// whenever the stream cannot take them. Order is kept: while anything is
// spooled, new messages are spooled behind it and the spool is drained
// first.
func (s *Sensor) sender() {
	defer close(s.done)
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	backoff := 100 * time.Millisecond
	for {
		s.mu.Lock()
		closing := s.closing
		// A queue past half its bound (a burst faster than the stream
		// acknowledges) goes to the spool whole rather than be dropped
		// from memory.
		spill := s.queueBytes > s.cfg.QueueBytes/2
		batch := s.take(closing || spill)
		s.mu.Unlock()
		up := !closing && s.ready()
		var err error
		switch {
		case closing:
			// Keep what is left for the next run.
			if err := s.spool(batch); err != nil {
				s.setErr(err.Error())
			}
			s.settle(len(batch))
			return
		case len(batch) > 0 && (!up || spill || s.sp.pending > 0):
			err = s.spool(batch)
			s.settle(len(batch))
			if up {
				continue
			}
		case len(batch) > 0:
			n := s.publish(batch)
			if n < len(batch) {
				err = s.spool(batch[n:])
			}
			s.settle(len(batch))
			if n == len(batch) {
				backoff = 100 * time.Millisecond
				continue
			}
		case up && s.sp.pending > 0:
			if s.drain() {
				backoff = 100 * time.Millisecond
				continue
			}
		}
		if err != nil {
			s.setErr(err.Error())
		}
		s.mu.Lock()
		idle := len(s.queue) == 0
		s.mu.Unlock()
		if !idle && up {
			continue
		}
		// Wait for new messages, a (re)connection, or the next retry
		// of a stream that refused.
		retry.Reset(backoff)
		select {
		case <-s.wake:
		case <-retry.C:
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// take removes up to a batch of queued messages (all when closing) and
// marks them in flight. Called with mu held.
func (s *Sensor) take(all bool) []Message {
	n := min(len(s.queue), s.cfg.Batch)
	if all {
		n = len(s.queue)
	}
	if n == 0 {
		return nil
	}
	batch := append([]Message(nil), s.queue[:n]...)
	clear(s.queue[:n])
	s.queue = s.queue[n:]
	for i := range batch {
		s.queueBytes -= batch[i].size()
	}
	s.inflight += n
	return batch
}

// settle marks n in-flight messages acknowledged or spooled.
func (s *Sensor) settle(n int) {
	s.mu.Lock()
	s.inflight -= n
	s.spooled = s.sp.pending
	s.mu.Unlock()
}

// spool appends msgs to the spool file.
func (s *Sensor) spool(msgs []Message) error {
	dropped, err := s.sp.appendMessages(msgs)
	s.dropped.Add(uint64(dropped))
	if err != nil {
		// The disk refused: these messages are lost, and counted.
		s.dropped.Add(uint64(len(msgs) - dropped))
	}
	return err
}

// drain publishes the oldest spooled messages; it reports whether all of
// them were acknowledged.
func (s *Sensor) drain() bool {
	msgs, ends, err := s.sp.peek(s.cfg.Batch)
	if err != nil && len(msgs) == 0 {
		// A record went bad on disk since it was written: skip the
		// rest of the file rather than retry it for ever.
		s.setErr(err.Error())
		s.dropped.Add(uint64(s.sp.pending))
		s.sp.reset()
		s.settle(0)
		return false
	}
	n := s.publish(msgs)
	if n > 0 {
		if err := s.sp.advance(ends[n-1], n); err != nil {
			s.setErr(err.Error())
		}
	}
	s.settle(0)
	return n == len(msgs)
}

// ready reports whether the connection is up and the stream there,
// finding or creating the stream once per connection.
func (s *Sensor) ready() bool {
	if !s.nc.IsConnected() {
		return false
	}
	s.mu.Lock()
	ok := s.streamOK
	s.mu.Unlock()
	if ok {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.FlushTimeout)
	defer cancel()
	err := EnsureStream(ctx, s.js, s.cfg.Stream, s.cfg.Replicas)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr = err.Error()
		return false
	}
	s.streamOK = true
	return true
}

// publish sends msgs asynchronously and waits for their acks; it returns
// how many of the first were acknowledged (the rest are sent again later;
// any of them the stream already has is dropped there by its id).
func (s *Sensor) publish(msgs []Message) int {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		nm := nats.NewMsg(m.Subject)
		nm.Data = m.Data
		nm.Header.Set(HeaderSite, m.Site)
		nm.Header.Set(HeaderSensor, m.Sensor)
		nm.Header.Set(HeaderKind, m.Kind)
		if !m.Time.IsZero() {
			nm.Header.Set(HeaderTime, m.Time.UTC().Format(time.RFC3339Nano))
		}
		f, err := s.js.PublishMsgAsync(nm, jetstream.WithMsgID(m.ID))
		if err != nil {
			s.setErr(err.Error())
			break
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(s.cfg.FlushTimeout)
	defer timeout.Stop()
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			s.published.Add(1)
			if ack.Duplicate {
				s.duplicates.Add(1)
			}
		case err := <-f.Err():
			s.setErr(err.Error())
			s.markDown()
			return i
		case <-timeout.C:
			s.setErr("no acknowledgement from the stream within " + s.cfg.FlushTimeout.String())
			s.markDown()
			return i
		}
	}
	if len(futures) < len(msgs) {
		s.markDown()
	}
	return len(futures)
}

// markDown makes the next send find the stream again.
func (s *Sensor) markDown() {
	s.mu.Lock()
	s.streamOK = false
	s.mu.Unlock()
}

// EnsureStream finds the stream, or creates it on subjects sluice.> with
// replicas copies, file storage, DefaultDuplicates and DefaultMaxAge.
func EnsureStream(ctx context.Context, js jetstream.JetStream, name string, replicas int) error {
	_, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        name,
			Description: "Sluice sensors' alerts, events, inventory and baseline changes",
			Subjects:    []string{subjectWildcard},
			Storage:     jetstream.FileStorage,
			Replicas:    max(replicas, 1),
			Duplicates:  DefaultDuplicates,
			MaxAge:      DefaultMaxAge,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	return nil
}
