package agent

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// TestAlertPcap: with --alert-pcap-dir every alert on a connection names a
// file that holds its connection's packets, from the handshake before the
// alert to the close after it, and that file replayed alone against the
// same baseline raises the same rules.
func TestAlertPcap(t *testing.T) {
	dir := t.TempDir()
	learned := filepath.Join(dir, "learned.db")
	replayFile(t, "../testdata/sim_normal.pcap", func(c *Config) { c.DBPath, c.Mode = learned, ModeLearn })
	baseline, err := os.ReadFile(learned)
	if err != nil {
		t.Fatal(err)
	}
	monitor := func(t *testing.T, pcap, pcapDir string) []event {
		db := filepath.Join(t.TempDir(), "m.db")
		if err := os.WriteFile(db, baseline, 0o600); err != nil {
			t.Fatal(err)
		}
		return parseEvents(t, replayFile(t, pcap, func(c *Config) {
			c.DBPath, c.Mode, c.AlertPcapDir = db, ModeMonitor, pcapDir
		}))
	}
	pcapDir := filepath.Join(dir, "alerts")
	evs := monitor(t, "../testdata/sim_rogue_master.pcap", pcapDir)
	files := 0
	for _, e := range evs {
		if e.Alert == nil {
			continue
		}
		if e.Alert.Update || e.FlowID == nil {
			if e.Alert.Pcap != "" {
				t.Errorf("%s without a connection names a file %s", e.Alert.Rule, e.Alert.Pcap)
			}
			continue
		}
		if e.Alert.Pcap == "" {
			t.Errorf("alert %s on a connection names no file", e.Alert.Rule)
			continue
		}
		files++
		path := filepath.Join(pcapDir, e.Alert.Pcap)
		pkts := readPcap(t, path)
		n := len(pkts)
		if n == 0 {
			t.Fatalf("%s: no packet", e.Alert.Pcap)
		}
		first, last := pkts[0], pkts[n-1]
		// The connection's SYN (flags 0x02 at offset 14+20+13) and its
		// last ACK: the whole connection, before and after the alert;
		// a process alert is raised on the HMI's polling connection,
		// open since before the ring's 60 s: its SYN is gone.
		syn := first.Data[14+20+13] == 0x02 || strings.HasPrefix(e.Alert.Rule, "process_")
		if n < 5 || !syn || last.Data[14+20+13]&0x10 == 0 {
			t.Errorf("%s: %d packets, first flags %#x", e.Alert.Pcap, n, first.Data[14+20+13])
		}
		// Replayed alone against the same baseline: the same rules.
		var again []string
		for _, r := range monitor(t, path, "") {
			if r.Alert != nil && !r.Alert.Update {
				again = append(again, r.Alert.Rules...)
			}
		}
		for _, rule := range e.Alert.Rules {
			if !slices.Contains(again, rule) {
				t.Errorf("%s replayed raises %v, not %s", e.Alert.Pcap, again, rule)
			}
		}
	}
	if files == 0 {
		t.Fatal("no alert named a file")
	}
	if n := statsPcapFiles(t, evs); n != files {
		t.Errorf("stats alert_pcap.files %d, alerts with files %d", n, files)
	}
}

// statsPcapFiles reads alert_pcap.files of the final stats event.
func statsPcapFiles(t *testing.T, evs []event) int {
	t.Helper()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Stats != nil {
			return int(evs[i].Stats.AlertPcap.Files)
		}
	}
	t.Fatal("no stats event")
	return 0
}

