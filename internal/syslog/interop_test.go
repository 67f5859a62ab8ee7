package syslog

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/simulator"
)

// attackCaptures are captures whose alerts cover every shape of record:
// Modbus and OPC UA transactions, scans and identification reads,
// poll_stopped raised by packet time alone (no ports, no flow id), alerts
// raised by decoder anomalies (no function).
var attackCaptures = sync.OnceValues(func() ([][]byte, error) {
	var caps [][]byte
	for _, path := range []string{"../../testdata/sim_rogue_master.pcap", "../../testdata/sim_opcua_anonymous_write.pcap"} {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		caps = append(caps, b)
	}
	log.SetOutput(io.Discard) // the simulator's OPC UA server logs its start-up
	defer log.SetOutput(os.Stderr)
	for _, sc := range []string{"recon", "diagnostics", "malformed"} {
		b, _, err := simulator.Capture(context.Background(), simulator.CaptureConfig{Scenario: sc, Duration: 2 * time.Minute, Seed: 1})
		if err != nil {
			return nil, err
		}
		caps = append(caps, b)
	}
	return caps, nil
})

// alerts is a sink that keeps the EVE line of every alert.
type alerts struct {
	mu    sync.Mutex
	lines []string
}

func (a *alerts) Accepts(typ string) bool { return typ == agent.EventAlert }
func (a *alerts) Flush() error            { return nil }
func (a *alerts) Critical() bool          { return true }
func (a *alerts) Write(r *agent.Record) error {
	a.mu.Lock()
	a.lines = append(a.lines, string(r.Line))
	a.mu.Unlock()
	return nil
}

func (a *alerts) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.lines)
}

// replay runs one agent per attack capture (learning its first minute,
// then judging) writing to sinks, and returns the alerts' EVE lines. hook,
// when not nil, is called after every packet read with the alerts so far.
func replay(t *testing.T, sinks []agent.Sink, hook func(*alerts)) []string {
	t.Helper()
	caps, err := attackCaptures()
	if err != nil {
		t.Fatal(err)
	}
	rec := &alerts{}
	for i, pcap := range caps {
		cfg := agent.DefaultConfig(nil)
		cfg.Sinks = append([]agent.Sink{rec}, sinks...)
		cfg.LearnFor = time.Minute
		f, err := capture.NewReader(bytes.NewReader(pcap), fmt.Sprintf("capture %d", i), int64(len(pcap)))
		if err != nil {
			t.Fatal(err)
		}
		var src capture.Source = f
		if hook != nil {
			src = hooked{f, func() { hook(rec) }}
		}
		if _, err := agent.Run(context.Background(), cfg, src); err != nil { // Close flushes the sinks
			t.Fatal(err)
		}
	}
	// Fewer alert events than rules raised: one request is one alert
	// (alert.rules), a sweep one deviation.
	if len(rec.lines) < 25 {
		t.Fatalf("only %d alerts", len(rec.lines))
	}
	return rec.lines
}

// hooked calls after once a packet has been read.
type hooked struct {
	capture.Source
	after func()
}

func (h hooked) Next() (capture.Packet, error) {
	p, err := h.Source.Next()
	if err == nil {
		h.after()
	}
	return p, err
}

// eveAlert is what the checks read from an alert's EVE line.
type eveAlert struct {
	Timestamp string  `json:"timestamp"`
	FlowID    *uint64 `json:"flow_id"`
	SrcIP     string  `json:"src_ip"`
	SrcPort   int     `json:"src_port"`
	DestIP    string  `json:"dest_ip"`
	DestPort  int     `json:"dest_port"`
	Alert     struct {
		SignatureID int      `json:"signature_id"`
		Rule        string   `json:"rule"`
		Rules       []string `json:"rules"`
		Severity    int      `json:"severity"`
		Signature   string   `json:"signature"`
		Category    string   `json:"category"`
		Metadata    struct {
			Techniques []string `json:"mitre_technique_id"`
		} `json:"metadata"`
		ID       string `json:"id"`
		Count    uint64 `json:"count"`
		Resolved bool   `json:"resolved"`
	} `json:"alert"`
	Modbus *struct {
		Function string `json:"function"`
	} `json:"modbus"`
	OPCUA *struct {
		Request *struct {
			Service string `json:"service"`
		} `json:"request"`
	} `json:"opcua"`
}

