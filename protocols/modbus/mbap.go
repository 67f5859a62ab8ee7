package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MBAP header sizes and bounds (Modbus Messaging on TCP/IP Implementation
// Guide V1.0b, 3.1.3; MAP V1.1b3, 4.1: a PDU is at most 253 bytes).
const (
	HeaderLen = 7   // transaction id(2) protocol id(2) length(2) unit id(1)
	MaxPDULen = 253 // function code + data
	MaxADULen = HeaderLen + MaxPDULen
	// MinLength and MaxLength bound the MBAP length field, which counts
	// the unit id and the PDU. Zeek's grammar rejects anything outside.
	MinLength = 2
	MaxLength = 1 + MaxPDULen
)

// ErrNotModbus is returned by Framer.Feed when the stream does not carry
// Modbus/TCP: a header with a protocol identifier other than 0 or a length
// outside MinLength..MaxLength, or, in resync mode, no plausible header
// within resyncLimit bytes. The caller should mark the connection non-Modbus
// and stop feeding it.
var ErrNotModbus = errors.New("modbus: not a Modbus/TCP stream")

// ADU is one Modbus/TCP application data unit: the MBAP header and the PDU.
type ADU struct {
	TransactionID uint16
	ProtocolID    uint16 // always 0 for Modbus
	Length        uint16 // bytes that follow the length field: 1 + len(PDU)
	UnitID        uint8
	// PDU is the function code followed by its data. From a Framer it
	// aliases the Framer's buffer or the caller's data and is valid only
	// during the emit call: copy it to keep it.
	PDU []byte
}

// Function returns the PDU's function code (0 for an empty PDU, which a
// Framer never emits).
func (a *ADU) Function() FunctionCode {
	if len(a.PDU) == 0 {
		return 0
	}
	return FunctionCode(a.PDU[0])
}

// Append appends the encoded ADU to dst. ProtocolID and Length are written
// as the MBAP header requires (0 and 1+len(PDU)), whatever the fields hold.
// It returns an error if the PDU is empty or longer than MaxPDULen.
func (a *ADU) Append(dst []byte) ([]byte, error) {
	if len(a.PDU) == 0 || len(a.PDU) > MaxPDULen {
		return dst, fmt.Errorf("modbus: encode adu: pdu of %d bytes: %w", len(a.PDU), ErrMalformed)
	}
	dst = binary.BigEndian.AppendUint16(dst, a.TransactionID)
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(1+len(a.PDU)))
	dst = append(dst, a.UnitID)
	return append(dst, a.PDU...), nil
}

// ParseADU decodes one ADU from the start of b with the same sanity checks as
// a Framer in strict mode. It returns the ADU (aliasing b) and the number of
// bytes it spans; n is 0 with a nil error when b holds only part of an ADU.
func ParseADU(b []byte) (adu ADU, n int, err error) {
	if len(b) < HeaderLen {
		return ADU{}, 0, nil
	}
	adu, err = parseHeader(b)
	if err != nil {
		return ADU{}, 0, err
	}
	n = 6 + int(adu.Length)
	if len(b) < n {
		return ADU{}, 0, nil
	}
	adu.PDU = b[HeaderLen:n:n]
	return adu, n, nil
}

func parseHeader(b []byte) (ADU, error) {
	a := ADU{
		TransactionID: binary.BigEndian.Uint16(b[0:2]),
		ProtocolID:    binary.BigEndian.Uint16(b[2:4]),
		Length:        binary.BigEndian.Uint16(b[4:6]),
		UnitID:        b[6],
	}
	if a.ProtocolID != 0 {
		return a, fmt.Errorf("%w: protocol id %d", ErrNotModbus, a.ProtocolID)
	}
	if a.Length < MinLength || a.Length > MaxLength {
		return a, fmt.Errorf("%w: mbap length %d outside %d..%d", ErrNotModbus, a.Length, MinLength, MaxLength)
	}
	return a, nil
}

// plausible reports whether b (at least probeLen bytes) starts with a header
// a resynchronising Framer should lock onto: protocol id 0, a sane length, a
// function code other than 0 and, for an exception, exactly one byte of
// data. Vendor codes (UMAS 90) count, or a Schneider PLC's connection could
// never be picked up again; a false lock inside register data is caught by
// the probation that follows it.
func plausible(b []byte) bool {
	if b[2] != 0 || b[3] != 0 {
		return false
	}
	l := binary.BigEndian.Uint16(b[4:6])
	if l < MinLength || l > MaxLength {
		return false
	}
	fc := FunctionCode(b[HeaderLen])
	if fc == 0 {
		return false
	}
	if fc.IsException() {
		return l == 3 // unit id, function code, exception code
	}
	return true
}

// resyncLimit is how many bytes a resynchronising Framer scans without
// finding a plausible header before it gives up with ErrNotModbus.
const resyncLimit = 64 << 10

