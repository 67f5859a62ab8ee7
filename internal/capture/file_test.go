package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// pcapsDir returns the shared real captures folder or skips the test.
func pcapsDir(t testing.TB) string {
	t.Helper()
	return testpcaps.Dir(t)
}

// realCaptures returns every shared Modbus and OPC UA capture or skips.
func realCaptures(t testing.TB) []string { return testpcaps.Files(t, "modbus", "opcua") }

// readAll reads every packet and returns the count and the final error
// (nil for a clean io.EOF).
func readAll(t testing.TB, src Source) (n int, linkTypes map[layers.LinkType]int, err error) {
	t.Helper()
	linkTypes = map[layers.LinkType]int{}
	for {
		p, err := src.Next()
		if err == io.EOF {
			return n, linkTypes, nil
		}
		if err != nil {
			return n, linkTypes, err
		}
		if len(p.Data) > p.Length {
			t.Fatalf("packet %d: %d captured bytes but wire length %d", n, len(p.Data), p.Length)
		}
		n++
		linkTypes[p.LinkType]++
	}
}

var capinfosCount = regexp.MustCompile(`(?m)^Number of packets:\s+(\d+)\s*$`)

// TestRealCaptures reads every shared capture to its end without error and,
// when Wireshark's capinfos is installed, agrees with it on the packet count
// and on the format.
func TestRealCaptures(t *testing.T) {
	capinfos, _ := exec.LookPath("capinfos")
	for _, path := range realCaptures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			f, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			n, lts, err := readAll(t, f)
			if err != nil {
				t.Fatalf("after %d packets: %v", n, err)
			}
			read, size := f.Progress()
			if read != size {
				t.Errorf("progress %d of %d at end of file", read, size)
			}
			for lt := range lts {
				switch lt {
				case layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeLoop:
				default:
					t.Errorf("unexpected link type %v", lt)
				}
			}
			if capinfos == "" {
				t.Logf("%d packets (%s); capinfos not installed, count not cross-checked", n, f.Format())
				return
			}
			out, err := exec.Command(capinfos, "-M", "-c", path).CombinedOutput()
			if err != nil {
				t.Fatalf("capinfos: %v\n%s", err, out)
			}
			m := capinfosCount.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no packet count in capinfos output:\n%s", out)
			}
			want, _ := strconv.Atoi(string(m[1]))
			if n != want {
				t.Errorf("read %d packets, capinfos counts %d", n, want)
			}
		})
	}
}

// TestTruncated cuts real captures inside a record: every complete packet
// before the cut comes out, then an error wrapping ErrTruncated that names the
// file.
func TestTruncated(t *testing.T) {
	dir := pcapsDir(t)
	for _, name := range []string{"modbus/zeek_modbusSmall.pcap", "opcua/icsnpp_open62541_client-server_mainloop.pcap"} {
		t.Run(name, func(t *testing.T) {
			full, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Skip(err)
			}
			// Offsets of the end of each record, from an intact read.
			f, err := NewReader(bytes.NewReader(full), name, int64(len(full)))
			if err != nil {
				t.Fatal(err)
			}
			var ends []int64
			for {
				if _, err := f.Next(); err != nil {
					break
				}
				off, _ := f.Progress()
				ends = append(ends, off)
			}
			if len(ends) < 4 {
				t.Fatalf("only %d packets", len(ends))
			}
			for _, cut := range []int64{ends[len(ends)/2] - 3, ends[len(ends)/2] + 5, ends[1] + 1} {
				for _, size := range []int64{cut, -1} { // known size and a pipe
					tr, err := NewReader(bytes.NewReader(full[:cut]), "cut.pcap", size)
					if err != nil {
						t.Fatal(err)
					}
					n, _, err := readAll(t, tr)
					wantN := 0
					for _, e := range ends {
						if e <= cut {
							wantN++
						}
					}
					if n != wantN {
						t.Errorf("cut at %d (size %d): %d packets, want %d", cut, size, n, wantN)
					}
					if !errors.Is(err, ErrTruncated) {
						t.Errorf("cut at %d (size %d): err = %v, want ErrTruncated", cut, size, err)
					} else if !bytes.HasPrefix([]byte(err.Error()), []byte("cut.pcap: ")) {
						t.Errorf("error does not name the file: %v", err)
					}
					if _, err2 := tr.Next(); !errors.Is(err2, ErrTruncated) {
						t.Errorf("error is not sticky: %v", err2)
					}
				}
			}
		})
	}
}

