package simulator

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/server"
	"github.com/gopcua/opcua/server/attrs"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"
)

// OPC UA namespaces of the simulator. Index 1 is the server's own namespace,
// as on most products; the dam's tags are in index 2 (ns=2;s=Dam.…).
const (
	uaServerNamespace = "urn:sluice:sim:server"
	uaDamNamespace    = "urn:sluice:sim:dam"
	uaDamNS           = 2
)

// uaServer is the dam's OPC UA server: github.com/gopcua/opcua/server v0.8.0
// with every tag as a variable node, SecurityPolicy None, anonymous and
// user-name identity tokens, and a Write handler of ours.
type uaServer struct {
	srv *server.Server
	ns  *server.NodeNameSpace
	p   *Process
}

// uaLogger adapts a *log.Logger (nil: discard) to gopcua's server.Logger,
// so the library's warnings and errors reach the simulator's Logf instead of
// nowhere. Debug and Info (a line per service call) and the routine
// lifecycle lines of uaRoutine are dropped. gopcua v0.8.0 formats these
// messages printf-style. Its node-set import and "Started listening" lines
// go to the global log package directly; no option routes them.
type uaLogger struct{ l *log.Logger }

// uaRoutine are gopcua's formats for a client going away and for shutdown:
// normal events, not problems.
var uaRoutine = map[string]bool{
	"Secure Channel %d closed":                         true,
	"Context done, closing Secure Channel %d":          true,
	"socket closed: %s":                                true,
	"CloseAll: timed out waiting for channels to exit": true,
}

func (uaLogger) Debug(string, ...any) {}
func (uaLogger) Info(string, ...any)  {}

func (u uaLogger) Warn(msg string, args ...any) { u.Error(msg, args...) }

func (u uaLogger) Error(msg string, args ...any) {
	if u.l != nil && !uaRoutine[msg] {
		u.l.Printf("opc ua: "+strings.TrimSuffix(msg, "\n"), args...)
	}
}

// newUAServer builds the server for endpoint (opc.tcp://host:port) without
// starting it; logger (nil: discard) receives gopcua's warnings and errors.
func newUAServer(p *Process, endpoint string, logger *log.Logger) (*uaServer, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "opc.tcp" {
		return nil, fmt.Errorf("opc ua endpoint %q: want opc.tcp://host:port", endpoint)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return nil, fmt.Errorf("opc ua endpoint %q: port: %w", endpoint, err)
	}
	cert, key, err := uaCertificate()
	if err != nil {
		return nil, err
	}
	s := server.New(
		server.EndPoint(u.Hostname(), port),
		server.Certificate(cert),
		server.PrivateKey(key),
		server.EnableSecurity("None", ua.MessageSecurityModeNone),
		server.EnableAuthMode(ua.UserTokenTypeAnonymous),
		server.EnableAuthMode(ua.UserTokenTypeUserName),
		server.ServerName("Sluice dam simulator"),
		server.ManufacturerName("Sluice Automation"),
		server.ProductName("DC-400 OPC UA server"),
		server.SoftwareVersion("2.4.1"),
		server.SetLogger(uaLogger{logger}),
	)
	us := &uaServer{srv: s, p: p}
	// The stock Write handler dereferences a nil namespace when a client
	// writes to a namespace index that does not exist; ours validates every
	// item. RegisterHandler keeps the first handler for a type, and the
	// stock ones are registered only in Start, so ours wins.
	s.RegisterHandler(id.WriteRequest_Encoding_DefaultBinary, us.write)
	// The stock Call handler answers every call with a service fault.
	s.RegisterHandler(id.CallRequest_Encoding_DefaultBinary, us.call)
	server.NewNodeNameSpace(s, uaServerNamespace)
	us.ns = server.NewNodeNameSpace(s, uaDamNamespace)
	if us.ns.ID() != uaDamNS {
		return nil, fmt.Errorf("opc ua: dam namespace got index %d, want %d", us.ns.ID(), uaDamNS)
	}
	root, err := s.Namespace(0)
	if err != nil {
		return nil, fmt.Errorf("opc ua: namespace 0: %w", err)
	}
	dam := folderNode(ua.NewStringNodeID(uaDamNS, "Dam"), "Dam")
	us.ns.AddNode(dam)
	root.Objects().AddRef(dam, id.Organizes, true)
	for i := range Tags {
		t := &Tags[i]
		dam.AddRef(us.ns.AddNode(us.variable(t)), id.HasComponent, true)
	}
	dam.AddRef(us.ns.AddNode(methodNode(ua.NewStringNodeID(uaDamNS, MethodAckAlarms), MethodAckAlarms)), id.HasComponent, true)
	return us, nil
}

