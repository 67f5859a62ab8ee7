package opcua

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// Service type ids (DefaultBinary encoding node ids, OPC 10000-6 §5.2.2.15;
// the numbers are those of the NodeIds.csv of the specification).
const (
	idServiceFault               = id.ServiceFault_Encoding_DefaultBinary
	idOpenSecureChannelRequest   = id.OpenSecureChannelRequest_Encoding_DefaultBinary
	idOpenSecureChannelResponse  = id.OpenSecureChannelResponse_Encoding_DefaultBinary
	idCloseSecureChannelRequest  = id.CloseSecureChannelRequest_Encoding_DefaultBinary
	idCloseSecureChannelResponse = id.CloseSecureChannelResponse_Encoding_DefaultBinary
)

// ErrEncrypted is the DecodeError of a body that is ciphertext (reported
// as "encrypted" in events).
var ErrEncrypted = errors.New("encrypted")

// errPanic marks a codec panic turned into an error.
var errPanic = errors.New("codec panic")

// serviceName returns the type name of a service id ("ReadRequest"), from
// gopcua's id table, or "" when unknown.
func serviceName(n uint32) string {
	s := id.Name(n)
	if strings.HasSuffix(s, "_Encoding_DefaultBinary") {
		return strings.TrimSuffix(s, "_Encoding_DefaultBinary")
	}
	return ""
}

// decodeBody decodes a service body (type id + encoded structure) with
// gopcua's codec under recover, after the guard has checked its array
// lengths. It returns the Service (never nil), the decoded gopcua value
// (nil on failure), and how many bytes the structure took, from which the
// caller infers a trailing signature.
func decodeBody(body []byte, maxSize int) (svc *Service, v any, used int, err error) {
	return decodeBodyWith(body, maxSize, true)
}

// decodeBodyWith is decodeBody with the fast path optional (tests compare
// both).
func decodeBodyWith(body []byte, maxSize int, fast bool) (svc *Service, v any, used int, err error) {
	svc = &Service{}
	// The type id is read by hand so that even a body the codec rejects is
	// named (OPC 10000-6 §5.2.2.9: four-byte encoding 0x01 ns id id, or
	// two-byte 0x00 id).
	tid, n, ok := peekTypeID(body)
	if !ok {
		err = fmt.Errorf("%w: no service type id", ErrMalformed)
		svc.DecodeError = err.Error()
		return svc, nil, 0, err
	}
	svc.ID = tid
	svc.Name = serviceName(tid)
	if len(body) > maxSize {
		err = fmt.Errorf("body of %d bytes above the decode limit of %d", len(body), maxSize)
		svc.DecodeError = err.Error()
		salvage(svc, body[n:])
		return svc, nil, 0, err
	}
	if fast {
		if used, ok := fastDecode(svc, tid, body[n:]); ok {
			svc.Decoded = true
			return svc, nil, n + used, nil
		}
	}
	*svc = Service{ID: tid, Name: svc.Name} // drop what the fast path filled
	size, gerr := guard(body[n:], tid)
	if gerr != nil {
		err = fmt.Errorf("%w: %w", ErrMalformed, gerr)
		svc.DecodeError = err.Error()
		salvage(svc, body[n:])
		return svc, nil, 0, err
	}
	v, err = safeDecode(body)
	if err != nil {
		svc.DecodeError = err.Error()
		salvage(svc, body[n:])
		return svc, nil, 0, err
	}
	if svc.Name == "" {
		svc.Name = reflect.TypeOf(v).Elem().Name()
	}
	svc.Decoded = true
	extract(svc, v)
	if size >= 0 {
		used = n + size
	}
	return svc, v, used, nil
}

// salvage reads the RequestHeader or ResponseHeader of a body the codec
// could not decode (too large, a Variant gopcua rejects): the request
// handle, the service result and the session link survive.
func salvage(svc *Service, b []byte) {
	var h Service
	r := &reader{b: b}
	switch {
	case svc.ID == idServiceFault || strings.HasSuffix(svc.Name, "Response"):
		r.responseHeader(&h)
	case strings.HasSuffix(svc.Name, "Request"):
		r.requestHeader(&h)
	default:
		return
	}
	if r.bad {
		return
	}
	svc.HeaderDecoded = true
	svc.RequestHandle, svc.Status, svc.authToken = h.RequestHandle, h.Status, h.authToken
}