// expectedFields returns the CEF extension or the LEEF attributes that the
// alert whose EVE line is a must have, every one of them.
func expectedFields(f Format, a *eveAlert) map[string]string {
	al := &a.Alert
	want := map[string]string{}
	put := func(k, v string) {
		if v != "" && v != "0" {
			want[k] = v
		}
	}
	ts, _ := time.Parse(time.RFC3339Nano, a.Timestamp)
	function := ""
	switch {
	case a.Modbus != nil:
		function = a.Modbus.Function
	case a.OPCUA != nil && a.OPCUA.Request != nil:
		function = a.OPCUA.Request.Service
	}
	flowID := ""
	if a.FlowID != nil && *a.FlowID != 0 { // poll_stopped's EVE alerts say flow_id 0
		flowID = strconv.FormatUint(*a.FlowID, 10)
	}
	if f == FormatCEF {
		for _, kv := range [][2]string{{"rt", strconv.FormatInt(ts.UnixMilli(), 10)}, {"dvchost", sensorName},
			{"cs4Label", "Site"}, {"cs4", siteName}, {"src", a.SrcIP}, {"spt", strconv.Itoa(a.SrcPort)},
			{"dst", a.DestIP}, {"dpt", strconv.Itoa(a.DestPort)}, {"proto", "TCP"}, {"act", "allowed"},
			{"cat", al.Category}, {"cs1Label", "Rule"}, {"cs1", al.Rule}, {"cs2Label", "ATT&CK for ICS"},
			{"cs2", strings.Join(al.Metadata.Techniques, ",")}, {"cs3Label", "Deviation ID"}, {"cs3", al.ID},
			{"cn1Label", "Count"}, {"cn1", strconv.FormatUint(al.Count, 10)}} {
			put(kv[0], kv[1])
		}
		if flowID != "" {
			put("cn2Label", "Flow ID")
			put("cn2", flowID)
		}
		if al.Resolved {
			put("outcome", "resolved")
		}
		if function != "" {
			put("cs5Label", "Function")
			put("cs5", function)
		}
		if len(al.Rules) > 1 { // several rules of one request in one alert
			put("cs6Label", "Rules")
			put("cs6", strings.Join(al.Rules, ","))
		}
		return want
	}
	for _, kv := range [][2]string{{"devTime", ts.UTC().Format("2006-01-02T15:04:05.000-0700")}, {"devTimeFormat", leefTimeFormat},
		{"sev", leefSeverity[al.Severity]}, {"cat", al.Category}, {"src", a.SrcIP}, {"srcPort", strconv.Itoa(a.SrcPort)},
		{"dst", a.DestIP}, {"dstPort", strconv.Itoa(a.DestPort)}, {"proto", "TCP"}, {"msg", al.Signature},
		{"action", "allowed"}, {"rule", al.Rule}, {"techniques", strings.Join(al.Metadata.Techniques, ",")},
		{"deviationId", al.ID}, {"count", strconv.FormatUint(al.Count, 10)}, {"flowId", flowID},
		{"function", function}, {"sensor", sensorName}, {"site", siteName}} {
		put(kv[0], kv[1])
	}
	if len(al.Rules) > 1 {
		put("rules", strings.Join(al.Rules, ","))
	}
	if al.Resolved {
		put("resolved", "true")
	}
	return want
}