// Framer cuts one direction of a Modbus/TCP connection's reassembled byte
// stream into ADUs, whatever the TCP segmentation: several ADUs in one call,
// one ADU over several calls. It buffers at most one partial ADU (MaxADULen
// bytes, inside the Framer), so it never allocates.
//
// The zero Framer is ready, in strict mode: the stream must start on an ADU
// boundary, as it does after a SYN. Call Resync for a connection picked up
// mid-stream and after a gap.
type Framer struct {
	// Strict makes every bad header fatal, as in Zeek's grammar. By
	// default a stream that has already framed trustAfter good ADUs is
	// known to be Modbus, and a bad header there (a device's malformed
	// frame, a look-alike after a resync) costs a resynchronisation, counted
	// in Desyncs, instead of the whole connection.
	Strict bool

	buf [MaxADULen]byte
	n   int // bytes buffered in buf: a partial ADU, or in resync a tail of < probeLen bytes

	resync bool
	// probation is set by Resync and lasts until two ADUs have framed
	// after the lock: a bad header then means the lock was wrong (a
	// look-alike inside register data), so the Framer scans again instead
	// of failing.
	probation bool
	sinceLock int
	scanned   int    // bytes skipped or framed on probation since Resync
	skipped   uint64 // bytes skipped in all resyncs
	frames    uint64
	good      int // ADUs framed outside probation since Reset, capped at trustAfter
	desyncs   uint64
	failErr   error
}

// trustAfter is how many ADUs a stream must frame before a bad header is
// treated as a glitch rather than proof that the stream is not Modbus.
const trustAfter = 4

// probeLen is how many bytes plausible needs: the header and function code.
const probeLen = HeaderLen + 1

// Reset discards any partial ADU and returns to strict mode: the next byte
// fed must start an ADU. Use it when a connection starts anew.
func (f *Framer) Reset() {
	f.clear()
	f.good = 0
}

func (f *Framer) clear() {
	f.n, f.resync, f.probation, f.sinceLock, f.scanned, f.failErr = 0, false, false, 0, 0, nil
}

// Resync discards any partial ADU and makes the Framer scan the bytes that
// follow for a plausible MBAP header (protocol id 0, length 2..254, a
// function code; see plausible) instead of failing on the first bad one. It
// returns to strict mode once two ADUs in a row have framed cleanly; until
// then a bad header means the lock was wrong and scanning goes on. After
// resyncLimit bytes skipped or framed on probation, Feed fails with
// ErrNotModbus. Use it after a gap and for a connection picked up
// mid-stream.
func (f *Framer) Resync() {
	f.clear()
	f.resync, f.probation = true, true
}

// Resyncing reports whether the Framer is looking for a header.
func (f *Framer) Resyncing() bool { return f.resync }

// Skipped returns how many bytes resynchronisation has discarded so far.
func (f *Framer) Skipped() uint64 { return f.skipped }

// Desyncs returns how many bad headers a trusted stream has survived by
// resynchronising (always 0 when Strict). Each one is worth an anomaly.
func (f *Framer) Desyncs() uint64 { return f.desyncs }

// Frames returns how many ADUs the Framer has emitted.
func (f *Framer) Frames() uint64 { return f.frames }

// Feed consumes the next bytes of the stream and calls emit for every ADU
// they complete, in order. emit's ADU.PDU aliases data or the Framer's
// buffer and is valid only until emit returns.
//
// Feed returns an error wrapping ErrNotModbus when a header fails the sanity
// checks before the stream is trusted (or at any point when Strict), or when
// no plausible header turns up within resyncLimit bytes of a resync; the
// ADUs before the bad header have been emitted. A failed Framer consumes
// nothing until Reset or Resync, and every Feed returns the same error.
func (f *Framer) Feed(data []byte, emit func(ADU)) error {
	if f.failErr != nil {
		return f.failErr
	}
	for len(data) > 0 {
		if f.resync {
			data = f.scan(data)
			if f.failErr != nil {
				return f.failErr
			}
			continue
		}
		if f.n > 0 {
			// Complete the buffered partial ADU first.
			rest, err := f.fill(data, emit)
			if err != nil {
				if f.retry() {
					// Scan on from the bad header's second byte:
					// its last six bytes become the scan tail.
					f.n = copy(f.buf[:], f.buf[1:HeaderLen])
					f.note(1)
					data = rest
					continue
				}
				return f.fail(err)
			}
			data = rest
			continue
		}
		// Fast path: a whole, sane ADU at the start of data, framed in
		// place without a copy.
		if len(data) >= HeaderLen && data[2]|data[3] == 0 {
			if l := int(binary.BigEndian.Uint16(data[4:6])); l >= MinLength && l <= MaxLength && len(data) >= 6+l {
				f.emit(ADU{
					TransactionID: binary.BigEndian.Uint16(data[0:2]),
					Length:        uint16(l),
					UnitID:        data[6],
					PDU:           data[HeaderLen : 6+l : 6+l],
				}, emit)
				data = data[6+l:]
				continue
			}
		}
		// Partial ADU or bad header.
		adu, n, err := ParseADU(data)
		if err != nil {
			if f.retry() {
				continue // scan from the bad header on
			}
			return f.fail(err)
		}
		if n == 0 {
			f.n = copy(f.buf[:], data) // partial ADU, < MaxADULen bytes
			return nil
		}
		f.emit(adu, emit)
		data = data[n:]
	}
	return nil
}

