package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/testpcaps"
	"github.com/sluice-ics/sluice/protocols/dnp3"
)

// dnp3Frame is one user-data frame carrying a one-segment fragment.
func dnp3Frame(t *testing.T, src, dst uint16, master bool, frag string) []byte {
	t.Helper()
	ctl := dnp3.LinkControl(0x44)
	if master {
		ctl |= 0x80
	}
	b, err := hexBytes(frag)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dnp3.AppendFrame(nil, dnp3.LinkHeader{Control: ctl, Dest: dst, Source: src}, append([]byte{0xc0}, b...))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func hexBytes(s string) ([]byte, error) {
	var b []byte
	for _, f := range strings.Fields(s) {
		v, err := strconv.ParseUint(f, 16, 8)
		if err != nil {
			return nil, err
		}
		b = append(b, byte(v))
	}
	return b, nil
}

// replayAll replays a capture held in memory with every event written.
func replayAll(t *testing.T, pcap []byte) []event {
	t.Helper()
	var out bytes.Buffer
	cfg := DefaultConfig(&out)
	src, err := capture.NewReader(bytes.NewReader(pcap), "built.pcap", int64(len(pcap)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), cfg, src); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return parseEvents(t, out.Bytes())
}

// TestDNP3Stream runs a DNP3 connection through the agent: a select and
// its response, a response frame whose CRC is bad (dropped, one malformed
// anomaly, a decode error), then an operate and its response. The bad
// frame raises the malformed alert (a signature rule: it fires while the
// outstation learns); the controls, learned, raise nothing.
func TestDNP3Stream(t *testing.T) {
	c := newDetConnPort(t, 20000)
	crob := "0c 01 28 01 00 00 00 03 01 64 00 00 00 64 00 00 00 00"
	c.seg(true, dnp3Frame(t, 1, 10, true, "c0 03 "+crob))
	c.seg(false, dnp3Frame(t, 10, 1, false, "c0 81 00 00 "+crob))
	bad := dnp3Frame(t, 10, 1, false, "c0 81 00 00 "+crob)
	bad[12] ^= 0xff
	c.seg(true, dnp3Frame(t, 1, 10, true, "c1 04 "+crob))
	c.seg(false, append(bad, dnp3Frame(t, 10, 1, false, "c1 81 00 00 "+crob)...))
	var kinds []string
	for _, e := range replayAll(t, c.buf.Bytes()) {
		switch e.EventType {
		case "dnp3":
			var d struct {
				Request, Response *struct {
					Application struct {
						Function string `json:"function"`
					} `json:"application"`
				}
			}
			if err := json.Unmarshal(e.DNP3, &d); err != nil {
				t.Fatal(err)
			}
			if d.Request == nil || d.Response == nil {
				t.Fatalf("unpaired transaction %s", e.DNP3)
			}
			kinds = append(kinds, d.Request.Application.Function+">"+d.Response.Application.Function)
		case "anomaly":
			detail, _, _ := strings.Cut(e.Anomaly.Detail, ": 0x") // the CRCs
			kinds = append(kinds, "anomaly "+e.Anomaly.Event+": "+detail)
		case "alert":
			kinds = append(kinds, "alert "+e.Alert.Rule)
		}
	}
	want := "select>response|anomaly malformed: dnp3: bad link CRC in data block 0 of frame 10 -> 1|alert malformed|operate>response"
	if got := strings.Join(kinds, "|"); got != want {
		t.Errorf("events\n got  %s\n want %s", got, want)
	}
}

// TestDNP3NotProtocol: TLS on port 20000 is reported once as
// non_protocol_traffic, and raises its alert (in an incident) as on
// Modbus's port.
func TestDNP3NotProtocol(t *testing.T) {
	c := newDetConnPort(t, 20000)
	c.seg(true, []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 client hello"))
	c.seg(true, []byte("more TLS"))
	var got []string
	for _, e := range replayAll(t, c.buf.Bytes()) {
		if e.EventType != "stats" {
			got = append(got, e.EventType)
		}
		if e.EventType == EventFlow && e.AppProto != "tls" {
			t.Errorf("flow event's app_proto %q, want tls (what the connection carried)", e.AppProto)
		}
		if e.Anomaly != nil && e.Anomaly.Event != anomalyNonProtocol {
			t.Errorf("anomaly %s, want non_protocol_traffic", e.Anomaly.Event)
		}
	}
	if strings.Join(got, ",") != "anomaly,incident,alert,flow,incident" {
		t.Errorf("events %v, want one anomaly, its alert and incident (open, closed), the connection's flow", got)
	}
}

// TestFidelityDNP3Tshark replays every capture in ../shared/pcaps/dnp3
// through the whole agent (capture, flow table, reassembly, framing,
// transport, pairing, events) and compares every fragment its events carry
// (function code, link source and destination, internal indications) with
// the application-layer messages tshark decodes, as multisets per
// connection: nothing may be lost or invented by the glue and the pairing.
// protocols/dnp3 compares objects and points message by message. Agreement
// must reach 99.9 %.
func TestFidelityDNP3Tshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	files := testpcaps.Files(t, "dnp3")
	var g testpcaps.Agreement
	for _, f := range files {
		a, n, diffs := compareMultisets(tsharkDNP3(t, f), ourDNP3(t, f))
		g.Add(t, f, a, n, "", diffs)
	}
	g.Require(t, "DNP3 fragments in events", 99.9)
}

// dnp3Tuple names one fragment; the IIN of an authentication response,
// which tshark does not decode, is left out on both sides.
func dnp3Tuple(conn string, fc, src, dst int, iin string) string {
	if fc == int(dnp3.FuncAuthenticationResponse) || !dnp3.FunctionCode(fc).IsResponse() {
		iin = "-"
	}
	return fmt.Sprintf("%s fc=%d %d>%d iin=%s", conn, fc, src, dst, iin)
}

func tsharkDNP3(t *testing.T, file string) map[string]int {
	t.Helper()
	fields := []string{"ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
		"dnp3.src", "dnp3.dst", "dnp3.al.func", "dnp3.al.iin"}
	m := map[string]int{}
	for _, c := range tsharkRows(t, file, fields, "-Y", "dnp3.al.func") {
		src, dst := first(c[0], c[1]), first(c[3], c[4])
		conn := src + ":" + c[2] + ">" + dst + ":" + c[5]
		if c[2] == "20000" {
			conn = dst + ":" + c[5] + ">" + src + ":" + c[2]
		}
		srcs, dsts, fcs, iins := strings.Split(c[6], ","), strings.Split(c[7], ","), strings.Split(c[8], ","), strings.Split(c[9], ",")
		// Every link frame of the packet lists its addresses; the
		// fragments complete in the last ones.
		srcs, dsts = srcs[len(srcs)-len(fcs):], dsts[len(dsts)-len(fcs):]
		for i, fc := range fcs {
			f, _ := strconv.Atoi(fc)
			s, _ := strconv.Atoi(srcs[i])
			d, _ := strconv.Atoi(dsts[i])
			iin := "-"
			if dnp3.FunctionCode(f).IsResponse() && len(iins) > 0 {
				iin, iins = iins[0], iins[1:]
			}
			m[dnp3Tuple(conn, f, s, d, iin)]++
		}
	}
	return m
}

// iinNames maps Suricata's indication names back to their bits.
var iinBits = func() map[string]int {
	m := map[string]int{}
	for bit := range 16 {
		v := dnp3.IIN(1) << bit
		for n := range v.Names {
			m[n] = int(v)
		}
	}
	return m
}()

func ourDNP3(t *testing.T, file string) map[string]int {
	t.Helper()
	out := replayFile(t, file, nil)
	m := map[string]int{}
	type half struct {
		Src, Dst int
		IIN      *struct {
			Indicators []string `json:"indicators"`
		} `json:"iin"`
		Application struct {
			FunctionCode *int `json:"function_code"`
		} `json:"application"`
	}
	for _, e := range parseEvents(t, out) {
		if e.EventType != "dnp3" {
			continue
		}
		var d struct{ Request, Response *half }
		if err := json.Unmarshal(e.DNP3, &d); err != nil {
			t.Fatal(err)
		}
		conn := fmt.Sprintf("%s:%d>%s:%d", e.SrcIP, e.SrcPort, e.DestIP, e.DestPort)
		for _, h := range []*half{d.Request, d.Response} {
			if h == nil || h.Application.FunctionCode == nil {
				continue
			}
			iin := "-"
			if h.IIN != nil {
				v := 0
				for _, n := range h.IIN.Indicators {
					v |= iinBits[n]
				}
				iin = fmt.Sprintf("0x%04x", v)
			}
			m[dnp3Tuple(conn, *h.Application.FunctionCode, h.Src, h.Dst, iin)]++
		}
	}
	return m
}