// checkReceived checks that rsyslog's line r is the alert whose EVE line
// is eve, sent in format f: the header as rsyslog parsed it, then every
// field of the message parsed back.
func checkReceived(t *testing.T, f Format, eve string, r received) {
	t.Helper()
	var a eveAlert
	if err := json.Unmarshal([]byte(eve), &a); err != nil {
		t.Fatal(err)
	}
	al := &a.Alert
	if want := DefaultFacility*8 + int(syslogSeverity[al.Severity]); r.pri != want {
		t.Errorf("PRI %d, want %d: %s", r.pri, want, r.line)
	}
	if r.time != a.Timestamp || r.host != "sluice-test" || r.app != "sluice" || r.procID != strconv.Itoa(os.Getpid()) || r.msgID != "alert" {
		t.Errorf("header %q %q %q %q %q, want %s: %s", r.time, r.host, r.app, r.procID, r.msgID, a.Timestamp, r.line)
	}
	if _, params, rest, err := parseElement(strings.TrimPrefix(r.sd, "[")); err != nil || rest != "" ||
		params["sensor"] != sensorName || params["site"] != siteName || !strings.HasPrefix(r.sd, "["+SDID+" ") {
		t.Errorf("structured data %q: %v", r.sd, err)
	}
	var fields map[string]string
	switch f {
	case FormatEVE:
		if r.msg != eve {
			t.Errorf("EVE message %q, want %q", r.msg, eve)
		}
		return
	case FormatCEF:
		c, err := parseCEF(r.msg)
		if err != nil {
			t.Fatalf("%v: %q", err, r.msg)
		}
		if got, w := c.header, [6]string{vendor, product, "test", strconv.Itoa(al.SignatureID), al.Signature, cefSeverity[al.Severity]}; got != w {
			t.Errorf("CEF header %q, want %q", got, w)
		}
		fields = c.ext
	case FormatLEEF:
		l, err := parseLEEF(r.msg)
		if err != nil {
			t.Fatalf("%v: %q", err, r.msg)
		}
		if got, w := l.header, [5]string{vendor, product, "test", strconv.Itoa(al.SignatureID), "x09"}; got != w {
			t.Errorf("LEEF header %q, want %q", got, w)
		}
		fields = l.attrs
	}
	want := expectedFields(f, &a)
	// app, the protocol, is in the record but not in an EVE alert.
	if p := fields["app"]; p != "" && p != "modbus" && p != "opcua" {
		t.Errorf("app %q", p)
	}
	delete(fields, "app")
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("%v %s = %q, want %q: %s", f, k, fields[k], v, r.msg)
		}
	}
	for k := range fields {
		if _, ok := want[k]; !ok {
			t.Errorf("%v has %s, not expected: %s", f, k, r.msg)
		}
	}
}

func sinkList(m map[string]*Sink) []agent.Sink {
	var l []agent.Sink
	for _, tr := range transports {
		l = append(l, m[tr])
	}
	return l
}

// Every alert of the EVE output of replays of attack captures reaches
// rsyslog over UDP, TCP, TLS and TLS with a client certificate, in every
// format, and parses back with the right fields.
func TestRsyslogDelivers(t *testing.T) {
	r := startRsyslog(t)
	for _, f := range []Format{FormatCEF, FormatLEEF, FormatEVE} {
		t.Run(f.String(), func(t *testing.T) {
			// A collector that hangs up loses what was written on the
			// connection before the sender noticed (RFC 5425 has no
			// acknowledgement): rsyslog's TLS input did, three times in
			// one run on a loaded machine. Such a run is tried once
			// more; a loss without a hang-up, or twice, fails.
			for try := 1; ; try++ {
				if hungUp := deliverAll(t, r, f, try == 2); !hungUp {
					return
				}
				t.Logf("rsyslog hung up on the sender and lines written before it noticed were lost: once more")
			}
		})
	}
}

// deliverAll replays the attack captures into sinks of format f on every
// transport and checks what rsyslog wrote. It reports a loss that a hang-up
// of the collector explains (Stats.Reconnects) instead of failing, unless
// last.
func deliverAll(t *testing.T, r *rsyslog, f Format, last bool) (hungUp bool) {
	from := r.mark()
	sinks := rsyslogSinks(t, r, f, Config{FlushTimeout: 10 * time.Second})
	eve := replay(t, sinkList(sinks), nil)
	for _, tr := range transports {
		lines := r.wait(tr, from[tr], len(eve))
		if st := sinks[tr].Stats(); len(lines) != len(eve) || st.Sent != uint64(len(eve)) || st.Dropped != 0 {
			if !last && st.Reconnects > 0 && st.Dropped == 0 && len(lines) < len(eve) {
				hungUp = true
				continue
			}
			t.Errorf("%s: rsyslog wrote %d lines for %d alerts; stats %+v", tr, len(lines), len(eve), st)
			continue
		}
		got := make([]received, len(lines))
		for i, l := range lines {
			got[i] = parseReceived(t, l)
		}
		want := eve
		if tr == "udp" { // datagrams may come in another order
			slices.SortFunc(got, func(a, b received) int { return strings.Compare(messageKey(a.msg), messageKey(b.msg)) })
			want = slices.SortedFunc(slices.Values(eve), func(a, b string) int { return strings.Compare(eveKey(a), eveKey(b)) })
		}
		for i := range got {
			checkReceived(t, f, want[i], got[i])
		}
	}
	return hungUp
}

