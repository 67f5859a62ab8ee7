package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// matchReference reads data with File and with the reference reader
// (reference_test.go) through the same kind of io.Reader and reports the
// first difference: open error, packet bytes, timestamp (==, so the location
// too), lengths, link type, error text, stickiness, progress.
func matchReference(data []byte, size int64, wrap func(io.Reader) io.Reader) error {
	f, err := NewReader(wrap(bytes.NewReader(data)), "x.pcap", size)
	ref, refErr := refNewFile(wrap(bytes.NewReader(data)), "x.pcap", size)
	if fmt.Sprint(err) != fmt.Sprint(refErr) {
		return fmt.Errorf("open: %v, reference %v", err, refErr)
	}
	if err != nil {
		return nil
	}
	if f.Format() != ref.format {
		return fmt.Errorf("format %v, reference %v", f.Format(), ref.format)
	}
	// Half the packets through ReadPacket into one reused Packet, which an
	// error must leave as it was, half through Next.
	var p Packet
	for n := 0; ; n++ {
		var err error
		prev := p
		if n%2 == 0 {
			err = f.ReadPacket(&p)
			if err != nil {
				if !samePacket(p, prev) {
					return fmt.Errorf("packet %d: ReadPacket changed the packet on error %v", n, err)
				}
				p = Packet{}
			}
		} else {
			p, err = f.Next()
		}
		q, refErr := ref.Next()
		if fmt.Sprint(err) != fmt.Sprint(refErr) {
			return fmt.Errorf("packet %d: error %v, reference %v", n, err, refErr)
		}
		if !samePacket(p, q) {
			return fmt.Errorf("packet %d: %d bytes %v len %d lt %v, reference %d bytes %v len %d lt %v",
				n, len(p.Data), p.Timestamp, p.Length, p.LinkType, len(q.Data), q.Timestamp, q.Length, q.LinkType)
		}
		// Through gzip, progress counts compressed bytes taken by the
		// decompressor, which depends on how far each reader reads
		// ahead: only the end of the file must agree.
		read, sz := f.Progress()
		refRead, refSz := ref.Progress()
		if (read != refRead && (f.gz == nil || err != nil)) || sz != refSz {
			return fmt.Errorf("packet %d: progress %d of %d, reference %d of %d", n, read, sz, refRead, refSz)
		}
		if err != nil {
			if _, again := f.Next(); again != err {
				return fmt.Errorf("error not sticky: %v then %v", err, again)
			}
			return nil
		}
	}
}

// samePacket compares every field, the timestamp with == (its location
// too).
func samePacket(p, q Packet) bool {
	return bytes.Equal(p.Data, q.Data) && (p.Data == nil) == (q.Data == nil) && p.Timestamp == q.Timestamp && p.Length == q.Length && p.LinkType == q.LinkType
}

// readers are the ways a capture arrives: whole reads, one byte at a time
// (every record straddles a refill), half reads, the last bytes together
// with io.EOF, and a read error in the middle. (A source that stops
// returning anything is TestStalledSource's: the reference spins on it.)
var readers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"plain", func(r io.Reader) io.Reader { return r }},
	{"one-byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data-err", iotest.DataErrReader},
	{"error", func(r io.Reader) io.Reader {
		return io.MultiReader(io.LimitReader(r, 3000), iotest.ErrReader(errors.New("disk on fire")))
	}},
}

// mutations returns damaged copies of a capture: cut at record boundaries and
// inside records, and with each byte of a few record headers (the length
// fields among them) replaced by values a hostile or broken writer produces.
// ends are the offsets where records end in the intact file.
func mutations(data []byte, ends []int64) map[string][]byte {
	out := map[string][]byte{}
	pick := []int{0, 1, len(ends) / 2, len(ends) - 2}
	for _, i := range pick {
		if i < 0 || i >= len(ends) {
			continue
		}
		e := int(ends[i])
		for _, cut := range []int{e - 1, e, e + 1, e + 7, e + 13, e + 20} {
			if cut > 0 && cut < len(data) {
				out[fmt.Sprintf("cut-%d", cut)] = data[:cut]
			}
		}
		for k := 0; k < 24 && e+k < len(data); k++ {
			for _, v := range []byte{0x00, 0xff, data[e+k] ^ 0x01} {
				b := bytes.Clone(data)
				b[e+k] = v
				out[fmt.Sprintf("byte-%d=%#x", e+k, v)] = b
			}
		}
	}
	for _, k := range []int{0, 4, 8, 12, 16, 20, 23} { // the file or first block header
		if k < len(data) {
			b := bytes.Clone(data)
			b[k] ^= 0x80
			out[fmt.Sprintf("head-%d", k)] = b
		}
	}
	return out
}

