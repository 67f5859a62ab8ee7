package modbus

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// pcapDir returns the folder of real Modbus captures or skips the test.
func pcapDir(t testing.TB) string {
	t.Helper()
	return testpcaps.Dir(t, "modbus")
}

func pcapFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(pcapDir(t), "*.pcap"))
	if err != nil || len(files) == 0 {
		t.Skipf("no captures in %s", pcapDir(t))
	}
	sort.Strings(files)
	return files
}

// segment is one TCP payload in capture order.
type segment struct {
	frame   int // 1-based frame number, as tshark counts
	ts      time.Time
	payload []byte
	gap     bool // bytes are missing before this segment
}

// testStream is one direction of one TCP connection, naively reassembled:
// retransmitted bytes are dropped, a jump in sequence numbers starts a new
// piece (a gap). Good enough for clean public captures; the real reassembly
// lives in internal/flow.
type testStream struct {
	src, dst netip.AddrPort
	toServer bool // dst port 502
	sawSYN   bool
	segs     []segment
	pieces   [][]byte // contiguous byte runs between gaps
	next     uint32
	started  bool
}

func (s *testStream) bytes() []byte {
	var b []byte
	for _, p := range s.pieces {
		b = append(b, p...)
	}
	return b
}

// readStreams extracts every TCP direction with a payload from a capture.
func readStreams(t testing.TB, path string) []*testStream {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	type key struct{ src, dst netip.AddrPort }
	byKey := map[key]*testStream{}
	var order []*testStream
	frame := 0
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			t.Logf("%s: stop at frame %d: %v", filepath.Base(path), frame+1, err)
			break
		}
		frame++
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tl, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tl == nil {
			continue
		}
		var sip, dip netip.Addr
		switch nl := pkt.NetworkLayer().(type) {
		case *layers.IPv4:
			sip, _ = netip.AddrFromSlice(nl.SrcIP.To4())
			dip, _ = netip.AddrFromSlice(nl.DstIP.To4())
		case *layers.IPv6:
			sip, _ = netip.AddrFromSlice(nl.SrcIP)
			dip, _ = netip.AddrFromSlice(nl.DstIP)
		default:
			continue
		}
		k := key{netip.AddrPortFrom(sip, uint16(tl.SrcPort)), netip.AddrPortFrom(dip, uint16(tl.DstPort))}
		s := byKey[k]
		if s == nil {
			s = &testStream{src: k.src, dst: k.dst, toServer: tl.DstPort == 502}
			byKey[k] = s
			order = append(order, s)
		}
		if tl.SYN {
			s.sawSYN, s.started, s.next = true, true, tl.Seq+1
			continue
		}
		p := tl.Payload
		if len(p) == 0 {
			continue
		}
		seq := tl.Seq
		gap := false
		switch {
		case !s.started:
			s.started, s.next = true, seq
			s.pieces = append(s.pieces, nil)
		case seq == s.next:
			if len(s.pieces) == 0 {
				s.pieces = append(s.pieces, nil)
			}
		case int32(seq-s.next) < 0: // retransmission or overlap
			skip := int(s.next - seq)
			if skip >= len(p) {
				continue
			}
			p, seq = p[skip:], s.next
		default: // gap
			s.pieces = append(s.pieces, nil)
			gap = true
		}
		cp := append([]byte(nil), p...)
		s.segs = append(s.segs, segment{frame: frame, ts: ci.Timestamp, payload: cp, gap: gap})
		s.pieces[len(s.pieces)-1] = append(s.pieces[len(s.pieces)-1], cp...)
		s.next = seq + uint32(len(p))
	}
	var out []*testStream
	for _, s := range order {
		if len(s.segs) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// frameAll frames b in one call with a fresh Framer (resync mode unless
// strict) and returns copies of the ADUs and the error.
func frameAll(b []byte, strict bool) ([]ADU, error) {
	var f Framer
	if !strict {
		f.Resync()
	}
	var out []ADU
	err := f.Feed(b, func(a ADU) {
		a.PDU = append([]byte(nil), a.PDU...)
		out = append(out, a)
	})
	return out, err
}
