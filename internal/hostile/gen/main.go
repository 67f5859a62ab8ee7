// Command gen writes one of package hostile's captures at full size:
//
//	go run ./internal/hostile/gen -kind flows -n 1500000 -o flows.pcap
//	go run ./internal/hostile/gen -kind channels -n 1000000 -o channels.pcap
//	go run ./internal/hostile/gen -kind opcua -n 24 -o opcua.pcap
//
// then measure `/usr/bin/time -v bin/sluice replay -o /dev/null FILE`
// (docs/deploy.md, memory budget).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/sluice-ics/sluice/internal/hostile"
)

func main() {
	kind := flag.String("kind", "flows", "`KIND` of capture: flows (spoofed SYN + FC 3), channels (distinct answered channels), opcua (unfinished chunked messages)")
	n := flag.Int("n", 0, "how many flows, channels or OPC UA connections (defaults: 1500000, 1000000, 24)")
	per := flag.Int("per-conn", 32<<20, "opcua: `BYTES` of unfinished chunks per connection")
	out := flag.String("o", "", "output pcap `FILE` (required)")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*kind, *n, *per, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(kind string, n, per int, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := hostile.NewWriter(pcapgo.NewWriter(bw))
	if err != nil {
		return err
	}
	switch kind {
	case "flows":
		err = hostile.SpoofedFlows(w, or(n, 1500000))
	case "channels":
		err = hostile.Channels(w, or(n, 1000000))
	case "opcua":
		err = hostile.UnfinishedOPCUA(w, or(n, 24), per)
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func or(n, d int) int {
	if n > 0 {
		return n
	}
	return d
}
