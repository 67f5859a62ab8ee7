package dnp3

import (
	"bytes"
	"fmt"
)

// resyncLimit is how many octets a resynchronising Framer scans without
// finding a valid link header before it gives up with ErrNotDNP3.
const resyncLimit = 64 << 10

// Framer cuts one direction of a DNP3-over-TCP connection's reassembled
// byte stream into link frames (IEEE 1815-2012, 9.2 and Annex C: frames are
// carried back to back in the stream), whatever the TCP segmentation:
// several frames in one call, one frame over several calls. It checks the
// header CRC and the CRC of every user-data block and never allocates: a
// partial frame and the user data of a multi-block frame live in buffers
// inside the Framer.
//
// The zero Framer is ready and expects the stream to start on a frame, as it
// does after a SYN; its first header must start with 0x05 0x64 or Feed
// fails with ErrNotDNP3. Call Resync for a connection picked up mid-stream
// and after a gap: the Framer then scans for the next valid header (the
// start octets, a length of at least 5 and a matching CRC: a random match
// has odds of 1 in 2^16 per 0x0564 in the data).
//
// A frame that fails a check once the stream is known to be DNP3 costs that
// frame, not the connection: a bad block CRC skips the frame (its header
// gave its length), a bad header starts a resynchronisation. Each is
// counted in LinkErrors and kept in LastLinkError, for the caller to report.
type Framer struct {
	// raw holds a partial frame or, while resynchronising, a tail of fewer
	// than HeaderLen octets that may begin a header.
	raw  [MaxFrameLen]byte
	n    int
	user [MaxUserData]byte
	fr   Frame
	errs linkErrors

	resync   bool
	trusted  bool // a valid header was seen since Reset
	scanned  int  // octets skipped since the last Resync
	skipped  uint64
	frames   uint64
	linkErrs uint64
	lastErr  error
	failErr  error
}

// Reset discards any partial frame and forgets what the stream has shown:
// the next octet fed must start a frame. Use it when a connection starts
// anew.
func (f *Framer) Reset() {
	*f = Framer{skipped: f.skipped, frames: f.frames, linkErrs: f.linkErrs}
}

// Resync discards any partial frame and makes the Framer scan what follows
// for a valid link header. After resyncLimit octets without one, Feed fails
// with ErrNotDNP3. Use it after a gap and for a connection picked up
// mid-stream.
func (f *Framer) Resync() {
	f.n, f.scanned, f.failErr = 0, 0, nil
	f.resync = true
}

// Trust tells the Framer that the stream carries DNP3 (the other direction
// of the connection has framed): a bad header then costs a
// resynchronisation, never ErrNotDNP3.
func (f *Framer) Trust() { f.trusted = true }

// Resyncing reports whether the Framer is looking for a header.
func (f *Framer) Resyncing() bool { return f.resync }

// Frames returns how many frames the Framer has emitted.
func (f *Framer) Frames() uint64 { return f.frames }

// Skipped returns how many octets resynchronisation has discarded.
func (f *Framer) Skipped() uint64 { return f.skipped }

// LinkErrors returns how many frames were dropped for a bad CRC or a bad
// header in a stream known to be DNP3.
func (f *Framer) LinkErrors() uint64 { return f.linkErrs }

// LastLinkError returns the error of the last dropped frame (wrapping
// ErrCRC or ErrLinkHeader), nil if none. It is overwritten by the next one.
func (f *Framer) LastLinkError() error { return f.lastErr }

// Feed consumes the next octets of the stream and calls emit for every frame
// they complete, in order. The Frame and its Data are valid only until emit
// returns.
//
// Feed returns an error wrapping ErrNotDNP3 when the stream does not start
// with a link header or a resynchronisation finds none within
// resyncLimit octets; the frames before have been emitted. A failed Framer
// consumes nothing until Reset or Resync, and every Feed returns the same
// error.
func (f *Framer) Feed(data []byte, emit func(*Frame)) error {
	for len(data) > 0 && f.failErr == nil {
		switch {
		case f.resync:
			data = f.scan(data)
		case f.n > 0:
			data = f.fill(data, emit)
		case len(data) < HeaderLen:
			f.n = copy(f.raw[:], data)
			return nil
		case !validHeader(data):
			f.badHeader(data[:HeaderLen])
			data = data[1:] // scan on from the octet after the bad start
		default:
			n := frameLen(data[2])
			if len(data) < n {
				f.n = copy(f.raw[:], data)
				return nil
			}
			f.frame(data[:n], emit)
			data = data[n:]
		}
	}
	return f.failErr
}

