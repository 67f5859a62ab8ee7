package opcua

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MessageType is the three-byte message type of a UA TCP / UA Secure
// Conversation chunk header (OPC 10000-6 §7.1.2.2 and §6.7.2.2).
type MessageType uint8

// Message types. The zero value is not a valid type.
const (
	TypeHEL MessageType = iota + 1 // Hello (§7.1.2.3)
	TypeACK                        // Acknowledge (§7.1.2.4)
	TypeERR                        // Error (§7.1.2.5)
	TypeRHE                        // ReverseHello (§7.1.2.6)
	TypeOPN                        // OpenSecureChannel (§6.7.2)
	TypeMSG                        // service message (§6.7.2)
	TypeCLO                        // CloseSecureChannel (§6.7.2)
)

var messageTypeNames = [...]string{"", "HEL", "ACK", "ERR", "RHE", "OPN", "MSG", "CLO"}

// String returns the three-letter wire name ("MSG").
func (t MessageType) String() string {
	if int(t) < len(messageTypeNames) && t != 0 {
		return messageTypeNames[t]
	}
	return fmt.Sprintf("MessageType(%d)", uint8(t))
}

// secure reports whether chunks of this type carry the secure conversation
// headers (secure channel id, security header, sequence header).
func (t MessageType) secure() bool { return t == TypeOPN || t == TypeMSG || t == TypeCLO }

// parseMessageType maps the three ASCII bytes of a header to a MessageType,
// or 0 when they name none.
func parseMessageType(b []byte) MessageType {
	switch string(b[:3]) { // no allocation: compiler-optimised comparison
	case "MSG":
		return TypeMSG
	case "OPN":
		return TypeOPN
	case "CLO":
		return TypeCLO
	case "HEL":
		return TypeHEL
	case "ACK":
		return TypeACK
	case "ERR":
		return TypeERR
	case "RHE":
		return TypeRHE
	}
	return 0
}

// ChunkType is the fourth header byte (OPC 10000-6 §6.7.2.2): 'F' final
// chunk, 'C' intermediate chunk, 'A' abort.
type ChunkType byte

// Chunk types.
const (
	ChunkFinal        ChunkType = 'F'
	ChunkIntermediate ChunkType = 'C'
	ChunkAbort        ChunkType = 'A'
)

// String returns the one-letter wire form.
func (c ChunkType) String() string {
	switch c {
	case ChunkFinal, ChunkIntermediate, ChunkAbort:
		return string(rune(c))
	}
	return fmt.Sprintf("ChunkType(%#x)", byte(c))
}

// Header sizes (OPC 10000-6 §7.1.2.2, §6.7.2.2-§6.7.2.4).
const (
	headerLen         = 8  // MessageType(3) ChunkType(1) MessageSize(4)
	secureHeaderLen   = 12 // + SecureChannelId(4)
	sequenceHeaderLen = 8  // SequenceNumber(4) RequestId(4)
	symHeaderLen      = 4  // TokenId(4)
)

// Minimum chunk sizes per type: a chunk shorter than this cannot be valid,
// which makes the resynchronisation scan much less likely to lock on noise.
var minChunkSize = [...]uint32{
	TypeHEL: headerLen + 20 + 4, // 5 uint32 + EndpointUrl length
	TypeACK: headerLen + 20,
	TypeERR: headerLen + 4 + 4, // Error + Reason length
	TypeRHE: headerLen + 4 + 4, // ServerUri length + EndpointUrl length
	TypeOPN: secureHeaderLen + 12 + sequenceHeaderLen,
	TypeMSG: secureHeaderLen + symHeaderLen + sequenceHeaderLen,
	TypeCLO: secureHeaderLen + symHeaderLen + sequenceHeaderLen,
}

// Limits on the asymmetric security header (§6.7.2.3) fields: a real
// SecurityPolicyUri is < 100 bytes, a certificate chain a few KiB.
const (
	maxPolicyURILen = 512
)

