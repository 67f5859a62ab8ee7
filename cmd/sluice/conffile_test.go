package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestApplyConfigFile(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		args    []string
		iface   string
		learn   time.Duration
		metrics string
		promisc bool
		err     string
	}{
		{name: "file only", file: "# comment\n\niface = eth1\nlearn-for = 48h\nmetrics = 127.0.0.1:9477\n",
			iface: "eth1", learn: 48 * time.Hour, metrics: "127.0.0.1:9477"},
		{name: "flags win", file: "iface = eth1\nlearn-for = 48h\n", args: []string{"--iface", "eth2"},
			iface: "eth2", learn: 48 * time.Hour},
		{name: "quoted value and dashes", file: "--iface = \" eth1 \"\nno-promisc = true\n", iface: " eth1 ", learn: time.Hour, promisc: true},
		{name: "no spaces", file: "iface=eth3\n", iface: "eth3", learn: time.Hour},
		{name: "unknown name", file: "iface = eth1\nifcae = eth2\n", err: "cfg:2: ifcae: no such flag"},
		{name: "bad value", file: "learn-for = 1 day\n", err: "cfg:1: learn-for: parse error"},
		{name: "no equals", file: "iface eth1\n", err: "cfg:1: want name = value"},
		{name: "duplicate", file: "iface = a\niface = b\n", err: "cfg:2: iface already set on line 1"},
		{name: "nested config", file: "config = /etc/other\n", err: "cannot name another"},
		{name: "bad quote", file: "iface = \"eth1\n", err: "bad quoted value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cfg")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			iface := fs.String("iface", "", "")
			learn := fs.Duration("learn-for", time.Hour, "")
			metrics := fs.String("metrics", "", "")
			noPromisc := fs.Bool("no-promisc", false, "")
			conf := configFlag(fs)
			if err := fs.Parse(append(tc.args, "--config", path)); err != nil {
				t.Fatal(err)
			}
			err := applyConfigFile(fs, *conf)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, errConfigFile) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *iface != tc.iface || *learn != tc.learn || *metrics != tc.metrics || *noPromisc != tc.promisc {
				t.Errorf("iface %q learn %v metrics %q no-promisc %v; want %q %v %q %v",
					*iface, *learn, *metrics, *noPromisc, tc.iface, tc.learn, tc.metrics, tc.promisc)
			}
		})
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	if err := applyConfigFile(fs, filepath.Join(t.TempDir(), "missing")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestShippedConfig checks deploy/sluice.conf against the real monitor
// flags: monitor reads it and gets as far as opening an interface that does
// not exist (exit 1), never to a configuration error (exit 2).
func TestShippedConfig(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "sluice.conf")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s: %v", path, err)
	}
	stderr := captureStderr(t, func() {
		code := runMonitor(context.Background(), []string{"--config", path, "--iface", "sluice-none0", "--db", "", "-o", filepath.Join(t.TempDir(), "eve.json")})
		if code != 1 {
			t.Errorf("exit %d, want 1 (the interface does not exist)", code)
		}
	})
	if strings.Contains(stderr, "config file") || !strings.Contains(stderr, "sluice-none0") {
		t.Errorf("stderr %q: want an error about the interface only", stderr)
	}
}

// captureStderr runs fn with os.Stderr redirected and returns what it wrote.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	done := make(chan []byte)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				done <- []byte(b.String())
				return
			}
		}
	}()
	defer func() { os.Stderr = old }()
	fn()
	w.Close()
	return string(<-done)
}

// The settings deploy/sluice.conf shows commented out are valid too: with
// every "#name = value" line uncommented (less the files only a real
// deployment has), monitor still gets as far as the interface.
func TestShippedConfigCommented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "sluice.conf"))
	if err != nil {
		t.Skip(err)
	}
	var lines []string
	uncommented := 0
	for _, l := range strings.Split(string(b), "\n") {
		name, _, ok := strings.Cut(strings.TrimPrefix(l, "#"), " = ")
		if ok && strings.HasPrefix(l, "#") && !strings.ContainsAny(name, " #") {
			if name == "syslog-ca" || name == "syslog-cert" || name == "syslog-key" {
				continue
			}
			l = l[1:]
			if name == "rules" { // the dam's example stands for the plant's file
				l = "rules = " + filepath.Join("..", "..", "simulator", "rules.yaml")
			}
			uncommented++
		}
		lines = append(lines, l)
	}
	if uncommented < 10 {
		t.Fatalf("only %d commented settings found", uncommented)
	}
	path := filepath.Join(t.TempDir(), "sluice.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	stderr := captureStderr(t, func() {
		code := runMonitor(context.Background(), []string{"--config", path, "--iface", "sluice-none0", "--db", "", "-o", filepath.Join(t.TempDir(), "eve.json")})
		if code != 1 {
			t.Errorf("exit %d, want 1 (the interface does not exist)", code)
		}
	})
	if strings.Contains(stderr, "config file") || !strings.Contains(stderr, "sluice-none0") {
		t.Errorf("stderr %q: want an error about the interface only", stderr)
	}
}
