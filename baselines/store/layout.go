package store

import (
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
)

// SchemaVersion is the version of the store's layout, apart from the
// export format's (baselines.ExportVersion):
//
//   - 1: one bucket "channels" held every protocol's channels.
//   - 2: each registered protocol's channels have their bucket
//     (baselines.ChannelBucket); import replaces the baseline in one
//     transaction.
//
// A store with a larger version is refused (baselines.ErrNewerSchema).
const SchemaVersion = 2

// channelsPrefix starts the name of every protocol's channel bucket.
const channelsPrefix = "channels/"

// createLayout creates the buckets the engine writes to that tx lacks: a
// new store's, and the channel bucket of a protocol registered since the
// store was made.
func createLayout(tx *bolt.Tx) error {
	for _, name := range baselines.Buckets() {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	return nil
}

// channelBuckets returns the buckets of tx that hold channels: every
// registered protocol's, and schema 1's single bucket when tx is a store
// not yet migrated (opened read-only).
func channelBuckets(tx *bolt.Tx) []string {
	var out []string
	if tx.Bucket([]byte(bucketChannelsV1)) != nil {
		out = append(out, bucketChannelsV1)
	}
	for _, p := range baselines.Protocols() {
		out = append(out, baselines.ChannelBucket(p))
	}
	return out
}

// checkChannelBuckets reports a channel bucket of tx that no registered
// protocol owns (a newer Sluice's protocol): reading the store without it
// would drop those channels silently.
func checkChannelBuckets(tx *bolt.Tx) error {
	known := map[string]bool{}
	for _, p := range baselines.Protocols() {
		known[baselines.ChannelBucket(p)] = true
	}
	return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if n := string(name); strings.HasPrefix(n, channelsPrefix) && !known[n] {
			return fmt.Errorf("the store holds %s channels, which this sluice has no model for; upgrade sluice",
				strings.TrimPrefix(n, channelsPrefix))
		}
		return nil
	})
}

// IsChannelBucket reports whether a store's bucket name holds channels: a
// registered protocol's bucket, or schema 1's bucket of every protocol's.
func IsChannelBucket(name string) bool {
	return name == bucketChannelsV1 || channelProtocol(name) != 0
}

// channelProtocol returns the protocol whose channel bucket is name, or 0.
func channelProtocol(name string) baselines.Protocol {
	for _, p := range baselines.Protocols() {
		if baselines.ChannelBucket(p) == name {
			return p
		}
	}
	return 0
}

// emptyBaseline empties every baseline bucket of tx but the audit trail
// (import).
func emptyBaseline(tx *bolt.Tx) error {
	for _, name := range baselines.Buckets() {
		if name == baselines.BucketAudit {
			continue
		}
		if err := tx.DeleteBucket([]byte(name)); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		if _, err := tx.CreateBucket([]byte(name)); err != nil {
			return err
		}
	}
	return nil
}
