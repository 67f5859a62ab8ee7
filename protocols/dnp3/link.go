package dnp3

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// Link-layer frame sizes (IEEE 1815-2012, 9.2.4 and 9.2.5). A frame is a
// ten-octet header (start 0x05 0x64, length, control, destination,
// source, header CRC) followed by up to 250 user-data octets sent in blocks
// of 16, each block followed by its CRC.
const (
	HeaderLen   = 10  // start(2) length(1) control(1) destination(2) source(2) crc(2)
	MinLength   = 5   // the length field counts control, destination, source and user data
	MaxUserData = 250 // 255 - 5
	blockLen    = 16
	// MaxFrameLen is the longest frame on the wire: the header, 250
	// user-data octets and the CRCs of their 16 blocks.
	MaxFrameLen = HeaderLen + MaxUserData + 2*((MaxUserData+blockLen-1)/blockLen)
)

// Start octets of every frame (9.2.4.1.1).
const (
	start0 = 0x05
	start1 = 0x64
)

// Errors of the link layer. A frame whose header or a data block fails its
// CRC is dropped; the Framer counts it (LinkErrors) and keeps the error
// (LastLinkError), which wraps ErrCRC.
var (
	// ErrNotDNP3 is returned by Framer.Feed when the stream does not carry
	// DNP3: its first octets are not a link header with a valid CRC, or a
	// resynchronisation found no valid header within resyncLimit octets.
	// The caller should mark the connection and stop feeding it.
	ErrNotDNP3 = errors.New("dnp3: not a DNP3 stream")
	// ErrCRC is wrapped by the error of a frame whose header or user-data
	// block fails its CRC (IEEE 1815-2012, 9.2.5).
	ErrCRC = errors.New("dnp3: bad link CRC")
	// ErrLinkHeader is wrapped by the error of a header that does not
	// start with 0x05 0x64 or whose length is below 5, in a stream that
	// was DNP3 so far.
	ErrLinkHeader = errors.New("dnp3: bad link header")
)

// CRCError describes a frame dropped for a CRC mismatch. Block is -1 for the
// header, else the index of the 16-octet user-data block.
type CRCError struct {
	Block     int
	Got, Want uint16
	Dest, Src uint16 // the header's addresses (not to be trusted when Block is -1)
}

func (e *CRCError) Error() string {
	where := "header"
	if e.Block >= 0 {
		where = "data block " + strconv.Itoa(e.Block)
	}
	return fmt.Sprintf("dnp3: bad link CRC in %s of frame %d -> %d: 0x%04x, computed 0x%04x", where, e.Src, e.Dest, e.Got, e.Want)
}

// Is makes errors.Is(err, ErrCRC) true.
func (e *CRCError) Is(target error) bool { return target == ErrCRC }

// HeaderError describes a link header that does not start with 0x05 0x64
// or whose length is below 5.
type HeaderError struct {
	Start  [2]byte
	Length uint8
}

func (e *HeaderError) Error() string {
	if e.Start != [2]byte{start0, start1} {
		return fmt.Sprintf("dnp3: bad link header: start octets 0x%02x%02x", e.Start[0], e.Start[1])
	}
	return fmt.Sprintf("dnp3: bad link header: length %d below %d", e.Length, MinLength)
}

// Is makes errors.Is(err, ErrLinkHeader) true.
func (e *HeaderError) Is(target error) bool { return target == ErrLinkHeader }

// LinkControl is the control octet of a link header (IEEE 1815-2012,
// 9.2.4.1.3): DIR, PRM, FCB and FCV (or DFC from a secondary station) and
// the link function code.
type LinkControl uint8

// Dir reports the DIR bit: set on frames from a master.
func (c LinkControl) Dir() bool { return c&0x80 != 0 }

// Primary reports the PRM bit: set on frames that initiate a link
// transaction (primary station), clear on replies (secondary station).
func (c LinkControl) Primary() bool { return c&0x40 != 0 }

// FCB reports the frame count bit (primary frames).
func (c LinkControl) FCB() bool { return c&0x20 != 0 }

// FCV reports the frame count valid bit (primary frames); from a secondary
// station the same bit is DFC, data flow control.
func (c LinkControl) FCV() bool { return c&0x10 != 0 }

