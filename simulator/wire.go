package simulator

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Host is one machine on the plant network.
type Host struct {
	Name string
	IP   netip.Addr
	MAC  net.HardwareAddr
	// TTL is the initial IP TTL of its operating system (64 Linux and
	// embedded stacks, 128 Windows), minus one per router on the way to the
	// span port.
	TTL uint8
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err) // only called on constants below
	}
	return m
}

// The plant network. Control-network hosts are on 10.10.1.0/24, controllers
// on 10.10.2.0/24, both behind one router; the attacker is on another subnet,
// so its frames reach the span port with the router's MAC as source.
var (
	HostPLC      = Host{Name: "dam-plc", IP: netip.MustParseAddr("10.10.2.1"), MAC: mac("00:80:f4:12:34:01"), TTL: 64}
	HostUAServer = Host{Name: "dam-opcua", IP: netip.MustParseAddr("10.10.2.10"), MAC: mac("00:0e:8c:5a:10:0a"), TTL: 64}
	HostHMI      = Host{Name: "hmi", IP: netip.MustParseAddr("10.10.1.10"), MAC: mac("00:1b:21:aa:01:10"), TTL: 128}
	HostSCADA    = Host{Name: "scada-historian", IP: netip.MustParseAddr("10.10.1.20"), MAC: mac("00:1b:21:aa:01:20"), TTL: 128}
	HostEWS      = Host{Name: "engineering-ws", IP: netip.MustParseAddr("10.10.1.30"), MAC: mac("3c:52:82:aa:01:30"), TTL: 128}
	HostLaptop   = Host{Name: "contractor-laptop", IP: netip.MustParseAddr("10.10.1.77"), MAC: mac("f0:2f:74:aa:01:77"), TTL: 64}
	HostAttacker = Host{Name: "attacker", IP: netip.MustParseAddr("10.10.9.66"), MAC: mac("08:00:27:66:09:66"), TTL: 63}
)

// Port numbers of the two protocols (IANA: mbap 502, opcua-tcp 4840).
const (
	PortModbus = 502
	PortOPCUA  = 4840
)

// Timing of the simulated network and stacks.
const (
	mss        = 1460
	delayedAck = 40 * time.Millisecond // Linux/Windows delayed ACK
	tcpWindow  = 64240
)

// Epoch is the wall-clock time of simulated time 0 in captures.
var Epoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// segment is one synthesized frame before sorting.
type segment struct {
	at   time.Duration
	n    int // creation order, the tie-break that keeps sorting stable
	data []byte
}

// wire synthesizes Ethernet/IPv4/TCP frames for recorded connections. It is
// deterministic: ISNs, ports and delays come from its own seeded generator,
// never from the clock.
type wire struct {
	rng   *rand.Rand
	segs  []segment
	ports map[netip.Addr]uint16
	buf   gopacket.SerializeBuffer
}

func newWire(seed uint64) *wire {
	return &wire{
		rng:   rand.New(rand.NewPCG(seed, 0x77_1e)),
		ports: map[netip.Addr]uint16{},
		buf:   gopacket.NewSerializeBuffer(),
	}
}

// tcpConn is one synthesized TCP connection.
type tcpConn struct {
	w        *wire
	cli, srv Host
	cport    uint16
	sport    uint16
	next     [2]uint32        // next sequence number each side sends; 0 client, 1 server
	ipid     [2]uint16        // IP identification counters
	owes     [2]bool          // side owes the peer an ACK
	owesAt   [2]time.Duration // when its delayed ACK fires
	last     [2]time.Duration // time of the side's last frame, to keep them ordered
	finished bool
}

// ephemeral picks the next source port of ip (Windows and Linux both walk a
// range from a random start).
func (w *wire) ephemeral(ip netip.Addr) uint16 {
	p, ok := w.ports[ip]
	if !ok {
		p = uint16(49152 + w.rng.IntN(10000))
	}
	p++
	if p < 49152 {
		p = 49152
	}
	w.ports[ip] = p
	return p
}

// rtt is a LAN round trip: 150-450 µs.
func (w *wire) rtt() time.Duration { return time.Duration(150+w.rng.IntN(300)) * time.Microsecond }

// open synthesizes the three-way handshake at t and returns the connection
// and the time its final ACK is sent.
func (w *wire) open(cli, srv Host, port uint16, t time.Duration) (*tcpConn, time.Duration) {
	c := &tcpConn{w: w, cli: cli, srv: srv, cport: w.ephemeral(cli.IP), sport: port}
	c.next = [2]uint32{w.rng.Uint32(), w.rng.Uint32()}
	c.ipid = [2]uint16{uint16(w.rng.Uint32()), uint16(w.rng.Uint32())}
	mssOpt := []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{mss >> 8, mss & 0xff}}}
	c.emit(0, t, tcpFlags{syn: true}, nil, mssOpt)
	c.next[0]++
	r := w.rtt()
	c.emit(1, t+r/2, tcpFlags{syn: true, ack: true}, nil, mssOpt)
	c.next[1]++
	c.emit(0, t+r, tcpFlags{ack: true}, nil, nil)
	return c, t + r
}

