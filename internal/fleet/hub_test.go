package fleet

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-ics/sluice/baselines"
)

// FuzzHubApply: the hub writes what arrives on the stream, which a
// compromised or broken sensor writes; whatever the names, ids and
// payloads, a message is stored or dropped and counted, never a panic,
// and the database still reads back whole.
func FuzzHubApply(f *testing.F) {
	alert := `{"timestamp":"2026-01-01T00:00:00.000000Z","event_type":"alert","src_ip":"10.0.0.9","dest_ip":"10.0.0.1","alert":{"signature_id":9000002,"rule":"new_master","severity":1,"signature":"x"}}`
	dev, _ := json.Marshal(Delta{Records: []DeltaRecord{{Bucket: baselines.BucketDevices, Key: "10.0.0.1",
		Value: json.RawMessage(`{"ip":"10.0.0.1","roles":"modbus_slave","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z","transactions":1,"learn_until":"2026-01-01T00:00:00Z","new_items":0}`)}}})
	f.Add("north", "s1", KindAlert, "s1/0/1", []byte(alert))
	f.Add("north", "s1", KindInventory, "s1/0/2", dev)
	f.Add("north", "s1", KindBaseline, "s1/0/3", []byte(`{"records":[{"bucket":"meta","key":"schema","value":"9"}]}`))
	f.Add("", "s1", KindAlert, "x", []byte("{"))
	f.Add("n", "s", KindBaseline, "s/0/1", []byte(`{"records":[{"bucket":"devices","key":"10.0.0.1","value":{"ip":"not an ip"}}]}`))
	f.Fuzz(func(t *testing.T, site, sensor, kind, id string, data []byte) {
		h := &hub{cfg: HubConfig{now: func() time.Time { return time.Unix(0, 0) }, Log: nil}, st: &HubStats{}}
		h.cfg.Log = discard{}
		path := filepath.Join(t.TempDir(), "fleet.db")
		db, err := openDB(path)
		if err != nil {
			t.Fatal(err)
		}
		hdr := nats.Header{}
		hdr.Set(HeaderSite, site)
		hdr.Set(HeaderSensor, sensor)
		hdr.Set(HeaderKind, kind)
		hdr.Set(jetstream.MsgIDHeader, id)
		h.db = db
		m := message{subject: Subject(site, sensor, kind), header: hdr, data: data}
		if err := h.apply([]message{m, m}); err != nil {
			t.Fatalf("apply: %v", err)
		}
		db.Close()
		st := *h.st
		if st.Messages+st.Duplicates+st.Rejected != 2 {
			t.Fatalf("2 messages, counted %+v", st)
		}
		if st.Alerts > 1 || st.Deltas > 1 {
			t.Fatalf("a message applied twice: %+v", st)
		}
		fl, err := Load(path)
		if err != nil {
			t.Fatalf("the database does not read back: %v", err)
		}
		for _, s := range fl.Sites {
			if _, err := SiteSnapshot(path, s.Name); err != nil && len(s.Devices) > 0 {
				t.Fatalf("site %q: %v", s.Name, err)
			}
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
