package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// `sluice replay --syslog tcp://… --sensor … --site …` sends every alert of
// its EVE output to the collector, in order, after the RFC 5424 header,
// and writes the identity in every EVE event. (internal/syslog checks the
// formats field by field and against a real rsyslog.)
func TestReplaySyslog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var msgs []string
		r := bufio.NewReader(c)
		for { // octet-counted frames until the replay closes the connection
			n, err := r.ReadString(' ')
			size, aerr := strconv.Atoi(strings.TrimSpace(n))
			if err != nil || aerr != nil {
				break
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(r, b); err != nil {
				break
			}
			msgs = append(msgs, string(b))
		}
		got <- msgs
	}()
	out := filepath.Join(t.TempDir(), "eve.json")
	code, stderr := runCmd(t, runReplay, "--learn-for", "1m", "--sensor", "dam-1", "--site", "north", "--syslog", "tcp://"+ln.Addr().String(),
		"--syslog-format", "leef", "-o", out, "../../testdata/sim_rogue_master.pcap")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	eve, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, l := range strings.Split(strings.TrimSpace(string(eve)), "\n") {
		if !strings.HasSuffix(l, `,"host":"dam-1","site":"north"}`) {
			t.Errorf("event without the identity: %s", l)
		}
		var ev struct {
			Alert *struct {
				SignatureID int `json:"signature_id"`
			} `json:"alert"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Alert != nil {
			sids = append(sids, strconv.Itoa(ev.Alert.SignatureID))
		}
	}
	msgs := <-got
	var gotSids []string
	for _, m := range msgs {
		_, leef, ok := strings.Cut(m, ` alert [sluice@32473 sensor="dam-1" site="north"] LEEF:2.0|Sluice|Sluice|`)
		if !ok || !strings.HasPrefix(m, "<16") || !strings.Contains(m, ">1 2026-01-01T00:01:") {
			t.Fatalf("message %q", m)
		}
		gotSids = append(gotSids, strings.Split(leef, "|")[1])
	}
	if len(sids) == 0 || !slices.Equal(gotSids, sids) {
		t.Errorf("syslog got signature ids %v, EVE has %v", gotSids, sids)
	}
}

// A collector that is not there costs a warning, not the run.
func TestReplaySyslogDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	code, stderr := runCmd(t, runReplay, "--learn-for", "1m", "--syslog", "tcp://"+addr, "-o", filepath.Join(t.TempDir(), "eve.json"),
		"../../testdata/sim_rogue_master.pcap")
	if code != 0 || !strings.Contains(stderr, "warning: syslog tcp://"+addr+": 9 events not delivered") {
		t.Errorf("exit %d, stderr %q; want 0 and a warning", code, stderr)
	}
}

func TestSyslogUsageErrors(t *testing.T) {
	in := readHoldingPolls(t, 1).write(t, "p.pcap")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--syslog", "http://siem"}, "scheme must be udp, tcp or tls"},
		{[]string{"--syslog", "tcp://siem", "--syslog-format", "json"}, "--syslog-format"},
		{[]string{"--syslog", "tcp://siem", "--syslog-events", "some"}, "--syslog-events"},
		{[]string{"--syslog", "tcp://siem", "--syslog-facility", "kern"}, "--syslog-facility"},
		{[]string{"--syslog", "tcp://siem", "--syslog-queue", "0"}, "--syslog-queue"},
		{[]string{"--syslog", "tcp://siem", "--syslog-ca", "ca.pem"}, "need a tls://"},
		{[]string{"--syslog", "tls://siem", "--syslog-ca", "/nonexistent/ca.pem"}, "syslog CA"},
		{[]string{"--syslog", "tls://siem", "--syslog-cert", "c.pem"}, "both the certificate and the key"},
		{[]string{"--sensor", "a\nb"}, "sensor: control character"},
	} {
		code, stderr := runCmd(t, runReplay, append(tc.args, "-o", filepath.Join(t.TempDir(), "o"), in)...)
		if code != 2 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("replay %v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.msg)
		}
	}
}

// A configuration file may give several syslog destinations, one per line.
func TestConfigFileRepeatedSyslog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cfg")
	if err := os.WriteFile(path, []byte("syslog = udp://a\nsyslog = tls://b:6514\nsensor = dam-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var af agentFlags
	af.register(fs)
	conf := configFlag(fs)
	if err := fs.Parse([]string{"--config", path}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(fs, *conf); err != nil {
		t.Fatal(err)
	}
	if want := []string{"udp://a", "tls://b:6514"}; !slices.Equal(af.syslog.urls, want) || af.sensor != "dam-1" {
		t.Errorf("syslog %q sensor %q, want %q and dam-1", af.syslog.urls, af.sensor, want)
	}
	// The command line still wins, all lines at once.
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	af = agentFlags{}
	af.register(fs)
	conf = configFlag(fs)
	if err := fs.Parse([]string{"--config", path, "--syslog", "tcp://c"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(fs, *conf); err != nil {
		t.Fatal(err)
	}
	if want := []string{"tcp://c"}; !slices.Equal(af.syslog.urls, want) {
		t.Errorf("syslog %q, want %q", af.syslog.urls, want)
	}
}
