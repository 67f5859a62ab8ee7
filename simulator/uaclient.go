package simulator

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
	"github.com/gopcua/opcua/uasc"
)

const (
	policyNone = "http://opcfoundation.org/UA/SecurityPolicy#None"
	// uaEndpointURL is the endpoint as the plant knows it: what captures
	// carry, whatever loopback port the in-process server really has.
	uaEndpointURL = "opc.tcp://10.10.2.10:4840"
	uaMaxMessage  = 65535
)

// uaConn is a lock-step OPC UA client built on gopcua's binary codec (uacp,
// uasc and ua): one request on the wire at a time, the answer read before the
// next, so a capture's bytes do not depend on goroutine scheduling. gopcua's
// own client runs keep-alive and publish goroutines on the wall clock, which
// is right for a live HMI and wrong for a deterministic capture; the live
// historian uses it (actors.go), attack scripts and captures use this.
//
// In a capture each message is recorded twice-encoded: what goes to the
// server carries the server's real secure channel id, token and session
// token; what is recorded carries seeded stand-ins, and the server's answers
// are decoded, given seeded nonces, ids and simulated timestamps, and encoded
// again with the same codec (normalize). That is the only rewriting: the
// services, node ids and values are the server's.
type uaConn struct {
	c       net.Conn
	rec     *recorder // nil when live
	rc      *rconn
	rng     *rand.Rand
	now     func() time.Time
	realURL string
	// clearPassword: the user-name token carries its password in clear.
	clearPassword bool

	chanID, tokenID      uint32 // the server's
	fakeChan, fakeToken  uint32 // recorded instead
	seq, reqID, handle   uint32
	srvSeq               uint32 // recorded server sequence numbers
	subID, lastSeq       uint32 // subscription, last notification to acknowledge
	lastRaw              []byte // the last server message as received (tests)
	auth, fakeAuth       *ua.NodeID
	session, fakeSession *ua.NodeID
}

// uaDial opens a secure channel (SecurityPolicy None) and a session to the
// server at addr (host:port). realURL is the server's endpoint URL.
func uaDial(c net.Conn, realURL string, rec *recorder, rc *rconn, seed uint64, now func() time.Time) (*uaConn, error) {
	rng := rand.New(rand.NewPCG(seed, 0x0bc0a))
	u := &uaConn{c: c, rec: rec, rc: rc, rng: rng, now: now, realURL: realURL,
		fakeChan: 1 + rng.Uint32N(1<<20), fakeToken: 1 + rng.Uint32N(1<<20), srvSeq: 1 + rng.Uint32N(1023)}
	// Part 6, 7.1.2.3: Hello / Acknowledge.
	hel := func(url string) ([]byte, error) {
		body, err := (&uacp.Hello{ReceiveBufSize: uaMaxMessage, SendBufSize: uaMaxMessage, MaxMessageSize: 0, MaxChunkCount: 0, EndpointURL: url}).Encode()
		if err != nil {
			return nil, err
		}
		return frameUACP("HEL", body), nil
	}
	real, err := hel(realURL)
	if err != nil {
		return nil, fmt.Errorf("opc ua hello: %w", err)
	}
	fake, _ := hel(uaEndpointURL)
	if err := u.write(real, fake); err != nil {
		return nil, err
	}
	ack, err := u.read()
	if err != nil {
		return nil, fmt.Errorf("opc ua acknowledge: %w", err)
	}
	if string(ack[:3]) != "ACK" {
		return nil, fmt.Errorf("opc ua: got %q instead of ACK", ack[:3])
	}
	u.record(ack)
	// Part 4, 5.5.2: OpenSecureChannel, SecurityPolicy None.
	opn := func(fake bool) ([]byte, error) {
		m := &uasc.Message{
			MessageHeader: &uasc.MessageHeader{
				Header:                   uasc.NewHeader("OPN", 'F', 0),
				AsymmetricSecurityHeader: uasc.NewAsymmetricSecurityHeader(policyNone, nil, nil),
				SequenceHeader:           uasc.NewSequenceHeader(u.seq+1, u.reqID+1),
			},
			TypeID: ua.NewFourByteExpandedNodeID(0, id.OpenSecureChannelRequest_Encoding_DefaultBinary),
			Service: &ua.OpenSecureChannelRequest{
				RequestHeader:     u.header(fake),
				RequestType:       ua.SecurityTokenRequestTypeIssue,
				SecurityMode:      ua.MessageSecurityModeNone,
				ClientNonce:       []byte{},
				RequestedLifetime: 3600000,
			},
		}
		return m.Encode()
	}
	resp, err := u.roundTrip(opn)
	if err != nil {
		return nil, fmt.Errorf("opc ua open secure channel: %w", err)
	}
	osr, ok := resp.(*ua.OpenSecureChannelResponse)
	if !ok || osr.SecurityToken == nil {
		return nil, fmt.Errorf("opc ua open secure channel: unexpected %T", resp)
	}
	u.chanID, u.tokenID = osr.SecurityToken.ChannelID, osr.SecurityToken.TokenID
	return u, nil
}

