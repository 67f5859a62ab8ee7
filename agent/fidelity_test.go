package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// TestFidelityModbusTshark replays every capture in ../shared/pcaps/modbus
// through the whole agent (capture, flow table, reassembly, framing,
// pairing, events) and compares the events with Wireshark's dissector
// (tshark): transaction id, unit id, function code, address and quantity of
// every request, and transaction id, unit id, function code and exception
// code of every exception response (issue 2 §6). protocols/modbus checks
// the pure decoder frame by frame; this checks what reaches the user.
//
// Events carry no frame numbers, so each side is a multiset of tuples per
// connection (client ip:port > server ip:port); agreement is the size of
// the intersection over the size of the larger side, summed over all
// captures. It must reach 99.9 %.
func TestFidelityModbusTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	files := testpcaps.Files(t, "modbus")
	var g testpcaps.Agreement
	for _, f := range files {
		a, n, diffs := compareMultisets(tsharkModbus(t, f), ourModbus(t, f))
		g.Add(t, f, a, n, "", diffs)
	}
	g.Require(t, "Modbus end-to-end request and exception fields", 99.9)
}

// Function codes whose requests Wireshark shows with a reference number,
// a bit count or a word count (FC 23 uses the read_ fields instead).
var (
	tsRef     = map[int]bool{1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 15: true, 16: true, 22: true, 24: true}
	tsBitCnt  = map[int]bool{1: true, 2: true, 15: true}
	tsWordCnt = map[int]bool{3: true, 4: true, 16: true}
)

func reqTuple(conn string, tid, unit, fc int, addr, qty string) string {
	return fmt.Sprintf("%s req tid=%d unit=%d fc=%d addr=%s qty=%s", conn, tid, unit, fc, addr, qty)
}

func excTuple(conn string, tid, unit, fc, exc int) string {
	return fmt.Sprintf("%s exc tid=%d unit=%d fc=%d code=%d", conn, tid, unit, fc, exc)
}

// tsharkModbus lists the request and exception tuples tshark decodes.
func tsharkModbus(t *testing.T, file string) map[string]int {
	t.Helper()
	fields := []string{"ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
		"mbtcp.trans_id", "mbtcp.unit_id", "modbus.func_code", "modbus.reference_num", "modbus.bit_cnt",
		"modbus.word_cnt", "modbus.read_reference_num", "modbus.read_word_cnt", "modbus.exception_code"}
	m := map[string]int{}
	for _, c := range tsharkRows(t, file, fields, "-Y", "mbtcp") {
		list := func(i int) []int {
			if c[i] == "" {
				return nil
			}
			var v []int
			for _, s := range strings.Split(c[i], ",") {
				n, _ := strconv.Atoi(s)
				v = append(v, n)
			}
			return v
		}
		src, dst := first(c[0], c[1]), first(c[3], c[4])
		sport, dport := c[2], c[5]
		tids, units, fcs := list(6), list(7), list(8)
		if len(tids) != len(units) || len(tids) != len(fcs) {
			continue
		}
		toServer := dport == "502"
		if toServer {
			refs, bits, words, rrefs, rwords := list(9), list(10), list(11), list(12), list(13)
			conn := src + ":" + sport + ">" + dst + ":" + dport
			for i, fc := range fcs {
				addr, qty := "", ""
				switch {
				case fc == 23:
					addr, qty = pop(&rrefs), pop(&rwords)
				default:
					if tsRef[fc] {
						addr = pop(&refs)
					}
					if tsBitCnt[fc] {
						qty = pop(&bits)
					} else if tsWordCnt[fc] {
						qty = pop(&words)
					}
				}
				m[reqTuple(conn, tids[i], units[i], fc, addr, qty)]++
			}
		} else {
			excs := list(14)
			if len(excs) == 0 {
				continue
			}
			conn := dst + ":" + dport + ">" + src + ":" + sport
			// Which ADUs of a multi-ADU frame are the exceptions is not in
			// the field lists; frames mixing both are compared by count.
			if len(excs) == len(fcs) {
				for i, fc := range fcs {
					m[excTuple(conn, tids[i], units[i], fc, excs[i])]++
				}
			} else {
				m[fmt.Sprintf("%s exc-mixed n=%d", conn, len(excs))]++
			}
		}
	}
	return m
}

