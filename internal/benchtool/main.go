// Command benchtool is `make bench`: it builds a large Modbus/TCP capture
// from a real one, then measures Sluice on it and prints a table of
// packets/s, ns/packet, allocations/packet and peak RSS for
//
//   - decode only: reading the capture and decoding Ethernet/IP/TCP with
//     the flow package's DecodingLayerParser;
//   - full replay: `sluice replay` (the built binary, bin/sluice) with every
//     event written to /dev/null, and with --events alerts;
//   - tshark on the same file, for a side-by-side ratio (skipped when
//     tshark is missing);
//   - DNP3, on a second capture (the simulator's SCADA master and gate
//     RTU, an hour of normal traffic, multiplied): the decode path alone
//     (framing with every CRC, transport reassembly, pairing, parsing) in
//     DNP3 frames per second, and `sluice replay` on it;
//   - the full replay with its alerts also forwarded to a private rsyslogd
//     over TCP and a 3-node NATS JetStream cluster (R=3), when both are
//     installed (make tools): the added cost per packet of the forwarders.
//
// The delivery rates themselves (events per second to rsyslog over TCP, to
// JetStream R=3) are Go benchmarks, which make bench runs after this tool:
// BenchmarkRsyslogTCP (internal/syslog), BenchmarkSensorJetStreamR3
// (internal/fleet).
//
// Each measured run is a child process with GOMAXPROCS=1 (the targets are
// for one core), so its peak RSS comes from the kernel (rusage) and does not
// include this tool. Each row is run -runs times (default 5), the rows
// interleaved round by round, and the table gives the median and the best
// (least) CPU time (user+sys) per packet: on a shared virtual machine the
// same run varies by a third from one minute to the next, and the CPU figure
// is the one that says what the code costs. The targets are judged on the
// medians. Allocations per packet are measured in-process with
// runtime.MemStats around the same work.
//
// With -ref OTHER, the two replay rows are also run with another build (say,
// the commit before a change), interleaved with this one's, and the ratio of
// the medians is printed: a speed claim measured side by side.
//
// Usage: go run ./internal/benchtool [-src FILE] [-packets N] [-runs N] [-bin PATH] [-ref PATH] [-keep]
package main

import (
	"bufio"
	"bytes"
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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/internal/itgen"
	"github.com/sluice-ics/sluice/protocols/dnp3"
	"github.com/sluice-ics/sluice/simulator"
)

