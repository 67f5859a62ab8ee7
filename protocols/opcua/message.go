package opcua

import (
	"time"

	"github.com/gopcua/opcua/ua"
)

// SecurityMode is the MessageSecurityMode of a secure channel
// (OPC 10000-4 §7.20). ModeUnknown means it could not be determined.
type SecurityMode uint8

// Security modes; the values match ua.MessageSecurityMode.
const (
	ModeUnknown        SecurityMode = 0
	ModeNone           SecurityMode = 1
	ModeSign           SecurityMode = 2
	ModeSignAndEncrypt SecurityMode = 3
)

// String returns the name used in events ("SignAndEncrypt"), or "" when
// unknown.
func (m SecurityMode) String() string {
	switch m {
	case ModeNone:
		return "None"
	case ModeSign:
		return "Sign"
	case ModeSignAndEncrypt:
		return "SignAndEncrypt"
	}
	return ""
}

// IdentityType is the kind of user identity token given in ActivateSession
// (OPC 10000-4 §7.36).
type IdentityType uint8

// Identity token types.
const (
	IdentityUnknown IdentityType = iota
	IdentityAnonymous
	IdentityUserName
	IdentityX509
	IdentityIssued
)

// String returns the name used in events ("username"), or "" when unknown.
func (t IdentityType) String() string {
	switch t {
	case IdentityAnonymous:
		return "anonymous"
	case IdentityUserName:
		return "username"
	case IdentityX509:
		return "x509"
	case IdentityIssued:
		return "issued"
	}
	return ""
}

// Channel is what is known of a secure channel (OPC 10000-6 §6.7.4).
type Channel struct {
	ID      uint32
	TokenID uint32
	// SecurityPolicy is the SecurityPolicyUri of the OPN asymmetric
	// security header; "" when no OPN was seen.
	SecurityPolicy string
	Mode           SecurityMode
	// ModeInferred is true when Mode was not read from an
	// OpenSecureChannelRequest but inferred from the traffic (an encrypted
	// OPN followed by plaintext MSG bodies means Sign).
	ModeInferred bool
	// SenderThumbprint is the lowercase hex SHA-1 of the client's
	// certificate (the first one of the OPN's SenderCertificate chain),
	// SenderSubject its subject when it parses as X.509.
	SenderThumbprint string
	SenderSubject    string
	// ServerThumbprint and ServerSubject are the same for the server's
	// certificate from the OPN response, ServerNotAfter the end of its
	// validity (RFC 3339).
	ServerThumbprint string
	ServerSubject    string
	ServerNotAfter   string
	// ReceiverThumbprint is the hex ReceiverCertificateThumbprint of the
	// client's OPN: the server certificate the client encrypts for.
	ReceiverThumbprint string
}

// Certificate names an X.509 certificate seen on the wire: Thumbprint is
// the lowercase hex SHA-1 of its DER, Subject and NotAfter (RFC 3339, UTC)
// are "" when it does not parse.
type Certificate struct {
	Thumbprint, Subject, NotAfter string
}

// Session is what is known of the session a message belongs to
// (OPC 10000-4 §5.6.2, §5.6.3).
type Session struct {
	// ID is the SessionId and AuthenticationToken the token in standard
	// node id notation; requests carry the token, which links them to the
	// session.
	ID                    string
	AuthenticationToken   string
	Name                  string
	ClientApplicationURI  string
	ClientProductURI      string
	ClientApplicationName string
	EndpointURL           string
	Identity              IdentityType
	// User is the UserName of a username token; CertThumbprint the hex
	// SHA-1 of an x509 token's certificate.
	User           string
	CertThumbprint string
	// PasswordCleartext is set on an ActivateSession request whose
	// username token carries its password unencrypted (no
	// EncryptionAlgorithm) on a channel Sluice could read: anyone on the
	// network has it. PasswordLength is its length in bytes. The password
	// itself is never kept.
	PasswordCleartext bool
	PasswordLength    int
	// Activated is true after a Good ActivateSessionResponse.
	Activated bool
}

// Hello carries the fields of HEL and ACK (OPC 10000-6 §7.1.2.3, §7.1.2.4).
type Hello struct {
	ProtocolVersion   uint32
	ReceiveBufferSize uint32
	SendBufferSize    uint32
	MaxMessageSize    uint32
	MaxChunkCount     uint32
	EndpointURL       string // HEL only
}

// Error carries the fields of ERR (OPC 10000-6 §7.1.2.5).
type Error struct {
	Status ua.StatusCode
	Reason string
}

