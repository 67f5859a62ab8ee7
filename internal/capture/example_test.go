package capture_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/sluice-ics/sluice/internal/capture"
)

// Reading a capture to its end: packets, then io.EOF, or an error wrapping
// ErrTruncated when the file was cut inside a record.
func ExampleNewReader() {
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	ts := time.Date(2026, 11, 21, 22, 33, 0, 123456789, time.UTC)
	for i, frame := range []string{"first frame", "second frame"} {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Second), CaptureLength: len(frame), Length: len(frame)}, []byte(frame))
	}
	whole := buf.Bytes()
	for _, data := range [][]byte{whole, whole[:len(whole)-4]} {
		f, err := capture.NewReader(bytes.NewReader(data), "plant.pcap", int64(len(data)))
		if err != nil {
			fmt.Println(err)
			return
		}
		for {
			p, err := f.Next()
			if errors.Is(err, io.EOF) {
				fmt.Println("end of", f.Format(), "file")
				break
			}
			if errors.Is(err, capture.ErrTruncated) {
				fmt.Println("truncated:", err)
				break
			}
			fmt.Printf("%s %q\n", p.Timestamp.Format(time.RFC3339Nano), p.Data)
		}
	}
	// Output:
	// 2026-11-21T22:33:00.123456789Z "first frame"
	// 2026-11-21T22:33:01.123456789Z "second frame"
	// end of pcap file
	// 2026-11-21T22:33:00.123456789Z "first frame"
	// truncated: plant.pcap: capture truncated: pcap record at offset 67 has 8 of 12 bytes
}

// The tcpdump expression an operator passes with --bpf, compiled without
// libpcap for the kernel's socket filter.
func ExampleCompileFilter() {
	prog, err := capture.CompileFilter("tcp and (port 502 or port 4840) and not host 10.0.0.99")
	fmt.Println(len(prog) > 0, err)
	_, err = capture.CompileFilter("vlan 100 and tcp")
	fmt.Println(err)
	// Output:
	// true <nil>
	// bpf "vlan 100 and tcp": "vlan" is not supported here (write host, net or port before a value)
}
