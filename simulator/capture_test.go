package simulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestCaptureDeterministic(t *testing.T) {
	for _, sc := range []string{"recon", "opcua_security_downgrade", "diagnostics", "lateral_movement"} {
		cfg := CaptureConfig{Scenario: sc, Duration: 7 * time.Minute, Seed: 7}
		a, la, err := Capture(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, lb, err := Capture(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(a) != sha256.Sum256(b) {
			t.Fatalf("%s: two captures with the same configuration differ (%d and %d bytes)", sc, len(a), len(b))
		}
		ja, _ := la.MarshalJSON()
		jb, _ := lb.MarshalJSON()
		if !bytes.Equal(ja, jb) {
			t.Fatalf("%s: labels differ:\n%s\n%s", sc, ja, jb)
		}
		cfg.Seed = 8
		c, _, err := Capture(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, c) {
			t.Errorf("%s: seeds 7 and 8 give the same capture", sc)
		}
	}
}

// ruleNames are the names of every rule (docs/alerts.md).
var ruleNames = []string{"new_device", "new_master", "new_channel", "unexpected_function", "unexpected_write",
	"write_value_out_of_range", "diagnostic_command", "device_identification_read", "scan", "malformed",
	"non_protocol_traffic", "exception_burst", "request_flood", "poll_stopped", "opcua_new_client",
	"opcua_anonymous_session", "opcua_security_downgrade", "opcua_unexpected_write", "opcua_unexpected_call",
	"cleartext_credentials", "protocol_fuzzing", "dnp3_new_master", "dnp3_unexpected_function",
	"dnp3_unexpected_control", "dnp3_control_value_out_of_range", "dnp3_restart", "dnp3_stop_application",
	"dnp3_disable_unsolicited", "dnp3_file_operation", "dnp3_time_change", "dnp3_integrity_scan",
	"dnp3_auth_failure", "process_value_out_of_range", "process_rate_of_change", "process_value_frozen",
	"process_state_unexpected",
	// issue #11, rules 42-45
	"new_conversation", "new_service", "it_protocol_to_controller", "port_scan"}

type frame struct {
	ts       time.Time
	src, dst string
	payload  int
	syn      bool // a TCP SYN: a scan's probe
}

func frames(t *testing.T, pcap []byte) []frame {
	t.Helper()
	r, err := pcapgo.NewReader(bytes.NewReader(pcap))
	if err != nil {
		t.Fatal(err)
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		switch {
		case ip == nil || p.ErrorLayer() != nil || (tcp == nil && udp == nil):
			t.Fatalf("frame at %s does not decode as Ethernet/IPv4/TCP or UDP", ci.Timestamp)
		case tcp != nil:
			out = append(out, frame{ts: ci.Timestamp, src: ip.SrcIP.String(), dst: ip.DstIP.String(), payload: len(tcp.Payload), syn: tcp.SYN && !tcp.ACK})
		default:
			out = append(out, frame{ts: ci.Timestamp, src: ip.SrcIP.String(), dst: ip.DstIP.String(), payload: len(udp.Payload)})
		}
	}
	return out
}

// TestCaptureLabels checks every scenario's labels against the issue's
// format and against the wire: the attack window holds the attacker's
// frames, and for an attacker that only attacks, all of them.
func TestCaptureLabels(t *testing.T) {
	mitre := regexp.MustCompile(`^T0[0-9]{3}$`)
	for _, sc := range Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			d := 10 * time.Minute
			pcap, l, err := Capture(context.Background(), CaptureConfig{Scenario: sc.Name, Duration: d, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			if l.Scenario != sc.Name || l.Seed != 2 || !l.Start.Equal(Epoch) || !l.End.Equal(Epoch.Add(d)) {
				t.Errorf("header %+v", l)
			}
			if len(l.Attacks) != len(sc.attacks) {
				t.Fatalf("%d attack labels, want %d", len(l.Attacks), len(sc.attacks))
			}
			fr := frames(t, pcap)
			if len(fr) < 1000 {
				t.Fatalf("only %d frames in 10 minutes", len(fr))
			}
			for _, a := range l.Attacks {
				if a.Start.Before(Epoch.Add(attackStart(d))) || !a.End.After(a.Start) || a.End.After(l.End) {
					t.Errorf("%s: window %s..%s", a.Name, a.Start, a.End)
				}
				for _, r := range a.ExpectedRules {
					if !slices.Contains(ruleNames, r) {
						t.Errorf("%s: rule %q is not one of the rules' names", a.Name, r)
					}
				}
				for _, m := range a.MITRE {
					if !mitre.MatchString(m) {
						t.Errorf("%s: %q is not an ATT&CK for ICS technique id", a.Name, m)
					}
				}
				in, out := 0, 0
				for _, f := range fr {
					if f.src != a.SrcIP || f.dst != a.DestIP || (f.payload == 0 && !f.syn) {
						continue
					}
					if f.ts.Before(a.Start) || f.ts.After(a.End) {
						out++
					} else {
						in++
					}
				}
				if in == 0 && sc.Name != "poll_stop" {
					t.Errorf("%s: no data from %s to %s inside %s..%s", a.Name, a.SrcIP, a.DestIP, a.Start, a.End)
				}
				if a.SrcIP == HostAttacker.IP.String() || a.SrcIP == HostLaptop.IP.String() {
					if out != 0 {
						t.Errorf("%s: %d data frames of the attacker outside its window", a.Name, out)
					}
				}
			}
			j, err := l.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var generic map[string]any
			if err := json.Unmarshal(j, &generic); err != nil {
				t.Fatalf("labels are not JSON: %v\n%s", err, j)
			}
			for _, k := range []string{"scenario", "seed", "start", "end", "attacks"} {
				if _, ok := generic[k]; !ok {
					t.Errorf("labels lack %q", k)
				}
			}
		})
	}
}

// TestCaptureTshark has Wireshark's dissectors judge every scenario: no
// malformed frame, no bad checksum, no TCP analysis complaint, and both
// protocols recognised on their ports.
func TestCaptureTshark(t *testing.T) {
	tshark := needTshark(t, "runs tshark on every scenario")
	dir := t.TempDir()
	for _, sc := range Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			f := filepath.Join(dir, sc.Name+".pcap")
			if _, err := WriteCapture(context.Background(), CaptureConfig{Scenario: sc.Name, Duration: 3 * time.Minute, Seed: 3, Out: f}); err != nil {
				t.Fatal(err)
			}
			// One pass: per frame its protocols and the fields that
			// flag a problem (a UDP frame's checksum status stands
			// for its TCP one).
			out, err := exec.Command(tshark, "-n", "-r", f, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
				"-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "frame.protocols", "-e", "_ws.malformed",
				"-e", "tcp.analysis.flags", "-e", "tcp.analysis.window_update", "-e", "tcp.checksum.status", "-e", "ip.checksum.status",
				"-e", "udp.checksum.status").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			var modbus, opcua, bad int
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Split(line, "|")
				if len(f) != 8 {
					t.Fatalf("tshark line %q", line)
				}
				if f[5] == "" {
					f[5] = f[7]
				}
				switch {
				case strings.Contains(f[1], ":modbus"):
					modbus++
				case strings.Contains(f[1], ":opcua"):
					opcua++
				}
				// Checksum status 1 is good, 0 bad, 2 unverified
				// (Wireshark's proto_checksum_enum_e): demand 1.
				if f[2] != "" || (f[3] != "" && f[4] == "") || f[5] != "1" || f[6] != "1" {
					if bad++; bad <= 5 {
						t.Errorf("frame %s: protocols %s malformed %q analysis %q checksums tcp %q ip %q", f[0], f[1], f[2], f[3], f[5], f[6])
					}
				}
			}
			if modbus < 500 {
				t.Errorf("tshark recognised %d Modbus frames in 3 minutes", modbus)
			}
			if opcua < 50 {
				t.Errorf("tshark recognised %d OPC UA frames in 3 minutes", opcua)
			}
		})
	}
}

// needTshark returns tshark's path, or skips the test when tshark is not
// installed or in -short mode (why says what the test runs).
func needTshark(t *testing.T, why string) string {
	t.Helper()
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark; make tools)")
	}
	if testing.Short() {
		t.Skip(why)
	}
	return tshark
}

// TestTestdataUpToDate checks that the committed testdata/sim_* captures are
// what `make testdata` generates now.
func TestTestdataUpToDate(t *testing.T) {
	dir := t.TempDir()
	paths, err := WriteTestdata(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		for _, name := range []string{filepath.Base(p), filepath.Base(LabelsPath(p))} {
			want, err := os.ReadFile(filepath.Join("..", "testdata", name))
			if err != nil {
				t.Skipf("testdata/%s missing: run make testdata", name)
			}
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("testdata/%s is stale: run make testdata", name)
			}
			if len(got) > 300<<10 {
				t.Errorf("testdata/%s is %d bytes, keep it under 300 KB", name, len(got))
			}
		}
	}
}

// BenchmarkCaptureHour generates one hour of normal operation.
func BenchmarkCaptureHour(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		pcap, _, err := Capture(context.Background(), CaptureConfig{Scenario: "normal", Duration: time.Hour, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(pcap)), "pcap-bytes")
	}
}