// fill adds to the partial frame in raw and handles it when complete.
func (f *Framer) fill(data []byte, emit func(*Frame)) []byte {
	need := HeaderLen
	if f.n >= HeaderLen {
		need = frameLen(f.raw[2])
	}
	k := copy(f.raw[f.n:need], data)
	f.n += k
	data = data[k:]
	if f.n < need {
		return data
	}
	if need == HeaderLen {
		// The header is complete: check it before reading a body of its
		// length.
		if !validHeader(f.raw[:HeaderLen]) {
			f.badHeader(f.raw[:HeaderLen])
			// Scan on from the bad header's second octet: its last
			// nine octets become the scan tail.
			f.n = copy(f.raw[:], f.raw[1:HeaderLen])
			return data
		}
		if frameLen(f.raw[2]) > HeaderLen {
			return data // the Feed loop fills the body
		}
	}
	f.n = 0
	f.frame(f.raw[:need], emit)
	return data
}

// frame handles one complete frame whose header is valid.
func (f *Framer) frame(raw []byte, emit func(*Frame)) {
	f.trusted = true
	h := parseHeader(raw)
	data, err := unblock(raw, h, &f.user, &f.errs.crc)
	if err != nil {
		f.linkErr(err)
		return
	}
	f.frames++
	f.fr = Frame{LinkHeader: h, Data: data}
	emit(&f.fr)
}

// badHeader handles a header that fails the checks: before the stream is
// known to be DNP3, octets other than 0x05 0x64 prove it is not; otherwise
// the header is a link error and the Framer resynchronises.
func (f *Framer) badHeader(b []byte) {
	_, err := checkHeader(b, &f.errs)
	if !f.trusted && (b[0] != start0 || b[1] != start1) {
		f.failErr = fmt.Errorf("%w: start octets 0x%02x%02x", ErrNotDNP3, b[0], b[1])
		f.n = 0
		return
	}
	f.linkErr(err)
	f.resync, f.scanned = true, 0
	f.note(1)
}

func (f *Framer) linkErr(err error) {
	f.linkErrs++
	f.lastErr = err
}

// scan looks for a valid header in the tail kept from earlier calls
// followed by data. It returns the data left once locked (the caller frames
// it), or nil when all of data was consumed without a lock. Between calls
// it keeps fewer than HeaderLen octets, so a header split over calls is
// found.
//
// Whether a header is found depends only on stream positions (a position
// preceded by resyncLimit skipped octets is never examined), so where the
// stream was cut into calls never changes the outcome.
func (f *Framer) scan(data []byte) []byte {
	// A position in the tail: complete the tail into a whole header with
	// octets borrowed from data and test it; on a miss, give the octets
	// back and drop the tail's first.
	for f.n > 0 {
		if f.scanned >= resyncLimit {
			f.giveUp()
			return nil
		}
		k := copy(f.raw[f.n:HeaderLen], data)
		if f.n+k < HeaderLen {
			f.n += k // still short of a header: all of data joins the tail
			return nil
		}
		if validHeader(f.raw[:HeaderLen]) {
			f.resync = false
			return data // fill takes the borrowed octets again
		}
		f.n = copy(f.raw[:], f.raw[1:f.n])
		f.note(1)
	}
	last := len(data) - HeaderLen // the last position with a whole header
	for i := 0; i <= last; i++ {
		k := bytes.IndexByte(data[i:last+1], start0)
		if k < 0 {
			break
		}
		i += k
		if f.scanned+i >= resyncLimit {
			f.note(resyncLimit - f.scanned)
			f.giveUp()
			return nil
		}
		if validHeader(data[i:]) {
			f.note(i)
			f.resync = false
			return data[i:]
		}
	}
	k := max(last+1, 0)
	f.note(k)
	f.n = copy(f.raw[:], data[k:])
	if f.scanned >= resyncLimit {
		f.giveUp()
	}
	return nil
}

func (f *Framer) giveUp() {
	f.n = 0
	f.failErr = fmt.Errorf("%w: no valid link header in %d octets", ErrNotDNP3, f.scanned)
}

func (f *Framer) note(skipped int) {
	f.scanned += skipped
	f.skipped += uint64(skipped)
}
