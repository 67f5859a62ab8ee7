package flow

import (
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/sluice-ics/sluice/internal/capture"
)

// BenchmarkTable measures decode + flow lookup + in-order reassembly of one
// polling connection (request, response, alternating) with a no-op Stream.
func BenchmarkTable(b *testing.B) {
	req := tcpSpec{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 502, ack_: true, payload: "\x00\x01\x00\x00\x00\x06\x01\x03\x00\x00\x00\x0a"}
	resp := tcpSpec{src: "10.0.0.2", dst: "10.0.0.1", sport: 502, dport: 40000, ack_: true, payload: "\x00\x01\x00\x00\x00\x17\x01\x03\x14" + string(make([]byte, 20))}
	fr, fs := ethFrame(b, req), ethFrame(b, resp)
	const seqOff, ackOff = 14 + 20 + 4, 14 + 20 + 8
	tab := NewTable(Config{}, func(*Conn, time.Time) Stream { return nopStream{} })
	var cseq, sseq uint32 = 1, 1
	ts := time.Unix(1_700_000_000, 0)
	put := func(f []byte, off int, v uint32) {
		f[off], f[off+1], f[off+2], f[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ts = ts.Add(time.Millisecond)
		if i%2 == 0 {
			put(fr, seqOff, cseq)
			put(fr, ackOff, sseq)
			tab.Handle(fr, layers.LinkTypeEthernet, ts)
			cseq += uint32(len(req.payload))
		} else {
			put(fs, seqOff, sseq)
			put(fs, ackOff, cseq)
			tab.Handle(fs, layers.LinkTypeEthernet, ts)
			sseq += uint32(len(resp.payload))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
	if st := tab.Stats(); st.Gaps != 0 || st.OutOfOrder != 0 {
		b.Fatalf("stats %+v", st)
	}
}

// BenchmarkTableRealCapture replays the largest real Modbus capture from
// memory through decode, table and reassembly with a no-op Stream.
func BenchmarkTableRealCapture(b *testing.B) {
	path := filepath.Join(pcapsDir(b), "modbus", "iti_ModbusTCP.pcap")
	src, err := capture.OpenFile(path)
	if err != nil {
		b.Skip(err)
	}
	var pkts []capture.Packet
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		p.Data = append([]byte(nil), p.Data...)
		pkts = append(pkts, p)
	}
	src.Close()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		tab := NewTable(Config{}, func(*Conn, time.Time) Stream { return nopStream{} })
		for _, p := range pkts {
			tab.Packet(&p)
		}
		tab.Close()
		n += len(pkts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkReplayFile reads a real capture from disk (page cache) and runs
// it through decode, table and reassembly: everything below the protocol
// glue of `sluice replay`.
func BenchmarkReplayFile(b *testing.B) {
	path := filepath.Join(pcapsDir(b), "modbus", "iti_ModbusTCP.pcap")
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		src, err := capture.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		tab := NewTable(Config{}, func(*Conn, time.Time) Stream { return nopStream{} })
		for {
			p, err := src.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
			tab.Packet(&p)
			n++
		}
		tab.Close()
		src.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
}
