package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
)

// The functions in this file read a store file with ordinary reads, never
// through bbolt's memory map, so that a damaged file cannot make them fault.
// bbolt maps the file and trusts it: a file shorter than its meta page says
// faults (SIGBUS) on the first page beyond its end, and a page that is not
// what its parent says trips an assertion (a panic). Open checks here first.
//
// The layout is go.etcd.io/bbolt's format version 2 (v1.5.0: meta.go,
// page.go, bucket.go and types.go in internal/common, Open and mmap in
// db.go). Every integer is in the host's byte order: bbolt reads its structs
// in place from the mapped file.
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2

	// A page starts with a header: id uint64, flags uint16, count uint16,
	// overflow uint32 (the number of further pages the page spans).
	pageHeaderSize = 16
	// A meta page holds after its header: magic, version, page size and
	// flags (uint32 each), the root bucket (root page, sequence), the
	// freelist page, the high-water mark (the number of pages in use), the
	// transaction id and an FNV-64a checksum of the fields before it.
	metaChecksumAt = pageHeaderSize + 56
	metaEnd        = metaChecksumAt + 8
	// Elements follow the header of a leaf page (flags, pos, ksize, vsize:
	// uint32 each) or of a branch page (pos, ksize uint32, child page
	// uint64); pos counts from the element itself.
	elemSize = 16
	// A bucket's value is its root page and sequence; a small bucket has
	// root 0 and its one leaf page inline after them.
	bucketHeaderSize = 16

	noFreelist = ^uint64(0) // the freelist is not on disk (NoFreelistSync)

	branchPage   = 0x01
	leafPage     = 0x02
	metaPage     = 0x04
	freelistPage = 0x10
	bucketLeaf   = 0x01 // leaf element flag: the value is a bucket

	// bbolt looks for the second meta page at every power of two from 1 KiB
	// to 16 MiB when the first is unreadable; page sizes are that range.
	minPageSize = 1 << 10
	maxPageSize = 1 << 24
)

var ne = binary.NativeEndian

// ErrDamaged is wrapped by the errors that say a store file is cut short or
// corrupt, so that it cannot be opened safely.
var ErrDamaged = errors.New("damaged store")

func damaged(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrDamaged, fmt.Sprintf(format, a...))
}

// meta is one of the two meta pages. bbolt writes them in turn, one per
// transaction, and uses the valid one with the higher transaction id, so a
// meta page torn by a crash is normal and the other one is used.
type meta struct {
	page                      int // 0 or 1
	pageSize                  uint32
	root, freelist, hwm, txid uint64 // hwm: the number of pages in use (bbolt's pgid)
	err                       error  // why bbolt would refuse it; nil if valid
}

// readMeta reads meta page `page` at offset off of f, a file of size bytes.
func readMeta(f io.ReaderAt, size, off int64, page int) meta {
	m := meta{page: page}
	if off+metaEnd > size {
		m.err = fmt.Errorf("beyond the end of the file (%d bytes)", size)
		return m
	}
	b := make([]byte, metaEnd)
	if _, err := f.ReadAt(b, off); err != nil {
		m.err = err
		return m
	}
	m.pageSize = ne.Uint32(b[24:])
	m.root, m.freelist, m.hwm, m.txid = ne.Uint64(b[32:]), ne.Uint64(b[48:]), ne.Uint64(b[56:]), ne.Uint64(b[64:])
	h := fnv.New64a()
	h.Write(b[pageHeaderSize:metaChecksumAt])
	switch magic, version := ne.Uint32(b[16:]), ne.Uint32(b[20:]); {
	case magic != boltMagic:
		m.err = errNoMagic
	case version != boltVersion:
		m.err = fmt.Errorf("bbolt format version %d, this sluice reads %d", version, boltVersion)
	case m.pageSize < minPageSize || m.pageSize > maxPageSize || m.pageSize&(m.pageSize-1) != 0:
		m.err = fmt.Errorf("page size %d", m.pageSize)
	case h.Sum64() != ne.Uint64(b[metaChecksumAt:]):
		m.err = errChecksum
	}
	return m
}