// frameUACP prefixes a UACP body with its 8-byte header (Part 6, 7.1.2.2).
func frameUACP(typ string, body []byte) []byte {
	out := make([]byte, 8, 8+len(body))
	copy(out, typ)
	out[3] = 'F'
	binary.LittleEndian.PutUint32(out[4:], uint32(8+len(body)))
	return append(out, body...)
}

func (u *uaConn) header(fake bool) *ua.RequestHeader {
	tok := u.auth
	if fake {
		tok = u.fakeAuth
	}
	if tok == nil {
		tok = ua.NewTwoByteNodeID(0)
	}
	return &ua.RequestHeader{
		AuthenticationToken: tok,
		Timestamp:           u.now(),
		RequestHandle:       u.handle + 1,
		TimeoutHint:         10000,
		AdditionalHeader:    ua.NewExtensionObject(nil),
	}
}

// write sends real and records fake.
func (u *uaConn) write(real, fake []byte) error {
	if u.rec != nil {
		u.rec.send(u.rc, fake)
	}
	if _, err := u.c.Write(real); err != nil {
		return fmt.Errorf("opc ua write: %w", err)
	}
	return nil
}

// read reads one UACP/UASC message (Part 6, 7.1.2.2 header: type, chunk
// type, size).
func (u *uaConn) read() ([]byte, error) {
	if err := u.c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(u.c, hdr); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(hdr[4:])
	if n < 8 || n > uaMaxMessage*4 {
		return nil, fmt.Errorf("opc ua: message size %d", n)
	}
	out := make([]byte, n)
	copy(out, hdr)
	if _, err := io.ReadFull(u.c, out[8:]); err != nil {
		return nil, err
	}
	return out, nil
}

func (u *uaConn) record(b []byte) {
	if u.rec != nil {
		u.rec.recv(u.rc, b)
	}
}

// roundTrip sends the message build makes (once real, once for the record),
// reads the answer, records its normalized form and returns its service.
func (u *uaConn) roundTrip(build func(fake bool) ([]byte, error)) (any, error) {
	real, err := build(false)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var fake []byte
	if u.rec != nil {
		if fake, err = build(true); err != nil {
			return nil, fmt.Errorf("encode: %w", err)
		}
	}
	u.seq++
	u.reqID++
	u.handle++
	if err := u.write(real, fake); err != nil {
		return nil, err
	}
	b, err := u.read()
	if err != nil {
		return nil, fmt.Errorf("opc ua read: %w", err)
	}
	u.lastRaw = b
	m := new(uasc.Message)
	if _, err := m.Decode(b); err != nil {
		return nil, fmt.Errorf("opc ua decode %q: %w", b[:3], err)
	}
	svc := m.Service
	if u.rec != nil {
		nb, err := u.normalize(m)
		if err != nil {
			return nil, err
		}
		u.rec.recv(u.rc, nb)
		// normalize rewrote m; decode the real bytes again for the caller.
		if _, err := m.Decode(b); err != nil {
			return nil, err
		}
		svc = m.Service
	}
	if f, ok := svc.(*ua.ServiceFault); ok {
		return nil, fmt.Errorf("opc ua service fault: %s", f.ResponseHeader.ServiceResult)
	}
	return svc, nil
}

// call sends one service request on the open channel.
func (u *uaConn) call(mk func(h *ua.RequestHeader) ua.Request) (any, error) {
	return u.roundTrip(func(fake bool) ([]byte, error) {
		return u.message(fake, mk(u.header(fake)))
	})
}

