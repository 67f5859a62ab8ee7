package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"golang.org/x/net/bpf"
)

// TestDefaultFilterChangesNothing replays the simulator's captures with IT
// background added (bulk TCP on 445 and 443 in full-sized frames, large UDP
// datagrams) twice: once every frame whole, as replay reads a file, and once
// as the live capture's default kernel filter would deliver it, each frame
// cut to the length the filter program monitor builds for the default
// ports returns (run in x/net/bpf's
// interpreter) with its wire length kept. The two outputs must be the same
// byte for byte: the decoders get every byte they need, the stats count
// the same packets and wire bytes, and the bytes the filter cut are not
// counted as loss (issue #11 §1 and §3).
func TestDefaultFilterChangesNothing(t *testing.T) {
	var frames []gopacket.CaptureInfo
	var datas [][]byte
	for _, name := range []string{"sim_normal.pcap", "sim_rogue_master.pcap"} {
		f, err := capture.OpenFile(filepath.Join("..", "..", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		for {
			p, err := f.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(p.Data), Length: p.Length})
			datas = append(datas, bytes.Clone(p.Data))
		}
		f.Close()
	}
	// IT background, after the ICS traffic's last timestamp.
	ts := frames[len(frames)-1].Timestamp
	for _, b := range itBackground(t) {
		ts = ts.Add(time.Millisecond)
		frames = append(frames, gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)})
		datas = append(datas, b)
	}

	tcpPorts, udpPorts := filterPorts(agent.DefaultConfig(io.Discard).Ports)
	raw, err := capture.SnapFilter(tcpPorts, udpPorts, capture.DefaultSnapOther)
	if err != nil {
		t.Fatal(err)
	}
	insns, _ := bpf.Disassemble(raw)
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, cut bool) (string, int) {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w := pcapgo.NewWriter(f)
		if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
			t.Fatal(err)
		}
		n := 0
		for i, ci := range frames {
			d := datas[i]
			if cut {
				keep, err := vm.Run(d)
				if err != nil {
					t.Fatal(err)
				}
				if keep == 0 {
					t.Fatalf("frame %d dropped by the filter: every frame here is IP", i)
				}
				if keep < len(d) {
					d = d[:keep]
					n++
				}
			}
			ci.CaptureLength = len(d)
			if err := w.WritePacket(ci, d); err != nil {
				t.Fatal(err)
			}
		}
		return path, n
	}
	whole, _ := write("whole.pcap", false)
	snapped, n := write("snapped.pcap", true)
	if n < 100 {
		t.Fatalf("only %d frames cut: the IT background does not exercise the filter", n)
	}
	var outs [2][]byte
	for i, in := range []string{whole, snapped} {
		out := filepath.Join(dir, filepath.Base(in)+".json")
		if code, stderr := runCmd(t, runReplay, in, "-o", out); code != 0 {
			t.Fatalf("replay %s: exit %d: %s", in, code, stderr)
		}
		if outs[i], err = os.ReadFile(out); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Contains(outs[0], []byte(`"event_type":"modbus"`)) || !bytes.Contains(outs[0], []byte(`"event_type":"alert"`)) {
		t.Fatal("the replay wrote no modbus event or no alert: nothing to compare")
	}
	if !bytes.Equal(outs[0], outs[1]) {
		a, b := bytes.Split(outs[0], []byte("\n")), bytes.Split(outs[1], []byte("\n"))
		for i := range min(len(a), len(b)) {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("%d frames cut by the default filter changed the output: line %d\nwhole:   %s\nsnapped: %s", n, i+1, a[i], b[i])
			}
		}
		t.Fatalf("%d frames cut by the default filter changed the output: %d lines, %d with every frame whole", n, len(b), len(a))
	}
	t.Logf("%d of %d frames cut to %d bytes; %d output bytes identical", n, len(frames), capture.DefaultSnapOther, len(outs[0]))
}

// itBackground builds frames no decoder reads: TCP connections to SMB and
// HTTPS servers carrying 1448-byte segments both ways, and 1200-byte UDP
// datagrams, between the simulator's hosts and others.
func itBackground(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	buf := gopacket.NewSerializeBuffer()
	ser := func(ls ...gopacket.SerializableLayer) {
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(buf.Bytes()))
	}
	payload := bytes.Repeat([]byte("SMB-or-TLS-bulk-"), 1448/16)
	macA, macB := net.HardwareAddr{2, 0, 0, 0, 0xa, 1}, net.HardwareAddr{2, 0, 0, 0, 0xb, 2}
	for c := range 10 {
		a, b := net.IP{10, 0, 9, byte(10 + c)}, net.IP{10, 0, 9, 200}
		sport, dport := layers.TCPPort(50000+c), layers.TCPPort([]int{445, 443}[c%2])
		seqA, seqB := uint32(1000), uint32(9000)
		seg := func(fromA bool, syn, ack, fin bool, data []byte) {
			eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
			ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: a, DstIP: b}
			tcp := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: seqA, Ack: seqB, SYN: syn, ACK: ack, FIN: fin, Window: 65535}
			if !fromA {
				eth.SrcMAC, eth.DstMAC, ip.SrcIP, ip.DstIP = macB, macA, b, a
				tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack = dport, sport, seqB, seqA
			}
			tcp.SetNetworkLayerForChecksum(ip)
			ser(eth, ip, tcp, gopacket.Payload(data))
			n := uint32(len(data))
			if syn || fin {
				n++
			}
			if fromA {
				seqA += n
			} else {
				seqB += n
			}
		}
		seg(true, true, false, false, nil)
		seg(false, true, true, false, nil)
		seg(true, false, true, false, nil)
		for range 8 {
			seg(true, false, true, false, payload)
			seg(false, false, true, false, payload)
		}
		seg(true, false, true, true, nil)
		seg(false, false, true, true, nil)
		seg(true, false, true, false, nil)

		eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: a, DstIP: b}
		udp := &layers.UDP{SrcPort: 5353, DstPort: 5353}
		udp.SetNetworkLayerForChecksum(ip)
		ser(eth, ip, udp, gopacket.Payload(payload[:1200]))
	}
	return out
}
