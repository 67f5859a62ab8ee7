package capture

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzOpenFile seeds from the real captures")

// FuzzOpenFile reads arbitrary bytes as a capture, with and without a known
// size. Nothing panics; every failure is classified (not a capture,
// truncated, corrupt) and sticky; no packet claims fewer bytes on the wire
// than it holds; and the reader never consumes more than it was given.
func FuzzOpenFile(f *testing.F) {
	f.Add(pcapBytes(leOrder, false, 1, [][]byte{[]byte("frame")}, fixedTime))
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a})
	f.Add(gzipped(pcapBytes(leOrder, true, 1, [][]byte{[]byte("frame"), []byte("two")}, fixedTime)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int64{int64(len(data)), -1} {
			r, err := NewReader(bytes.NewReader(data), "fuzz", size)
			if err != nil {
				if !errors.Is(err, ErrNotCapture) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("open: unclassified error %v", err)
				}
				continue
			}
			for n := 0; ; n++ {
				p, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
						t.Fatalf("packet %d: unclassified error %v", n, err)
					}
					if _, err2 := r.Next(); err2 != err {
						t.Fatalf("error not sticky: %v then %v", err, err2)
					}
					break
				}
				if len(p.Data) > p.Length {
					t.Fatalf("packet %d: %d bytes, wire length %d", n, len(p.Data), p.Length)
				}
				if n > len(data) {
					t.Fatalf("%d packets from %d bytes", n, len(data))
				}
			}
			if read, _ := r.Progress(); read > int64(len(data)) {
				t.Fatalf("consumed %d of %d bytes", read, len(data))
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates FuzzOpenFile's seeds from the real
// captures (pcap and pcapng, whole small files and the heads of larger ones,
// which end mid-record), and FuzzReaderMatchesReference's (which also
// starts from FuzzOpenFile's): the head of a pcapng capture of several
// blocks, and gzip-compressed heads of a loopback (null link type) pcap
// and of a pcapng capture. go test -run TestWriteFuzzSeeds -update-seeds
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzOpenFile")
	}
	dir := pcapsDir(t)
	head := func(name string, n int) []byte {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data[:min(len(data), n)]
	}
	write := func(target, name string, data []byte) {
		out := filepath.Join("testdata", "fuzz", target, strings.TrimSuffix(filepath.Base(name), ".pcap"))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(out, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{
		"modbus/zeek_modbus-eit.pcap",
		"modbus/zeek_4SICS-GeekLounge-151022-min.pcap",
		"modbus/zeek_fuzz-1011.pcap",
		"modbus/iti_ModbusTCP.pcap",
		"opcua/icsnpp_open62541_client-server-getEndpoints.pcap",
		"opcua/icsnpp_opcua_with-gap_with-handshake.pcap",
		"opcua/icsnpp_python_opcua-client-server_minimal.pcap",
	} {
		write("FuzzOpenFile", name, head(name, 4096))
	}
	write("FuzzReaderMatchesReference", "opcua/icsnpp_open62541_client-server_mainloop.pcap", head("opcua/icsnpp_open62541_client-server_mainloop.pcap", 4096))
	write("FuzzReaderMatchesReference", "read_service_test_data.gz", gzipped(head("opcua/icsnpp_open62541_read_service_test_data.pcap", 4096)))
	write("FuzzReaderMatchesReference", "python_encrypted.gz", gzipped(head("opcua/icsnpp_python_opcua-client-server_encrypted.pcap", 3000)))
}