// safeDecode runs ua.DecodeService, turning a panic into an error.
// (gopcua does not report the length DecodeService consumed; the guard's
// walk measures it.)
func safeDecode(body []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	tid, val, derr := ua.DecodeService(body)
	if derr != nil {
		return nil, fmt.Errorf("decode service: %w", derr)
	}
	if val == nil || tid == nil {
		return nil, fmt.Errorf("decode service: %w", ua.StatusBadServiceUnsupported)
	}
	return val, nil
}

// peekTypeID reads the NodeId of a service type (numeric forms only, which
// is all the standard services use).
func peekTypeID(b []byte) (uint32, int, bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	switch b[0] {
	case 0x00: // two-byte
		return uint32(b[1]), 2, true
	case 0x01: // four-byte: ns(1) id(2)
		if len(b) < 4 || b[1] != 0 {
			return 0, 0, false
		}
		return uint32(b[2]) | uint32(b[3])<<8, 4, true
	case 0x02: // numeric: ns(2) id(4)
		if len(b) < 7 || b[1] != 0 || b[2] != 0 {
			return 0, 0, false
		}
		return uint32(b[3]) | uint32(b[4])<<8 | uint32(b[5])<<16 | uint32(b[6])<<24, 7, true
	}
	return 0, 0, false
}

