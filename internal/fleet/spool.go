package fleet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"syscall"
	"time"
)

// The spool keeps, in a local file, the messages a sensor could not hand to
// JetStream: while the server is unreachable every message goes there, and
// once it is back the sender drains the file, oldest first, before anything
// newer. It is bounded: when a message would take the pending bytes past the
// limit, the oldest pending messages are dropped and counted (the newest
// alerts matter most to whoever reads them after an outage).
//
// The file is a 16-byte header, the magic and the offset of the oldest
// pending record, then records: length (uint32), CRC-32C of the payload
// (uint32), payload. Records are only appended; draining or dropping moves
// the read offset in the header; when nothing is pending the file is cut
// back to its header, and when the dead part before the read offset grows
// past the bound the live part is copied to a new file that replaces it.
//
// A process killed mid-append leaves a partial record at the end; the next
// open cuts it off (and counts its bytes as lost). A message drained but
// not yet marked (a kill between the server's ack and the header write) is
// sent again: JetStream's duplicate window and the hub's message ids make
// that harmless.

// spoolMagic starts every spool file; its last byte is the format version.
const spoolMagic = "SLUSPOL1"

const (
	spoolHeader    = 16
	recordHeader   = 8
	maxRecordBytes = 16 << 20 // far above NATS's payload limit: a length beyond it is damage
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Message is one message of the fleet stream as the sensor queues and
// spools it.
type Message struct {
	// Subject is sluice.<site>.<sensor>.<kind> (Subject).
	Subject string
	// ID is the message id (Nats-Msg-Id): JetStream drops a second
	// message with the same id inside its duplicate window, and the hub
	// stores each id once.
	ID string
	// Kind is the last subject token (KindAlert, KindInventory, an event
	// type…); Site and Sensor the names as configured (the subject's
	// tokens are made safe, these are not).
	Kind, Site, Sensor string
	// Time is the event's packet time (zero for baseline deltas).
	Time time.Time
	// Data is the payload: the EVE line of an event, the JSON of a delta.
	Data []byte
}

// size is what the message takes in memory and in the spool, roughly.
func (m *Message) size() int {
	return len(m.Subject) + len(m.ID) + len(m.Kind) + len(m.Site) + len(m.Sensor) + len(m.Data) + 32
}

// encode appends the message's spool payload to b: each string field as a
// uvarint length and its bytes, the time as Unix nanoseconds (0: none).
func (m *Message) encode(b []byte) []byte {
	for _, s := range [...]string{m.Subject, m.ID, m.Kind, m.Site, m.Sensor} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	var ns int64
	if !m.Time.IsZero() {
		ns = m.Time.UnixNano()
	}
	b = binary.AppendVarint(b, ns)
	b = binary.AppendUvarint(b, uint64(len(m.Data)))
	return append(b, m.Data...)
}

// decodeMessage is encode's inverse.
func decodeMessage(b []byte) (Message, error) {
	var m Message
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errors.New("bad field length")
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, nil
	}
	var strs [5]string
	for i := range strs {
		f, err := field()
		if err != nil {
			return m, err
		}
		strs[i] = string(f)
	}
	m.Subject, m.ID, m.Kind, m.Site, m.Sensor = strs[0], strs[1], strs[2], strs[3], strs[4]
	ns, k := binary.Varint(b)
	if k <= 0 {
		return m, errors.New("bad time")
	}
	b = b[k:]
	if ns != 0 {
		m.Time = time.Unix(0, ns).UTC()
	}
	data, err := field()
	if err != nil {
		return m, err
	}
	if len(b) != 0 {
		return m, errors.New("trailing bytes")
	}
	m.Data = data
	return m, nil
}

// SpoolRecovery is what opening a spool found.
type SpoolRecovery struct {
	// Pending is the number of messages waiting in the file.
	Pending int
	// LostBytes are the bytes cut off its end: a record a killed process
	// left half written, or damage from there on.
	LostBytes int64
	// Replaced names the file a spool with a damaged header was moved to
	// (a fresh spool replaces it); empty otherwise.
	Replaced string
}

