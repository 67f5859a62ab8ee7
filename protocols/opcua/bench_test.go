package opcua

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the user+system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPair feeds one request/response pair per op through a Conn (two
// wire messages, one emitted Message).
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
	b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "wire-msgs/s")
}

// BenchmarkWritePair: one real WriteRequest + WriteResponse (frames 88/90
// of the mainloop capture) per op, framed, decoded, paired.
func BenchmarkWritePair(b *testing.B) { benchPair(b, vecWrite, vecWriteResp) }

// BenchmarkReadPair: one real ReadRequest + ReadResponse per op.
func BenchmarkReadPair(b *testing.B) { benchPair(b, vecRead, vecReadResp) }

// BenchmarkCaptureReadWrite replays every Read and Write exchange of the
// real captures (the 86 Reads over many data types, the mainloop sessions'
// Reads and Writes, the gap captures' Reads, python-opcua's Reads): the
// request and response chunks are taken out of their captures and merged
// into one client and one server stream, 16 requests then their 16
// responses per segment, as a pipelining HMI would. One op is one wire
// message (a request or a response), so ns/op and allocs/op are per
// message.
func BenchmarkCaptureReadWrite(b *testing.B) {
	type pair struct{ req, resp []byte }
	var pairs []pair
	for _, name := range []string{
		"icsnpp_open62541_read_service_test_data.pcap",
		"icsnpp_open62541_client-server_mainloop.pcap",
		"icsnpp_open62541_client-server_minimal.pcap",
		"icsnpp_opcua_with-gap.pcap",
		"icsnpp_python_opcua-client-server_minimal.pcap",
	} {
		pending := map[uint32][]byte{}
		fr := [2]*Framer{NewFramer(0), NewFramer(0)}
		for _, s := range readSegments(b, capturePath(b, name)) {
			d := 0
			if s.src.Port() == 4840 {
				d = 1
			}
			fr[d].Feed(s.payload, func(c Chunk) {
				if c.Type != TypeMSG || c.ChunkType != ChunkFinal {
					return
				}
				tid, _, _ := peekTypeID(c.Body)
				switch {
				case d == 0 && (tid == 631 || tid == 673):
					pending[c.RequestID] = append([]byte(nil), c.Raw...)
				case d == 1 && (tid == 634 || tid == 676) && pending[c.RequestID] != nil:
					pairs = append(pairs, pair{pending[c.RequestID], append([]byte(nil), c.Raw...)})
					delete(pending, c.RequestID)
				}
			})
		}
	}
	if len(pairs) < 100 {
		b.Fatalf("only %d Read/Write pairs", len(pairs))
	}
	const batch = 16
	var client, server [][]byte
	var bytes int
	for i := 0; i+batch <= len(pairs); i += batch {
		var cs, ss []byte
		for _, p := range pairs[i : i+batch] {
			cs = append(cs, p.req...)
			ss = append(ss, p.resp...)
		}
		client, server = append(client, cs), append(server, ss)
		bytes += len(cs) + len(ss)
	}
	var emitted int
	c := NewConn(Config{}, func(*Message) { emitted++ })
	ts := time.Unix(0, 0)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	wire := 0
	for wire < b.N {
		for i := range client {
			c.FeedClient(client[i], ts)
			c.FeedServer(server[i], ts)
			wire += 2 * batch
		}
	}
	b.StopTimer()
	if emitted*2 != wire {
		b.Fatalf("%d pairs emitted for %d wire messages", emitted, wire)
	}
	b.ReportMetric(float64(wire)/b.Elapsed().Seconds(), "wire-msgs/s")
	// On a shared machine wall time includes other people's work: the
	// process CPU time (GC included) is the fairer denominator.
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(wire)/cpu.Seconds(), "wire-msgs/cpu-s")
	}
	b.ReportMetric(float64(len(pairs)), "distinct-pairs")
}

// BenchmarkFramer frames the client stream of the mainloop capture, split
// as it was captured: the framer itself must not allocate.
func BenchmarkFramer(b *testing.B) {
	var segs [][]byte
	var total int
	for _, s := range readSegments(b, capturePath(b, "icsnpp_open62541_client-server_mainloop.pcap")) {
		if s.dst.Port() == 4840 && len(s.payload) > 0 {
			segs = append(segs, s.payload)
			total += len(s.payload)
		}
	}
	var chunks int
	emit := func(Chunk) { chunks++ }
	f := NewFramer(0)
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range segs {
			f.Feed(s, emit)
		}
	}
	b.StopTimer()
	if chunks == 0 {
		b.Fatal("no chunks")
	}
}