// normalize gives a server message the recorded channel id, token id and
// sequence number, seeded nonces and session ids and simulated timestamps,
// and encodes it again.
func (u *uaConn) normalize(m *uasc.Message) ([]byte, error) {
	now := u.now()
	m.Header.SecureChannelID = u.fakeChan
	if m.SymmetricSecurityHeader != nil {
		m.SymmetricSecurityHeader.TokenID = u.fakeToken
	}
	m.SequenceHeader.SequenceNumber = u.srvSeq
	u.srvSeq++
	switch r := m.Service.(type) {
	case *ua.OpenSecureChannelResponse:
		if r.SecurityToken != nil {
			r.SecurityToken.ChannelID, r.SecurityToken.TokenID = u.fakeChan, u.fakeToken
		}
	case *ua.CreateSessionResponse:
		u.fakeAuth = ua.NewNumericNodeID(0, u.rng.Uint32N(1<<31))
		g := make([]byte, 16)
		for i := range g {
			g[i] = byte(u.rng.Uint32())
		}
		u.fakeSession = ua.NewByteStringNodeID(1, g)
		r.AuthenticationToken, r.SessionID = u.fakeAuth, u.fakeSession
	case *ua.CreateSubscriptionResponse:
		// See subscribe: the record carries the plant's parameters.
		r.RevisedPublishingInterval, r.RevisedLifetimeCount, r.RevisedMaxKeepAliveCount = subInterval, subLifetime, subKeepAlive
	case *ua.CreateMonitoredItemsResponse:
		// gopcua's server revises each item's sampling interval to the
		// subscription's publishing interval, which the record shows as
		// subInterval.
		for _, res := range r.Results {
			if res != nil {
				res.RevisedSamplingInterval = subInterval
			}
		}
	case *ua.PublishResponse:
		// gopcua's server lists the notifications of a publish in map
		// order; their order carries no meaning (Part 4, 7.25), so the
		// record lists them by client handle.
		if r.NotificationMessage != nil {
			for _, eo := range r.NotificationMessage.NotificationData {
				if eo == nil {
					continue
				}
				if dcn, ok := eo.Value.(*ua.DataChangeNotification); ok {
					slices.SortFunc(dcn.MonitoredItems, func(a, b *ua.MonitoredItemNotification) int {
						return cmp.Compare(a.ClientHandle, b.ClientHandle)
					})
				}
			}
		}
	}
	scrub(reflect.ValueOf(m.Service), now, u.realURL, u.rng)
	return m.Encode()
}

// scrub walks a decoded service and replaces what the server drew from the
// clock or from crypto/rand: every non-zero time.Time becomes now, every
// non-empty ServerNonce gets seeded bytes, and the loopback endpoint URL
// becomes the plant's.
func scrub(v reflect.Value, now time.Time, realURL string, rng *rand.Rand) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			scrub(v.Elem(), now, realURL, rng)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := range v.Len() {
			scrub(v.Index(i), now, realURL, rng)
		}
	case reflect.String:
		if v.CanSet() && realURL != "" && strings.Contains(v.String(), realURL) {
			v.SetString(strings.ReplaceAll(v.String(), realURL, uaEndpointURL))
		}
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			if !t.IsZero() && v.CanSet() {
				v.Set(reflect.ValueOf(now))
			}
			return
		}
		ty := v.Type()
		for i := range v.NumField() {
			f := v.Field(i)
			if !ty.Field(i).IsExported() {
				continue
			}
			if ty.Field(i).Name == "ServerNonce" && f.Kind() == reflect.Slice && f.Len() > 0 && f.CanSet() {
				n := make([]byte, f.Len())
				for j := range n {
					n[j] = byte(rng.Uint32())
				}
				f.SetBytes(n)
				continue
			}
			scrub(f, now, realURL, rng)
		}
	}
}

