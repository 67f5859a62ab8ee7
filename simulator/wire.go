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
	// The synthesized IT background (itside.go) draws from generators of
	// its own, so adding it leaves the ICS connections' ports, sequence
	// numbers and round trips as they were.
	itRng   *rand.Rand
	itPorts map[netip.Addr]uint16
	ipids   map[netip.Addr]uint16 // per-host IP id of UDP datagrams
}

func newWire(seed uint64) *wire {
	return &wire{
		rng:     rand.New(rand.NewPCG(seed, 0x77_1e)),
		ports:   map[netip.Addr]uint16{},
		buf:     gopacket.NewSerializeBuffer(),
		itRng:   rand.New(rand.NewPCG(seed, 0x17_5e7)),
		itPorts: map[netip.Addr]uint16{},
		ipids:   map[netip.Addr]uint16{},
	}
}

// tcpConn is one synthesized TCP connection.
type tcpConn struct {
	w        *wire
	rng      *rand.Rand // the wire's generator this connection draws from
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
func ephemeral(rng *rand.Rand, ports map[netip.Addr]uint16, ip netip.Addr) uint16 {
	p, ok := ports[ip]
	if !ok {
		p = uint16(49152 + rng.IntN(10000))
	}
	p++
	if p < 49152 {
		p = 49152
	}
	ports[ip] = p
	return p
}

// rtt is a LAN round trip: 150-450 µs.
func rtt(rng *rand.Rand) time.Duration { return time.Duration(150+rng.IntN(300)) * time.Microsecond }

// open synthesizes the three-way handshake at t and returns the connection
// and the time its final ACK is sent.
func (w *wire) open(cli, srv Host, port uint16, t time.Duration) (*tcpConn, time.Duration) {
	c := w.syn(w.rng, cli, srv, w.ephemeral(cli.IP), port, t)
	return c, c.accept(t)
}

func (w *wire) ephemeral(ip netip.Addr) uint16 { return ephemeral(w.rng, w.ports, ip) }

// mssOpt is the MSS option of both sides' SYNs.
var mssOpt = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{mss >> 8, mss & 0xff}}}

// syn starts a connection from cli:cport to srv:port with the client's SYN
// at t; the caller has the server accept, reject or ignore it.
func (w *wire) syn(rng *rand.Rand, cli, srv Host, cport, port uint16, t time.Duration) *tcpConn {
	c := &tcpConn{w: w, rng: rng, cli: cli, srv: srv, cport: cport, sport: port}
	c.next = [2]uint32{rng.Uint32(), rng.Uint32()}
	c.ipid = [2]uint16{uint16(rng.Uint32()), uint16(rng.Uint32())}
	c.emit(0, t, tcpFlags{syn: true}, nil, mssOpt)
	c.next[0]++
	return c
}

// accept answers the SYN sent at t with SYN/ACK and the client's ACK, and
// returns the time of that ACK.
func (c *tcpConn) accept(t time.Duration) time.Duration {
	d := rtt(c.rng)
	c.emit(1, t+d/2, tcpFlags{syn: true, ack: true}, nil, mssOpt)
	c.next[1]++
	c.emit(0, t+d, tcpFlags{ack: true}, nil, nil)
	return t + d
}

// reject answers the SYN sent at t with RST/ACK, as a closed port does.
func (c *tcpConn) reject(t time.Duration) time.Duration {
	c.finished = true
	return c.emit(1, t+rtt(c.rng)/2, tcpFlags{rst: true, ack: true}, nil, nil)
}

// abort resets the connection from side at t: with an ACK as a stack that
// drops an established connection does, without as a SYN scanner answers a
// SYN/ACK.
func (c *tcpConn) abort(side int, t time.Duration, ack bool) time.Duration {
	if c.finished {
		return t
	}
	c.finished = true
	c.flush(side, t)
	return c.emit(side, t, tcpFlags{rst: true, ack: ack}, nil, nil)
}

type tcpFlags struct{ syn, ack, psh, fin, rst bool }

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
	r := rtt(c.rng)
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
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: c.next[side],
		SYN: f.syn, ACK: f.ack, PSH: f.psh, FIN: f.fin, RST: f.rst, Window: tcpWindow, Options: opts}
	if f.ack {
		tcp.Ack = c.next[1-side]
	}
	c.w.frame(t, src, dst, c.ipid[side], layers.IPProtocolTCP, tcp, payload)
	c.ipid[side]++
	return t
}

// transport is a TCP or UDP header before serialization.
type transport interface {
	gopacket.SerializableLayer
	SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
}

// frame serializes one Ethernet/IPv4 frame from src to dst at t carrying l4
// and payload, with valid checksums.
func (w *wire) frame(t time.Duration, src, dst Host, ipid uint16, proto layers.IPProtocol, l4 transport, payload []byte) {
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
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: src.TTL, Flags: layers.IPv4DontFragment, Id: ipid,
		Protocol: proto, SrcIP: src.IP.AsSlice(), DstIP: dst.IP.AsSlice()}
	if err := l4.SetNetworkLayerForChecksum(ip); err != nil {
		panic(err) // ip is always an IPv4 layer
	}
	if err := gopacket.SerializeLayers(w.buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, l4, gopacket.Payload(payload)); err != nil {
		panic(fmt.Sprintf("simulator: serialize: %v", err)) // only on programming errors
	}
	w.segs = append(w.segs, segment{at: t, n: len(w.segs), data: slices.Clone(w.buf.Bytes())})
}

// udp sends one datagram from src:sport to dst:dport at t. UDP has no
// connection: the IT background's request and answer are two calls.
func (w *wire) udp(t time.Duration, src, dst Host, sport, dport uint16, payload []byte) {
	id, ok := w.ipids[src.IP]
	if !ok {
		id = uint16(w.itRng.Uint32())
	}
	w.ipids[src.IP] = id + 1
	w.frame(t, src, dst, id, layers.IPProtocolUDP, &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}, payload)
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
