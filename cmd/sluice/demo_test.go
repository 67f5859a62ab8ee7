package main

import (
	"strings"
	"testing"
)

// TestDemoFlags checks that bad flags are refused with exit 2 and one line
// naming the problem, before anything starts (simulator/demo tests the demo
// itself).
func TestDemoFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--learn-for", "4s"}, "--learn-for must be at least 5s"},
		{[]string{"--scenarios", "rogue_master,nope"}, `unknown attack scenario "nope"`},
		{[]string{"--scenarios", "normal"}, `unknown attack scenario "normal"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--no-such-flag"}, "no-such-flag"},
	} {
		code, stderr := runCmd(t, runDemo, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("sluice demo %s: exit %d, stderr %q; want exit 2 and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}
