package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// runCmd runs a subcommand in-process with standard error captured.
func runCmd(t *testing.T, run func(context.Context, []string) int, args ...string) (int, string) {
	t.Helper()
	return runCmdCtx(t, context.Background(), run, args...)
}

// runCmdCtx is runCmd with the context main would cancel on SIGINT/SIGTERM.
func runCmdCtx(t *testing.T, ctx context.Context, run func(context.Context, []string) int, args ...string) (int, string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = f
	code := run(ctx, args)
	os.Stderr = old
	f.Close()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, string(b)
}

// pcapBuilder writes an Ethernet/IPv4/TCP conversation with valid
// checksums: a handshake, then payloads in either direction.
type pcapBuilder struct {
	t            *testing.T
	w            *pcapgo.Writer
	buf          bytes.Buffer
	ts           time.Time
	client       net.IP
	server       net.IP
	cport, sport uint16
	cseq, sseq   uint32
}

func newPcap(t *testing.T, cport uint16) *pcapBuilder {
	return newPcapAt(t, cport, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// newPcapAt is newPcap with the conversation starting at start.
func newPcapAt(t *testing.T, cport uint16, start time.Time) *pcapBuilder {
	b := &pcapBuilder{t: t, ts: start,
		client: net.IPv4(10, 10, 1, 10).To4(), server: net.IPv4(10, 10, 2, 1).To4(),
		cport: cport, sport: 502, cseq: 1000, sseq: 5000}
	b.w = pcapgo.NewWriter(&b.buf)
	if err := b.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	b.seg(true, layers.TCP{SYN: true}, nil)
	b.seg(false, layers.TCP{SYN: true, ACK: true}, nil)
	b.seg(true, layers.TCP{ACK: true}, nil)
	return b
}

func (b *pcapBuilder) seg(fromClient bool, tcp layers.TCP, payload []byte) {
	b.ts = b.ts.Add(10 * time.Millisecond)
	eth := layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: b.client, DstIP: b.server}
	tcp.SrcPort, tcp.DstPort = layers.TCPPort(b.cport), layers.TCPPort(b.sport)
	tcp.Seq, tcp.Ack = b.cseq, b.sseq
	if !fromClient {
		eth.SrcMAC, eth.DstMAC = eth.DstMAC, eth.SrcMAC
		ip.SrcIP, ip.DstIP = b.server, b.client
		tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
		tcp.Seq, tcp.Ack = b.sseq, b.cseq
	}
	if !tcp.SYN {
		tcp.ACK = true
	}
	tcp.Window = 65535
	tcp.SetNetworkLayerForChecksum(&ip)
	sb := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&eth, &ip, &tcp, gopacket.Payload(payload))
	if err != nil {
		b.t.Fatal(err)
	}
	data := sb.Bytes()
	if err := b.w.WritePacket(gopacket.CaptureInfo{Timestamp: b.ts, CaptureLength: len(data), Length: len(data)}, data); err != nil {
		b.t.Fatal(err)
	}
	adv := uint32(len(payload))
	if tcp.SYN {
		adv = 1
	}
	if fromClient {
		b.cseq += adv
	} else {
		b.sseq += adv
	}
}

// adu returns a Modbus/TCP ADU: MBAP header (transaction id, protocol 0,
// length, unit) and PDU.
func adu(tid uint16, unit byte, pdu ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, tid)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(1+len(pdu)))
	b = append(b, unit)
	return append(b, pdu...)
}

func (b *pcapBuilder) write(t *testing.T, name string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b.buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readHoldingPolls builds n FC 3 request/response pairs:
//
//	request  00 01 00 00 00 06 01 03 00 64 00 02  (tid 1, unit 1, address 100, quantity 2)
//	response 00 01 00 00 00 07 01 03 04 00 11 00 2a  (values 17, 42)
func readHoldingPolls(t *testing.T, n int) *pcapBuilder {
	b := newPcap(t, 40000)
	for i := 1; i <= n; i++ {
		b.seg(true, layers.TCP{PSH: true}, adu(uint16(i), 1, 0x03, 0x00, 0x64, 0x00, 0x02))
		b.seg(false, layers.TCP{PSH: true}, adu(uint16(i), 1, 0x03, 0x04, 0x00, 0x11, 0x00, 0x2a))
	}
	return b
}

func readEvents(t *testing.T, path string) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d not JSON: %v: %q", i+1, err, line)
		}
		evs = append(evs, m)
	}
	return evs
}

func countType(evs []map[string]any, typ string) int {
	n := 0
	for _, e := range evs {
		if e["event_type"] == typ {
			n++
		}
	}
	return n
}