func (f *Framer) emit(adu ADU, emit func(ADU)) {
	f.frames++
	if f.probation {
		// Bytes framed on probation count towards the resync limit, so
		// junk full of look-alikes still ends in ErrNotModbus.
		f.scanned += 6 + int(adu.Length)
		if f.sinceLock++; f.sinceLock >= 2 {
			f.probation, f.scanned = false, 0
			f.good = min(f.good+f.sinceLock, trustAfter)
		}
	} else if f.good < trustAfter {
		f.good++
	}
	emit(adu)
}

// retry turns a header failure into a resync when the lock that led to it
// is still on probation or, unless Strict, when the stream is trusted.
func (f *Framer) retry() bool {
	switch {
	case f.probation:
		// The lock was wrong: scan on, the limit keeps counting.
	case !f.Strict && f.good >= trustAfter:
		f.desyncs++
		f.scanned = 0
	default:
		return false
	}
	f.n, f.resync, f.probation, f.sinceLock = 0, true, true, 0
	return true
}

// fill appends to the partial ADU in buf and emits it when complete.
func (f *Framer) fill(data []byte, emit func(ADU)) ([]byte, error) {
	need := HeaderLen
	if f.n >= HeaderLen {
		need = 6 + int(binary.BigEndian.Uint16(f.buf[4:6]))
	}
	k := copy(f.buf[f.n:need], data)
	f.n += k
	data = data[k:]
	if f.n < need {
		return data, nil
	}
	if need == HeaderLen {
		// Header complete: check it before reading a body of its length.
		if _, err := parseHeader(f.buf[:HeaderLen]); err != nil {
			return data, err
		}
		if f.n < 6+int(binary.BigEndian.Uint16(f.buf[4:6])) {
			return data, nil
		}
	}
	adu, _, _ := ParseADU(f.buf[:f.n])
	f.n = 0
	f.emit(adu, emit)
	return data, nil
}

// scan looks for a plausible header in the tail kept from earlier calls
// followed by data. It returns the data left once locked (the caller frames
// it), or nil when all of data was consumed without a lock. Between calls it
// keeps fewer than probeLen bytes, so a header split over calls is found.
//
// The give-up rule depends only on stream positions (a position preceded by
// resyncLimit skipped bytes is never examined), so where the stream was cut
// into calls never changes the outcome.
func (f *Framer) scan(data []byte) []byte {
	if f.n > 0 {
		// Positions that start in the tail: check them over tail+data.
		var tmp [2 * probeLen]byte
		c := copy(tmp[:], f.buf[:f.n])
		c += copy(tmp[c:], data)
		for j := 0; j < f.n; j++ {
			if f.scanned+j >= resyncLimit {
				f.note(j)
				f.giveUp()
				return nil
			}
			if j+probeLen > c {
				// Not enough bytes yet: data was short enough to fit
				// in tmp entirely; keep tmp[j:c] as the new tail.
				f.note(j)
				f.n = copy(f.buf[:], tmp[j:c])
				return nil
			}
			if plausible(tmp[j:]) {
				f.note(j)
				f.n = copy(f.buf[:], f.buf[j:f.n])
				f.resync = false
				return data // fill completes the partial header
			}
		}
		f.note(f.n)
		f.n = 0
	}
	for i := 0; i+probeLen <= len(data); i++ {
		if f.scanned+i >= resyncLimit {
			f.note(i)
			f.giveUp()
			return nil
		}
		if plausible(data[i:]) {
			f.note(i)
			f.resync = false
			return data[i:]
		}
	}
	k := max(len(data)-(probeLen-1), 0)
	f.note(k)
	f.n = copy(f.buf[:], data[k:])
	if f.scanned >= resyncLimit {
		f.giveUp()
	}
	return nil
}

func (f *Framer) giveUp() {
	f.fail(fmt.Errorf("%w: no plausible mbap header in %d bytes", ErrNotModbus, f.scanned))
}

func (f *Framer) note(skipped int) {
	f.scanned += skipped
	f.skipped += uint64(skipped)
}

func (f *Framer) fail(err error) error {
	f.failErr, f.n = err, 0
	return err
}