// tsharkRows runs tshark over file with extra options (a decode-as, a
// display filter) and returns the value of each field per packet, lists of
// several occurrences joined by commas; rows without every column are left
// out.
func tsharkRows(t *testing.T, file string, fields []string, opts ...string) [][]string {
	t.Helper()
	args := append([]string{"-r", file}, opts...)
	args = append(args, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,")
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	var rows [][]string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if c := strings.Split(sc.Text(), "\t"); len(c) == len(fields) {
			rows = append(rows, c)
		}
	}
	return rows
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func pop(l *[]int) string {
	if len(*l) == 0 {
		return "-"
	}
	v := (*l)[0]
	*l = (*l)[1:]
	return strconv.Itoa(v)
}

// ourModbus lists the same tuples from the agent's events.
func ourModbus(t *testing.T, file string) map[string]int {
	t.Helper()
	out := replayFile(t, file, func(c *Config) { delete(c.Ports, "opcua") })
	m := map[string]int{}
	for _, e := range parseEvents(t, out) {
		if e.EventType != "modbus" || e.Modbus == nil {
			continue
		}
		mb := e.Modbus
		conn := fmt.Sprintf("%s:%d>%s:%d", e.SrcIP, e.SrcPort, e.DestIP, e.DestPort)
		if len(mb.Request) > 0 {
			var r struct {
				Address  *int `json:"address"`
				Quantity *int `json:"quantity"`
			}
			_ = json.Unmarshal(mb.Request, &r)
			addr, qty := "", ""
			if tsRef[mb.FunctionCode] || mb.FunctionCode == 23 {
				addr = opt(r.Address)
			}
			if tsBitCnt[mb.FunctionCode] || tsWordCnt[mb.FunctionCode] || mb.FunctionCode == 23 {
				qty = opt(r.Quantity)
			}
			m[reqTuple(conn, mb.TransactionID, mb.UnitID, mb.FunctionCode, addr, qty)]++
		}
		if mb.ExceptionCode != nil {
			m[excTuple(conn, mb.TransactionID, mb.UnitID, mb.FunctionCode, *mb.ExceptionCode)]++
		}
	}
	return m
}

func opt(p *int) string {
	if p == nil {
		return "-"
	}
	return strconv.Itoa(*p)
}

// compareMultisets returns the size of the intersection, the size of the
// larger multiset and a sorted sample of the differences.
func compareMultisets(theirs, ours map[string]int) (agree, total int, diffs []string) {
	var nt, no int
	for k, n := range theirs {
		nt += n
		agree += min(n, ours[k])
		if d := n - ours[k]; d > 0 {
			diffs = append(diffs, fmt.Sprintf("only tshark (x%d): %s", d, k))
		}
	}
	for k, n := range ours {
		no += n
		if d := n - theirs[k]; d > 0 {
			diffs = append(diffs, fmt.Sprintf("only sluice (x%d): %s", d, k))
		}
	}
	sort.Strings(diffs)
	return agree, max(nt, no), diffs
}

// TestFidelityOPCUATshark replays every capture in ../shared/pcaps/opcua
// through the whole agent and compares the service ids (Wireshark's
// opcua.servicenodeid.numeric) of every OPN, MSG and CLO message with
// tshark's, as multisets per connection (issue 4 §5). Direction is left out
// on purpose: icsnpp_pending_overflow.pcap has clients sending responses,
// which Sluice files by content and Wireshark by port. The non-standard port
// of one capture (48010) is configured on both sides.
//
// Agreement is the share of tshark's service ids that Sluice reports too;
// it must reach 99.9 %. Sluice also reports some that tshark cannot (the
// service of an encrypted OPN is OpenSecureChannel by definition; a
// response after a TCP gap that Wireshark's reassembly loses): they are
// logged as extras, not counted against it.
func TestFidelityOPCUATshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	files := testpcaps.Files(t, "opcua")
	var g testpcaps.Agreement
	extras := 0
	for _, f := range files {
		theirs := tsharkOPCUA(t, f)
		ours := ourOPCUA(t, f)
		a, _, diffs := compareMultisets(theirs, ours)
		n, x := 0, 0
		for _, c := range theirs {
			n += c
		}
		for _, c := range ours {
			x += c
		}
		x -= a
		extras += x
		g.Add(t, f, a, n, fmt.Sprintf(", %d extra", x), diffs)
	}
	t.Logf("%d more service ids that tshark does not decode", extras)
	g.Require(t, "OPC UA service ids", 99.9)
}

