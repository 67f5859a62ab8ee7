package agent

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-ics/sluice/internal/capture"
)

// packetSlice is a Source over packets held in memory, so benchmarks
// measure the agent, not the disk or the file parser.
type packetSlice struct {
	pkts []capture.Packet
	i    int
}

func (s *packetSlice) Next() (capture.Packet, error) {
	if s.i == len(s.pkts) {
		return capture.Packet{}, io.EOF
	}
	s.i++
	return s.pkts[s.i-1], nil
}

func (s *packetSlice) Close() error { return nil }

// loadPackets reads a whole capture into memory (data copied).
func loadPackets(b *testing.B, path string) []capture.Packet {
	b.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("capture absent: %v", err)
	}
	f, err := capture.NewReader(bytes.NewReader(raw), path, int64(len(raw)))
	if err != nil {
		b.Fatal(err)
	}
	var pkts []capture.Packet
	for {
		p, err := f.Next()
		if err != nil {
			break
		}
		p.Data = append([]byte(nil), p.Data...)
		pkts = append(pkts, p)
	}
	return pkts
}

// benchReplay replays the packets b.N times through one agent per
// iteration and reports per-packet figures. Each iteration is a fresh
// agent over the same packets, so every iteration does the same work.
func benchReplay(b *testing.B, rel string, events Events) {
	pkts := loadPackets(b, filepath.Join(pcapsDir(b), rel))
	var bytesIn int
	for _, p := range pkts {
		bytesIn += len(p.Data)
	}
	b.SetBytes(int64(bytesIn))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg := DefaultConfig(nil)
		cfg.Sinks = []Sink{NewEVE(io.Discard, events)}
		a, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Run(context.Background(), &packetSlice{pkts: pkts}); err != nil {
			b.Fatal(err)
		}
		if err := a.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N) * float64(len(pkts))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/packet")
	b.ReportMetric(n/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkReplayModbus is a full replay of iti_ModbusTCP.pcap (15,387
// packets, 7,993 transactions) with every event written (to io.Discard).
// allocs/op includes the agent's one-time set-up; make bench gives the
// per-packet figures on 1.2 M packets.
func BenchmarkReplayModbus(b *testing.B) { benchReplay(b, "modbus/iti_ModbusTCP.pcap", EventsAll) }

// BenchmarkReplayModbusAlertsOnly is the same with --events alerts.
func BenchmarkReplayModbusAlertsOnly(b *testing.B) {
	benchReplay(b, "modbus/iti_ModbusTCP.pcap", EventsAlerts)
}

// BenchmarkReplayOPCUA replays an open62541 session with Read, Write,
// Browse, Call and Publish traffic.
func BenchmarkReplayOPCUA(b *testing.B) {
	benchReplay(b, "opcua/icsnpp_open62541_read_service_test_data.pcap", EventsAll)
}

// BenchmarkReplayDNP3 replays iti_dnp3_test_data_part1.pcap (181 packets,
// 8 connections, 72 transactions: unsolicited responses, confirms, writes,
// restarts, a bad link header) with every event written.
func BenchmarkReplayDNP3(b *testing.B) {
	benchReplay(b, "dnp3/iti_dnp3_test_data_part1.pcap", EventsAll)
}