// userToken is the user-name identity token (Part 4, 7.41.3) of the
// simulated clients. The plant's clients are configured as they should be:
// the password travels encrypted for the server (EncryptionAlgorithm
// RSA-OAEP-SHA256), and Sluice raises no cleartext_credentials for it. The
// simulator's server checks no password and has no certificate, so the
// 256 bytes stand for the ciphertext: a SHA-256 stream of the password,
// deterministic as every recorded byte must be. A client with
// clearPassword set (the opcua_cleartext_login attack) sends it as a
// misconfigured one does: in clear.
func (u *uaConn) userToken(user, pass string) *ua.UserNameIdentityToken {
	if u.clearPassword {
		return &ua.UserNameIdentityToken{PolicyID: "username_none", UserName: user, Password: []byte(pass)}
	}
	ct := make([]byte, 0, 256)
	for i := byte(0); len(ct) < 256; i++ {
		h := sha256.Sum256(append([]byte{i}, pass...))
		ct = append(ct, h[:]...)
	}
	return &ua.UserNameIdentityToken{PolicyID: "username_rsa_oaep_sha256", UserName: user, Password: ct,
		EncryptionAlgorithm: "http://opcfoundation.org/UA/security/rsa-oaep-sha2-256"}
}

// createSession runs CreateSession and ActivateSession (Part 4, 5.6.2-5.6.3)
// with an anonymous token (user == "") or a user-name token.
func (u *uaConn) createSession(appName, user, pass string) error {
	cn := make([]byte, 32)
	for i := range cn {
		cn[i] = byte(u.rng.Uint32())
	}
	resp, err := u.roundTrip(func(fake bool) ([]byte, error) {
		url := u.realURL
		if fake {
			url = uaEndpointURL
		}
		req := &ua.CreateSessionRequest{
			RequestHeader: u.header(fake),
			ClientDescription: &ua.ApplicationDescription{
				ApplicationURI:  "urn:sluice:sim:" + appName,
				ProductURI:      "urn:sluice:sim",
				ApplicationName: &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: appName},
				ApplicationType: ua.ApplicationTypeClient,
			},
			EndpointURL:             url,
			SessionName:             appName + " session",
			ClientNonce:             cn,
			RequestedSessionTimeout: 1200000,
			MaxResponseMessageSize:  uaMaxMessage * 32,
		}
		m := &uasc.Message{
			MessageHeader: &uasc.MessageHeader{
				Header:                  uasc.NewHeader("MSG", 'F', pick(fake, u.fakeChan, u.chanID)),
				SymmetricSecurityHeader: uasc.NewSymmetricSecurityHeader(pick(fake, u.fakeToken, u.tokenID)),
				SequenceHeader:          uasc.NewSequenceHeader(u.seq+1, u.reqID+1),
			},
			TypeID:  ua.NewFourByteExpandedNodeID(0, id.CreateSessionRequest_Encoding_DefaultBinary),
			Service: req,
		}
		return m.Encode()
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	csr, ok := resp.(*ua.CreateSessionResponse)
	if !ok {
		return fmt.Errorf("create session: unexpected %T", resp)
	}
	u.auth, u.session = csr.AuthenticationToken, csr.SessionID
	var tok *ua.ExtensionObject
	if user == "" {
		tok = ua.NewExtensionObject(&ua.AnonymousIdentityToken{PolicyID: "anonymous_none"})
	} else {
		tok = ua.NewExtensionObject(u.userToken(user, pass))
	}
	_, err = u.call(func(h *ua.RequestHeader) ua.Request {
		return &ua.ActivateSessionRequest{
			RequestHeader:      h,
			ClientSignature:    &ua.SignatureData{},
			LocaleIDs:          []string{"en"},
			UserIdentityToken:  tok,
			UserTokenSignature: &ua.SignatureData{},
		}
	})
	if err != nil {
		return fmt.Errorf("activate session: %w", err)
	}
	return nil
}

func pick(fake bool, a, b uint32) uint32 {
	if fake {
		return a
	}
	return b
}

// read reads the Value attribute of tags.
func (u *uaConn) readTags(names []string) ([]*ua.DataValue, error) {
	resp, err := u.call(func(h *ua.RequestHeader) ua.Request {
		nodes := make([]*ua.ReadValueID, len(names))
		for i, n := range names {
			nodes[i] = &ua.ReadValueID{NodeID: ua.NewStringNodeID(uaDamNS, n), AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}}
		}
		return &ua.ReadRequest{RequestHeader: h, TimestampsToReturn: ua.TimestampsToReturnBoth, NodesToRead: nodes}
	})
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*ua.ReadResponse)
	if !ok {
		return nil, fmt.Errorf("opc ua read: unexpected %T", resp)
	}
	return r.Results, nil
}

