package modbus

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/{FuzzADU,FuzzFramer} from ../shared/pcaps/modbus")

// TestUpdateSeeds regenerates the committed fuzz seeds from the real
// captures: one ADU per (direction, function code) for FuzzADU (a dozen
// for codes that are not public, and one per direction for UMAS, FC 90), and
// the first 600 bytes of every stream direction for FuzzFramer. Run with
// -update-seeds.
func TestUpdateSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to regenerate testdata/fuzz from the real captures")
	}
	aduDir := filepath.Join("testdata", "fuzz", "FuzzADU")
	frDir := filepath.Join("testdata", "fuzz", "FuzzFramer")
	for _, d := range []string{aduDir, frDir} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	nADU, nFr, nOpaque := 0, 0, 0
	type key struct {
		toServer bool
		fc       FunctionCode
	}
	seen := map[key]bool{}
	for _, file := range pcapFiles(t) {
		base := filepath.Base(file)
		base = base[:len(base)-len(filepath.Ext(base))]
		for si, s := range readStreams(t, file) {
			b := s.bytes()
			prefix := b[:min(len(b), 600)]
			cut := uint16(len(s.segs[0].payload))
			name := fmt.Sprintf("%s-%d", base, si)
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nuint16(%d)\nbool(%v)\n", strconv.Quote(string(prefix)), cut, !s.sawSYN)
			if err := os.WriteFile(filepath.Join(frDir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			nFr++
			adus, _ := frameAll(b, s.sawSYN)
			for _, a := range adus {
				k := key{s.toServer, a.Function()}
				if seen[k] {
					continue
				}
				if !a.Function().Known() && a.Function() != FuncUMAS {
					if nOpaque >= 12 {
						continue
					}
					nOpaque++
				}
				seen[k] = true
				raw, err := a.Append(nil)
				if err != nil {
					continue
				}
				name := fmt.Sprintf("%s-%d-fc%d", base, si, a.Function())
				body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(raw)))
				if err := os.WriteFile(filepath.Join(aduDir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				nADU++
			}
		}
	}
	t.Logf("wrote %d FuzzADU and %d FuzzFramer seeds", nADU, nFr)
}
