package agent

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// toUDP writes, for every TCP segment of in that carries payload, a UDP
// datagram with the same addresses, ports, payload and time: the DNP3
// sessions of a TCP capture as an outstation on UDP 20000 would carry
// them (IEEE 1815-2012 Annex C: whole frames in each datagram). whole
// says every payload starts with a link header (no frame the capture's TCP
// split across segments).
func toUDP(t *testing.T, in, out string) (n int, whole bool) {
	t.Helper()
	f, err := capture.OpenFile(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	w := pcapgo.NewWriter(o)
	if err := w.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	whole = true
	for {
		p, err := f.Next()
		if err == io.EOF {
			return n, whole
		}
		if err != nil {
			t.Fatal(err)
		}
		pkt := gopacket.NewPacket(p.Data, p.LinkType, gopacket.Default)
		eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip, _ := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if eth == nil || ip == nil || tcp == nil || len(tcp.Payload) == 0 {
			continue
		}
		whole = whole && bytes.HasPrefix(tcp.Payload, []byte{0x05, 0x64})
		ip4 := &layers.IPv4{Version: 4, TTL: ip.TTL, Protocol: layers.IPProtocolUDP, SrcIP: ip.SrcIP, DstIP: ip.DstIP}
		udp := &layers.UDP{SrcPort: layers.UDPPort(tcp.SrcPort), DstPort: layers.UDPPort(tcp.DstPort)}
		udp.SetNetworkLayerForChecksum(ip4)
		buf := gopacket.NewSerializeBuffer()
		e := &layers.Ethernet{SrcMAC: eth.SrcMAC, DstMAC: eth.DstMAC, EthernetType: layers.EthernetTypeIPv4}
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			e, ip4, udp, gopacket.Payload(tcp.Payload)); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(b), Length: len(b)}, b); err != nil {
			t.Fatal(err)
		}
		n++
	}
}

// TestDNP3OverUDP: DNP3 over UDP decodes, pairs, learns and alerts as over
// TCP. Every shared DNP3 capture, its TCP payloads re-sent as UDP
// datagrams, gives the same dnp3 objects in the same order and the same
// alert rules as the TCP capture, with proto "UDP" and a UDP Community
// ID; tshark decodes the datagrams as DNP3 too.
func TestDNP3OverUDP(t *testing.T) {
	tshark, _ := exec.LookPath("tshark")
	for _, path := range testpcaps.Files(t, "dnp3") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			udpFile := filepath.Join(t.TempDir(), "udp.pcap")
			n, whole := toUDP(t, path, udpFile)
			if n == 0 {
				t.Skip("no payload")
			}
			objects := func(file string, wantProto string) (dnp3 []string, rules []string) {
				for _, e := range parseEvents(t, replayFile(t, file, nil)) {
					switch {
					case e.EventType == "dnp3":
						if e.Proto != wantProto {
							t.Fatalf("%s event proto %s, want %s", file, e.Proto, wantProto)
						}
						dnp3 = append(dnp3, string(e.DNP3))
					case e.Alert != nil && !e.Alert.Update:
						rules = append(rules, strings.Join(e.Alert.Rules, "+"))
					}
				}
				return dnp3, rules
			}
			tcpObjs, tcpRules := objects(path, "TCP")
			udpObjs, udpRules := objects(udpFile, "UDP")
			if len(tcpObjs) == 0 {
				t.Skip("no DNP3 transaction")
			}
			if strings.Join(udpObjs, "\n") != strings.Join(tcpObjs, "\n") {
				t.Errorf("dnp3 objects differ: %d over UDP, %d over TCP", len(udpObjs), len(tcpObjs))
				for i := range min(len(udpObjs), len(tcpObjs)) {
					if udpObjs[i] != tcpObjs[i] {
						t.Errorf("first difference, transaction %d:\n udp %s\n tcp %s", i, udpObjs[i], tcpObjs[i])
						break
					}
				}
			}
			// A connection that is not DNP3 at all (the capture's bad
			// link header) is non_protocol_traffic on both.
			if strings.Join(udpRules, ",") != strings.Join(tcpRules, ",") {
				t.Errorf("alerts over UDP %v, over TCP %v", udpRules, tcpRules)
			}
			// tshark reassembles frames across TCP segments, not across
			// datagrams: compare where every datagram holds whole frames.
			if tshark != "" && whole {
				count := func(file string) int {
					out, err := exec.Command(tshark, "-r", file, "-Y", "dnp3", "-T", "fields", "-e", "frame.number").Output()
					if err != nil {
						t.Fatal(err)
					}
					return bytes.Count(out, []byte("\n"))
				}
				if u, c := count(udpFile), count(path); u != c {
					t.Errorf("tshark: %d DNP3 frames over UDP, %d over TCP", u, c)
				}
			}
		})
	}
}

// The Community ID of a UDP conversation is UDP's (protocol 17), on its
// dnp3 events and on its flow event, which counts every datagram.
func TestUDPCommunityID(t *testing.T) {
	files := testpcaps.Files(t, "dnp3")
	udpFile := filepath.Join(t.TempDir(), "udp.pcap")
	frames, _ := toUDP(t, files[0], udpFile)
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	out, err := exec.Command(tshark, "-r", udpFile, "--enable-protocol", "communityid", "-T", "fields", "-e", "communityid", "-c", "1").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(out))
	var dnp3, flows int
	for _, e := range parseEvents(t, replayFile(t, udpFile, nil)) {
		switch e.EventType {
		case "dnp3":
			dnp3++
			if e.CommunityID != want {
				t.Errorf("community_id %s, tshark %s", e.CommunityID, want)
			}
		case EventFlow:
			// The conversation's flow event: UDP, dnp3, every datagram.
			flows++
			if e.Proto != "UDP" || e.AppProto != "dnp3" || e.CommunityID != want || e.Flow.State != "established" ||
				int(e.Flow.PktsToServer+e.Flow.PktsToClient) != frames {
				t.Errorf("flow event %+v %+v, want UDP dnp3 %s established with %d datagrams", e, e.Flow, want, frames)
			}
		}
	}
	if dnp3 == 0 || flows != 1 {
		t.Errorf("%d dnp3 events, %d flow events", dnp3, flows)
	}
}
