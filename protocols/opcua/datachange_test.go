package opcua

import (
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dataChangeTypes are the built-in types whose values the comparison with
// Wireshark covers (its field opcua.<Type>).
var dataChangeTypes = []string{"Boolean", "Int16", "UInt16", "Int32", "UInt32", "Float", "Double"}

// tsharkDataChanges returns, in capture order, the client handles of the
// PublishResponse data changes and, per type, their values.
func tsharkDataChanges(t *testing.T, path string, ports map[uint16]bool) (handles []uint32, values map[string][]float64) {
	args := append(tsharkArgs(path, ports), "-Y", "opcua.servicenodeid.numeric==829", "-T", "fields", "-E", "separator=|", "-e", "opcua.ClientHandle")
	for _, ty := range dataChangeTypes {
		args = append(args, "-e", "opcua."+ty)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	values = map[string][]float64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		cols := strings.Split(line, "|")
		for i, col := range cols {
			for _, f := range strings.Split(col, ",") {
				if f == "" {
					continue
				}
				if i == 0 {
					h, err := strconv.ParseUint(f, 10, 32)
					if err != nil {
						t.Fatalf("tshark handle %q: %v", f, err)
					}
					handles = append(handles, uint32(h))
					continue
				}
				switch f {
				case "True":
					f = "1"
				case "False":
					f = "0"
				}
				v, err := strconv.ParseFloat(f, 64)
				if err != nil {
					t.Fatalf("tshark value %q: %v", f, err)
				}
				values[dataChangeTypes[i-1]] = append(values[dataChangeTypes[i-1]], v)
			}
		}
	}
	return handles, values
}

// TestDataChangesAgainstTshark compares the data changes of every
// PublishResponse of the real captures with Wireshark's: the client
// handles, in order, and the values of each numeric type. Every handle
// must also name its node, from the CreateMonitoredItems exchange of the
// connection, when that exchange is in the capture.
func TestDataChangesAgainstTshark(t *testing.T) {
	files := captures(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools)")
	}
	total, named := 0, 0
	for _, f := range files {
		msgs, _, ports := replayPorts(t, f, Config{})
		var handles []uint32
		values := map[string][]float64{}
		created := false
		for _, m := range msgs {
			if m.Request != nil && m.Request.Name == "CreateMonitoredItemsRequest" && m.Response != nil {
				created = true
			}
			if m.Response == nil || m.Response.Name != "PublishResponse" {
				continue
			}
			for _, dc := range m.Response.DataChanges {
				handles = append(handles, dc.ClientHandle)
				if dc.Value.IsNumber {
					values[dc.Value.Type] = append(values[dc.Value.Type], dc.Value.Number)
				}
				total++
				if dc.NodeID != "" {
					named++
				} else if created {
					t.Errorf("%s: data change of handle %d names no node though CreateMonitoredItems was seen", filepath.Base(f), dc.ClientHandle)
				}
			}
		}
		th, tv := tsharkDataChanges(t, f, ports)
		if !slices.Equal(handles, th) {
			t.Errorf("%s: client handles\nours   %v\ntshark %v", filepath.Base(f), handles, th)
		}
		for _, ty := range dataChangeTypes {
			a, b := values[ty], tv[ty]
			if len(a) != len(b) {
				t.Errorf("%s: %d %s values, tshark %d", filepath.Base(f), len(a), ty, len(b))
				continue
			}
			for i := range a {
				if math.Abs(a[i]-b[i]) > 1e-6*max(1, math.Abs(b[i])) {
					t.Errorf("%s: %s value %d = %v, tshark %v", filepath.Base(f), ty, i, a[i], b[i])
				}
			}
		}
		if len(handles) > 0 {
			t.Logf("%-60s %d data changes", filepath.Base(f), len(handles))
		}
	}
	if total == 0 {
		t.Fatal("no data change in the captures")
	}
	t.Logf("%d data changes, %d named by their node", total, named)
}
