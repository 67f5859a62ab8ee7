package baselines

import (
	"net/netip"
	"time"
)

// Protocol is the industrial protocol of an observation.
type Protocol uint8

const (
	// Modbus is Modbus/TCP (Modbus Messaging on TCP/IP Implementation
	// Guide v1.0b).
	Modbus Protocol = 1
	// OPCUA is OPC UA Binary over TCP (OPC 10000-6 §7).
	OPCUA Protocol = 2
)

func (p Protocol) String() string {
	switch p {
	case Modbus:
		return "modbus"
	case OPCUA:
		return "opcua"
	}
	return "unknown"
}

// Table is a Modbus data table (Modbus Application Protocol v1.1b3, 4.3).
type Table uint8

const (
	NoTable          Table = iota
	Coils                  // 0x: read/write bits (FC 1, 5, 15)
	DiscreteInputs         // 1x: read-only bits (FC 2)
	InputRegisters         // 3x: read-only words (FC 4)
	HoldingRegisters       // 4x: read/write words (FC 3, 6, 16, 22, 23)
	numTables
)

func (t Table) String() string {
	switch t {
	case Coils:
		return "coils"
	case DiscreteInputs:
		return "discrete_inputs"
	case InputRegisters:
		return "input_registers"
	case HoldingRegisters:
		return "holding_registers"
	}
	return "none"
}

// Range is a contiguous run of Modbus addresses [Start, Start+Count).
// Count 0 means no range.
type Range struct {
	Start uint16 `json:"start"`
	Count uint16 `json:"count"`
}

// End returns the first address after the range, as a uint32 so that a range
// ending at 65535 does not wrap.
func (r Range) End() uint32 { return uint32(r.Start) + uint32(r.Count) }

// Endpoints is the flow context of an input. Ports are carried only so that
// alerts can name the connection; the baseline never keys on them (except
// the OPC UA server port, which names the endpoint).
type Endpoints struct {
	// FlowID is the flow_id of the connection (flow.Conn.ID).
	FlowID     uint64
	ClientIP   netip.Addr
	ServerIP   netip.Addr
	ClientMAC  [6]byte // zero when the link type has none
	ServerMAC  [6]byte
	ClientPort uint16
	ServerPort uint16
}

// Observation is one request/response transaction, decoded by a protocol
// package and converted by the agent. Exactly one of Modbus or OPCUA is
// meaningful, as told by Protocol.
//
// Strings and slices are read during the call to Observe only, except that
// strings may be kept as map keys: they must be ordinary Go strings, not
// views of a reused buffer. Slices (Values, Read, Written, Called) may be
// reused by the caller after Observe returns.
type Observation struct {
	Time     time.Time // packet time of the response (or of the request on timeout)
	Protocol Protocol
	Endpoints
	// Responded is true when a response was paired with the request. Only
	// responded transactions without an exception (Modbus) or with a Good
	// service result (OPC UA) are learned.
	Responded bool
	Modbus    ModbusObs
	OPCUA     OPCUAObs

	// hotHint is where Observe last found the channel in its lookup
	// cache: a caller that reuses one Observation per connection (the
	// agent does) spares Observe the hash of the channel key. Observe
	// checks the key it finds there, so any value is safe.
	hotHint uint16
}

// ModbusObs is the Modbus part of an Observation (Modbus Application
// Protocol v1.1b3, section 6 for the function codes).
type ModbusObs struct {
	TransactionID uint16
	Unit          uint8
	// Function is the request's function code, without the 0x80 exception
	// bit.
	Function uint8
	// Exception is the exception code of the response (section 7), 0 when
	// the response was normal.
	Exception uint8
	// Timeout is true when no response came before the pairing deadline.
	Timeout bool
	// SubFunction is the FC 8 diagnostics sub-function (6.8).
	SubFunction uint16
	// MEIType is the FC 43 MEI type (13 CANopen, 14 device identification;
	// 6.21).
	MEIType uint8
	// ReadTable/Read is the address range read (FC 1-4, 23).
	ReadTable Table
	Read      Range
	// WriteTable/Write is the address range written (FC 5, 6, 15, 16, 22,
	// 23).
	WriteTable Table
	Write      Range
	// Values are the written values: Values[i] was written to
	// Write.Start+i. Coils are 0 or 1. Empty for FC 22 (mask write).
	Values []uint16
	// Ident is the identity reported by FC 43/14 or FC 17; nil otherwise.
	Ident *DeviceIdent
}

