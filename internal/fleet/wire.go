// Package fleet gathers many sites' sensors through NATS JetStream (issue
// #13 §4): a sensor publishes its alerts, the events of the kinds it is told
// to, and its inventory and baseline changes to the stream; a hub consumes
// the stream into one fleet database, from which `sluice report` writes the
// fleet report and `sluice baseline show` shows a site's baseline.
//
// The wire contract, shared by both ends (docs/fleet.md):
//
//	subject  sluice.<site>.<sensor>.<kind>
//	kind     alert | inventory | baseline | <event type> (modbus, stats, …)
//	headers  Nats-Msg-Id  <sensor>/<run>/<seq>: unique per message, the
//	                      same when a message is sent again
//	         Sluice-Site, Sluice-Sensor, Sluice-Kind: the names as given
//	         Sluice-Time  the event's packet time (RFC 3339), events only
//	payload  an event's EVE JSON line; a delta's JSON (Delta)
//
// Site and sensor names are made subject tokens by replacing what NATS
// reserves (. * > and white space) with '_'; the headers keep them whole.
package fleet

import (
	"encoding/json"
	"strings"
	"unicode"

	"github.com/sluice-ics/sluice/baselines"
)

// Defaults of the stream every sensor publishes to and the hub reads.
const (
	DefaultStream   = "SLUICE"
	SubjectPrefix   = "sluice"
	DefaultDurable  = "sluice-hub"
	DefaultSite     = "default"
	subjectWildcard = SubjectPrefix + ".>"
)

// Kinds of messages beside the event types.
const (
	KindAlert     = "alert"
	KindInventory = "inventory"
	KindBaseline  = "baseline"
)

// Header names of the messages.
const (
	HeaderSite   = "Sluice-Site"
	HeaderSensor = "Sluice-Sensor"
	HeaderKind   = "Sluice-Kind"
	HeaderTime   = "Sluice-Time"
)

// Token makes name a subject token: NATS reserves '.', '*', '>' and white
// space; each becomes '_'. An empty name is "_".
func Token(name string) string {
	if name == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return '_'
		}
		return r
	}, name)
}

// Subject is the subject of a message of kind from sensor at site.
func Subject(site, sensor, kind string) string {
	return SubjectPrefix + "." + Token(site) + "." + Token(sensor) + "." + Token(kind)
}

// Delta is the payload of an inventory or baseline message: records of the
// sensor's baseline store, each the whole new value of its key (a device, a
// channel, an alert-log entry, an acceptance, an audit entry) or its
// deletion. Applying deltas in order rebuilds the sensor's store.
type Delta struct {
	Records []DeltaRecord `json:"records"`
}

// DeltaRecord is one baselines.Record on the wire: the value is the JSON
// the store holds, inline (null deletes the key).
type DeltaRecord struct {
	Bucket string          `json:"bucket"`
	Key    string          `json:"key"`
	Value  json.RawMessage `json:"value"`
}

// record returns r as a store record.
func (r DeltaRecord) record() baselines.Record {
	rec := baselines.Record{Bucket: r.Bucket, Key: []byte(r.Key)}
	if len(r.Value) > 0 && string(r.Value) != "null" {
		rec.Value = r.Value
	}
	return rec
}
