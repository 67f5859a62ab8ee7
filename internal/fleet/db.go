package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
)

// The fleet database is a bbolt file the hub writes:
//
//	fleet    schema → "1": marks the file as a fleet database
//	sensors  <site> NUL <sensor> → SensorRecord (JSON)
//	alerts   <message id> → AlertEntry (JSON): each alert once
//	sites    <site> → the site's copy of its sensors' baseline stores, one
//	         bucket per store bucket, as the deltas left them
const fleetSchema = "1"

var (
	bucketFleet   = []byte("fleet")
	bucketSensors = []byte("sensors")
	bucketAlerts  = []byte("alerts")
	bucketSites   = []byte("sites")
	keySchema     = []byte("schema")
)

// ErrNotFleet says a file is not a fleet database.
var ErrNotFleet = errors.New("not a fleet database")

// SensorRecord is what the hub knows of one sensor.
type SensorRecord struct {
	Site   string `json:"site"`
	Sensor string `json:"sensor"`
	// FirstHeard and LastHeard are when the hub received its first and
	// last message (the hub's clock); LastEvent is the packet time of
	// its newest event.
	FirstHeard time.Time `json:"first_heard"`
	LastHeard  time.Time `json:"last_heard"`
	LastEvent  time.Time `json:"last_event,omitzero"`
	// Messages counts messages by kind; Duplicates those received again
	// and ignored.
	Messages   map[string]uint64 `json:"messages"`
	Duplicates uint64            `json:"duplicates,omitempty"`
	// LastDelta orders the deltas applied: <run>/<seq> of the newest.
	LastDelta string `json:"last_delta,omitempty"`
}

// AlertEntry is one alert in the fleet database.
type AlertEntry struct {
	ID          string    `json:"id"`
	Site        string    `json:"site"`
	Sensor      string    `json:"sensor"`
	Time        time.Time `json:"timestamp"`
	Rule        string    `json:"rule"`
	SignatureID uint64    `json:"signature_id"`
	Signature   string    `json:"signature"`
	Severity    int       `json:"severity"`
	SrcIP       string    `json:"src_ip,omitempty"`
	DestIP      string    `json:"dest_ip,omitempty"`
	// EVE is the alert's EVE line as the sensor wrote it.
	EVE json.RawMessage `json:"eve"`
}