// folderNode builds a FolderType object. server.NewFolderNode of v0.8.0
// panics (it makes a variant of a NodeClass), so this builds it directly.
func folderNode(nid *ua.NodeID, name string) *server.Node {
	return server.NewNode(nid,
		map[ua.AttributeID]*ua.DataValue{
			ua.AttributeIDNodeClass:     server.DataValueFromValue(uint32(ua.NodeClassObject)),
			ua.AttributeIDBrowseName:    server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: nid.Namespace(), Name: name}),
			ua.AttributeIDDisplayName:   server.DataValueFromValue(attrs.DisplayName(name, "en")),
			ua.AttributeIDDescription:   server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: "the dam's process tags"}),
			ua.AttributeIDEventNotifier: server.DataValueFromValue(byte(0)),
		},
		[]*ua.ReferenceDescription{{
			ReferenceTypeID: ua.NewNumericNodeID(0, id.HasTypeDefinition),
			IsForward:       true,
			NodeID:          ua.NewNumericExpandedNodeID(0, id.FolderType),
			BrowseName:      &ua.QualifiedName{Name: "FolderType"},
			DisplayName:     &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: "FolderType"},
			NodeClass:       ua.NodeClassObjectType,
			TypeDefinition:  ua.NewTwoByteExpandedNodeID(0),
		}},
		nil,
	)
}

// MethodAckAlarms is the Dam object's one method: acknowledge latched alarms,
// as writing the alarm-acknowledge coil does (ns=2;s=Dam.AcknowledgeAlarms,
// no arguments).
const MethodAckAlarms = "Dam.AcknowledgeAlarms"

func methodNode(nid *ua.NodeID, name string) *server.Node {
	return server.NewNode(nid,
		map[ua.AttributeID]*ua.DataValue{
			ua.AttributeIDNodeClass:      server.DataValueFromValue(uint32(ua.NodeClassMethod)),
			ua.AttributeIDBrowseName:     server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: nid.Namespace(), Name: name}),
			ua.AttributeIDDisplayName:    server.DataValueFromValue(attrs.DisplayName(name, "en")),
			ua.AttributeIDDescription:    server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: "acknowledge latched alarms"}),
			ua.AttributeIDExecutable:     server.DataValueFromValue(true),
			ua.AttributeIDUserExecutable: server.DataValueFromValue(true),
		},
		nil, nil)
}

// call is the Call service (OPC UA Part 4, 5.11.2) for the Dam object's
// method; any other object or method is Bad_MethodInvalid.
func (us *uaServer) call(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
	req, ok := r.(*ua.CallRequest)
	if !ok || req.RequestHeader == nil {
		return nil, ua.StatusBadRequestTypeInvalid
	}
	results := make([]*ua.CallMethodResult, len(req.MethodsToCall))
	for i, m := range req.MethodsToCall {
		st := ua.StatusBadMethodInvalid
		if m != nil && m.ObjectID != nil && m.MethodID != nil &&
			m.ObjectID.Namespace() == uaDamNS && m.ObjectID.StringID() == "Dam" &&
			m.MethodID.Namespace() == uaDamNS && m.MethodID.StringID() == MethodAckAlarms {
			st = ua.StatusOK
			if len(m.InputArguments) != 0 {
				st = ua.StatusBadTooManyArguments
			} else if err := us.p.Set(TagAlarmAck, 1); err != nil {
				st = ua.StatusBadInternalError
			}
		}
		results[i] = &ua.CallMethodResult{StatusCode: st, InputArgumentResults: []ua.StatusCode{},
			InputArgumentDiagnosticInfos: []*ua.DiagnosticInfo{}, OutputArguments: []*ua.Variant{}}
	}
	return &ua.CallResponse{
		ResponseHeader:  goodHeader(req.RequestHeader),
		Results:         results,
		DiagnosticInfos: []*ua.DiagnosticInfo{},
	}, nil
}

// goodHeader is the header of a successful response to a request with
// header h, every optional part present and empty as gopcua's encoder needs.
// (The capture path rewrites the timestamp to simulated time.)
func goodHeader(h *ua.RequestHeader) *ua.ResponseHeader {
	return &ua.ResponseHeader{
		Timestamp:          time.Now(),
		RequestHandle:      h.RequestHandle,
		ServiceResult:      ua.StatusOK,
		ServiceDiagnostics: &ua.DiagnosticInfo{},
		StringTable:        []string{},
		AdditionalHeader:   ua.NewExtensionObject(nil),
	}
}

// variable builds the node of t: value read from the process on every Read,
// data type Double or Boolean, access level from Writable.
func (us *uaServer) variable(t *Tag) *server.Node {
	access := byte(ua.AccessLevelTypeCurrentRead)
	if t.Writable {
		access |= byte(ua.AccessLevelTypeCurrentWrite)
	}
	dt := ua.NewNumericExpandedNodeID(0, id.Double)
	if t.Kind == Bool {
		dt = ua.NewNumericExpandedNodeID(0, id.Boolean)
	}
	desc := t.Desc
	if t.Unit != "" {
		desc += " [" + t.Unit + "]"
	}
	name := t.Name
	return server.NewNode(
		ua.NewStringNodeID(uaDamNS, t.Name),
		map[ua.AttributeID]*ua.DataValue{
			ua.AttributeIDNodeClass:       server.DataValueFromValue(uint32(ua.NodeClassVariable)),
			ua.AttributeIDBrowseName:      server.DataValueFromValue(&ua.QualifiedName{NamespaceIndex: uaDamNS, Name: name}),
			ua.AttributeIDDisplayName:     server.DataValueFromValue(attrs.DisplayName(name, "en")),
			ua.AttributeIDDescription:     server.DataValueFromValue(&ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: desc}),
			ua.AttributeIDDataType:        server.DataValueFromValue(dt),
			ua.AttributeIDValueRank:       server.DataValueFromValue(int32(-1)),
			ua.AttributeIDAccessLevel:     server.DataValueFromValue(access),
			ua.AttributeIDUserAccessLevel: server.DataValueFromValue(access),
		},
		nil,
		func() *ua.DataValue {
			v := us.p.Get(name)
			var val any = v
			if t.Kind == Bool {
				val = v != 0
			}
			return &ua.DataValue{
				EncodingMask:    ua.DataValueValue | ua.DataValueSourceTimestamp,
				Value:           ua.MustVariant(val),
				SourceTimestamp: time.Now(),
			}
		},
	)
}

