// Package testpcaps finds the real public captures that tests use
// (../shared/pcaps beside the repository, or $SLUICE_PCAPS), so every
// package looks in the same place and skips the same way when they are
// absent: a fresh clone without them still passes. Only tests import it.
package testpcaps

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Root returns the captures folder without checking that it exists:
// $SLUICE_PCAPS, else ../shared/pcaps next to the repository root (the
// nearest directory above the working directory that holds go.mod; go test
// runs each package in its own directory).
func Root() string {
	if dir := os.Getenv("SLUICE_PCAPS"); dir != "" {
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		return filepath.Join("..", "shared", "pcaps")
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared", "pcaps")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join(wd, "..", "shared", "pcaps")
		}
		dir = parent
	}
}

// Available reports whether the captures folder (or its sub folder) exists.
func Available(sub ...string) bool {
	st, err := os.Stat(filepath.Join(append([]string{Root()}, sub...)...))
	return err == nil && st.IsDir()
}

// Dir returns the captures folder joined with sub (e.g. "modbus"), or skips
// the test with a message saying where it looked and how to point it
// elsewhere.
func Dir(t testing.TB, sub ...string) string {
	t.Helper()
	dir := filepath.Join(append([]string{Root()}, sub...)...)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Skipf("real captures not found at %s (set SLUICE_PCAPS or put them at ../shared/pcaps beside the repository)", dir)
	}
	return dir
}

// Files returns the captures (*.pcap*: pcap, pcapng, gzipped too) in the
// given sub folders of the captures folder, sorted, or skips the test when
// the folder is absent or holds none.
func Files(t testing.TB, subs ...string) []string {
	t.Helper()
	root := Dir(t)
	var files []string
	for _, sub := range subs {
		m, err := filepath.Glob(filepath.Join(root, sub, "*.pcap*"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skipf("no captures in %s under %s", strings.Join(subs, ", "), root)
	}
	sort.Strings(files)
	return files
}

// Agreement adds up, capture by capture, how many items a decoder and a
// reference decoder (Wireshark's tshark) agree on: the fidelity tests'
// figure.
type Agreement struct {
	Agree, Total int
}

// shownDiffs is how many differences of one capture Add logs.
const shownDiffs = 5

// Add records one capture: agree of total items agree. It logs the figure,
// then note (if any), then the first differences.
func (g *Agreement) Add(t testing.TB, file string, agree, total int, note string, diffs []string) {
	t.Helper()
	g.Agree += agree
	g.Total += total
	t.Logf("%-72s %6d/%6d agree (%.3f %%)%s", filepath.Base(file), agree, total, percent(agree, total), note)
	for i, d := range diffs {
		if i == shownDiffs {
			t.Logf("    ... %d more", len(diffs)-shownDiffs)
			break
		}
		t.Logf("    %s", d)
	}
}

// Percent is the agreement over all captures added, 0 when none had items.
func (g *Agreement) Percent() float64 { return percent(g.Agree, g.Total) }

// Require logs the total under what (the items compared) and fails the test
// when nothing was compared or fewer than min percent agree.
func (g *Agreement) Require(t testing.TB, what string, min float64) {
	t.Helper()
	t.Logf("TOTAL %s agreeing with tshark: %d/%d = %.3f %%", what, g.Agree, g.Total, g.Percent())
	if g.Total == 0 || g.Percent() < min {
		t.Errorf("%s: agreement %.3f %% < %.1f %%", what, g.Percent(), min)
	}
}

func percent(a, n int) float64 {
	if n == 0 {
		return 0
	}
	return 100 * float64(a) / float64(n)
}

// SeedWriter empties testdata/fuzz/<target> of each fuzz target, then
// returns a function that writes one committed seed of a target, in the
// "go test fuzz v1" format, its arguments written as Go values ([]byte as
// a quoted string, other types as T(v)). The seed generators of the
// protocol packages, run with their -update-seeds flag, use it.
func SeedWriter(t testing.TB, targets ...string) func(target, name string, args ...any) {
	t.Helper()
	for _, target := range targets {
		d := filepath.Join("testdata", "fuzz", target)
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return func(target, name string, args ...any) {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
			default:
				fmt.Fprintf(&b, "%T(%v)\n", v, v)
			}
		}
		if err := os.WriteFile(filepath.Join("testdata", "fuzz", target, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
