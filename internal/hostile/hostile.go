// Package hostile writes the captures of a hostile network that issue #15
// measured Sluice against: spoofed connections by the million, a sweep of
// distinct (client, server, unit) channels, OPC UA connections that start
// chunked messages and never finish them. Tests replay them at a size CI
// can afford; `go run ./internal/hostile/gen` writes them at full size for
// the memory figures of docs/deploy.md (peak RSS under --memory-limit).
//
// Frames are Ethernet/IPv4/TCP built by hand (gopacket's serializer is
// fifty times slower, and 1.5 M flows is 3 M frames); the IPv4 header
// checksum is right, the TCP checksum is left zero (Sluice, like Zeek on
// offloaded captures, does not check it).
package hostile

import (
	"encoding/binary"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Writer writes frames to a pcap file with a packet clock.
type Writer struct {
	w   *pcapgo.Writer
	ts  time.Time
	buf []byte
}

// Start is the packet time of the first frame of every capture.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// NewWriter writes the pcap file header to w.
func NewWriter(w *pcapgo.Writer) (*Writer, error) {
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	return &Writer{w: w, ts: Start}, nil
}

// Endpoint is one end of a TCP connection.
type Endpoint struct {
	IP   [4]byte
	Port uint16
}

// TCP flags.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
)

// Frame writes one TCP segment from src to dst, step after the previous
// frame.
func (w *Writer) Frame(src, dst Endpoint, seq, ack uint32, flags uint8, payload []byte, step time.Duration) error {
	w.ts = w.ts.Add(step)
	b := w.buf[:0]
	// Ethernet: locally administered MACs derived from the IPs.
	b = append(b, 0x02, 0, dst.IP[0], dst.IP[1], dst.IP[2], dst.IP[3])
	b = append(b, 0x02, 0, src.IP[0], src.IP[1], src.IP[2], src.IP[3])
	b = append(b, 0x08, 0x00)
	ip := len(b)
	total := 20 + 20 + len(payload)
	b = append(b, 0x45, 0, byte(total>>8), byte(total), 0, 0, 0x40, 0, 64, 6, 0, 0)
	b = append(b, src.IP[:]...)
	b = append(b, dst.IP[:]...)
	binary.BigEndian.PutUint16(b[ip+10:], checksum(b[ip:ip+20]))
	b = binary.BigEndian.AppendUint16(b, src.Port)
	b = binary.BigEndian.AppendUint16(b, dst.Port)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, ack)
	b = append(b, 5<<4, flags, 0xff, 0xff, 0, 0, 0, 0)
	b = append(b, payload...)
	w.buf = b
	return w.w.WritePacket(gopacket.CaptureInfo{Timestamp: w.ts, CaptureLength: len(b), Length: len(b)}, b)
}

func checksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// Conn is a TCP connection being written: its ends and next sequence
// numbers.
type Conn struct {
	w        *Writer
	cli, srv Endpoint
	cseq     uint32
	sseq     uint32
}

// Open writes a three-way handshake and returns the connection.
func (w *Writer) Open(cli, srv Endpoint) (*Conn, error) {
	c := &Conn{w: w, cli: cli, srv: srv, cseq: 1000, sseq: 5000}
	if err := w.Frame(cli, srv, c.cseq, 0, SYN, nil, time.Millisecond); err != nil {
		return nil, err
	}
	c.cseq++
	if err := w.Frame(srv, cli, c.sseq, c.cseq, SYN|ACK, nil, 100*time.Microsecond); err != nil {
		return nil, err
	}
	c.sseq++
	return c, w.Frame(cli, srv, c.cseq, c.sseq, ACK, nil, 100*time.Microsecond)
}

// Client writes payload from the client.
func (c *Conn) Client(payload []byte) error {
	err := c.w.Frame(c.cli, c.srv, c.cseq, c.sseq, PSH|ACK, payload, time.Millisecond)
	c.cseq += uint32(len(payload))
	return err
}

// Server writes payload from the server.
func (c *Conn) Server(payload []byte) error {
	err := c.w.Frame(c.srv, c.cli, c.sseq, c.cseq, PSH|ACK, payload, 500*time.Microsecond)
	c.sseq += uint32(len(payload))
	return err
}

