package simulator

import (
	"bytes"
	"context"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uasc"
)

// uaSession starts the simulator and opens an anonymous lock-step session.
func uaSession(t *testing.T) (*uaConn, Endpoints, *Process) {
	t.Helper()
	p := NewProcess(1)
	srv, err := startLoopback(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.close)
	e := &env{ctx: context.Background(), p: p, mbAddr: srv.mbLn.Addr().String(), uaAddr: srv.uaAddr, uaURL: srv.uaURL, seed: 1}
	u, err := e.openUA(HostLaptop, "test", "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.close)
	return u, Endpoints{Modbus: e.mbAddr, OPCUA: srv.uaURL}, p
}

// TestUAWrite checks our Write handler item by item, including the request
// that crashes gopcua v0.8.0's own handler (a namespace index that does not
// exist).
func TestUAWrite(t *testing.T) {
	u, _, p := uaSession(t)
	for _, tc := range []struct {
		name string
		node *ua.NodeID
		attr ua.AttributeID
		val  any
		want ua.StatusCode
	}{
		{"setpoint", ua.NewStringNodeID(2, TagGate2SP), ua.AttributeIDValue, float64(17.5), ua.StatusOK},
		{"int setpoint", ua.NewStringNodeID(2, TagT2SP), ua.AttributeIDValue, int32(20), ua.StatusOK},
		{"coil", ua.NewStringNodeID(2, TagGate1Enable), ua.AttributeIDValue, true, ua.StatusOK},
		{"missing namespace", ua.NewStringNodeID(7, TagGate1SP), ua.AttributeIDValue, float64(1), ua.StatusBadNodeIDUnknown},
		{"numeric id", ua.NewNumericNodeID(2, 5), ua.AttributeIDValue, float64(1), ua.StatusBadNodeIDUnknown},
		{"unknown tag", ua.NewStringNodeID(2, "Dam.Nothing"), ua.AttributeIDValue, float64(1), ua.StatusBadNodeIDUnknown},
		{"read-only", ua.NewStringNodeID(2, TagLevel), ua.AttributeIDValue, float64(1), ua.StatusBadNotWritable},
		{"display name", ua.NewStringNodeID(2, TagGate1SP), ua.AttributeIDDisplayName, float64(1), ua.StatusBadNotWritable},
		{"out of range", ua.NewStringNodeID(2, TagGate1SP), ua.AttributeIDValue, float64(250), ua.StatusBadOutOfRange},
		{"string value", ua.NewStringNodeID(2, TagGate1SP), ua.AttributeIDValue, "open", ua.StatusBadTypeMismatch},
		{"bool to analog", ua.NewStringNodeID(2, TagGate1SP), ua.AttributeIDValue, true, ua.StatusBadTypeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := u.call(func(h *ua.RequestHeader) ua.Request {
				return &ua.WriteRequest{RequestHeader: h, NodesToWrite: []*ua.WriteValue{{NodeID: tc.node, AttributeID: tc.attr,
					Value: &ua.DataValue{EncodingMask: ua.DataValueValue, Value: ua.MustVariant(tc.val)}}}}
			})
			if err != nil {
				t.Fatal(err)
			}
			r := resp.(*ua.WriteResponse)
			if len(r.Results) != 1 || r.Results[0] != tc.want {
				t.Errorf("results %v, want [%s]", r.Results, tc.want)
			}
		})
	}
	if got := p.Get(TagGate2SP); got != 17.5 {
		t.Errorf("gate 2 setpoint %v after the write, want 17.5", got)
	}
	if got := p.Get(TagT2SP); got != 20 {
		t.Errorf("turbine 2 setpoint %v after the write, want 20", got)
	}
	// The server is still there.
	if _, err := u.readTags([]string{TagLevel}); err != nil {
		t.Fatalf("read after the writes: %v", err)
	}
}

