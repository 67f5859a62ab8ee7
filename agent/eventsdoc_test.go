package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exampleMarker precedes every example event in docs/events.md and names
// where it comes from: a golden file and the first event in it whose dotted
// JSON paths have the given values.
var exampleMarker = regexp.MustCompile(`^<!-- example: (\S+) (\S+) -->$`)

// TestEventsDocExamples keeps the examples in docs/events.md and README.md real: each one
// must be, byte for byte, the golden event its marker names, so the
// documentation cannot drift from what Sluice writes. After a deliberate
// output change, `go test ./agent -run 'TestGolden|TestEventsDoc' -update`
// refreshes the goldens, then the examples from them.
func TestEventsDocExamples(t *testing.T) {
	for _, doc := range []string{"../docs/events.md", "../README.md"} {
		checkDocExamples(t, doc)
	}
}

func checkDocExamples(t *testing.T, doc string) {
	raw, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	examples := 0
	for i := 0; i < len(lines); i++ {
		m := exampleMarker.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		examples++
		if i+2 >= len(lines) || lines[i+1] != "```json" {
			t.Fatalf("%s:%d: the example marker must be followed by a ```json block", doc, i+1)
		}
		want, err := goldenEvent(filepath.Join("..", "testdata", "golden", m[1]), m[2])
		if err != nil {
			t.Errorf("%s:%d: %v", doc, i+1, err)
			continue
		}
		if lines[i+2] == want {
			continue
		}
		if *update {
			lines[i+2] = want
			continue
		}
		t.Errorf("%s:%d: the example is not the golden event %s %s:\n got  %.200s\n want %.200s\n(go test ./agent -run TestEventsDoc -update rewrites it)",
			doc, i+3, m[1], m[2], lines[i+2], want)
	}
	if examples == 0 {
		t.Errorf("%s has no marked example", doc)
	}
	if *update {
		if err := os.WriteFile(doc, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// goldenEvent returns the first line of the golden file whose JSON has every
// path=value of query (comma-separated; values compared as JSON text or as
// strings).
func goldenEvent(file, query string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var conds [][2]string
	for _, c := range strings.Split(query, ",") {
		k, v, ok := strings.Cut(c, "=")
		if !ok {
			return "", fmt.Errorf("bad selector %q in %q", c, query)
		}
		conds = append(conds, [2]string{k, v})
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return "", fmt.Errorf("%s: %v", file, err)
		}
		if matches(ev, conds) {
			return sc.Text(), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s: no event with %s", file, query)
}

func matches(ev map[string]any, conds [][2]string) bool {
	for _, c := range conds {
		var v any = ev
		for _, k := range strings.Split(c[0], ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return false
			}
			v = m[k]
		}
		if s, ok := v.(string); ok {
			if s != c[1] {
				return false
			}
			continue
		}
		b, _ := json.Marshal(v)
		if !bytes.Equal(b, []byte(c[1])) {
			return false
		}
	}
	return true
}

// TestEventsDocCoversProtocols fails when a registered protocol has no
// section in docs/events.md: a new protocol's events are documented before
// anyone has to reverse-engineer them.
func TestEventsDocCoversProtocols(t *testing.T) {
	raw, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modules {
		if !strings.Contains(string(raw), "\n## `"+m.name+"`") {
			t.Errorf("docs/events.md has no \"## `%s`\" section for the %s events", m.name, m.title)
		}
	}
}