// Chunk is one UA TCP message or secure conversation chunk.
//
// The byte slices alias the Framer's buffer or the data given to Feed: they
// are valid only during the emit call. Copy what must be kept.
type Chunk struct {
	Type      MessageType
	ChunkType ChunkType
	// Size is the MessageSize field: the length of the whole chunk including
	// its header.
	Size uint32
	// SecureChannelID is set for OPN, MSG and CLO.
	SecureChannelID uint32

	// Asymmetric security header (OPN only, §6.7.2.3). These are always
	// plaintext, even when the rest of the chunk is encrypted.
	SecurityPolicyURI  []byte
	SenderCertificate  []byte
	ReceiverThumbprint []byte

	// TokenID is the symmetric security header (MSG, CLO; §6.7.2.3).
	TokenID uint32

	// SequenceNumber and RequestID are the sequence header (§6.7.2.4). When
	// the chunk is encrypted they are ciphertext; Conn decides.
	SequenceNumber uint32
	RequestID      uint32

	// Body is everything after the sequence header (OPN, MSG, CLO) or after
	// the 8-byte header (HEL, ACK, ERR, RHE). For signed chunks it ends with
	// padding and signature; for encrypted chunks it is ciphertext.
	Body []byte
	// Encrypted is the part of the chunk after the security header: the
	// bytes that are ciphertext when the channel encrypts.
	Encrypted []byte
	// Raw is the whole chunk.
	Raw []byte
}

// ErrMalformed is returned (wrapped) when bytes do not form a valid chunk;
// the Framer skips them and resynchronises.
var ErrMalformed = errors.New("opcua: malformed chunk")

// plausibleHeader checks the fixed header at b (len(b) >= headerLen) against
// the maximum chunk size. It returns the type and size, or 0.
func plausibleHeader(b []byte, max uint32) (MessageType, uint32) {
	t := parseMessageType(b)
	if t == 0 {
		return 0, 0
	}
	ct := ChunkType(b[3])
	switch ct {
	case ChunkFinal:
	case ChunkIntermediate, ChunkAbort:
		if !t.secure() {
			return 0, 0
		}
	default:
		return 0, 0
	}
	size := binary.LittleEndian.Uint32(b[4:8])
	if size < minChunkSize[t] || size > max {
		return 0, 0
	}
	if t == TypeACK && size != minChunkSize[TypeACK] {
		return 0, 0
	}
	return t, size
}

// parseChunk fills c from one complete chunk b (len(b) == size announced in
// its header, already checked by plausibleHeader).
func parseChunk(b []byte, c *Chunk) error {
	*c = Chunk{
		Type:      parseMessageType(b),
		ChunkType: ChunkType(b[3]),
		Size:      binary.LittleEndian.Uint32(b[4:8]),
		Raw:       b,
	}
	if !c.Type.secure() {
		c.Body = b[headerLen:]
		return nil
	}
	c.SecureChannelID = binary.LittleEndian.Uint32(b[8:12])
	p := b[secureHeaderLen:]
	if c.Type == TypeOPN {
		var err error
		if c.SecurityPolicyURI, p, err = readByteString(p, maxPolicyURILen); err != nil {
			return fmt.Errorf("%w: OPN security policy uri: %w", ErrMalformed, err)
		}
		if c.SenderCertificate, p, err = readByteString(p, len(p)); err != nil {
			return fmt.Errorf("%w: OPN sender certificate: %w", ErrMalformed, err)
		}
		if c.ReceiverThumbprint, p, err = readByteString(p, len(p)); err != nil {
			return fmt.Errorf("%w: OPN receiver thumbprint: %w", ErrMalformed, err)
		}
	} else {
		c.TokenID = binary.LittleEndian.Uint32(p)
		p = p[symHeaderLen:]
	}
	c.Encrypted = p
	if len(p) < sequenceHeaderLen {
		return fmt.Errorf("%w: %s chunk of %d bytes has no room for the sequence header", ErrMalformed, c.Type, len(b))
	}
	c.SequenceNumber = binary.LittleEndian.Uint32(p)
	c.RequestID = binary.LittleEndian.Uint32(p[4:])
	c.Body = p[sequenceHeaderLen:]
	return nil
}

var errShort = errors.New("length beyond end of chunk")

// readByteString reads an OPC UA ByteString/String (Int32 length, -1 = null;
// OPC 10000-6 §5.2.2.4) of at most max bytes.
func readByteString(b []byte, max int) (v, rest []byte, err error) {
	if len(b) < 4 {
		return nil, b, errShort
	}
	n := int32(binary.LittleEndian.Uint32(b))
	b = b[4:]
	if n == -1 || n == 0 {
		return nil, b, nil
	}
	if n < 0 || int(n) > len(b) {
		return nil, b, errShort
	}
	if int(n) > max {
		return nil, b, fmt.Errorf("length %d above limit %d", n, max)
	}
	return b[:n:n], b[n:], nil
}