// TestUASurvivesGarbage sends bytes that are not OPC UA, and a truncated
// Hello, to the OPC UA port; the server must keep serving.
func TestUASurvivesGarbage(t *testing.T) {
	u, ep, _ := uaSession(t)
	addr := ep.OPCUA[len("opc.tcp://"):]
	for _, b := range [][]byte{
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		{'H', 'E', 'L', 'F', 0xff, 0xff, 0xff, 0x7f, 0, 0},
		{'M', 'S', 'G', 'F', 0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(b)
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		var buf [256]byte
		c.Read(buf[:])
		c.Close()
	}
	v, err := u.readTags([]string{TagLevel})
	if err != nil || len(v) != 1 || v[0].Status != ua.StatusOK {
		t.Fatalf("read after garbage: %v %v", v, err)
	}
}

// TestUAStockHandlersSurvive sends the requests that name missing namespaces
// and nodes to gopcua's stock handlers we keep (Read, Browse) and checks
// that they answer with bad status codes instead of crashing the process.
func TestUAStockHandlersSurvive(t *testing.T) {
	u, _, _ := uaSession(t)
	for _, n := range []*ua.NodeID{ua.NewStringNodeID(7, "x"), ua.NewNumericNodeID(2, 99999), ua.NewStringNodeID(2, "")} {
		if _, err := u.browse(n); err != nil {
			t.Logf("browse %s: %v", n, err)
		}
		resp, err := u.call(func(h *ua.RequestHeader) ua.Request {
			return &ua.ReadRequest{RequestHeader: h, NodesToRead: []*ua.ReadValueID{{NodeID: n, AttributeID: ua.AttributeIDValue, DataEncoding: &ua.QualifiedName{}}}}
		})
		if err != nil {
			t.Fatalf("read %s: %v", n, err)
		}
		if r := resp.(*ua.ReadResponse); len(r.Results) != 1 || r.Results[0].Status == ua.StatusOK {
			t.Errorf("read %s: %+v, want one bad result", n, r.Results)
		}
	}
	if _, err := u.readTags([]string{TagLevel}); err != nil {
		t.Fatalf("server gone: %v", err)
	}
}

// TestUARecodeIsIdentity is what makes normalize honest: a server message
// decoded with gopcua's codec and encoded again, unchanged, gives back the
// server's bytes, so a normalized record differs from the wire only in the
// fields normalize sets.
func TestUARecodeIsIdentity(t *testing.T) {
	u, _, _ := uaSession(t)
	check := func(what string) {
		t.Helper()
		m := new(uasc.Message)
		if _, err := m.Decode(u.lastRaw); err != nil {
			t.Fatalf("%s: decode: %v", what, err)
		}
		b, err := m.Encode()
		if err != nil {
			t.Fatalf("%s: encode: %v", what, err)
		}
		if !bytes.Equal(b, u.lastRaw) {
			t.Errorf("%s: re-encoded message differs\n got % x\nwant % x", what, b, u.lastRaw)
		}
	}
	if _, err := u.readTags([]string{TagLevel, TagT1Closed}); err != nil {
		t.Fatal(err)
	}
	check("ReadResponse")
	if _, err := u.browse(ua.NewStringNodeID(uaDamNS, "Dam")); err != nil {
		t.Fatal(err)
	}
	check("BrowseResponse")
	if _, err := u.writeTag(TagGate1SP, float64(15)); err != nil {
		t.Fatal(err)
	}
	check("WriteResponse")
	if err := u.subscribe(alarmTags); err != nil {
		t.Fatal(err)
	}
	check("CreateMonitoredItemsResponse")
	if err := u.publish(); err != nil {
		t.Fatal(err)
	}
	check("PublishResponse")
}

// TestUALogger checks what of gopcua's server logging reaches the
// simulator's log: problems, formatted; not per-call debug lines, not
// routine channel closes; nothing (and no panic) without a logger.
func TestUALogger(t *testing.T) {
	var buf strings.Builder
	l := uaLogger{log.New(&buf, "", 0)}
	l.Debug("read %v", 1)
	l.Info("session %d", 2)
	l.Warn("Secure Channel %d closed", 3)
	l.Error("socket closed: %s", "eof")
	l.Warn("Could Not Find Namespace %d", 7)
	l.Error("monitorConnections: Error received: %s\n", "boom")
	want := "opc ua: Could Not Find Namespace 7\nopc ua: monitorConnections: Error received: boom\n"
	if got := buf.String(); got != want {
		t.Errorf("logged %q, want %q", got, want)
	}
	uaLogger{}.Error("no logger %d", 1)
}
