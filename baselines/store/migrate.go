package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
)

// bucketChannelsV1 is schema 1's one bucket of every protocol's channels.
const bucketChannelsV1 = "channels"

// migrate brings a store of schema from up to SchemaVersion within tx, the
// transaction that opens it for writing: all of it or nothing. Values are
// moved as they are: the records' JSON (the export format) did not change.
func migrate(tx *bolt.Tx, from int) error {
	if from >= SchemaVersion {
		return nil
	}
	if from == 1 {
		if err := migrateChannels(tx); err != nil {
			return fmt.Errorf("migrate schema 1 to 2: %w", err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
}

// migrateChannels moves schema 1's channels to their protocol's bucket,
// keeping their keys, and deletes the old bucket. A channel of a protocol
// without a model fails the migration.
func migrateChannels(tx *bolt.Tx) error {
	old := tx.Bucket([]byte(bucketChannelsV1))
	if old == nil {
		return nil
	}
	err := old.ForEach(func(k, v []byte) error {
		var c baselines.Channel
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("channel %q: %w", k, err)
		}
		name := baselines.ChannelBucket(c.Key.Protocol)
		b := tx.Bucket([]byte(name))
		if b == nil {
			return fmt.Errorf("channel %q: no bucket %q", k, name)
		}
		return b.Put(bytes.Clone(k), bytes.Clone(v))
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket([]byte(bucketChannelsV1))
}
