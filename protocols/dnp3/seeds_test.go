package dnp3

import (
	"flag"
	"fmt"
	"testing"

	"github.com/sluice-ics/sluice/internal/testpcaps"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/{FuzzFramer,FuzzTransport,FuzzMessage} from ../shared/pcaps/dnp3")

// TestUpdateSeeds regenerates the committed fuzz seeds from the real
// captures when run with -update-seeds: for FuzzFramer the first 600
// octets of every stream direction (cut where its first delivery ends),
// for FuzzTransport the segments of every stream direction, for
// FuzzMessage every distinct fragment shape (function code and object
// headers).
func TestUpdateSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("-update-seeds not given")
	}
	files := captureFiles(t)
	write := testpcaps.SeedWriter(t, "FuzzFramer", "FuzzTransport", "FuzzMessage")
	shapes := map[string]bool{}
	counts := map[string]int{}
	for _, file := range files {
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
			write("FuzzFramer", name, s[:min(len(s), 600)], uint16(firstCut[k]), mid[k])
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
				write("FuzzTransport", name, rec)
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
			write("FuzzMessage", fmt.Sprintf("%s-%d-fc%d", base, i, x.msg.Function), x.raw)
			counts["FuzzMessage"]++
		}
	}
	t.Logf("wrote seeds: %v", counts)
}
