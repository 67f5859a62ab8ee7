package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
)

// HubConfig is a hub: where it reads the stream and the database it
// writes.
type HubConfig struct {
	// URL and Options as SensorConfig's.
	URL     string
	Options []nats.Option
	// DB is the fleet database file.
	DB string
	// Stream (DefaultStream, created with Replicas replicas when
	// missing) and Durable (DefaultDurable): the durable consumer the
	// hub reads through. A hub that restarts resumes where its durable
	// stopped; hubs that share a durable share the messages.
	Stream   string
	Replicas int
	Durable  string
	// Batch is how many messages are applied per database transaction
	// (DefaultBatch).
	Batch int
	// Log receives the hub's notes (connection, progress); nil discards.
	Log io.Writer
	// now is the hub's clock (tests).
	now func() time.Time
}

// HubStats are a hub's counters.
type HubStats struct {
	// Messages counts messages applied; Alerts the alerts stored;
	// Deltas the inventory and baseline deltas applied; Duplicates the
	// messages already in the database (sent or delivered again);
	// Rejected those that could not be read (acknowledged and dropped).
	Messages, Alerts, Deltas, Duplicates, Rejected uint64
}

// RunHub consumes the stream into the fleet database until ctx is done.
// An unreachable server is waited for; a database that cannot be written
// stops the hub with the error, leaving the batch unacknowledged (the
// stream delivers it again when the hub restarts).
func RunHub(ctx context.Context, cfg HubConfig) (HubStats, error) {
	var st HubStats
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if cfg.Durable == "" {
		cfg.Durable = DefaultDurable
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	db, err := openDB(cfg.DB)
	if err != nil {
		return st, err
	}
	defer db.Close()
	opts := append([]nats.Option{
		nats.Name("sluice hub " + cfg.Durable),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				fmt.Fprintf(cfg.Log, "sluice hub: disconnected: %v\n", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { fmt.Fprintf(cfg.Log, "sluice hub: reconnected to %s\n", nc.ConnectedUrl()) }),
	}, cfg.Options...)
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return st, fmt.Errorf("nats: %s: %w", cfg.URL, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return st, fmt.Errorf("nats: %w", err)
	}
	h := &hub{cfg: cfg, db: db, st: &st}
	backoff := 100 * time.Millisecond
	var cons jetstream.Consumer
	for ctx.Err() == nil {
		if cons == nil {
			cons, err = consumer(ctx, js, cfg)
			if err != nil {
				fmt.Fprintf(cfg.Log, "sluice hub: %v (retrying)\n", err)
				sleep(ctx, backoff)
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			fmt.Fprintf(cfg.Log, "sluice hub: reading stream %s as %s into %s\n", cfg.Stream, cfg.Durable, cfg.DB)
		}
		batch, err := cons.Fetch(cfg.Batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil {
				sleep(ctx, backoff)
				backoff = min(2*backoff, 5*time.Second)
				if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
					cons = nil
				}
			}
			continue
		}
		var msgs []jetstream.Msg
		var in []message
		for m := range batch.Messages() {
			msgs = append(msgs, m)
			in = append(in, message{subject: m.Subject(), header: m.Headers(), data: m.Data()})
		}
		if len(msgs) == 0 {
			continue
		}
		backoff = 100 * time.Millisecond
		if err := h.apply(in); err != nil {
			return st, fmt.Errorf("fleet database %s: %w", cfg.DB, err)
		}
		// Acknowledged once written: a hub killed between the two gets
		// the batch again, and the database already has it (ids).
		for _, m := range msgs {
			m.Ack()
		}
	}
	return st, nil
}

// consumer finds the stream (creating it when missing) and creates or
// updates the hub's durable consumer.
func consumer(ctx context.Context, js jetstream.JetStream, cfg HubConfig) (jetstream.Consumer, error) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := EnsureStream(c, js, cfg.Stream, cfg.Replicas); err != nil {
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(c, cfg.Stream, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "Sluice hub: the fleet database",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 20 * cfg.Batch,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: subjectWildcard,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	return cons, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

type hub struct {
	cfg HubConfig
	db  *bolt.DB
	st  *HubStats
}

// message is what the hub reads of a stream message.
type message struct {
	subject string
	header  nats.Header
	data    []byte
}

// apply writes a batch of messages in one transaction. A message that
// cannot be read is counted and dropped (it is acknowledged with the
// batch: sent again it would fail again).
func (h *hub) apply(msgs []message) error {
	var st HubStats
	err := h.db.Update(func(tx *bolt.Tx) error {
		st = HubStats{}
		sensors := map[string]*SensorRecord{}
		now := h.cfg.now().UTC()
		for _, m := range msgs {
			site, sensor, kind := messageNames(m)
			id := m.header.Get(jetstream.MsgIDHeader)
			// Names become database keys and bucket names: bbolt
			// takes non-empty keys up to MaxKeySize.
			if site == "" || sensor == "" || kind == "" || id == "" ||
				len(site)+len(sensor)+1 > bolt.MaxKeySize || len(id) > bolt.MaxKeySize {
				st.Rejected++
				continue
			}
			key := string(sensorKey(site, sensor))
			rec := sensors[key]
			if rec == nil {
				rec = &SensorRecord{Site: site, Sensor: sensor, FirstHeard: now, Messages: map[string]uint64{}}
				if v := tx.Bucket(bucketSensors).Get([]byte(key)); v != nil {
					if err := json.Unmarshal(v, rec); err != nil {
						return fmt.Errorf("sensor %s/%s: %w", site, sensor, err)
					}
					if rec.Messages == nil {
						rec.Messages = map[string]uint64{}
					}
				}
				sensors[key] = rec
			}
			rec.LastHeard = now
			if t, err := time.Parse(time.RFC3339Nano, m.header.Get(HeaderTime)); err == nil && t.After(rec.LastEvent) {
				rec.LastEvent = t.UTC()
			}
			dup, err := h.applyOne(tx, m.data, id, site, sensor, kind, rec, &st)
			switch {
			case err != nil:
				st.Rejected++
				fmt.Fprintf(h.cfg.Log, "sluice hub: dropping message %q of %q/%q (%q): %v\n", id, site, sensor, kind, err)
			case dup:
				st.Duplicates++
				rec.Duplicates++
			default:
				st.Messages++
				rec.Messages[kind]++
			}
		}
		for key, rec := range sensors {
			b, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := tx.Bucket(bucketSensors).Put([]byte(key), b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	h.st.Messages += st.Messages
	h.st.Alerts += st.Alerts
	h.st.Deltas += st.Deltas
	h.st.Duplicates += st.Duplicates
	h.st.Rejected += st.Rejected
	return nil
}

// applyOne stores one message; dup says the database had it already.
func (h *hub) applyOne(tx *bolt.Tx, data []byte, id, site, sensor, kind string, rec *SensorRecord, st *HubStats) (dup bool, err error) {
	switch kind {
	case KindAlert:
		alerts := tx.Bucket(bucketAlerts)
		if alerts.Get([]byte(id)) != nil {
			return true, nil
		}
		a, err := parseAlert(data)
		if err != nil {
			return false, err
		}
		a.ID, a.Site, a.Sensor = id, site, sensor
		b, err := json.Marshal(a)
		if err != nil {
			return false, err
		}
		st.Alerts++
		return false, alerts.Put([]byte(id), b)
	case KindInventory, KindBaseline:
		// Deltas carry whole values: applied in the order the sensor
		// took them, a delta older than the newest applied is one
		// delivered again.
		order, ok := strings.CutPrefix(id, sensor+"/")
		if !ok {
			return false, errors.New("message id does not name its sensor")
		}
		if order <= rec.LastDelta {
			return true, nil
		}
		var d Delta
		if err := json.Unmarshal(data, &d); err != nil {
			return false, err
		}
		if err := applyDelta(tx, site, d); err != nil {
			return false, err
		}
		rec.LastDelta = order
		st.Deltas++
		return false, nil
	}
	// Other event types are for other consumers of the stream (a SIEM
	// bridge): the hub counts them.
	return false, nil
}

// applyDelta writes a delta's records into the site's copy of the store.
// Records of buckets a store does not have are refused: the bucket names
// come from the network.
func applyDelta(tx *bolt.Tx, site string, d Delta) error {
	known := baselines.Buckets()
	for _, r := range d.Records {
		if !slices.Contains(known, r.Bucket) || r.Key == "" || len(r.Key) > bolt.MaxKeySize {
			return fmt.Errorf("a record of bucket %q, key %q, that no baseline store has", r.Bucket, r.Key)
		}
	}
	// Each record must read back as what its bucket holds (a device, a
	// channel, …): one that does not would make the site unreadable.
	if _, err := store.Decode(deltaBuckets(d)); err != nil {
		return fmt.Errorf("a record that does not read back: %w", err)
	}
	sb, err := tx.Bucket(bucketSites).CreateBucketIfNotExists([]byte(site))
	if err != nil {
		return err
	}
	for _, r := range d.Records {
		b, err := sb.CreateBucketIfNotExists([]byte(r.Bucket))
		if err != nil {
			return err
		}
		rec := r.record()
		if rec.Value == nil {
			err = b.Delete(rec.Key)
		} else {
			err = b.Put(rec.Key, rec.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// deltaBuckets presents a delta's records as store buckets (deletions
// left out), for store.Decode.
func deltaBuckets(d Delta) store.Buckets {
	var b store.Buckets
	for _, r := range d.Records {
		if store.IsChannelBucket(r.Bucket) && !slices.Contains(b.Channels, r.Bucket) {
			b.Channels = append(b.Channels, r.Bucket)
		}
	}
	b.Each = func(bucket string, fn func(k, v []byte) error) error {
		for _, r := range d.Records {
			if rec := r.record(); r.Bucket == bucket && rec.Value != nil {
				if err := fn(rec.Key, rec.Value); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return b
}

// messageNames returns the site, sensor and kind of a message: from its
// headers, else from its subject's tokens.
func messageNames(m message) (site, sensor, kind string) {
	h := m.header
	site, sensor, kind = h.Get(HeaderSite), h.Get(HeaderSensor), h.Get(HeaderKind)
	if site != "" && sensor != "" && kind != "" {
		return
	}
	parts := strings.Split(m.subject, ".")
	if len(parts) == 4 && parts[0] == SubjectPrefix {
		return parts[1], parts[2], parts[3]
	}
	return "", "", ""
}
