package dnp3

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// dumpFiles returns the shared captures matching the glob in the
// environment variable env, or skips the test.
func dumpFiles(t *testing.T, env string) []string {
	pat := os.Getenv(env)
	if pat == "" {
		t.Skipf("set %s=glob to print what the captures matching it hold", env)
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(captureFiles(t)[0]), pat))
	return files
}

// TestDump prints every fragment of the captures named by DNP3_DUMP (a glob
// under the shared dnp3 folder), for looking at real traffic.
func TestDump(t *testing.T) {
	for _, f := range dumpFiles(t, "DNP3_DUMP") {
		d := decodeCapture(t, f)
		fmt.Printf("== %s link errors %d, link-only %d, not dnp3 %v\n", filepath.Base(f), d.linkErrs, d.linkOnly, d.notDNP3)
		for _, x := range d.out {
			m := &x.msg
			fmt.Printf("frame %d %s %d->%d ctl=%02x %s seq=%d iin=%04x err=%v\n   %s\n", x.frame, x.dir, x.link.Source, x.link.Dest, uint8(m.Control), m.Function, m.Control.Seq(), uint16(m.IIN), m.Err, hex.EncodeToString(x.raw))
			for _, o := range m.Objects {
				fmt.Printf("   g%dv%d q=%02x %d-%d n=%d %s len=%d\n", o.Group, o.Variation, uint8(o.Qualifier), o.Start, o.Stop, o.Count, o.Name(), len(o.Data))
				it := o.Points()
				var p Point
				for it.Next(&p) {
					fmt.Printf("      %+v\n", p)
				}
			}
		}
	}
}

// TestDumpEvents prints the transactions of the captures named by
// DNP3_EVENTS (a glob), as JSON, each after the frame that completed it.
func TestDumpEvents(t *testing.T) {
	for _, f := range dumpFiles(t, "DNP3_EVENTS") {
		fmt.Printf("== %s\n", filepath.Base(f))
		frames, evs := captureEvents(t, f)
		for i, e := range evs {
			fmt.Printf("%d %s\n", frames[i], e)
		}
	}
}