var opcuaPorts = map[string]bool{"4840": true, "48010": true}

func svcTuple(conn, typ string, id int) string {
	return fmt.Sprintf("%s %s service=%d", conn, typ, id)
}

func tsharkOPCUA(t *testing.T, file string) map[string]int {
	t.Helper()
	fields := []string{"ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
		"opcua.transport.type", "opcua.servicenodeid.numeric"}
	m := map[string]int{}
	for _, c := range tsharkRows(t, file, fields, "-d", "tcp.port==48010,opcua", "-Y", "opcua") {
		if c[7] == "" {
			continue
		}
		src, dst := first(c[0], c[1]), first(c[3], c[4])
		toServer := opcuaPorts[c[5]]
		conn := src + ":" + c[2] + ">" + dst + ":" + c[5]
		if !toServer {
			conn = dst + ":" + c[5] + ">" + src + ":" + c[2]
		}
		types := strings.Split(c[6], ",")
		for i, s := range strings.Split(c[7], ",") {
			id, _ := strconv.Atoi(s)
			typ := types[min(i, len(types)-1)]
			m[svcTuple(conn, typ, id)]++
		}
	}
	return m
}

func ourOPCUA(t *testing.T, file string) map[string]int {
	t.Helper()
	out := replayFile(t, file, func(c *Config) { c.Ports["opcua"] = []uint16{4840, 48010} })
	m := map[string]int{}
	for _, e := range parseEvents(t, out) {
		if e.EventType != "opcua" {
			continue
		}
		var o struct {
			MessageType string `json:"message_type"`
			Request     *struct {
				ServiceID *int `json:"service_id"`
			} `json:"request"`
			Response *struct {
				ServiceID *int `json:"service_id"`
			} `json:"response"`
		}
		if err := json.Unmarshal(e.OPCUA, &o); err != nil {
			t.Fatal(err)
		}
		conn := fmt.Sprintf("%s:%d>%s:%d", e.SrcIP, e.SrcPort, e.DestIP, e.DestPort)
		if o.Request != nil && o.Request.ServiceID != nil {
			m[svcTuple(conn, o.MessageType, *o.Request.ServiceID)]++
		}
		if o.Response != nil && o.Response.ServiceID != nil {
			m[svcTuple(conn, o.MessageType, *o.Response.ServiceID)]++
		}
	}
	return m
}

// TestFidelityOPCUAWrittenNodes compares the node ids written by every
// WriteRequest (service 673) in ../shared/pcaps/opcua, end to end, with
// Wireshark's dissection (issue 4 §5: written node ids). tshark lists every
// NodeId of a message in order, so its PDML is walked: the first plain
// NodeId of a request is the authentication token, the ones after it are the
// WriteValue node ids (NodeIds inside ExpandedNodeIds are skipped).
func TestFidelityOPCUAWrittenNodes(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	files := testpcaps.Files(t, "opcua")
	var g testpcaps.Agreement
	for _, f := range files {
		a, n, diffs := compareMultisets(tsharkWrittenNodes(t, f), ourWrittenNodes(t, f))
		if n > 0 {
			g.Add(t, f, a, n, "", diffs)
		}
	}
	g.Require(t, "OPC UA written node ids", 99.9)
}

