package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

var update = flag.Bool("update", false, "rewrite the golden reports in testdata/")

var (
	t0     = time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	hmi    = netip.MustParseAddr("10.10.1.10")
	hist   = netip.MustParseAddr("10.10.1.20")
	plc    = netip.MustParseAddr("10.10.2.1")
	rogue  = netip.MustParseAddr("10.10.9.66")
	hmiMAC = [6]byte{0x00, 0x1b, 0x1b, 0x01, 0x02, 0x03} // Siemens OUI block
	plcMAC = [6]byte{0x00, 0x80, 0xf4, 0x0a, 0x0b, 0x0c}
	genT   = time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
)

// hostile is what an attacker-controlled PLC or OPC UA server can put in
// its identity strings.
const (
	hostileVendor = `Evil<script>alert("pwned")</script>' onload='x`
	hostileURI    = `urn:"><img src=x onerror=alert(1)>`
	hostileNode   = `ns=2;s=</title><script>alert(2)</script>`
	hostileRev    = `v2.0|<script>alert(3)</script>`
	hostileSubj   = `CN=<b>mitm</b>`
)

// The OPC UA server's certificates in the plant: the first, and the one
// it presents from 11 min 40 s on.
const (
	certA = "31486501bbd82721e310236be2b7841c375031fa"
	certB = "9c0e5a2b7d41f3e8a6c9b1d2e3f405162738495a"
)

// mbObs returns a responded Modbus observation and its detail.
func mbObs(t time.Time, cli netip.Addr, unit, fc uint8) (baselines.Observation, *baselines.ModbusObs) {
	m := &baselines.ModbusObs{Unit: unit, Function: fc}
	return baselines.Observation{
		Time: t, Protocol: baselines.Modbus, Responded: true,
		Endpoints: baselines.Endpoints{FlowID: 1, ClientIP: cli, ServerIP: plc, ClientMAC: hmiMAC, ServerMAC: plcMAC,
			ClientPort: 40000 + uint16(t.Unix()%1000), ServerPort: 502},
		Detail: m,
	}, m
}

