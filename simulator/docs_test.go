package simulator

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated tables of docs/simulator.md")

// TestDocsInSync checks that docs/simulator.md shows the tag table and the
// scenario table exactly as the code defines them; go test -run
// TestDocsInSync -update rewrites them.
func TestDocsInSync(t *testing.T) {
	path := filepath.Join("..", "docs", "simulator.md")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	doc := string(raw)
	for _, sec := range []struct{ name, want string }{
		{"tags", TagMarkdown()},
		{"scenarios", ScenarioMarkdown()},
		{"hosts", HostMarkdown()},
	} {
		begin, end := "<!-- "+sec.name+":begin -->\n", "<!-- "+sec.name+":end -->"
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i {
			t.Fatalf("%s: markers %q and %q missing", path, begin, end)
		}
		got := doc[i+len(begin) : j]
		if got == sec.want {
			continue
		}
		if !*update {
			t.Errorf("%s: the %s table is out of date; run go test ./simulator -run TestDocsInSync -update", path, sec.name)
			continue
		}
		doc = doc[:i+len(begin)] + sec.want + doc[j:]
	}
	if *update {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
