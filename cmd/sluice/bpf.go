package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/packetcap/go-pcap/filter"
	"golang.org/x/net/bpf"
)

// maxBPFInstructions is the kernel's limit on a classic BPF socket filter
// (BPF_MAXINSNS).
const maxBPFInstructions = 4096

// compileBPF compiles a tcpdump filter expression (--bpf) to a classic BPF
// program for Ethernet frames, with a pure-Go compiler: the default build
// stays cgo-free, without libpcap.
//
// That compiler covers what a passive ICS monitor filters on: host, net,
// port with src/dst qualifiers; ether host; ip, ip6, arp, tcp, udp and
// other protocol names; and, or, not, parentheses. It rejects vlan and mpls,
// but it silently compiles byte-offset expressions (tcp[13] & 2) as if the
// offset test were absent and portrange as "accept everything" (go-pcap at
// v0.0.0-20240528124601): those are refused here, and so is any program
// that accepts every frame unconditionally. An expression is an error,
// never a silently wider filter.
func compileBPF(expr string) (_ []bpf.RawInstruction, err error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New("empty filter expression")
	}
	if strings.ContainsAny(expr, "[]&|") {
		return nil, fmt.Errorf("%q: byte-offset and bitwise expressions are not supported", expr)
	}
	if strings.Contains(expr, "portrange") {
		return nil, fmt.Errorf("%q: portrange is not supported; list the ports (port 502 or port 503)", expr)
	}
	// The compiler is not hardened against every malformed input: a panic
	// in it must come back as a usage error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot compile %q: %v", expr, r)
		}
	}()
	f := filter.NewExpression(expr).Compile()
	if f == nil {
		return nil, fmt.Errorf("cannot parse %q", expr)
	}
	insns, err := f.Compile()
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", expr, err)
	}
	if len(insns) == 0 {
		return nil, fmt.Errorf("%q compiled to an empty program", expr)
	}
	if len(insns) > maxBPFInstructions {
		return nil, fmt.Errorf("%q needs %d instructions, the kernel takes at most %d", expr, len(insns), maxBPFInstructions)
	}
	if ret, ok := insns[0].(bpf.RetConstant); ok && ret.Val != 0 {
		return nil, fmt.Errorf("%q compiles to a filter that accepts every frame: not supported", expr)
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("assemble %q: %w", expr, err)
	}
	return raw, nil
}