// extract copies the interesting fields of a decoded gopcua service value
// into svc (OPC 10000-4 §5).
func extract(svc *Service, v any) {
	switch r := v.(type) {
	case *ua.ServiceFault:
		resp(svc, r.ResponseHeader)

	case *ua.ReadRequest:
		req(svc, r.RequestHeader)
		svc.Reads = make([]ReadItem, 0, len(r.NodesToRead))
		for _, n := range r.NodesToRead {
			if n == nil {
				continue
			}
			svc.Reads = append(svc.Reads, ReadItem{NodeID: NodeIDString(n.NodeID), AttributeID: uint32(n.AttributeID), IndexRange: clip(n.IndexRange)})
		}
	case *ua.ReadResponse:
		resp(svc, r.ResponseHeader)
		svc.Values = make([]Value, 0, len(r.Results))
		svc.Results = make([]ua.StatusCode, 0, len(r.Results))
		for _, d := range r.Results {
			if d == nil {
				continue
			}
			svc.Results = append(svc.Results, d.Status)
			svc.Values = append(svc.Values, variantValue(d.Value))
			if b := buildInfo(d.Value); b != nil && svc.Build == nil {
				svc.Build = b
			}
		}

	case *ua.WriteRequest:
		req(svc, r.RequestHeader)
		svc.Writes = make([]WriteItem, 0, len(r.NodesToWrite))
		for _, w := range r.NodesToWrite {
			if w == nil {
				continue
			}
			it := WriteItem{NodeID: NodeIDString(w.NodeID), AttributeID: uint32(w.AttributeID), IndexRange: clip(w.IndexRange), Value: Value{ArrayLength: -1}}
			if w.Value != nil {
				it.Value = variantValue(w.Value.Value)
			}
			svc.Writes = append(svc.Writes, it)
		}
	case *ua.WriteResponse:
		resp(svc, r.ResponseHeader)
		svc.Results = r.Results

	case *ua.CallRequest:
		req(svc, r.RequestHeader)
		for _, m := range r.MethodsToCall {
			if m == nil {
				continue
			}
			it := CallItem{ObjectID: NodeIDString(m.ObjectID), MethodID: NodeIDString(m.MethodID)}
			for _, a := range m.InputArguments {
				it.Inputs = append(it.Inputs, variantValue(a))
			}
			svc.Calls = append(svc.Calls, it)
		}
	case *ua.CallResponse:
		resp(svc, r.ResponseHeader)
		for _, m := range r.Results {
			if m == nil {
				continue
			}
			svc.Results = append(svc.Results, m.StatusCode)
			for _, a := range m.OutputArguments {
				svc.Values = append(svc.Values, variantValue(a))
			}
		}

	case *ua.BrowseRequest:
		req(svc, r.RequestHeader)
		for _, b := range r.NodesToBrowse {
			if b == nil {
				continue
			}
			svc.Browses = append(svc.Browses, BrowseItem{NodeID: NodeIDString(b.NodeID), Direction: browseDirection(b.BrowseDirection), ReferenceTypeID: NodeIDString(b.ReferenceTypeID)})
		}
	case *ua.BrowseResponse:
		resp(svc, r.ResponseHeader)
		for _, b := range r.Results {
			if b != nil {
				svc.Results = append(svc.Results, b.StatusCode)
			}
		}
	case *ua.BrowseNextRequest:
		req(svc, r.RequestHeader)
		svc.ContinuationPoints = len(r.ContinuationPoints)
	case *ua.BrowseNextResponse:
		resp(svc, r.ResponseHeader)
		for _, b := range r.Results {
			if b != nil {
				svc.Results = append(svc.Results, b.StatusCode)
			}
		}
	case *ua.TranslateBrowsePathsToNodeIDsRequest:
		req(svc, r.RequestHeader)
		for _, p := range r.BrowsePaths {
			if p == nil {
				continue
			}
			svc.BrowsePaths = append(svc.BrowsePaths, BrowsePathItem{StartingNode: NodeIDString(p.StartingNode), Path: relativePath(p.RelativePath)})
		}
	case *ua.TranslateBrowsePathsToNodeIDsResponse:
		resp(svc, r.ResponseHeader)
		for _, p := range r.Results {
			if p != nil {
				svc.Results = append(svc.Results, p.StatusCode)
			}
		}

	case *ua.CreateSubscriptionRequest:
		req(svc, r.RequestHeader)
		svc.Subscription = &Subscription{PublishingInterval: r.RequestedPublishingInterval}
	case *ua.CreateSubscriptionResponse:
		resp(svc, r.ResponseHeader)
		svc.Subscription = &Subscription{ID: r.SubscriptionID, PublishingInterval: r.RevisedPublishingInterval}
	case *ua.CreateMonitoredItemsRequest:
		req(svc, r.RequestHeader)
		svc.Subscription = &Subscription{ID: r.SubscriptionID}
		for _, m := range r.ItemsToCreate {
			if m == nil {
				continue
			}
			it := MonitoredItem{}
			if m.ItemToMonitor != nil {
				it.NodeID, it.AttributeID = NodeIDString(m.ItemToMonitor.NodeID), uint32(m.ItemToMonitor.AttributeID)
			}
			if p := m.RequestedParameters; p != nil {
				it.SamplingInterval, it.QueueSize, it.ClientHandle = p.SamplingInterval, p.QueueSize, p.ClientHandle
			}
			svc.MonitoredItems = append(svc.MonitoredItems, it)
		}
	case *ua.CreateMonitoredItemsResponse:
		resp(svc, r.ResponseHeader)
		for _, m := range r.Results {
			if m != nil {
				svc.Results = append(svc.Results, m.StatusCode)
			}
		}
	case *ua.PublishRequest:
		req(svc, r.RequestHeader)
	case *ua.PublishResponse:
		resp(svc, r.ResponseHeader)
		svc.Subscription = &Subscription{ID: r.SubscriptionID}
		notifications(svc, r.NotificationMessage)
		svc.Results = r.Results
	case *ua.RepublishRequest:
		req(svc, r.RequestHeader)
		svc.Subscription = &Subscription{ID: r.SubscriptionID, SequenceNumber: r.RetransmitSequenceNumber}
	case *ua.RepublishResponse:
		resp(svc, r.ResponseHeader)
		svc.Subscription = &Subscription{}
		notifications(svc, r.NotificationMessage)

	case *ua.HistoryReadRequest:
		req(svc, r.RequestHeader)
		svc.HistoryDetails = extName(r.HistoryReadDetails)
		for _, n := range r.NodesToRead {
			if n != nil {
				svc.HistoryNodes = append(svc.HistoryNodes, NodeIDString(n.NodeID))
			}
		}
	case *ua.HistoryReadResponse:
		resp(svc, r.ResponseHeader)
		for _, h := range r.Results {
			if h != nil {
				svc.Results = append(svc.Results, h.StatusCode)
			}
		}
	case *ua.HistoryUpdateRequest:
		req(svc, r.RequestHeader)
		for _, d := range r.HistoryUpdateDetails {
			if d == nil {
				continue
			}
			if svc.HistoryDetails == "" {
				svc.HistoryDetails = extName(d)
			}
			if n := historyUpdateNode(d.Value); n != "" {
				svc.HistoryNodes = append(svc.HistoryNodes, n)
			}
		}
	case *ua.HistoryUpdateResponse:
		resp(svc, r.ResponseHeader)
		for _, h := range r.Results {
			if h != nil {
				svc.Results = append(svc.Results, h.StatusCode)
			}
		}

	case *ua.AddNodesRequest:
		req(svc, r.RequestHeader)
		for _, n := range r.NodesToAdd {
			if n == nil {
				continue
			}
			svc.AddNodes = append(svc.AddNodes, AddNodesItem{ParentNodeID: ExpandedNodeIDString(n.ParentNodeID), RequestedNodeID: ExpandedNodeIDString(n.RequestedNewNodeID), BrowseName: qualifiedName(n.BrowseName), NodeClass: nodeClass(n.NodeClass)})
		}
	case *ua.AddNodesResponse:
		resp(svc, r.ResponseHeader)
		for _, n := range r.Results {
			if n != nil {
				svc.Results = append(svc.Results, n.StatusCode)
			}
		}
	case *ua.DeleteNodesRequest:
		req(svc, r.RequestHeader)
		for _, n := range r.NodesToDelete {
			if n != nil {
				svc.DeleteNodes = append(svc.DeleteNodes, NodeIDString(n.NodeID))
			}
		}
	case *ua.DeleteNodesResponse:
		resp(svc, r.ResponseHeader)
		svc.Results = r.Results
	case *ua.AddReferencesRequest:
		req(svc, r.RequestHeader)
		for _, n := range r.ReferencesToAdd {
			if n != nil {
				svc.AddReferences = append(svc.AddReferences, AddReferencesItem{SourceNodeID: NodeIDString(n.SourceNodeID), ReferenceTypeID: NodeIDString(n.ReferenceTypeID), TargetNodeID: ExpandedNodeIDString(n.TargetNodeID)})
			}
		}
	case *ua.AddReferencesResponse:
		resp(svc, r.ResponseHeader)
		svc.Results = r.Results

	case *ua.GetEndpointsRequest:
		req(svc, r.RequestHeader)
		svc.Endpoints = []Endpoint{{URL: clip(r.EndpointURL)}}
	case *ua.GetEndpointsResponse:
		resp(svc, r.ResponseHeader)
		endpoints(svc, r.Endpoints)
		for _, e := range r.Endpoints {
			if e != nil {
				serverCertificate(svc, e.ServerCertificate)
			}
		}
	case *ua.FindServersRequest:
		req(svc, r.RequestHeader)
	case *ua.FindServersResponse:
		resp(svc, r.ResponseHeader)
		for _, a := range r.Servers {
			if a != nil {
				svc.Servers = append(svc.Servers, application(a))
			}
		}

	case *ua.OpenSecureChannelRequest:
		req(svc, r.RequestHeader)
		svc.SecureChannel = &SecureChannelInfo{RequestType: requestType(r.RequestType), Mode: SecurityMode(r.SecurityMode), RequestedLifetime: r.RequestedLifetime}
	case *ua.OpenSecureChannelResponse:
		resp(svc, r.ResponseHeader)
		svc.SecureChannel = &SecureChannelInfo{}
		if t := r.SecurityToken; t != nil {
			svc.SecureChannel.ChannelID, svc.SecureChannel.TokenID, svc.SecureChannel.RevisedLifetime = t.ChannelID, t.TokenID, t.RevisedLifetime
		}
	case *ua.CloseSecureChannelRequest:
		req(svc, r.RequestHeader)
	case *ua.CloseSecureChannelResponse:
		resp(svc, r.ResponseHeader)

	case *ua.CreateSessionRequest:
		req(svc, r.RequestHeader)
		s := &Session{Name: clip(r.SessionName), EndpointURL: clip(r.EndpointURL)}
		if a := r.ClientDescription; a != nil {
			s.ClientApplicationURI, s.ClientProductURI = clip(a.ApplicationURI), clip(a.ProductURI)
			if a.ApplicationName != nil {
				s.ClientApplicationName = clip(a.ApplicationName.Text)
			}
		}
		if len(r.ClientCertificate) > 0 {
			s.CertThumbprint = certInfo(r.ClientCertificate).Thumbprint
		}
		svc.SessionInfo = s
	case *ua.CreateSessionResponse:
		resp(svc, r.ResponseHeader)
		svc.SessionInfo = &Session{ID: NodeIDString(r.SessionID), AuthenticationToken: NodeIDString(r.AuthenticationToken)}
		endpoints(svc, r.ServerEndpoints)
		serverCertificate(svc, r.ServerCertificate)
	case *ua.ActivateSessionRequest:
		req(svc, r.RequestHeader)
		s := &Session{}
		identity(s, r.UserIdentityToken)
		svc.SessionInfo = s
	case *ua.ActivateSessionResponse:
		resp(svc, r.ResponseHeader)
		for _, s := range r.Results {
			svc.Results = append(svc.Results, s)
		}
	case *ua.CloseSessionRequest:
		req(svc, r.RequestHeader)
	case *ua.CloseSessionResponse:
		resp(svc, r.ResponseHeader)

	default:
		// Every other service: the headers by reflection (field 0 is the
		// RequestHeader or ResponseHeader in every service type).
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Pointer && rv.Elem().Kind() == reflect.Struct && rv.Elem().NumField() > 0 {
			switch h := rv.Elem().Field(0).Interface().(type) {
			case *ua.RequestHeader:
				req(svc, h)
			case *ua.ResponseHeader:
				resp(svc, h)
			}
		}
	}
}

