package dnp3

import (
	"testing"
	"time"
)

// appendFragment appends fragment frag from src to dst as link frames:
// transport segments of at most 249 octets, sequence numbers from *seq.
func appendFragment(dst []byte, src, to uint16, master bool, seq *byte, frag []byte) []byte {
	ctl := LinkControl(0x44)
	if master {
		ctl |= 0x80
	}
	for first := true; first || len(frag) > 0; first = false {
		n := min(len(frag), MaxUserData-1)
		th := *seq & 0x3F
		*seq++
		if first {
			th |= 0x40
		}
		if n == len(frag) {
			th |= 0x80
		}
		var err error
		dst, err = AppendFrame(dst, LinkHeader{Control: ctl, Dest: to, Source: src}, append([]byte{th}, frag[:n]...))
		if err != nil {
			panic(err)
		}
		frag = frag[n:]
	}
	return dst
}

// session returns both directions of a master (1) polling an outstation
// (10) n times: a class 0 read answered by 40 analog inputs with flags
// (32-bit, two segments), a CROB select and its echo, an unsolicited
// response with binary input events and the master's confirm. It also
// returns how many frames the two streams hold.
func session(n int) (master, outstation []byte, frames int) {
	analogs := mustHex("81 00 00 | 1e 01 00 00 27")
	for i := range 40 {
		analogs = append(analogs, 0x01, byte(i), byte(i>>8), 0, 0)
	}
	crob := mustHex("0c 01 28 01 00 | 00 00 03 01 64 00 00 00 64 00 00 00 00")
	events := mustHex("82 00 00 | 02 01 28 04 00 | 00 00 81 01 00 01 02 00 81 03 00 01")
	var ms, os byte
	for i := range n {
		seq := byte(i) & 0x0F
		master = appendFragment(master, 1, 10, true, &ms, []byte{0xc0 | seq, 0x01, 0x3c, 0x01, 0x06})
		outstation = appendFragment(outstation, 10, 1, false, &os, append([]byte{0xc0 | seq}, analogs...))
		master = appendFragment(master, 1, 10, true, &ms, append([]byte{0xc0 | (seq+1)&0x0F, 0x03}, crob...))
		outstation = appendFragment(outstation, 10, 1, false, &os, append([]byte{0xc0 | (seq+1)&0x0F, 0x81, 0, 0}, crob...))
		outstation = appendFragment(outstation, 10, 1, false, &os, append([]byte{0xf0 | seq}, events...))
		master = appendFragment(master, 1, 10, true, &ms, []byte{0xd0 | seq, 0x00})
	}
	return master, outstation, 7 * n
}

// decoder is the decode path of one connection, as the agent runs it.
type decoder struct {
	fr      [2]Framer
	ra      [2]Reassembler
	pr      Pairer
	ts      time.Time
	dir     int
	txs     int
	json    bool
	buf     []byte
	onFrame func(*Frame)
	onFrag  func(*Fragment)
	onTx    func(*Transaction)
}

func newDecoder(withJSON bool) *decoder {
	d := &decoder{json: withJSON, ts: time.Unix(1_700_000_000, 0), buf: make([]byte, 0, 64<<10)}
	d.onTx = func(t *Transaction) {
		d.txs++
		if d.json {
			d.buf = t.AppendJSON(d.buf[:0])
		}
	}
	d.onFrag = func(f *Fragment) { d.pr.Fragment(f, d.ts, d.onTx) }
	d.onFrame = func(f *Frame) {
		if f.Control.Function().UserData() {
			d.ra[d.dir].Segment(f, d.onFrag)
		}
	}
	return d
}

// feed runs both streams through the decoder in chunks of 1460 octets,
// alternating directions.
func (d *decoder) feed(master, outstation []byte) {
	for i := 0; i < max(len(master), len(outstation)); i += 1460 {
		for dir, s := range [2][]byte{master, outstation} {
			if i < len(s) {
				d.dir = dir
				if err := d.fr[dir].Feed(s[i:min(i+1460, len(s))], d.onFrame); err != nil {
					panic(err)
				}
			}
		}
	}
	d.pr.Flush(d.onTx)
}

func benchDecode(b *testing.B, withJSON bool) {
	master, outstation, frames := session(100)
	d := newDecoder(withJSON)
	d.feed(master, outstation) // warm the buffers
	b.SetBytes(int64(len(master) + len(outstation)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		d.fr = [2]Framer{}
		d.feed(master, outstation)
	}
	b.ReportMetric(float64(frames)*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames*b.N), "ns/frame")
}

// BenchmarkDecode measures the decode path: framing with CRC checks,
// transport reassembly, pairing and decoding every fragment's headers.
func BenchmarkDecode(b *testing.B) { benchDecode(b, false) }

// BenchmarkDecodeJSON adds writing every transaction's event object,
// points included.
func BenchmarkDecodeJSON(b *testing.B) { benchDecode(b, true) }

var crcSink uint16

// BenchmarkCRC measures the link CRC over a full 16-octet block.
func BenchmarkCRC(b *testing.B) {
	block := mustHex("c0 c0 03 0c 01 28 01 00 00 00 03 01 64 00 00 00")
	b.SetBytes(int64(len(block)))
	for range b.N {
		crcSink += CRC(block)
	}
}
