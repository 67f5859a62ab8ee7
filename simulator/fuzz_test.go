package simulator

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// FuzzFront feeds arbitrary client bytes to the Modbus front (the library
// behind it unreachable, so FC 1-6/15/16 get exception 04) and checks that it
// never panics, always ends, and only ever writes well-formed ADUs, each
// answering a request's transaction id. Seeds in testdata/fuzz/FuzzFront are
// client payloads of the real captures in ../shared/pcaps/modbus (one per
// function code).
func FuzzFront(f *testing.F) {
	// 0001 0000 0006 01 03 0000 0004: read 4 holding registers of unit 1.
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x04})
	// 0002 0000 0005 01 2b 0e 01 00: read device identification, basic.
	f.Add([]byte{0x00, 0x02, 0x00, 0x00, 0x00, 0x05, 0x01, 0x2b, 0x0e, 0x01, 0x00})
	p := NewProcess(1)
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := &mbFront{p: p, h: &plcHandler{p: p}, backend: "127.0.0.1:0"}
		c := &memConn{r: bytes.NewReader(data)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			fr.serve(c)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("front did not end at the end of the client's bytes")
		}
		out := &c.w
		b := out.Bytes()
		for len(b) > 0 {
			adu, n, err := modbus.ParseADU(b)
			if err != nil || n == 0 {
				t.Fatalf("front wrote a bad ADU % x: %v", b, err)
			}
			if !bytes.Contains(data, []byte{byte(adu.TransactionID >> 8), byte(adu.TransactionID)}) {
				t.Fatalf("answer with transaction id %d that no request carried", adu.TransactionID)
			}
			b = b[n:]
		}
	})
}

// memConn is a net.Conn that reads a fixed input and collects what is
// written.
type memConn struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (c *memConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *memConn) Write(b []byte) (int, error)      { return c.w.Write(b) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }
