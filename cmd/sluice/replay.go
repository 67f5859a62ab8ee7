package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
)

func init() {
	register(command{
		name:    "replay",
		summary: "decode capture files (pcap, pcapng) into EVE JSON events as fast as possible",
		run:     runReplay,
	})
}

const replayHelp = `
Replay reads one or more capture files (pcap or pcapng, recognised by their
magic number, whatever their name), reassembles every TCP connection, decodes
Modbus/TCP, OPC UA Binary and DNP3, feeds the baselines and writes newline-delimited
EVE JSON events: one per transaction, anomalies, alerts, and a final "stats"
event. Several files are replayed as one capture (same flows, same
baseline), in the order of their first packet's time whatever the order
given (files with the same first time keep theirs). The time between two
files was not captured: no poll rhythm is learned across it and
poll_stopped judges only the time after it. Files that overlap in time
(the next starts before the previous ends) are replayed one after the
other with a warning; the connections of the first end at the boundary.

Time comes from packet timestamps only, so replaying the same files gives
byte-identical output. When standard error is a terminal, progress (packets,
MB, %, rate) is shown there.

A file that is not a capture stops replay before any event is written, with
one line naming the file and the problem (exit status 1). A truncated or
corrupt capture is decoded up to the cut, a warning names the file and where
it was cut, and replay continues with the next file (exit status 0). Frames
of a link type Sluice does not decode (IEEE 802.11, USB, USER0...) are
skipped with one warning per file naming the link type and the count; the
other frames and files are replayed (exit status 1). A write error (full
disk) is fatal (exit status 1): events are never lost silently. SIGINT or
SIGTERM (also while waiting for a FIFO's writer) stops the replay with the
events so far written and exit status 130 or 143.

Examples:
  sluice replay plant.pcap
  sluice replay -o events.json --events alerts --db baseline.db day1.pcapng day2.pcapng
  sluice replay --modbus-ports 502,5020 --opcua-ports 4840,48010 capture.pcap
`

func runReplay(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	var af agentFlags
	af.register(fs)
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the replay to `FILE` (go tool pprof reads it), for reporting where the time goes")
	fs.Usage = flagUsage(fs, "sluice replay [flags] CAPTURE...", replayHelp)
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCode(err)
	}
	if len(paths) == 0 {
		fmt.Fprintln(os.Stderr, "sluice replay: no capture file given (sluice replay --help)")
		return 2
	}
	// Check the flags, then open every file: a bad flag or a path that is
	// not a capture stops the run before the output is created or
	// truncated.
	if _, err := af.config(io.Discard); err != nil {
		fmt.Fprintf(os.Stderr, "sluice replay: %v\n", err)
		return 2
	}
	files := make([]*capture.File, 0, len(paths))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, p := range paths {
		// A FIFO without a writer blocks in open(2): the signal must
		// still end the replay (and a silent writer's read).
		f, err := capture.OpenFileContext(ctx, p)
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "sluice replay: %v while opening %s; nothing was written\n", context.Cause(ctx), p)
			return interruptStatus(ctx)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "sluice replay: %v\n", err)
			return 1
		}
		files = append(files, f)
	}
	files, firsts := byFirstPacket(files, paths)
	out, op, err := openOutput(af.out, false)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice replay: %v\n", err)
		return 1
	}
	op.report("sluice replay", af.out)
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sluice replay: --cpuprofile: %v\n", err)
			out.Close()
			return 1
		}
		defer stop()
	}
	code := replay(ctx, &af, out, files, firsts)
	if err := out.Close(); err != nil && code == 0 {
		fmt.Fprintf(os.Stderr, "sluice replay: closing output: %v\n", err)
		code = 1
	}
	return code
}

// firsts[i] is the first packet time of files[i] (zero when not read
// ahead), for the overlap warning.
func replay(ctx context.Context, af *agentFlags, out io.Writer, files []*capture.File, firsts []time.Time) int {
	cfg, err := af.config(out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice replay: %v\n", err)
		return 2
	}
	syslogs, err := af.syslog.start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice replay: %v\n", err)
		return 2
	}
	// After the agent's Close, whose Flush gave them a moment to deliver.
	defer closeSyslog("replay", syslogs)
	for _, s := range syslogs {
		cfg.Sinks = append(cfg.Sinks, s)
	}
	sensor, err := af.nats.start("replay", &cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice replay: %v\n", err)
		return 2
	}
	defer closeNATS("replay", sensor)
	a, err := agent.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice replay: %v\n", err)
		return 1
	}
	tty := isTerminal(os.Stderr)
	code := 0
	var reported error // the run's error, which Close returns again
	// undecoded: a file had frames of a link type Sluice does not
	// decode. The others are replayed; the exit status is 1.
	undecoded := false
	for i, f := range files {
		if t := firsts[i]; i > 0 && !t.IsZero() && t.Before(a.LastPacket()) {
			fmt.Fprintf(os.Stderr, "sluice replay: warning: %s starts at %s, before %s ends (%s): the captures overlap; it is replayed after it, whose connections end there\n",
				f.Name(), t.UTC().Format(time.RFC3339Nano), files[i-1].Name(), a.LastPacket().UTC().Format(time.RFC3339Nano))
		}
		var src capture.Source = f
		var prog *progress
		if tty {
			prog = newProgress(f, os.Stderr)
			src = prog
		}
		before := a.UnsupportedLinkTypes()
		err := a.Run(ctx, src)
		if prog != nil {
			prog.done()
		}
		if skipped := linkTypesSince(before, a.UnsupportedLinkTypes()); skipped != "" {
			fmt.Fprintf(os.Stderr, "sluice replay: warning: %s: %s could not be decoded (Sluice decodes Ethernet, Linux cooked capture, BSD loopback and raw IP); the other frames were\n", f.Name(), skipped)
			undecoded = true
		}
		switch {
		case ctx.Err() != nil:
			// First: the signal closes the file (a FIFO whose writer
			// is silent), whose read error is no cut in the capture.
			fmt.Fprintf(os.Stderr, "sluice replay: %v: interrupted in %s; events so far were written\n", context.Cause(ctx), f.Name())
			code = interruptStatus(ctx)
		case err == nil:
		case errors.Is(err, capture.ErrTruncated), errors.Is(err, capture.ErrCorrupt):
			// Everything before the cut has been decoded and its
			// events written; say so and go on.
			fmt.Fprintf(os.Stderr, "sluice replay: warning: %v; events up to the cut were written\n", err)
		default:
			fmt.Fprintf(os.Stderr, "sluice replay: %v\n", err)
			code, reported = 1, err
		}
		if code != 0 {
			break
		}
	}
	// Close always runs: it ends every connection (emitting pending
	// transactions as timeouts), writes the stats event and flushes.
	if err := a.Close(); err != nil {
		if reported == nil || !errors.Is(err, reported) {
			fmt.Fprintf(os.Stderr, "sluice replay: %v\n", err)
		}
		code = 1
	}
	if undecoded && code == 0 {
		code = 1
	}
	return code
}

