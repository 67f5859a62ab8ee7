package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// Issue #16 §1: packets a span port or a capture lost are a fact of the
// capture, not of the plant. These tests replay real captures with packets
// taken out and hold that no alert appears that the whole capture did not
// raise: lost responses are not failed requests (no scan, no new device),
// a decoder looking for its footing after a loss is not malformed traffic.

// dropSource is a capture without some of its packets (1-based numbers, as
// Wireshark counts them; editcap's "editcap in out N...").
type dropSource struct {
	capture.Source
	drop map[int]bool
	n    int
	// droppedRST: one of the packets taken out was a TCP reset.
	droppedRST bool
}

func (d *dropSource) Next() (capture.Packet, error) {
	for {
		p, err := d.Source.Next()
		if err != nil {
			return p, err
		}
		d.n++
		if !d.drop[d.n] {
			return p, nil
		}
		pkt := gopacket.NewPacket(p.Data, p.LinkType, gopacket.NoCopy)
		if tcp, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && tcp.RST {
			d.droppedRST = true
		}
	}
}

// replayCut replays the capture at path without the given packets and
// tells whether one of them was a TCP reset.
func replayCut(t testing.TB, path string, drop ...int) (evs []event, droppedRST bool) {
	t.Helper()
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := &dropSource{Source: f, drop: map[int]bool{}}
	for _, n := range drop {
		src.drop[n] = true
	}
	var out bytes.Buffer
	if _, err := Run(context.Background(), DefaultConfig(&out), src); err != nil {
		t.Fatalf("replay %s without %v: %v", path, drop, err)
	}
	return parseEvents(t, out.Bytes()), src.droppedRST
}

// findings are the alert rules and the anomaly kinds of a run, counted.
func findings(evs []event) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		switch {
		case e.Alert != nil && !e.Alert.Update: // updates only count repeats
			m["alert "+e.Alert.Rule]++
		case e.Anomaly != nil:
			m["anomaly "+e.Anomaly.Event]++
		}
	}
	return m
}

// TestCaptureLossIsNoAttack replays the two cuts that made Sluice cry wolf
// before issue #16: ITI's Modbus capture without one response (packet
// 8336: the requests waiting for it were counted as failed, five failures
// made a scan alert) and Zeek's port-502 capture without packets 22, 36
// and 85 (a look-alike MBAP header after the loss: a malformed alert and
// new_device alerts for the garbage's unit ids).
func TestCaptureLossIsNoAttack(t *testing.T) {
	dir := pcapsDir(t)
	for _, c := range []struct {
		file string
		drop []int
	}{
		{"modbus/iti_ModbusTCP.pcap", []int{8336}},
		{"modbus/zeek_modbus-and-non-modbus-p502.pcap", []int{22, 36, 85}},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			path := filepath.Join(dir, c.file)
			whole := findings(parseEvents(t, replayFile(t, path, nil)))
			evs, _ := replayCut(t, path, c.drop...)
			cut := findings(evs)
			if cut["anomaly capture_loss"] == 0 {
				t.Errorf("no capture_loss anomaly without packets %v: %v", c.drop, cut)
			}
			for k, n := range cut {
				if strings.HasPrefix(k, "alert ") && n > whole[k] {
					t.Errorf("without packets %v: %d %q, the whole capture %d", c.drop, n, k, whole[k])
				}
			}
			for _, k := range []string{"anomaly malformed", "alert malformed"} {
				if cut[k] > whole[k] {
					t.Errorf("without packets %v: %d %q, the whole capture %d", c.drop, cut[k], k, whole[k])
				}
			}
		})
	}
}

// TestRandomCuts takes three random packets out of every shared capture,
// several times over (fixed seeds: the same cuts every run), and requires
// that no cut raises an alert rule more often than the whole capture did.
// Zeek's fuzz captures are left out: they are a fuzzer's TCP garbage, where
// what a cut leaves is as malformed as the rest (SLUICE_CUTS=n runs n
// variants per capture instead of 12, SLUICE_CUT_PACKETS=n cuts n packets
// instead of 3).
func TestRandomCuts(t *testing.T) {
	files := testpcaps.Files(t, "modbus", "opcua", "dnp3")
	variants, perCut := 12, 3
	if n, err := strconv.Atoi(os.Getenv("SLUICE_CUTS")); err == nil && n > 0 {
		variants = n
	}
	if n, err := strconv.Atoi(os.Getenv("SLUICE_CUT_PACKETS")); err == nil && n > 0 {
		perCut = n
	}
	for _, path := range files {
		if strings.Contains(filepath.Base(path), "fuzz") {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			evs := parseEvents(t, replayFile(t, path, nil))
			whole := anomalyAlerts(findings(evs))
			packets := 0
			for _, e := range evs {
				if e.Stats != nil {
					packets = int(e.Stats.Packets)
				}
			}
			if packets < 2*perCut {
				t.Skipf("%d packets", packets)
			}
			rng := rand.New(rand.NewSource(int64(packets)))
			for v := 0; v < variants; v++ {
				drop := make([]int, perCut)
				for i := range drop {
					drop[i] = 1 + rng.Intn(packets)
				}
				sort.Ints(drop)
				evs, droppedRST := replayCut(t, path, drop...)
				cut := anomalyAlerts(findings(evs))
				var extra []string
				for k, n := range cut {
					// Bytes sent after a reset the capture lost are
					// traffic the whole capture hid (Zeek's HTTP GET
					// to port 502 after the scanner's RST): reporting
					// them (non_protocol_traffic, counted with
					// malformed) is right.
					if droppedRST && k == "alert malformed" {
						continue
					}
					if strings.HasPrefix(k, "alert ") && n > whole[k] {
						extra = append(extra, fmt.Sprintf("%s %d (whole: %d)", k, n, whole[k]))
					}
				}
				if len(extra) > 0 {
					sort.Strings(extra)
					t.Errorf("without packets %v: %s", drop, strings.Join(extra, ", "))
				}
			}
		})
	}
}

