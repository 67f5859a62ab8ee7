package main

import (
	"encoding/hex"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// Two Ethernet/IPv4/TCP SYNs, 10.0.0.1:40000 → 10.0.0.2:502 and → :80
// (hand-built; checksums zero, which a socket filter does not look at):
//
//	0000  00 00 00 00 00 02 00 00 00 00 00 01 08 00 45 00
//	0010  00 28 00 00 40 00 40 06 00 00 0a 00 00 01 0a 00
//	0020  00 02 9c 40 01 f6 00 00 00 00 00 00 00 00 50 02
//	0030  ff ff 00 00 00 00
const (
	synTo502 = "000000000002000000000001080045000028000040004006000" + "00a0000010a0000029c4001f6000000000000000050" + "02ffff00000000"
	synTo80  = "000000000002000000000001080045000028000040004006000" + "00a0000010a0000029c400050000000000000000050" + "02ffff00000000"
)

func TestCompileBPF(t *testing.T) {
	frame := func(h string) []byte {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	f502, f80 := frame(synTo502), frame(synTo80)
	for _, tc := range []struct {
		expr          string
		errSub        string
		match502, m80 bool
	}{
		{expr: "port 502", match502: true},
		{expr: "tcp and (port 502 or port 4840)", match502: true},
		{expr: "host 10.0.0.2 and port 80", m80: true},
		{expr: "not port 502", m80: true},
		{expr: "dst port 502", match502: true},
		{expr: "src port 502"},
		{expr: "", errSub: "empty"},
		{expr: "vlan", errSub: "parse"},
		{expr: "foo bar", errSub: "parse"},
		{expr: "tcp[13] & 2 != 0", errSub: "byte-offset"},
		{expr: "portrange 500-510", errSub: "portrange"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			raw, err := compileBPF(tc.expr)
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("error %v, want one containing %q", err, tc.errSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			insns, ok := bpf.Disassemble(raw)
			if !ok {
				t.Fatalf("program does not disassemble: %v", insns)
			}
			vm, err := bpf.NewVM(insns)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name  string
				frame []byte
				want  bool
			}{{"syn to 502", f502, tc.match502}, {"syn to 80", f80, tc.m80}} {
				n, err := vm.Run(c.frame)
				if err != nil {
					t.Fatal(err)
				}
				if got := n > 0; got != c.want {
					t.Errorf("%s: accepted %v, want %v", c.name, got, c.want)
				}
			}
		})
	}
}