// authToken is the AuthenticationToken of a request, set by req.
func req(svc *Service, h *ua.RequestHeader) {
	if h == nil {
		return
	}
	svc.RequestHandle = h.RequestHandle
	if h.AuthenticationToken != nil && !isNullNodeID(h.AuthenticationToken) {
		svc.authToken = NodeIDString(h.AuthenticationToken)
	}
}

func resp(svc *Service, h *ua.ResponseHeader) {
	if h == nil {
		return
	}
	svc.RequestHandle = h.RequestHandle
	svc.Status = h.ServiceResult
}

func isNullNodeID(n *ua.NodeID) bool {
	switch n.Type() {
	case ua.NodeIDTypeTwoByte, ua.NodeIDTypeFourByte, ua.NodeIDTypeNumeric:
		return n.Namespace() == 0 && n.IntID() == 0
	}
	return false
}

func browseDirection(d ua.BrowseDirection) string {
	switch d {
	case ua.BrowseDirectionForward:
		return "forward"
	case ua.BrowseDirectionInverse:
		return "inverse"
	case ua.BrowseDirectionBoth:
		return "both"
	}
	return "invalid"
}

func requestType(t ua.SecurityTokenRequestType) string {
	switch t {
	case ua.SecurityTokenRequestTypeIssue:
		return "issue"
	case ua.SecurityTokenRequestTypeRenew:
		return "renew"
	}
	return "invalid"
}