func tsharkWrittenNodes(t *testing.T, file string) map[string]int {
	t.Helper()
	out, err := exec.Command("tshark", "-r", file, "-d", "tcp.port==48010,opcua", "-Y", "opcua.servicenodeid.numeric==673", "-T", "pdml").Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	type group struct {
		ns, id string
		skip   bool
	}
	m := map[string]int{}
	var (
		src, dst, sport, dport string
		service                string
		groups                 []group
		skipNext               bool
	)
	flush := func() {
		if service == "673" && len(groups) > 1 {
			conn := src + ":" + sport + ">" + dst + ":" + dport
			for _, g := range groups[1:] {
				if g.id == "" {
					continue
				}
				node := g.id
				if g.ns != "" && g.ns != "0" {
					node = "ns=" + g.ns + ";" + g.id
				}
				m[conn+" write "+strings.ToLower(node)]++
			}
		}
		service, groups = "", nil
	}
	dec := xml.NewDecoder(bytes.NewReader(out))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local == "packet" {
				src, dst, sport, dport = "", "", "", ""
				continue
			}
			if el.Name.Local != "field" {
				continue
			}
			var name, show string
			for _, a := range el.Attr {
				switch a.Name.Local {
				case "name":
					name = a.Value
				case "show":
					show = a.Value
				}
			}
			switch name {
			case "ip.src", "ipv6.src":
				src = show
			case "ip.dst", "ipv6.dst":
				dst = show
			case "tcp.srcport":
				sport = show
			case "tcp.dstport":
				dport = show
			case "opcua.servicenodeid.numeric":
				flush()
				service = show
			case "opcua.expandednodeid.mask":
				skipNext = true
			case "opcua.nodeid.encodingmask":
				groups = append(groups, group{skip: skipNext})
				skipNext = false
			case "opcua.nodeid.nsindex":
				if n := len(groups); n > 0 {
					groups[n-1].ns = show
				}
			case "opcua.nodeid.numeric", "opcua.nodeid.string", "opcua.nodeid.guid", "opcua.nodeid.bytestring":
				if n := len(groups); n > 0 && !groups[n-1].skip {
					groups[n-1].id = map[string]string{"opcua.nodeid.numeric": "i=", "opcua.nodeid.string": "s=",
						"opcua.nodeid.guid": "g=", "opcua.nodeid.bytestring": "b="}[name] + show
				} else if n > 0 {
					groups = groups[:n-1] // an ExpandedNodeId's: not a written node
				}
			}
		case xml.EndElement:
			if el.Name.Local == "packet" {
				flush()
			}
		}
	}
	return m
}

func ourWrittenNodes(t *testing.T, file string) map[string]int {
	t.Helper()
	out := replayFile(t, file, func(c *Config) { c.Ports["opcua"] = []uint16{4840, 48010} })
	m := map[string]int{}
	for _, e := range parseEvents(t, out) {
		if e.EventType != "opcua" {
			continue
		}
		var o struct {
			Request *struct {
				ServiceID int `json:"service_id"`
				Writes    []struct {
					NodeID string `json:"node_id"`
				} `json:"writes"`
			} `json:"request"`
		}
		if err := json.Unmarshal(e.OPCUA, &o); err != nil {
			t.Fatal(err)
		}
		if o.Request == nil || o.Request.ServiceID != 673 {
			continue
		}
		conn := fmt.Sprintf("%s:%d>%s:%d", e.SrcIP, e.SrcPort, e.DestIP, e.DestPort)
		for _, w := range o.Request.Writes {
			m[conn+" write "+strings.ToLower(w.NodeID)]++
		}
	}
	return m
}
