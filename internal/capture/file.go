package capture

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
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

// readBufferSize is the bufio buffer between the file and the record parser:
// large enough that a replay is a few hundred read syscalls per second.
const readBufferSize = 256 << 10

// File is a Source reading a pcap or pcapng capture. It is not safe for
// concurrent use. Packet.Data returned by Next is reused by the next call.
type File struct {
	name   string
	closer io.Closer
	br     *bufio.Reader
	size   int64 // -1 when unknown (and for the decompressed content of a gzip file)
	off    int64 // bytes consumed so far
	// gz counts the compressed bytes read when the file is gzip-compressed;
	// Progress reports those against the file's size.
	gz       *countingReader
	fileSize int64
	format   Format
	pcap     pcapReader
	ng       ngReader
	err      error // sticky: once a read fails, every later Next returns it
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
	f.closer = fh
	return f, nil
}

// NewReader reads a capture from r (a pipe, standard input, a test buffer).
// name is used in error messages; size is the total length when known (it
// lets the reader report progress and recognise a truncated record before
// allocating for it), or -1.
func NewReader(r io.Reader, name string, size int64) (*File, error) {
	return newFile(r, name, size)
}

func newFile(r io.Reader, name string, size int64) (*File, error) {
	f := &File{name: name, br: bufio.NewReaderSize(r, readBufferSize), size: size}
	head, err := f.br.Peek(4)
	if len(head) < 4 {
		if err != nil && !errors.Is(err, io.EOF) {
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
		// Read through it; progress follows the compressed bytes.
		f.gz = &countingReader{r: f.br}
		zr, err := gzip.NewReader(f.gz)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (gzip: %v)", name, ErrNotCapture, err)
		}
		f.fileSize, f.size = size, -1
		f.br = bufio.NewReaderSize(zr, readBufferSize)
		if head, err = f.br.Peek(4); len(head) < 4 {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: %w (gzip: %v)", name, ErrNotCapture, err)
			}
			return nil, fmt.Errorf("%s: %w (gzip-compressed, %d bytes inside)", name, ErrNotCapture, len(head))
		}
		magic = binary.BigEndian.Uint32(head)
		if magic != magicMicro && magic != magicNano && magic != magicMicroSwapped && magic != magicNanoSwapped && magic != magicPcapng {
			return nil, fmt.Errorf("%s: %w (gzip-compressed, magic 0x%08x inside)", name, ErrNotCapture, magic)
		}
	}
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
	if f.err != nil {
		return Packet{}, f.err
	}
	var (
		p   Packet
		err error
	)
	if f.format == FormatPcap {
		p, err = f.pcap.next(f)
	} else {
		p, err = f.ng.next(f)
	}
	if err != nil {
		f.err = err
	}
	return p, err
}

// Close closes the underlying file (when OpenFile opened it).
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	c := f.closer
	f.closer = nil
	return c.Close()
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
	return f.off, f.size
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

// readFull reads exactly len(buf) bytes. A clean end of file before the
// first byte is io.EOF only when atRecordStart; anything else that ends early
// is a truncation.
func (f *File) readFull(buf []byte, atRecordStart bool, what string) error {
	start := f.off
	n, err := io.ReadFull(f.br, buf)
	f.off += int64(n)
	return f.readErr(err, start, n, len(buf), atRecordStart, what)
}

// take returns the next n bytes without copying them when they fit in the
// read buffer (the slice then points into it, valid until the next read),
// else read into *scratch. Errors are those of readFull.
func (f *File) take(n int, scratch *[]byte, atRecordStart bool, what string) ([]byte, error) {
	if n > f.br.Size() {
		*scratch = grow(*scratch, n)
		return *scratch, f.readFull(*scratch, atRecordStart, what)
	}
	start := f.off
	b, err := f.br.Peek(n)
	// Discard only advances past bytes Peek has buffered: it reads
	// nothing, so b stays valid.
	f.br.Discard(len(b))
	f.off += int64(len(b))
	if len(b) == n {
		return b, nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return nil, f.readErr(err, start, len(b), n, atRecordStart, what)
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
	return f.size >= 0 && f.off+n > f.size
}

// truncated consumes the rest of the file and returns the truncation error
// for a record of want bytes of which only the tail of the file remains.
func (f *File) truncated(what string, want int64) error {
	start := f.off
	n, _ := f.br.Discard(int(min(want, int64(^uint(0)>>1))))
	f.off += int64(n)
	return fmt.Errorf("%s: %w: %s at offset %d has %d of %d bytes", f.name, ErrTruncated, what, start, n, want)
}

func (f *File) corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w at offset %d: %s", f.name, ErrCorrupt, f.off, fmt.Sprintf(format, args...))
}

// grow returns buf resized to n bytes, reallocating only when it is too small.
func grow(buf []byte, n int) []byte {
	if cap(buf) < n {
		return make([]byte, n, max(n, 2*cap(buf)))
	}
	return buf[:n]
}
