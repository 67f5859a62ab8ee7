package flow

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sluice-ics/sluice/internal/capture"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzTable seeds from the real captures")

// fuzzLinkTypes are the link types a FuzzTable input's first byte selects.
var fuzzLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeLinuxSLL,
	layers.LinkTypeLinuxSLL2, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6,
}

// encodeFrames packs frames for FuzzTable: one link-type byte, then each
// frame as a 2-byte big-endian length and its bytes.
func encodeFrames(lt layers.LinkType, frames [][]byte) []byte {
	sel := byte(0)
	for i, l := range fuzzLinkTypes {
		if l == lt {
			sel = byte(i)
		}
	}
	out := []byte{sel}
	for _, f := range frames {
		f = f[:min(len(f), 0xffff)]
		out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
		out = append(out, f...)
	}
	return out
}

// checkedStream fails the test on any call after Close, and logs every call.
type checkedStream struct {
	t      *testing.T
	closed bool
	id     uint64
	log    *[]string
}

func (s *checkedStream) Data(dir Dir, data []byte, ts time.Time) {
	if s.closed || len(data) == 0 || dir > ServerToClient {
		s.t.Fatalf("flow %d: Data(%v, %d bytes) closed=%v", s.id, dir, len(data), s.closed)
	}
	*s.log = append(*s.log, fmt.Sprintf("%d data %v %q %s", s.id, dir, data, ts.Format(time.RFC3339Nano)))
}

func (s *checkedStream) Gap(dir Dir, lost int, ts time.Time) {
	if s.closed || lost <= 0 {
		s.t.Fatalf("flow %d: Gap(%v, %d) closed=%v", s.id, dir, lost, s.closed)
	}
	*s.log = append(*s.log, fmt.Sprintf("%d gap %v %d %s", s.id, dir, lost, ts.Format(time.RFC3339Nano)))
}

func (s *checkedStream) Close(r CloseReason, ts time.Time) {
	if s.closed {
		s.t.Fatalf("flow %d: closed twice", s.id)
	}
	s.closed = true
	*s.log = append(*s.log, fmt.Sprintf("%d close %v %s", s.id, r, ts.Format(time.RFC3339Nano)))
}

// FuzzTable feeds arbitrary frames through decoding, the flow table and
// reassembly with small caps (so eviction, gap and cap paths are reached):
// nothing panics, no Stream is called after its Close, and Close leaves
// nothing tracked or buffered. Each input runs twice, with and without
// the segment fast path: the Stream calls and the counters must not differ.
func FuzzTable(f *testing.F) {
	f.Add(encodeFrames(layers.LinkTypeEthernet, [][]byte{ethFrame(f, v4seg), ethFrame(f, withVLAN(v6seg, true, 1, 2))}))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		fast, fastStats := runFuzzTable(t, in, false)
		slow, slowStats := runFuzzTable(t, in, true)
		if fastStats != slowStats {
			t.Fatalf("stats with the fast path %+v\nwithout %+v", fastStats, slowStats)
		}
		if d := firstDiff(fast, slow); d != "" {
			t.Fatalf("Stream calls with and without the fast path differ: %s", d)
		}
	})
}

// firstDiff describes the first difference between two call logs.
func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("call %d: %s vs %s", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d calls vs %d", len(a), len(b))
	}
	return ""
}