// eveKey and messageKey order alerts alike in their EVE line and in any
// of the three formats (UDP may reorder them): by deviation id, count,
// time to the millisecond, client port and function.
func eveKey(eve string) string {
	var a eveAlert
	json.Unmarshal([]byte(eve), &a)
	ts, _ := time.Parse(time.RFC3339Nano, a.Timestamp)
	fn := ""
	if a.Modbus != nil {
		fn = a.Modbus.Function
	} else if a.OPCUA != nil && a.OPCUA.Request != nil {
		fn = a.OPCUA.Request.Service
	}
	return alertKey(a.Alert.ID, strconv.FormatUint(a.Alert.Count, 10), ts.UnixMilli(), strconv.Itoa(a.SrcPort), fn)
}

func messageKey(msg string) string {
	if c, err := parseCEF(msg); err == nil {
		ms, _ := strconv.ParseInt(c.ext["rt"], 10, 64)
		return alertKey(c.ext["cs3"], c.ext["cn1"], ms, cmp.Or(c.ext["spt"], "0"), c.ext["cs5"])
	}
	if l, err := parseLEEF(msg); err == nil {
		ts, _ := time.Parse("2006-01-02T15:04:05.000-0700", l.attrs["devTime"])
		return alertKey(l.attrs["deviationId"], l.attrs["count"], ts.UnixMilli(), cmp.Or(l.attrs["srcPort"], "0"), l.attrs["function"])
	}
	return eveKey(msg)
}

func alertKey(id, count string, ms int64, sport, function string) string {
	return fmt.Sprintf("%s %s %d %s %s", id, count, ms, sport, function)
}

// A hostile signature or function cannot add a syslog line, a CEF
// extension or a LEEF attribute at a real receiver, over any transport:
// rsyslog, which here keeps control characters as they come, writes one
// line per message and its parts parse back as sent.
func TestRsyslogHostile(t *testing.T) {
	r := startRsyslog(t)
	for _, f := range []Format{FormatCEF, FormatLEEF, FormatEVE} {
		t.Run(f.String(), func(t *testing.T) {
			from := r.mark()
			sinks := rsyslogSinks(t, r, f, Config{FlushTimeout: 10 * time.Second, Sensor: hostileSensor, Site: hostileSite})
			for _, s := range sinks {
				s.Write(hostileRecord())
				s.Write(sampleAlert())
				s.Flush()
			}
			for _, tr := range transports {
				r.wait(tr, from[tr], 2)
				time.Sleep(50 * time.Millisecond) // a forged line would come with the message
				lines := r.read(tr)[from[tr]:]
				if len(lines) != 2 {
					t.Fatalf("%s: %d lines for 2 messages: %q", tr, len(lines), lines)
				}
				got := []received{parseReceived(t, lines[0]), parseReceived(t, lines[1])}
				if !strings.Contains(got[0].msg, "forged") { // UDP may reorder
					got[0], got[1] = got[1], got[0]
				}
				_, params, rest, err := parseElement(strings.TrimPrefix(got[0].sd, "["))
				if err != nil || rest != "" {
					t.Fatalf("%s: structured data %q: %v", tr, got[0].sd, err)
				}
				checkHostile(t, f, map[string]map[string]string{SDID: params}, got[0].msg)
				if got[1].msgID != "alert" || got[1].pri != 162 {
					t.Errorf("%s: the message after the hostile one: %q", tr, lines[1])
				}
			}
		})
	}
}

