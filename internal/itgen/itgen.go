// Package itgen writes ordinary IT traffic, the background a control
// network's span port carries beside its ICS protocols: TCP connections to
// HTTPS (443), SMB (445) and RDP (3389) servers, each a handshake, a short
// request and a bulk answer in full-sized (1514-byte) frames acknowledged
// every second segment, and a FIN exchange; and a DNS query and its answer
// over UDP after each. None of it is on an ICS decoder's port. The live
// capture measurement (scripts/itpcap, scripts/live-veth-bench.sh) and
// the benchmark's mixed capture (internal/benchtool) use it.
package itgen

import (
	"net"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Frames returns how many frames Write writes for conns connections of
// segs bulk segments each.
func Frames(conns, segs int) int { return conns * (4 + segs + segs/2 + 3 + 2) }

// Write writes conns connections of segs bulk segments each to w (a pcap
// writer whose header is written), one frame every gap from start.
func Write(w *pcapgo.Writer, conns, segs int, start time.Time, gap time.Duration) error {
	ts := start
	buf := gopacket.NewSerializeBuffer()
	emit := func(ls ...gopacket.SerializableLayer) error {
		ts = ts.Add(gap)
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			return err
		}
		b := buf.Bytes()
		return w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)}, b)
	}
	cmac, smac := net.HardwareAddr{2, 0, 0, 0, 1, 1}, net.HardwareAddr{2, 0, 0, 0, 2, 2}
	ports := []uint16{443, 445, 3389}
	bulk := make([]byte, 1448)
	for i := range bulk {
		bulk[i] = byte(i)
	}
	for c := range conns {
		cip, sip := net.IP{10, 20, byte(c / 250), byte(1 + c%250)}, net.IP{10, 30, 0, byte(1 + c%3)}
		sport, dport := uint16(40000+c%20000), ports[c%len(ports)]
		var cseq, sseq uint32 = 1000, 5000
		pkt := func(fromClient bool, flags string, payload []byte) error {
			eth := &layers.Ethernet{SrcMAC: cmac, DstMAC: smac, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cip, DstIP: sip}
			tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: cseq, Ack: sseq, Window: 65535}
			if !fromClient {
				eth.SrcMAC, eth.DstMAC = smac, cmac
				ip.SrcIP, ip.DstIP = sip, cip
				tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack = tcp.DstPort, tcp.SrcPort, sseq, cseq
			}
			for _, fl := range flags {
				switch fl {
				case 'S':
					tcp.SYN = true
				case 'A':
					tcp.ACK = true
				case 'F':
					tcp.FIN = true
				case 'P':
					tcp.PSH = true
				}
			}
			tcp.SetNetworkLayerForChecksum(ip)
			n := uint32(len(payload))
			if tcp.SYN || tcp.FIN {
				n++
			}
			if fromClient {
				cseq += n
			} else {
				sseq += n
			}
			return emit(eth, ip, tcp, gopacket.Payload(payload))
		}
		steps := []func() error{
			func() error { return pkt(true, "S", nil) },
			func() error { return pkt(false, "SA", nil) },
			func() error { return pkt(true, "A", nil) },
			func() error { return pkt(true, "PA", bulk[:200]) },
		}
		for s := range segs {
			steps = append(steps, func() error { return pkt(false, "A", bulk) })
			if s%2 == 1 {
				steps = append(steps, func() error { return pkt(true, "A", nil) })
			}
		}
		steps = append(steps,
			func() error { return pkt(false, "FA", nil) },
			func() error { return pkt(true, "FA", nil) },
			func() error { return pkt(false, "A", nil) },
			func() error { return dns(emit, cmac, smac, cip, uint16(c)) },
		)
		for _, s := range steps {
			if err := s(); err != nil {
				return err
			}
		}
	}
	return nil
}

// dns emits a query for an A record and its answer.
func dns(emit func(...gopacket.SerializableLayer) error, cmac, smac net.HardwareAddr, cip net.IP, id uint16) error {
	server := net.IP{10, 30, 0, 53}
	q := &layers.DNS{ID: id, RD: true, Questions: []layers.DNSQuestion{{Name: []byte("historian.plant.example"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
	for i, fromClient := range []bool{true, false} {
		eth := &layers.Ethernet{SrcMAC: cmac, DstMAC: smac, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: cip, DstIP: server}
		udp := &layers.UDP{SrcPort: layers.UDPPort(50000 + id%10000), DstPort: 53}
		if !fromClient {
			eth.SrcMAC, eth.DstMAC = smac, cmac
			ip.SrcIP, ip.DstIP = server, cip
			udp.SrcPort, udp.DstPort = udp.DstPort, udp.SrcPort
		}
		if i == 1 {
			q.QR = true
			q.Answers = []layers.DNSResourceRecord{{Name: q.Questions[0].Name, Type: layers.DNSTypeA, Class: layers.DNSClassIN, TTL: 300, IP: net.IP{10, 30, 0, 9}}}
		}
		udp.SetNetworkLayerForChecksum(ip)
		if err := emit(eth, ip, udp, q); err != nil {
			return err
		}
	}
	return nil
}