// parseAlert reads the fields of an alert's EVE line the fleet report
// needs.
func parseAlert(line []byte) (AlertEntry, error) {
	var e struct {
		Timestamp string `json:"timestamp"`
		SrcIP     string `json:"src_ip"`
		DestIP    string `json:"dest_ip"`
		Alert     struct {
			SignatureID uint64 `json:"signature_id"`
			Signature   string `json:"signature"`
			Severity    int    `json:"severity"`
			Rule        string `json:"rule"`
		} `json:"alert"`
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return AlertEntry{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, e.Timestamp)
	if err != nil {
		return AlertEntry{}, fmt.Errorf("timestamp: %w", err)
	}
	if e.Alert.Rule == "" {
		return AlertEntry{}, errors.New("not an alert event")
	}
	return AlertEntry{Time: t, Rule: e.Alert.Rule, SignatureID: e.Alert.SignatureID, Signature: e.Alert.Signature,
		Severity: e.Alert.Severity, SrcIP: e.SrcIP, DestIP: e.DestIP, EVE: append(json.RawMessage(nil), line...)}, nil
}

// openDB opens or creates the fleet database at path for the hub.
func openDB(path string) (*bolt.DB, error) {
	if _, err := os.Stat(path); err == nil {
		if err := store.Inspect(path); err != nil {
			return nil, fmt.Errorf("fleet database %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("fleet database %s: in use by another process (another hub, or a report reading it)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if f := tx.Bucket(bucketFleet); f == nil {
			// A new file, or a file of something else: a baseline store
			// must not become a fleet database by mistake.
			for _, name := range [][]byte{[]byte(baselines.BucketDevices), []byte("meta")} {
				if tx.Bucket(name) != nil {
					return fmt.Errorf("%w: it is a baseline database", ErrNotFleet)
				}
			}
		}
		for _, name := range [][]byte{bucketFleet, bucketSensors, bucketAlerts, bucketSites} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		f := tx.Bucket(bucketFleet)
		if v := f.Get(keySchema); v != nil && string(v) != fleetSchema {
			return fmt.Errorf("schema %q, this sluice writes %q", v, fleetSchema)
		}
		return f.Put(keySchema, []byte(fleetSchema))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("fleet database %s: %w", path, err)
	}
	return db, nil
}

// IsFleetDB reports whether the file at path is a fleet database (the
// commands that read a baseline database read a fleet one too).
func IsFleetDB(path string) bool {
	db, err := openRead(path)
	if err != nil {
		return false
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketFleet) == nil {
			return ErrNotFleet
		}
		return nil
	}) == nil
}

func openRead(path string) (*bolt.DB, error) {
	if err := store.Inspect(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, errors.New("in use by another process (a running hub holds it: stop the hub, or read a copy)")
	}
	return db, err
}

// Fleet is the content of a fleet database, for the fleet report.
type Fleet struct {
	Sites []Site `json:"sites"`
}

// Site is one site of the fleet.
type Site struct {
	Name    string         `json:"name"`
	Sensors []SensorRecord `json:"sensors"`
	// Devices are the site's inventory, from its sensors' baselines.
	Devices []*baselines.Device `json:"devices"`
	// Alerts counts the site's alerts; ByRule by rule, most first.
	Alerts int         `json:"alerts"`
	ByRule []RuleCount `json:"alerts_by_rule"`
	// Recent are its newest alerts, newest first (at most MaxRecent).
	Recent []AlertEntry `json:"recent_alerts"`
	// Error says why the site's baseline could not be read, "" when it
	// was.
	Error string `json:"error,omitempty"`
}

// RuleCount is how many alerts of one rule a site had.
type RuleCount struct {
	Rule     string `json:"rule"`
	Severity int    `json:"severity"`
	Count    int    `json:"count"`
}

// MaxRecent bounds the recent alerts listed per site.
const MaxRecent = 20

// Load reads the fleet database at path (read-only: a running hub keeps
// writing to it only when it is not open here; bbolt's lock makes a
// reader wait for the hub's writer, so Load fails after a timeout while a
// hub runs on the file).
func Load(path string) (*Fleet, error) {
	db, err := openRead(path)
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", path, err)
	}
	defer db.Close()
	sites := map[string]*Site{}
	site := func(name string) *Site {
		s, ok := sites[name]
		if !ok {
			s = &Site{Name: name}
			sites[name] = s
		}
		return s
	}
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketFleet) == nil {
			return ErrNotFleet
		}
		if err := tx.Bucket(bucketSensors).ForEach(func(k, v []byte) error {
			var r SensorRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("sensor %q: %w", k, err)
			}
			s := site(r.Site)
			s.Sensors = append(s.Sensors, r)
			return nil
		}); err != nil {
			return err
		}
		byRule := map[string]map[string]*RuleCount{}
		if err := tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
			var a AlertEntry
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("alert %q: %w", k, err)
			}
			s := site(a.Site)
			s.Alerts++
			if byRule[a.Site] == nil {
				byRule[a.Site] = map[string]*RuleCount{}
			}
			rc := byRule[a.Site][a.Rule]
			if rc == nil {
				rc = &RuleCount{Rule: a.Rule, Severity: a.Severity}
				byRule[a.Site][a.Rule] = rc
			}
			rc.Count++
			s.Recent = append(s.Recent, a)
			if len(s.Recent) > 4*MaxRecent {
				s.Recent = newest(s.Recent, MaxRecent)
			}
			return nil
		}); err != nil {
			return err
		}
		for name, rules := range byRule {
			s := site(name)
			for _, rc := range rules {
				s.ByRule = append(s.ByRule, *rc)
			}
			slices.SortFunc(s.ByRule, func(a, b RuleCount) int {
				if a.Count != b.Count {
					return b.Count - a.Count
				}
				return strings.Compare(a.Rule, b.Rule)
			})
		}
		return tx.Bucket(bucketSites).ForEachBucket(func(k []byte) error {
			// A site whose copy does not read says so in its row;
			// the other sites are reported.
			snap, err := decodeSite(tx.Bucket(bucketSites).Bucket(k))
			if err != nil {
				site(string(k)).Error = err.Error()
				return nil
			}
			site(string(k)).Devices = snap.Devices
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", path, err)
	}
	f := &Fleet{}
	for _, s := range sites {
		s.Recent = newest(s.Recent, MaxRecent)
		slices.SortFunc(s.Sensors, func(a, b SensorRecord) int { return strings.Compare(a.Sensor, b.Sensor) })
		f.Sites = append(f.Sites, *s)
	}
	slices.SortFunc(f.Sites, func(a, b Site) int { return strings.Compare(a.Name, b.Name) })
	return f, nil
}

