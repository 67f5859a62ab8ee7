package opcua

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// FuzzFramer feeds arbitrary bytes, split in two at a position taken from
// the input, to a Framer and a Conn. Nothing may panic, every chunk must
// be whole and within the size limit, and every byte must be accounted
// for: emitted, skipped, or buffered. Seeds: client and server streams of
// the real captures (testdata/fuzz/FuzzFramer).
func FuzzFramer(f *testing.F) {
	f.Add([]byte(vecHEL+vecOPN), uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		c := int(cut) % (len(data) + 1)
		fr := NewFramer(1 << 16)
		conn := NewConn(Config{MaxChunkSize: 1 << 16}, func(m *Message) {
			if b := m.AppendJSON(nil); !json.Valid(b) {
				t.Fatalf("invalid JSON %s", b)
			}
		})
		emit := func(ch Chunk) {
			if uint32(len(ch.Raw)) != ch.Size || ch.Size > fr.MaxChunkSize() && ch.Type != TypeHEL && ch.Type != TypeACK {
				t.Fatalf("chunk %s size %d raw %d max %d", ch.Type, ch.Size, len(ch.Raw), fr.MaxChunkSize())
			}
			conn.Client(ch, time.Unix(0, 0))
			conn.Server(ch, time.Unix(0, 0))
		}
		fr.Feed(data[:c], emit)
		fr.Feed(data[c:], emit)
		s := fr.Stats()
		if got := s.Bytes + s.SkippedBytes + uint64(len(fr.buf)); got != uint64(len(data)) {
			t.Fatalf("accounted %d of %d bytes (%+v, buffered %d)", got, len(data), s, len(fr.buf))
		}
		conn.Close(time.Unix(1, 0))
	})
}

// FuzzMessage decodes arbitrary service bodies (type id + structure) on
// both the fast path and gopcua's, as a request and as a response. Nothing
// may panic; decoded results must render as valid JSON; when both paths
// decode, they must agree exactly. Seeds: every distinct service body of the real
// captures (testdata/fuzz/FuzzMessage).
func FuzzMessage(f *testing.F) {
	f.Add(unhex(f, vecWrite)[24:])
	f.Add(unhex(f, vecReadResp)[24:])
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, _, _, ferr := decodeBodyWith(body, 1<<16, true)
		slow, _, _, serr := decodeBodyWith(body, 1<<16, false)
		if ferr == nil && serr == nil {
			// Compared as rendered (NaN defeats reflect.DeepEqual), plus
			// the session link, which is not rendered.
			fj, sj := appendService(nil, fast, 0, true), appendService(nil, slow, 0, true)
			if string(fj) != string(sj) || fast.authToken != slow.authToken {
				t.Fatalf("fast   %s %q\ngopcua %s %q", fj, fast.authToken, sj, slow.authToken)
			}
			// Data changes are not rendered: compare them here.
			if len(fast.DataChanges) != len(slow.DataChanges) {
				t.Fatalf("fast %d data changes, gopcua %d", len(fast.DataChanges), len(slow.DataChanges))
			}
			for i, a := range fast.DataChanges {
				b := slow.DataChanges[i]
				same := a.Value.Number == b.Value.Number || a.Value.Number != a.Value.Number && b.Value.Number != b.Value.Number
				if a.ClientHandle != b.ClientHandle || a.Status != b.Status || a.Value.Type != b.Value.Type || !same {
					t.Fatalf("data change %d: fast %+v, gopcua %+v", i, a, b)
				}
			}
		}
		conn := NewConn(Config{}, func(m *Message) {
			if b := m.AppendJSON(nil); !json.Valid(b) {
				t.Fatalf("invalid JSON %s", b)
			}
		})
		ch := msgChunk("MSG", ChunkFinal, 1, 1, body)
		conn.FeedClient(ch, time.Unix(0, 0))
		conn.FeedServer(ch, time.Unix(0, 1))
		conn.Close(time.Unix(0, 2))
	})
}

// TestWriteFuzzSeeds regenerates the seed corpora from the real captures
// (OPCUA_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("OPCUA_FUZZ_SEEDS") == "" {
		t.Skip("set OPCUA_FUZZ_SEEDS=1 to regenerate testdata/fuzz seeds")
	}
	write := func(dir, name string, args ...string) {
		p := filepath.Join("testdata", "fuzz", dir)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		s := "go test fuzz v1\n"
		for _, a := range args {
			s += a + "\n"
		}
		if err := os.WriteFile(filepath.Join(p, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bodies := map[uint32]bool{}
	// The simulator's capture comes last, its service bodies under names of
	// their own: its server sends a certificate in CreateSession and
	// GetEndpoints responses, the public captures' servers send none.
	sim := filepath.Join("..", "..", "testdata", "sim_normal.pcap")
	for _, f := range append(captures(t), sim) {
		base, prefix := filepath.Base(f), "svc"
		if f == sim {
			bodies, prefix = map[uint32]bool{}, "sim-svc"
		}
		var stream [2][]byte
		fr := [2]*Framer{NewFramer(0), NewFramer(0)}
		for _, s := range readSegments(t, f) {
			d := 0
			if s.src.Port() == 4840 {
				d = 1
			}
			if len(stream[d]) < 4096 {
				stream[d] = append(stream[d], s.payload...)
			}
			fr[d].Feed(s.payload, func(c Chunk) {
				if c.Type != TypeMSG || c.ChunkType != ChunkFinal {
					return
				}
				tid, _, ok := peekTypeID(c.Body)
				if !ok || bodies[tid] || len(c.Body) > 4096 {
					return
				}
				bodies[tid] = true
				write("FuzzMessage", fmt.Sprintf("%s-%d", prefix, tid), "[]byte("+strconv.Quote(string(c.Body))+")")
			})
		}
		for d, b := range stream {
			if len(b) > 0 && f != sim { // the simulator's streams mix Modbus in
				write("FuzzFramer", fmt.Sprintf("%s-%d", base, d), "[]byte("+strconv.Quote(string(b))+")", fmt.Sprintf("uint16(%d)", len(b)/3))
			}
		}
	}
}
