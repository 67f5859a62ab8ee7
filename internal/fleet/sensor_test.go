package fleet

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/natstest"
	"github.com/sluice-ics/sluice/internal/testcerts"
)

// testdata is the repository's testdata folder (the simulator's captures).
func testdata(name string) string { return filepath.Join("..", "..", "testdata", name) }

// replay runs the agent on a capture as `sluice replay` does: the EVE
// alert lines go to out, the sinks get every record.
func replay(t testing.TB, path, db string, mode agent.Mode, out io.Writer, sinks []agent.Sink, onDelta func(recs []baselines.Record)) {
	t.Helper()
	cfg := agent.DefaultConfig(nil)
	cfg.Sinks = append([]agent.Sink{agent.NewEVE(out, agent.EventsAlerts)}, sinks...)
	cfg.DBPath, cfg.Mode = db, mode
	cfg.Sensor, cfg.Site = "dam-1", "north"
	if onDelta != nil {
		cfg.OnBaselineDelta = onDelta
	}
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := a.Run(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// alertLines returns the alert events of an EVE output.
func alertLines(b []byte) [][]byte {
	var out [][]byte
	for l := range bytes.Lines(b) {
		if bytes.Contains(l, []byte(`"event_type":"alert"`)) {
			out = append(out, bytes.TrimSuffix(l, []byte("\n")))
		}
	}
	return out
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSensorDeliversAfterOutage: a sensor whose server is down for the
// whole replay keeps everything in its spool, across its own exit, and
// delivers all of it, once and in order, when a sensor with the same spool
// finds the server up; the site's baseline arrives with it.
func TestSensorDeliversAfterOutage(t *testing.T) {
	srv := natstest.New(t) // not started: the server is down
	dir := t.TempDir()
	db := filepath.Join(dir, "base.db")
	var learn bytes.Buffer
	replay(t, testdata("sim_normal.pcap"), db, agent.ModeLearn, &learn, nil, nil)

	cfg := SensorConfig{URL: srv.URL(), Site: "north", Sensor: "dam-1", SpoolPath: filepath.Join(dir, "nats.spool"), FlushTimeout: time.Second}
	s, rec, err := NewSensor(cfg)
	if err != nil || rec.Pending != 0 {
		t.Fatal(rec, err)
	}
	var eve bytes.Buffer
	replay(t, testdata("sim_rogue_master.pcap"), db, agent.ModeMonitor, &eve, []agent.Sink{s}, s.Delta)
	want := alertLines(eve.Bytes())
	if len(want) == 0 {
		t.Fatal("the attack capture raised no alert")
	}
	st := s.Close()
	// Every alert, and the baseline handed at start, wait in the spool.
	if st.Published != 0 || st.Dropped != 0 || st.Spooled < len(want)+2 {
		t.Fatalf("server down: %+v, want %d alerts and the baseline spooled", st, len(want))
	}

	srv.Start()
	s, rec, err = NewSensor(cfg)
	if err != nil || rec.Pending != st.Spooled {
		t.Fatalf("reopened spool: %+v %v, want %d pending", rec, err, st.Spooled)
	}
	waitFor(t, "the spool to drain", func() bool { return s.Stats().Spooled == 0 })
	st2 := s.Close()
	if st2.Published != uint64(st.Spooled) || st2.Dropped != 0 {
		t.Fatalf("after the outage: %+v, want %d published", st2, st.Spooled)
	}

	msgs := natstest.Messages(t, srv.URL(), DefaultStream)
	var got [][]byte
	ids := map[string]bool{}
	for _, m := range msgs {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if ids[id] {
			t.Errorf("message id %s twice in the stream", id)
		}
		ids[id] = true
		if m.Subject() == "sluice.north.dam-1.alert" {
			got = append(got, m.Data())
		}
	}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("the stream's alerts differ from the EVE output's:\n%q\nwant\n%q", got, want)
	}
}

// TestHubExactlyOnce: messages delivered twice (a sensor that sends its
// spool again after a crash, beyond the stream's duplicate window; a hub
// that reads the stream again) are written once, and the site's baseline
// in the fleet database is the sensor's own.
func TestHubExactlyOnce(t *testing.T) {
	srv := natstest.New(t)
	srv.Start()
	dir := t.TempDir()
	db := filepath.Join(dir, "base.db")
	var learn bytes.Buffer
	replay(t, testdata("sim_normal.pcap"), db, agent.ModeLearn, &learn, nil, nil)
	cfg := SensorConfig{URL: srv.URL(), Site: "north", Sensor: "dam-1", SpoolPath: filepath.Join(dir, "nats.spool")}
	s, _, err := NewSensor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var eve bytes.Buffer
	replay(t, testdata("sim_rogue_master.pcap"), db, agent.ModeMonitor, &eve, []agent.Sink{s}, s.Delta)
	if st := s.Close(); st.Spooled != 0 || st.Dropped != 0 {
		t.Fatalf("%+v", st)
	}
	want := len(alertLines(eve.Bytes()))

	fleetDB := filepath.Join(dir, "fleet.db")
	runHub := func(durable string) HubStats {
		ctx, cancel := context.WithCancel(context.Background())
		var st HubStats
		done := make(chan error, 1)
		go func() {
			var err error
			st, err = RunHub(ctx, HubConfig{URL: srv.URL(), DB: fleetDB, Durable: durable})
			done <- err
		}()
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		waitFor(t, "the hub to read the stream", func() bool {
			c, err := js.Consumer(context.Background(), DefaultStream, durable)
			if err != nil {
				return false
			}
			info, err := c.Info(context.Background())
			return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := runHub("hub-a")
	if first.Alerts != uint64(want) || first.Deltas == 0 || first.Duplicates != 0 || first.Rejected != 0 {
		t.Fatalf("first hub: %+v, want %d alerts and the baseline", first, want)
	}
	// A second durable reads everything again into the same database.
	st := runHub("hub-b")
	if st.Alerts != 0 || st.Deltas != 0 || st.Duplicates != first.Messages {
		t.Fatalf("second reading: %+v, want all %d messages recognised", st, first.Messages)
	}
	alerts, err := Alerts(fleetDB)
	if err != nil || len(alerts) != want {
		t.Fatalf("%d alerts in the fleet database (%v), want %d", len(alerts), err, want)
	}
	// The site's copy of the baseline is the sensor's: same SHA-256.
	site, err := SiteSnapshot(fleetDB, "north")
	if err != nil {
		t.Fatal(err)
	}
	sdb, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	own, err := sdb.Load()
	sdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := site.SHA256()
	b, _ := own.SHA256()
	if a != b || len(site.Devices) == 0 {
		t.Fatalf("site baseline %s (%d devices), sensor's %s", a, len(site.Devices), b)
	}
	os.Remove(fleetDB)
}

// TestSensorTLS: a server that takes only TLS clients with a certificate
// of its CA gets the sensor's alerts when the sensor verifies it and
// presents its own (--nats-ca, --nats-cert, --nats-key); a sensor without
// the client certificate is refused and keeps its alerts in the spool.
func TestSensorTLS(t *testing.T) {
	dir := t.TempDir()
	certs := testcerts.Write(t, dir)
	srv := natstest.NewTLS(t, certs)
	srv.Start()
	alert := &agent.Record{Type: agent.EventAlert, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Line: []byte(`{"timestamp":"2026-01-01T00:00:00.000000Z","event_type":"alert","alert":{"rule":"new_master"}}`)}
	for _, c := range []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"mutual TLS", []nats.Option{nats.RootCAs(certs.CA), nats.ClientCert(certs.ClientCert, certs.ClientKey)}, true},
		{"no client certificate", []nats.Option{nats.RootCAs(certs.CA)}, false},
	} {
		s, _, err := NewSensor(SensorConfig{URL: srv.URL(), Options: c.opts, Site: "north", Sensor: "dam-1",
			SpoolPath: filepath.Join(dir, c.name+".spool"), FlushTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s.Write(alert)
		if c.ok {
			waitFor(t, "the alert to be acknowledged", func() bool { return s.Stats().Published == 1 })
		} else {
			waitFor(t, "the alert to be spooled", func() bool { return s.Stats().Spooled == 1 })
		}
		st := s.Close()
		if c.ok != (st.Published == 1) || c.ok == (st.Spooled == 1) {
			t.Errorf("%s: %+v", c.name, st)
		}
		if !c.ok && st.LastError == "" {
			t.Errorf("%s: refused without a LastError", c.name)
		}
	}
}