// spool is an open spool file. It is used by the sender goroutine only.
type spool struct {
	path  string
	f     *os.File
	limit int64
	// read is the offset of the oldest pending record, end the file's
	// size; pending counts the records between.
	read, end int64
	pending   int
	buf       []byte
}

// openSpool opens or creates the spool at path, keeping at most limit
// bytes of pending messages.
func openSpool(path string, limit int64) (*spool, SpoolRecovery, error) {
	var rec SpoolRecovery
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, rec, fmt.Errorf("spool: %w", err)
	}
	// Two sensors appending to one spool would interleave their
	// records: the second is refused.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, rec, fmt.Errorf("spool: %s is in use by another sensor (%v): give each its own --nats-spool", path, err)
	}
	s := &spool{path: path, f: f, limit: limit}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, rec, fmt.Errorf("spool: %w", err)
	}
	if fi.Size() == 0 {
		if err := s.reset(); err != nil {
			f.Close()
			return nil, rec, err
		}
		return s, rec, nil
	}
	var h [spoolHeader]byte
	_, err = f.ReadAt(h[:], 0)
	read := int64(binary.LittleEndian.Uint64(h[8:]))
	if err != nil || string(h[:8]) != spoolMagic || read < spoolHeader || read > fi.Size() {
		// Not a spool of ours, or its header is damaged: keep it for
		// whoever wants to look, and start afresh.
		f.Close()
		rec.Replaced = fmt.Sprintf("%s.damaged-%d", path, time.Now().Unix())
		if err := os.Rename(path, rec.Replaced); err != nil {
			return nil, rec, fmt.Errorf("spool: %s is not a readable spool and cannot be moved aside: %w", path, err)
		}
		s2, _, err := openSpool(path, limit)
		return s2, rec, err
	}
	s.read = read
	// Count the pending records and cut off a partial or damaged tail.
	r := bufio.NewReaderSize(io.NewSectionReader(f, read, fi.Size()-read), 1<<16)
	off := read
	for {
		// Decoded, not only checksummed: what is counted here must
		// read back when it is drained.
		var m Message
		n, err := s.next(r, &m)
		if err != nil {
			break
		}
		off += n
		s.pending++
	}
	if off < fi.Size() {
		rec.LostBytes = fi.Size() - off
		if err := f.Truncate(off); err != nil {
			f.Close()
			return nil, rec, fmt.Errorf("spool: cutting a damaged tail of %d bytes: %w", rec.LostBytes, err)
		}
	}
	s.end = off
	rec.Pending = s.pending
	if s.pending == 0 {
		if err := s.reset(); err != nil {
			f.Close()
			return nil, rec, err
		}
	}
	return s, rec, nil
}

// next reads one record from r; with out it decodes the message into it
// (a record whose checksum is right but whose message is not is damage).
// It returns the record's length on the file.
func (s *spool) next(r *bufio.Reader, out *Message) (int64, error) {
	var h [recordHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, err
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n > maxRecordBytes {
		return 0, errors.New("spool: damaged record length")
	}
	if cap(s.buf) < int(n) {
		s.buf = make([]byte, n)
	}
	p := s.buf[:n]
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, err
	}
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return 0, errors.New("spool: record checksum mismatch")
	}
	if out != nil {
		m, err := decodeMessage(p)
		if err != nil {
			return 0, fmt.Errorf("spool: %w", err)
		}
		m.Data = append([]byte(nil), m.Data...)
		*out = m
	}
	return int64(recordHeader + n), nil
}

// reset empties the file to its header.
func (s *spool) reset() error {
	if err := s.f.Truncate(spoolHeader); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.read, s.end, s.pending = spoolHeader, spoolHeader, 0
	return s.writeHeader()
}

