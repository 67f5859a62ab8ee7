package dnp3

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/{FuzzFramer,FuzzTransport,FuzzMessage} from ../shared/pcaps/dnp3")

// TestUpdateSeeds regenerates the committed fuzz seeds from the real
// captures: for FuzzFramer the first 600 octets of every stream direction
// (cut where its first delivery ends), for FuzzTransport the segments of
// every stream direction, for FuzzMessage every distinct fragment shape
// (function code and object headers). Run with -update-seeds.
func TestUpdateSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to regenerate testdata/fuzz from the real captures")
	}
	dirs := map[string]string{}
	for _, name := range []string{"FuzzFramer", "FuzzTransport", "FuzzMessage"} {
		d := filepath.Join("testdata", "fuzz", name)
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs[name] = d
	}
	write := func(fuzz, name string, args ...string) {
		body := "go test fuzz v1\n"
		for _, a := range args {
			body += a + "\n"
		}
		if err := os.WriteFile(filepath.Join(dirs[fuzz], name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	quote := func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" }
	shapes := map[string]bool{}
	counts := map[string]int{}
	for _, file := range captureFiles(t) {
		base := baseName(file)
		type dirKey struct{ conn, dir uint64 }
		streams := map[dirKey][]byte{}
		firstCut := map[dirKey]int{}
		mid := map[dirKey]bool{}
		var order []dirKey
		for _, c := range readChunks(t, file) {
			k := dirKey{c.conn, uint64(c.dir)}
			if _, ok := streams[k]; !ok {
				order = append(order, k)
				firstCut[k] = len(c.data)
				mid[k] = c.mid
			}
			streams[k] = append(streams[k], c.data...)
		}
		for i, k := range order {
			s := streams[k]
			name := fmt.Sprintf("%s-%d", base, i)
			write("FuzzFramer", name, quote(s[:min(len(s), 600)]), fmt.Sprintf("uint16(%d)", firstCut[k]), fmt.Sprintf("bool(%v)", mid[k]))
			counts["FuzzFramer"]++
			// The same stream's segments as FuzzTransport records.
			var rec []byte
			var fr Framer
			if mid[k] {
				fr.Resync()
			}
			_ = fr.Feed(s, func(f *Frame) {
				if f.Control.Function().UserData() && len(rec) < 4000 {
					rec = append(rec, byte(len(f.Data)), byte(f.Source))
					rec = append(rec, f.Data...)
				}
			})
			if len(rec) > 0 {
				write("FuzzTransport", name, quote(rec))
				counts["FuzzTransport"]++
			}
		}
		for i, x := range decodeCapture(t, file).out {
			shape := fmt.Sprint(x.msg.Function)
			for _, o := range x.msg.Objects {
				shape += fmt.Sprintf(" %d/%d/%02x", o.Group, o.Variation, uint8(o.Qualifier))
			}
			if shapes[shape] {
				continue
			}
			shapes[shape] = true
			write("FuzzMessage", fmt.Sprintf("%s-%d-fc%d", base, i, x.msg.Function), quote(x.raw))
			counts["FuzzMessage"]++
		}
	}
	t.Logf("wrote seeds: %v", counts)
}