func nodeClass(c ua.NodeClass) string {
	s := c.String()
	return strings.TrimPrefix(s, "NodeClass")
}

// relativePath formats a RelativePath in the text notation of
// OPC 10000-4 A.2 (approximately: "/" hierarchical, "." aggregates, "<>"
// other reference types, "#" excluding subtypes not rendered).
func relativePath(p *ua.RelativePath) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	for i, e := range p.Elements {
		if e == nil || i >= 32 {
			break
		}
		switch {
		case e.ReferenceTypeID != nil && e.ReferenceTypeID.Namespace() == 0 && e.ReferenceTypeID.IntID() == id.HierarchicalReferences:
			b.WriteByte('/')
		case e.ReferenceTypeID != nil && e.ReferenceTypeID.Namespace() == 0 && e.ReferenceTypeID.IntID() == id.Aggregates:
			b.WriteByte('.')
		default:
			b.WriteByte('<')
			if e.IsInverse {
				b.WriteByte('!')
			}
			b.WriteString(NodeIDString(e.ReferenceTypeID))
			b.WriteByte('>')
		}
		b.WriteString(qualifiedName(e.TargetName))
	}
	return clip(b.String())
}

// MaxDataChanges bounds the DataChanges kept of one Publish response
// (all are counted in Subscription.Notifications).
const MaxDataChanges = 1024

// notifications fills svc.Subscription's sequence number and count and
// svc.DataChanges from a NotificationMessage (OPC 10000-4 §7.21).
func notifications(svc *Service, m *ua.NotificationMessage) {
	if m == nil {
		return
	}
	s := svc.Subscription
	s.SequenceNumber = m.SequenceNumber
	for _, e := range m.NotificationData {
		if e == nil {
			continue
		}
		d, ok := e.Value.(*ua.DataChangeNotification)
		if !ok {
			continue
		}
		s.Notifications += len(d.MonitoredItems)
		for _, it := range d.MonitoredItems {
			if it == nil || len(svc.DataChanges) >= MaxDataChanges {
				continue
			}
			dc := DataChange{ClientHandle: it.ClientHandle, Value: Value{ArrayLength: -1}}
			if dv := it.Value; dv != nil {
				dc.Status, dc.Value = dv.Status, variantValue(dv.Value)
			}
			svc.DataChanges = append(svc.DataChanges, dc)
		}
	}
}

