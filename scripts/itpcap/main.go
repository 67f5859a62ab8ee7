// Command itpcap writes a capture of ordinary IT traffic (internal/itgen),
// the background a control network's span port carries beside its ICS
// protocols, for the live capture measurement (scripts/live-veth-bench.sh
// --mixed; issue #11 §7). None of it is on a decoder's port, so the default
// kernel filter cuts every one of its frames to --snap-other bytes.
//
//	go run ./scripts/itpcap -o it.pcap -conns 200 -segs 100
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sluice-ics/sluice/internal/itgen"
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
	if err := itgen.Write(w, conns, segs, time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC), 20*time.Microsecond); err != nil {
		return err
	}
	return f.Close()
}
