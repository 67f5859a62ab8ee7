package simulator

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// startModbus runs the Modbus front and the library server (no OPC UA) on
// loopback ports for the duration of the test.
func startModbus(t *testing.T) (string, *Process) {
	t.Helper()
	p := NewProcess(1)
	srv, err := startServers(context.Background(), p, "127.0.0.1:0", "", "", nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.close)
	return srv.mbLn.Addr().String(), p
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange writes req and reads one ADU, or returns the read error.
func exchange(c net.Conn, req []byte, wait time.Duration) ([]byte, error) {
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, err
	}
	return readADU(c)
}

// TestFrontAnswers checks the function codes the front answers itself and
// the exceptions of the library behind it, byte for byte. Each vector is the
// hex of the TCP payload as tcpdump -X shows it.
func TestFrontAnswers(t *testing.T) {
	addr, _ := startModbus(t)
	c := dial(t, addr)
	for _, tc := range []struct{ name, req, resp string }{
		// FC 8/00 return query data: the data is echoed (MAP 6.8.1).
		{"diag echo", "0001 0000 0006 01 08 0000 a5a5", "0001 0000 0006 01 08 0000 a5a5"},
		// FC 8/02 diagnostic register: 0.
		{"diag register", "0002 0000 0006 01 08 0002 0000", "0002 0000 0006 01 08 0002 0000"},
		// FC 8/0x15 is reserved: exception 01.
		{"diag reserved", "0003 0000 0006 01 08 0015 0000", "0003 0000 0003 01 88 01"},
		// FC 17 report server id: count 20, id 0x41, run 0xFF, "SLC-DAM-400 v2.4.1".
		{"report server id", "0004 0000 0002 01 11", "0004 0000 0017 01 11 14 41 ff " + hex.EncodeToString([]byte("SLC-DAM-400 v2.4.1"))},
		// FC 23: write HR1 = 150 (15.0 %), then read HR0..1 = 100, 150.
		{"read/write multiple", "0005 0000 000d 01 17 0000 0002 0001 0001 02 0096", "0005 0000 0007 01 17 04 0064 0096"},
		// FC 23 with a byte count that does not match the quantity: 03.
		{"read/write bad count", "0006 0000 000d 01 17 0000 0002 0001 0001 04 0096", "0006 0000 0003 01 97 03"},
		// FC 43/14 basic identification of unit 2: conformity 0x82, 3 objects.
		{"device id basic", "0007 0000 0005 02 2b 0e 01 00", // length 0x30 = 48
			"0007 0000 0030 02 2b 0e 01 82 00 00 03 00 11 " + hex.EncodeToString([]byte("Sluice Automation")) +
				" 01 0b " + hex.EncodeToString([]byte("SLC-TGC-220")) + " 02 06 " + hex.EncodeToString([]byte("v1.9.0"))},
		// FC 43/14 individual access to the model name of unit 1.
		{"device id individual", "0008 0000 0005 01 2b 0e 04 05", "0008 0000 0010 01 2b 0e 04 82 00 00 01 05 06 " + hex.EncodeToString([]byte("DC-400"))},
		// FC 43/14 individual access to a reserved object: 02.
		{"device id bad object", "0009 0000 0005 01 2b 0e 04 40", "0009 0000 0003 01 ab 02"},
		// FC 43 with MEI 13 (CANopen): 01.
		{"mei 13", "000a 0000 0005 01 2b 0d 00 00", "000a 0000 0003 01 ab 01"},
		// FC 3 beyond the 4 holding registers of unit 1: library answers 02.
		{"bad address", "000b 0000 0006 01 03 0010 0001", "000b 0000 0003 01 83 02"},
		// FC 6 gate 1 setpoint 500.0 %: valid range 0-100, 03.
		{"bad value", "000c 0000 0006 01 06 0000 1388", "000c 0000 0003 01 86 03"},
		// FC 6 to HR 5, outside unit 1's four holding registers: 02.
		{"write missing register", "000d 0000 0006 01 06 0005 0001", "000d 0000 0003 01 86 02"},
		// Unit 9 is not behind this address: gateway exception 0x0B.
		{"unknown unit", "000e 0000 0006 09 03 0000 0001", "000e 0000 0003 09 83 0b"},
		// FC 7 (serial line only): 01.
		{"fc 7", "000f 0000 0002 01 07", "000f 0000 0003 01 87 01"},
		// FC 4 of unit 2: turbine 1 flow, power 18.00 MW (1800 = 0x0708).
		{"library read", "0010 0000 0006 02 04 0001 0001", "0010 0000 0005 02 04 02 0708"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exchange(c, unhex(t, tc.req), 2*time.Second)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if want := unhex(t, tc.resp); !bytes.Equal(got, want) {
				t.Errorf("answer\n got % x\nwant % x", got, want)
			}
		})
	}
}

