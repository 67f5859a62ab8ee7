package agent

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
	"github.com/sluice-ics/sluice/simulator"
)

// programTransfers returns the signatures of the program_transfer alerts
// (not their updates) in out.
func programTransfers(t *testing.T, out []byte) []string {
	t.Helper()
	var sigs []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.Contains(line, `"event_type":"alert"`) || !strings.Contains(line, `"rule":"program_transfer"`) ||
			strings.Contains(line, `"update":true`) {
			continue
		}
		_, sig, _ := strings.Cut(line, `"signature":"`)
		sig, _, _ = strings.Cut(sig, `"`)
		sigs = append(sigs, sig)
	}
	return sigs
}

// TestProgramTransferCapture: ITI's capture of Unity Pro and a Modicon PLC
// (Schneider UMAS over Modbus FC 90) reads the PLC's program out:
// initialize_download, 53 download_block requests, end_strategy_download
// (UMAS names reading the program out "download"). One program_transfer
// alert names it a read-out, T0845; the events name every UMAS function.
func TestProgramTransferCapture(t *testing.T) {
	out := replayFile(t, filepath.Join(pcapsDir(t), "modbus", "iti_modicon_test.pcap"), nil)
	sigs := programTransfers(t, out)
	if want := "Modbus master 192.168.63.100 reads the program out of PLC 192.168.63.253 unit 0 (UMAS initialize_download)"; len(sigs) != 1 || sigs[0] != want {
		t.Errorf("program_transfer alerts %q, want one %q", sigs, want)
	}
	for _, want := range []string{
		`"request":{"umas":{"pairing_key":1,"function_code":52,"function":"download_block"},"data":"00010100"}`,
		`"request":{"umas":{"pairing_key":0,"function_code":2,"function":"read_id"},"data":""}`,
		`"response":{"umas":{"pairing_key":1,"status_code":254,"status":"ok"}`,
		`"category":"Program Download","metadata":{"mitre_technique_id":["T0843","T0845"]}`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %s", want)
		}
	}
}

// TestProgramTransferLive: a client writes a program into the simulator's
// PLC over a real TCP connection captured on loopback (UMAS
// initialize_upload, upload_block, end_strategy_upload after an
// init_comm). The simulator, like a PLC without UMAS, answers each with
// exception 01; the attempt is still one program_transfer alert (a
// signature: the agent is still learning), a write into the PLC, and the
// init_comm raises nothing. Needs root (CAP_NET_RAW), like the other live
// test.
func TestProgramTransferLive(t *testing.T) {
	port := freeLoopbackPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := startLiveAgent(t, ctx, func(cfg *Config) { cfg.Ports = map[string][]uint16{"modbus": {port}} })
	simCtx, simCancel := context.WithCancel(ctx)
	ep, simDone := serveSimulator(t, simCtx, simulator.Config{ModbusAddr: "127.0.0.1:" + strconv.Itoa(int(port)),
		OPCUAEndpoint: "off", DNP3Addr: "off", Seed: 1})
	c, err := net.DialTimeout("tcp", ep.Modbus, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range []modbus.UMASFunction{modbus.UMASInitComm, modbus.UMASInitializeUpload, modbus.UMASUploadBlock,
		modbus.UMASUploadBlock, modbus.UMASEndStrategyUpload} {
		req := modbus.Request{Function: modbus.FuncUMAS, UMAS: modbus.UMAS{Function: f, Valid: true}, Data: []byte{0x00, 0x01, byte(i)}}
		pdu, err := req.AppendPDU(nil)
		if err != nil {
			t.Fatal(err)
		}
		adu := modbus.ADU{TransactionID: uint16(i + 1), UnitID: 1, PDU: pdu}
		b, _ := adu.Append(nil)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		resp := make([]byte, 9)
		if _, err := io.ReadFull(c, resp); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if resp[7] != 0x80|90 || resp[8] != 1 {
			t.Fatalf("response % x, want exception 01 to FC 90", resp)
		}
	}
	c.Close()
	simCancel()
	<-simDone
	o := []byte(l.stop(t))
	sigs := programTransfers(t, o)
	if want := "Modbus master 127.0.0.1 writes a program into PLC 127.0.0.1 unit 1 (UMAS initialize_upload)"; len(sigs) != 1 || sigs[0] != want {
		t.Errorf("program_transfer alerts %q, want one %q\n%s", sigs, want, o)
	}
	for _, want := range []string{
		`"request":{"umas":{"pairing_key":0,"function_code":1,"function":"init_comm"},"data":"000100"}`,
		`"request":{"umas":{"pairing_key":0,"function_code":49,"function":"upload_block"},"data":"000102"},"response":{},"exception_code":1`,
	} {
		if !strings.Contains(string(o), want) {
			t.Errorf("no %s", want)
		}
	}
}