func TestReplayWritesEvents(t *testing.T) {
	in := readHoldingPolls(t, 5).write(t, "polls.pcap")
	out := filepath.Join(t.TempDir(), "eve.json")
	// Flags after the capture are accepted too.
	code, stderr := runCmd(t, runReplay, in, "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("output mode %v, want 0640", st.Mode().Perm())
	}
	evs := readEvents(t, out)
	if got := countType(evs, "modbus"); got != 5 {
		t.Errorf("%d modbus events, want 5", got)
	}
	last := evs[len(evs)-1]
	if last["event_type"] != "stats" {
		t.Errorf("last event %v, want stats", last["event_type"])
	}
	first := evs[0]
	if first["src_ip"] != "10.10.1.10" || first["dest_port"] != 502.0 || first["timestamp"] != "2026-01-01T00:00:00.040000Z" {
		t.Errorf("first event envelope wrong: %v", first)
	}
	mb := first["modbus"].(map[string]any)
	if mb["function_code"] != 3.0 || mb["latency_us"] != 10000.0 {
		t.Errorf("modbus object wrong: %v", mb)
	}
}

func TestReplayNotACapture(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "notes.txt")
	os.WriteFile(in, []byte("these are not packets\n"), 0o644)
	out := filepath.Join(dir, "eve.json")
	code, stderr := runCmd(t, runReplay, "-o", out, in)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], in) || !strings.Contains(lines[0], "not a capture file") {
		t.Errorf("stderr %q: want one line naming %s and the problem", stderr, in)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("output created although the input was rejected")
	}
}

func TestReplayMissingFile(t *testing.T) {
	code, stderr := runCmd(t, runReplay, "/nonexistent/x.pcap")
	if code != 1 || !strings.Contains(stderr, "/nonexistent/x.pcap") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// A capture cut inside its last record: everything before the cut is
// decoded and written; stderr says it was cut; exit 0.
func TestReplayTruncated(t *testing.T) {
	b := readHoldingPolls(t, 10)
	full := b.buf.Bytes()
	in := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(in, full[:len(full)-7], 0o644) // inside the last response
	out := filepath.Join(t.TempDir(), "eve.json")
	code, stderr := runCmd(t, runReplay, "-o", out, in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "truncated") || !strings.Contains(stderr, in) {
		t.Errorf("stderr %q does not say %s was cut", stderr, in)
	}
	evs := readEvents(t, out)
	// 9 complete pairs, and the 10th request emitted unanswered at the
	// end: the capture lost its response, no timeout (issue #16).
	if got := countType(evs, "modbus"); got != 10 {
		t.Errorf("%d modbus events, want 10", got)
	}
	var timeouts, lost int
	for _, e := range evs {
		if m, ok := e["modbus"].(map[string]any); ok {
			if m["timeout"] == true {
				timeouts++
			}
			if m["capture_loss"] == true {
				lost++
			}
		}
	}
	if lost != 1 || timeouts != 0 {
		t.Errorf("%d unanswered requests marked capture_loss, %d timeout, want 1 and 0", lost, timeouts)
	}
}

// A full disk is an error with a non-zero exit, never silent loss.
func TestReplayFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	in := readHoldingPolls(t, 3).write(t, "polls.pcap")
	code, stderr := runCmd(t, runReplay, "-o", "/dev/full", in)
	if code != 1 || !strings.Contains(stderr, "no space left on device") {
		t.Errorf("exit %d, stderr %q: want 1 and the write error", code, stderr)
	}
}