// Close writes a FIN from each end.
func (c *Conn) Close() error {
	if err := c.w.Frame(c.cli, c.srv, c.cseq, c.sseq, FIN|ACK, nil, time.Millisecond); err != nil {
		return err
	}
	c.cseq++
	return c.w.Frame(c.srv, c.cli, c.sseq, c.cseq, FIN|ACK, nil, 100*time.Microsecond)
}

// spoofed returns the i-th spoofed source, never 0 in its last octet.
func spoofed(i int) [4]byte {
	i++
	return [4]byte{100, byte(64 + i>>24&0x3f), byte(i >> 16), byte(i >> 8)} // 100.64.0.0/10
}

// SpoofedFlows writes n connections from n spoofed sources to one PLC's
// port 502: a SYN, then a Modbus read (FC 3) without the handshake ever
// completing, which no server answers (issue #15's 1.5 M flows).
func SpoofedFlows(w *Writer, n int) error {
	plc := Endpoint{IP: [4]byte{10, 10, 2, 1}, Port: 502}
	req := []byte{0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10}
	for i := range n {
		ip := spoofed(i)
		ip[3] = byte(i) | 1
		cli := Endpoint{IP: ip, Port: uint16(1024 + i%60000)}
		if err := w.Frame(cli, plc, 1000, 0, SYN, nil, 10*time.Microsecond); err != nil {
			return err
		}
		if err := w.Frame(cli, plc, 1001, 5001, PSH|ACK, req, 10*time.Microsecond); err != nil {
			return err
		}
	}
	return nil
}

// Channels writes n answered Modbus reads on n distinct channels: clients
// of 10.20.0.0/16, one connection each to one of 16 PLCs, a read per unit
// 1..247 answered by the PLC (issue #15's 1 M channels).
func Channels(w *Writer, n int) error {
	const units = 247
	req := []byte{0, 0, 0, 0, 0, 6, 0, 3, 0, 0, 0, 1}
	resp := []byte{0, 0, 0, 0, 0, 5, 0, 3, 2, 0, 42}
	for i := 0; i < n; {
		k := i / units
		cli := Endpoint{IP: [4]byte{10, 20, byte(k >> 8), byte(k)}, Port: 40000}
		srv := Endpoint{IP: [4]byte{10, 10, 3, byte(1 + k%16)}, Port: 502}
		c, err := w.Open(cli, srv)
		if err != nil {
			return err
		}
		for u := 1; u <= units && i < n; u, i = u+1, i+1 {
			binary.BigEndian.PutUint16(req, uint16(u))
			binary.BigEndian.PutUint16(resp, uint16(u))
			req[6], resp[6] = byte(u), byte(u)
			if err := c.Client(req); err != nil {
				return err
			}
			if err := c.Server(resp); err != nil {
				return err
			}
		}
		if err := c.Close(); err != nil {
			return err
		}
	}
	return nil
}

// UnfinishedOPCUA writes conns OPC UA connections, each sending
// intermediate chunks ('C') of one request, perConn bytes in all, and never
// its final chunk (issue #15's 24 connections holding 31 MB each).
func UnfinishedOPCUA(w *Writer, conns, perConn int) error {
	const piece = 8000
	chunk := make([]byte, 24+piece)
	copy(chunk, "MSGC")
	binary.LittleEndian.PutUint32(chunk[4:], uint32(len(chunk)))
	binary.LittleEndian.PutUint32(chunk[8:], 1)  // secure channel
	binary.LittleEndian.PutUint32(chunk[12:], 1) // token
	binary.LittleEndian.PutUint32(chunk[20:], 7) // request id
	var cs []*Conn
	for i := range conns {
		c, err := w.Open(Endpoint{IP: [4]byte{10, 30, 0, byte(1 + i)}, Port: 50000}, Endpoint{IP: [4]byte{10, 10, 4, 1}, Port: 4840})
		if err != nil {
			return err
		}
		cs = append(cs, c)
	}
	// Interleaved, as connections arrive on a span port.
	for sent := 0; sent < perConn; sent += piece {
		for _, c := range cs {
			binary.LittleEndian.PutUint32(chunk[16:], uint32(sent/piece+1)) // sequence number
			if err := c.Client(chunk); err != nil {
				return err
			}
		}
	}
	return nil
}
