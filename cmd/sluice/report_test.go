package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// reportDB writes a small learned baseline (an HMI polling a PLC) to a
// bbolt store and returns its path.
func reportDB(t *testing.T) string {
	t.Helper()
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	hmi, plc := netip.MustParseAddr("10.10.1.10"), netip.MustParseAddr("10.10.2.1")
	t0 := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	for i := 0; i < 60; i++ {
		o := baselines.Observation{Time: t0.Add(time.Duration(i) * time.Second), Protocol: baselines.Modbus, Responded: true,
			Endpoints: baselines.Endpoints{ClientIP: hmi, ServerIP: plc, ClientPort: 40000, ServerPort: 502},
			Detail: &baselines.ModbusObs{Unit: 1, Function: 3, ReadTable: modbus.TableHoldingRegisters,
				Read: baselines.Range{Start: 0, Count: 10}}}
		e.Observe(&o)
	}
	path := filepath.Join(t.TempDir(), "baseline.db")
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Flush(e); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReportCommand(t *testing.T) {
	db := reportDB(t)
	dir := t.TempDir()
	tests := []struct {
		name  string
		args  []string
		out   string
		check func(t *testing.T, b []byte)
	}{
		{"html by default", []string{"--db", db, "-o", filepath.Join(dir, "r.html")}, "r.html", func(t *testing.T, b []byte) {
			if !strings.HasPrefix(string(b), "<!DOCTYPE html>") || !strings.Contains(string(b), "10.10.2.1") {
				t.Error("not the HTML report of the baseline")
			}
		}},
		{"md from extension", []string{"--db", db, "-o", filepath.Join(dir, "r.md"), "--source", "eth1"}, "r.md", func(t *testing.T, b []byte) {
			if !strings.HasPrefix(string(b), "# Sluice baseline report") || !strings.Contains(string(b), "`eth1`") {
				t.Errorf("not the Markdown report with its source:\n%.300s", b)
			}
		}},
		{"json flag wins over extension", []string{"--db", db, "--format", "json", "-o", filepath.Join(dir, "r.txt")}, "r.txt", func(t *testing.T, b []byte) {
			var r struct {
				SHA256  string `json:"sha256"`
				Devices []any  `json:"devices"`
			}
			if err := json.Unmarshal(b, &r); err != nil || len(r.SHA256) != 64 || len(r.Devices) != 2 {
				t.Errorf("JSON report: %v, sha %q, %d devices", err, r.SHA256, len(r.Devices))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code := runReport(context.Background(), tc.args); code != 0 {
				t.Fatalf("exit %d", code)
			}
			path := filepath.Join(dir, tc.out)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want 0640", st.Mode().Perm())
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, b)
		})
	}
	// Errors: usage (2) and a database that cannot be read (1), leaving no
	// file behind.
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"-o", filepath.Join(dir, "x.html")}, 2},
		{[]string{"--db", db, "--format", "pdf"}, 2},
		{[]string{"--db", filepath.Join(dir, "missing.db"), "-o", filepath.Join(dir, "x.html")}, 1},
		{[]string{"--db", db, "extra"}, 2},
	} {
		if code := runReport(context.Background(), tc.args); code != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, code, tc.code)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.html")); !os.IsNotExist(err) {
		t.Errorf("a failed run left x.html: %v", err)
	}
}