type tcpFlags struct{ syn, ack, psh, fin bool }

// flush sends side's owed ACK if it fires before t.
func (c *tcpConn) flush(side int, t time.Duration) {
	if c.owes[side] && c.owesAt[side] <= t {
		c.emit(side, c.owesAt[side], tcpFlags{ack: true}, nil, nil)
	}
}

// data sends payload from side at t, in MSS-sized segments, and returns the
// time of the last one. The peer now owes an ACK.
func (c *tcpConn) data(side int, t time.Duration, payload []byte) time.Duration {
	if c.finished {
		return t
	}
	c.flush(side, t)
	for len(payload) > 0 {
		n := min(len(payload), mss)
		t = c.emit(side, t, tcpFlags{ack: true, psh: n == len(payload)}, payload[:n], nil)
		c.next[side] += uint32(n)
		payload = payload[n:]
		if len(payload) > 0 {
			t += 12 * time.Microsecond // back-to-back at 1 Gbit/s
		}
	}
	c.owes[1-side] = true
	c.owesAt[1-side] = t + delayedAck
	return t
}

// close sends a FIN from side at t; the peer answers with its own FIN at once
// (both applications close on EOF) and side ACKs it. It returns the time of
// the last frame.
func (c *tcpConn) close(side int, t time.Duration) time.Duration {
	if c.finished {
		return t
	}
	c.finished = true
	c.flush(side, t)
	t = c.emit(side, t, tcpFlags{fin: true, ack: true}, nil, nil)
	c.next[side]++
	r := c.w.rtt()
	t2 := t + r/2
	c.flush(1-side, t2)
	c.emit(1-side, t2, tcpFlags{fin: true, ack: true}, nil, nil)
	c.next[1-side]++
	return c.emit(side, t+r, tcpFlags{ack: true}, nil, nil)
}

// finish sends the ACKs still owed at the end of the capture.
func (c *tcpConn) finish(end time.Duration) {
	for side := range 2 {
		if c.owes[side] && c.owesAt[side] < end {
			c.emit(side, c.owesAt[side], tcpFlags{ack: true}, nil, nil)
		}
	}
}

// emit serializes one frame from side.
//
// Frames of one connection never go back in time: an action that starts
// while the connection is still busy with an earlier one waits for it, as a
// client with one connection and one outstanding request does. emit returns
// the time it used.
func (c *tcpConn) emit(side int, t time.Duration, f tcpFlags, payload []byte, opts []layers.TCPOption) time.Duration {
	t = max(t, c.last[0], c.last[1])
	c.last[side] = t
	c.owes[side] = false
	src, dst := c.cli, c.srv
	sport, dport := c.cport, c.sport
	if side == 1 {
		src, dst = dst, src
		sport, dport = dport, sport
	}
	srcMAC, dstMAC := src.MAC, dst.MAC
	// Routed hosts (outside the plant's 10.10.1-2.x segment) reach the
	// span port through the router: their frames carry its MAC.
	if routed(src.IP) {
		srcMAC = routerMAC
	}
	if routed(dst.IP) {
		dstMAC = routerMAC
	}
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: src.TTL, Flags: layers.IPv4DontFragment, Id: c.ipid[side],
		Protocol: layers.IPProtocolTCP, SrcIP: src.IP.AsSlice(), DstIP: dst.IP.AsSlice()}
	c.ipid[side]++
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: c.next[side],
		SYN: f.syn, ACK: f.ack, PSH: f.psh, FIN: f.fin, Window: tcpWindow, Options: opts}
	if f.ack {
		tcp.Ack = c.next[1-side]
	}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err) // ip is always an IPv4 layer
	}
	buf := c.w.buf
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		panic(fmt.Sprintf("simulator: serialize: %v", err)) // only on programming errors
	}
	c.w.segs = append(c.w.segs, segment{at: t, n: len(c.w.segs), data: slices.Clone(buf.Bytes())})
	return t
}

// routerMAC is the plant router's (a VRRP virtual MAC).
var routerMAC = mac("00:00:5e:00:01:01")

func routed(ip netip.Addr) bool {
	a := ip.As4()
	return a[0] != 10 || a[1] != 10 || a[2] > 2
}

// writePcap writes every frame, ordered by time, as a classic pcap file
// (microsecond timestamps, LINKTYPE_ETHERNET).
func (w *wire) writePcap(out io.Writer) error {
	slices.SortStableFunc(w.segs, func(a, b segment) int {
		if a.at != b.at {
			if a.at < b.at {
				return -1
			}
			return 1
		}
		return a.n - b.n
	})
	pw := pcapgo.NewWriter(out)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return fmt.Errorf("pcap header: %w", err)
	}
	for _, s := range w.segs {
		ts := Epoch.Add(s.at).Truncate(time.Microsecond)
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(s.data), Length: len(s.data)}
		if err := pw.WritePacket(ci, s.data); err != nil {
			return fmt.Errorf("pcap packet: %w", err)
		}
	}
	return nil
}
