package opcua

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
)

// encodeService encodes v with gopcua, prefixed by its type id (four-byte
// NodeId encoding, OPC 10000-6 §5.2.2.9).
func encodeService(t testing.TB, v any) []byte {
	t.Helper()
	id := ua.ServiceTypeID(v)
	if id == 0 {
		t.Fatalf("%T is not a registered service", v)
	}
	b, err := ua.Encode(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	return append([]byte{0x01, 0x00, byte(id), byte(id >> 8)}, b...)
}

// msgChunk builds a MSG chunk (OPC 10000-6 §6.7.2).
func msgChunk(typ string, ct ChunkType, channel, reqID uint32, body []byte) []byte {
	b := make([]byte, 24, 24+len(body))
	copy(b, typ)
	b[3] = byte(ct)
	binary.LittleEndian.PutUint32(b[4:], uint32(24+len(body)))
	binary.LittleEndian.PutUint32(b[8:], channel)
	binary.LittleEndian.PutUint32(b[12:], 1)     // token id
	binary.LittleEndian.PutUint32(b[16:], reqID) // sequence number
	binary.LittleEndian.PutUint32(b[20:], reqID)
	return append(b, body...)
}

func writeRequest(handle uint32, node string, v any) *ua.WriteRequest {
	return &ua.WriteRequest{
		RequestHeader: &ua.RequestHeader{AuthenticationToken: ua.NewNumericNodeID(0, 0), RequestHandle: handle, AdditionalHeader: ua.NewExtensionObject(nil)},
		NodesToWrite: []*ua.WriteValue{{
			NodeID:      ua.MustParseNodeID(node),
			AttributeID: ua.AttributeIDValue,
			Value:       &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(v)},
		}},
	}
}

func writeResponse(handle uint32, results ...ua.StatusCode) *ua.WriteResponse {
	return &ua.WriteResponse{
		ResponseHeader: &ua.ResponseHeader{RequestHandle: handle, ServiceDiagnostics: &ua.DiagnosticInfo{}, AdditionalHeader: ua.NewExtensionObject(nil)},
		Results:        results,
	}
}