func main() {
	src := flag.String("src", "", "real capture to multiply (default ../shared/pcaps/modbus/iti_ModbusTCP.pcap or $SLUICE_PCAPS/modbus/iti_ModbusTCP.pcap)")
	target := flag.Int("packets", 1_200_000, "approximate number of packets in the built capture")
	bin := flag.String("bin", "bin/sluice", "the sluice binary to measure (make bench builds it)")
	ref := flag.String("ref", "", "a second sluice `binary` (another commit's build) measured side by side, interleaved, with the ratio of the medians")
	keep := flag.Bool("keep", false, "keep the built capture and print its path")
	runs := flag.Int("runs", 5, "interleaved runs of each measurement (the table gives their median and best)")
	child := flag.String("child", "", "internal: run one measurement in this process (decode|replay|alerts) on -file")
	file := flag.String("file", "", "internal: capture for -child")
	childPackets = flag.Int("child-packets", 0, "internal: packets of -child builddnp3")
	flag.Parse()

	if *child != "" {
		if err := runChild(*child, *file); err != nil {
			fmt.Fprintln(os.Stderr, "benchtool:", err)
			os.Exit(1)
		}
		return
	}
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "benchtool: -runs must be at least 1")
		os.Exit(2)
	}
	if err := run(*src, *target, *bin, *ref, *keep, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

// childPackets is -child-packets.
var childPackets *int

func defaultSource() string {
	if d := os.Getenv("SLUICE_PCAPS"); d != "" {
		return filepath.Join(d, "modbus", "iti_ModbusTCP.pcap")
	}
	return filepath.Join("..", "shared", "pcaps", "modbus", "iti_ModbusTCP.pcap")
}

func run(src string, target int, bin, ref string, keep bool, runs int) error {
	if src == "" {
		src = defaultSource()
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("source capture: %w (pass -src or set SLUICE_PCAPS)", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("sluice binary: %w (make bench builds it; or pass -bin)", err)
	}
	if ref != "" {
		if _, err := os.Stat(ref); err != nil {
			return fmt.Errorf("-ref: %w", err)
		}
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
	decAllocs, err := allocsPerPacket("decode", big, n)
	if err != nil {
		return err
	}
	repAllocs, err := allocsPerPacket("replay", big, n)
	if err != nil {
		return err
	}
	rows := []*row{
		{name: "decode only (read + Ethernet/IP/TCP)", n: n, allocs: decAllocs, args: []string{self, "-child", "decode", "-file", big}},
		{name: "full replay, every event to /dev/null", n: n, allocs: repAllocs, args: []string{bin, "replay", "-o", "/dev/null", big}},
		{name: "full replay, --events alerts", n: n, allocs: -1, args: []string{bin, "replay", "--events", "alerts", "-o", "/dev/null", big}},
	}
	full, alerts := rows[1], rows[2]
	var refFull, refAlerts *row
	if ref != "" {
		refFull = &row{name: "  the same, -ref binary", n: n, allocs: -1, args: []string{ref, "replay", "-o", "/dev/null", big}}
		refAlerts = &row{name: "  the same, -ref binary", n: n, allocs: -1, args: []string{ref, "replay", "--events", "alerts", "-o", "/dev/null", big}}
		rows = []*row{rows[0], full, refFull, alerts, refAlerts}
	}

	// Forwarding: the full replay again with its alerts also sent to a
	// syslog collector over TCP and to a 3-node JetStream cluster (R=3).
	fwdFlags, stopFwd, skipFwd, err := forwarders(dir)
	if err != nil {
		return fmt.Errorf("starting rsyslogd and NATS for the forwarding row: %w", err)
	}
	var fwd *row
	if skipFwd != "" {
		fmt.Println("no forwarding row:", skipFwd)
	} else {
		defer stopFwd()
		fwd = &row{name: "  + every event to syslog TCP and NATS R=3", n: n, allocs: -1,
			args: append([]string{bin, "replay", "-o", "/dev/null", big, "--syslog-events", "all", "--nats-events", "all"}, fwdFlags...)}
		rows = append(rows, fwd)
	}

	// DNP3: its own capture, its own rows (their packet counts are the
	// DNP3 capture's).
	dnpFile := filepath.Join(dir, "bench-dnp3.pcap")
	t0 = time.Now()
	// A child builds it: the simulator's hour would raise this process's
	// peak RSS, which the measured children inherit (ru_maxrss survives
	// the exec of a vforked child).
	build := exec.Command(self, "-child", "builddnp3", "-file", dnpFile, "-child-packets", fmt.Sprint(target/2))
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the DNP3 capture: %w", err)
	}
	st, err := os.Stat(dnpFile)
	if err != nil {
		return err
	}
	dsize := st.Size()
	frames, dn, dnAllocs, err := dnp3Allocs(dnpFile)
	if err != nil {
		return err
	}
	fmt.Printf("DNP3 capture: %s, %d packets (%d DNP3 frames), %.1f MB, built from the simulator's normal hour in %.1fs\n\n",
		dnpFile, dn, frames, float64(dsize)/1e6, time.Since(t0).Seconds())
	dnDecode := &row{name: "DNP3 decode path (CRCs, transport, pairing)", n: dn, allocs: -1,
		args: []string{self, "-child", "dnp3", "-file", dnpFile}}
	dnFull := &row{name: "DNP3 full replay, every event to /dev/null", n: dn, allocs: -1, args: []string{bin, "replay", "-o", "/dev/null", dnpFile}}
	rows = append(rows, dnDecode, dnFull)
	var refDN *row
	if ref != "" {
		refDN = &row{name: "  the same, -ref binary", n: dn, allocs: -1, args: []string{ref, "replay", "-o", "/dev/null", dnpFile}}
		rows = append(rows, refDN)
	}
	// Mixed: the simulator's hour whole, ICS and IT background (issue
	// #11 §7): every conversation tracked, named and reported.
	mixFile := filepath.Join(dir, "bench-mixed.pcap")
	build = exec.Command(self, "-child", "buildmixed", "-file", mixFile, "-child-packets", fmt.Sprint(target))
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the mixed capture: %w", err)
	}
	mn, mixIT, err := countIT(mixFile)
	if err != nil {
		return err
	}
	fmt.Printf("mixed capture: %s, %d packets (%.0f %% not Modbus, OPC UA or DNP3): the simulator's normal hour with its IT background, and IT bulk transfers\n\n",
		mixFile, mn, 100*float64(mixIT)/float64(max(mn, 1)))
	mixFull := &row{name: "mixed: full replay, every event to /dev/null", n: mn, allocs: -1, args: []string{bin, "replay", "-o", "/dev/null", mixFile}}
	mixAlerts := &row{name: "mixed: full replay, --events alerts", n: mn, allocs: -1, args: []string{bin, "replay", "--events", "alerts", "-o", "/dev/null", mixFile}}
	rows = append(rows, mixFull, mixAlerts)
	var refMix *row
	if ref != "" {
		refMix = &row{name: "  the same, -ref binary", n: mn, allocs: -1, args: []string{ref, "replay", "--events", "alerts", "-o", "/dev/null", mixFile}}
		rows = append(rows, refMix)
	}
	var tshark *row
	if path, err := exec.LookPath("tshark"); err == nil {
		tshark = &row{name: "tshark -n -r (summary lines to /dev/null)", n: n, allocs: -1, args: []string{path, "-n", "-r", big}}
	} else {
		fmt.Println("tshark not installed: no side-by-side (make tools installs it)")
	}
	// The rounds interleave the runs, so a burst of load on a shared
	// machine lands on every row alike rather than on one; tshark (some
	// twenty times slower) runs in the first three rounds only, enough
	// for a median of its own.
	for round := 0; round < runs; round++ {
		for _, r := range rows {
			if err := r.measure(); err != nil {
				return err
			}
		}
		if tshark != nil && round < tsharkRuns {
			if err := tshark.measure(); err != nil {
				return err
			}
		}
	}
	if tshark != nil {
		rows = append(rows, tshark)
	}

	fmt.Printf("%d interleaved runs per row (tshark: %d). CPU time is user+sys of the child process; median and best (least) of the runs.\n\n", runs, min(runs, tsharkRuns))
	fmt.Printf("%-44s %10s %12s %14s %12s %10s %9s\n", "run", "wall s", "pkts/CPU-s", "ns/pkt median", "ns/pkt best", "allocs/pkt", "RSS MiB")
	for _, r := range rows {
		al := "-"
		if r.allocs >= 0 {
			al = fmt.Sprintf("%.3f", r.allocs)
		}
		med, best := r.cpu(0.5), r.cpu(0)
		fmt.Printf("%-44s %10.2f %12.0f %14.0f %12.0f %10s %9.1f\n", r.name, r.wall().Seconds(),
			float64(r.n)/med.Seconds(), float64(med.Nanoseconds())/float64(r.n), float64(best.Nanoseconds())/float64(r.n), al, float64(r.maxRSS())/(1<<20))
	}
	rate := func(r *row) float64 { return float64(n) / r.cpu(0.5).Seconds() / 1e6 }
	fmt.Println("\ntargets (issue 2 §8, issue 5 §9), on the medians:")
	check := func(ok bool, format string, args ...any) {
		mark := "met   "
		if !ok {
			mark = "MISSED"
		}
		fmt.Printf("  %s "+format+"\n", append([]any{mark}, args...)...)
	}
	check(rate(full) >= 1.5, "full replay >= 1.5 M packets/s on one core: %.2f M", rate(full))
	if tshark != nil {
		ratio := tshark.cpu(0.5).Seconds() / full.cpu(0.5).Seconds()
		check(ratio >= 20, "full replay >= 20x tshark by CPU time: %.1fx (%.1fx less memory)", ratio, float64(tshark.maxRSS())/float64(full.maxRSS()))
	}
	check(full.maxRSS() <= 128<<20, "full replay <= 128 MiB RSS: %.1f MiB", float64(full.maxRSS())/(1<<20))
	check(rate(alerts) >= 3, "--events alerts >= 3 M packets/s on one core: %.2f M", rate(alerts))
	fps := float64(frames) / dnDecode.cpu(0.5).Seconds() / 1e6
	check(fps >= 1, "DNP3 decode path >= 1 M frames/s on one core (issue 12): %.2f M frames/s (best %.2f M)",
		fps, float64(frames)/dnDecode.cpu(0).Seconds()/1e6)
	check(dnAllocs == 0, "DNP3 decode path: no allocation per frame once a connection is set up: %.4f allocs/frame", dnAllocs)
	mrate := float64(mn) / mixFull.cpu(0.5).Seconds() / 1e6
	check(mrate >= 2, "mixed capture, full replay of all traffic >= 2 M packets/s on one core (issue #11 §7): %.2f M (--events alerts %.2f M)",
		mrate, float64(mn)/mixAlerts.cpu(0.5).Seconds()/1e6)
	if fwd != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "syslog.log"))
		perRun := bytes.Count(b, []byte("\n")) / max(len(fwd.runs), 1)
		fmt.Printf("\nforwarding every event (%d per run) to rsyslogd over TCP and to JetStream R=3, each acknowledged or stored: %+.0f ns/packet over the full replay's median (%.0f ns per event)\n",
			perRun, float64(fwd.cpu(0.5).Nanoseconds()-full.cpu(0.5).Nanoseconds())/float64(n),
			float64(fwd.cpu(0.5).Nanoseconds()-full.cpu(0.5).Nanoseconds())/float64(max(perRun, 1)))
	}
	if ref != "" {
		fmt.Printf("\nagainst -ref %s (median CPU time, this binary / ref):\n", ref)
		for _, p := range [][2]*row{{full, refFull}, {alerts, refAlerts}, {dnFull, refDN}, {mixAlerts, refMix}} {
			fmt.Printf("  %-40s %.3f\n", p[0].name, p[0].cpu(0.5).Seconds()/p[1].cpu(0.5).Seconds())
		}
	}
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

