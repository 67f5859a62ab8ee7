package capture

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Magic numbers that tell the formats apart. A pcap file starts with its
// 32-bit magic in the writer's byte order, so each appears twice; a pcapng
// file starts with a Section Header Block whose type 0x0A0D0D0A reads the
// same in both orders.
const (
	magicMicro        = 0xa1b2c3d4 // pcap, microsecond timestamps
	magicNano         = 0xa1b23c4d // pcap, nanosecond timestamps
	magicMicroSwapped = 0xd4c3b2a1
	magicNanoSwapped  = 0x4d3cb2a1
	magicPcapng       = 0x0a0d0d0a
)

// readBufferSize is the buffer between the file and the record parser:
// large enough that a replay is a few hundred read syscalls per second, small
// enough to stay in the CPU's L2 cache, where the decoder then finds the bytes
// the read just copied. It is also the largest record handed out without a
// copy (libpcap's MAXIMUM_SNAPLEN, 262144, fits).
const readBufferSize = 256 << 10

// maxEmptyReads is how many reads in a row may return nothing before the
// reader gives up with io.ErrNoProgress (bufio's limit).
const maxEmptyReads = 100

// File is a Source reading a pcap or pcapng capture. It is not safe for
// concurrent use. Packet.Data returned by Next is reused by the next call.
type File struct {
	name   string
	closer io.Closer
	in     io.Reader // the file, or the decompressor reading it
	// buf[pos:end] holds bytes read from in and not yet consumed; base is
	// the stream offset of buf[0]. Records are handed out as slices of buf
	// (no copy): that is why Packet.Data is valid only until the next Next,
	// whose refill moves the unconsumed tail to the front and reads over
	// the rest. The format readers parse straight out of buf[pos:end] when
	// a whole record is there and fall back to take otherwise.
	buf      []byte
	pos, end int
	base     int64
	inErr    error // the error in returned; sticky, seen once buf[pos:end] is used up
	size     int64 // -1 when unknown (and for the decompressed content of a gzip file)
	// gz counts the compressed bytes read when the file is gzip-compressed;
	// Progress reports those against the file's size.
	gz       *countingReader
	fileSize int64
	format   Format
	pcap     pcapReader
	ng       ngReader
	err      error // sticky: once a read fails, every later Next returns it
	// fh is the file OpenFile opened (closeFile closes it from another
	// goroutine); stop cancels OpenFileContext's closing of it.
	fh   *os.File
	stop func() bool
}

var _ Source = (*File)(nil)

// Format is the container format of a capture file.
type Format uint8

const (
	FormatPcap   Format = iota + 1 // libpcap format (draft-ietf-opsawg-pcap)
	FormatPcapng                   // pcapng (draft-ietf-opsawg-pcapng)
)

func (f Format) String() string {
	switch f {
	case FormatPcap:
		return "pcap"
	case FormatPcapng:
		return "pcapng"
	}
	return "unknown"
}

// OpenFile opens a capture file and detects its format by magic number, never
// by name: many real files named .pcap are pcapng. A gzip-compressed capture
// is read through a decompressor. The error names the file
// and, for a file that is no capture at all, wraps ErrNotCapture and shows
// the magic found.
func OpenFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open capture: %w", err)
	}
	size := int64(-1)
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	f, err := newFile(fh, path, size)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer, f.fh = fh, fh
	return f, nil
}

// OpenFileContext is OpenFile for a path that may be a FIFO (a named
// pipe a capture is streamed into): opening one blocks in open(2) until a
// writer comes, and reading it blocks while the writer is silent. When ctx
// ends first, the open is abandoned with an error wrapping ctx's cause, and
// a file already open is closed, so that the reader's next read fails
// instead of waiting.
func OpenFileContext(ctx context.Context, path string) (*File, error) {
	if st, err := os.Stat(path); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		f, err := OpenFile(path)
		if err == nil {
			f.stop = context.AfterFunc(ctx, func() { f.closeFile() })
		}
		return f, err
	}
	type opened struct {
		f   *File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := OpenFile(path)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		if o.err == nil {
			o.f.stop = context.AfterFunc(ctx, func() { o.f.closeFile() })
		}
		return o.f, o.err
	case <-ctx.Done():
		go func() { // the writer may still come: release what it opens
			if o := <-ch; o.err == nil {
				o.f.Close()
			}
		}()
		return nil, fmt.Errorf("open capture %s: waiting for a writer: %w", path, context.Cause(ctx))
	}
}

// NewReader reads a capture from r (a pipe, standard input, a test buffer).
// name is used in error messages; size is the total length when known (it
// lets the reader report progress and recognise a truncated record before
// allocating for it), or -1.
func NewReader(r io.Reader, name string, size int64) (*File, error) {
	return newFile(r, name, size)
}

