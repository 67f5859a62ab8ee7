package modbus

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// TestFidelityTshark decodes every capture in ../shared/pcaps/modbus and
// compares, frame by frame, with Wireshark's dissector (tshark): transaction
// id, unit id and function code of every ADU, address and quantity of
// requests, exception code of responses (issue 2, §6). It requires at least
// 99.9 % of ADUs to agree on every field and logs the figure per capture.
//
// Both sides list the fields of all ADUs that complete in a frame, in order,
// so several ADUs in one segment compare without any alignment guesswork.
func TestFidelityTshark(t *testing.T) {
	files := pcapFiles(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	var g testpcaps.Agreement
	for _, file := range files {
		a, n, diffs := fidelity(t, file)
		g.Add(t, file, a, n, "", diffs)
	}
	g.Require(t, "Modbus ADUs", 99.9)
}

// frameFields is what one side says about the ADUs completing in a frame:
// one comma-separated list per field, in ADU order.
type frameFields struct {
	n      int // ADUs
	fields [fieldCount][]string
}

const (
	fTID = iota
	fUnit
	fFunc
	fRef
	fWordCnt
	fBitCnt
	fReadRef
	fReadCnt
	fWriteRef
	fWriteCnt
	fException
	fieldCount
)

var tsharkFields = [fieldCount]string{"mbtcp.trans_id", "mbtcp.unit_id", "modbus.func_code",
	"modbus.reference_num", "modbus.word_cnt", "modbus.bit_cnt", "modbus.read_reference_num",
	"modbus.read_word_cnt", "modbus.write_reference_num", "modbus.write_word_cnt", "modbus.exception_code"}

func (f *frameFields) add(k int, v uint64) {
	f.fields[k] = append(f.fields[k], strconv.FormatUint(v, 10))
}

func fidelity(t *testing.T, file string) (agree, total int, diffs []string) {
	t.Helper()
	theirs := map[int]*frameFields{}
	args := []string{"-r", file, "-Y", "mbtcp", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
		"-e", "frame.number", "-e", "tcp.dstport"}
	for _, f := range tsharkFields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != fieldCount+2 {
			continue
		}
		num, _ := strconv.Atoi(cols[0])
		toServer := cols[1] == "502"
		ff := &frameFields{}
		for k := range fieldCount {
			if cols[k+2] != "" {
				ff.fields[k] = strings.Split(cols[k+2], ",")
			}
		}
		if toServer { // requests: no exception codes
			ff.fields[fException] = nil
		} else { // responses: ids and exception only
			for k := fRef; k < fException; k++ {
				ff.fields[k] = nil
			}
		}
		ff.n = len(ff.fields[fTID])
		theirs[num] = ff
	}

	ours := map[int]*frameFields{}
	for _, s := range readStreams(t, file) {
		if !s.toServer && s.src.Port() != 502 {
			continue // S7 on 102 and the like: not for a Modbus decoder
		}
		var f Framer
		if !s.sawSYN {
			f.Resync()
		}
		for _, sg := range s.segs {
			if sg.gap {
				f.Resync()
			}
			ff := ours[sg.frame]
			if ff == nil {
				ff = &frameFields{}
			}
			_ = f.Feed(sg.payload, func(a ADU) {
				ff.n++
				ff.add(fTID, uint64(a.TransactionID))
				ff.add(fUnit, uint64(a.UnitID))
				fc := a.Function()
				ff.add(fFunc, uint64(fc.Base())) // Wireshark shows the exception bit apart
				if s.toServer {
					addRequestFields(ff, fc, a.PDU[1:])
				} else if fc.IsException() {
					if r, _ := DecodeResponse(fc, a.PDU[1:]); len(a.PDU) > 1 {
						ff.add(fException, uint64(r.Exception))
					}
				}
			})
			if ff.n > 0 {
				ours[sg.frame] = ff
			}
		}
	}

	frames := map[int]bool{}
	for k := range theirs {
		frames[k] = true
	}
	for k := range ours {
		frames[k] = true
	}
	for num := range frames {
		th, ou := theirs[num], ours[num]
		n := 0
		switch {
		case th == nil:
			n = ou.n
			diffs = append(diffs, fmt.Sprintf("frame %d: %d ADUs tshark does not decode", num, ou.n))
		case ou == nil:
			n = th.n
			diffs = append(diffs, fmt.Sprintf("frame %d: %d ADUs only tshark decodes", num, th.n))
		default:
			n = max(th.n, ou.n)
			same := th.n == ou.n
			for k := range fieldCount {
				if strings.Join(th.fields[k], ",") != strings.Join(ou.fields[k], ",") {
					same = false
					diffs = append(diffs, fmt.Sprintf("frame %d: %s tshark %v, ours %v", num, tsharkFields[k], th.fields[k], ou.fields[k]))
				}
			}
			if same {
				agree += n
			}
		}
		total += n
	}
	return agree, total, diffs
}

// addRequestFields lists the fields Wireshark shows for a request of code
// fc: reference_num for codes that carry an address, word_cnt or bit_cnt
// for those that carry a quantity, the read/write pairs of FC 23.
func addRequestFields(ff *frameFields, fc FunctionCode, data []byte) {
	r, err := DecodeRequest(fc, data)
	end := fieldEnd(err, r.avail) // a too-short PDU lists what it carries
	add := func(ok bool, k int, v uint16) {
		if ok {
			ff.add(k, uint64(v))
		}
	}
	switch fc {
	case FuncReadCoils, FuncReadDiscreteInputs, FuncWriteMultipleCoils:
		add(end >= 2, fRef, r.Address)
		add(end >= 4, fBitCnt, r.Quantity)
	case FuncReadHoldingRegisters, FuncReadInputRegisters, FuncWriteMultipleRegisters:
		add(end >= 2, fRef, r.Address)
		add(end >= 4, fWordCnt, r.Quantity)
	case FuncWriteSingleCoil, FuncWriteSingleRegister, FuncMaskWriteRegister, FuncReadFIFOQueue:
		add(end >= 2, fRef, r.Address)
	case FuncReadWriteMultipleRegisters:
		add(end >= 2, fReadRef, r.Address)
		add(end >= 4, fReadCnt, r.Quantity)
		add(end >= 6, fWriteRef, r.WriteAddress)
		add(end >= 8, fWriteCnt, r.WriteQuantity)
	}
}