// byFirstPacket orders files (opened from paths) by the time of their
// first packet, stably: files given out of time order are replayed in
// it. It returns them with their first packet times (zero when it could
// not be read ahead: a FIFO, an empty or unreadable file; such a file
// keeps its place by sorting as the file before it).
func byFirstPacket(files []*capture.File, paths []string) ([]*capture.File, []time.Time) {
	if len(files) < 2 {
		return files, make([]time.Time, len(files)) // nothing to order or overlap
	}
	type entry struct {
		f         *capture.File
		first, at time.Time // at: the sort key
	}
	es := make([]entry, len(files))
	var prev time.Time
	for i, f := range files {
		es[i].f = f
		if t, ok := firstPacketTime(paths[i]); ok {
			es[i].first, prev = t, t
		}
		es[i].at = prev
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].at.Before(es[j].at) })
	out, firsts := make([]*capture.File, len(es)), make([]time.Time, len(es))
	for i, e := range es {
		out[i], firsts[i] = e.f, e.first
	}
	return out, firsts
}

// firstPacketTime reads the first packet's time of the capture at path
// through a second handle, leaving the replay's own untouched. Only
// regular files are read ahead (a FIFO's bytes would be consumed).
func firstPacketTime(path string) (time.Time, bool) {
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return time.Time{}, false
	}
	f, err := capture.OpenFile(path)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	p, err := f.Next()
	if err != nil {
		return time.Time{}, false
	}
	return p.Timestamp, true
}

// linkTypesSince describes the frames of unsupported link types in now
// beyond those in before ("3 frames of link type 105 (IEEE 802.11)"), ""
// when there are none.
func linkTypesSince(before, now []flow.LinkTypeCount) string {
	var parts []string
	for _, c := range now {
		for _, b := range before {
			if b.LinkType == c.LinkType {
				c.Frames -= b.Frames
			}
		}
		if c.Frames > 0 {
			parts = append(parts, c.String())
		}
	}
	return strings.Join(parts, ", ")
}

// startCPUProfile starts Go's CPU profiler writing to path and returns the
// function that stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "sluice replay: --cpuprofile: %v\n", err)
		}
	}, nil
}

// isTerminal reports whether f is a character device (a terminal), the
// only place progress lines belong.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress wraps a capture file and draws one status line on w while it is
// read. Wall time is used only here, for the display, never for events.
type progress struct {
	f       *capture.File
	w       io.Writer
	start   time.Time
	last    time.Time
	packets uint64
	drawn   bool
}

func newProgress(f *capture.File, w io.Writer) *progress {
	now := time.Now()
	return &progress{f: f, w: w, start: now, last: now}
}

func (p *progress) Next() (capture.Packet, error) {
	var pkt capture.Packet
	err := p.ReadPacket(&pkt)
	return pkt, err
}

// ReadPacket passes capture.File's in-place read through, so the agent's
// loop takes it on a terminal too.
func (p *progress) ReadPacket(pkt *capture.Packet) error {
	err := p.f.ReadPacket(pkt)
	if err == nil {
		p.packets++
		if p.packets&0x3fff == 0 {
			if now := time.Now(); now.Sub(p.last) >= 250*time.Millisecond {
				p.last = now
				p.draw(now)
			}
		}
	}
	return err
}

func (p *progress) Close() error { return p.f.Close() }

func (p *progress) draw(now time.Time) {
	read, size := p.f.Progress()
	secs := now.Sub(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.packets) / secs
	}
	pct := ""
	if size > 0 {
		pct = fmt.Sprintf(", %3.0f%%", 100*float64(read)/float64(size))
	}
	fmt.Fprintf(p.w, "\r%s: %d packets, %.1f MB%s, %.2f M packets/s  ", p.f.Name(), p.packets, float64(read)/1e6, pct, rate/1e6)
	p.drawn = true
}

// done draws the final figures and ends the line.
func (p *progress) done() {
	if p.drawn || time.Since(p.start) > time.Second {
		p.draw(time.Now())
		fmt.Fprintln(p.w)
	}
}