func newFile(r io.Reader, name string, size int64) (*File, error) {
	f := &File{name: name, in: r, buf: make([]byte, readBufferSize), size: size}
	f.fill(4)
	head := f.buf[f.pos:f.end]
	if len(head) < 4 {
		if err := f.inErr; err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(head) == 0 {
			return nil, fmt.Errorf("%s: %w (empty file)", name, ErrNotCapture)
		}
		return nil, fmt.Errorf("%s: %w (only %d bytes)", name, ErrNotCapture, len(head))
	}
	magic := binary.BigEndian.Uint32(head)
	if head[0] == 0x1f && head[1] == 0x8b {
		// gzip (RFC 1952): captures are often archived compressed.
		// Read through it; progress follows the compressed bytes. The
		// bytes already read are the start of the compressed stream.
		rest := r
		if f.inErr != nil {
			rest = errReader{f.inErr} // the file already said it has no more
		}
		f.gz = &countingReader{r: io.MultiReader(bytes.NewReader(bytes.Clone(head)), rest)}
		zr, err := gzip.NewReader(f.gz)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (gzip: %v)", name, ErrNotCapture, err)
		}
		f.fileSize, f.size = size, -1
		f.in, f.inErr, f.pos, f.end = zr, nil, 0, 0
		f.fill(4)
		if head = f.buf[f.pos:f.end]; len(head) < 4 {
			if err := f.inErr; err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: %w (gzip: %v)", name, ErrNotCapture, err)
			}
			return nil, fmt.Errorf("%s: %w (gzip-compressed, %d bytes inside)", name, ErrNotCapture, len(head))
		}
		magic = binary.BigEndian.Uint32(head)
		if magic != magicMicro && magic != magicNano && magic != magicMicroSwapped && magic != magicNanoSwapped && magic != magicPcapng {
			return nil, fmt.Errorf("%s: %w (gzip-compressed, magic 0x%08x inside)", name, ErrNotCapture, magic)
		}
	}
	var err error
	switch magic {
	case magicMicro, magicNano, magicMicroSwapped, magicNanoSwapped:
		f.format = FormatPcap
		err = f.pcap.readHeader(f)
	case magicPcapng:
		f.format = FormatPcapng
		err = f.ng.init(f)
	default:
		return nil, fmt.Errorf("%s: %w (magic 0x%08x)", name, ErrNotCapture, magic)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Next returns the next packet. It returns io.EOF at a clean end of file, an
// error wrapping ErrTruncated when the file stops inside a record, and one
// wrapping ErrCorrupt when a record cannot be framed; every error names the
// file and the byte offset.
func (f *File) Next() (Packet, error) {
	var p Packet
	err := f.ReadPacket(&p)
	return p, err
}

// ReadPacket is Next filling the caller's Packet instead of returning one:
// a Packet is returned in memory (it does not fit in registers), and a
// replay loop that keeps one Packet and passes it here saves copying it on
// every packet, which costs as much as parsing the record. On error p is
// left as it was. Data is valid until the next call, as with Next.
func (f *File) ReadPacket(p *Packet) error {
	if f.err != nil {
		return f.err
	}
	var err error
	if f.format == FormatPcap {
		// pcap's common case, here rather than behind one more call
		// per packet: the record header and the whole record are in
		// the read buffer, within every bound. Anything else (a
		// refill, a record too large or past the end of the file)
		// takes pcapReader.next, which reports it.
		r := &f.pcap
		if b := f.buf[f.pos:f.end]; len(b) >= 16 {
			incl := r.u32(b[8:])
			if n := 16 + int(incl); int64(incl) <= int64(r.maxRecord) && n <= len(b) && !f.exceedsFile(int64(n)) {
				f.pos += n
				// Field by field: a composite literal would be
				// built on the stack and copied, which costs
				// more than the parse.
				p.Data = b[16:n:n]
				p.Timestamp = time.Unix(int64(r.u32(b[0:])), int64(r.u32(b[4:]))*r.nanoScale).UTC()
				p.Length = int(max(r.u32(b[12:]), incl))
				p.LinkType = r.linkType
				return nil
			}
		}
		err = r.next(f, p)
	} else {
		err = f.ng.next(f, p)
	}
	if err != nil {
		f.err = err
	}
	return err
}

// Close closes the underlying file (when OpenFile opened it).
func (f *File) Close() error {
	if f.stop != nil {
		f.stop()
	}
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	return c.Close()
}

// closeFile closes the file under the reader from another goroutine
// (OpenFileContext), leaving Close to the reader's.
func (f *File) closeFile() {
	if f.fh != nil {
		f.fh.Close()
	}
}

// Format reports whether the file is pcap or pcapng.
func (f *File) Format() Format { return f.format }

// Name is the path or name the file was opened with.
func (f *File) Name() string { return f.name }

// Progress returns how many bytes of the file have been consumed and its
// total size (-1 when unknown, e.g. a pipe), so a long replay can show a
// percentage.
func (f *File) Progress() (read, size int64) {
	if f.gz != nil {
		// Compressed bytes through the decompressor, minus what it
		// holds buffered: close enough for a progress bar.
		return f.gz.n, f.fileSize
	}
	return f.offset(), f.size
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// errReader returns err from every Read: it replays, after the bytes read
// before it, an error the file returned while its magic was being read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// offset is how many bytes of the (decompressed) stream have been consumed.
func (f *File) offset() int64 { return f.base + int64(f.pos) }

// fill reads until at least n bytes (n <= len(f.buf)) are buffered or the
// input fails; the failure is kept in f.inErr. The unconsumed tail moves to
// the front first, so each read gets as much room as the buffer has.
func (f *File) fill(n int) {
	if f.pos > 0 {
		f.base += int64(f.pos)
		f.end = copy(f.buf, f.buf[f.pos:f.end])
		f.pos = 0
	}
	f.end += f.read(f.buf[f.end:], n-f.end)
}

// read reads from the input into dst until at least least bytes have come
// or the input fails (the failure is kept in f.inErr, and no read is tried
// after it), and returns how many bytes it read. A source that keeps
// returning neither data nor an error is given up on with io.ErrNoProgress,
// as bufio does, instead of being spun on.
func (f *File) read(dst []byte, least int) int {
	n := 0
	for empty := 0; n < least && f.inErr == nil; {
		m, err := f.in.Read(dst[n:])
		if m < 0 || m > len(dst)-n {
			// A broken io.Reader (bufio panics here): the
			// framing of the stream is lost.
			f.inErr = fmt.Errorf("reader returned %d bytes for a %d-byte read", m, len(dst)-n)
			break
		}
		n += m
		if err != nil {
			f.inErr = err
		} else if m > 0 {
			empty = 0
		} else if empty++; empty >= maxEmptyReads {
			f.inErr = io.ErrNoProgress
		}
	}
	return n
}

// readFull reads exactly len(buf) bytes (at most the read buffer's size). A
// clean end of file before the first byte is io.EOF only when atRecordStart;
// anything else that ends early is a truncation.
func (f *File) readFull(buf []byte, atRecordStart bool, what string) error {
	b, err := f.take(len(buf), nil, atRecordStart, what)
	copy(buf, b)
	return err
}

// take consumes the next n bytes and returns them without copying when they
// fit in the read buffer (the slice then points into it, valid until the
// next read), else read into *scratch. Errors are those of readFull.
func (f *File) take(n int, scratch *[]byte, atRecordStart bool, what string) ([]byte, error) {
	if f.end-f.pos >= n {
		b := f.buf[f.pos : f.pos+n : f.pos+n]
		f.pos += n
		return b, nil
	}
	start := f.offset()
	if n > len(f.buf) {
		// Larger than the buffer: what is buffered, then the rest
		// straight from the input.
		*scratch = grow(*scratch, n)
		b := *scratch
		k := copy(b, f.buf[f.pos:f.end])
		m := f.read(b[k:], n-k)
		f.base, f.pos, f.end = start+int64(k+m), 0, 0
		if k+m == n {
			return b, nil
		}
		return nil, f.readErr(f.inErr, start, k+m, n, atRecordStart, what)
	}
	f.fill(n)
	if f.end-f.pos >= n {
		b := f.buf[f.pos : f.pos+n : f.pos+n]
		f.pos += n
		return b, nil
	}
	// The input ended (or failed) inside these n bytes: consume what
	// there is, so the offsets reported afterwards are past it.
	got := f.end - f.pos
	f.pos = f.end
	return nil, f.readErr(f.inErr, start, got, n, atRecordStart, what)
}

// readErr classifies a read that stopped after n of want bytes.
func (f *File) readErr(err error, start int64, n, want int, atRecordStart bool, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) && n == 0 && atRecordStart {
		return io.EOF
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %w: %s at offset %d has %d of %d bytes", f.name, ErrTruncated, what, start, n, want)
	}
	var flateErr flate.CorruptInputError
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &flateErr) {
		return fmt.Errorf("%s: %w at offset %d: %s: %v", f.name, ErrCorrupt, start, what, err)
	}
	return fmt.Errorf("%s: read %s at offset %d: %w", f.name, what, start, err)
}

// exceedsFile reports whether n more bytes would run past the end of a file
// of known size: a truncated record, recognised before a buffer is grown for
// it (a hostile length field cannot make the reader allocate).
func (f *File) exceedsFile(n int64) bool {
	return f.size >= 0 && f.offset()+n > f.size
}

// truncated consumes the rest of the file and returns the truncation error
// for a record of want bytes of which only the tail of the file remains.
func (f *File) truncated(what string, want int64) error {
	start := f.offset()
	for f.offset()-start < want {
		if f.pos == f.end {
			if f.fill(1); f.pos == f.end {
				break
			}
		}
		f.pos += int(min(int64(f.end-f.pos), want-(f.offset()-start)))
	}
	n := f.offset() - start
	return fmt.Errorf("%s: %w: %s at offset %d has %d of %d bytes", f.name, ErrTruncated, what, start, n, want)
}

func (f *File) corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w at offset %d: %s", f.name, ErrCorrupt, f.offset(), fmt.Sprintf(format, args...))
}

// grow returns buf resized to n bytes, reallocating only when it is too small.
func grow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n, max(n, 2*cap(buf)))
	}
	return buf[:n]
}
