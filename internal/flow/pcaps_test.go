package flow

import (
	"errors"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// pcapsDir returns the shared real captures folder or skips the test.
func pcapsDir(t testing.TB) string {
	t.Helper()
	return testpcaps.Dir(t)
}

// realCaptures returns every shared Modbus and OPC UA capture or skips.
func realCaptures(t testing.TB) []string { return testpcaps.Files(t, "modbus", "opcua") }

// dirKey names one direction of one connection by its sender.
type dirKey struct {
	src, dst     string
	sport, dport uint16
}

// collector is a Stream that sums delivered and lost bytes per direction.
type collector struct {
	c      *Conn
	counts map[dirKey]*dirCount
	closed bool
	t      testing.TB
}

type dirCount struct{ data, lost int }

func (c *collector) key(dir Dir) dirKey {
	k := c.c.Key
	if dir == ClientToServer {
		return dirKey{k.ClientIP.String(), k.ServerIP.String(), k.ClientPort, k.ServerPort}
	}
	return dirKey{k.ServerIP.String(), k.ClientIP.String(), k.ServerPort, k.ClientPort}
}

func (c *collector) count(dir Dir) *dirCount {
	k := c.key(dir)
	if c.counts[k] == nil {
		c.counts[k] = &dirCount{}
	}
	return c.counts[k]
}

func (c *collector) Data(dir Dir, data []byte, ts time.Time) {
	if c.closed {
		c.t.Errorf("flow %d: Data after Close", c.c.ID)
	}
	c.count(dir).data += len(data)
}
func (c *collector) Gap(dir Dir, lost int, ts time.Time) { c.count(dir).lost += lost }
func (c *collector) Close(r CloseReason, ts time.Time) {
	if c.closed {
		c.t.Errorf("flow %d: closed twice", c.c.ID)
	}
	c.closed = true
}

// replay feeds a capture file through a Table of collectors.
func replay(t testing.TB, path string, cfg Config) (Stats, map[dirKey]*dirCount) {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	counts := map[dirKey]*dirCount{}
	tab := NewTable(cfg, func(c *Conn, ts time.Time) Stream {
		return &collector{c: c, counts: counts, t: t}
	})
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tab.Packet(&p)
	}
	tab.Close()
	return tab.Stats(), counts
}

// tsharkDirs asks Wireshark for the TCP packet count and the payload bytes
// per direction, counting a segment unless Wireshark flags it as a
// retransmission of bytes it already saw, and the number of its TCP streams
// that have a SYN or payload (one made only of ACKs, FINs or resets starts no
// flow here). Payload after a reset is not counted: the receiver discards it,
// and so does the flow table. A "spurious" retransmission (data
// the peer had acknowledged before the capture saw it: the two directions
// were captured slightly out of order) is the first copy the capture holds,
// so it counts.
func tsharkDirs(t *testing.T, tshark, path string) (frames map[int]tsharkSeg, sums map[dirKey]int, streams int) {
	t.Helper()
	out, err := exec.Command(tshark, "-r", path, "-Y", "tcp", "-T", "fields",
		"-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
		"-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.len",
		"-e", "tcp.analysis.retransmission", "-e", "tcp.analysis.spurious_retransmission",
		"-e", "tcp.stream", "-e", "tcp.flags.syn", "-e", "tcp.flags.reset",
		"-e", "frame.number", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw", "-e", "tcp.flags").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	frames, sums = map[int]tsharkSeg{}, map[dirKey]int{}
	started, reset := map[string]bool{}, map[string]bool{}
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 16 {
			t.Fatalf("tshark line %q", line)
		}
		sp, _ := strconv.Atoi(f[4])
		dp, _ := strconv.Atoi(f[5])
		l, _ := strconv.Atoi(f[6])
		k := dirKey{f[0] + f[1], f[2] + f[3], uint16(sp), uint16(dp)}
		if (f[7] == "" || f[8] != "") && !reset[f[9]] {
			sums[k] += l
		}
		if l > 0 || f[10] == "1" || f[10] == "True" {
			started[f[9]] = true
		}
		if f[11] == "1" || f[11] == "True" {
			reset[f[9]] = true
		}
		num, _ := strconv.Atoi(f[12])
		seq, _ := strconv.ParseUint(f[13], 10, 32)
		ack, _ := strconv.ParseUint(f[14], 10, 32)
		flags, _ := strconv.ParseUint(strings.TrimPrefix(f[15], "0x"), 16, 16)
		frames[num] = tsharkSeg{k, uint32(seq), uint32(ack), uint8(flags), l}
	}
	return frames, sums, len(started)
}

