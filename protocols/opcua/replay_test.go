package opcua

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// pcapDir returns the folder of real OPC UA captures or skips the test.
func pcapDir(t testing.TB) string {
	t.Helper()
	return testpcaps.Dir(t, "opcua")
}

func capturePath(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(pcapDir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("capture %s absent: %v", name, err)
	}
	return p
}

// segment is one TCP segment with payload or flags.
type segment struct {
	ts       time.Time
	src, dst netip.AddrPort
	seq      uint32
	syn, ack bool
	payload  []byte
}

// readSegments reads a pcap or pcapng file (told apart by magic number)
// and returns its TCP segments.
func readSegments(t testing.TB, path string) []segment {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	type source interface {
		ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	}
	var (
		src  source
		link layers.LinkType
	)
	if bytes.HasPrefix(raw, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("pcapng %s: %v", path, err)
		}
		src, link = r, r.LinkType()
	} else {
		r, err := pcapgo.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("pcap %s: %v", path, err)
		}
		src, link = r, r.LinkType()
	}
	var out []segment
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		p := gopacket.NewPacket(data, link, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tcpL, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok {
			continue
		}
		var sa, da netip.Addr
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			sa, _ = netip.AddrFromSlice(ip.SrcIP.To4())
			da, _ = netip.AddrFromSlice(ip.DstIP.To4())
		case *layers.IPv6:
			sa, _ = netip.AddrFromSlice(ip.SrcIP)
			da, _ = netip.AddrFromSlice(ip.DstIP)
		default:
			continue
		}
		out = append(out, segment{
			ts:  ci.Timestamp,
			src: netip.AddrPortFrom(sa, uint16(tcpL.SrcPort)), dst: netip.AddrPortFrom(da, uint16(tcpL.DstPort)),
			seq: tcpL.Seq, syn: tcpL.SYN, ack: tcpL.ACK,
			payload: append([]byte(nil), tcpL.Payload...),
		})
	}
	return out
}

// replayConn is the test's minimal TCP reassembly: in order, drops
// retransmitted bytes, reports holes as gaps.
type replayConn struct {
	client   netip.AddrPort
	known    bool
	next     [2]uint32
	started  [2]bool
	conn     *Conn
	mid      bool
	feedErrs int
}

// replay runs every TCP connection of a capture through a Conn and
// returns the messages in emission order. serverPorts decide direction
// when the SYN is missing.
func replay(t testing.TB, path string, cfg Config) ([]*Message, []*Conn) {
	m, c, _ := replayPorts(t, path, cfg)
	return m, c
}

// replayPorts is replay that also returns the server ports seen.
func replayPorts(t testing.TB, path string, cfg Config) ([]*Message, []*Conn, map[uint16]bool) {
	t.Helper()
	var msgs []*Message
	type key struct{ a, b netip.AddrPort }
	conns := map[key]*replayConn{}
	var order []*Conn
	isServerPort := func(p uint16) bool { return p == 4840 || p == 48010 }
	var last time.Time
	for _, s := range readSegments(t, path) {
		last = s.ts
		k := key{s.src, s.dst}
		if s.dst.Port() < s.src.Port() || (s.dst.Port() == s.src.Port() && s.dst.Addr().Less(s.src.Addr())) {
			k = key{s.dst, s.src}
		}
		rc := conns[k]
		if rc == nil {
			rc = &replayConn{}
			rc.conn = NewConn(cfg, func(m *Message) { msgs = append(msgs, m) })
			conns[k] = rc
			order = append(order, rc.conn)
		}
		if !rc.known {
			switch {
			case s.syn && !s.ack:
				rc.client, rc.known = s.src, true
			case s.syn && s.ack:
				rc.client, rc.known = s.dst, true
			case isServerPort(s.dst.Port()):
				rc.client, rc.known, rc.mid = s.src, true, true
			case isServerPort(s.src.Port()):
				rc.client, rc.known, rc.mid = s.dst, true, true
			case len(s.payload) >= 3 && string(s.payload[:3]) == "HEL":
				rc.client, rc.known = s.src, true
			case len(s.payload) > 0:
				rc.client, rc.known, rc.mid = s.src, true, true
			default:
				continue
			}
			if rc.mid {
				rc.conn.MidStream()
			}
		}
		d := 0
		if s.src != rc.client {
			d = 1
		}
		seq := s.seq
		if s.syn {
			rc.next[d], rc.started[d] = seq+1, true
			continue
		}
		if len(s.payload) == 0 {
			continue
		}
		if !rc.started[d] {
			rc.next[d], rc.started[d] = seq, true
		}
		p := s.payload
		diff := int32(seq - rc.next[d])
		switch {
		case diff < 0: // retransmission, maybe with new bytes
			if int(-diff) >= len(p) {
				continue
			}
			p = p[-diff:]
		case diff > 0:
			rc.conn.Gap(d == 1)
		}
		rc.next[d] = seq + uint32(diff) + uint32(len(s.payload))
		if diff < 0 {
			rc.next[d] = seq + uint32(len(s.payload))
		}
		var err error
		if d == 0 {
			err = rc.conn.FeedClient(p, s.ts)
		} else {
			err = rc.conn.FeedServer(p, s.ts)
		}
		if err != nil {
			rc.feedErrs++
		}
	}
	for _, c := range order {
		c.Close(last)
	}
	ports := map[uint16]bool{}
	for k, rc := range conns {
		if rc.known {
			if rc.client == k.a {
				ports[k.b.Port()] = true
			} else {
				ports[k.a.Port()] = true
			}
		}
	}
	return msgs, order, ports
}
