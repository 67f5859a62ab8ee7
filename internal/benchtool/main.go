// Command benchtool is `make bench`: it builds a large Modbus/TCP capture
// from a real one, then measures Sluice on it and prints a table of
// packets/s, ns/packet, allocations/packet and peak RSS for
//
//   - decode only: reading the capture and decoding Ethernet/IP/TCP with
//     the flow package's DecodingLayerParser;
//   - full replay: `sluice replay` (the built binary, bin/sluice) with every
//     event written to /dev/null, and with --events alerts;
//   - tshark on the same file, for a side-by-side ratio (skipped when
//     tshark is missing).
//
// Each measured run is a child process with GOMAXPROCS=1 (the targets are
// for one core), so its peak RSS comes from the kernel (rusage) and does not
// include this tool. Rates are given per wall
// second and per CPU second (user+sys): on a loaded machine the CPU figure
// is the one that says what the code costs. Allocations per packet are
// measured in-process with runtime.MemStats around the same work.
//
// Usage: go run ./internal/benchtool [-src FILE] [-packets N] [-bin PATH] [-keep]
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
)

func main() {
	src := flag.String("src", "", "real capture to multiply (default ../shared/pcaps/modbus/iti_ModbusTCP.pcap or $SLUICE_PCAPS/modbus/iti_ModbusTCP.pcap)")
	target := flag.Int("packets", 1_200_000, "approximate number of packets in the built capture")
	bin := flag.String("bin", "bin/sluice", "the sluice binary to measure (make bench builds it)")
	keep := flag.Bool("keep", false, "keep the built capture and print its path")
	child := flag.String("child", "", "internal: run one measurement in this process (decode|replay|alerts) on -file")
	file := flag.String("file", "", "internal: capture for -child")
	flag.Parse()

	if *child != "" {
		if err := runChild(*child, *file); err != nil {
			fmt.Fprintln(os.Stderr, "benchtool:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*src, *target, *bin, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

func defaultSource() string {
	if d := os.Getenv("SLUICE_PCAPS"); d != "" {
		return filepath.Join(d, "modbus", "iti_ModbusTCP.pcap")
	}
	return filepath.Join("..", "shared", "pcaps", "modbus", "iti_ModbusTCP.pcap")
}

func run(src string, target int, bin string, keep bool) error {
	if src == "" {
		src = defaultSource()
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("source capture: %w (pass -src or set SLUICE_PCAPS)", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("sluice binary: %w (make bench builds it; or pass -bin)", err)
	}
	dir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	big := filepath.Join(dir, "bench.pcap")
	t0 := time.Now()
	n, size, err := buildCapture(src, big, target)
	if err != nil {
		return err
	}
	fmt.Printf("capture: %s, %d packets, %.1f MB, built from %s in %.1fs\n", big, n, float64(size)/1e6, filepath.Base(src), time.Since(t0).Seconds())
	fmt.Printf("machine: %d CPUs, GOMAXPROCS %d, load %s\n\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAvg())

	self, err := os.Executable()
	if err != nil {
		return err
	}
	type row struct {
		name   string
		res    result
		allocs float64 // per packet, -1 when not measured
	}
	var rows []row
	measure := func(name string, allocs float64, cmd *exec.Cmd) error {
		// The targets are for one core: the Go children get one P (the
		// garbage collector's background work included).
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		r, err := runMeasured(cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		rows = append(rows, row{name, r, allocs})
		return nil
	}
	decAllocs, err := allocsPerPacket("decode", big, n)
	if err != nil {
		return err
	}
	repAllocs, err := allocsPerPacket("replay", big, n)
	if err != nil {
		return err
	}
	if err := measure("decode only (read + Ethernet/IP/TCP)", decAllocs, exec.Command(self, "-child", "decode", "-file", big)); err != nil {
		return err
	}
	if err := measure("full replay, every event to /dev/null", repAllocs, exec.Command(bin, "replay", "-o", "/dev/null", big)); err != nil {
		return err
	}
	if err := measure("full replay, --events alerts", -1, exec.Command(bin, "replay", "--events", "alerts", "-o", "/dev/null", big)); err != nil {
		return err
	}
	var tshark *result
	if path, err := exec.LookPath("tshark"); err == nil {
		cmd := exec.Command(path, "-n", "-r", big)
		if err := measure("tshark -n -r (summary lines to /dev/null)", -1, cmd); err != nil {
			return err
		}
		tshark = &rows[len(rows)-1].res
	} else {
		fmt.Println("tshark not installed: no side-by-side (make tools installs it)")
	}

	fmt.Printf("%-44s %10s %12s %12s %10s %10s %9s\n", "run", "wall s", "packets/s", "pkts/CPU-s", "ns/pkt CPU", "allocs/pkt", "RSS MiB")
	for _, r := range rows {
		al := "-"
		if r.allocs >= 0 {
			al = fmt.Sprintf("%.3f", r.allocs)
		}
		cpu := r.res.user + r.res.sys
		fmt.Printf("%-44s %10.2f %12.0f %12.0f %10.0f %10s %9.1f\n", r.name, r.res.wall.Seconds(),
			float64(n)/r.res.wall.Seconds(), float64(n)/cpu.Seconds(), float64(cpu.Nanoseconds())/float64(n), al, float64(r.res.maxRSS)/(1<<20))
	}
	if tshark != nil {
		full := rows[1].res
		fmt.Printf("\nfull replay vs tshark: %.1fx faster by wall time, %.1fx by CPU time; %.1fx less memory\n",
			tshark.wall.Seconds()/full.wall.Seconds(), (tshark.user+tshark.sys).Seconds()/(full.user+full.sys).Seconds(),
			float64(tshark.maxRSS)/float64(full.maxRSS))
	}
	fmt.Println("\ntargets (issue 2 §8, issue 5 §9): full replay >= 1.5 M packets/s on one core, >= 20x tshark, <= 128 MiB RSS; --events alerts >= 3 M packets/s")
	if keep {
		fmt.Println("kept:", big)
	}
	return nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// result is one child process's cost.
type result struct {
	wall, user, sys time.Duration
	maxRSS          int64 // bytes
}

// runMeasured runs cmd with its output discarded and returns its wall time
// and rusage.
func runMeasured(cmd *exec.Cmd) (result, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return result{}, err
	}
	defer devnull.Close()
	cmd.Stdout = devnull
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%v: %w: %s", cmd.Args, err, stderr.String())
	}
	wall := time.Since(start)
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return result{wall: wall}, nil
	}
	return result{
		wall:   wall,
		user:   time.Duration(ru.Utime.Nano()),
		sys:    time.Duration(ru.Stime.Nano()),
		maxRSS: ru.Maxrss * 1024, // kilobytes on Linux
	}, nil
}

// runChild is one measurement inside a child process (decode only: there
// is no sluice subcommand for it).
func runChild(what, file string) error {
	switch what {
	case "decode":
		_, err := decodeOnly(file)
		return err
	}
	return fmt.Errorf("unknown child %q", what)
}

// decodeOnly reads file and decodes every frame's layers; it returns the
// number of TCP segments.
func decodeOnly(file string) (int, error) {
	f, err := capture.OpenFile(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	dec := flow.NewDecoder()
	segs := 0
	var p capture.Packet // filled in place, as the agent's replay loop does
	for {
		if err := f.ReadPacket(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return segs, nil
			}
			return segs, err
		}
		if s, err := dec.Decode(p.Data, p.LinkType); err == nil && s != nil {
			segs++
		}
	}
}

// allocsPerPacket runs the work in-process and counts heap allocations.
// A warm-up run over the first packets comes first, so one-time set-up (the
// OUI table, the first flows) is not charged to every packet.
func allocsPerPacket(what, file string, n int) (float64, error) {
	if what == "replay" {
		f, err := capture.OpenFile(file)
		if err != nil {
			return 0, err
		}
		_, err = agent.Run(context.Background(), agent.DefaultConfig(io.Discard), &firstN{f, 50000})
		f.Close()
		if err != nil {
			return 0, err
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	switch what {
	case "decode":
		if _, err := decodeOnly(file); err != nil {
			return 0, err
		}
	case "replay":
		f, err := capture.OpenFile(file)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if _, err := agent.Run(context.Background(), agent.DefaultConfig(io.Discard), f); err != nil {
			return 0, err
		}
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(n), nil
}

// firstN is a Source that stops after n packets.
type firstN struct {
	capture.Source
	n int
}

func (s *firstN) Next() (capture.Packet, error) {
	if s.n == 0 {
		return capture.Packet{}, io.EOF
	}
	s.n--
	return s.Source.Next()
}

// buildCapture writes a pcap of about target packets to dst: copies of src,
// each shifted in time past the previous one and with the client ports of
// its connections renumbered, so every copy's connections are new ones with
// their own handshakes (TCP checksums are patched to stay valid).
func buildCapture(src, dst string, target int) (packets int, size int64, err error) {
	pkts, err := readFrames(src)
	if err != nil {
		return 0, 0, err
	}
	if len(pkts) == 0 {
		return 0, 0, fmt.Errorf("%s: no packets", src)
	}
	span := pkts[len(pkts)-1].ts.Sub(pkts[0].ts) + time.Second
	copies := max(1, (target+len(pkts)-1)/len(pkts))
	out, err := os.Create(dst)
	if err != nil {
		return 0, 0, err
	}
	defer out.Close()
	w := bufio.NewWriterSize(out, 1<<20)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 262144)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	w.Write(hdr)
	ports := map[uint16]uint16{} // original client port → index
	buf := make([]byte, 0, 2048)
	rec := make([]byte, 16)
	for k := 0; k < copies; k++ {
		shift := time.Duration(k) * span
		for _, p := range pkts {
			buf = append(buf[:0], p.data...)
			renumber(buf, k, ports)
			ts := p.ts.Add(shift)
			binary.LittleEndian.PutUint32(rec[0:], uint32(ts.Unix()))
			binary.LittleEndian.PutUint32(rec[4:], uint32(ts.Nanosecond()/1000))
			binary.LittleEndian.PutUint32(rec[8:], uint32(len(buf)))
			binary.LittleEndian.PutUint32(rec[12:], uint32(p.wire))
			w.Write(rec)
			w.Write(buf)
			packets++
		}
	}
	if err := w.Flush(); err != nil {
		return 0, 0, err
	}
	st, err := out.Stat()
	if err != nil {
		return 0, 0, err
	}
	return packets, st.Size(), nil
}

type frame struct {
	data []byte
	ts   time.Time
	wire int
}

func readFrames(path string) ([]frame, error) {
	f, err := capture.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []frame
	for {
		p, err := f.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, frame{data: append([]byte(nil), p.Data...), ts: p.Timestamp, wire: p.Length})
	}
}

// renumber rewrites the client (non-502) port of an Ethernet/IPv4/TCP frame
// for copy k and patches the TCP checksum incrementally (RFC 1624). Other
// frames are left alone.
func renumber(b []byte, k int, ports map[uint16]uint16) {
	if len(b) < 14+20+20 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[9] != 6 || len(ip) < ihl+20 {
		return
	}
	tcp := ip[ihl:]
	off := 0 // offset of the client port in tcp
	switch {
	case binary.BigEndian.Uint16(tcp[2:]) == 502:
		off = 0
	case binary.BigEndian.Uint16(tcp[0:]) == 502:
		off = 2
	default:
		return
	}
	old := binary.BigEndian.Uint16(tcp[off:])
	idx, ok := ports[old]
	if !ok {
		idx = uint16(len(ports))
		ports[old] = idx
	}
	nw := uint16(10000 + (k*64+int(idx))%55000)
	binary.BigEndian.PutUint16(tcp[off:], nw)
	// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')
	sum := uint32(^binary.BigEndian.Uint16(tcp[16:])) + uint32(^old) + uint32(nw)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(tcp[16:], ^uint16(sum))
}