// row is one measured command and its runs.
type row struct {
	name   string
	n      int     // packets of its capture
	allocs float64 // per packet, -1 when not measured
	args   []string
	runs   []result
}

// measure runs the row's command once more. The targets are for one core:
// the Go children get one P (the garbage collector's background work
// included).
func (r *row) measure() error {
	cmd := exec.Command(r.args[0], r.args[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	res, err := runMeasured(cmd)
	if err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	r.runs = append(r.runs, res)
	return nil
}

// cpu returns the q-quantile of the runs' CPU times (0: the least, 0.5:
// the median, the lower one of an even count).
func (r *row) cpu(q float64) time.Duration {
	t := make([]time.Duration, len(r.runs))
	for i, x := range r.runs {
		t[i] = x.user + x.sys
	}
	slices.Sort(t)
	return t[int(q*float64(len(t)-1))]
}

// wall returns the median wall time of the runs.
func (r *row) wall() time.Duration {
	t := make([]time.Duration, len(r.runs))
	for i, x := range r.runs {
		t[i] = x.wall
	}
	slices.Sort(t)
	return t[(len(t)-1)/2]
}

// maxRSS returns the largest peak RSS of the runs.
func (r *row) maxRSS() int64 {
	var m int64
	for _, x := range r.runs {
		m = max(m, x.maxRSS)
	}
	return m
}

// tsharkRuns caps the runs of tshark, which take some 15 s each.
const tsharkRuns = 3

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
	case "dnp3":
		_, _, err := dnp3Decode(file, map[uint64]*dnp3Conn{}, true, nil)
		return err
	case "builddnp3":
		_, _, err := buildDNP3Capture(file, *childPackets)
		return err
	case "buildmixed":
		_, _, err := buildMixedCapture(file, *childPackets)
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

// serverPort reports the server ports of the bench captures: Modbus/TCP
// and DNP3.
func serverPort(p uint16) bool { return p == 502 || p == 20000 }

// renumber rewrites the client (non-server) port of an Ethernet/IPv4/TCP frame
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
	case serverPort(binary.BigEndian.Uint16(tcp[2:])):
		off = 0
	case serverPort(binary.BigEndian.Uint16(tcp[0:])):
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

// buildDNP3Capture writes a pcap of about target packets to dst: the DNP3
// connections (TCP port 20000) of the simulator's normal scenario, an hour
// of the SCADA master polling the gate RTU, multiplied as buildCapture
// multiplies a real capture.
func buildDNP3Capture(dst string, target int) (int, int64, error) {
	dec := flow.NewDecoder()
	return buildSimCapture(dst, target, func(p *capture.Packet) bool {
		s, err := dec.Decode(p.Data, p.LinkType)
		return err == nil && s != nil && (s.SrcPort == simulator.PortDNP3 || s.DstPort == simulator.PortDNP3)
	})
}

// buildMixedCapture writes about target packets of mixed traffic (issue
// #11 §7): half the simulator's normal hour whole (its Modbus, OPC UA and
// DNP3 with the IT background it synthesizes: DNS, NTP, HTTPS, RDP, the
// SMB backup) in concurrent copies as buildConcurrent makes them, half
// IT bulk transfers and DNS (internal/itgen) spread over the same hour: a
// span port where ordinary IT moves more packets than the ICS polls.
func buildMixedCapture(dst string, target int) (int, int64, error) {
	simFile := dst + ".sim"
	defer os.Remove(simFile)
	if _, _, err := buildSimCapture(simFile, target/2, func(*capture.Packet) bool { return true }); err != nil {
		return 0, 0, err
	}
	all, err := readFrames(simFile)
	if err != nil || len(all) == 0 {
		return 0, 0, fmt.Errorf("the simulator's hour: %d frames, %v", len(all), err)
	}
	const segs = 100
	conns := max(1, (target-len(all))/itgen.Frames(1, segs))
	itFile := dst + ".it"
	defer os.Remove(itFile)
	f, err := os.Create(itFile)
	if err != nil {
		return 0, 0, err
	}
	w := pcapgo.NewWriter(f)
	span := all[len(all)-1].ts.Sub(all[0].ts)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := itgen.Write(w, conns, segs, all[0].ts, span/time.Duration(itgen.Frames(conns, segs))); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	it, err := readFrames(itFile)
	if err != nil {
		return 0, 0, err
	}
	all = append(all, it...)
	slices.SortStableFunc(all, func(a, b frame) int { return a.ts.Compare(b.ts) })
	return writeFrames(dst, all)
}

// buildSimCapture writes about target packets made of the frames of the
// simulator's normal hour that keep selects, in concurrent copies.
func buildSimCapture(dst string, target int, keep func(*capture.Packet) bool) (int, int64, error) {
	pcap, _, err := simulator.Capture(context.Background(), simulator.CaptureConfig{Scenario: "normal", Duration: time.Hour, Seed: 1})
	if err != nil {
		return 0, 0, err
	}
	src, err := capture.NewReader(bytes.NewReader(pcap), "sim.pcap", int64(len(pcap)))
	if err != nil {
		return 0, 0, err
	}
	tmp := dst + ".src"
	defer os.Remove(tmp)
	f, err := os.Create(tmp)
	if err != nil {
		return 0, 0, err
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		f.Close()
		return 0, 0, err
	}
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return 0, 0, err
		}
		if !keep(&p) {
			continue
		}
		ci := gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(p.Data), Length: p.Length}
		if err := w.WritePacket(ci, p.Data); err != nil {
			f.Close()
			return 0, 0, err
		}
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	return buildConcurrent(tmp, dst, target)
}

