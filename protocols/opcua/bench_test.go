package opcua

import (
	"testing"
	"time"
)

// benchPair feeds one request/response pair per op through a Conn.
func benchPair(b *testing.B, req, resp string) {
	rq, rs := unhex(b, req), unhex(b, resp)
	var n int
	c := NewConn(Config{}, func(*Message) { n++ })
	ts := time.Unix(0, 0)
	b.SetBytes(int64(len(rq) + len(rs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.FeedClient(rq, ts)
		c.FeedServer(rs, ts)
	}
	b.StopTimer()
	if n != b.N {
		b.Fatalf("%d messages for %d pairs", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkWritePair: one real WriteRequest + WriteResponse (frames 88/90
// of the mainloop capture) per op, framed, decoded, paired.
func BenchmarkWritePair(b *testing.B) { benchPair(b, vecWrite, vecWriteResp) }

// BenchmarkReadPair: one real ReadRequest + ReadResponse per op.
func BenchmarkReadPair(b *testing.B) { benchPair(b, vecRead, vecReadResp) }

// BenchmarkCaptureReadWrite replays the TCP payloads of the real Read/Write
// captures (86 Reads over many data types; the mainloop session with its
// Writes) over and over, shifting nothing but the Conn: an op is one emitted
// message, so ns/op and allocs/op are per message.
func BenchmarkCaptureReadWrite(b *testing.B) {
	type seg struct {
		client  bool
		payload []byte
	}
	var segs []seg
	for _, name := range []string{"icsnpp_open62541_read_service_test_data.pcap", "icsnpp_open62541_client-server_mainloop.pcap"} {
		for _, s := range readSegments(b, capturePath(b, name)) {
			if len(s.payload) == 0 {
				continue
			}
			segs = append(segs, seg{client: s.dst.Port() == 4840, payload: s.payload})
		}
	}
	var n int
	ts := time.Unix(0, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for n < b.N {
		c := NewConn(Config{}, func(*Message) { n++ })
		for _, s := range segs {
			if s.client {
				c.FeedClient(s.payload, ts)
			} else {
				c.FeedServer(s.payload, ts)
			}
		}
		c.Close(ts)
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}
