package dnp3

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// The tests read the real captures through Sluice's own capture reader and
// flow table (test-only imports: the package itself stays pure), so the
// bytes a test decodes are the bytes the agent decodes, and each chunk
// keeps the number of the frame that delivered it, as tshark counts.

// captureFiles lists the shared DNP3 captures or skips the test.
func captureFiles(t testing.TB) []string {
	t.Helper()
	return testpcaps.Files(t, "dnp3")
}

// chunk is one delivery of the flow table: in-order bytes of one direction
// of one connection, or a gap.
type chunk struct {
	frame int // 1-based frame that delivered the bytes
	ts    time.Time
	conn  uint64
	dir   flow.Dir
	data  []byte
	gap   bool
	mid   bool // the connection was picked up without its SYN
}

type recorder struct {
	c      *flow.Conn
	frame  *int
	chunks *[]chunk
}

func (r recorder) Data(dir flow.Dir, data []byte, ts time.Time) {
	*r.chunks = append(*r.chunks, chunk{frame: *r.frame, ts: ts, conn: r.c.ID, dir: dir, data: append([]byte(nil), data...), mid: r.c.MidStream})
}

func (r recorder) Gap(dir flow.Dir, lost int, ts time.Time) {
	*r.chunks = append(*r.chunks, chunk{frame: *r.frame, ts: ts, conn: r.c.ID, dir: dir, gap: true, mid: r.c.MidStream})
}

func (r recorder) Close(flow.CloseReason, time.Time) {}

// readChunks replays a capture through the flow table (DNP3 on port 20000)
// and returns what it delivered, in order.
func readChunks(t testing.TB, path string) []chunk {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var chunks []chunk
	frame := 0
	tab := flow.NewTable(flow.Config{ServerPort: func(p uint16) bool { return p == 20000 }},
		func(c *flow.Conn, ts time.Time) flow.Stream {
			if c.Key.ServerPort != 20000 {
				return nil
			}
			return recorder{c: c, frame: &frame, chunks: &chunks}
		})
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Logf("%s: %v", filepath.Base(path), err)
			break
		}
		frame++
		tab.Packet(&p)
	}
	tab.Close()
	return chunks
}

// decoded is one application fragment decoded from a capture, with the
// frame that completed it.
type decoded struct {
	frame int
	ts    time.Time
	conn  uint64
	dir   flow.Dir
	link  LinkHeader
	raw   []byte // the fragment
	msg   Message
}

// captureDecoder runs framer, reassembler and parser over a capture's chunks.
type captureDecoder struct {
	fr       map[[2]uint64]*Framer
	ra       map[[2]uint64]*Reassembler
	out      []decoded
	linkErrs int
	notDNP3  []string
	linkOnly int
	cur      chunk
	onFrame  func(*Frame)
	onFrag   func(*Fragment)
}

func newCaptureDecoder() *captureDecoder {
	d := &captureDecoder{fr: map[[2]uint64]*Framer{}, ra: map[[2]uint64]*Reassembler{}}
	d.onFrag = func(f *Fragment) {
		dd := decoded{frame: d.cur.frame, ts: d.cur.ts, conn: d.cur.conn, dir: d.cur.dir, link: f.Link, raw: append([]byte(nil), f.Data...)}
		dd.msg.Parse(dd.raw)
		d.out = append(d.out, dd)
	}
	d.onFrame = func(f *Frame) {
		// Once one direction frames, the connection is DNP3.
		if o := d.fr[[2]uint64{d.cur.conn, uint64(1 - d.cur.dir)}]; o != nil {
			o.Trust()
		}
		if !f.Control.Function().UserData() {
			d.linkOnly++
			return
		}
		d.ra[key(d.cur)].Segment(f, d.onFrag)
	}
	return d
}

func key(c chunk) [2]uint64 { return [2]uint64{c.conn, uint64(c.dir)} }

func (d *captureDecoder) feed(c chunk) {
	k := key(c)
	fr := d.fr[k]
	if fr == nil {
		for dir := range uint64(2) {
			f := &Framer{}
			if c.mid {
				f.Resync()
			}
			d.fr[[2]uint64{c.conn, dir}] = f
			d.ra[[2]uint64{c.conn, dir}] = &Reassembler{}
		}
		fr = d.fr[k]
	}
	d.cur = c
	if c.gap {
		fr.Resync()
		d.ra[k].Reset()
		return
	}
	errs := fr.LinkErrors()
	if err := fr.Feed(c.data, d.onFrame); err != nil {
		d.notDNP3 = append(d.notDNP3, err.Error())
	}
	d.linkErrs += int(fr.LinkErrors() - errs)
}

// decodeCapture decodes every fragment of a capture.
func decodeCapture(t testing.TB, path string) *captureDecoder {
	t.Helper()
	d := newCaptureDecoder()
	for _, c := range readChunks(t, path) {
		d.feed(c)
	}
	return d
}

func baseName(path string) string {
	b := filepath.Base(path)
	return strings.TrimSuffix(b, filepath.Ext(b))
}

// captureEvents decodes a capture down to transactions and returns each
// one's JSON, in order, with the frame that emitted it.
func captureEvents(t testing.TB, path string) (frames []int, events []string) {
	t.Helper()
	d := decodeCapture(t, path)
	pairers := map[uint64]*Pairer{}
	cur := 0
	emit := func(tx *Transaction) {
		frames = append(frames, cur)
		events = append(events, string(tx.AppendJSON(nil)))
	}
	var conns []uint64
	for _, x := range d.out {
		p := pairers[x.conn]
		if p == nil {
			p = &Pairer{}
			pairers[x.conn] = p
			conns = append(conns, x.conn)
		}
		cur = x.frame
		f := Fragment{Link: x.link, Data: x.raw, Segments: 1}
		p.Fragment(&f, x.ts, emit)
	}
	cur = 0
	for _, c := range conns {
		pairers[c].Flush(emit)
	}
	return frames, events
}

// pathOf returns the path of the shared DNP3 capture name, or skips.
func pathOf(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(testpcaps.Dir(t, "dnp3"), name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("capture %s absent", name)
	}
	return p
}