// Code returns the link function code, the low four bits.
func (c LinkControl) Code() uint8 { return uint8(c & 0x0F) }

// Function returns the link function: the code together with PRM, which
// says which of the two tables it is from.
func (c LinkControl) Function() LinkFunction { return LinkFunction(c & 0x4F) }

// LinkFunction is a link function code with the PRM bit (0x40) kept, so that
// the primary and secondary codes, which overlap, stay apart (IEEE
// 1815-2012, tables 9-1 and 9-2).
type LinkFunction uint8

// Link functions (9.2.4.1.3.5). Codes not listed are obsolete or reserved.
const (
	LinkAck                 LinkFunction = 0x00 // secondary 0: ACK
	LinkNack                LinkFunction = 0x01 // secondary 1: NACK
	LinkStatus              LinkFunction = 0x0B // secondary 11: LINK_STATUS
	LinkNotSupported        LinkFunction = 0x0F // secondary 15: NOT_SUPPORTED
	LinkResetLinkStates     LinkFunction = 0x40 // primary 0: RESET_LINK_STATES
	LinkTestLinkStates      LinkFunction = 0x42 // primary 2: TEST_LINK_STATES
	LinkConfirmedUserData   LinkFunction = 0x43 // primary 3: CONFIRMED_USER_DATA
	LinkUnconfirmedUserData LinkFunction = 0x44 // primary 4: UNCONFIRMED_USER_DATA
	LinkRequestLinkStatus   LinkFunction = 0x49 // primary 9: REQUEST_LINK_STATUS
)

var linkFunctionNames = [0x50]string{
	LinkAck:                 "ack",
	LinkNack:                "nack",
	LinkStatus:              "link_status",
	LinkNotSupported:        "not_supported",
	LinkResetLinkStates:     "reset_link_states",
	LinkTestLinkStates:      "test_link_states",
	LinkConfirmedUserData:   "confirmed_user_data",
	LinkUnconfirmedUserData: "unconfirmed_user_data",
	LinkRequestLinkStatus:   "request_link_status",
}

// String returns the function's snake_case name, or "unknown".
func (f LinkFunction) String() string {
	if int(f) < len(linkFunctionNames) && linkFunctionNames[f] != "" {
		return linkFunctionNames[f]
	}
	return "unknown"
}

// UserData reports whether frames of this function carry transport
// segments (CONFIRMED_USER_DATA and UNCONFIRMED_USER_DATA).
func (f LinkFunction) UserData() bool {
	return f == LinkConfirmedUserData || f == LinkUnconfirmedUserData
}

// LinkHeader is the decoded header of a frame.
type LinkHeader struct {
	Length  uint8 // control, addresses and user data: 5 + len(user data)
	Control LinkControl
	Dest    uint16
	Source  uint16
}

// Frame is one link-layer frame with its CRCs checked and removed.
type Frame struct {
	LinkHeader
	// Data is the user data (a transport segment for user-data functions).
	// From a Framer it aliases the Framer's buffers or the caller's data
	// and is valid only during the emit call.
	Data []byte
}

// frameLen returns the wire length of a frame whose length field is l (≥ 5).
func frameLen(l uint8) int {
	n := int(l) - MinLength
	return HeaderLen + n + 2*((n+blockLen-1)/blockLen)
}

// validHeader reports whether b (at least HeaderLen octets) starts with a
// link header: the start octets, a length of at least 5, a good CRC.
func validHeader(b []byte) bool {
	return b[0] == start0 && b[1] == start1 && b[2] >= MinLength && crcOK(b[:8], b[8:10])
}

func parseHeader(b []byte) LinkHeader {
	return LinkHeader{
		Length:  b[2],
		Control: LinkControl(b[3]),
		Dest:    binary.LittleEndian.Uint16(b[4:6]),
		Source:  binary.LittleEndian.Uint16(b[6:8]),
	}
}

// linkErrors holds the error values of one frame's checks, so that
// reporting a bad frame allocates nothing.
type linkErrors struct {
	crc CRCError
	hdr HeaderError
}