// DeviceIdent is the identity a Modbus device reports about itself:
// FC 43/14 objects 0x00-0x06 (6.21) and the FC 17 server id (6.13). Every
// field is attacker-controlled text.
type DeviceIdent struct {
	VendorName  string `json:"vendor_name,omitempty"`
	ProductCode string `json:"product_code,omitempty"`
	Revision    string `json:"revision,omitempty"`
	VendorURL   string `json:"vendor_url,omitempty"`
	ProductName string `json:"product_name,omitempty"`
	ModelName   string `json:"model_name,omitempty"`
	UserAppName string `json:"user_application_name,omitempty"`
	ServerID    string `json:"server_id,omitempty"` // FC 17, hex or text
}

// TokenType is an OPC UA user identity token type (OPC 10000-4 §7.36).
type TokenType uint8

const (
	TokenUnknown   TokenType = iota // not (yet) seen on this session
	TokenAnonymous                  // AnonymousIdentityToken
	TokenUserName                   // UserNameIdentityToken
	TokenX509                       // X509IdentityToken
	TokenIssued                     // IssuedIdentityToken
)

func (t TokenType) String() string {
	return [...]string{"unknown", "anonymous", "username", "x509", "issued"}[t%5]
}

// SecurityMode is an OPC UA MessageSecurityMode (OPC 10000-4 §7.20).
type SecurityMode uint8

const (
	SecurityUnknown        SecurityMode = 0
	SecurityNone           SecurityMode = 1
	SecuritySign           SecurityMode = 2
	SecuritySignAndEncrypt SecurityMode = 3
)

func (m SecurityMode) String() string {
	return [...]string{"unknown", "none", "sign", "sign_and_encrypt"}[m%4]
}

// OPCUAObs is the OPC UA part of an Observation: one service call with the
// session context the agent tracks per connection. Context fields the agent
// has not seen (mid-stream pick-up) are left zero and are then neither
// learned nor judged.
type OPCUAObs struct {
	// Service is the service name without the Request suffix, as in OPC
	// 10000-4 §5: "OpenSecureChannel", "CreateSession", "ActivateSession",
	// "Read", "Write", "Call", "Browse", "CreateSubscription", "Publish"...
	Service string
	// Status is the response's ServiceResult (0 = Good).
	Status uint32
	// Channel and session context.
	EndpointURL    string
	SecurityPolicy string // policy URI, e.g. http://opcfoundation.org/UA/SecurityPolicy#None
	SecurityMode   SecurityMode
	Token          TokenType
	User           string // user name of a UserNameIdentityToken
	// Client description from CreateSession.
	ClientAppURI     string
	ClientProductURI string
	// Server description (CreateSession response, or a read of the
	// ServerStatus node).
	Server *ServerInfo
	// Node ids as strings in the standard notation ("ns=2;s=Gate1.Setpoint").
	Read    []string
	Written []NodeValue
	// Called holds the method node ids of a Call ("ns=2;s=Dam/ns=2;s=Reset"
	// form is not required: the method id alone names the item).
	Called []string
}

// NodeValue is one written attribute value.
type NodeValue struct {
	Node string
	// Value is the written value when Numeric; non-numeric writes are
	// judged by node only.
	Value   float64
	Numeric bool
}

// ServerInfo is what an OPC UA server says about itself (ApplicationDescription
// and BuildInfo, OPC 10000-5 §12.4). Attacker-controlled text.
type ServerInfo struct {
	AppURI           string `json:"application_uri,omitempty"`
	ProductURI       string `json:"product_uri,omitempty"`
	ManufacturerName string `json:"manufacturer_name,omitempty"`
	ProductName      string `json:"product_name,omitempty"`
	SoftwareVersion  string `json:"software_version,omitempty"`
	BuildNumber      string `json:"build_number,omitempty"`
}

// AnomalyKind says what a decoder could not accept.
type AnomalyKind uint8

const (
	// Malformed: the bytes claim to be the protocol but break it (bad MBAP
	// length or protocol id, truncated PDU, bad UACP header).
	Malformed AnomalyKind = 1
	// NonProtocol: the stream on the protocol's port is not the protocol at
	// all (e.g. HTTP or random bytes on 502).
	NonProtocol AnomalyKind = 2
)

func (k AnomalyKind) String() string {
	switch k {
	case Malformed:
		return "malformed"
	case NonProtocol:
		return "non_protocol_traffic"
	}
	return "unknown"
}

// Anomaly is a decoder complaint with its flow context.
type Anomaly struct {
	Time     time.Time
	Protocol Protocol
	Kind     AnomalyKind
	Endpoints
	// Detail is a short fixed reason chosen by the decoder ("mbap length
	// 300 exceeds 254"); it is copied into the alert signature.
	Detail string
}