// writeTag writes a Double (or Boolean) to a tag's Value attribute.
func (u *uaConn) writeTag(name string, v any) (ua.StatusCode, error) {
	resp, err := u.call(func(h *ua.RequestHeader) ua.Request {
		return &ua.WriteRequest{RequestHeader: h, NodesToWrite: []*ua.WriteValue{{
			NodeID: ua.NewStringNodeID(uaDamNS, name), AttributeID: ua.AttributeIDValue,
			Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(v)},
		}}}
	})
	if err != nil {
		return 0, err
	}
	r, ok := resp.(*ua.WriteResponse)
	if !ok || len(r.Results) != 1 {
		return 0, fmt.Errorf("opc ua write: unexpected %T", resp)
	}
	return r.Results[0], nil
}

// browse browses the forward hierarchical references of a node.
func (u *uaConn) browse(node *ua.NodeID) (*ua.BrowseResponse, error) {
	resp, err := u.call(func(h *ua.RequestHeader) ua.Request {
		return &ua.BrowseRequest{RequestHeader: h, View: &ua.ViewDescription{ViewID: ua.NewTwoByteNodeID(0)},
			NodesToBrowse: []*ua.BrowseDescription{{NodeID: node, BrowseDirection: ua.BrowseDirectionForward,
				ReferenceTypeID: ua.NewNumericNodeID(0, id.HierarchicalReferences), IncludeSubtypes: true,
				ResultMask: uint32(ua.BrowseResultMaskAll)}}}
	})
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*ua.BrowseResponse)
	if !ok {
		return nil, fmt.Errorf("opc ua browse: unexpected %T", resp)
	}
	return r, nil
}

// close closes the session and the secure channel (Part 4, 5.6.4 and 5.5.3)
// and then the connection.
func (u *uaConn) close() {
	_, _ = u.call(func(h *ua.RequestHeader) ua.Request {
		return &ua.CloseSessionRequest{RequestHeader: h, DeleteSubscriptions: true}
	})
	clo := func(fake bool) []byte {
		m := &uasc.Message{
			MessageHeader: &uasc.MessageHeader{
				Header:                  uasc.NewHeader("CLO", 'F', pick(fake, u.fakeChan, u.chanID)),
				SymmetricSecurityHeader: uasc.NewSymmetricSecurityHeader(pick(fake, u.fakeToken, u.tokenID)),
				SequenceHeader:          uasc.NewSequenceHeader(u.seq+1, u.reqID+1),
			},
			TypeID:  ua.NewFourByteExpandedNodeID(0, id.CloseSecureChannelRequest_Encoding_DefaultBinary),
			Service: &ua.CloseSecureChannelRequest{RequestHeader: u.header(fake)},
		}
		b, _ := m.Encode()
		return b
	}
	u.seq++
	u.reqID++
	_ = u.write(clo(false), clo(true))
	if u.rec != nil {
		u.rec.clientClose(u.rc)
	}
	u.c.Close()
}

// Subscription parameters of the historian as the plant sees them (Part 4,
// 5.13.2): publish every second, a keep-alive at least every 10 s, gone
// after 30 s without a publish request.
const (
	subInterval  = 1000.0
	subKeepAlive = 10
	subLifetime  = 30
)