// Garbage on 502 is one anomaly then silence; device identification strings
// from the network (attacker-controlled) are escaped, never break a line.
func TestReplayHostileInput(t *testing.T) {
	b := newPcap(t, 40001)
	// A TLS ClientHello-like record on 502: protocol id 0x0301 fails sanity.
	b.seg(true, layers.TCP{PSH: true}, []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03})
	b.seg(true, layers.TCP{PSH: true}, bytes.Repeat([]byte{0xff}, 40))
	garbage := b.buf.Bytes()

	h := newPcap(t, 40002)
	vendor := "Evil\"}\n{\"event_type\":\"alert\"<script>\x00\xff\u2028"
	// FC 43 / MEI 14 read device identification, basic objects:
	//   request  00 07 00 00 00 05 01 2b 0e 01 00
	//   response 2b 0e 01 01 00 00 01 | 00 len vendor
	h.seg(true, layers.TCP{PSH: true}, adu(7, 1, 0x2b, 0x0e, 0x01, 0x00))
	resp := append([]byte{0x2b, 0x0e, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, byte(len(vendor))}, vendor...)
	h.seg(false, layers.TCP{PSH: true}, adu(7, 1, resp...))

	dir := t.TempDir()
	p1 := filepath.Join(dir, "garbage.pcap")
	p2 := filepath.Join(dir, "ident.pcap")
	os.WriteFile(p1, garbage, 0o644)
	os.WriteFile(p2, h.buf.Bytes(), 0o644)
	out := filepath.Join(dir, "eve.json")
	code, stderr := runCmd(t, runReplay, "-o", out, p1, p2)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	raw, _ := os.ReadFile(out)
	if bytes.Contains(raw, []byte("<script>")) {
		t.Error("a raw < from the network reached the output")
	}
	evs := readEvents(t, out) // fails on any line that is not one JSON object
	if n := countType(evs, "anomaly"); n != 1 {
		t.Errorf("%d anomaly events, want exactly 1 for the non-Modbus flow", n)
	}
	var found bool
	for _, e := range evs {
		if e["event_type"] == "modbus" && e["src_port"] == 40001.0 {
			t.Errorf("modbus event from the non-Modbus flow: %v", e)
		}
		if strings.Contains(mustJSON(e), "Evil") {
			found = true
		}
	}
	if !found {
		t.Error("the device identification event is missing")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestReplayUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{nil, 2, "no capture file"},
		{[]string{"--mode", "judge", "x.pcap"}, 2, "--mode"}, // flags are checked before files
		{[]string{"--help"}, 0, "Usage: sluice replay"},
		{[]string{"--bogus"}, 2, "flag provided but not defined"},
	} {
		code, stderr := runCmd(t, runReplay, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("replay %v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}
	in := readHoldingPolls(t, 1).write(t, "p.pcap")
	for _, bad := range [][]string{{"--mode", "judge"}, {"--events", "some"}, {"--modbus-ports", "70000"}, {"--opcua-ports", "502"}, {"--learn-for", "0s"}} {
		code, stderr := runCmd(t, runReplay, append(bad, "-o", filepath.Join(t.TempDir(), "o"), in)...)
		if code != 2 || stderr == "" {
			t.Errorf("replay %v: exit %d, stderr %q; want a usage error", bad, code, stderr)
		}
	}
}

func TestMonitorUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "--iface is required"},
		{[]string{"--iface", "lo", "extra"}, "unexpected argument"},
		{[]string{"--iface", "lo", "--bpf", "tcp[13] & 2 != 0"}, "--bpf"},
		{[]string{"--iface", "lo", "--mode", "x"}, "--mode"},
	} {
		code, stderr := runCmd(t, runMonitor, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("monitor %v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.msg)
		}
	}
}

// TestReplayUnsupportedLinkType: frames of a link type Sluice does not
// decode (IEEE 802.11, USER0) are no longer silently "undecodable": one
// warning per file names the link type and how many frames it skipped, the
// rest of the files is replayed, and the exit status is 1.
func TestReplayUnsupportedLinkType(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, lt layers.LinkType, frames int, base int64) string {
		var buf bytes.Buffer
		w := pcapgo.NewWriter(&buf)
		if err := w.WriteFileHeader(65535, lt); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < frames; i++ {
			data := bytes.Repeat([]byte{byte(i)}, 40)
			w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(base+int64(i), 0), CaptureLength: len(data), Length: len(data)}, data)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, buf.Bytes(), 0o644)
		return p
	}
	wifi := mk("wifi.pcap", 105, 3, 1000)
	user := mk("user0.pcap", 147, 2, 2000) // after wifi.pcap: no overlap warning
	good := readHoldingPolls(t, 2).write(t, "polls.pcap")
	out := filepath.Join(dir, "eve.json")
	code, stderr := runCmd(t, runReplay, "-o", out, wifi, good, user)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	for _, want := range []string{
		"sluice replay: warning: " + wifi + ": 3 frames of link type 105 (IEEE 802.11)",
		"sluice replay: warning: " + user + ": 2 frames of link type 147 (USER0",
	} {
		if strings.Count(stderr, want) != 1 {
			t.Errorf("stderr lacks one %q:\n%s", want, stderr)
		}
	}
	if strings.Count(stderr, "\n") != 2 {
		t.Errorf("want one warning line per file:\n%s", stderr)
	}
	evs := readEvents(t, out)
	if n := countType(evs, "modbus"); n != 2 {
		t.Errorf("%d modbus events from the good file, want 2", n)
	}
}

