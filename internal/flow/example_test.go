package flow_test

import (
	"fmt"
	"net"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/sluice-ics/sluice/internal/flow"
)

// printer is a Stream that prints what the table hands it.
type printer struct{ c *flow.Conn }

func (p printer) Data(dir flow.Dir, data []byte, ts time.Time) {
	fmt.Printf("flow %d %s %q\n", p.c.ID, dir, data)
}
func (p printer) Gap(dir flow.Dir, lost int, ts time.Time) {
	fmt.Printf("flow %d %s lost %d bytes\n", p.c.ID, dir, lost)
}
func (p printer) Close(r flow.CloseReason, ts time.Time) {
	fmt.Printf("flow %d closed: %s\n", p.c.ID, r)
}

// frame serialises one Ethernet/IPv4/TCP frame.
func frame(src, dst string, sport, dport uint16, seq, ack uint32, flags string, payload string) []byte {
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack, Window: 8192}
	for _, f := range flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'F':
			tcp.FIN = true
		}
	}
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	tcp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload))
	return buf.Bytes()
}

// A connection whose second request segment is captured before the first:
// the table delivers the bytes in order, then closes on the FINs.
func ExampleTable() {
	tab := flow.NewTable(flow.Config{}, func(c *flow.Conn, ts time.Time) flow.Stream {
		fmt.Printf("flow %d: %s:%d → %s:%d\n", c.ID, c.Key.ClientIP, c.Key.ClientPort, c.Key.ServerIP, c.Key.ServerPort)
		return printer{c}
	})
	ts := time.Date(2026, 11, 21, 22, 33, 0, 0, time.UTC)
	const c, s = "10.0.1.10", "10.0.0.1"
	for _, f := range [][]byte{
		frame(c, s, 40000, 502, 100, 0, "S", ""),
		frame(s, c, 502, 40000, 900, 101, "SA", ""),
		frame(c, s, 40000, 502, 106, 901, "A", "world"), // out of order
		frame(c, s, 40000, 502, 101, 901, "A", "hello"),
		frame(s, c, 502, 40000, 901, 111, "A", "ok"),
		frame(c, s, 40000, 502, 111, 903, "AF", ""),
		frame(s, c, 502, 40000, 903, 112, "AF", ""),
	} {
		ts = ts.Add(time.Millisecond)
		tab.Handle(f, layers.LinkTypeEthernet, ts)
	}
	st := tab.Stats()
	fmt.Printf("packets %d, out of order %d, active %d\n", st.Packets, st.OutOfOrder, st.FlowsActive)
	// Output:
	// flow 1: 10.0.1.10:40000 → 10.0.0.1:502
	// flow 1 to_server "hello"
	// flow 1 to_server "world"
	// flow 1 to_client "ok"
	// flow 1 closed: fin
	// packets 7, out of order 1, active 0
}
