package main

import (
	"os"
	"strings"
	"testing"
)

// TestUsageDocInSync checks that docs/usage.md shows the flags of replay and
// monitor exactly as their --help prints them, and the help of baseline
// (its subcommands) as a whole, so the reference cannot drift from the
// binary. After changing a flag, paste the new --help "Flags:" section (for
// baseline, the whole help) into docs/usage.md.
func TestUsageDocInSync(t *testing.T) {
	doc, err := os.ReadFile("../../docs/usage.md")
	if err != nil {
		t.Fatal(err)
	}
	flags := func(help string) (string, bool) {
		_, f, ok := strings.Cut(help, "Flags:\n")
		return f, ok
	}
	whole := func(help string) (string, bool) { return help, true }
	for _, c := range []struct {
		name    string
		run     func(t *testing.T) (int, string)
		section func(help string) (string, bool)
	}{
		{"replay", func(t *testing.T) (int, string) { return runCmd(t, runReplay, "--help") }, flags},
		{"monitor", func(t *testing.T) (int, string) { return runCmd(t, runMonitor, "--help") }, flags},
		{"baseline", func(t *testing.T) (int, string) { return runCmd(t, runBaseline, "--help") }, whole},
	} {
		code, help := c.run(t)
		if code != 0 {
			t.Fatalf("%s --help: exit %d", c.name, code)
		}
		want, ok := c.section(help)
		if !ok {
			t.Fatalf("%s --help has no Flags section:\n%s", c.name, help)
		}
		if !strings.Contains(string(doc), strings.TrimRight(want, "\n")) {
			t.Errorf("docs/usage.md does not show the current help of %s; --help says:\n%s", c.name, want)
		}
	}
}
