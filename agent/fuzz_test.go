package agent

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// FuzzStreams drives the per-connection glue, and through it the Modbus and
// OPC UA decoders and the baselines, with hostile bytes: data is cut at
// split into a client part and a server part, each delivered in two calls,
// with a gap in between when gap is set. Whatever the bytes, every output
// line must be one JSON object and no decoder may panic (a recovered panic
// is still a bug: the connection it silences is lost to monitoring).
//
// Seeds are a few hand-made ADUs and chunks and, in testdata/fuzz (see
// TestWriteFuzzSeeds), the first TCP payloads of real captures.
func FuzzStreams(f *testing.F) {
	// 00 01 00 00 00 06 01 03 00 64 00 02: FC 3 request; and its response.
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x64, 0x00, 0x02,
		0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x01, 0x03, 0x04, 0x00, 0x11, 0x00, 0x2a}, uint16(12), false, false)
	f.Add([]byte("HELF\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00"), uint16(32), true, false)
	f.Fuzz(func(t *testing.T, data []byte, split uint16, opcua, gap bool) {
		var out bytes.Buffer
		a, err := New(DefaultConfig(&out))
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(502)
		if opcua {
			port = 4840
		}
		c := testConn("10.0.0.1", "10.0.0.2", 40000, port)
		st := a.newStream(c, time.Unix(0, 0))
		if st == nil {
			t.Fatal("no stream for a configured port")
		}
		cut := min(int(split), len(data))
		ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, part := range [][]byte{data[:cut], data[cut:]} {
			dir := flow.Dir(i)
			h := len(part) / 2
			st.Data(dir, part[:h], ts)
			if gap {
				st.Gap(dir, 10, ts)
			}
			st.Data(dir, part[h:], ts.Add(time.Millisecond))
			ts = ts.Add(time.Second)
		}
		st.Close(flow.CloseEnd, ts)
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if n := a.Stats().RecoveredPanics; n != 0 {
			t.Fatalf("%d decoder panics recovered; output:\n%s", n, out.Bytes())
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(out.Bytes(), []byte("\n")), []byte("\n")) {
			if !json.Valid(line) || line[0] != '{' {
				t.Fatalf("not one JSON object: %q", line)
			}
		}
	})
}

type payloadSeed struct {
	name  string // of the capture, without its extension
	data  []byte
	split uint16
	opcua bool
}

// realPayloadSeeds returns, for a few real captures, the first client
// payloads followed by the first server payloads of their first decoded
// connection.
func realPayloadSeeds() []payloadSeed {
	dir := testpcaps.Root()
	var seeds []payloadSeed
	for _, rel := range []string{
		"modbus/icsnpp_modbus_example.pcap", "modbus/iti_modbus_test_data_part2.pcap",
		"modbus/zeek_modbus-eit.pcap", "modbus/iti_modicon_test.pcap",
		"opcua/icsnpp_open62541_client-server_minimal.pcap", "opcua/icsnpp_python_opcua-client-server_encrypted.pcap",
	} {
		f, err := capture.OpenFile(filepath.Join(dir, rel))
		if err != nil {
			continue
		}
		dec := flow.NewDecoder()
		var cli, srv []byte
		isUA := filepath.Dir(rel) == "opcua"
		for len(cli)+len(srv) < 4096 {
			p, err := f.Next()
			if err != nil { // io.EOF or a damaged file: enough seeds
				break
			}
			s, err := dec.Decode(p.Data, p.LinkType)
			if err != nil || s == nil || len(s.Payload) == 0 {
				continue
			}
			switch {
			case s.DstPort == 502 || s.DstPort == 4840:
				cli = append(cli, s.Payload...)
			case s.SrcPort == 502 || s.SrcPort == 4840:
				srv = append(srv, s.Payload...)
			}
		}
		f.Close()
		if len(cli)+len(srv) > 0 {
			seeds = append(seeds, payloadSeed{strings.TrimSuffix(filepath.Base(rel), ".pcap"), append(cli, srv...), uint16(min(len(cli), 65535)), isUA})
		}
	}
	return seeds
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzStreams from the real captures")

// TestWriteFuzzSeeds writes FuzzStreams's seed corpus from the real
// captures (realPayloadSeeds), so that the fuzzer starts from real
// conversations where ../shared/pcaps is absent; each also with a gap in
// both directions: go test -run TestWriteFuzzSeeds -update-seeds ./agent/
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzStreams")
	}
	seeds := realPayloadSeeds()
	if len(seeds) == 0 {
		t.Fatal("no shared captures")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzStreams")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range seeds {
		for _, gap := range []bool{false, true} {
			name := s.name
			if gap {
				name += "-gap"
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint16(%d)\nbool(%t)\nbool(%t)\n", s.data, s.split, s.opcua, gap)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzParseUDP: the UDP datagram parser of the DNP3-over-UDP path takes any
// bytes on any link type without panicking, and a payload it returns lies
// inside the frame.
func FuzzParseUDP(f *testing.F) {
	udp := []byte{
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, // Ethernet
		0x45, 0, 0, 32, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4, UDP
		0x4e, 0x20, 0x4e, 0x20, 0, 12, 0, 0, 0x05, 0x64, 0x05, 0xc0, // UDP 20000 → 20000, 4 octets
	}
	f.Add(udp, uint8(1))
	f.Add(udp[14:], uint8(101))
	f.Fuzz(func(t *testing.T, b []byte, lt uint8) {
		_, _, payload, _, _, ok := parseUDP(b, layers.LinkType(lt))
		if !ok {
			return
		}
		if len(payload) > len(b) {
			t.Fatalf("payload of %d octets from a frame of %d", len(payload), len(b))
		}
		if len(payload) > 0 && !bytes.Contains(b, payload) {
			t.Fatal("payload not from the frame")
		}
	})
}
