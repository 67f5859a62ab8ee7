package opcua

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestReplayDump(t *testing.T) {
	if os.Getenv("OPCUA_DUMP") == "" {
		t.Skip("set OPCUA_DUMP=file to print events")
	}
	msgs, conns := replay(t, filepath.Join(pcapDir(t), os.Getenv("OPCUA_DUMP")), Config{})
	for _, m := range msgs {
		fmt.Println(string(m.AppendJSON(nil)))
	}
	for _, c := range conns {
		fmt.Printf("%+v\n", c.Stats())
	}
}

// captures lists the real OPC UA captures.
func captures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(pcapDir(t), "*.pcap"))
	if err != nil || len(files) == 0 {
		t.Skipf("no captures in %s", pcapDir(t))
	}
	sort.Strings(files)
	return files
}

// ourServiceIDs returns the service ids of every half, as tshark reports
// them: one per OPN/MSG/CLO message whose body is readable. (Encrypted OPN
// halves are named by their message type, not read: tshark, rightly,
// reports no id for them.)
func ourServiceIDs(msgs []*Message) []uint32 {
	var ids []uint32
	for _, m := range msgs {
		if m.Encrypted {
			continue
		}
		for _, s := range []*Service{m.Request, m.Response} {
			if s != nil && s.ID != 0 {
				ids = append(ids, s.ID)
			}
		}
	}
	return ids
}

func ourWrittenNodes(msgs []*Message) []string {
	var out []string
	for _, m := range msgs {
		if m.Request != nil {
			for _, w := range m.Request.Writes {
				out = append(out, w.NodeID)
			}
		}
	}
	return out
}

// tsharkArgs reads path with OPC UA decoded on every server port we saw.
// Out-of-order reassembly is on: without it Wireshark gives up on the
// CreateSessionResponse after the spurious retransmissions of
// icsnpp_opcua_with-gap*.pcap, which Sluice (and Wireshark with it) decode.
func tsharkArgs(path string, ports map[uint16]bool) []string {
	args := []string{"-r", path, "-o", "tcp.reassemble_out_of_order:TRUE"}
	for p := range ports {
		if p != 4840 {
			args = append(args, "-d", "tcp.port=="+strconv.Itoa(int(p))+",opcua")
		}
	}
	return args
}

func tsharkServiceIDs(t *testing.T, path string, ports map[uint16]bool) []uint32 {
	args := append(tsharkArgs(path, ports), "-Y", "opcua", "-T", "fields", "-e", "opcua.servicenodeid.numeric")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	var ids []uint32
	for _, f := range strings.FieldsFunc(string(out), func(r rune) bool { return r == '\n' || r == ',' }) {
		if v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 32); err == nil {
			ids = append(ids, uint32(v))
		}
	}
	return ids
}

var pdmlField = regexp.MustCompile(`name="(opcua\.[A-Za-z.]+)"[^>]* show="([^"]*)"`)

// tsharkWrittenNodes extracts the NodeId preceding each AttributeId in
// WriteRequest frames (Wireshark's WriteValue layout).
func tsharkWrittenNodes(t *testing.T, path string, ports map[uint16]bool) []string {
	args := append(tsharkArgs(path, ports), "-Y", "opcua.servicenodeid.numeric==673", "-T", "pdml")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	var nodes []string
	var ns, ident string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		m := pdmlField.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		switch m[1] {
		case "opcua.nodeid.encodingmask":
			ns, ident = "", ""
		case "opcua.nodeid.nsindex":
			if m[2] != "0" {
				ns = "ns=" + m[2] + ";"
			}
		case "opcua.nodeid.numeric":
			ident = "i=" + m[2]
		case "opcua.nodeid.string":
			ident = "s=" + m[2]
		case "opcua.nodeid.guid":
			ident = "g=" + strings.ToLower(m[2])
		case "opcua.AttributeId":
			nodes = append(nodes, ns+ident)
		}
	}
	return nodes
}

// agreement counts the elements common to two multisets.
func agreement[T comparable](a, b []T) (common, total int) {
	count := map[T]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		if count[x] > 0 {
			count[x]--
			common++
		}
	}
	return common, max(len(a), len(b))
}

// TestCapturesAgainstTshark replays every real capture and compares the
// service ids of requests and responses, and the node ids written, with
// Wireshark's dissector. Issue 4 §5 requires at least 99.9 % agreement.
func TestCapturesAgainstTshark(t *testing.T) {
	files := captures(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools)")
	}
	var svcCommon, svcTotal, wrCommon, wrTotal int
	for _, f := range files {
		msgs, _, ports := replayPorts(t, f, Config{})
		ours, theirs := ourServiceIDs(msgs), tsharkServiceIDs(t, f, ports)
		c, n := agreement(ours, theirs)
		svcCommon += c
		svcTotal += n
		wo, wt := ourWrittenNodes(msgs), tsharkWrittenNodes(t, f, ports)
		wc, wn := agreement(wo, wt)
		wrCommon += wc
		wrTotal += wn
		t.Logf("%-75s services %4d/%4d (ours %d, tshark %d)  written nodes %d/%d", filepath.Base(f), c, n, len(ours), len(theirs), wc, wn)
		if c != n {
			t.Logf("  ours   %v", histogram(ours))
			t.Logf("  tshark %v", histogram(theirs))
		}
	}
	svc := 100 * float64(svcCommon) / float64(max(svcTotal, 1))
	wr := 100 * float64(wrCommon) / float64(max(wrTotal, 1))
	t.Logf("service id agreement %d/%d = %.3f%%; written node id agreement %d/%d = %.3f%%", svcCommon, svcTotal, svc, wrCommon, wrTotal, wr)
	if svcTotal == 0 || svc < 99.9 {
		t.Errorf("service id agreement %.3f%% < 99.9%%", svc)
	}
	if wrTotal == 0 || wr < 99.9 {
		t.Errorf("written node id agreement %.3f%% < 99.9%%", wr)
	}
}

func histogram(ids []uint32) map[uint32]int {
	h := map[uint32]int{}
	for _, x := range ids {
		h[x]++
	}
	return h
}
