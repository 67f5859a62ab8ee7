package opcua

import (
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Byte vectors from icsnpp_open62541_client-server_mainloop.pcap (tshark
// frame numbers), client → server unless noted.
var (
	// frame 6, HEL:
	// 0000  48 45 4c 46 38 00 00 00 00 00 00 00 ff ff 00 00  HELF8...........
	// 0010  ff ff 00 00 00 00 00 00 00 00 00 00 18 00 00 00  ................
	// 0020  6f 70 63 2e 74 63 70 3a 2f 2f 6c 6f 63 61 6c 68  opc.tcp://localh
	// 0030  6f 73 74 3a 34 38 34 30                          ost:4840
	vecHEL = "48454c463800000000000000ffff0000ffff00000000000000000000180000006f70632e7463703a2f2f6c6f63616c686f73743a34383430"
	// frame 8, ACK (server → client):
	// 0000  41 43 4b 46 1c 00 00 00 00 00 00 00 ff ff 00 00  ACKF............
	// 0010  ff ff 00 00 00 00 00 00 00 00 00 00              ............
	vecACK = "41434b461c00000000000000ffff0000ffff00000000000000000000"
	// frame 10, OPN OpenSecureChannelRequest, policy None:
	// 0000  4f 50 4e 46 84 00 00 00 00 00 00 00 2f 00 00 00  OPNF......../...
	// 0010  68 74 74 70 3a 2f 2f 6f 70 63 66 6f 75 6e 64 61  http://opcfounda
	// ...   (SecurityPolicy#None, null cert, null thumbprint, seq 1, req 1,
	//        type id 01 00 be 01 = i=446, RequestHeader, version 0, issue,
	//        mode 1 None, null nonce, lifetime 600000)
	vecOPN = "4f504e4684000000000000002f000000687474703a2f2f6f7063666f756e646174696f6e2e6f72672f55412f5365637572697479506f6c696379234e6f6e65ffffffffffffffff01000000010000000100be010000caa2e64e2dd1d5010000000000000000ffffffff00000000000000000000000000000001000000ffffffffc0270900"
	// frame 18, CLO CloseSecureChannelRequest:
	// 0000  43 4c 4f 46 39 00 00 00 03 00 00 00 03 00 00 00  CLOF9...........
	// 0010  03 00 00 00 03 00 00 00 01 00 c4 01 00 00 56 6b  ..............Vk
	vecCLO = "434c4f4639000000030000000300000003000000030000000100c4010000566bf64e2dd1d5010100000000000000ffffffff10270000000000"
	// frame 88, MSG WriteRequest ns=1;s=the.answer Value := Int32 1:
	// 0000  4d 53 47 46 6d 00 00 00 04 00 00 00 04 00 00 00  MSGFm...........
	// 0010  15 00 00 00 15 00 00 00 01 00 a1 02 04 01 00 39  ...............9
	// 0020  12 16 15 46 f3 6d 34 fe cf fc bf ba cb 4c 14 b2  ...F.m4......L..
	// 0030  8f 93 4f 2d d1 d5 01 16 00 00 00 00 00 00 00 ff  ..O-............
	// 0040  ff ff ff 00 00 00 00 00 00 00 01 00 00 00 03 01  ................
	// 0050  00 0a 00 00 00 74 68 65 2e 61 6e 73 77 65 72 0d  .....the.answer.
	// 0060  00 00 00 ff ff ff ff 01 06 01 00 00 00           .............
	vecWrite = "4d5347466d000000040000000400000015000000150000000100a1020401003912161546f36d34fecffcbfbacb4c14b28f934f2dd1d5011600000000000000ffffffff00000000000000010000000301000a0000007468652e616e737765720d000000ffffffff010601000000"
	// frame 90, MSG WriteResponse (server → client), result BadNodeIdUnknown:
	// 0000  4d 53 47 46 40 00 00 00 04 00 00 00 04 00 00 00  MSGF@...........
	// 0010  0b 00 00 00 15 00 00 00 01 00 a4 02 ac 4c 9b 4f  .............L.O
	// 0020  2d d1 d5 01 16 00 00 00 00 00 00 00 00 ff ff ff  -...............
	// 0030  ff 00 00 00 01 00 00 00 00 00 34 80 ff ff ff ff  ..........4.....
	vecWriteResp = "4d5347464000000004000000040000000b000000150000000100a402ac4c9b4f2dd1d501160000000000000000ffffffff0000000100000000003480ffffffff"
	// icsnpp_open62541_read_service_test_data.pcap frame 25, MSG ReadRequest
	// ns=1;s=Boolean.Variable attribute 13.
	vecRead = "4d5347467f0000000100000001000000050000000500000001007702040100a652a8f997e4a4d416f11fd1fbef7ed7d6af004ba2d9d8010600000000000000ffffffff000000000000000000000000000000000000000100000003010010000000426f6f6c65616e2e5661726961626c650d000000ffffffff0000ffffffff"
	// frame 27, its ReadResponse: Boolean false.
	vecReadResp = "4d534746470000000100000001000000050000000500000001007a021eb3004ba2d9d801060000000000000000ffffffff000000010000000501001eb3004ba2d9d801ffffffff"
)

// TestFramerVectors checks the header fields the Framer reads from real
// chunks.
func TestFramerVectors(t *testing.T) {
	tests := []struct {
		name              string
		hex               string
		typ               MessageType
		size, channel     uint32
		token, seq, reqID uint32
		policy            string
		bodyLen           int
	}{
		{"HEL", vecHEL, TypeHEL, 56, 0, 0, 0, 0, "", 48},
		{"ACK", vecACK, TypeACK, 28, 0, 0, 0, 0, "", 20},
		{"OPN", vecOPN, TypeOPN, 132, 0, 0, 1, 1, PolicyNone, 132 - 12 - 4 - 47 - 4 - 4 - 8},
		{"CLO", vecCLO, TypeCLO, 57, 3, 3, 3, 3, "", 57 - 24},
		{"MSG Write", vecWrite, TypeMSG, 109, 4, 4, 21, 21, "", 109 - 24},
		{"MSG WriteResponse", vecWriteResp, TypeMSG, 64, 4, 4, 11, 21, "", 64 - 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []Chunk
			f := NewFramer(0)
			if err := f.Feed(unhex(t, tt.hex), func(c Chunk) { got = append(got, c) }); err != nil {
				t.Fatalf("Feed: %v", err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d chunks, want 1", len(got))
			}
			c := got[0]
			if c.Type != tt.typ || c.ChunkType != ChunkFinal || c.Size != tt.size || c.SecureChannelID != tt.channel ||
				c.TokenID != tt.token || c.SequenceNumber != tt.seq || c.RequestID != tt.reqID || string(c.SecurityPolicyURI) != tt.policy || len(c.Body) != tt.bodyLen {
				t.Errorf("got %s %s size %d channel %d token %d seq %d req %d policy %q body %d", c.Type, c.ChunkType, c.Size, c.SecureChannelID, c.TokenID, c.SequenceNumber, c.RequestID, c.SecurityPolicyURI, len(c.Body))
			}
		})
	}
}

// TestFramerSplitAnywhere feeds a stream of real chunks cut at every
// possible offset: the chunks must come out identical.
func TestFramerSplitAnywhere(t *testing.T) {
	stream := unhex(t, vecHEL+vecOPN+vecWrite+vecCLO)
	want := []MessageType{TypeHEL, TypeOPN, TypeMSG, TypeCLO}
	for cut := 0; cut <= len(stream); cut++ {
		var got []MessageType
		f := NewFramer(0)
		emit := func(c Chunk) { got = append(got, c.Type) }
		if err := f.Feed(stream[:cut], emit); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if err := f.Feed(stream[cut:], emit); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if len(got) != len(want) {
			t.Fatalf("cut %d: got %v, want %v", cut, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("cut %d: got %v, want %v", cut, got, want)
			}
		}
	}
}

// TestFramerResync starts in the middle of a chunk (as after a gap or
// without the handshake) and must lock on the next real header.
func TestFramerResync(t *testing.T) {
	stream := unhex(t, vecWrite+vecWrite+vecCLO)
	for start := 1; start < 109; start++ {
		f := NewFramer(0)
		f.Reset()
		var got []MessageType
		err := f.Feed(stream[start:], func(c Chunk) { got = append(got, c.Type) })
		if len(got) != 2 || got[0] != TypeMSG || got[1] != TypeCLO {
			t.Fatalf("start %d: got %v, want [MSG CLO]", start, got)
		}
		if err == nil {
			t.Fatalf("start %d: skipped bytes not reported", start)
		}
		if s := f.Stats(); s.SkippedBytes != uint64(109-start) || s.Resyncs != 1 {
			t.Fatalf("start %d: stats %+v", start, s)
		}
	}
}

// TestFramerNegotiatedLimit: after the HEL announces SendBufferSize 8192,
// a larger chunk header is not accepted.
func TestFramerNegotiatedLimit(t *testing.T) {
	hel := unhex(t, vecHEL)
	// SendBufferSize (offset 16) := 8192
	copy(hel[16:], []byte{0x00, 0x20, 0x00, 0x00})
	f := NewFramer(0)
	var n int
	if err := f.Feed(hel, func(Chunk) { n++ }); err != nil || n != 1 {
		t.Fatalf("HEL: %d chunks, %v", n, err)
	}
	if f.MaxChunkSize() != 8192 {
		t.Fatalf("max chunk size %d, want 8192", f.MaxChunkSize())
	}
	big := []byte("MSGF\x01\x20\x00\x00") // 8193 bytes announced
	if err := f.Feed(big, func(Chunk) { n++ }); err == nil {
		t.Fatalf("oversize header accepted")
	}
}

func newTestConn(cfg Config) (*Conn, *[]*Message) {
	var msgs []*Message
	return NewConn(cfg, func(m *Message) { msgs = append(msgs, m) }), &msgs
}

// TestConnWriteVector decodes the real WriteRequest/WriteResponse pair.
func TestConnWriteVector(t *testing.T) {
	c, msgs := newTestConn(Config{})
	t0 := time.Date(2020, 1, 22, 14, 7, 41, 0, time.UTC)
	if err := c.FeedClient(unhex(t, vecWrite), t0); err != nil {
		t.Fatal(err)
	}
	if err := c.FeedServer(unhex(t, vecWriteResp), t0.Add(900*time.Microsecond)); err != nil {
		t.Fatal(err)
	}
	if len(*msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(*msgs))
	}
	m := (*msgs)[0]
	rq, rs := m.Request, m.Response
	if rq == nil || rs == nil {
		t.Fatalf("unpaired: %+v", m)
	}
	if rq.Name != "WriteRequest" || rq.ID != 673 || rq.RequestHandle != 22 || len(rq.Writes) != 1 {
		t.Fatalf("request %+v", rq)
	}
	w := rq.Writes[0]
	if w.NodeID != "ns=1;s=the.answer" || w.AttributeID != 13 || w.Value.Type != "Int32" {
		t.Fatalf("write %+v", w)
	}
	if v, ok := w.Value.Float(); !ok || v != 1 {
		t.Fatalf("value %v %v", v, ok)
	}
	if rs.Name != "WriteResponse" || rs.ID != 676 || rs.Status != ua.StatusGood || len(rs.Results) != 1 || rs.Results[0] != ua.StatusBadNodeIDUnknown {
		t.Fatalf("response %+v", rs)
	}
	if m.Latency() != 900*time.Microsecond {
		t.Fatalf("latency %v", m.Latency())
	}
	got := string(m.AppendJSON(nil))
	want := `{"message_type":"MSG","secure_channel_id":4,"token_id":4,"security_mode":"None","security_mode_inferred":true,"request_id":21,` +
		`"request":{"size":109,"service":"WriteRequest","service_id":673,"request_handle":22,"writes":[{"node_id":"ns=1;s=the.answer","attribute_id":13,"value":1,"value_type":"Int32"}]},` +
		`"response":{"size":64,"service":"WriteResponse","service_id":676,"request_handle":22,"status":"Good","results":["BadNodeIdUnknown"]},"latency_us":900}`
	if got != want {
		t.Fatalf("JSON\n got %s\nwant %s", got, want)
	}
}

// TestConnReadVector decodes the real ReadRequest/ReadResponse pair.
func TestConnReadVector(t *testing.T) {
	c, msgs := newTestConn(Config{})
	ts := time.Unix(0, 0)
	c.FeedClient(unhex(t, vecRead), ts)
	c.FeedServer(unhex(t, vecReadResp), ts)
	if len(*msgs) != 1 {
		t.Fatalf("%d messages", len(*msgs))
	}
	m := (*msgs)[0]
	if r := m.Request.Reads; len(r) != 1 || r[0].NodeID != "ns=1;s=Boolean.Variable" || r[0].AttributeID != 13 {
		t.Fatalf("reads %+v", r)
	}
	if v := m.Response.Values; len(v) != 1 || v[0].Type != "Boolean" || !v[0].IsNumber || v[0].Number != 0 {
		t.Fatalf("values %+v", v)
	}
	if !strings.Contains(string(m.AppendJSON(nil)), `"values":[false]`) {
		t.Fatalf("JSON %s", m.AppendJSON(nil))
	}
}

// TestConnHandshakeVectors: HEL, ACK, OPN (policy None: mode read from the
// request), CLO.
func TestConnHandshakeVectors(t *testing.T) {
	c, msgs := newTestConn(Config{})
	ts := time.Unix(0, 0)
	c.FeedClient(unhex(t, vecHEL), ts)
	c.FeedServer(unhex(t, vecACK), ts)
	c.FeedClient(unhex(t, vecOPN), ts)
	c.FeedClient(unhex(t, vecCLO), ts)
	c.Close(ts)
	var types []string
	for _, m := range *msgs {
		types = append(types, m.Type.String())
	}
	if strings.Join(types, ",") != "HEL,ACK,CLO,OPN" { // the OPN request stays pending until Close
		t.Fatalf("types %v", types)
	}
	h := (*msgs)[0].Hello
	if h == nil || h.ReceiveBufferSize != 65535 || h.SendBufferSize != 65535 || h.EndpointURL != "opc.tcp://localhost:4840" {
		t.Fatalf("hello %+v", h)
	}
	opn := (*msgs)[3]
	if opn.Request.SecureChannel == nil || opn.Request.SecureChannel.Mode != ModeNone || opn.Request.SecureChannel.RequestType != "issue" ||
		opn.Request.SecureChannel.RequestedLifetime != 600000 || opn.Channel.SecurityPolicy != PolicyNone || opn.Channel.ModeInferred {
		t.Fatalf("opn %+v %+v", opn.Request, opn.Channel)
	}
	for _, m := range *msgs {
		if !json.Valid(m.AppendJSON(nil)) {
			t.Fatalf("invalid JSON %s", m.AppendJSON(nil))
		}
	}
}

// TestConnERR: no capture has one, so the vector is built from
// OPC 10000-6 §7.1.2.5: Error 0x807E0000 (BadTcpMessageTypeInvalid),
// Reason "bad<".
func TestConnERR(t *testing.T) {
	// 45 52 52 46 14 00 00 00 00 00 7e 80 04 00 00 00 62 61 64 3c
	b := unhex(t, "45525246140000000000 7e800400000062616 43c")
	c, msgs := newTestConn(Config{})
	c.FeedServer(b, time.Unix(0, 0))
	if len(*msgs) != 1 || (*msgs)[0].Error == nil {
		t.Fatalf("messages %+v", *msgs)
	}
	got := string((*msgs)[0].AppendJSON(nil))
	want := `{"message_type":"ERR","error":{"status":"BadTcpMessageTypeInvalid","reason":"bad\u003c"}}`
	if got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestStatusName(t *testing.T) {
	tests := []struct {
		code ua.StatusCode
		want string
	}{
		{ua.StatusGood, "Good"},
		{ua.StatusBadNodeIDUnknown, "BadNodeIdUnknown"},
		{ua.StatusBadTCPEndpointURLInvalid, "BadTcpEndpointUrlInvalid"},
		{ua.StatusBadServerURIInvalid, "BadServerUriInvalid"},
		{ua.StatusUncertainInitialValue, "UncertainInitialValue"},
		{ua.StatusBadNodeIDUnknown | 0x0400, "BadNodeIdUnknown"}, // info bits
		{0x80ff0001, "0x80FF0001"},
	}
	for _, tt := range tests {
		if got := StatusName(tt.code); got != tt.want {
			t.Errorf("StatusName(%#x) = %q, want %q", uint32(tt.code), got, tt.want)
		}
	}
}

// TestConnRHE: no capture has a ReverseHello, so the vector is built from
// OPC 10000-6 §7.1.2.6: ServerUri "urn:plc", EndpointUrl
// "opc.tcp://plc:4840".
func TestConnRHE(t *testing.T) {
	// 52 48 45 46 29 00 00 00 07 00 00 00 75 72 6e 3a  RHEF).......urn:
	// 70 6c 63 12 00 00 00 6f 70 63 2e 74 63 70 3a 2f  plc....opc.tcp:/
	// 2f 70 6c 63 3a 34 38 34 30                       /plc:4840
	b := unhex(t, "52484546290000000700000075726e3a706c6312000000"+hex.EncodeToString([]byte("opc.tcp://plc:4840")))
	c, msgs := newTestConn(Config{})
	if err := c.FeedServer(b, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if len(*msgs) != 1 || (*msgs)[0].ReverseHello == nil {
		t.Fatalf("messages %+v", *msgs)
	}
	got := string((*msgs)[0].AppendJSON(nil))
	want := `{"message_type":"RHE","reverse_hello":{"server_uri":"urn:plc","endpoint_url":"opc.tcp://plc:4840"}}`
	if got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

// TestFramerRandomSplitsOnCaptures: every direction of every real capture,
// fed in random pieces (fixed seed), yields exactly the chunks it yields
// when fed whole.
func TestFramerRandomSplitsOnCaptures(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, f := range captures(t) {
		streams := map[string][]byte{}
		for _, s := range readSegments(t, f) {
			k := s.src.String() + ">" + s.dst.String()
			streams[k] = append(streams[k], s.payload...)
		}
		for k, stream := range streams {
			var whole []string
			NewFramer(0).Feed(stream, func(c Chunk) { whole = append(whole, string(c.Raw)) })
			for round := 0; round < 20; round++ {
				var got []string
				fr := NewFramer(0)
				for rest := stream; len(rest) > 0; {
					n := 1 + rng.IntN(min(len(rest), 1+rng.IntN(3000)))
					fr.Feed(rest[:n], func(c Chunk) { got = append(got, string(c.Raw)) })
					rest = rest[n:]
				}
				if len(got) != len(whole) {
					t.Fatalf("%s %s round %d: %d chunks, whole feed gave %d", filepath.Base(f), k, round, len(got), len(whole))
				}
				for i := range got {
					if got[i] != whole[i] {
						t.Fatalf("%s %s round %d: chunk %d differs", filepath.Base(f), k, round, i)
					}
				}
			}
		}
	}
}