// tsharkSeg is Wireshark's reading of one TCP segment.
type tsharkSeg struct {
	dir      dirKey
	seq, ack uint32
	flags    uint8 // FIN, SYN, RST, PSH, ACK, URG bits
	len      int
}

// decodeAll decodes every frame of a capture, by frame number (from 1).
func decodeAll(t *testing.T, path string) map[int]tsharkSeg {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	d := NewDecoder()
	segs := map[int]tsharkSeg{}
	for num := 1; ; num++ {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			return segs
		}
		if err != nil {
			t.Fatal(err)
		}
		s, err := d.Decode(p.Data, p.LinkType)
		if err != nil || s == nil {
			continue
		}
		addr := func(b [16]byte) string {
			if s.V6 {
				return netip.AddrFrom16(b).String()
			}
			return netip.AddrFrom4([4]byte(b[:4])).String()
		}
		n := len(s.Payload)
		if p.Length > len(p.Data) { // snapped: the IP header's claim counts, as in Table
			n += min(s.Missing, p.Length-len(p.Data))
		}
		segs[num] = tsharkSeg{dirKey{addr(s.Src), addr(s.Dst), s.SrcPort, s.DstPort}, s.Seq, s.Ack,
			s.Flags & (flagFIN | flagSYN | flagRST | flagACK), n}
	}
}

// TestRealCaptures replays every shared capture through the table. Always:
// no decode error (outside the deliberately fuzzed files), nothing left
// buffered or tracked after Close. With tshark installed: the same number of
// TCP packets with the same addresses, ports, sequence and acknowledgement
// numbers, flags and payload length, the same connections, and, per direction of every connection, the same number of
// stream bytes (delivered plus reported lost) as Wireshark's TCP analysis.
// The fuzzed files scramble sequence numbers, so a byte count is not defined
// for them; only the packet count is compared there.
func TestRealCaptures(t *testing.T) {
	tshark, _ := exec.LookPath("tshark")
	for _, path := range realCaptures(t) {
		name := filepath.Base(path)
		fuzzed := strings.Contains(name, "fuzz")
		t.Run(name, func(t *testing.T) {
			st, counts := replay(t, path, Config{ServerPort: func(p uint16) bool { return p == 502 || p == 4840 }})
			if st.DecodeErrors != 0 && !fuzzed {
				t.Errorf("%d decode errors", st.DecodeErrors)
			}
			if st.BufferedBytes != 0 || st.FlowsActive != 0 || st.RecoveredPanics != 0 {
				t.Errorf("after Close: %+v", st)
			}
			if st.TCPPackets == 0 || st.FlowsCreated == 0 {
				t.Fatalf("no TCP: %+v", st)
			}
			if tshark == "" {
				t.Logf("tshark not installed: not cross-checked (%d TCP packets)", st.TCPPackets)
				return
			}
			frames, want, streams := tsharkDirs(t, tshark, path)
			if uint64(len(frames)) != st.TCPPackets {
				t.Errorf("%d TCP packets, tshark %d", st.TCPPackets, len(frames))
			}
			ours := decodeAll(t, path)
			bad := 0
			for num, ts := range frames {
				ts.flags &= flagFIN | flagSYN | flagRST | flagACK
				if got, ok := ours[num]; !ok || got != ts {
					if bad++; bad <= 3 {
						t.Errorf("frame %d: decoded %+v, tshark %+v", num, got, ts)
					}
				}
			}
			if fuzzed {
				return
			}
			if st.FlowsCreated != uint64(streams) {
				t.Errorf("%d flows, tshark %d streams with a SYN or payload", st.FlowsCreated, streams)
			}
			for k, w := range want {
				got := 0
				if c := counts[k]; c != nil {
					got = c.data + c.lost
				}
				if got != w {
					t.Errorf("%v: %d stream bytes, tshark %d", k, got, w)
				}
			}
		})
	}
}
