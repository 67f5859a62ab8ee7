// Command itpcap writes a capture of ordinary IT traffic, the background a
// control network's span port carries beside its ICS protocols, for the live
// capture measurement (scripts/live-veth-bench.sh --mixed; issue #11 §7):
// TCP connections to HTTPS (443), SMB (445) and RDP (3389) servers, each a
// handshake, a short request and a bulk answer in full-sized (1514-byte)
// frames acknowledged every second segment, and a FIN exchange; and DNS
// queries and answers over UDP. None of it is on a decoder's port, so the
// default kernel filter cuts every one of its frames to --snap-other bytes.
//
//	go run ./scripts/itpcap -o it.pcap -conns 200 -segs 100
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	out := flag.String("o", "it.pcap", "write the capture to `FILE`")
	conns := flag.Int("conns", 200, "`N` TCP connections")
	segs := flag.Int("segs", 100, "full-sized segments the server sends on each connection")
	flag.Parse()
	if err := write(*out, *conns, *segs); err != nil {
		fmt.Fprintln(os.Stderr, "itpcap:", err)
		os.Exit(1)
	}
}

func write(path string, conns, segs int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	ts := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	buf := gopacket.NewSerializeBuffer()
	emit := func(ls ...gopacket.SerializableLayer) error {
		ts = ts.Add(20 * time.Microsecond)
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
	return f.Close()
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