func extName(e *ua.ExtensionObject) string {
	if e == nil || e.Value == nil {
		return ""
	}
	return reflect.TypeOf(e.Value).Elem().Name()
}

func historyUpdateNode(v any) string {
	switch d := v.(type) {
	case *ua.UpdateDataDetails:
		return NodeIDString(d.NodeID)
	case *ua.UpdateStructureDataDetails:
		return NodeIDString(d.NodeID)
	case *ua.UpdateEventDetails:
		return NodeIDString(d.NodeID)
	case *ua.DeleteRawModifiedDetails:
		return NodeIDString(d.NodeID)
	case *ua.DeleteAtTimeDetails:
		return NodeIDString(d.NodeID)
	case *ua.DeleteEventDetails:
		return NodeIDString(d.NodeID)
	}
	return ""
}

func application(a *ua.ApplicationDescription) Application {
	out := Application{URI: clip(a.ApplicationURI), ProductURI: clip(a.ProductURI), Type: strings.TrimPrefix(a.ApplicationType.String(), "ApplicationType")}
	if a.ApplicationName != nil {
		out.Name = clip(a.ApplicationName.Text)
	}
	return out
}

// serverCertificate sets svc's server certificate from der, once: a
// CreateSession response's own, or the first endpoint's of a list.
func serverCertificate(svc *Service, der []byte) {
	if svc.ServerCertificate == nil && len(der) > 0 {
		c := certInfo(der)
		svc.ServerCertificate = &c
	}
}

func endpoints(svc *Service, eps []*ua.EndpointDescription) {
	for i, e := range eps {
		if e == nil || i >= 64 {
			continue
		}
		ep := Endpoint{URL: clip(e.EndpointURL), SecurityPolicy: clip(e.SecurityPolicyURI), Mode: SecurityMode(e.SecurityMode)}
		for _, t := range e.UserIdentityTokens {
			if t != nil {
				ep.TokenTypes = append(ep.TokenTypes, IdentityType(t.TokenType+1))
			}
		}
		svc.Endpoints = append(svc.Endpoints, ep)
		if e.Server != nil {
			a := application(e.Server)
			dup := false
			for _, s := range svc.Servers {
				if s == a {
					dup = true
					break
				}
			}
			if !dup {
				svc.Servers = append(svc.Servers, a)
			}
		}
	}
}

// identity fills the identity of s from an ActivateSession
// UserIdentityToken (OPC 10000-4 §7.36).
func identity(s *Session, e *ua.ExtensionObject) {
	if e == nil {
		return
	}
	switch t := e.Value.(type) {
	case *ua.AnonymousIdentityToken:
		s.Identity = IdentityAnonymous
	case *ua.UserNameIdentityToken:
		s.Identity = IdentityUserName
		s.User = clip(t.UserName)
		if len(t.Password) > 0 && t.EncryptionAlgorithm == "" {
			s.PasswordCleartext, s.PasswordLength = true, len(t.Password)
		}
	case *ua.X509IdentityToken:
		s.Identity = IdentityX509
		s.CertThumbprint = certInfo(t.CertificateData).Thumbprint
	case *ua.IssuedIdentityToken:
		s.Identity = IdentityIssued
	}
}

// buildInfo recognises a BuildInfo or ServerStatusDataType value
// (OPC 10000-5 §12.4, §12.10).
func buildInfo(v *ua.Variant) *BuildInfo {
	if v == nil || v.Type() != ua.TypeIDExtensionObject {
		return nil
	}
	e, ok := v.Value().(*ua.ExtensionObject)
	if !ok || e == nil {
		return nil
	}
	var b *ua.BuildInfo
	switch t := e.Value.(type) {
	case *ua.BuildInfo:
		b = t
	case *ua.ServerStatusDataType:
		b = t.BuildInfo
	}
	if b == nil {
		return nil
	}
	return &BuildInfo{ProductURI: clip(b.ProductURI), ManufacturerName: clip(b.ManufacturerName), ProductName: clip(b.ProductName), SoftwareVersion: clip(b.SoftwareVersion), BuildNumber: clip(b.BuildNumber)}
}
