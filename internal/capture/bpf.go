package capture

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// snapAll is the return value of an accepting filter: keep the whole frame.
const snapAll = 262144

// Offsets in an Ethernet frame as AF_PACKET hands it to a socket filter. VLAN
// offload has already removed any 802.1Q tag, so the EtherType is at 12.
const (
	offEtherType = 12
	ethHeaderLen = 14
)

// PortFilter compiles the default kernel filter of a live capture: TCP over
// IPv4 or IPv6 with either port in ports ("tcp and (port 502 or port
// 4840)"), and UDP with either port in udpPorts (DNP3 over UDP).
// Everything else on a busy span port stays in the kernel and is never
// copied to user space. With no ports the filter keeps all TCP.
func PortFilter(ports, udpPorts []uint16) ([]bpf.RawInstruction, error) {
	return CompileFilter(PortExpr(ports, udpPorts))
}

// PortExpr is the tcpdump expression of PortFilter.
func PortExpr(ports, udpPorts []uint16) string {
	tcp := "tcp"
	if len(ports) > 0 {
		tcp = "tcp and (" + portList(ports) + ")"
	}
	if len(udpPorts) == 0 {
		return tcp
	}
	return "(" + tcp + ") or (udp and (" + portList(udpPorts) + "))"
}

func portList(ports []uint16) string {
	var b strings.Builder
	for i, p := range ports {
		if i > 0 {
			b.WriteString(" or ")
		}
		fmt.Fprintf(&b, "port %d", p)
	}
	return b.String()
}

// asm is a minimal classic-BPF assembler with symbolic forward labels, so the
// filter compiler emits programs rather than hand-counted skips. An empty
// label means "the next instruction".
type asm struct {
	insns  []bpf.Instruction
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at          int
	true, false string
}

func (a *asm) emit(i bpf.Instruction) { a.insns = append(a.insns, i) }

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.insns)
}

func (a *asm) cond(c bpf.JumpTest, v uint32, t, f string) {
	a.fixups = append(a.fixups, fixup{at: len(a.insns), true: t, false: f})
	a.emit(bpf.JumpIf{Cond: c, Val: v})
}

func (a *asm) jeq(v uint32, t, f string)  { a.cond(bpf.JumpEqual, v, t, f) }
func (a *asm) jset(v uint32, t, f string) { a.cond(bpf.JumpBitsSet, v, t, f) }

func (a *asm) jump(to string) {
	a.fixups = append(a.fixups, fixup{at: len(a.insns), true: to})
	a.emit(bpf.Jump{})
}

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	skip := func(from int, name string) (int, error) {
		if name == "" {
			return 0, nil
		}
		to, ok := a.labels[name]
		if !ok || to <= from {
			return 0, fmt.Errorf("label %q missing or backwards", name)
		}
		return to - from - 1, nil
	}
	for _, fx := range a.fixups {
		st, err := skip(fx.at, fx.true)
		if err != nil {
			return nil, err
		}
		switch in := a.insns[fx.at].(type) {
		case bpf.Jump:
			in.Skip = uint32(st)
			a.insns[fx.at] = in
		case bpf.JumpIf:
			sf, err := skip(fx.at, fx.false)
			if err != nil {
				return nil, err
			}
			if st > 255 || sf > 255 {
				return nil, fmt.Errorf("a conditional jump of %d/%d instructions exceeds classic BPF's 255: simplify the expression", st, sf)
			}
			in.SkipTrue, in.SkipFalse = uint8(st), uint8(sf)
			a.insns[fx.at] = in
		}
	}
	return bpf.Assemble(a.insns)
}