func (s *spool) writeHeader() error {
	var h [spoolHeader]byte
	copy(h[:], spoolMagic)
	binary.LittleEndian.PutUint64(h[8:], uint64(s.read))
	if _, err := s.f.WriteAt(h[:], 0); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// appendMessages writes msgs at the end, dropping the oldest pending
// messages first if the bound requires it (a message larger than the bound
// alone is dropped itself). It returns the number dropped.
func (s *spool) appendMessages(msgs []Message) (int, error) {
	var b []byte
	for i := range msgs {
		start := len(b)
		b = append(b, make([]byte, recordHeader)...)
		b = msgs[i].encode(b)
		p := b[start+recordHeader:]
		binary.LittleEndian.PutUint32(b[start:], uint32(len(p)))
		binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(p, castagnoli))
	}
	dropped, fromBatch := 0, 0
	for len(b) > 0 && s.end-s.read+int64(len(b)) > s.limit {
		if s.pending == 0 {
			// The batch alone is over the bound: drop its oldest.
			n := int64(binary.LittleEndian.Uint32(b[:4])) + recordHeader
			b = b[n:]
			fromBatch++
		} else if err := s.dropOldest(); err != nil {
			return dropped, err
		}
		dropped++
	}
	if len(b) == 0 {
		return dropped, nil
	}
	if s.read > s.limit {
		if err := s.compact(); err != nil {
			return dropped, err
		}
	}
	if _, err := s.f.WriteAt(b, s.end); err != nil {
		// What was written of it is cut off by the next open.
		return dropped, fmt.Errorf("spool: %w", err)
	}
	s.end += int64(len(b))
	s.pending += len(msgs) - fromBatch
	return dropped, nil
}

// dropOldest moves the read offset past the oldest pending record.
func (s *spool) dropOldest() error {
	var h [recordHeader]byte
	if _, err := s.f.ReadAt(h[:], s.read); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.read += recordHeader + int64(binary.LittleEndian.Uint32(h[:4]))
	s.pending--
	return s.writeHeader()
}

// peek reads up to n pending messages from the oldest, with the offset
// after each (for advance).
func (s *spool) peek(n int) ([]Message, []int64, error) {
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, s.read, s.end-s.read), 1<<16)
	off := s.read
	var out []Message
	var ends []int64
	for len(out) < n && off < s.end {
		var m Message
		k, err := s.next(r, &m)
		if err != nil {
			return out, ends, err
		}
		off += k
		out = append(out, m)
		ends = append(ends, off)
	}
	return out, ends, nil
}

// advance marks the k messages up to off delivered.
func (s *spool) advance(off int64, k int) error {
	s.read = off
	s.pending -= k
	if s.read >= s.end {
		return s.reset()
	}
	return s.writeHeader()
}

// compact copies the pending records to a new file that replaces the
// spool, dropping the delivered part before the read offset.
func (s *spool) compact() error {
	tmp := s.path + ".tmp"
	nf, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: compact: %w", err)
	}
	// The new file is the spool once renamed: it holds the lock from
	// before that.
	if err := syscall.Flock(int(nf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		nf.Close()
		os.Remove(tmp)
		return fmt.Errorf("spool: compact: %w", err)
	}
	var h [spoolHeader]byte
	copy(h[:], spoolMagic)
	binary.LittleEndian.PutUint64(h[8:], spoolHeader)
	_, err = nf.Write(h[:])
	if err == nil {
		_, err = io.Copy(nf, io.NewSectionReader(s.f, s.read, s.end-s.read))
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		nf.Close()
		os.Remove(tmp)
		return fmt.Errorf("spool: compact: %w", err)
	}
	s.f.Close()
	s.f = nf
	s.end = spoolHeader + s.end - s.read
	s.read = spoolHeader
	return nil
}

func (s *spool) close() error { return s.f.Close() }