// rsyslogd killed in the middle of a replay and started again: what was
// queued while it was down arrives, every alert exactly once and in order,
// over TCP, TLS and TLS with a client certificate.
func TestRsyslogRestart(t *testing.T) {
	r := startRsyslog(t)
	from := r.mark()
	all := rsyslogSinks(t, r, FormatCEF, Config{FlushTimeout: 100 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	streams := []string{"tcp", "tls", "mtls"}
	var sinks []agent.Sink
	for _, tr := range streams {
		sinks = append(sinks, all[tr])
	}
	waitFor := func(what string, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !done(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	before := 0 // alerts delivered before the kill
	eve := replay(t, sinks, func(a *alerts) {
		if before > 0 || a.count() < 10 {
			return
		}
		before = a.count()
		for _, tr := range streams {
			waitFor(tr+" to send the first alerts", func() bool { return all[tr].Stats().Queued == 0 })
			if n := len(r.wait(tr, from[tr], before)); n != before {
				t.Fatalf("%s: %d of %d alerts written before the kill", tr, n, before)
			}
		}
		r.kill()
	})
	if before == 0 {
		t.Fatal("rsyslogd was never killed")
	}
	for _, tr := range streams {
		if st := all[tr].Stats(); st.Connected || st.Queued != len(eve)-before || st.Sent != uint64(before) {
			t.Errorf("%s with rsyslogd down: %+v, want %d queued", tr, st, len(eve)-before)
		}
	}
	r.start()
	for _, tr := range streams {
		s := all[tr]
		waitFor(tr+" to send the queue", func() bool { return s.Stats().Queued == 0 })
		if st := s.Stats(); st.Sent != uint64(len(eve)) || st.Dropped != 0 || st.Reconnects < 1 || !st.Connected {
			t.Errorf("%s after the restart: %+v", tr, st)
		}
		lines := r.wait(tr, from[tr], len(eve))
		if len(lines) != len(eve) {
			t.Fatalf("%s: rsyslog wrote %d lines for %d alerts", tr, len(lines), len(eve))
		}
		for i, l := range lines {
			checkReceived(t, FormatCEF, eve[i], parseReceived(t, l))
		}
	}
}

// BenchmarkRsyslogTCP measures the messages per second one sink delivers
// to rsyslogd over TCP, end to end: written, received, parsed and
// appended to rsyslog's file. The writer keeps the queue from
// overflowing, so nothing is dropped.
//
//	go test ./internal/syslog -run '^$' -bench RsyslogTCP -benchtime 200000x
func BenchmarkRsyslogTCP(b *testing.B) {
	r := startRsyslog(b)
	from := r.mark()
	s, err := New(Config{URL: r.url("tcp"), Hostname: "sluice-test", Sensor: "dam-1", Site: "north", Version: "test", FlushTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rec := sampleAlert()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if i%1000 == 0 {
			for s.Stats().Queued > DefaultQueueSize/2 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		s.Write(rec)
	}
	s.Flush()
	sent := time.Since(start)
	// Count the lines rsyslog appends, reading only what is new.
	deadline := time.Now().Add(time.Minute)
	f, err := os.Open(r.file("tcp"))
	for ; err != nil && time.Now().Before(deadline); f, err = os.Open(r.file("tcp")) {
		time.Sleep(time.Millisecond) // rsyslog creates the file with its first line
	}
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	lines, buf := -from["tcp"], make([]byte, 1<<20)
	for lines < b.N && time.Now().Before(deadline) {
		n, _ := f.Read(buf)
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
		lines += bytes.Count(buf[:n], []byte("\n"))
	}
	stored := time.Since(start)
	b.StopTimer()
	if lines != b.N || s.Stats().Dropped != 0 {
		b.Fatalf("rsyslog wrote %d of %d messages; stats %+v", lines, b.N, s.Stats())
	}
	b.ReportMetric(float64(b.N)/sent.Seconds(), "sent/s")
	b.ReportMetric(float64(b.N)/stored.Seconds(), "stored/s")
}