// TestRoundTripServices encodes services with gopcua and checks what the
// Conn decodes from them.
func TestRoundTripServices(t *testing.T) {
	tests := []struct {
		name  string
		v     any
		check func(t *testing.T, s *Service)
	}{
		{"write double", writeRequest(12, "ns=2;s=Dam.Gate1.Setpoint", 77.5), func(t *testing.T, s *Service) {
			w := s.Writes
			if len(w) != 1 || w[0].NodeID != "ns=2;s=Dam.Gate1.Setpoint" || w[0].AttributeID != 13 || w[0].Value.Type != "Double" || w[0].Value.Number != 77.5 || s.RequestHandle != 12 {
				t.Fatalf("%+v", s)
			}
		}},
		{"write string", writeRequest(1, "ns=1;i=42", "open"), func(t *testing.T, s *Service) {
			if w := s.Writes; len(w) != 1 || w[0].NodeID != "ns=1;i=42" || w[0].Value.Text != "open" || w[0].Value.IsNumber {
				t.Fatalf("%+v", s.Writes)
			}
		}},
		{"write guid node", writeRequest(1, "ns=3;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63", int16(-5)), func(t *testing.T, s *Service) {
			if w := s.Writes; len(w) != 1 || w[0].NodeID != "ns=3;g=72962b91-fa75-4ae6-8d28-b404dc7daf63" || w[0].Value.Number != -5 {
				t.Fatalf("%+v", s.Writes)
			}
		}},
		{"write array", writeRequest(1, "i=2258", []float32{1, 2, 3}), func(t *testing.T, s *Service) {
			if w := s.Writes; len(w) != 1 || w[0].Value.ArrayLength != 3 || len(w[0].Value.Array) != 3 || w[0].Value.Array[2].Number != 3 {
				t.Fatalf("%+v", s.Writes)
			}
		}},
		{"write response", writeResponse(7, ua.StatusGood, ua.StatusBadNotWritable), func(t *testing.T, s *Service) {
			if len(s.Results) != 2 || s.Results[1] != ua.StatusBadNotWritable || s.RequestHandle != 7 {
				t.Fatalf("%+v", s)
			}
		}},
		{"call", &ua.CallRequest{
			RequestHeader: &ua.RequestHeader{AuthenticationToken: ua.NewNumericNodeID(0, 0), AdditionalHeader: ua.NewExtensionObject(nil)},
			MethodsToCall: []*ua.CallMethodRequest{{ObjectID: ua.NewNumericNodeID(2, 10), MethodID: ua.NewStringNodeID(2, "Gate.Open"), InputArguments: []*ua.Variant{ua.MustVariant(uint32(3)), ua.MustVariant(true)}}},
		}, func(t *testing.T, s *Service) {
			c := s.Calls
			if len(c) != 1 || c[0].ObjectID != "ns=2;i=10" || c[0].MethodID != "ns=2;s=Gate.Open" || len(c[0].Inputs) != 2 || c[0].Inputs[0].Number != 3 || c[0].Inputs[1].Type != "Boolean" {
				t.Fatalf("%+v", c)
			}
		}},
		{"history read", &ua.HistoryReadRequest{
			RequestHeader:      &ua.RequestHeader{AuthenticationToken: ua.NewNumericNodeID(0, 0), AdditionalHeader: ua.NewExtensionObject(nil)},
			HistoryReadDetails: ua.NewExtensionObject(&ua.ReadRawModifiedDetails{}),
			NodesToRead:        []*ua.HistoryReadValueID{{NodeID: ua.NewStringNodeID(2, "Dam.Level"), DataEncoding: &ua.QualifiedName{}}},
		}, func(t *testing.T, s *Service) {
			if s.HistoryDetails != "ReadRawModifiedDetails" || len(s.HistoryNodes) != 1 || s.HistoryNodes[0] != "ns=2;s=Dam.Level" {
				t.Fatalf("%+v", s)
			}
		}},
		{"delete nodes", &ua.DeleteNodesRequest{
			RequestHeader: &ua.RequestHeader{AuthenticationToken: ua.NewNumericNodeID(0, 0), AdditionalHeader: ua.NewExtensionObject(nil)},
			NodesToDelete: []*ua.DeleteNodesItem{{NodeID: ua.NewByteStringNodeID(1, []byte{1, 2, 3})}},
		}, func(t *testing.T, s *Service) {
			if len(s.DeleteNodes) != 1 || s.DeleteNodes[0] != "ns=1;b=AQID" {
				t.Fatalf("%+v", s.DeleteNodes)
			}
		}},
		{"read server status", &ua.ReadResponse{
			ResponseHeader: &ua.ResponseHeader{ServiceDiagnostics: &ua.DiagnosticInfo{}, AdditionalHeader: ua.NewExtensionObject(nil)},
			Results: []*ua.DataValue{{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(ua.NewExtensionObject(&ua.ServerStatusDataType{
				BuildInfo:      &ua.BuildInfo{ProductURI: "urn:plc:fw", ManufacturerName: "ACME", ProductName: "Dam PLC", SoftwareVersion: "4.2.1", BuildNumber: "77"},
				ShutdownReason: &ua.LocalizedText{},
			}))}},
		}, func(t *testing.T, s *Service) {
			if b := s.Build; b == nil || b.ProductURI != "urn:plc:fw" || b.ManufacturerName != "ACME" || b.SoftwareVersion != "4.2.1" || b.BuildNumber != "77" {
				t.Fatalf("build %+v", s.Build)
			}
			if len(s.Values) != 1 || s.Values[0].Type != "ExtensionObject" || s.Values[0].Text != "ServerStatusDataType" {
				t.Fatalf("values %+v", s.Values)
			}
		}},
		{"find servers", &ua.FindServersResponse{
			ResponseHeader: &ua.ResponseHeader{ServiceDiagnostics: &ua.DiagnosticInfo{}, AdditionalHeader: ua.NewExtensionObject(nil)},
			Servers:        []*ua.ApplicationDescription{{ApplicationURI: "urn:scada", ProductURI: "urn:vendor:scada", ApplicationName: &ua.LocalizedText{EncodingMask: ua.LocalizedTextText, Text: "SCADA"}, ApplicationType: ua.ApplicationTypeServer}},
		}, func(t *testing.T, s *Service) {
			if len(s.Servers) != 1 || s.Servers[0] != (Application{URI: "urn:scada", ProductURI: "urn:vendor:scada", Name: "SCADA", Type: "Server"}) {
				t.Fatalf("servers %+v", s.Servers)
			}
		}},
		{"republish", &ua.RepublishRequest{
			RequestHeader:  &ua.RequestHeader{AuthenticationToken: ua.NewNumericNodeID(0, 0), AdditionalHeader: ua.NewExtensionObject(nil)},
			SubscriptionID: 5, RetransmitSequenceNumber: 42,
		}, func(t *testing.T, s *Service) {
			if s.Subscription == nil || s.Subscription.ID != 5 || s.Subscription.SequenceNumber != 42 {
				t.Fatalf("subscription %+v", s.Subscription)
			}
		}},
		{"add references", &ua.AddReferencesRequest{
			RequestHeader:   &ua.RequestHeader{AuthenticationToken: ua.NewNumericNodeID(0, 0), AdditionalHeader: ua.NewExtensionObject(nil)},
			ReferencesToAdd: []*ua.AddReferencesItem{{SourceNodeID: ua.NewNumericNodeID(2, 1), ReferenceTypeID: ua.NewNumericNodeID(0, 35), TargetNodeID: ua.NewExpandedNodeID(ua.NewStringNodeID(2, "Valve"), "urn:other", 0)}},
		}, func(t *testing.T, s *Service) {
			if len(s.AddReferences) != 1 || s.AddReferences[0] != (AddReferencesItem{SourceNodeID: "ns=2;i=1", ReferenceTypeID: "i=35", TargetNodeID: "nsu=urn:other;s=Valve"}) {
				t.Fatalf("%+v", s.AddReferences)
			}
		}},
		{"service fault", &ua.ServiceFault{ResponseHeader: &ua.ResponseHeader{ServiceResult: ua.StatusBadSessionIDInvalid, ServiceDiagnostics: &ua.DiagnosticInfo{}, AdditionalHeader: ua.NewExtensionObject(nil)}}, func(t *testing.T, s *Service) {
			if s.Name != "ServiceFault" || s.ID != 397 || s.Status != ua.StatusBadSessionIDInvalid {
				t.Fatalf("%+v", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := encodeService(t, tt.v)
			s, _, used, err := decodeBody(body, 1<<20)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if used != len(body) {
				t.Errorf("structure length %d, body %d", used, len(body))
			}
			tt.check(t, s)
		})
	}
}

// TestMultiChunkAndAbort: a WriteRequest split over three chunks is
// reassembled; an aborted one is discarded; a request id cannot mix chunks
// of another.
func TestMultiChunkAndAbort(t *testing.T) {
	body := encodeService(t, writeRequest(5, "ns=2;s=Dam.Level", 3.25))
	a, b, c := body[:10], body[10:30], body[30:]
	conn, msgs := newTestConn(Config{})
	ts := time.Unix(100, 0)
	var stream []byte
	stream = append(stream, msgChunk("MSG", ChunkIntermediate, 9, 1, a)...)
	stream = append(stream, msgChunk("MSG", ChunkIntermediate, 9, 2, a)...) // another request, aborted below
	stream = append(stream, msgChunk("MSG", ChunkIntermediate, 9, 1, b)...)
	stream = append(stream, msgChunk("MSG", ChunkAbort, 9, 2, []byte{0, 0, 0x0b, 0x80, 0xff, 0xff, 0xff, 0xff})...)
	stream = append(stream, msgChunk("MSG", ChunkFinal, 9, 1, c)...)
	if err := conn.FeedClient(stream, ts); err != nil {
		t.Fatal(err)
	}
	conn.FeedServer(msgChunk("MSG", ChunkFinal, 9, 1, encodeService(t, writeResponse(5, ua.StatusGood))), ts.Add(time.Millisecond))
	if len(*msgs) != 1 {
		t.Fatalf("%d messages", len(*msgs))
	}
	m := (*msgs)[0]
	if m.Request == nil || len(m.Request.Writes) != 1 || m.Request.Writes[0].Value.Number != 3.25 || m.Response == nil {
		t.Fatalf("%+v", m)
	}
	if m.RequestSize != 3*24+len(body) {
		t.Fatalf("request size %d", m.RequestSize)
	}
	if s := conn.Stats(); s.Aborted != 1 || s.Paired != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestPendingCapAndExpiry: requests beyond MaxPending are emitted unpaired,
// oldest first; a request older than PendingTimeout (packet time) too.
func TestPendingCapAndExpiry(t *testing.T) {
	conn, msgs := newTestConn(Config{MaxPending: 4, PendingTimeout: time.Minute})
	ts := time.Unix(1000, 0)
	for i := uint32(1); i <= 10; i++ {
		conn.FeedClient(msgChunk("MSG", ChunkFinal, 1, i, encodeService(t, writeRequest(i, "i=1", int32(i)))), ts)
	}
	if len(*msgs) != 6 {
		t.Fatalf("%d messages emitted, want 6 evicted", len(*msgs))
	}
	for i, m := range *msgs {
		if m.Response != nil || m.RequestID != uint32(i+1) || m.Unpaired != "evicted" {
			t.Fatalf("evicted #%d: request id %d", i, m.RequestID)
		}
	}
	// Response to request 8 pairs; 59 s later nothing expires; at 61 s
	// the remaining three do.
	conn.FeedServer(msgChunk("MSG", ChunkFinal, 1, 8, encodeService(t, writeResponse(8, ua.StatusGood))), ts.Add(time.Second))
	conn.Expire(ts.Add(59 * time.Second))
	if len(*msgs) != 7 || (*msgs)[6].Response == nil || (*msgs)[6].RequestID != 8 {
		t.Fatalf("pairing after eviction failed: %d", len(*msgs))
	}
	conn.Expire(ts.Add(61 * time.Second))
	if len(*msgs) != 10 {
		t.Fatalf("%d messages after expiry, want 10", len(*msgs))
	}
	for _, m := range (*msgs)[7:] {
		if m.Unpaired != "timeout" || !strings.Contains(string(m.AppendJSON(nil)), `"unpaired":"timeout"`) {
			t.Fatalf("expired request %d: unpaired %q", m.RequestID, m.Unpaired)
		}
	}
	if s := conn.Stats(); s.Evicted != 6 || s.Expired != 3 || s.Paired != 1 || s.Unpaired != 9 {
		t.Fatalf("stats %+v", s)
	}
}

// TestHostileBodies: bodies that would make gopcua allocate gigabytes,
// recurse without bound or panic are rejected by the guard and counted; the
// Conn keeps working.
func TestHostileBodies(t *testing.T) {
	good := encodeService(t, writeRequest(1, "i=1", 1.0))
	// WriteRequest: type id(4) + RequestHeader; NodesToWrite count follows.
	hdr := len(encodeService(t, &ua.WriteRequest{RequestHeader: writeRequest(1, "i=1", 1.0).RequestHeader})) - 4
	huge := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(huge[hdr:], 0x7fffffff)

	nested := append([]byte(nil), good[:hdr]...)
	nested = binary.LittleEndian.AppendUint32(nested, 1)
	nested = append(nested, 0x00, 0x01, 0x0d, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x01) // i=1, attr 13, null range, DataValue{Value}
	for i := 0; i < 10000; i++ {
		nested = append(nested, 24) // Variant of Variant of ...
	}
	variantArray := append([]byte(nil), good[:hdr]...)
	variantArray = binary.LittleEndian.AppendUint32(variantArray, 1)
	variantArray = append(variantArray, 0x00, 0x01, 0x0d, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x01, 0x80|22)
	variantArray = binary.LittleEndian.AppendUint32(variantArray, 0xffff) // 65535 ExtensionObjects, no bytes

	tests := []struct {
		name     string
		body     []byte
		salvaged bool // the RequestHeader is intact and read anyway
	}{
		{"array length 2^31-1", huge, true},
		{"variant nesting 10000", nested, true},
		{"variant array beyond body", variantArray, true},
		{"truncated", good[:len(good)-3], true},
		{"unknown service", []byte{0x01, 0x00, 0x01, 0x00, 0xde, 0xad}, false},
		{"no type id", []byte{0x07}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, msgs := newTestConn(Config{})
			ts := time.Unix(0, 0)
			conn.FeedClient(msgChunk("MSG", ChunkFinal, 1, 1, tt.body), ts)
			conn.FeedClient(msgChunk("MSG", ChunkFinal, 1, 2, good), ts)
			conn.Close(ts)
			if len(*msgs) != 2 {
				t.Fatalf("%d messages", len(*msgs))
			}
			if (*msgs)[0].Request.Decoded || (*msgs)[0].Request.DecodeError == "" {
				t.Fatalf("hostile body decoded: %+v", (*msgs)[0].Request)
			}
			if tt.salvaged != (*msgs)[0].Request.HeaderDecoded || tt.salvaged && (*msgs)[0].Request.RequestHandle != 1 {
				t.Fatalf("header salvage %v, want %v: %+v", (*msgs)[0].Request.HeaderDecoded, tt.salvaged, (*msgs)[0].Request)
			}
			if !(*msgs)[1].Request.Decoded {
				t.Fatalf("good body after hostile one not decoded: %s", (*msgs)[1].Request.DecodeError)
			}
			if !json.Valid((*msgs)[0].AppendJSON(nil)) {
				t.Fatalf("invalid JSON")
			}
		})
	}
}

// TestSessionTracking follows a CreateSession/ActivateSession exchange in
// the real mainloop capture: the user name and client URI reach every
// later request of the session.
func TestSessionTracking(t *testing.T) {
	msgs, _ := replay(t, capturePath(t, "icsnpp_open62541_client-server_mainloop.pcap"), Config{})
	var writes int
	for _, m := range msgs {
		if m.Request == nil || m.Request.Name != "WriteRequest" {
			continue
		}
		writes++
		s := m.Session
		if s == nil || s.User != "user1" || s.Identity != IdentityUserName || !s.Activated || s.ClientApplicationURI != "urn:unconfigured:application" || !strings.HasPrefix(s.ID, "ns=1;g=") {
			t.Fatalf("session %+v", s)
		}
		if m.Channel.Mode != ModeNone || m.Channel.ModeInferred || m.Channel.SecurityPolicy != PolicyNone {
			t.Fatalf("channel %+v", m.Channel)
		}
	}
	if writes != 2 {
		t.Fatalf("%d writes, want 2", writes)
	}
}

// TestMidSessionPickup: HEL/ACK/OPN/CreateSession were cut from the capture;
// decoding starts at the first MSG, pairs everything and infers mode None
// (bodies end exactly where their structure does).
func TestMidSessionPickup(t *testing.T) {
	msgs, conns := replay(t, capturePath(t, "icsnpp_open62541_client-server_mainloop-no-handshake.pcap"), Config{})
	var paired, writes, hel int
	for _, m := range msgs {
		if m.Type == TypeHEL {
			hel++
		}
		if m.Request != nil && m.Response != nil {
			paired++
		}
		if m.Request != nil && m.Request.Name == "WriteRequest" {
			writes++
			if m.Request.Writes[0].NodeID != "ns=1;s=the.answer" || m.Response == nil {
				t.Fatalf("write %+v", m)
			}
			if m.Channel.Mode != ModeNone || !m.Channel.ModeInferred {
				t.Fatalf("channel %+v", m.Channel)
			}
		}
	}
	if hel != 0 || writes != 2 || paired < 25 {
		t.Fatalf("hel %d writes %d paired %d", hel, writes, paired)
	}
	for _, c := range conns {
		if s := c.Stats(); s.DecodeErrors != 0 {
			t.Fatalf("stats %+v", s)
		}
	}
}

// TestGapCapture: the with-gap captures decode without errors; with a real
// hole cut in the stream, the Conn resynchronises at the next chunk and
// keeps decoding.
func TestGapCapture(t *testing.T) {
	for _, name := range []string{"icsnpp_opcua_with-gap.pcap", "icsnpp_opcua_with-gap_with-handshake.pcap"} {
		msgs, conns := replay(t, capturePath(t, name), Config{})
		var created bool
		for _, m := range msgs {
			if m.Response != nil && m.Response.Name == "CreateSessionResponse" && m.Response.Decoded {
				created = true
			}
		}
		if !created {
			t.Errorf("%s: CreateSessionResponse across the retransmissions not decoded", name)
		}
		for _, c := range conns {
			if s := c.Stats(); s.DecodeErrors != 0 || s.CodecPanics != 0 {
				t.Errorf("%s: stats %+v", name, s)
			}
		}
	}

	// Synthetic hole: three writes, 50 bytes of the second lost.
	conn, msgs := newTestConn(Config{})
	ts := time.Unix(0, 0)
	w := func(i uint32) []byte {
		return msgChunk("MSG", ChunkFinal, 1, i, encodeService(t, writeRequest(i, "i=1", float64(i))))
	}
	second := w(2)
	conn.FeedClient(w(1), ts)
	conn.FeedClient(second[:20], ts)
	conn.Gap(false)
	conn.FeedClient(append(second[70:], w(3)...), ts)
	conn.Close(ts)
	var ids []uint32
	for _, m := range *msgs {
		ids = append(ids, m.RequestID)
	}
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 3 {
		t.Fatalf("request ids %v, want [1 3]", ids)
	}
	if s := conn.Stats(); s.Framer[0].Resets != 1 || s.Framer[0].SkippedBytes != uint64(len(second)-70) {
		t.Fatalf("stats %+v", s.Framer[0])
	}
}

// TestSignInferred: the second channel of the python capture uses
// Basic256Sha256; its OPN body is encrypted but the MSG bodies are
// plaintext with a signature: mode Sign, inferred, services decoded.
func TestSignInferred(t *testing.T) {
	msgs, _ := replay(t, capturePath(t, "icsnpp_python_opcua-client-server_encrypted.pcap"), Config{})
	var signed, opn int
	for _, m := range msgs {
		if m.Channel.SecurityPolicy != "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256" {
			continue
		}
		if m.Type == TypeOPN {
			opn++
			if !m.Encrypted || m.Request == nil || m.Response == nil || m.Request.Decoded {
				t.Fatalf("OPN %+v", m)
			}
			continue
		}
		if m.Type != TypeMSG {
			continue
		}
		signed++
		if m.Channel.Mode != ModeSign || !m.Channel.ModeInferred || m.Encrypted || !m.Request.Decoded || !m.Response.Decoded {
			t.Fatalf("MSG %s: mode %s inferred %v encrypted %v", m.Request.Name, m.Channel.Mode, m.Channel.ModeInferred, m.Encrypted)
		}
		if m.Channel.SenderSubject != "CN=python-opcua.example.org" || len(m.Channel.SenderThumbprint) != 40 {
			t.Fatalf("channel %+v", m.Channel)
		}
	}
	if opn != 1 || signed < 3 {
		t.Fatalf("opn %d signed %d", opn, signed)
	}
}

// TestEncryptedMetadataOnly: open62541's Basic128Rsa15 SignAndEncrypt
// channel: MSG events carry policy, mode, thumbprints and sizes, never a
// service or a value.
func TestEncryptedMetadataOnly(t *testing.T) {
	msgs, _ := replay(t, capturePath(t, "icsnpp_open62541_client-server_encrypted.pcap"), Config{})
	var enc int
	for _, m := range msgs {
		if m.Channel.SecurityPolicy != "http://opcfoundation.org/UA/SecurityPolicy#Basic128Rsa15" || m.Type != TypeMSG {
			continue
		}
		enc++
		if !m.Encrypted || m.Channel.Mode != ModeSignAndEncrypt || m.Channel.SenderThumbprint == "" {
			t.Fatalf("%+v", m)
		}
		for _, s := range []*Service{m.Request, m.Response} {
			if s != nil && (s.Decoded || s.Name != "" || s.ID != 0 || len(s.Writes)+len(s.Reads)+len(s.Values) != 0) {
				t.Fatalf("encrypted body interpreted: %+v", s)
			}
		}
		if m.RequestSize+m.ResponseSize == 0 {
			t.Fatalf("no size")
		}
		js := string(m.AppendJSON(nil))
		if !strings.Contains(js, `"encrypted":true`) || strings.Contains(js, `"service"`) {
			t.Fatalf("JSON %s", js)
		}
	}
	if enc < 5 {
		t.Fatalf("%d encrypted MSG messages", enc)
	}
}

// TestPendingOverflowCapture: 12 connections, each with a request and a
// response that do not pair (different request ids): 24 unpaired messages.
func TestPendingOverflowCapture(t *testing.T) {
	msgs, _ := replay(t, capturePath(t, "icsnpp_pending_overflow.pcap"), Config{})
	var req, resp int
	for _, m := range msgs {
		if m.Request != nil && m.Response != nil {
			t.Fatalf("unexpected pair %+v", m)
		}
		if m.Request != nil && m.Unpaired == "closed" {
			req++
		}
		if m.Response != nil && m.Unpaired == "unsolicited" {
			resp++
		}
	}
	if req != 12 || resp != 12 {
		t.Fatalf("requests %d responses %d, want 12 and 12", req, resp)
	}
}

// TestAllCapturesJSON: every event of every capture is valid JSON and no
// codec panic or guard rejection happens on real traffic.
func TestAllCapturesJSON(t *testing.T) {
	for _, f := range captures(t) {
		msgs, conns := replay(t, f, Config{})
		if len(msgs) == 0 {
			t.Errorf("%s: no messages", f)
		}
		for _, m := range msgs {
			if b := m.AppendJSON(nil); !json.Valid(b) {
				t.Fatalf("%s: invalid JSON %s", f, b)
			}
		}
		for _, c := range conns {
			if s := c.Stats(); s.CodecPanics != 0 {
				t.Errorf("%s: %+v", f, s)
			}
		}
		// The one known codec gap: gopcua v0.8.0 rejects some
		// multi-dimensional array Variants that Wireshark reads (10 in
		// read_service_test_data); the message is still reported, named,
		// with decoded:false.
		for _, m := range msgs {
			for _, s := range []*Service{m.Request, m.Response} {
				if s != nil && !s.Decoded && !m.Encrypted && !strings.Contains(s.DecodeError, "unbalanced multi-dimensional array") {
					t.Errorf("%s: %s not decoded: %s", filepath.Base(f), s.Name, s.DecodeError)
				}
				if s != nil && !s.Decoded && !m.Encrypted && (!s.HeaderDecoded || s.RequestHandle == 0) {
					t.Errorf("%s: %s header not salvaged", filepath.Base(f), s.Name)
				}
			}
		}
	}
}

// opnChunk builds an OPN chunk with an asymmetric security header and an
// opaque (encrypted) remainder.
func opnChunk(policy string, cert []byte, rest []byte) []byte {
	b := []byte("OPNF\x00\x00\x00\x00\x00\x00\x00\x00")
	b = binary.LittleEndian.AppendUint32(b, uint32(len(policy)))
	b = append(b, policy...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cert)))
	b = append(b, cert...)
	b = binary.LittleEndian.AppendUint32(b, 20)
	b = append(b, make([]byte, 20)...)
	b = append(b, rest...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
	return b
}

// TestModeInference: behind an encrypted Basic256Sha256 OPN, ciphertext
// bodies make the channel SignAndEncrypt (metadata only); plaintext signed
// bodies arriving later revise it to Sign, and are decoded without their
// 32-byte signature.
func TestModeInference(t *testing.T) {
	const policy = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
	conn, msgs := newTestConn(Config{})
	ts := time.Unix(0, 0)
	noise := make([]byte, 200)
	for i := range noise {
		noise[i] = byte(i*37 + 11)
	}
	conn.FeedClient(opnChunk(policy, []byte("not a certificate"), noise), ts)
	conn.FeedServer(opnChunk(policy, nil, noise), ts)
	conn.FeedClient(msgChunk("MSG", ChunkFinal, 1, 2, noise), ts)
	conn.FeedServer(msgChunk("MSG", ChunkFinal, 1, 2, noise), ts)
	if ch := conn.Channel(); ch.Mode != ModeSignAndEncrypt || !ch.ModeInferred || ch.SecurityPolicy != policy || ch.SenderThumbprint == "" {
		t.Fatalf("after ciphertext: %+v", ch)
	}
	sig := make([]byte, 32)
	conn.FeedClient(msgChunk("MSG", ChunkFinal, 1, 3, append(encodeService(t, writeRequest(3, "ns=2;s=Gate", 1.5)), sig...)), ts)
	conn.FeedServer(msgChunk("MSG", ChunkFinal, 1, 3, append(encodeService(t, writeResponse(3, ua.StatusGood)), sig...)), ts)
	if ch := conn.Channel(); ch.Mode != ModeSign || !ch.ModeInferred {
		t.Fatalf("after plaintext: %+v", ch)
	}
	last := (*msgs)[len(*msgs)-1]
	if last.Encrypted || last.Request == nil || len(last.Request.Writes) != 1 || last.Response == nil || last.Channel.Mode != ModeSign {
		t.Fatalf("signed write %+v", last)
	}
	var encrypted int
	for _, m := range *msgs {
		if m.Type == TypeMSG && m.Encrypted {
			encrypted++
		}
	}
	if encrypted != 2 {
		t.Fatalf("%d encrypted MSG messages, want 2", encrypted)
	}
}

// uacpChunk frames a UA TCP message encoded by gopcua's uacp types.
func uacpChunk(t *testing.T, typ string, v any) []byte {
	t.Helper()
	body, err := ua.Encode(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	b := append([]byte(typ+"F"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[4:], uint32(8+len(body)))
	return append(b, body...)
}

// TestRoundTripUACP: HEL, ACK, ERR and RHE encoded by gopcua's uacp
// package decode to the same fields, and the HEL/ACK limits reach the
// framers and the reassembly.
func TestRoundTripUACP(t *testing.T) {
	conn, msgs := newTestConn(Config{})
	ts := time.Unix(0, 0)
	conn.FeedClient(uacpChunk(t, "HEL", &uacp.Hello{Version: 0, ReceiveBufSize: 16384, SendBufSize: 8192, MaxMessageSize: 100000, MaxChunkCount: 4, EndpointURL: "opc.tcp://plc:4840/ua"}), ts)
	conn.FeedServer(uacpChunk(t, "ACK", &uacp.Acknowledge{Version: 0, ReceiveBufSize: 8192, SendBufSize: 16384, MaxMessageSize: 50000, MaxChunkCount: 3}), ts)
	conn.FeedServer(uacpChunk(t, "ERR", &uacp.Error{ErrorCode: uint32(ua.StatusBadTCPMessageTooLarge), Reason: "too big"}), ts)
	conn.FeedServer(uacpChunk(t, "RHE", &uacp.ReverseHello{ServerURI: "urn:plc", EndpointURL: "opc.tcp://plc:4840"}), ts)
	if len(*msgs) != 4 {
		t.Fatalf("%d messages", len(*msgs))
	}
	if h := (*msgs)[0].Hello; h.ReceiveBufferSize != 16384 || h.SendBufferSize != 8192 || h.MaxMessageSize != 100000 || h.MaxChunkCount != 4 || h.EndpointURL != "opc.tcp://plc:4840/ua" {
		t.Fatalf("HEL %+v", h)
	}
	if h := (*msgs)[1].Hello; h.ReceiveBufferSize != 8192 || h.SendBufferSize != 16384 || h.MaxMessageSize != 50000 || h.MaxChunkCount != 3 {
		t.Fatalf("ACK %+v", h)
	}
	if e := (*msgs)[2].Error; e.Status != ua.StatusBadTCPMessageTooLarge || e.Reason != "too big" {
		t.Fatalf("ERR %+v", e)
	}
	if r := (*msgs)[3].ReverseHello; r.ServerURI != "urn:plc" || r.EndpointURL != "opc.tcp://plc:4840" {
		t.Fatalf("RHE %+v", r)
	}
	if conn.fr[0].MaxChunkSize() != 8192 || conn.fr[1].MaxChunkSize() != 16384 {
		t.Fatalf("chunk limits %d %d", conn.fr[0].MaxChunkSize(), conn.fr[1].MaxChunkSize())
	}
	// The ACK allows the client 3 chunks: a 4-chunk request is dropped.
	body := encodeService(t, writeRequest(1, "i=1", 1.0))
	q := len(body) / 4
	var stream []byte
	for i := 0; i < 3; i++ {
		stream = append(stream, msgChunk("MSG", ChunkIntermediate, 1, 9, body[i*q:(i+1)*q])...)
	}
	stream = append(stream, msgChunk("MSG", ChunkFinal, 1, 9, body[3*q:])...)
	conn.FeedClient(stream, ts)
	conn.Close(ts)
	if len(*msgs) != 4 || conn.Stats().Oversize != 1 {
		t.Fatalf("%d messages, stats %+v", len(*msgs), conn.Stats())
	}
}

// TestPartialMemoryBound: many interleaved multi-chunk requests may not
// together buffer more than the maximum message size.
func TestPartialMemoryBound(t *testing.T) {
	conn, _ := newTestConn(Config{MaxMessageSize: 10000})
	ts := time.Unix(0, 0)
	piece := make([]byte, 1000)
	for id := uint32(1); id <= 50; id++ {
		conn.FeedClient(msgChunk("MSG", ChunkIntermediate, 1, id, piece), ts)
	}
	if got := conn.dirs[0].buffered; got > 10000 {
		t.Fatalf("%d bytes buffered", got)
	}
	if s := conn.Stats(); s.Oversize != 40 {
		t.Fatalf("oversize %d, want 40", s.Oversize)
	}
	// Aborting releases the memory.
	for id := uint32(1); id <= 10; id++ {
		conn.FeedClient(msgChunk("MSG", ChunkAbort, 1, id, nil), ts)
	}
	if got := conn.dirs[0].buffered; got != 0 || len(conn.dirs[0].partial) != 0 {
		t.Fatalf("%d bytes, %d partials after aborts", got, len(conn.dirs[0].partial))
	}
}