// start listens and, because gopcua v0.8.0 advertises user-name tokens only
// on secured policies, adds two user-name token policies to the None
// endpoint (OPC UA Part 4, 7.41): first one whose password is encrypted for
// the server's certificate (SecurityPolicy Basic256Sha256), as the plant's
// clients use, then one in clear (allowed, the client is warned the password
// travels in clear: the opcua_cleartext_login scenario's). The server never
// checks passwords: it is a simulator.
func (us *uaServer) start(ctx context.Context) error {
	if err := us.srv.Start(ctx); err != nil {
		return fmt.Errorf("opc ua server: %w", err)
	}
	for _, ep := range us.srv.Endpoints() {
		ep.UserIdentityTokens = append(ep.UserIdentityTokens, &ua.UserTokenPolicy{
			PolicyID:          "username_rsa_oaep_sha256",
			TokenType:         ua.UserTokenTypeUserName,
			SecurityPolicyURI: ua.SecurityPolicyURIBasic256Sha256,
		}, &ua.UserTokenPolicy{
			PolicyID:          "username_none",
			TokenType:         ua.UserTokenTypeUserName,
			SecurityPolicyURI: "http://opcfoundation.org/UA/SecurityPolicy#None",
		})
	}
	return nil
}

func (us *uaServer) close() error { return us.srv.Close() }

// write is the Write service (OPC UA Part 4, 5.10.4) for the dam's nodes:
// every item is checked (namespace, node, attribute, writability, type,
// range) and answered with its own status code; nothing a client sends can
// make it panic.
func (us *uaServer) write(_ *uasc.SecureChannel, r ua.Request, _ uint32) (ua.Response, error) {
	req, ok := r.(*ua.WriteRequest)
	if !ok || req.RequestHeader == nil {
		return nil, ua.StatusBadRequestTypeInvalid
	}
	results := make([]ua.StatusCode, len(req.NodesToWrite))
	for i, n := range req.NodesToWrite {
		results[i] = us.writeOne(n)
	}
	return &ua.WriteResponse{
		ResponseHeader:  goodHeader(req.RequestHeader),
		Results:         results,
		DiagnosticInfos: []*ua.DiagnosticInfo{},
	}, nil
}

func (us *uaServer) writeOne(n *ua.WriteValue) ua.StatusCode {
	if n == nil || n.NodeID == nil {
		return ua.StatusBadNodeIDInvalid
	}
	if n.NodeID.Namespace() != uaDamNS || n.NodeID.Type() != ua.NodeIDTypeString {
		return ua.StatusBadNodeIDUnknown
	}
	t := TagByName(n.NodeID.StringID())
	if t == nil {
		return ua.StatusBadNodeIDUnknown
	}
	if n.AttributeID != ua.AttributeIDValue {
		return ua.StatusBadNotWritable
	}
	if !t.Writable {
		return ua.StatusBadNotWritable
	}
	if n.IndexRange != "" {
		return ua.StatusBadIndexRangeInvalid
	}
	if n.Value == nil || n.Value.Value == nil {
		return ua.StatusBadTypeMismatch
	}
	v, ok := number(n.Value.Value.Value())
	if !ok || (t.Kind == Bool) != isBool(n.Value.Value.Value()) {
		return ua.StatusBadTypeMismatch
	}
	if err := us.p.Set(t.Name, v); err != nil {
		if errors.Is(err, ErrOutOfRange) {
			return ua.StatusBadOutOfRange
		}
		return ua.StatusBadNotWritable
	}
	us.ns.ChangeNotification(n.NodeID)
	return ua.StatusOK
}

func isBool(v any) bool { _, ok := v.(bool); return ok }

// number converts a scalar variant value to float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case float64:
		return x, !math.IsNaN(x)
	case float32:
		return float64(x), !math.IsNaN(float64(x))
	case int8:
		return float64(x), true
	case uint8:
		return float64(x), true
	case int16:
		return float64(x), true
	case uint16:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// gopcuaNodeID is t's node id as gopcua's server keys it.
func gopcuaNodeID(t *Tag) *ua.NodeID { return ua.NewStringNodeID(uaDamNS, t.Name) }
