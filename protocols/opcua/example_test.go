package opcua_test

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/sluice-ics/sluice/protocols/opcua"
)

// A Conn per TCP connection: feed it each direction's reassembled bytes with
// the packet time; it calls back with one Message per exchange.
func Example() {
	// A WriteRequest and its WriteResponse from a real capture
	// (icsnpp_open62541_client-server_mainloop.pcap frames 88 and 90).
	req, _ := hex.DecodeString("4d5347466d000000040000000400000015000000150000000100a1020401003912161546f36d34fecffcbfbacb4c14b28f934f2dd1d5011600000000000000ffffffff00000000000000010000000301000a0000007468652e616e737765720d000000ffffffff010601000000")
	resp, _ := hex.DecodeString("4d5347464000000004000000040000000b000000150000000100a402ac4c9b4f2dd1d501160000000000000000ffffffff0000000100000000003480ffffffff")

	conn := opcua.NewConn(opcua.Config{}, func(m *opcua.Message) {
		w := m.Request.Writes[0]
		v, _ := w.Value.Float()
		fmt.Println(m.Request.Name, w.NodeID, v, opcua.StatusName(m.Response.Results[0]), m.Latency())
		fmt.Println(string(m.AppendJSON(nil)))
	})
	t0 := time.Date(2020, 1, 22, 14, 7, 41, 0, time.UTC)
	conn.MidStream() // no SYN, no HEL seen: resynchronise strictly
	conn.FeedClient(req, t0)
	conn.FeedServer(resp, t0.Add(900*time.Microsecond))
	conn.Close(t0.Add(time.Second))
	// Output:
	// WriteRequest ns=1;s=the.answer 1 BadNodeIdUnknown 900µs
	// {"message_type":"MSG","secure_channel_id":4,"token_id":4,"security_mode":"None","security_mode_inferred":true,"request_id":21,"request":{"size":109,"service":"WriteRequest","service_id":673,"request_handle":22,"writes":[{"node_id":"ns=1;s=the.answer","attribute_id":13,"value":1,"value_type":"Int32"}]},"response":{"size":64,"service":"WriteResponse","service_id":676,"request_handle":22,"status":"Good","results":["BadNodeIdUnknown"]},"latency_us":900}
}