func TestNotACapture(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"x.pcap", []byte("GET / HTTP/1.1\r\n"), "x.pcap: not a capture file (magic 0x47455420)"},
		{"empty.pcap", nil, "empty.pcap: not a capture file (empty file)"},
		{"short.pcap", []byte{0xd4, 0xc3}, "short.pcap: not a capture file (only 2 bytes)"},
		{"a.pcap.gz", []byte{0x1f, 0x8b, 8, 0, 0}, "a.pcap.gz: not a capture file (gzip: unexpected EOF)"},
		{"text.gz", gzipped([]byte("hello, world")), "text.gz: not a capture file (gzip-compressed, magic 0x68656c6c inside)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.name)
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenFile(path)
			if !errors.Is(err, ErrNotCapture) {
				t.Fatalf("err = %v, want ErrNotCapture", err)
			}
			want := filepath.Join(filepath.Dir(path), tt.want)
			if err.Error() != want {
				t.Errorf("err = %q, want %q", err, want)
			}
		})
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

var (
	leOrder   binary.AppendByteOrder = binary.LittleEndian
	fixedTime                        = time.Date(2026, 11, 21, 22, 33, 0, 0, time.UTC)
)

// pcapBytes builds a classic pcap by hand, in either byte order, so both
// orders and both resolutions are tested independently of any writer.
func pcapBytes(order binary.AppendByteOrder, nano bool, lt uint32, recs [][]byte, ts time.Time) []byte {
	var b []byte
	magic := uint32(magicMicro)
	if nano {
		magic = magicNano
	}
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 65535)
	b = order.AppendUint32(b, lt)
	for i, r := range recs {
		t := ts.Add(time.Duration(i) * time.Second)
		frac := uint32(t.Nanosecond())
		if !nano {
			frac /= 1000
		}
		b = order.AppendUint32(b, uint32(t.Unix()))
		b = order.AppendUint32(b, frac)
		b = order.AppendUint32(b, uint32(len(r)))
		b = order.AppendUint32(b, uint32(len(r)+10))
		b = append(b, r...)
	}
	return b
}

func TestPcapByteOrdersAndResolutions(t *testing.T) {
	ts := time.Date(2026, 11, 21, 22, 33, 0, 123456789, time.UTC)
	recs := [][]byte{[]byte("first frame"), {}, []byte("third")}
	for _, tt := range []struct {
		name  string
		order binary.AppendByteOrder
		nano  bool
		want  time.Time
	}{
		{"le-micro", binary.LittleEndian, false, ts.Truncate(time.Microsecond)},
		{"be-micro", binary.BigEndian, false, ts.Truncate(time.Microsecond)},
		{"le-nano", binary.LittleEndian, true, ts},
		{"be-nano", binary.BigEndian, true, ts},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := pcapBytes(tt.order, tt.nano, 113, recs, ts)
			f, err := NewReader(bytes.NewReader(data), tt.name, int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if f.Format() != FormatPcap {
				t.Errorf("format %v", f.Format())
			}
			for i, r := range recs {
				p, err := f.Next()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if !bytes.Equal(p.Data, r) || p.Length != len(r)+10 || p.LinkType != layers.LinkTypeLinuxSLL {
					t.Errorf("packet %d: %q len %d lt %v", i, p.Data, p.Length, p.LinkType)
				}
				if want := tt.want.Add(time.Duration(i) * time.Second); !p.Timestamp.Equal(want) || p.Timestamp.Location() != time.UTC {
					t.Errorf("packet %d: time %v, want %v", i, p.Timestamp, want)
				}
			}
			if _, err := f.Next(); err != io.EOF {
				t.Errorf("end: %v", err)
			}
		})
	}
}