// plant feeds an engine 20 minutes of a small plant (an HMI polling and
// writing a PLC, a historian on OPC UA, a PLC whose FC 43/14 identity and
// OPC UA server description are hostile), then, after learning, a rogue
// master writing a setpoint and an out-of-range write, and accepts one
// deviation. It returns the engine's snapshot.
func plant(t testing.TB) *baselines.Engine {
	t.Helper()
	e := baselines.New(baselines.Config{Mode: baselines.Auto, LearnFor: 15 * time.Minute})
	for s := 0; s < 20*60; s++ {
		at := t0.Add(time.Duration(s) * time.Second)
		o, m := mbObs(at, hmi, 1, 3)
		m.ReadTable, m.Read = modbus.TableHoldingRegisters, baselines.Range{Start: 0, Count: 10}
		e.Observe(&o)
		if s%5 == 0 {
			o, m := mbObs(at.Add(100*time.Millisecond), hmi, 2, 4)
			m.ReadTable, m.Read = modbus.TableInputRegisters, baselines.Range{Start: 100, Count: 20}
			e.Observe(&o)
		}
		if s%60 == 30 && s < 15*60 {
			o, m := mbObs(at.Add(200*time.Millisecond), hmi, 1, 6)
			m.WriteTable, m.Write = modbus.TableHoldingRegisters, baselines.Range{Start: 40, Count: 1}
			m.Values = []uint16{uint16(40 + s/60)}
			e.Observe(&o)
		}
		if s == 10 || s == 600 {
			// At 10 min, a new (hostile) firmware revision.
			rev := "v1.0 *bold*"
			if s == 600 {
				rev = hostileRev
			}
			o, m := mbObs(at.Add(300*time.Millisecond), hmi, 1, 43)
			m.MEIType = 14
			m.Ident = &baselines.DeviceIdent{VendorName: hostileVendor, ProductCode: "DAM-PLC|1", Revision: rev}
			e.Observe(&o)
		}
		if s%2 == 0 {
			o := baselines.Observation{Time: at.Add(400 * time.Millisecond), Protocol: baselines.OPCUA, Responded: true,
				Endpoints: baselines.Endpoints{FlowID: 2, ClientIP: hist, ServerIP: plc, ClientPort: 50000, ServerPort: 4840},
				Detail: &baselines.OPCUAObs{Service: "Read", SecurityPolicy: "http://opcfoundation.org/UA/SecurityPolicy#None",
					SecurityMode: baselines.SecurityNone, Token: baselines.TokenUserName, User: "historian",
					ClientAppURI: "urn:historian", Read: []string{"ns=2;s=Level", hostileNode},
					// The hostile node is a process variable too: its
					// name reaches the report's process table.
					Values: []baselines.NodeValue{{Node: hostileNode, Value: float64(s % 7), Numeric: true}},
					Server: &baselines.ServerInfo{AppURI: hostileURI, ProductName: "Dam OPC UA", CertThumbprint: certA, CertSubject: "CN=Dam"}}}
			if s >= 700 {
				// From 11 min 40 s on, another certificate.
				o.Detail.(*baselines.OPCUAObs).Server.CertThumbprint, o.Detail.(*baselines.OPCUAObs).Server.CertSubject = certB, hostileSubj
			}
			e.Observe(&o)
		}
	}
	// Judged from here on (learning ended at 15 min).
	at := t0.Add(20*time.Minute + time.Second)
	o, m := mbObs(at, rogue, 1, 6)
	m.WriteTable, m.Write, m.Values = modbus.TableHoldingRegisters, baselines.Range{Start: 40, Count: 1}, []uint16{250}
	if len(e.Observe(&o)) == 0 {
		t.Fatal("fixture: the rogue write raised no alert")
	}
	o, m = mbObs(at.Add(time.Second), hmi, 1, 6)
	m.WriteTable, m.Write, m.Values = modbus.TableHoldingRegisters, baselines.Range{Start: 40, Count: 1}, []uint16{900}
	if len(e.Observe(&o)) == 0 {
		t.Fatal("fixture: the out-of-range write raised no alert")
	}
	snap := e.Snapshot()
	var oor *baselines.AlertRecord
	for _, a := range snap.Alerts {
		if a.Rule == baselines.WriteValueOutOfRange {
			oor = a
		}
	}
	if oor == nil {
		t.Fatalf("fixture: no write_value_out_of_range record in %d alerts", len(snap.Alerts))
	}
	if _, err := e.Accept(oor.Deviation, "j.doe <script>", "gate test | planned *maintenance*", at.Add(time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	return e
}

func build(t *testing.T, s *baselines.Snapshot, gen time.Time) *Report {
	t.Helper()
	r, err := Build(s, Options{Generated: gen, Database: "/var/lib/sluice/baseline.db", Sources: []string{"eth1 (span)"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func render(t *testing.T, r *Report, f Format) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.Write(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestBuildContents(t *testing.T) {
	e := plant(t)
	r := build(t, e.Snapshot(), genT)
	want, err := e.Snapshot().SHA256()
	if err != nil {
		t.Fatal(err)
	}
	if r.SHA256 != want || len(r.SHA256) != 64 {
		t.Errorf("SHA256 = %q, want the canonical baseline's %q", r.SHA256, want)
	}
	if got := len(r.Devices); got != 4 {
		t.Errorf("devices = %d, want 4 (hmi, historian, plc, rogue)", got)
	}
	if r.Window.Start.Time != t0 {
		t.Errorf("window start = %v, want %v", r.Window.Start, t0)
	}
	// The window ends with the PLC's (the only server); the rogue master,
	// first seen at 20:20:01, is a client and has no window of its own.
	if want := t0.Add(15 * time.Minute); !r.Window.LearnEnd.Equal(want) {
		t.Errorf("learn end = %v, want %v", r.Window.LearnEnd, want)
	}
	var plcDev *Device
	for i := range r.Devices {
		if r.Devices[i].IP == plc.String() {
			plcDev = &r.Devices[i]
		}
	}
	if plcDev == nil {
		t.Fatal("no PLC in the inventory")
	}
	if got := unitsText(plcDev.Units); got != "1, 2" {
		t.Errorf("PLC units = %q, want 1, 2", got)
	}
	if plcDev.Learning || plcDev.Client {
		t.Errorf("PLC learning %v client %v, want judged server", plcDev.Learning, plcDev.Client)
	}
	for _, d := range r.Devices {
		if d.IP == rogue.String() && (!d.Client || d.Learning) {
			t.Errorf("rogue master: client %v learning %v, want a client without a window", d.Client, d.Learning)
		}
	}
	if r.Summary.StillLearning != 0 {
		t.Errorf("%d devices still learning, want 0", r.Summary.StillLearning)
	}
	ident := map[string]string{}
	for _, f := range plcDev.Identity {
		ident[f.Name] = f.Value
	}
	if ident["Vendor name"] != hostileVendor || ident["Application URI"] != hostileURI {
		t.Errorf("identity = %v, want the reported (hostile) vendor and URI kept verbatim", ident)
	}
	// Every identity change with its time: the firmware at 10 min, the
	// certificate at 11 min 40 s (each reported once, learning then took
	// it); the hostile strings kept verbatim here, escaped by each format.
	wantChanges := []IdentityChange{
		{First: Time{t0.Add(600*time.Second + 300*time.Millisecond)}, Last: Time{t0.Add(600*time.Second + 300*time.Millisecond)},
			Rule: "device_identity_changed", What: "firmware", Change: `revision "v1.0 *bold*" → "v2.0|<script>alert(3)</script>"`, Occurrences: 1},
		{First: Time{t0.Add(700*time.Second + 400*time.Millisecond)}, Last: Time{t0.Add(700*time.Second + 400*time.Millisecond)},
			Rule: "certificate_changed", What: "certificate", Change: `thumbprint "` + certA + `" → "` + certB + `", subject "CN=Dam" → "CN=<b>mitm</b>"`, Occurrences: 1},
	}
	if !slices.Equal(plcDev.IdentityChanges, wantChanges) {
		t.Errorf("identity changes\n%+v\nwant\n%+v", plcDev.IdentityChanges, wantChanges)
	}
	if ident["Certificate (SHA-1)"] != certB || ident["Revision"] != hostileRev {
		t.Errorf("identity = %v, want the last certificate and revision", ident)
	}
	// Matrix: hmi→plc and hist→plc carry traffic, rogue→plc is alerted.
	cell := func(c, s netip.Addr) MatrixCell {
		for i, cc := range r.Matrix.Clients {
			for j, ss := range r.Matrix.Servers {
				if cc == c.String() && ss == s.String() {
					return r.Matrix.Cells[i][j]
				}
			}
		}
		t.Fatalf("no matrix cell %s→%s", c, s)
		return MatrixCell{}
	}
	if c := cell(hmi, plc); c.Transactions == 0 || c.Protocols[0] != "modbus" {
		t.Errorf("hmi→plc = %+v", c)
	}
	// One read every 2 s, learned for the first 15 minutes only.
	if c := cell(hist, plc); c.Transactions != 450 || c.Protocols[0] != "opcua" {
		t.Errorf("historian→plc = %+v, want 450 opcua transactions", c)
	}
	if c := cell(rogue, plc); !c.Alerted {
		t.Errorf("rogue→plc = %+v, want alerted", c)
	}
	// Per-device baseline of the PLC.
	if len(r.Baselines) != 1 || r.Baselines[0].Server != plc.String() {
		t.Fatalf("baselines = %+v, want one server", r.Baselines)
	}
	var unit1 *ChannelBaseline
	for i, c := range r.Baselines[0].Channels {
		if c.Client == hmi.String() && c.Unit == 1 && c.Protocol == "modbus" {
			unit1 = &r.Baselines[0].Channels[i]
		}
	}
	if unit1 == nil {
		t.Fatal("no hmi→plc unit 1 channel")
	}
	if len(unit1.Read) != 1 || unit1.Read[0].Ranges != "0-9" || unit1.Read[0].Addresses != 10 {
		t.Errorf("unit 1 read = %+v, want holding_registers 0-9", unit1.Read)
	}
	if len(unit1.Written) != 1 || unit1.Written[0].Ranges != "40" {
		t.Errorf("unit 1 written = %+v, want 40", unit1.Written)
	}
	// Learned 40..54; accepting the out-of-range 900 folded it in.
	if len(unit1.Values) != 1 || unit1.Values[0].Min != 40 || unit1.Values[0].Max != 900 || len(unit1.Values[0].Distinct) != 16 {
		t.Errorf("unit 1 envelope = %+v, want 40..54 and the accepted 900", unit1.Values)
	}
	foundPoll := false
	for _, p := range unit1.Polls {
		if strings.HasPrefix(p.Request, "FC 3 ") && p.Regular && p.PeriodMS > 900 && p.PeriodMS < 1100 {
			foundPoll = true
		}
	}
	if !foundPoll {
		t.Errorf("polls = %+v, want a regular 1 s FC 3 poll", unit1.Polls)
	}
	if len(r.Baselines[0].HeatMaps) == 0 {
		t.Error("no heat map for the PLC")
	}
	// Alerts: the rogue write (new_master) and the out-of-range write.
	rules := map[string]int{}
	for _, rc := range r.AlertsByRule {
		rules[rc.Rule] = rc.Deviations
	}
	for _, want := range []string{"new_master", "write_value_out_of_range"} {
		if rules[want] == 0 {
			t.Errorf("alerts by rule %v lack %s", rules, want)
		}
	}
	if len(r.Accepted) != 1 || r.Accepted[0].Rule != "write_value_out_of_range" || r.Accepted[0].Reason == "" {
		t.Errorf("accepted = %+v", r.Accepted)
	}
	if len(r.Approvals) != 0 || r.Summary.ApprovedCurrent {
		t.Errorf("approvals = %+v, want none", r.Approvals)
	}
}

func TestHeatMap(t *testing.T) {
	tests := []struct {
		name          string
		read, written baselines.RangeSet
		first, last   uint16
		bucket        int
		cells         string
	}{
		{"one cell per address", baselines.RangeSet{{First: 0, Last: 9}}, baselines.RangeSet{{First: 4, Last: 5}}, 0, 9, 1, "rrrr++rrrr"},
		{"written only", nil, baselines.RangeSet{{First: 100, Last: 100}}, 100, 100, 1, "W"},
		// 1064 addresses in cells of 17: 0-63 touches cells 0-3,
		// 1000-1063 cells 58-62.
		{"bucketed", baselines.RangeSet{{First: 0, Last: 63}, {First: 1000, Last: 1063}}, nil, 0, 1063, 17,
			"rrrr" + strings.Repeat(".", 54) + "rrrrr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rd, wr []baselines.RangeSet
			if tc.read != nil {
				rd = append(rd, tc.read)
			}
			if tc.written != nil {
				wr = append(wr, tc.written)
			}
			h, ok := heatMap(1, modbus.TableHoldingRegisters, rd, wr)
			if !ok {
				t.Fatal("no heat map")
			}
			if h.First != tc.first || h.Last != tc.last || h.Bucket != tc.bucket {
				t.Errorf("span %d-%d/%d, want %d-%d/%d", h.First, h.Last, h.Bucket, tc.first, tc.last, tc.bucket)
			}
			if got := heatText(h); got != tc.cells {
				t.Errorf("cells\n got %s\nwant %s", got, tc.cells)
			}
			total := 0
			for i := range h.Read {
				total += h.Read[i] + h.Written[i]
			}
			if want := tc.read.Size() + tc.written.Size(); total != want {
				t.Errorf("cells count %d addresses, want %d", total, want)
			}
		})
	}
	if _, ok := heatMap(1, modbus.TableCoils, nil, nil); ok {
		t.Error("heat map of nothing")
	}
}

func TestRangesText(t *testing.T) {
	rs := baselines.RangeSet{{First: 0, Last: 9}, {First: 20, Last: 20}, {First: 40, Last: 49}}
	if got, want := RangesText(rs), "0-9, 20, 40-49"; got != want {
		t.Errorf("RangesText = %q, want %q", got, want)
	}
	if got := RangesText(nil); got != "" {
		t.Errorf("RangesText(nil) = %q", got)
	}
}

// TestHostileStringsEscaped feeds <script>, quotes and Markdown markup
// through the FC 43/14 vendor name, an OPC UA application URI, a node id,
// an accepting user and a reason, and checks that no format lets them out.
func TestHostileStringsEscaped(t *testing.T) {
	r := build(t, plant(t).Snapshot(), genT)

	html := string(render(t, r, HTML))
	for _, raw := range []string{"<script>", "<img", "</title><script>", `onload='x`, `"><img`, "<b>mitm"} {
		if strings.Contains(html, raw) {
			t.Errorf("HTML contains raw %q", raw)
		}
	}
	for _, esc := range []string{
		"Evil&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;&#39; onload=&#39;x",
		"urn:&#34;&gt;&lt;img src=x onerror=alert(1)&gt;",
		"j.doe &lt;script&gt;",
		"<h3>Identity changes</h3>",
		`revision &#34;v1.0 *bold*&#34; → &#34;v2.0|&lt;script&gt;alert(3)&lt;/script&gt;&#34;`,
		`subject &#34;CN=Dam&#34; → &#34;CN=&lt;b&gt;mitm&lt;/b&gt;&#34;`,
	} {
		if !strings.Contains(html, esc) {
			t.Errorf("HTML lacks the escaped form %q", esc)
		}
	}
	if n := strings.Count(html, "<script"); n != 0 {
		t.Errorf("HTML has %d script elements, want 0", n)
	}

	md := string(render(t, r, Markdown))
	for _, raw := range []string{"<script>", "<img", "DAM-PLC|1", "*bold*", "*maintenance*", "<b>mitm", "v2.0|"} {
		if strings.Contains(md, raw) {
			t.Errorf("Markdown contains raw %q", raw)
		}
	}
	for _, esc := range []string{`Evil&lt;script&gt;alert("pwned")&lt;/script&gt;' onload='x`, `DAM-PLC\|1`, `\*bold\*`, `gate test \| planned \*maintenance\*`,
		"### Identity changes", `revision "v1.0 \*bold\*" → "v2.0\|&lt;script&gt;alert(3)&lt;/script&gt;"`} {
		if !strings.Contains(md, esc) {
			t.Errorf("Markdown lacks the escaped form %q", esc)
		}
	}

	js := render(t, r, JSON)
	if bytes.Contains(js, []byte("<script>")) {
		t.Error("JSON contains raw <script>")
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range back.Devices {
		for _, f := range d.Identity {
			if f.Value == hostileVendor {
				found = true
			}
		}
	}
	if !found {
		t.Error("JSON does not round-trip the vendor name verbatim")
	}
}

func TestMdEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text 1.0", "plain text 1.0"},
		{"a|b", `a\|b`},
		{"<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"},
		{"[link](javascript:alert(1))", `\[link\](javascript:alert(1))`},
		{"line\nbreak\r\nx", "line break x"},
		{"`code` _em_ **b** # h ~s~ !x \\", "\\`code\\` \\_em\\_ \\*\\*b\\*\\* \\# h \\~s\\~ \\!x \\\\"},
		{"AT&T", "AT&amp;T"},
	}
	for _, tc := range tests {
		if got := mdEscape(tc.in); got != tc.want {
			t.Errorf("mdEscape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// genLine matches the only place the generation time appears.
var genLine = regexp.MustCompile(`Generated 2026-11-2\d \d\d:\d\d:\d\dZ|"generated": "[^"]*"`)

// TestDeterministicFromStore writes the baseline to a bbolt store, reads it
// back twice, and checks that the reports are identical but for the
// generation time, and identical to the report of the live engine.
func TestDeterministicFromStore(t *testing.T) {
	e := plant(t)
	liveSnap := e.Snapshot() // before the flush takes the pending audit entries
	path := filepath.Join(t.TempDir(), "baseline.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush(e); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	load := func() *baselines.Snapshot {
		db, err := store.Open(path, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		s, err := db.Load()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, f := range []Format{HTML, Markdown, JSON} {
		t.Run(f.String(), func(t *testing.T) {
			a := render(t, build(t, load(), genT), f)
			b := render(t, build(t, load(), genT.Add(36*time.Hour)), f)
			if bytes.Equal(a, b) {
				t.Fatal("reports of different generation times are identical: the time is missing")
			}
			ma, mb := genLine.ReplaceAll(a, []byte("GEN")), genLine.ReplaceAll(b, []byte("GEN"))
			if !bytes.Equal(ma, mb) {
				t.Errorf("reports of the same DB differ beyond the generation time:\n%s", firstDiff(ma, mb))
			}
			live := render(t, build(t, liveSnap, genT), f)
			if !bytes.Equal(a, live) {
				t.Errorf("report from the store differs from the live engine's:\n%s", firstDiff(a, live))
			}
		})
	}
}

func firstDiff(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(la) && i < len(lb); i++ {
		if la[i] != lb[i] {
			return "line " + itoa(i+1) + ":\n- " + la[i] + "\n+ " + lb[i]
		}
	}
	return "lengths differ"
}

// sha256Hex matches the hashes masked in the golden files: the baseline's
// hash changes with every change of the baselines' canonical JSON, and
// TestBuildContents checks it against Snapshot.SHA256 directly.
var sha256Hex = regexp.MustCompile(`\b[0-9a-f]{64}\b`)

// TestGolden compares the Markdown and JSON reports of the fixture with
// testdata/ (go test ./report -update rewrites them), hashes masked.
func TestGolden(t *testing.T) {
	r := build(t, plant(t).Snapshot(), genT)
	for _, f := range []Format{Markdown, JSON} {
		got := sha256Hex.ReplaceAll(render(t, r, f), []byte("SHA256"))
		path := filepath.Join("testdata", "plant."+f.String())
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./report -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file:\n%s", path, firstDiff(want, got))
		}
	}
}

func TestEmptySnapshot(t *testing.T) {
	s := &baselines.Snapshot{Schema: baselines.ExportVersion}
	r, err := Build(s, Options{Generated: genT})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Format{HTML, Markdown, JSON} {
		out := render(t, r, f)
		if len(out) == 0 {
			t.Errorf("%s: empty output", f)
		}
	}
	html := string(render(t, r, HTML))
	if !strings.Contains(html, "No traffic in the baseline.") || !strings.Contains(html, "not approved") {
		t.Error("empty report does not say it is empty and unapproved")
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(nil, Options{}); err != ErrNoSnapshot {
		t.Errorf("Build(nil) = %v, want ErrNoSnapshot", err)
	}
	if _, err := Build(&baselines.Snapshot{Schema: baselines.ExportVersion + 1}, Options{}); err == nil {
		t.Error("Build accepted a newer schema")
	}
}

func TestApprovalCurrent(t *testing.T) {
	e := plant(t)
	sum, err := e.Snapshot().SHA256()
	if err != nil {
		t.Fatal(err)
	}
	e.AddAudit(baselines.AuditEntry{Seq: 2, Action: "approve", By: "auditor", At: genT, SHA256: sum})
	e.AddAudit(baselines.AuditEntry{Seq: 3, Action: "approve", By: "old", At: genT, SHA256: strings.Repeat("0", 64)})
	r := build(t, e.Snapshot(), genT)
	if len(r.Approvals) != 2 || !r.Approvals[0].Current || r.Approvals[1].Current || !r.Summary.ApprovedCurrent {
		t.Errorf("approvals = %+v", r.Approvals)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"html": HTML, "md": Markdown, "markdown": Markdown, "JSON": JSON} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("pdf"); err == nil {
		t.Error("ParseFormat(pdf) succeeded")
	}
}

func BenchmarkBuildAndHTML(b *testing.B) {
	s := plant(b).Snapshot()
	b.ReportAllocs()
	for b.Loop() {
		r, err := Build(s, Options{Generated: genT})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.WriteHTML(&bytes.Buffer{}); err != nil {
			b.Fatal(err)
		}
	}
}

// tagCounts tokenizes an HTML page and counts its start tags and
// attributes by name: hostile text that escaped its context would add one.
func tagCounts(t *testing.T, page []byte) map[string]int {
	t.Helper()
	counts := map[string]int{}
	z := html.NewTokenizer(bytes.NewReader(page))
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("tokenize: %v", z.Err())
			}
			return counts
		case html.StartTagToken, html.SelfClosingTagToken:
			name, more := z.TagName()
			counts["<"+string(name)]++
			for more {
				var k []byte
				k, _, more = z.TagAttr()
				counts["<"+string(name)+" "+string(k)]++
			}
		}
	}
}

// FuzzHTMLEscape renders a report whose device identity, OPC UA URI, node
// id, user, source and reason are arbitrary text and checks that the page
// has exactly the elements and attributes of the same report with benign
// text: nothing the network says can add markup. Markdown must not carry
// text with < or > raw.
func FuzzHTMLEscape(f *testing.F) {
	for _, s := range []string{hostileVendor, hostileURI, hostileNode, "Schneider Electric", "urn:freeopcua:python:server",
		"<svg onload=alert(1)>", "\"'><!--", "</style><script>x</script>", "\x00\xff\xfe", "javascript:alert(1)", "]]><![CDATA["} {
		f.Add(s)
	}
	plc := netip.MustParseAddr("10.10.2.1")
	render := func(t *testing.T, s string, f Format) []byte {
		snap := &baselines.Snapshot{Schema: baselines.ExportVersion, Baseline: baselines.Baseline{
			Devices: []*baselines.Device{{IP: plc, Roles: baselines.RoleModbusSlave | baselines.RoleOPCUAServer,
				Ident:  &baselines.DeviceIdent{VendorName: s, ProductCode: s},
				Server: &baselines.ServerInfo{AppURI: s}}},
			Channels: []*baselines.Channel{{Key: baselines.ChannelKey{Protocol: baselines.OPCUA, Client: hmi, Server: plc, Port: 4840},
				Model: &baselines.OPCUAModel{NodesRead: baselines.CountsOf(map[string]uint64{s: 1}), Users: baselines.CountsOf(map[string]uint64{s: 2})}}},
			Accepted: []baselines.Acceptance{{ID: "1", By: s, Reason: s,
				Deviation: baselines.Deviation{Rule: baselines.NewMaster, Channel: baselines.ChannelKey{Protocol: baselines.Modbus, Client: rogue, Server: plc}}}},
		}}
		r, err := Build(snap, Options{Generated: genT, Sources: []string{s}})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := r.Write(&b, f); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return // empty identity fields are left out: another page, legitimately
		}
		want := tagCounts(t, render(t, "benign", HTML))
		got := tagCounts(t, render(t, s, HTML))
		if !maps.Equal(got, want) {
			t.Errorf("text %q changed the page's markup:\n got %v\nwant %v", s, got, want)
		}
		if md := render(t, s, Markdown); strings.ContainsAny(s, "<>") && bytes.Contains(md, []byte(s)) {
			t.Errorf("Markdown carries %q unescaped", s)
		}
	})
}

// TestModbusNames: the report names function codes, diagnostics
// sub-functions and tables with protocols/modbus's vocabulary, in the
// channel tables and in the deviations' items.
func TestModbusNames(t *testing.T) {
	m := &baselines.ModbusModel{
		Functions:   baselines.CountsOf(map[uint8]uint64{3: 5, 90: 1}),
		Diagnostics: baselines.CountsOf(map[uint16]uint64{1: 2, 4: 1, 99: 1}),
	}
	var cb ChannelBaseline
	modbusBaseline(&cb, m)
	var names []string
	for _, c := range append(cb.Functions, cb.Diagnostics...) {
		names = append(names, fmt.Sprintf("%d %s %d", c.Code, c.Name, c.Count))
	}
	want := []string{"3 read_holding_registers 5", "90 unknown_90 1",
		"1 restart_communications_option 2", "4 force_listen_only_mode 1", "99 unknown 1"}
	if !slices.Equal(names, want) {
		t.Fatalf("names %q, want %q", names, want)
	}
	d := baselines.Deviation{Rule: baselines.DiagnosticCommand, Item: baselines.Item{Function: 8, Sub: 4}}
	if got := itemText(d); got != "FC 8 diagnostics sub-function 4 force_listen_only_mode" {
		t.Errorf("diagnostics item %q", got)
	}
	d = baselines.Deviation{Rule: baselines.UnexpectedWrite, Item: baselines.Item{Table: modbus.TableCoils, Addr: 3, Count: 2}}
	if got := itemText(d); got != "coils 3-4" {
		t.Errorf("write item %q", got)
	}
}

// TestControlCharactersEscaped: a device identity string is the device's to
// choose. A Modbus FC 43 vendor name with a terminal escape (ESC [2J clears
// the screen of whoever prints a Markdown report to a terminal), BEL, NUL,
// a table-breaking | and newline, <script>, a C1 control (CSI 0x9b), a
// right-to-left override and a byte that is not UTF-8 reaches neither the
// Markdown nor the HTML report raw: controls are shown as their Unicode
// control pictures (␛ ␇ ␀ ␊), the others as U+FFFD, and the Markdown table
// keeps its shape. The JSON report keeps the string as it was.
func TestControlCharactersEscaped(t *testing.T) {
	const vendor = "ACME\x1b[2J\x07\x00|col\nrow<script>x\u009b31m\u202etxt\xff\x7f"
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	o, m := mbObs(t0, hmi, 1, 43)
	m.MEIType = 14
	m.Ident = &baselines.DeviceIdent{VendorName: vendor, ProductCode: "P\tQ\r"}
	e.Observe(&o)
	r := build(t, e.Snapshot(), genT)
	for _, f := range []Format{Markdown, HTML} {
		out := string(render(t, r, f))
		for i, c := range out {
			switch {
			case c == '\n':
			case c < 0x20 || c == 0x7f || c >= 0x80 && c <= 0x9f || c == '\u202e':
				t.Errorf("%s: raw control %U at byte %d: ...%q...", f, c, i, out[max(0, i-30):min(len(out), i+10)])
			case c == utf8.RuneError && !strings.HasPrefix(out[i:], "\uFFFD"):
				t.Errorf("%s: invalid UTF-8 at byte %d", f, i)
			}
		}
		if strings.Contains(out, "<script>") {
			t.Errorf("%s: raw <script>", f)
		}
		if !strings.Contains(out, "ACME␛") || !strings.Contains(out, "2J␇␀") || !strings.Contains(out, "␊row") {
			t.Errorf("%s: the vendor name is not shown with its controls visible", f)
		}
	}
	md := string(render(t, r, Markdown))
	for _, line := range strings.Split(md, "\n") {
		if strings.Contains(line, "ACME") && !(strings.HasPrefix(line, "|") && strings.HasSuffix(line, "|") && strings.Contains(line, `\|col␊row`)) {
			t.Errorf("Markdown: the vendor's row is broken: %q", line)
		}
	}
	var back Report
	if err := json.Unmarshal(render(t, r, JSON), &back); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range back.Devices {
		for _, f := range d.Identity {
			found = found || f.Value == strings.ToValidUTF8(vendor, "\uFFFD")
		}
	}
	if !found {
		t.Error("JSON does not keep the vendor name")
	}
}

// The names of a rules file (a rule, a variable, its unit) are text the
// report did not write: in the alert log (signature, item) and the
// register map they cannot add markup, and JSON carries them verbatim.
func TestPolicyNamesEscaped(t *testing.T) {
	page := func(rule, name, unit string, f Format) []byte {
		t.Helper()
		pol := &baselines.Policy{
			Variables: []baselines.Variable{{Name: name, EngUnit: unit, InModbus: true, Unit: 1,
				Table: modbus.TableHoldingRegisters, Addr: 40, Type: baselines.Uint16, Scale: 1}},
			Rules: []baselines.PolicyRule{{Name: rule, Limits: []baselines.Limit{{Var: 0, Max: 10, HasMax: true}}}},
		}
		e := baselines.New(baselines.Config{Mode: baselines.Learn})
		e.SetPolicy(pol)
		o, m := mbObs(t0, hmi, 1, 6)
		m.WriteTable, m.Write, m.Values = modbus.TableHoldingRegisters, baselines.Range{Start: 40, Count: 1}, []uint16{50}
		if as := e.Observe(&o); len(as) != 1 || as[0].Rule != baselines.PolicyViolation {
			t.Fatalf("alerts %+v", as)
		}
		r, err := Build(e.Snapshot(), Options{Generated: genT, Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		return render(t, r, f)
	}
	evil := []string{`gate<script>alert(1)</script>`, `Dam"><img src=x onerror=alert(2)>`, `%</td><td onclick=x>`}
	want := tagCounts(t, page("gate", "Dam.SP", "%", HTML))
	html := page(evil[0], evil[1], evil[2], HTML)
	if got := tagCounts(t, html); !maps.Equal(got, want) {
		t.Errorf("the rules file's names changed the page's markup:\n got %v\nwant %v", got, want)
	}
	if !bytes.Contains(html, []byte("Register map")) || !bytes.Contains(html, []byte("Dam&#34;&gt;&lt;img src=x onerror=alert(2)&gt;")) {
		t.Error("HTML lacks the register map with the escaped variable name")
	}
	md := page(evil[0], evil[1], evil[2], Markdown)
	for _, s := range evil {
		if bytes.Contains(md, []byte(s)) {
			t.Errorf("Markdown carries %q unescaped", s)
		}
	}
	var back Report
	if err := json.Unmarshal(page(evil[0], evil[1], evil[2], JSON), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Variables) != 1 || back.Variables[0].Name != evil[1] || back.Variables[0].Unit != evil[2] ||
		len(back.Alerts) != 1 || !strings.Contains(back.Alerts[0].Signature, evil[0]) || !strings.HasSuffix(back.Alerts[0].Item, " ("+evil[1]+")") {
		t.Errorf("JSON does not carry the names verbatim: %+v %+v", back.Variables, back.Alerts)
	}
}