// subscribe creates a subscription and one monitored item per tag (Part 4,
// 5.13.2 and 5.12.2).
//
// In a capture, gopcua's server runs each subscription on a wall-clock
// ticker, which a lock-step capture of an hour in two seconds cannot wait
// for: the server is asked for a 1 ms interval and a keep-alive every other
// tick, while the record shows the plant's parameters (and normalize gives
// the server's echo of them the same values). A keep-alive then answers a
// Publish within milliseconds.
func (u *uaConn) subscribe(tags []string) error {
	resp, err := u.roundTrip(func(fake bool) ([]byte, error) {
		req := &ua.CreateSubscriptionRequest{RequestHeader: u.header(fake), RequestedPublishingInterval: subInterval,
			RequestedLifetimeCount: subLifetime, RequestedMaxKeepAliveCount: subKeepAlive, PublishingEnabled: true}
		if u.rec != nil && !fake {
			req.RequestedPublishingInterval, req.RequestedLifetimeCount, req.RequestedMaxKeepAliveCount = 1, 10_000_000, 1
		}
		return u.message(fake, req)
	})
	if err != nil {
		return fmt.Errorf("create subscription: %w", err)
	}
	r, ok := resp.(*ua.CreateSubscriptionResponse)
	if !ok {
		return fmt.Errorf("create subscription: unexpected %T", resp)
	}
	u.subID = r.SubscriptionID
	_, err = u.call(func(h *ua.RequestHeader) ua.Request {
		items := make([]*ua.MonitoredItemCreateRequest, len(tags))
		for i, n := range tags {
			items[i] = &ua.MonitoredItemCreateRequest{
				ItemToMonitor:  &ua.ReadValueID{NodeID: ua.NewStringNodeID(uaDamNS, n), AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}},
				MonitoringMode: ua.MonitoringModeReporting,
				RequestedParameters: &ua.MonitoringParameters{ClientHandle: uint32(i + 1), SamplingInterval: subInterval,
					Filter: ua.NewExtensionObject(nil), QueueSize: 1, DiscardOldest: true},
			}
		}
		return &ua.CreateMonitoredItemsRequest{RequestHeader: h, SubscriptionID: u.subID,
			TimestampsToReturn: ua.TimestampsToReturnBoth, ItemsToCreate: items}
	})
	if err != nil {
		return fmt.Errorf("create monitored items: %w", err)
	}
	if u.rec != nil {
		// The server queues the items' initial values from goroutines of
		// its own; let them land before the first Publish.
		time.Sleep(30 * time.Millisecond)
	}
	return nil
}

// publish sends one Publish request, acknowledging the last notification,
// and reads its answer: data changes or a keep-alive (Part 4, 5.13.5). In a
// capture the caller first lets the server take in queued notifications
// (servers.settle).
func (u *uaConn) publish() error {
	resp, err := u.call(func(h *ua.RequestHeader) ua.Request {
		req := &ua.PublishRequest{RequestHeader: h, SubscriptionAcknowledgements: []*ua.SubscriptionAcknowledgement{}}
		if u.lastSeq != 0 {
			req.SubscriptionAcknowledgements = append(req.SubscriptionAcknowledgements,
				&ua.SubscriptionAcknowledgement{SubscriptionID: u.subID, SequenceNumber: u.lastSeq})
			u.lastSeq = 0
		}
		return req
	})
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	r, ok := resp.(*ua.PublishResponse)
	if !ok || r.NotificationMessage == nil {
		return fmt.Errorf("publish: unexpected %T", resp)
	}
	if len(r.NotificationMessage.NotificationData) > 0 {
		u.lastSeq = r.NotificationMessage.SequenceNumber
	}
	return nil
}

// message frames a service request on the open channel.
func (u *uaConn) message(fake bool, req ua.Request) ([]byte, error) {
	m := &uasc.Message{
		MessageHeader: &uasc.MessageHeader{
			Header:                  uasc.NewHeader("MSG", 'F', pick(fake, u.fakeChan, u.chanID)),
			SymmetricSecurityHeader: uasc.NewSymmetricSecurityHeader(pick(fake, u.fakeToken, u.tokenID)),
			SequenceHeader:          uasc.NewSequenceHeader(u.seq+1, u.reqID+1),
		},
		TypeID:  ua.NewFourByteExpandedNodeID(0, ua.ServiceTypeID(req)),
		Service: req,
	}
	return m.Encode()
}

// callMethod calls a method without arguments (Part 4, 5.11.2) and returns
// its status.
func (u *uaConn) callMethod(object, method *ua.NodeID) (ua.StatusCode, error) {
	resp, err := u.call(func(h *ua.RequestHeader) ua.Request {
		return &ua.CallRequest{RequestHeader: h, MethodsToCall: []*ua.CallMethodRequest{{
			ObjectID: object, MethodID: method, InputArguments: []*ua.Variant{}}}}
	})
	if err != nil {
		return 0, err
	}
	r, ok := resp.(*ua.CallResponse)
	if !ok || len(r.Results) != 1 || r.Results[0] == nil {
		return 0, fmt.Errorf("opc ua call: unexpected %T", resp)
	}
	return r.Results[0].StatusCode, nil
}