// runFuzzTable runs one FuzzTable input (link-type byte, then frames) and
// returns the Stream calls and the final counters.
func runFuzzTable(t *testing.T, in []byte, slowOnly bool) ([]string, Stats) {
	lt := fuzzLinkTypes[int(in[0])%len(fuzzLinkTypes)]
	in = in[1:]
	var log []string
	var streams []*checkedStream
	obs := &checkedObserver{t: t, log: &log, first: map[uint64]bool{}, ended: map[uint64]bool{}}
	tab := NewTable(Config{MaxFlows: 4, MaxBufferedPerFlow: 64, MaxSegmentsPerFlow: 4, MaxBufferedTotal: 128,
		IdleTimeout: 50 * time.Millisecond, GapTimeout: 10 * time.Millisecond, AttemptTimeout: 20 * time.Millisecond,
		DatagramTimeout: 30 * time.Millisecond, MaxDatagramConvs: 3, Observer: obs},
		func(c *Conn, ts time.Time) Stream {
			if c.ID%5 == 4 {
				return nil // some flows are of no interest
			}
			s := &checkedStream{t: t, id: c.ID, log: &log}
			streams = append(streams, s)
			return s
		})
	tab.slowOnly = slowOnly
	ts := time.Unix(1_700_000_000, 0)
	for len(in) >= 2 {
		n := int(binary.BigEndian.Uint16(in))
		in = in[2:]
		n = min(n, len(in))
		// Every third frame counts as snapped (longer on the wire
		// than captured), to reach the lost-tail path.
		wire := n
		if n%3 == 0 {
			wire += 100
		}
		tab.Packet(&capture.Packet{Data: in[:n], Length: wire, LinkType: lt, Timestamp: ts})
		in = in[n:]
		ts = ts.Add(time.Duration(n%7) * time.Millisecond)
	}
	tab.Close()
	st := tab.Stats()
	if st.FlowsActive != 0 || st.BufferedBytes != 0 || st.RecoveredPanics != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	for _, s := range streams {
		if !s.closed {
			t.Fatalf("flow %d never closed", s.id)
		}
	}
	if tab.sniffHeld != 0 {
		t.Fatalf("after Close, %d first bytes still held", tab.sniffHeld)
	}
	if n := uint64(len(obs.ended)); n != st.FlowsCreated+st.DatagramConvs {
		t.Fatalf("%d conversations ended, %d TCP and %d datagram ones created", n, st.FlowsCreated, st.DatagramConvs)
	}
	if obs.pkts != st.TCPPackets-st.Stray+obs.datagramPkts {
		t.Fatalf("conversations counted %d packets; the table %d TCP (%d stray)", obs.pkts, st.TCPPackets, st.Stray)
	}
	return log, st
}

// checkedObserver checks the Observer's contract: FirstBytes at most once
// per conversation and before its end, Ended exactly once; it logs both
// and sums the packets the conversations counted.
type checkedObserver struct {
	t                  *testing.T
	log                *[]string
	first, ended       map[uint64]bool
	pkts, datagramPkts uint64
}

func (o *checkedObserver) FirstBytes(c *Conn, toServer, toClient []byte, ts time.Time) {
	if o.first[c.ID] || o.ended[c.ID] {
		o.t.Fatalf("conversation %d: FirstBytes again or after its end", c.ID)
	}
	if len(toServer) > sniffMax || len(toClient) > sniffMax {
		o.t.Fatalf("conversation %d: first bytes %d and %d, more than %d", c.ID, len(toServer), len(toClient), sniffMax)
	}
	o.first[c.ID] = true
	*o.log = append(*o.log, fmt.Sprintf("%d first %d %d %s", c.ID, len(toServer), len(toClient), ts.Format(time.RFC3339Nano)))
}

func (o *checkedObserver) Ended(c *Conn, s *Summary) {
	if o.ended[c.ID] {
		o.t.Fatalf("conversation %d ended twice", c.ID)
	}
	if s.End.Before(s.Start) {
		o.t.Fatalf("conversation %d ends %v before it starts %v", c.ID, s.End, s.Start)
	}
	o.ended[c.ID] = true
	o.pkts += s.Pkts[0] + s.Pkts[1]
	if c.Transport != TransportTCP {
		o.datagramPkts += s.Pkts[0] + s.Pkts[1]
	}
	*o.log = append(*o.log, fmt.Sprintf("%d end %v %v %v %v", c.ID, s.State, s.Reason, s.Pkts, s.Bytes))
}

// TestWriteFuzzSeeds regenerates FuzzTable's seed corpus from the real
// captures: go test -run TestWriteFuzzSeeds -update-seeds ./internal/flow/
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzTable")
	}
	dir := pcapsDir(t)
	for _, s := range []struct {
		file       string
		skip, take int
	}{
		{"modbus/zeek_modbusSmall.pcap", 0, 40},
		{"modbus/iti_ModbusTCP.pcap", 100, 40},
		{"modbus/zeek_fuzz-72.pcap", 0, 36},
		{"modbus/zeek_fuzz-1011.pcap", 0, 6},
		{"modbus/zeek_modbus-and-non-modbus-p502.pcap", 0, 40},
		{"opcua/icsnpp_open62541_client-server-getEndpoints.pcap", 0, 22},
		{"opcua/icsnpp_opcua_with-gap.pcap", 10, 30},
	} {
		src, err := capture.OpenFile(filepath.Join(dir, s.file))
		if err != nil {
			t.Fatal(err)
		}
		var frames [][]byte
		var lt layers.LinkType
		for i := 0; len(frames) < s.take; i++ {
			p, err := src.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if i >= s.skip {
				lt = p.LinkType
				frames = append(frames, append([]byte(nil), p.Data...))
			}
		}
		src.Close()
		name := filepath.Join("testdata", "fuzz", "FuzzTable", strings.TrimSuffix(filepath.Base(s.file), ".pcap"))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", encodeFrames(lt, frames))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