// readMetas reads both meta pages the way bbolt finds them: page 0 at the
// start, page 1 one page further, at the page size page 0 gives or, when
// page 0 is invalid, at the first power of two where a valid meta page of
// that page size stands.
func readMetas(f io.ReaderAt, size int64) [2]meta {
	m0 := readMeta(f, size, 0, 0)
	if m0.err == nil {
		return [2]meta{m0, readMeta(f, size, int64(m0.pageSize), 1)}
	}
	m1 := meta{page: 1, err: errors.New("not found at any page size")}
	for off := int64(minPageSize); off <= maxPageSize && off+metaEnd <= size; off <<= 1 {
		if m := readMeta(f, size, off, 1); m.err == nil && int64(m.pageSize) == off {
			m1 = m
			break
		}
	}
	return [2]meta{m0, m1}
}

// current returns the meta page bbolt uses (the valid one with the higher
// transaction id; page 0 on a tie, as bbolt's DB.meta), or nil if neither
// is valid.
func current(ms [2]meta) *meta {
	a, b := &ms[0], &ms[1]
	if b.txid > a.txid {
		a, b = b, a
	}
	switch {
	case a.err == nil:
		return a
	case b.err == nil:
		return b
	}
	return nil
}

// pageFile reads the pages of a store file as one meta page describes it.
type pageFile struct {
	f        io.ReaderAt
	size     int64  // of the file, in bytes
	pageSize int64  // of the meta page
	hwm      uint64 // of the meta page: pages 0..hwm-1 are in use
}