// TestAlertPcapCap: the directory stays under its cap, the oldest files
// removed first and counted.
func TestAlertPcapCap(t *testing.T) {
	dir := t.TempDir()
	// An old file of someone else's run counts against the cap too.
	if err := os.WriteFile(filepath.Join(dir, "0000000000000000-old.pcap"), make([]byte, 900), 0o600); err != nil {
		t.Fatal(err)
	}
	evs := parseEvents(t, replayFile(t, "../testdata/sim_rogue_master.pcap", func(c *Config) {
		c.LearnFor, c.AlertPcapDir, c.AlertPcapMaxBytes = time.Minute, dir, 1000
	}))
	named := 0
	for _, e := range evs {
		if e.Alert != nil && e.Alert.Pcap != "" {
			named++
		}
	}
	// Every file evicts the one before (each is larger than the cap):
	// the old one, then each but the newest.
	st := evs[len(evs)-1].Stats
	if st == nil || named < 2 || st.AlertPcap.Files != uint64(named) || st.AlertPcap.Evicted != uint64(named) {
		t.Fatalf("stats %+v, want the %d files of the alerts written and as many evicted (the old one, then all but the newest)", st, named)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() == "0000000000000000-old.pcap" {
		t.Errorf("directory %v, want the newest file only", ents)
	}
}

// TestPacketRing: the ring keeps whole packets, oldest dropped first by
// age and by room, and gives a connection's packets back in order.
func TestPacketRing(t *testing.T) {
	r := newPacketRing(1000, 10*time.Second)
	k1 := keyOf(netip.MustParseAddrPort("10.0.0.1:1000"), netip.MustParseAddrPort("10.0.0.2:502"))
	k2 := keyOf(netip.MustParseAddrPort("10.0.0.3:1000"), netip.MustParseAddrPort("10.0.0.2:502"))
	if keyOf(netip.MustParseAddrPort("10.0.0.2:502"), netip.MustParseAddrPort("10.0.0.1:1000")) != k1 {
		t.Fatal("the key depends on the direction")
	}
	t0 := time.Unix(1000, 0)
	var want []byte
	for i := range 200 {
		n := 30 + i%70
		data := bytes.Repeat([]byte{byte(i)}, n)
		k := k2
		if i%3 == 0 {
			k = k1
		}
		r.push(t0.Add(time.Duration(i)*10*time.Millisecond), data, n, k)
		if k == k1 && i >= 190 {
			want = append(want, byte(i))
		}
	}
	got := r.of(k1, nil)
	if len(got) == 0 {
		t.Fatal("nothing kept")
	}
	var firsts []byte
	for i, p := range got {
		if len(p.data) != 30+int(p.data[0])%70 || bytes.Count(p.data, p.data[:1]) != len(p.data) {
			t.Fatalf("packet %d damaged: %v", i, p.data)
		}
		if i > 0 && !p.ts.After(got[i-1].ts) {
			t.Fatalf("out of order")
		}
		firsts = append(firsts, p.data[0])
	}
	// The last of k1's packets are there: the newest always are.
	if !bytes.HasSuffix(firsts, want) {
		t.Errorf("k1's packets %v, want them to end with %v", firsts, want)
	}
	// Age: a packet 11 s later drops everything else.
	r.push(t0.Add(time.Hour), []byte{1, 2, 3}, 3, k2)
	if got := r.of(k1, nil); len(got) != 0 {
		t.Errorf("%d old packets kept past the ring's age", len(got))
	}
}

// TestAlertPcapUDP: an alert on a DNP3-over-UDP conversation gets its
// datagrams too.
func TestAlertPcapUDP(t *testing.T) {
	files := testpcaps.Files(t, "dnp3")
	var cold string
	for _, f := range files {
		if filepath.Base(f) == "iti_cold_restart_and_response.pcap" {
			cold = f
		}
	}
	if cold == "" {
		t.Skip("no iti_cold_restart_and_response.pcap")
	}
	dir := t.TempDir()
	udp := filepath.Join(dir, "udp.pcap")
	toUDP(t, cold, udp)
	evs := parseEvents(t, replayFile(t, udp, func(c *Config) { c.AlertPcapDir = filepath.Join(dir, "alerts") }))
	for _, e := range evs {
		if e.Alert == nil || e.Alert.Rule != "dnp3_restart" {
			continue
		}
		pkts := readPcap(t, filepath.Join(dir, "alerts", e.Alert.Pcap))
		for i, p := range pkts {
			if _, _, _, _, _, ok := parseUDP(p.Data, p.LinkType); !ok {
				t.Errorf("packet %d of the file is no UDP datagram", i)
			}
		}
		if n := len(pkts); n < 2 {
			t.Errorf("%d datagrams in %s, want the restart and its response", n, e.Alert.Pcap)
		}
		return
	}
	t.Fatal("no dnp3_restart alert over UDP")
}

// readPcap returns the packets of a capture file (their data copied).
func readPcap(t *testing.T, path string) []capture.Packet {
	t.Helper()
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []capture.Packet
	for {
		p, err := f.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		p.Data = bytes.Clone(p.Data)
		out = append(out, p)
	}
}
