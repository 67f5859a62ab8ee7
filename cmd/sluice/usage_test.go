package main

import (
	"os"
	"strings"
	"testing"
)

// TestUsageDocInSync checks that docs/usage.md shows the flags of replay and
// monitor exactly as their --help prints them, so the reference cannot
// drift from the binary. After changing a flag, paste the new --help
// "Flags:" section into docs/usage.md.
func TestUsageDocInSync(t *testing.T) {
	doc, err := os.ReadFile("../../docs/usage.md")
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func(t *testing.T) (int, string){
		"replay":  func(t *testing.T) (int, string) { return runCmd(t, runReplay, "--help") },
		"monitor": func(t *testing.T) (int, string) { return runCmd(t, runMonitor, "--help") },
	} {
		code, help := run(t)
		if code != 0 {
			t.Fatalf("%s --help: exit %d", name, code)
		}
		_, flags, ok := strings.Cut(help, "Flags:\n")
		if !ok {
			t.Fatalf("%s --help has no Flags section:\n%s", name, help)
		}
		if !strings.Contains(string(doc), strings.TrimRight(flags, "\n")) {
			t.Errorf("docs/usage.md does not show the current flags of %s; --help says:\n%s", name, flags)
		}
	}
}