// page reads page id with its overflow pages, header first. The error says
// why it is not a page of this file: past the high-water mark, beyond the
// end of the file, or its header names another page.
func (pf *pageFile) page(id uint64) ([]byte, error) {
	pages := uint64(pf.size / pf.pageSize) // whole pages in the file
	switch {
	case id < 2:
		return nil, fmt.Errorf("page %d is a meta page", id)
	case id >= pf.hwm:
		return nil, fmt.Errorf("page %d is past the %d pages in use", id, pf.hwm)
	case id >= pages:
		return nil, fmt.Errorf("page %d lies beyond the end of the file (%d bytes)", id, pf.size)
	}
	hdr := make([]byte, pageHeaderSize)
	if _, err := pf.f.ReadAt(hdr, int64(id)*pf.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := ne.Uint64(hdr); got != id {
		return nil, fmt.Errorf("page %d: its header says it is page %d (zeros or another file's data)", id, got)
	}
	last := id + uint64(ne.Uint32(hdr[12:])) // id < pages: no overflow
	if last >= pf.hwm || last >= pages {
		return nil, fmt.Errorf("page %d: its overflow runs to page %d, past the pages in the file", id, last)
	}
	p := make([]byte, int64(last-id+1)*pf.pageSize)
	if _, err := pf.f.ReadAt(p, int64(id)*pf.pageSize); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return p, nil
}

func pageFlags(p []byte) uint16 { return ne.Uint16(p[8:]) }
func pageCount(p []byte) int    { return int(ne.Uint16(p[10:])) }

func pageType(p []byte) string {
	switch f := pageFlags(p); f {
	case branchPage:
		return "branch"
	case leafPage:
		return "leaf"
	case metaPage:
		return "meta"
	case freelistPage:
		return "freelist"
	default:
		return "flags 0x" + strconv.FormatUint(uint64(f), 16)
	}
}

// elem returns element i of page p (a leaf or branch page, or an inline
// page) and the bytes from it to the end of the page, in which its key and
// value lie, or an error if the element is beyond the end of the page.
func elem(p []byte, i int) ([]byte, error) {
	off := pageHeaderSize + i*elemSize
	if off+elemSize > len(p) {
		return nil, fmt.Errorf("element %d of %d lies beyond the end of the page", i, pageCount(p))
	}
	return p[off:], nil
}

// span returns e[pos:pos+n], or an error if it runs past the end of e.
func span(e []byte, pos, n uint32) ([]byte, error) {
	if uint64(pos)+uint64(n) > uint64(len(e)) {
		return nil, fmt.Errorf("%d bytes at offset %d run past the end of the page", n, pos)
	}
	return e[pos : pos+n], nil
}

// checkLayout checks what bbolt relies on before it maps a file of size
// bytes: a valid meta page, a page size, a file as long as the pages in use
// and made of whole pages, and a root page and freelist page of the right
// type within them. It returns the meta page bbolt will use, or an error
// wrapping ErrDamaged that says in one line what is wrong.
func checkLayout(f io.ReaderAt, size int64) (*meta, error) {
	if size == 0 {
		return nil, damaged("the file is empty (a store never is: it was cut short, or the disk was full when it was created)")
	}
	if size < metaEnd {
		return nil, damaged("the file is only %d bytes, less than one meta page", size)
	}
	ms := readMetas(f, size)
	m := current(ms)
	if m == nil {
		why := ""
		if errors.Is(ms[0].err, errNoMagic) {
			why = ": not a bbolt file, or its first page was overwritten"
		}
		return nil, damaged("neither meta page is valid (page 0: %v; page 1: %v)%s", ms[0].err, ms[1].err, why)
	}
	if o := &ms[1-m.page]; o.err == nil && o.pageSize != m.pageSize {
		return nil, damaged("the meta pages disagree on the page size (%d and %d bytes)", ms[0].pageSize, ms[1].pageSize)
	}
	ps := int64(m.pageSize)
	if m.hwm > uint64(size/ps) {
		return nil, damaged("the file is %d bytes but meta page %d (transaction %d) says its %d pages of %d bytes take %s: it was cut short, e.g. when the disk filled up",
			size, m.page, m.txid, m.hwm, ps, byteCount(m.hwm, ps))
	}
	if size%ps != 0 {
		return nil, damaged("the file is %d bytes, not a whole number of %d-byte pages: it was cut short", size, ps)
	}
	pf := &pageFile{f: f, size: size, pageSize: ps, hwm: m.hwm}
	p, err := pf.page(m.root)
	if err != nil {
		return nil, damaged("root page of meta page %d (transaction %d): %v", m.page, m.txid, err)
	}
	if t := pageFlags(p); t != branchPage && t != leafPage {
		return nil, damaged("root page %d is a %s page, not a branch or leaf page", m.root, pageType(p))
	}
	if m.freelist == noFreelist {
		return m, nil
	}
	if p, err = pf.page(m.freelist); err != nil {
		return nil, damaged("freelist of meta page %d (transaction %d): %v", m.page, m.txid, err)
	}
	if pageFlags(p) != freelistPage {
		return nil, damaged("freelist page %d is a %s page", m.freelist, pageType(p))
	}
	// A count of 0xFFFF means the count is in the first element.
	n, first := uint64(pageCount(p)), 0
	if n == 0xFFFF {
		n, first = ne.Uint64(p[pageHeaderSize:]), 1
	}
	if n > uint64(len(p)-pageHeaderSize)/8-uint64(first) {
		return nil, damaged("freelist page %d lists %d pages, more than it holds", m.freelist, n)
	}
	return m, nil
}

var (
	errNoMagic  = errors.New("no bbolt magic number")
	errChecksum = errors.New("checksum mismatch")
)

// byteCount writes pages × pageSize bytes, or "more bytes than a file can
// hold" for a high-water mark so large that the product overflows.
func byteCount(pages uint64, pageSize int64) string {
	if pages > (1<<63-1)/uint64(pageSize) {
		return "more bytes than a file can hold"
	}
	return strconv.FormatUint(pages*uint64(pageSize), 10) + " bytes"
}
