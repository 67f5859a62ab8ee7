package agent

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

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
		case e.Alert != nil:
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
			whole := findings(evs)
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
				cut := findings(evs)
				var extra []string
				for k, n := range cut {
					// Bytes sent after a reset the capture lost are
					// traffic the whole capture hid (Zeek's HTTP GET
					// to port 502 after the scanner's RST): reporting
					// them is right.
					if droppedRST && k == "alert non_protocol_traffic" {
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