// TestReplayFIFOInterrupted: the real binary replaying a FIFO. With no
// writer, open(2) blocks; SIGTERM must still end the replay (it was
// ignored), with exit status 143 and nothing written. With a writer that
// sent part of a capture and fell silent, SIGINT ends it with exit status
// 130 (an interrupted replay exited 0 like a complete one) and the events
// so far, the stats event last, written.
func TestReplayFIFOInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildSluice(t)
	dir := t.TempDir()
	run := func(sig syscall.Signal, fifo string, feed func()) (int, string, time.Duration) {
		t.Helper()
		out := filepath.Join(dir, "eve.json")
		os.Remove(out)
		cmd := exec.Command(bin, "replay", "-o", out, fifo)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		feed()
		time.Sleep(300 * time.Millisecond)
		at := time.Now()
		cmd.Process.Signal(sig)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("replay of %s still runs 5 s after %v", fifo, sig)
		}
		return cmd.ProcessState.ExitCode(), stderr.String(), time.Since(at)
	}

	noWriter := filepath.Join(dir, "nowriter.fifo")
	if err := syscall.Mkfifo(noWriter, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	code, stderr, took := run(syscall.SIGTERM, noWriter, func() {})
	if code != 143 || !strings.Contains(stderr, "while opening "+noWriter) {
		t.Errorf("no writer, SIGTERM: exit status %d, stderr %q; want 143 and the file named", code, stderr)
	}
	t.Logf("no writer: exit %d %v after SIGTERM", code, took.Round(time.Millisecond))
	if _, err := os.Stat(filepath.Join(dir, "eve.json")); err == nil {
		t.Error("the output was created although no capture was read")
	}

	silent := filepath.Join(dir, "silent.fifo")
	if err := syscall.Mkfifo(silent, 0o600); err != nil {
		t.Fatal(err)
	}
	capture := readHoldingPolls(t, 3).buf.Bytes()
	var w *os.File
	code, stderr, took = run(syscall.SIGINT, silent, func() {
		var err error
		if w, err = os.OpenFile(silent, os.O_WRONLY, 0); err != nil {
			t.Fatal(err)
		}
		w.Write(capture) // then silence, the writer still there
	})
	defer w.Close()
	if code != 130 || !strings.Contains(stderr, "interrupted in "+silent) {
		t.Errorf("silent writer, SIGINT: exit status %d, stderr %q; want 130 and the interruption", code, stderr)
	}
	t.Logf("silent writer: exit %d %v after SIGINT", code, took.Round(time.Millisecond))
	evs := readEvents(t, filepath.Join(dir, "eve.json"))
	if n := countType(evs, "modbus"); n != 3 || evs[len(evs)-1]["event_type"] != "stats" {
		t.Errorf("%d modbus events, last %v; want the 3 sent and the stats event last", n, evs[len(evs)-1]["event_type"])
	}
}

// TestReplayOrdersFiles: files given out of time order are replayed in the
// order of their first packet; files that overlap in time are replayed one
// after the other with a warning (issue #16 §3).
func TestReplayOrdersFiles(t *testing.T) {
	polls := func(cport uint16, start time.Time) *pcapBuilder {
		b := newPcapAt(t, cport, start)
		for i := 1; i <= 3; i++ {
			b.seg(true, layers.TCP{PSH: true}, adu(uint16(i), 1, 0x03, 0x00, 0x64, 0x00, 0x02))
			b.seg(false, layers.TCP{PSH: true}, adu(uint16(i), 1, 0x03, 0x04, 0x00, 0x11, 0x00, 0x2a))
		}
		return b
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	early := polls(40001, t0).write(t, "early.pcap")
	late := polls(40002, t0.Add(time.Hour)).write(t, "late.pcap")
	out := filepath.Join(t.TempDir(), "events.json")
	code, stderr := runCmd(t, runReplay, "-o", out, late, early)
	if code != 0 || strings.Contains(stderr, "overlap") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var ports []float64
	for _, e := range readEvents(t, out) {
		if e["event_type"] == "modbus" {
			ports = append(ports, e["src_port"].(float64))
		}
	}
	if len(ports) != 6 || ports[0] != 40001 || ports[5] != 40002 {
		t.Fatalf("transactions by client port %v, want the early file's (40001) first", ports)
	}

	overlapping := polls(40003, t0.Add(20*time.Millisecond)).write(t, "overlapping.pcap")
	code, stderr = runCmd(t, runReplay, "-o", out, early, overlapping)
	if code != 0 || !strings.Contains(stderr, "overlapping.pcap starts at 2026-01-01T00:00:00.03Z, before") || !strings.Contains(stderr, "overlap") {
		t.Fatalf("exit %d, stderr %q, want an overlap warning", code, stderr)
	}
	if n := countType(readEvents(t, out), "modbus"); n != 6 {
		t.Fatalf("%d transactions, want both files' 6", n)
	}
}