// TestListenOnly checks FC 8/04 and 8/01 (MAP 6.8.1): after force
// listen-only the PLC answers nothing, not even to other connections, until
// restart communications, which it answers.
func TestListenOnly(t *testing.T) {
	addr, _ := startModbus(t)
	atk, hmi := dial(t, addr), dial(t, addr)
	read := unhex(t, "0001 0000 0006 01 03 0000 0001")
	if _, err := exchange(hmi, read, 2*time.Second); err != nil {
		t.Fatalf("before: %v", err)
	}
	if b, err := exchange(atk, unhex(t, "0001 0000 0006 01 08 0004 0000"), 300*time.Millisecond); err == nil {
		t.Fatalf("force listen-only was answered: % x", b)
	}
	if b, err := exchange(hmi, read, 300*time.Millisecond); err == nil {
		t.Fatalf("a read in listen-only mode was answered: % x", b)
	}
	// 0000 0000 0006 01 08 0001 ff00: restart communications, keep log.
	restart := unhex(t, "0002 0000 0006 01 08 0001 ff00")
	got, err := exchange(atk, restart, 2*time.Second)
	if err != nil || !bytes.Equal(got, restart) {
		t.Fatalf("restart communications: % x, %v", got, err)
	}
	// The HMI's unanswered request is gone; its next one is answered.
	drain(hmi)
	if _, err := exchange(hmi, unhex(t, "0002 0000 0006 01 03 0000 0001"), 2*time.Second); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	// The counters restart too: one message (this request) since.
	got, err = exchange(atk, unhex(t, "0003 0000 0006 01 08 000b 0000"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "0003 0000 0006 01 08 000b 0002"); !bytes.Equal(got, want) {
		t.Errorf("bus message count: got % x want % x (the HMI's read and this request)", got, want)
	}
}

func drain(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = io.Copy(io.Discard, c)
}

// TestFrontClosesOnGarbage checks that bytes which are not Modbus/TCP make
// the PLC close the connection, and that it keeps serving others.
func TestFrontClosesOnGarbage(t *testing.T) {
	addr, _ := startModbus(t)
	for _, tc := range []struct{ name, bytes string }{
		{"length 0", "0001 0000 0000 01 03 0000 0001"},
		{"length 1024", "0001 0000 0400 01 03 0000 0001"},
		{"protocol id 1", "0001 0001 0006 01 03 0000 0001"},
		{"http", hex.EncodeToString([]byte("GET / HTTP/1.1\r\n\r\n"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, addr)
			_, err := exchange(c, unhex(t, tc.bytes), 2*time.Second)
			if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("want the connection closed, got %v", err)
			}
		})
	}
	if _, err := exchange(dial(t, addr), unhex(t, "0001 0000 0006 01 03 0000 0001"), 2*time.Second); err != nil {
		t.Fatalf("PLC stopped serving after garbage: %v", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout() && !errors.Is(err, os.ErrDeadlineExceeded)
}