// Message is one decoded exchange: a request with its response, an unpaired
// request or response, or a HEL/ACK/ERR/RHE/OPN/CLO. A Message passed to the
// emit function is never reused by the Conn: the receiver may keep it.
type Message struct {
	Type MessageType
	// Time is the packet time of the first (request) chunk; ResponseTime
	// that of the final response chunk, zero when there is no response.
	Time         time.Time
	ResponseTime time.Time
	// FromServer is true when the message (or, unpaired, its only half) was
	// sent by the server.
	FromServer bool
	// Channel is a snapshot of the secure channel state when the message
	// completed.
	Channel Channel
	// Session is a snapshot of the session linked through the request's
	// authentication token; nil when none is known.
	Session *Session
	// Request and Response are the decoded service halves (also for OPN
	// and CLO); either may be nil.
	Request  *Service
	Response *Service
	// Hello is set for HEL and ACK, Error for ERR, ReverseHello for RHE.
	Hello        *Hello
	Error        *Error
	ReverseHello *ReverseHello
	// RequestID is the sequence header RequestId pairing the halves.
	RequestID uint32
	// RequestSize and ResponseSize are the bytes of the halves on the wire
	// (all chunks, headers included).
	RequestSize  int
	ResponseSize int
	// Encrypted is true when the bodies were encrypted and only metadata
	// is reported.
	Encrypted bool
	// Unpaired says why a request or response is alone: "timeout"
	// (PendingTimeout of packet time), "evicted" (MaxPending), "replaced"
	// (request id reused), "closed" (connection ended), "unsolicited" (a
	// response without its request). Empty for pairs and for messages that
	// have no response (HEL, ACK, ERR, RHE, CLO).
	Unpaired string
}

// ReverseHello carries the fields of RHE (OPC 10000-6 §7.1.2.6).
type ReverseHello struct {
	ServerURI   string
	EndpointURL string
}

// Latency is the time from request to response, zero when unpaired.
func (m *Message) Latency() time.Duration {
	if m.Request == nil || m.Response == nil || m.ResponseTime.IsZero() {
		return 0
	}
	return m.ResponseTime.Sub(m.Time)
}

// Service is one decoded service request or response (OPC 10000-4 §5).
// Only the slices relevant to the service are set.
type Service struct {
	// Name is the service type name ("WriteRequest"); ID the numeric
	// identifier of its DefaultBinary encoding node (WriteRequest: 673),
	// which is Wireshark's opcua.servicenodeid.numeric.
	Name string
	ID   uint32
	// RequestHandle comes from the RequestHeader or ResponseHeader.
	RequestHandle uint32
	// Status is the ResponseHeader ServiceResult (responses, ServiceFault).
	Status ua.StatusCode
	// Decoded is false when the body could not be decoded (encrypted,
	// too large, unknown service, malformed); DecodeError says why.
	// HeaderDecoded is true when, although the body was not decoded, its
	// Request/ResponseHeader was: RequestHandle, Status and the session
	// link are then valid.
	Decoded       bool
	DecodeError   string
	HeaderDecoded bool

	Reads       []ReadItem
	Writes      []WriteItem
	Calls       []CallItem
	Browses     []BrowseItem
	BrowsePaths []BrowsePathItem
	// ContinuationPoints counts BrowseNext continuation points.
	ContinuationPoints int
	MonitoredItems     []MonitoredItem
	HistoryNodes       []string // HistoryRead/HistoryUpdate node ids
	HistoryDetails     string   // HistoryRead/HistoryUpdate details type name
	AddNodes           []AddNodesItem
	DeleteNodes        []string
	AddReferences      []AddReferencesItem
	Servers            []Application // FindServers, GetEndpoints (deduplicated)
	Endpoints          []Endpoint    // GetEndpoints, CreateSession response
	Subscription       *Subscription // CreateSubscription, Publish, Republish
	// Results are the per-item status codes of a response (Write, Call,
	// Browse, CreateMonitoredItems, AddNodes, ...). Values are the values
	// of a Read response (or Call output arguments, flattened).
	Results []ua.StatusCode
	Values  []Value
	// DataChanges are the values a Publish or Republish response
	// notifies, at most MaxDataChanges.
	DataChanges []DataChange
	// ServerCertificate is the server's certificate a CreateSession
	// response carries (ServerCertificate), or the first one of a
	// GetEndpoints response's endpoints (OPC 10000-4 §5.6.2, §5.4.4):
	// visible even when the channel's policy is None.
	ServerCertificate *Certificate
	// Build is the server build information when a Read response carries a
	// BuildInfo or ServerStatus value.
	Build *BuildInfo
	// SecureChannel carries OpenSecureChannel details.
	SecureChannel *SecureChannelInfo
	// SessionInfo carries CreateSession/ActivateSession details.
	SessionInfo *Session

	// authToken is the request's AuthenticationToken, linking it to a
	// session.
	authToken string
}

