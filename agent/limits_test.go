package agent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/protocols/opcua"
)

// uaIntermediate is an OPC UA MSG intermediate chunk ('C') of request id
// id carrying body.
func uaIntermediate(id uint32, body []byte) []byte {
	b := make([]byte, 24, 24+len(body))
	copy(b, "MSGC")
	binary.LittleEndian.PutUint32(b[4:], uint32(24+len(body)))
	binary.LittleEndian.PutUint32(b[8:], 1)   // secure channel
	binary.LittleEndian.PutUint32(b[12:], 1)  // token
	binary.LittleEndian.PutUint32(b[16:], id) // sequence number
	binary.LittleEndian.PutUint32(b[20:], id) // request id
	return append(b, body...)
}

// TestUnfinishedOPCUABudget is issue #15's reproduction at a size CI can
// afford: 24 OPC UA connections that start chunked messages and never
// finish them hold no more than the shared cap together (they held 31 MB
// each before it), one resource_limit anomaly names the cap, the stats
// count what was refused, and every byte comes back when the connections
// end.
func TestUnfinishedOPCUABudget(t *testing.T) {
	var out bytes.Buffer
	cfg := DefaultConfig(&out)
	cfg.MaxUnfinishedTotal = 1 << 20
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	budget := a.shared[opcuaModule.index].(*opcua.Budget)
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	piece := make([]byte, 8000)
	var streams []flow.Stream
	for i := range 24 {
		s := a.newStream(testConn(fmt.Sprintf("10.0.0.%d", i+1), "10.0.1.1", 40000, 4840), ts)
		streams = append(streams, s)
		for j := range 100 { // 800 kB each if nothing refused it
			s.Data(flow.ClientToServer, uaIntermediate(7, piece), ts.Add(time.Duration(i*100+j)*time.Millisecond))
			if budget.Used() > cfg.MaxUnfinishedTotal {
				t.Fatalf("connection %d: %d bytes held, cap %d", i, budget.Used(), cfg.MaxUnfinishedTotal)
			}
		}
	}
	if budget.Used() == 0 {
		t.Fatal("nothing held: the first connections' messages fit the cap")
	}
	st := a.Stats()
	limited := st.Protocol("opcua").ResourceLimited
	if limited == 0 || limited != budget.Refused() {
		t.Fatalf("resource_limited %d, budget refused %d", limited, budget.Refused())
	}
	for _, s := range streams {
		s.Close(flow.CloseFIN, ts.Add(time.Minute))
	}
	if budget.Used() != 0 {
		t.Fatalf("%d bytes still held after every connection ended", budget.Used())
	}
	a.Close()
	var anomalies int
	for _, e := range parseEvents(t, out.Bytes()) {
		if e.EventType == EventAnomaly && e.Anomaly.Event == anomalyLimit {
			anomalies++
			if !strings.Contains(e.Anomaly.Detail, "opcua_unfinished cap of 1048576") {
				t.Errorf("detail %q does not name the cap", e.Anomaly.Detail)
			}
		}
	}
	if anomalies != 1 {
		t.Errorf("%d resource_limit anomalies within a minute, want 1", anomalies)
	}
	if !bytes.Contains(out.Bytes(), []byte(`"resource_limited":`)) {
		t.Error("the stats event does not count resource_limited")
	}
}

// TestFlowCapReported: spoofed SYNs beyond the flow table's cap evict the
// oldest flows, and the agent says so with one resource_limit anomaly per
// minute of traffic instead of growing.
func TestFlowCapReported(t *testing.T) {
	var out bytes.Buffer
	cfg := DefaultConfig(&out)
	cfg.MaxFlows = 64
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := net.IPv4(10, 10, 2, 1).To4()
	// 3,000 SYNs over 150 s of packet time: three windows.
	for i := range 3000 {
		cli := net.IPv4(172, 16, byte(i>>8), byte(i)).To4()
		eth := layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}, DstMAC: net.HardwareAddr{0, 0x80, 0xf4, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
		ip := layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cli, DstIP: srv}
		tcp := layers.TCP{SrcPort: layers.TCPPort(1024 + i), DstPort: 502, Seq: uint32(i), SYN: true, Window: 1024}
		if err := tcp.SetNetworkLayerForChecksum(&ip); err != nil {
			t.Fatal(err)
		}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, &eth, &ip, &tcp); err != nil {
			t.Fatal(err)
		}
		p := capture.Packet{Timestamp: ts.Add(time.Duration(i) * 50 * time.Millisecond), Data: sb.Bytes(), Length: len(sb.Bytes()), LinkType: layers.LinkTypeEthernet}
		a.packet(&p)
	}
	a.Close()
	st := a.Stats()
	if st.Evictions == 0 {
		t.Fatal("no flow evicted")
	}
	var anomalies int
	for _, e := range parseEvents(t, out.Bytes()) {
		if e.EventType == EventAnomaly && e.Anomaly.Event == anomalyLimit {
			anomalies++
			if !strings.Contains(e.Anomaly.Detail, "flows cap of 64") {
				t.Errorf("detail %q", e.Anomaly.Detail)
			}
		}
	}
	if anomalies < 2 || anomalies > 3 {
		t.Errorf("%d resource_limit anomalies over 150 s, want one per minute (2-3)", anomalies)
	}
}

// TestBaselineCapsReported: a baseline whose inventory and channels are
// full says so with resource_limit anomalies naming the caps, and the
// replay goes on to its end.
func TestBaselineCapsReported(t *testing.T) {
	var events []event
	for _, caps := range [][2]int{{2, 0}, {0, 1}} {
		out := replayFile(t, "../testdata/sim_normal.pcap", func(c *Config) {
			c.MaxDevices, c.MaxChannels = caps[0], caps[1]
		})
		events = append(events, parseEvents(t, out)...)
	}
	var devices, channels, stats int
	for _, e := range events {
		switch {
		case e.EventType == EventAnomaly && e.Anomaly.Event == anomalyLimit:
			if strings.Contains(e.Anomaly.Detail, "devices cap of 2 ") {
				devices++
			}
			if strings.Contains(e.Anomaly.Detail, "channels cap of 1 ") {
				channels++
			}
		case e.EventType == "stats":
			stats++
		}
	}
	if devices == 0 || channels == 0 || stats != 2 {
		t.Fatalf("devices cap anomalies %d, channels %d, stats events %d", devices, channels, stats)
	}
}