func TestPcapCorruptRecord(t *testing.T) {
	data := pcapBytes(binary.LittleEndian, false, 1, [][]byte{[]byte("ok")}, time.Unix(0, 0))
	// A second record header claiming 1 GiB.
	data = binary.LittleEndian.AppendUint32(data, 0)
	data = binary.LittleEndian.AppendUint32(data, 0)
	data = binary.LittleEndian.AppendUint32(data, 1<<30)
	data = binary.LittleEndian.AppendUint32(data, 1<<30)
	f, err := NewReader(bytes.NewReader(data), "big.pcap", -1)
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := readAll(t, f)
	if n != 1 || !errors.Is(err, ErrCorrupt) {
		t.Errorf("n=%d err=%v, want 1 packet then ErrCorrupt", n, err)
	}
}

// TestPcapngInterfaces writes, with gopacket's independent pcapng writer, a
// file with three interfaces of different link types and timestamp
// resolutions, and reads each packet back with its own interface's link type
// and an exact timestamp.
func TestPcapngInterfaces(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535, TimestampResolution: 9},
		pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "test"}})
	if err != nil {
		t.Fatal(err)
	}
	lo, err := w.AddInterface(pcapgo.NgInterface{Name: "lo0", LinkType: layers.LinkTypeNull, SnapLength: 65535, TimestampResolution: 6})
	if err != nil {
		t.Fatal(err)
	}
	sll, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: layers.LinkTypeLinuxSLL2, SnapLength: 65535, TimestampResolution: 9})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 21, 23, 0, 0, 987654321, time.UTC)
	pkts := []struct {
		iface int
		data  string
		lt    layers.LinkType
		ts    time.Time
	}{
		{0, "ethernet frame", layers.LinkTypeEthernet, ts},
		{lo, "null frame", layers.LinkTypeNull, ts.Add(time.Second).Truncate(time.Microsecond)},
		{sll, "sll2 frame!", layers.LinkTypeLinuxSLL2, ts.Add(2 * time.Second)},
		{0, "again", layers.LinkTypeEthernet, ts.Add(3 * time.Second)},
	}
	for _, p := range pkts {
		ci := gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: len(p.data), InterfaceIndex: p.iface}
		if err := w.WritePacket(ci, []byte(p.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f, err := NewReader(bytes.NewReader(buf.Bytes()), "multi.pcapng", int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if f.Format() != FormatPcapng {
		t.Fatalf("format %v", f.Format())
	}
	for i, want := range pkts {
		p, err := f.Next()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if string(p.Data) != want.data || p.LinkType != want.lt || !p.Timestamp.Equal(want.ts) {
			t.Errorf("packet %d: %q %v %v, want %q %v %v", i, p.Data, p.LinkType, p.Timestamp, want.data, want.lt, want.ts)
		}
	}
	if _, err := f.Next(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

// ngBlock frames a pcapng block body in little-endian.
func ngBlock(typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(len(body) + 12)
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, n)
}

// TestPcapngHandmade covers what the writer above does not produce: a
// power-of-two timestamp resolution with an offset, a Simple Packet Block,
// an obsolete Packet Block, skipped unknown blocks, and a block whose trailer
// disagrees with its header.
func TestPcapngHandmade(t *testing.T) {
	le := binary.LittleEndian
	shb := le.AppendUint32(nil, ngBOM)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	idb := le.AppendUint16(nil, uint16(layers.LinkTypeRaw))
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 4) // snap length 4: SPB data is cut to it
	idb = le.AppendUint16(idb, ngOptTSResol)
	idb = le.AppendUint16(idb, 1)
	idb = append(idb, 0x80|10, 0, 0, 0) // 2^-10 s
	idb = le.AppendUint16(idb, ngOptTSOffset)
	idb = le.AppendUint16(idb, 8)
	idb = le.AppendUint64(idb, 1000) // +1000 s
	idb = le.AppendUint32(idb, 0)    // opt_endofopt
	spb := le.AppendUint32(nil, 6)
	spb = append(spb, "abcdef"...)
	opb := le.AppendUint16(nil, 0)
	opb = le.AppendUint16(opb, 0)
	opb = le.AppendUint32(opb, 0)
	opb = le.AppendUint32(opb, 3*1024+512) // 3.5 s in 2^-10 units
	opb = le.AppendUint32(opb, 2)
	opb = le.AppendUint32(opb, 2)
	opb = append(opb, "hi"...)
	var file []byte
	file = append(file, ngBlock(ngBlockSHB, shb)...)
	file = append(file, ngBlock(0x0bad, []byte("custom"))...)
	file = append(file, ngBlock(ngBlockIDB, idb)...)
	file = append(file, ngBlock(ngBlockSPB, spb)...)
	file = append(file, ngBlock(ngBlockOPB, opb)...)
	bad := ngBlock(ngBlockEPB, make([]byte, 20))
	le.PutUint32(bad[len(bad)-4:], 99)
	file = append(file, bad...)

	f, err := NewReader(bytes.NewReader(file), "hand.pcapng", int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Next()
	if err != nil || string(p.Data) != "abcd" || p.Length != 6 || p.LinkType != layers.LinkTypeRaw {
		t.Fatalf("SPB: %q %d %v %v", p.Data, p.Length, p.LinkType, err)
	}
	p, err = f.Next()
	if err != nil || string(p.Data) != "hi" {
		t.Fatalf("OPB: %q %v", p.Data, err)
	}
	if want := time.Unix(1003, 500_000_000).UTC(); !p.Timestamp.Equal(want) {
		t.Errorf("OPB time %v, want %v", p.Timestamp, want)
	}
	if _, err := f.Next(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bad trailer: %v, want ErrCorrupt", err)
	}
}

func BenchmarkReadPcap(b *testing.B) {
	benchmarkRead(b, filepath.Join(pcapsDir(b), "modbus", "zeek_modbusBig.pcap"), 1)
}

// BenchmarkReadPcapng reads the largest shared pcapng capture ten times over
// (as ten sections of one file), so that the reader's set-up is not most of
// the figure.
func BenchmarkReadPcapng(b *testing.B) {
	benchmarkRead(b, filepath.Join(pcapsDir(b), "opcua", "icsnpp_open62541_browse_has_server_idx.pcap"), 10)
}

func benchmarkRead(b *testing.B, path string, times int) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skip(err)
	}
	data = bytes.Repeat(data, times)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var pkts int
	for b.Loop() {
		f, err := NewReader(bytes.NewReader(data), path, int64(len(data)))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := f.Next(); err != nil {
				break
			}
			pkts++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(pkts), "ns/packet")
}

// TestNextZeroAlloc guards the replay path: once its buffer has grown to
// the largest record, reading a packet allocates nothing, in both formats.
func TestNextZeroAlloc(t *testing.T) {
	dir := pcapsDir(t)
	for _, name := range []string{"modbus/zeek_modbusBig.pcap", "opcua/icsnpp_open62541_browse_has_server_idx.pcap"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewReader(bytes.NewReader(data), name, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for range 50 { // warm up: the buffer reaches its size
			if _, err := f.Next(); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := f.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s (%s): %v allocations per packet", name, f.Format(), allocs)
		}
	}
}

func gzipped(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// TestGzip reads a gzip-compressed real capture: the same packets as the
// plain file, progress in compressed bytes up to the file's size; a cut
// archive is truncated and a damaged one corrupt.
func TestGzip(t *testing.T) {
	dir := pcapsDir(t)
	for _, name := range []string{"modbus/zeek_modbusSmall.pcap", "opcua/icsnpp_open62541_client-server_mainloop.pcap"} {
		plain, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		gz := gzipped(plain)
		path := filepath.Join(t.TempDir(), filepath.Base(name)+".gz")
		if err := os.WriteFile(path, gz, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n, _, err := readAll(t, f)
		f.Close()
		want, _, _ := readAll(t, mustReader(t, plain))
		if err != nil || n != want || n == 0 {
			t.Errorf("%s.gz: %d packets (%v), plain file has %d", name, n, err, want)
		}
		if read, size := f.Progress(); size != int64(len(gz)) || read != size {
			t.Errorf("%s.gz: progress %d of %d, file is %d bytes", name, read, size, len(gz))
		}

		cut, err := NewReader(bytes.NewReader(gz[:len(gz)*2/3]), "cut.pcap.gz", int64(len(gz)*2/3))
		if err != nil {
			t.Fatal(err)
		}
		if n, _, err := readAll(t, cut); !errors.Is(err, ErrTruncated) || n == 0 || n >= want {
			t.Errorf("cut archive: %d packets, err %v; want some packets then ErrTruncated", n, err)
		}
		bad := bytes.Clone(gz)
		bad[len(bad)-6] ^= 0xff // the CRC-32 trailer
		damaged, err := NewReader(bytes.NewReader(bad), "bad.pcap.gz", int64(len(bad)))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := readAll(t, damaged); !errors.Is(err, ErrCorrupt) {
			t.Errorf("damaged archive: err %v, want ErrCorrupt", err)
		}
	}
}

func mustReader(t *testing.T, data []byte) *File {
	t.Helper()
	f, err := NewReader(bytes.NewReader(data), "plain", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestPcapngCorruptPackets: packet blocks that cannot be framed stop the
// read with ErrCorrupt, after the good packets before them.
func TestPcapngCorruptPackets(t *testing.T) {
	le := binary.LittleEndian
	shb := le.AppendUint32(nil, ngBOM)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	idb := le.AppendUint16(nil, 1)
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 0)
	epb := func(iface, capLen uint32, data string) []byte {
		b := le.AppendUint32(nil, iface)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, capLen)
		b = le.AppendUint32(b, capLen)
		return ngBlock(ngBlockEPB, append(b, data...))
	}
	head := append(ngBlock(ngBlockSHB, shb), ngBlock(ngBlockIDB, idb)...)
	for _, tt := range []struct {
		name string
		bad  []byte
	}{
		{"unknown interface", epb(5, 4, "abcd")},
		{"captured length beyond block", epb(0, 400, "abcd")},
		{"block length not a multiple of 4", func() []byte { b := epb(0, 4, "abcd"); le.PutUint32(b[4:], 33); return b }()},
		{"second section with a bad byte-order magic", ngBlock(ngBlockSHB, append([]byte{1, 2, 3, 4}, shb[4:]...))},
		{"simple packet before an interface", append(ngBlock(ngBlockSHB, shb), ngBlock(ngBlockSPB, []byte{4, 0, 0, 0, 'a', 'b', 'c', 'd'})...)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := append(append(bytes.Clone(head), epb(0, 2, "ok")...), tt.bad...)
			f, err := NewReader(bytes.NewReader(file), "bad.pcapng", int64(len(file)))
			if err != nil {
				t.Fatal(err)
			}
			n, _, err := readAll(t, f)
			if n != 1 || !errors.Is(err, ErrCorrupt) {
				t.Errorf("%d packets, err %v; want 1 then ErrCorrupt", n, err)
			}
		})
	}
}

// TestOpenFileContextFIFO: opening a FIFO that has no writer blocks in
// open(2); OpenFileContext gives up when its context ends, with the
// context's cause, and a writer that comes later is not left hanging.
func TestOpenFileContextFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "cap.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	cause := errors.New("SIGTERM")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(100*time.Millisecond, func() { cancel(cause) })
	start := time.Now()
	f, err := OpenFileContext(ctx, fifo)
	if f != nil || !errors.Is(err, cause) {
		t.Fatalf("OpenFileContext = %v, %v; want the context's cause", f, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v", d)
	}
	// The abandoned open completes when a writer comes, and is closed.
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}