// ReadItem is one ReadValueId (OPC 10000-4 §7.29).
type ReadItem struct {
	NodeID      string
	AttributeID uint32
	IndexRange  string
}

// WriteItem is one WriteValue (OPC 10000-4 §5.11.4).
type WriteItem struct {
	NodeID      string
	AttributeID uint32
	IndexRange  string
	Value       Value
}

// CallItem is one CallMethodRequest (OPC 10000-4 §5.11.2).
type CallItem struct {
	ObjectID string
	MethodID string
	Inputs   []Value
}

// BrowseItem is one BrowseDescription (OPC 10000-4 §5.8.2).
type BrowseItem struct {
	NodeID          string
	Direction       string // forward, inverse, both
	ReferenceTypeID string
}

// BrowsePathItem is one BrowsePath (OPC 10000-4 §5.8.4): the starting node
// and the relative path in the text notation of OPC 10000-4 A.2
// ("/2:Dam/2:Level").
type BrowsePathItem struct {
	StartingNode string
	Path         string
}

// MonitoredItem is one MonitoredItemCreateRequest (OPC 10000-4 §5.12.2).
type MonitoredItem struct {
	NodeID           string
	AttributeID      uint32
	SamplingInterval float64
	QueueSize        uint32
	// ClientHandle is the client's handle of the item (its
	// RequestedParameters): the data change notifications of Publish
	// responses name the item by it.
	ClientHandle uint32
}

// DataChange is one MonitoredItemNotification of a Publish or Republish
// response's DataChangeNotification (OPC 10000-4 §7.22.2): the value of
// the item the client named ClientHandle. NodeID and AttributeID are those
// the CreateMonitoredItems exchange of the same connection gave the
// handle, "" and 0 when it was not seen (a capture picked up after the
// subscription was made).
type DataChange struct {
	ClientHandle uint32
	NodeID       string
	AttributeID  uint32
	Status       ua.StatusCode
	Value        Value
}

// AddNodesItem is one AddNodesItem (OPC 10000-4 §5.7.2).
type AddNodesItem struct {
	ParentNodeID    string
	RequestedNodeID string
	BrowseName      string
	NodeClass       string
}

// AddReferencesItem is one AddReferencesItem (OPC 10000-4 §5.7.3).
type AddReferencesItem struct {
	SourceNodeID    string
	ReferenceTypeID string
	TargetNodeID    string
}

// Application is an ApplicationDescription (OPC 10000-4 §7.1).
type Application struct {
	URI        string
	ProductURI string
	Name       string
	Type       string
}

// Endpoint is the security part of an EndpointDescription
// (OPC 10000-4 §7.14).
type Endpoint struct {
	URL            string
	SecurityPolicy string
	Mode           SecurityMode
	// TokenTypes lists the user identity token types offered.
	TokenTypes []IdentityType
}

// Subscription carries CreateSubscription/Publish/Republish fields
// (OPC 10000-4 §5.13).
type Subscription struct {
	ID                 uint32
	PublishingInterval float64
	// SequenceNumber is the NotificationMessage sequence number (Publish
	// and Republish responses) or the retransmit sequence number
	// (Republish requests).
	SequenceNumber uint32
	// Notifications counts the data change notifications in a response.
	Notifications int
}

// BuildInfo is OPC 10000-5 §12.4.
type BuildInfo struct {
	ProductURI       string
	ManufacturerName string
	ProductName      string
	SoftwareVersion  string
	BuildNumber      string
}

// SecureChannelInfo carries OpenSecureChannel request/response fields
// (OPC 10000-4 §5.5.2).
type SecureChannelInfo struct {
	RequestType       string // issue, renew
	Mode              SecurityMode
	RequestedLifetime uint32
	ChannelID         uint32
	TokenID           uint32
	RevisedLifetime   uint32
}

// Value is a decoded Variant (OPC 10000-6 §5.2.2.16), reduced to what an
// event and a baseline need.
type Value struct {
	// Type is the built-in type name ("Double"); "" for a null variant.
	Type string
	// Number is set (IsNumber true) for numeric and Boolean scalars.
	Number   float64
	IsNumber bool
	// Text is the value of String, LocalizedText, QualifiedName, NodeId,
	// Guid, StatusCode and DateTime scalars in text form.
	Text string
	// ArrayLength is the number of elements of an array value (-1 for a
	// scalar); Array holds the first MaxArrayValues elements.
	ArrayLength int
	Array       []Value
}

// Float returns the value as a float64 when it is a numeric or Boolean
// scalar.
func (v Value) Float() (float64, bool) { return v.Number, v.IsNumber }
