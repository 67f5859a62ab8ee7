package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMonitorLive captures on the loopback interface while a Modbus client
// polls a server on a free port, rotates the output with SIGHUP, then
// cancels the context as SIGINT does: monitor must exit 0 with the
// transactions and the final stats event flushed. It needs CAP_NET_RAW (CI runs as root) and skips without it.
func TestMonitorLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root or CAP_NET_RAW")
	}
	port := modbusServer(t)

	out := filepath.Join(t.TempDir(), "eve.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr string
	go func() {
		code, se := runCmdCtx(t, ctx, runMonitor, "--iface", "lo", "--modbus-ports", strconv.Itoa(port), "--opcua-ports", "", "-o", out)
		stderr = se
		done <- code
	}()

	// Poll until the capture socket is up and sees our traffic: the agent
	// flushes at least once a second, so events appear in the file.
	var tid uint16
	pollUntilEvent := func(path string) {
		if !pollModbus(t, port, &tid, 20*time.Second, func() bool {
			b, _ := os.ReadFile(path)
			return bytes.Contains(b, []byte(`"event_type":"modbus"`))
		}) {
			t.Fatalf("no modbus event reached %s", path)
		}
	}
	pollUntilEvent(out)

	// logrotate: move the file away, SIGHUP, and the events go to a new
	// file at the configured path.
	rotated := out + ".1"
	if err := os.Rename(out, rotated); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	pollUntilEvent(out)
	// main cancels the context on SIGINT/SIGTERM.
	stopAt := time.Now()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("monitor exited %d: %s", code, stderr)
		}
		t.Logf("monitor stopped %v after the signal", time.Since(stopAt).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("monitor did not stop after the signal")
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, `"event_type":"modbus"`) || !strings.Contains(s, `"dest_port":`+strconv.Itoa(port)) {
		t.Errorf("no modbus event for port %d in:\n%s", port, s)
	}
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if !strings.Contains(lines[len(lines)-1], `"event_type":"stats"`) {
		t.Errorf("last line is not the stats event: %s", lines[len(lines)-1])
	}
	old, _ := os.ReadFile(rotated)
	if !bytes.Contains(old, []byte(`"event_type":"modbus"`)) || bytes.Contains(old, []byte(`"event_type":"stats"`)) {
		t.Errorf("the rotated file should hold the events before SIGHUP only:\n%s", old)
	}
}

// modbusServer serves Modbus/TCP on a free loopback port until the test
// ends: every FC 3 request for 2 registers is answered with 17, 42.
func modbusServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				req := make([]byte, 12)
				for {
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					resp := adu(uint16(req[0])<<8|uint16(req[1]), req[6], 0x03, 0x04, 0x00, 0x11, 0x00, 0x2a)
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// pollModbus reads two holding registers from the server on port, one
// connection every 200 ms (tid numbers them), until done holds or d
// passes; it reports whether done held.
func pollModbus(t *testing.T, port int, tid *uint16, d time.Duration, done func() bool) bool {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		*tid++
		c.Write(adu(*tid, 1, 0x03, 0x00, 0x64, 0x00, 0x02))
		io.ReadFull(c, make([]byte, 13))
		c.Close()
		time.Sleep(200 * time.Millisecond)
		if done() {
			return true
		}
	}
	return done()
}
