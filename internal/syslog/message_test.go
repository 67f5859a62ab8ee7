package syslog

import (
	"maps"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/jsonw"
)

// formatter returns a sink for rendering messages only (its sender never
// gets anything to send).
func formatter(t *testing.T, f Format, sensor, site string) *Sink {
	t.Helper()
	s, err := New(Config{URL: "tcp://127.0.0.1:9", Format: f, Hostname: "plc-mon", Sensor: sensor, Site: site, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sampleAlert is the unexpected_write alert of testdata/sim_rogue_master.
func sampleAlert() *agent.Record {
	return &agent.Record{
		Type: agent.EventAlert,
		Time: time.Date(2026, 1, 1, 0, 1, 13, 201752000, time.UTC),
		Flow: &agent.Flow{Protocol: "modbus", ID: 3, HasID: true,
			Src: netip.MustParseAddrPort("10.10.9.66:51069"), Dest: netip.MustParseAddrPort("10.10.2.1:502")},
		Function: "write_single_register",
		Alert: &baselines.Alert{
			Deviation:   baselines.Deviation{Rule: baselines.UnexpectedWrite},
			ID:          "e79fa2d9ed317a8d",
			SignatureID: 9000005,
			Severity:    1,
			Signature:   "Modbus master 10.10.9.66 writes holding register 0 never written on PLC 10.10.2.1 unit 1",
			Category:    "Unauthorized Command Message",
			Techniques:  []string{"T0855", "T0836"},
			Count:       1,
		},
		Line: []byte(`{"timestamp":"2026-01-01T00:01:13.201752Z","flow_id":3,"event_type":"alert"}`),
	}
}

func TestMessages(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	head := "<162>1 2026-01-01T00:01:13.201752Z plc-mon sluice " + pid + " alert "
	for _, tc := range []struct {
		name         string
		format       Format
		sensor, site string
		rec          *agent.Record
		want         string
	}{
		{"cef", FormatCEF, "dam-1", "north", sampleAlert(), head + `[sluice@32473 sensor="dam-1" site="north"] ` +
			"CEF:0|Sluice|Sluice|test|9000005|Modbus master 10.10.9.66 writes holding register 0 never written on PLC 10.10.2.1 unit 1|8|" +
			"rt=1767225673201 dvchost=dam-1 cs4Label=Site cs4=north src=10.10.9.66 spt=51069 dst=10.10.2.1 dpt=502 proto=TCP app=modbus " +
			"cn2Label=Flow ID cn2=3 act=allowed cat=Unauthorized Command Message cs1Label=Rule cs1=unexpected_write " +
			"cs2Label=ATT&CK for ICS cs2=T0855,T0836 cs3Label=Deviation ID cs3=e79fa2d9ed317a8d cn1Label=Count cn1=1 " +
			"cs5Label=Function cs5=write_single_register"},
		{"leef", FormatLEEF, "", "", sampleAlert(), head + "- " +
			"LEEF:2.0|Sluice|Sluice|test|9000005|x09|devTime=2026-01-01T00:01:13.201+0000\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ\t" +
			"sev=8\tcat=Unauthorized Command Message\tsrc=10.10.9.66\tsrcPort=51069\tdst=10.10.2.1\tdstPort=502\tproto=TCP\t" +
			"msg=Modbus master 10.10.9.66 writes holding register 0 never written on PLC 10.10.2.1 unit 1\taction=allowed\t" +
			"rule=unexpected_write\ttechniques=T0855,T0836\tdeviationId=e79fa2d9ed317a8d\tcount=1\tapp=modbus\tflowId=3\t" +
			"function=write_single_register"},
		{"eve", FormatEVE, "dam-1", "", sampleAlert(), head + `[sluice@32473 sensor="dam-1"] ` +
			`{"timestamp":"2026-01-01T00:01:13.201752Z","flow_id":3,"event_type":"alert"}`},
		{"transaction", FormatCEF, "", "", &agent.Record{Type: "opcua", Time: time.Unix(1, 0),
			Flow: &agent.Flow{Protocol: "opcua", ID: 7, HasID: true,
				Src: netip.MustParseAddrPort("[::1]:56322"), Dest: netip.MustParseAddrPort("[::1]:4840")},
			Function: "WriteRequest"},
			"<166>1 1970-01-01T00:00:01.000000Z plc-mon sluice " + pid + " opcua - " +
				"CEF:0|Sluice|Sluice|test|opcua|opcua WriteRequest|0|rt=1000 src=::1 spt=56322 dst=::1 dpt=4840 proto=TCP app=opcua " +
				"cn2Label=Flow ID cn2=7 cs5Label=Function cs5=WriteRequest"},
		{"resolved poll without ports", FormatLEEF, "", "", &agent.Record{Type: agent.EventAlert, Time: time.Unix(2, 0),
			Flow: &agent.Flow{Protocol: "modbus", Src: netip.AddrPortFrom(netip.MustParseAddr("10.10.1.10"), 0),
				Dest: netip.AddrPortFrom(netip.MustParseAddr("10.10.2.1"), 0)},
			Alert: &baselines.Alert{Deviation: baselines.Deviation{Rule: baselines.PollStopped}, ID: "00000000000000aa",
				SignatureID: 9000014, Severity: 3, Signature: "Poll resumed", Category: "Loss of View",
				Techniques: []string{"T0815"}, Count: 1, Resolved: true}},
			"<165>1 1970-01-01T00:00:02.000000Z plc-mon sluice " + pid + " alert - " +
				"LEEF:2.0|Sluice|Sluice|test|9000014|x09|devTime=1970-01-01T00:00:02.000+0000\tdevTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ\t" +
				"sev=3\tcat=Loss of View\tsrc=10.10.1.10\tdst=10.10.2.1\tproto=TCP\tmsg=Poll resumed\taction=allowed\trule=poll_stopped\t" +
				"techniques=T0815\tdeviationId=00000000000000aa\tcount=1\tresolved=true\tapp=modbus"},
		{"stats", FormatCEF, "", "", &agent.Record{Type: agent.EventStats},
			"<166>1 - plc-mon sluice " + pid + " stats - CEF:0|Sluice|Sluice|test|stats|stats|0|"},
		{"stats with identity", FormatLEEF, "dam-1", "", &agent.Record{Type: agent.EventStats},
			"<166>1 - plc-mon sluice " + pid + ` stats [sluice@32473 sensor="dam-1"] LEEF:2.0|Sluice|Sluice|test|stats|x09|sev=1` + "\tmsg=stats\tsensor=dam-1"},
		{"no time, identity first", FormatCEF, "dam-1", "", &agent.Record{Type: agent.EventStats},
			"<166>1 - plc-mon sluice " + pid + ` stats [sluice@32473 sensor="dam-1"] CEF:0|Sluice|Sluice|test|stats|stats|0|dvchost=dam-1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(formatter(t, tc.format, tc.sensor, tc.site).appendMessage(nil, tc.rec))
			if got != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tc.want)
			}
			m, err := parse5424(got)
			if err != nil {
				t.Fatal(err)
			}
			switch tc.format {
			case FormatCEF:
				if !strings.HasSuffix(m.msg, "|") { // an empty extension is allowed
					_, err = parseCEF(m.msg)
				}
			case FormatLEEF:
				_, err = parseLEEF(m.msg)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// hostile is text a device or a peer can put in a signature (device
// identification strings, OPC UA URIs, user names, decoder details): every
// delimiter and escape of the three formats, line breaks that would start a
// forged syslog line, a forged CEF and LEEF extension, invalid UTF-8.
const hostile = "PLC \"x\" ]|a\\b=c \\= |\n<13>1 2026-01-01T00:00:00Z evil sluice 1 alert - CEF:0|Evil|X|1|1|forged|10|cs1=forged src=6.6.6.6" +
	"\r\n\tsev=10\trule=forged\x00\x1b[2J\x7f\xff\xfe end"

// flatten is what the header (CEF) or a value (LEEF) keeps of hostile
// text: control characters become spaces, invalid UTF-8 U+FFFD.
func flatten(s string) string {
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// hostileRecord is the sample alert with hostile text in its signature,
// function and EVE line.
func hostileRecord() *agent.Record {
	rec := sampleAlert()
	rec.Alert.Signature = hostile
	rec.Function = hostile
	rec.Line = jsonw.String([]byte(`{"alert":{"signature":`), hostile)
	rec.Line = append(rec.Line, "}}"...)
	return rec
}

// hostileSensor and hostileSite are identities with what structured data
// escapes (no control characters: agent.Config refuses them).
const hostileSensor, hostileSite = `dam "1" ]\ = |`, "Rivière ]] \\\" cs1=x"

// A hostile signature, function or identity cannot add a field, an
// extension key, an attribute or a line in any format, and reads back as
// itself (less the control characters the format cannot carry).
func TestHostileText(t *testing.T) {
	for _, f := range []Format{FormatCEF, FormatLEEF, FormatEVE} {
		t.Run(f.String(), func(t *testing.T) {
			line := string(formatter(t, f, hostileSensor, hostileSite).appendMessage(nil, hostileRecord()))
			m, err := parse5424(line)
			if err != nil {
				t.Fatalf("%v\n%q", err, line)
			}
			if m.msgID != "alert" || m.app != "sluice" || m.hostname != "plc-mon" {
				t.Errorf("header %+v", m)
			}
			checkHostile(t, f, m.sd, m.msg)
		})
	}
}

// checkHostile checks the structured data and the message of
// hostileRecord sent with hostileSensor and hostileSite in format f.
func checkHostile(t *testing.T, f Format, sd map[string]map[string]string, msg string) {
	t.Helper()
	if want := map[string]map[string]string{SDID: {"sensor": hostileSensor, "site": hostileSite}}; !maps.EqualFunc(sd, want, maps.Equal) {
		t.Errorf("structured data %q, want %q", sd, want)
	}
	switch f {
	case FormatEVE:
		if want := string(hostileRecord().Line); msg != want {
			t.Errorf("EVE message %q, want %q", msg, want)
		}
	case FormatCEF:
		c, err := parseCEF(msg)
		if err != nil {
			t.Fatalf("%v\n%q", err, msg)
		}
		if c.header[4] != flatten(hostile) || c.header[3] != "9000005" || c.header[5] != "8" {
			t.Errorf("header %q", c.header)
		}
		keys := slices.Sorted(maps.Keys(c.ext))
		want := []string{"act", "app", "cat", "cn1", "cn1Label", "cn2", "cn2Label", "cs1", "cs1Label", "cs2", "cs2Label", "cs3", "cs3Label",
			"cs4", "cs4Label", "cs5", "cs5Label", "dpt", "dst", "dvchost", "proto", "rt", "spt", "src"}
		if !slices.Equal(keys, want) {
			t.Errorf("extension keys %q, want %q", keys, want)
		}
		// Line breaks survive as \n and \r; the other controls become
		// spaces.
		wantFn := strings.NewReplacer("\x00", " ", "\x1b", " ", "\x7f", " ", "\t", " ", "\xff", "\uFFFD", "\xfe", "\uFFFD").Replace(hostile)
		if c.ext["cs5"] != wantFn || c.ext["cs1"] != "unexpected_write" || c.ext["src"] != "10.10.9.66" ||
			c.ext["dvchost"] != hostileSensor || c.ext["cs4"] != hostileSite {
			t.Errorf("extension %q", c.ext)
		}
	case FormatLEEF:
		l, err := parseLEEF(msg)
		if err != nil {
			t.Fatalf("%v\n%q", err, msg)
		}
		keys := slices.Sorted(maps.Keys(l.attrs))
		want := []string{"action", "app", "cat", "count", "devTime", "devTimeFormat", "deviationId", "dst", "dstPort", "flowId", "function",
			"msg", "proto", "rule", "sensor", "sev", "site", "src", "srcPort", "techniques"}
		if !slices.Equal(keys, want) {
			t.Errorf("attributes %q, want %q", keys, want)
		}
		if l.attrs["msg"] != flatten(hostile) || l.attrs["function"] != flatten(hostile) || l.attrs["rule"] != "unexpected_write" ||
			l.attrs["sev"] != "8" || l.attrs["sensor"] != hostileSensor || l.attrs["site"] != hostileSite {
			t.Errorf("attributes %q", l.attrs)
		}
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct{ in, network, addr, err string }{
		{"udp://siem.example", "udp", "siem.example:514", ""},
		{"tcp://10.0.0.5:1514", "tcp", "10.0.0.5:1514", ""},
		{"tls://[2001:db8::5]", "tcp", "[2001:db8::5]:6514", ""},
		{"http://siem", "", "", "scheme must be udp, tcp or tls"},
		{"tcp://", "", "", "want tcp://HOST[:PORT]"},
		{"tcp://siem/path", "", "", "want tcp://HOST[:PORT]"},
		{"siem:514", "", "", "scheme must be"},
	} {
		d, err := parseURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || d.network != tc.network || d.addr != tc.addr {
			t.Errorf("%s: %+v %v", tc.in, d, err)
		}
	}
}

func TestParseFacilityAndFormat(t *testing.T) {
	for in, want := range map[string]int{"local4": 20, "LOCAL0": 16, "daemon": 3, "authpriv": 10, "23": 23, "1": 1} {
		if got, err := ParseFacility(in); err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"kern", "0", "24", "-1", "local8", ""} {
		if _, err := ParseFacility(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	for _, f := range []Format{FormatCEF, FormatLEEF, FormatEVE} {
		if got, err := ParseFormat(f.String()); err != nil || got != f {
			t.Errorf("%v: %v %v", f, got, err)
		}
	}
	if _, err := ParseFormat("json"); err == nil {
		t.Error("json accepted")
	}
}

// A policy_violation carries the name of the rules file's rule: CEF
// flexString1 (Policy), LEEF policy; a name with the formats' separators
// comes back whole.
func TestPolicyField(t *testing.T) {
	const name = `gate=limit|60 \ %`
	rec := sampleAlert()
	rec.Alert.Rule, rec.Alert.SignatureID, rec.Alert.Item.What = baselines.PolicyViolation, 9000036, name
	rec.Alert.Signature = `Policy "` + name + `" violated: 10.10.9.66 wrote Dam.Spillway1.Setpoint = 95 % on PLC 10.10.2.1 unit 1, above its maximum 60 %`
	for _, f := range []Format{FormatCEF, FormatLEEF} {
		m, err := parse5424(string(formatter(t, f, "", "").appendMessage(nil, rec)))
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if f == FormatCEF {
			c, err := parseCEF(m.msg)
			if err != nil {
				t.Fatal(err)
			}
			got = c.ext["flexString1"]
			if c.ext["flexString1Label"] != "Policy" || c.ext["cs1"] != "policy_violation" {
				t.Errorf("CEF extension %q", c.ext)
			}
		} else {
			l, err := parseLEEF(m.msg)
			if err != nil {
				t.Fatal(err)
			}
			got = l.attrs["policy"]
		}
		if got != name {
			t.Errorf("%s: policy %q, want %q", f, got, name)
		}
	}
	// Other rules have no policy field.
	if m := string(formatter(t, FormatCEF, "", "").appendMessage(nil, sampleAlert())); strings.Contains(m, "flexString1") {
		t.Errorf("flexString1 on an unexpected_write: %s", m)
	}
}