// buildConcurrent writes a pcap of about target packets to dst: copies of
// src running at the same time, as many master/outstation pairs of a
// utility's SCADA network do: copy k's IPv4 addresses have their second
// octet set to 11+k (a plant network of its own), its packets are shifted
// by k×37 ms, and all copies are merged in time order. (buildCapture's
// copies follow one another: an hour of a single master's polls, one
// packet a second, would measure the per-second housekeeping more than
// the packets.)
func buildConcurrent(src, dst string, target int) (packets int, size int64, err error) {
	pkts, err := readFrames(src)
	if err != nil {
		return 0, 0, err
	}
	if len(pkts) == 0 {
		return 0, 0, fmt.Errorf("%s: no packets", src)
	}
	copies := min(240, max(1, (target+len(pkts)-1)/len(pkts)))
	all := make([]frame, 0, copies*len(pkts))
	for k := 0; k < copies; k++ {
		shift := time.Duration(k) * 37 * time.Millisecond
		for _, p := range pkts {
			b := append([]byte(nil), p.data...)
			readdress(b, byte(11+k))
			all = append(all, frame{data: b, ts: p.ts.Add(shift), wire: p.wire})
		}
	}
	slices.SortStableFunc(all, func(a, b frame) int { return a.ts.Compare(b.ts) })
	return writeFrames(dst, all)
}

