package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
)

// export is what `sluice baseline export` writes of db.
func export(t *testing.T, db *DB) []byte {
	t.Helper()
	s, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// items lists every device's and channel's items and every acceptance and
// audit entry of db, one line each.
func items(t *testing.T, db *DB) []string {
	t.Helper()
	s, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range s.Devices {
		out = append(out, "device "+d.IP.String()+" "+d.Roles.String())
	}
	for _, c := range s.Channels {
		for _, it := range c.Items() {
			out = append(out, c.Key.String()+": "+it)
		}
	}
	for _, a := range s.Accepted {
		out = append(out, "accepted "+a.ID+" "+a.Deviation.Rule.String()+" "+a.By)
	}
	for _, r := range s.Alerts {
		out = append(out, "alert "+r.ID+" "+r.Signature)
	}
	for _, a := range s.Audit {
		out = append(out, "audit "+a.Action+" "+a.By+" "+a.DeviationID+" "+a.SHA256)
	}
	return out
}

// schemaOf returns the schema version written in the store at path and
// the names of its buckets.
func schemaOf(t *testing.T, path string) (string, []string) {
	t.Helper()
	b, err := bolt.Open(path, FileMode, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var schema string
	var names []string
	err = b.View(func(tx *bolt.Tx) error {
		schema = string(tx.Bucket(bucketMeta).Get(keySchema))
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			names = append(names, string(name))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return schema, names
}

// TestMigrateV1 opens a store written by the last schema 1 build
// (testdata/README.md): read-only, it is read as it is and left untouched;
// for writing, it is rewritten as schema 2 in one transaction. Either way
// it keeps every device, channel, learned item, alert record, acceptance
// and audit entry, and exports byte for byte what the schema 1 build
// exported; the approval still names the baseline.
func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	orig, err := os.ReadFile("testdata/v1.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, orig, FileMode); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/v1.export.json")
	if err != nil {
		t.Fatal(err)
	}

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	before := items(t, ro)
	if got := export(t, ro); !bytes.Equal(got, want) {
		t.Fatalf("read-only export of the v1 store differs from v1's:\n%s", got)
	}
	ro.Close()
	if now, _ := os.ReadFile(path); sha256.Sum256(now) != sha256.Sum256(orig) {
		t.Fatal("a read-only open rewrote the v1 store")
	}
	if schema, _ := schemaOf(t, path); schema != "1" {
		t.Fatalf("schema %q after a read-only open, want 1", schema)
	}
	// What the fixture holds, so that the comparisons below compare
	// something: both protocols' channels, alerts, an acceptance, the
	// approval.
	joined := strings.Join(before, "\n")
	for _, w := range []string{"modbus 10.10.1.10>10.10.2.1 unit 1: function 3 read_holding_registers",
		"opcua 10.10.1.20>10.10.2.10:4840: service Read", "modbus 10.10.9.66>10.10.2.1 unit 1: written holding_registers 0",
		"accepted e79fa2d9ed317a8d unexpected_write alice", "alert 0f2c1f6a5884b94b", "audit approve bob"} {
		if !strings.Contains(joined, w) {
			t.Fatalf("the fixture lacks %q:\n%s", w, joined)
		}
	}

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := export(t, db); !bytes.Equal(got, want) {
		t.Fatalf("export of the migrated store differs from v1's:\n%s", got)
	}
	if after := items(t, db); !slices.Equal(after, before) {
		t.Fatalf("items after the migration\n%q\nbefore\n%q", after, before)
	}
	s, err := db.Load()
	if err != nil {
		t.Fatal(err)
	}
	sha, err := s.SHA256()
	if err != nil {
		t.Fatal(err)
	}
	if a := s.Audit[len(s.Audit)-1]; a.Action != "approve" || a.SHA256 != sha {
		t.Fatalf("the approval (%+v) no longer names the baseline %s", a, sha)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	schema, names := schemaOf(t, path)
	if schema != "2" || slices.Contains(names, bucketChannelsV1) ||
		!slices.Contains(names, baselines.ChannelBucket(baselines.Modbus)) || !slices.Contains(names, baselines.ChannelBucket(baselines.OPCUA)) {
		t.Fatalf("after the migration: schema %q, buckets %q", schema, names)
	}
	checkFile(t, path)
	// Opened again, it is a schema 2 store like any other.
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := export(t, db); !bytes.Equal(got, want) {
		t.Fatalf("export after a second open differs:\n%s", got)
	}
}

// samples holds, per protocol, a transaction a learning engine makes a
// channel of; each protocol's sample_<proto>_test.go adds its own.
var samples = map[baselines.Protocol]func() *baselines.Observation{}

// sample returns protocol p's sample transaction.
func sample(p baselines.Protocol) (*baselines.Observation, bool) {
	f, ok := samples[p]
	if !ok {
		return nil, false
	}
	return f(), true
}

// sampleObservation is the envelope of every sample: a responded
// transaction between two test devices.
func sampleObservation(p baselines.Protocol, port uint16, d baselines.Detail) *baselines.Observation {
	return &baselines.Observation{Time: t0, Protocol: p, Responded: true,
		Endpoints: baselines.Endpoints{ClientIP: hmi, ServerIP: plc, ClientPort: 40000, ServerPort: port}, Detail: d}
}

// TestEveryProtocolStored learns a channel of every registered protocol
// and requires it to come back from the store whole: a protocol the
// store's layout missed would lose its channels.
func TestEveryProtocolStored(t *testing.T) {
	db, path := newTestDB(t, Options{})
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	var want []*baselines.Channel
	for _, p := range baselines.Protocols() {
		o, ok := sample(p)
		if !ok {
			t.Fatalf("no sample transaction of %s: add one in baselines/store/sample_%s_test.go", p, p)
		}
		e.Observe(o)
	}
	want = e.Snapshot().Channels
	if len(want) != len(baselines.Protocols()) {
		t.Fatalf("learned %d channels of %d protocols", len(want), len(baselines.Protocols()))
	}
	if _, err := db.Flush(e); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	s, err := db2.Load()
	if err != nil {
		t.Fatal(err)
	}
	got := s.Channels
	if len(got) != len(want) {
		t.Fatalf("%d channels back from the store, %d learned", len(got), len(want))
	}
	for i := range want {
		a, _ := json.Marshal(want[i])
		b, _ := json.Marshal(got[i])
		if !bytes.Equal(a, b) || len(got[i].Items()) == 0 {
			t.Errorf("%s: stored\n%s\nloaded\n%s", want[i].Key.Protocol, a, b)
		}
	}
	_, names := schemaOf(t, path)
	for _, p := range baselines.Protocols() {
		if !slices.Contains(names, baselines.ChannelBucket(p)) {
			t.Errorf("no bucket for %s channels: %q", p, names)
		}
	}
}

// TestUnknownProtocolBucketRefused: a store with the channels of a
// protocol this build has no model for (written by a newer Sluice) is not
// read without them.
func TestUnknownProtocolBucketRefused(t *testing.T) {
	db, path := newTestDB(t, Options{})
	db.Close()
	b, err := bolt.Open(path, FileMode, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucket([]byte(channelsPrefix + "iec104"))
		if err != nil {
			return err
		}
		return bk.Put([]byte("x"), []byte(`{}`))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Load(); err == nil || !strings.Contains(err.Error(), "iec104") {
		t.Fatalf("load of a store with iec104 channels: %v", err)
	}
}

// TestMigrationFailsWhole: a schema 1 store with a channel that no model
// can read is refused for writing and left as it was.
func TestMigrationFailsWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.db")
	b, err := bolt.Open(path, FileMode, nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(&baselines.Channel{Key: baselines.ChannelKey{Protocol: baselines.Modbus, Client: hmi,
		Server: netip.MustParseAddr("10.10.2.2"), Unit: 1}, Model: &baselines.ModbusModel{}})
	err = b.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := m.Put(keySchema, []byte("1")); err != nil {
			return err
		}
		ch, err := tx.CreateBucket([]byte(bucketChannelsV1))
		if err != nil {
			return err
		}
		if err := ch.Put([]byte("a"), good); err != nil {
			return err
		}
		return ch.Put([]byte("b"), []byte(`{"key":{"protocol":"iec104"}}`))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "migrate") {
		t.Fatalf("open of a v1 store with an iec104 channel: %v", err)
	}
	if schema, names := schemaOf(t, path); schema != "1" || !slices.Contains(names, bucketChannelsV1) ||
		slices.Contains(names, baselines.ChannelBucket(baselines.Modbus)) {
		t.Fatalf("after a failed migration: schema %q, buckets %q", schema, names)
	}
}

// TestRecoverV1: recover copies a schema 1 store's records as they are
// (its channels in the one channels bucket, its schema 1), so the copy
// reads as the original and is migrated when first opened for writing.
func TestRecoverV1(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "recovered.db")
	s, err := Recover("testdata/v1.db", dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Lost) != 0 {
		t.Fatalf("lost %q", s.Lost)
	}
	want, err := os.ReadFile("testdata/v1.export.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{true, false} {
		db, err := Open(dst, Options{ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		if got := export(t, db); !bytes.Equal(got, want) {
			t.Fatalf("export of the recovered store (read-only %v) differs from v1's:\n%s", ro, got)
		}
		db.Close()
	}
	if schema, names := schemaOf(t, dst); schema != "2" || slices.Contains(names, bucketChannelsV1) {
		t.Fatalf("recovered store after an open for writing: schema %q, buckets %q", schema, names)
	}
}