// checkHeader returns the header at the start of b (at least HeaderLen
// octets) or why it is not one, in one of e's errors.
func checkHeader(b []byte, e *linkErrors) (LinkHeader, error) {
	h := parseHeader(b)
	if b[0] != start0 || b[1] != start1 {
		e.hdr = HeaderError{Start: [2]byte{b[0], b[1]}}
		return h, &e.hdr
	}
	if got, want := binary.LittleEndian.Uint16(b[8:10]), CRC(b[:8]); got != want {
		e.crc = CRCError{Block: -1, Got: got, Want: want, Dest: h.Dest, Src: h.Source}
		return h, &e.crc
	}
	if h.Length < MinLength {
		e.hdr = HeaderError{Start: [2]byte{b[0], b[1]}, Length: h.Length}
		return h, &e.hdr
	}
	return h, nil
}

// unblock checks the CRC of every user-data block of the frame in raw
// (complete, header checked) and returns the user data: raw's own octets
// when there is one block, else a copy into buf. On a CRC mismatch it fills
// crc and returns it.
func unblock(raw []byte, h LinkHeader, buf *[MaxUserData]byte, crc *CRCError) ([]byte, error) {
	n := int(h.Length) - MinLength
	body := raw[HeaderLen:]
	if n <= blockLen {
		if n > 0 && !crcOK(body[:n], body[n:n+2]) {
			return nil, blockErr(crc, h, 0, body[:n], body[n:])
		}
		return body[:n:n], nil
	}
	out := buf[:0]
	for i := 0; len(out) < n; i++ {
		k := min(blockLen, n-len(out))
		if !crcOK(body[:k], body[k:k+2]) {
			return nil, blockErr(crc, h, i, body[:k], body[k:])
		}
		out = append(out, body[:k]...)
		body = body[k+2:]
	}
	return out, nil
}

func blockErr(crc *CRCError, h LinkHeader, i int, block, sum []byte) error {
	*crc = CRCError{Block: i, Got: binary.LittleEndian.Uint16(sum), Want: CRC(block), Dest: h.Dest, Src: h.Source}
	return crc
}

// ParseFrame decodes the frame at the start of b. It returns the frame (its
// Data aliasing b, or buf when the user data spans several blocks) and the
// octets it spans; n is 0 with a nil error when b holds only part of a
// frame. A header or block that fails its checks is an error (wrapping
// ErrLinkHeader or ErrCRC); n is then the frame's length when the header
// was good (the frame can be skipped), else 0.
func ParseFrame(b []byte, buf *[MaxUserData]byte) (f Frame, n int, err error) {
	if len(b) < HeaderLen {
		return Frame{}, 0, nil
	}
	e := new(linkErrors)
	h, err := checkHeader(b, e)
	if err != nil {
		return Frame{LinkHeader: h}, 0, err
	}
	n = frameLen(h.Length)
	if len(b) < n {
		return Frame{}, 0, nil
	}
	data, err := unblock(b[:n], h, buf, &e.crc)
	if err != nil {
		return Frame{LinkHeader: h}, n, err
	}
	return Frame{LinkHeader: h, Data: data}, n, nil
}

// AppendFrame appends the frame with header h and user data to dst,
// computing the length and every CRC (h.Length is ignored). It returns an
// error when data is longer than MaxUserData.
func AppendFrame(dst []byte, h LinkHeader, data []byte) ([]byte, error) {
	if len(data) > MaxUserData {
		return dst, fmt.Errorf("dnp3: encode frame: %d octets of user data, at most %d", len(data), MaxUserData)
	}
	start := len(dst)
	dst = append(dst, start0, start1, byte(MinLength+len(data)), byte(h.Control))
	dst = binary.LittleEndian.AppendUint16(dst, h.Dest)
	dst = binary.LittleEndian.AppendUint16(dst, h.Source)
	dst = binary.LittleEndian.AppendUint16(dst, CRC(dst[start:]))
	for len(data) > 0 {
		k := min(blockLen, len(data))
		dst = append(dst, data[:k]...)
		dst = binary.LittleEndian.AppendUint16(dst, CRC(data[:k]))
		data = data[k:]
	}
	return dst, nil
}