// writeFrames writes frames to a new pcap dst and returns their number and
// the file's size.
func writeFrames(dst string, all []frame) (packets int, size int64, err error) {
	out, err := os.Create(dst)
	if err != nil {
		return 0, 0, err
	}
	defer out.Close()
	w := pcapgo.NewWriter(out)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		return 0, 0, err
	}
	for _, p := range all {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: p.wire}, p.data); err != nil {
			return 0, 0, err
		}
	}
	st, err := out.Stat()
	if err != nil {
		return 0, 0, err
	}
	return len(all), st.Size(), nil
}

// readdress sets the second octet of both IPv4 addresses of an
// Ethernet/IPv4 frame to o, patching the IP and TCP checksums
// incrementally (RFC 1624; the TCP checksum covers the addresses through
// its pseudo-header).
func readdress(b []byte, o byte) {
	if len(b) < 14+20 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	if len(ip) < ihl {
		return
	}
	for _, off := range []int{12, 16} { // source, destination
		old := binary.BigEndian.Uint16(ip[off:])
		nw := old&0xff00 | uint16(o)
		binary.BigEndian.PutUint16(ip[off:], nw)
		patch(ip[10:], old, nw)
		if ip[9] == 6 && len(ip) >= ihl+20 {
			patch(ip[ihl+16:], old, nw)
		}
	}
}