// newest returns the n newest alerts of as, newest first.
func newest(as []AlertEntry, n int) []AlertEntry {
	slices.SortFunc(as, func(a, b AlertEntry) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(as) > n {
		as = as[:n]
	}
	return as
}

// SiteSnapshot returns the baseline of one site of the fleet database at
// path, as its sensors' deltas built it: what `sluice baseline show` and
// `sluice report` read.
func SiteSnapshot(path, site string) (*baselines.Snapshot, error) {
	db, err := openRead(path)
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", path, err)
	}
	defer db.Close()
	var snap *baselines.Snapshot
	err = db.View(func(tx *bolt.Tx) error {
		sites := tx.Bucket(bucketSites)
		if sites == nil {
			return ErrNotFleet
		}
		b := sites.Bucket([]byte(site))
		if b == nil {
			return fmt.Errorf("no site %q in it (sites: %s)", site, strings.Join(siteNames(sites), ", "))
		}
		snap, err = decodeSite(b)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", path, err)
	}
	return snap, nil
}

// decodeSite reads a site's copy of the store buckets.
func decodeSite(b *bolt.Bucket) (*baselines.Snapshot, error) {
	var channels []string
	b.ForEachBucket(func(k []byte) error {
		if store.IsChannelBucket(string(k)) {
			channels = append(channels, string(k))
		}
		return nil
	})
	return store.Decode(store.Buckets{Channels: channels, Each: func(bucket string, fn func(k, v []byte) error) error {
		sub := b.Bucket([]byte(bucket))
		if sub == nil {
			return nil
		}
		return sub.ForEach(fn)
	}})
}

// Alerts returns every alert of the fleet database at path, in message id
// order.
func Alerts(path string) ([]AlertEntry, error) {
	db, err := openRead(path)
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", path, err)
	}
	defer db.Close()
	var out []AlertEntry
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAlerts)
		if b == nil {
			return ErrNotFleet
		}
		return b.ForEach(func(k, v []byte) error {
			var a AlertEntry
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("alert %q: %w", k, err)
			}
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", path, err)
	}
	return out, nil
}

// Sites lists the sites of the fleet database at path that have a
// baseline (those SiteSnapshot reads).
func Sites(path string) ([]string, error) {
	db, err := openRead(path)
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", path, err)
	}
	defer db.Close()
	var names []string
	err = db.View(func(tx *bolt.Tx) error {
		sites := tx.Bucket(bucketSites)
		if sites == nil {
			return ErrNotFleet
		}
		names = siteNames(sites)
		return nil
	})
	return names, err
}

// siteNames lists the site buckets, in key order.
func siteNames(sites *bolt.Bucket) []string {
	var names []string
	sites.ForEachBucket(func(k []byte) error { names = append(names, string(k)); return nil })
	return names
}

// sensorKey is the sensors bucket's key of a sensor.
func sensorKey(site, sensor string) []byte {
	return bytes.Join([][]byte{[]byte(site), []byte(sensor)}, []byte{0})
}