// recordEnds reads data with the reference reader and returns the offset
// after each record.
func recordEnds(t *testing.T, data []byte) []int64 {
	ref, err := refNewFile(bytes.NewReader(data), "x", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	for {
		if _, err := ref.Next(); err != nil {
			return ends
		}
		off, _ := ref.Progress()
		ends = append(ends, off)
	}
}

// bigRecords builds captures whose records are larger than the read buffer,
// so the path that reads them into scratch is compared too: a pcap with a
// 300,000-byte record between small ones (snap length 400,000) and a pcapng
// with an Enhanced Packet Block of that size.
func bigRecords() map[string][]byte {
	big := bytes.Repeat([]byte("0123456789abcdef"), 300000/16)
	p := pcapBytes(binary.LittleEndian, true, 1, [][]byte{[]byte("small"), big, []byte("after")}, fixedTime)
	binary.LittleEndian.PutUint32(p[16:], 400000)

	le := binary.LittleEndian
	shb := le.AppendUint32(nil, ngBOM)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	idb := le.AppendUint16(nil, 1)
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 0)
	epb := func(data []byte) []byte {
		b := le.AppendUint32(nil, 0)
		b = le.AppendUint32(b, 1)
		b = le.AppendUint32(b, 2)
		b = le.AppendUint32(b, uint32(len(data)))
		b = le.AppendUint32(b, uint32(len(data)))
		return ngBlock(ngBlockEPB, append(b, data...))
	}
	ng := append(ngBlock(ngBlockSHB, shb), ngBlock(ngBlockIDB, idb)...)
	ng = append(ng, epb([]byte("small"))...)
	ng = append(ng, epb(big)...)
	ng = append(ng, epb([]byte("after"))...)
	return map[string][]byte{"big.pcap": p, "big.pcapng": ng}
}

// stallReader returns neither data nor an error, as a broken source might.
type stallReader struct{}

func (stallReader) Read([]byte) (int, error) { return 0, nil }

// TestStalledSource: a source that stops returning anything ends the read
// with an error wrapping io.ErrNoProgress (bufio's answer) after the
// packets before the stall, in both formats, also inside a record larger
// than the read buffer. The reference reader spun forever on the pcapng
// block header and on large records (io.ReadFull through bufio), so this is
// not compared with it.
func TestStalledSource(t *testing.T) {
	files := bigRecords()
	dir := pcapsDir(t)
	for _, name := range []string{"modbus/zeek_modbusSmall.pcap", "opcua/icsnpp_open62541_client-server_mainloop.pcap"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = data
	}
	const stallAt = 5000
	for name, data := range files {
		f, err := NewReader(io.MultiReader(io.LimitReader(bytes.NewReader(data), stallAt), stallReader{}), name, -1)
		if err != nil {
			t.Fatal(err)
		}
		n, _, err := readAll(t, f)
		// The packets wholly within the first stallAt bytes.
		want, _, _ := readAll(t, mustReader(t, data[:stallAt]))
		if n != want || !errors.Is(err, io.ErrNoProgress) || errors.Is(err, ErrTruncated) {
			t.Errorf("%s: %d packets, err %v; want %d packets then io.ErrNoProgress", name, n, err, want)
		}
	}
}

// TestReaderMatchesReference: the reader that parses records in its own
// buffer returns exactly what the bufio-based reader it replaced returned
// (packets, timestamps, lengths, error texts with their offsets, progress)
// on every shared capture, gzip-compressed too, on cut and damaged copies,
// with a known size and from a pipe, through short and failing reads.
func TestReaderMatchesReference(t *testing.T) {
	files := bigRecords()
	for _, path := range realCaptures(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(path)] = data
	}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			// Every way of reading the whole file, plain and gzipped.
			for vname, v := range map[string][]byte{"intact": data, "gzip": gzipped(data)} {
				for _, rd := range readers {
					for _, size := range []int64{int64(len(v)), -1} {
						if err := matchReference(v, size, rd.wrap); err != nil {
							t.Errorf("%s, %s reads, size %d: %v", vname, rd.name, size, err)
						}
					}
				}
			}
			// Damage in the first 300 kB (past the first refill of
			// the read buffer), read whole and, in small files, one
			// byte at a time.
			head := data[:min(len(data), 300_000)]
			rds := readers[:1]
			if len(head) < 64<<10 {
				rds = readers[:2]
			}
			for vname, v := range mutations(head, recordEnds(t, head)) {
				for _, rd := range rds {
					for _, size := range []int64{int64(len(v)), -1} {
						if err := matchReference(v, size, rd.wrap); err != nil {
							t.Errorf("%s, %s reads, size %d: %v", vname, rd.name, size, err)
						}
					}
				}
			}
		})
	}
}