// patch updates the checksum at c for a 16-bit word changed from old to nw
// (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
func patch(c []byte, old, nw uint16) {
	sum := uint32(^binary.BigEndian.Uint16(c)) + uint32(^old) + uint32(nw)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(c, ^uint16(sum))
}

// dnp3Conn is one DNP3 connection's decoders in dnp3Decode.
type dnp3Conn struct {
	fr [2]dnp3.Framer
	ra [2]dnp3.Reassembler
	pr dnp3.Pairer
}

// dnp3Allocs returns the DNP3 frames and packets of file and the heap
// allocations per frame of the decode path once its connections are set
// up: a first pass over the capture makes every connection's decoders and
// their buffers, a second feeds the same bytes again through the same,
// warm decoders (each connection's stream ended on a frame boundary, so
// its bytes follow on validly) and is the one counted.
func dnp3Allocs(file string) (frames, packets int, perFrame float64, err error) {
	conns := map[uint64]*dnp3Conn{}
	if _, _, err = dnp3Decode(file, conns, true, nil); err != nil {
		return 0, 0, 0, err
	}
	var allocs uint64
	frames, packets, err = dnp3Decode(file, conns, false, &allocs)
	if err != nil || frames == 0 {
		return frames, packets, 0, err
	}
	return frames, packets, float64(allocs) / float64(frames), nil
}