// anomalyAlerts counts malformed and non_protocol_traffic alerts as one
// (both are a connection's protocol anomaly): a connection whose only
// well-formed frame the cut removed has nothing left to show it speaks the
// protocol, and its broken bytes are then another protocol, not a broken
// one (ITI's DNP3 capture whose master sends 0x05 0x05 after the
// outstation's one unsolicited response). The number of such alerts may
// not grow.
func anomalyAlerts(m map[string]int) map[string]int {
	if n := m["alert non_protocol_traffic"]; n > 0 {
		m["alert malformed"] += n
		delete(m, "alert non_protocol_traffic")
	}
	return m
}

// windowSource is a capture cut to the packets whose time lies in
// [from, to) after its first packet: one of several captures of the same
// plant with gaps between them.
type windowSource struct {
	capture.Source
	from, to time.Duration
	start    time.Time
}

func (w *windowSource) Next() (capture.Packet, error) {
	for {
		p, err := w.Source.Next()
		if err != nil {
			return p, err
		}
		if w.start.IsZero() {
			w.start = p.Timestamp
		}
		if d := p.Timestamp.Sub(w.start); d >= w.from && d < w.to {
			return p, nil
		}
	}
}

// simWindows opens testdata/sim_normal.pcap once per window.
func simWindows(t *testing.T, windows ...[2]time.Duration) []capture.Source {
	t.Helper()
	var srcs []capture.Source
	for _, w := range windows {
		f, err := capture.OpenFile("../testdata/sim_normal.pcap")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		srcs = append(srcs, &windowSource{Source: f, from: w[0], to: w[1]})
	}
	return srcs
}

// learnedPolls learns from srcs (one run over all, or one run each with
// the same database when separate) and returns every poll's rhythm by
// channel and key.
func learnedPolls(t *testing.T, separate bool, srcs ...capture.Source) map[string]baselines.Rhythm {
	t.Helper()
	db := filepath.Join(t.TempDir(), "b.db")
	runs := [][]capture.Source{srcs}
	if separate {
		runs = nil
		for _, s := range srcs {
			runs = append(runs, []capture.Source{s})
		}
	}
	for _, r := range runs {
		cfg := DefaultConfig(io.Discard)
		cfg.DBPath, cfg.Mode = db, ModeLearn
		if _, err := Run(context.Background(), cfg, r...); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := st.Load()
	if err != nil {
		t.Fatal(err)
	}
	polls := map[string]baselines.Rhythm{}
	for _, c := range snap.Channels {
		for k, r := range c.Polls() {
			polls[fmt.Sprintf("%v %v", c.Key, k)] = *r
		}
	}
	return polls
}

// TestPollsAcrossCaptureGaps: the same plant learned from three captures
// with gaps between them (one replay of several files, or one run per
// file) learns the poll periods of one continuous capture within 5 %,
// and judging the gapped captures against the continuous baseline raises
// no poll_stopped for time nobody captured (issue #16 §1).
func TestPollsAcrossCaptureGaps(t *testing.T) {
	// 0-60 s, 75-95 s, 105-120 s of the simulator's 2-minute normal
	// capture: the last gap leaves the 5 s polls three repetitions to
	// recover from a 15 s interval, were it learned.
	windows := [][2]time.Duration{{0, 60 * time.Second}, {75 * time.Second, 95 * time.Second}, {105 * time.Second, 2 * time.Minute}}
	whole := learnedPolls(t, false, simWindows(t, [2]time.Duration{0, time.Hour})...)
	if len(whole) < 9 {
		t.Fatalf("the continuous capture learned %d polls", len(whole))
	}
	for _, separate := range []bool{false, true} {
		got := learnedPolls(t, separate, simWindows(t, windows...)...)
		for k, w := range whole {
			if w.Samples < 20 {
				// Too slow to repeat ten times in the 75 s the
				// windows keep (the DNP3 master's 10 s event poll
				// and 60 s integrity poll): nothing to compare.
				continue
			}
			g, ok := got[k]
			if !ok {
				t.Errorf("separate=%v: poll %s not learned", separate, k)
				continue
			}
			if d := math.Abs(float64(g.Period-w.Period)) / float64(w.Period); d > 0.05 {
				t.Errorf("separate=%v: poll %s period %s, continuous %s (%.0f %% off)", separate, k, g.Period, w.Period, 100*d)
			}
			if !g.Regular(10) {
				t.Errorf("separate=%v: poll %s not regular (%s ± %s, %d samples)", separate, k, g.Period, g.Jitter, g.Samples)
			}
		}
	}
	// Judged against the continuous baseline, in one replay of the three.
	db := filepath.Join(t.TempDir(), "m.db")
	cfg := DefaultConfig(io.Discard)
	cfg.DBPath, cfg.Mode = db, ModeLearn
	if _, err := Run(context.Background(), cfg, simWindows(t, [2]time.Duration{0, time.Hour})...); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfg = DefaultConfig(&out)
	cfg.DBPath, cfg.Mode = db, ModeMonitor
	if _, err := Run(context.Background(), cfg, simWindows(t, windows...)...); err != nil {
		t.Fatal(err)
	}
	// The holes inside connections are reported (capture_loss), and
	// nothing else.
	for k, n := range findings(parseEvents(t, out.Bytes())) {
		if k != "anomaly capture_loss" {
			t.Errorf("monitoring the gapped captures: %d %s", n, k)
		}
	}
}