// FuzzReaderMatchesReference compares the reader with the reference one on
// arbitrary bytes, whole and one byte per read.
func FuzzReaderMatchesReference(f *testing.F) {
	f.Add(pcapBytes(leOrder, false, 1, [][]byte{[]byte("frame")}, fixedTime))
	f.Add(pcapBytes(binary.BigEndian, true, 1, [][]byte{[]byte("frame"), {}, []byte("third")}, fixedTime))
	f.Add(gzipped(pcapBytes(leOrder, true, 1, [][]byte{[]byte("frame"), []byte("two")}, fixedTime)))
	if dir, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzOpenFile")); err == nil {
		for _, e := range dir {
			if b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzOpenFile", e.Name())); err == nil {
				if v, ok := fuzzSeedBytes(b); ok {
					f.Add(v)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int64{int64(len(data)), -1} {
			for _, rd := range readers[:2] {
				if err := matchReference(data, size, rd.wrap); err != nil {
					t.Fatalf("%s reads, size %d: %v", rd.name, size, err)
				}
			}
		}
	})
}

// fuzzSeedBytes decodes a one-value "go test fuzz v1" corpus file holding a
// []byte literal, as TestWriteFuzzSeeds writes them.
func fuzzSeedBytes(file []byte) ([]byte, bool) {
	_, lit, ok := bytes.Cut(file, []byte("\n[]byte("))
	if !ok {
		return nil, false
	}
	lit = bytes.TrimSuffix(bytes.TrimSpace(lit), []byte(")"))
	var s string
	if _, err := fmt.Sscanf(string(lit), "%q", &s); err != nil {
		return nil, false
	}
	return []byte(s), true
}

// TestReaderMatchesPcapgo checks the reader against gopacket's independent
// pcapgo readers on every shared capture: same frames, timestamps, wire
// lengths and link types.
func TestReaderMatchesPcapgo(t *testing.T) {
	for _, path := range realCaptures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f := mustReader(t, data)
			// next returns pcapgo's next frame, wire length, link type
			// and timestamp.
			var next func() ([]byte, int, layers.LinkType, time.Time, error)
			if f.Format() == FormatPcap {
				r, err := pcapgo.NewReader(bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				next = func() ([]byte, int, layers.LinkType, time.Time, error) {
					d, ci, err := r.ReadPacketData()
					return d, ci.Length, r.LinkType(), ci.Timestamp, err
				}
			} else {
				r, err := pcapgo.NewNgReader(bytes.NewReader(data), pcapgo.DefaultNgReaderOptions)
				if err != nil {
					t.Fatal(err)
				}
				next = func() ([]byte, int, layers.LinkType, time.Time, error) {
					d, ci, err := r.ReadPacketData()
					if err != nil {
						return nil, 0, 0, time.Time{}, err
					}
					ifc, err := r.Interface(ci.InterfaceIndex)
					return d, ci.Length, ifc.LinkType, ci.Timestamp, err
				}
			}
			for n := 0; ; n++ {
				p, err := f.Next()
				d, length, lt, ts, gerr := next()
				if err == io.EOF || gerr == io.EOF {
					if err != gerr {
						t.Fatalf("packet %d: end %v, pcapgo %v", n, err, gerr)
					}
					return
				}
				if err != nil || gerr != nil {
					t.Fatalf("packet %d: %v, pcapgo %v", n, err, gerr)
				}
				if !bytes.Equal(p.Data, d) || p.Length != length || p.LinkType != lt || !p.Timestamp.Equal(ts) {
					t.Fatalf("packet %d: %d bytes len %d %v %v, pcapgo %d bytes len %d %v %v",
						n, len(p.Data), p.Length, p.LinkType, p.Timestamp, len(d), length, lt, ts)
				}
			}
		})
	}
}

// TestNgTimeMatchesReference: the constant-divisor cases for microsecond and
// nanosecond interfaces give what the general conversion gave, up to the
// largest raw timestamp and with an offset.
func TestNgTimeMatchesReference(t *testing.T) {
	stamps := []uint64{0, 1, 999_999, 1_000_000, 1_763_764_380_123_456, 1_763_764_380_123_456_789, 1<<63 - 1, 1 << 63, ^uint64(0)}
	for exp := uint8(0); exp <= 19; exp++ {
		for _, offset := range []int64{0, -3600, 1000} {
			for _, ts := range stamps {
				got := (&ngInterface{exp: exp, offset: offset}).time(ts)
				want := (&refNgInterface{exp: exp, offset: offset}).time(ts)
				if got != want {
					t.Errorf("exp %d offset %d ts %d: %v, reference %v", exp, offset, ts, got, want)
				}
			}
		}
	}
}