// dnp3Decode runs protocols/dnp3 over every DNP3 connection of file, in
// capture order (the built captures are in order and lose nothing), with
// the decoders of conns (by client address and port; fresh ones on a SYN when fresh is
// set), and returns the link frames decoded and the packets read.
//
// With allocs set, it counts there the heap allocations of the loop after
// its first packet (the file's buffers and the callbacks are set up by
// then).
func dnp3Decode(file string, conns map[uint64]*dnp3Conn, fresh bool, allocs *uint64) (frames, pkts int, err error) {
	f, err := capture.OpenFile(file)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	dec := flow.NewDecoder()
	var (
		c   *dnp3Conn
		dir int
		ts  time.Time
	)
	onTx := func(*dnp3.Transaction) {}
	onFragment := func(fr *dnp3.Fragment) { c.pr.Fragment(fr, ts, onTx) }
	onFrame := func(fr *dnp3.Frame) {
		frames++
		if fr.Control.Function().UserData() {
			c.ra[dir].Segment(fr, onFragment)
		}
	}
	var (
		p      capture.Packet
		before runtime.MemStats
	)
	for {
		if err := f.ReadPacket(&p); err != nil {
			if errors.Is(err, io.EOF) {
				if allocs != nil {
					var after runtime.MemStats
					runtime.ReadMemStats(&after)
					*allocs = after.Mallocs - before.Mallocs
				}
				return frames, pkts, nil
			}
			return frames, pkts, err
		}
		if pkts++; pkts == 1 && allocs != nil {
			runtime.ReadMemStats(&before)
		}
		s, err := dec.Decode(p.Data, p.LinkType)
		if err != nil || s == nil {
			continue
		}
		cip, cport := s.Src, s.SrcPort
		dir = 0
		if s.SrcPort == simulator.PortDNP3 {
			cip, cport, dir = s.Dst, s.DstPort, 1
		}
		key := uint64(binary.BigEndian.Uint32(cip[:4]))<<16 | uint64(cport)
		if c = conns[key]; c == nil || fresh && s.SYN() && dir == 0 {
			c = &dnp3Conn{}
			conns[key] = c
		}
		if len(s.Payload) == 0 {
			continue
		}
		ts = p.Timestamp
		if err := c.fr[dir].Feed(s.Payload, onFrame); err != nil {
			return frames, pkts, err
		}
	}
}

// countIT returns the packets of file and how many of them are not on a
// decoder's port (502, 4840, 20000).
func countIT(file string) (n, it int, err error) {
	src, err := capture.OpenFile(file)
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	dec := flow.NewDecoder()
	ics := func(p uint16) bool { return p == 502 || p == 4840 || p == simulator.PortDNP3 }
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			return n, it, nil
		}
		if err != nil {
			return n, it, err
		}
		n++
		if s, err := dec.Decode(p.Data, p.LinkType); err != nil || s == nil || !ics(s.SrcPort) && !ics(s.DstPort) {
			it++
		}
	}
}
