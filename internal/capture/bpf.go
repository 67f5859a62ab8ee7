package capture

import (
	"fmt"
	"strconv"
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

// PortFilter compiles the kernel filter of a live capture before issue #11,
// with the general compiler: TCP over IPv4 or IPv6 with either port in
// ports ("tcp and (port 502 or port 4840)"), and UDP with either port in
// udpPorts (DNP3 over UDP), whole; everything else stays in the kernel.
// With no ports the filter keeps all TCP. The live capture now builds
// SnapFilter, which keeps the same frames whole and cuts the others
// (SnapFilter with snapOther 0 drops them as this does).
func PortFilter(ports, udpPorts []uint16) ([]bpf.RawInstruction, error) {
	return CompileFilter(PortExpr(ports, udpPorts))
}

// DefaultSnapOther is the default snap length of the frames no decoder
// needs (sluice monitor --snap-other): the link, IP and TCP or UDP headers
// of nearly every frame (14 + 40 + 32 bytes for IPv6 and TCP with
// timestamps) and still about 170 bytes of payload, enough to name the
// service of a conversation from its first bytes (an SSH or FTP banner, an
// HTTP request line and Host, an RDP or SMB negotiation, a DNS query), at a
// sixth of a full-sized frame. A TLS ClientHello's JA3 fingerprint needs
// the whole hello, about 600 bytes from a browser.
const DefaultSnapOther = 256

// Bounds of a snap length for the other frames: below MinSnapOther not
// even the headers would survive; above MaxSnapOther is the ring's frame
// size, where the frame is whole anyway.
const (
	MinSnapOther = 64
	MaxSnapOther = 65535
)

// CheckSnapOther reports whether n is 0 (drop the other frames) or a snap
// length within the bounds.
func CheckSnapOther(n int) error {
	if n != 0 && (n < MinSnapOther || n > MaxSnapOther) {
		return fmt.Errorf("snap length %d: want 0 (drop the frames no decoder needs) or %d to %d bytes", n, MinSnapOther, MaxSnapOther)
	}
	return nil
}

// SnapFilter compiles the default kernel filter of a live capture (issue
// #11: every packet counts). The frames a decoder needs, those PortFilter
// keeps, are copied whole; every other IPv4, IPv6 or ARP frame is cut to
// snapOther bytes, so the agent still sees each conversation's headers and
// first payload bytes while a busy span port copies little to user space;
// any other frame (LLDP, STP, ...) stays in the kernel. With snapOther 0
// it is PortFilter.
//
// It keeps exactly the frames CompileFilterSnap(PortExpr(ports, udpPorts))
// keeps (the tests check it frame by frame), but tests each port list in
// one compact run of comparisons per family and direction, each run ending
// in a return of its own, so no jump spans more than the run: up to
// maxListPorts ports per list rather than the 11 in all that the general
// compiler's code, one family dispatch per "port N", fits in classic BPF's
// 255-instruction jumps. A decoder added with ports of its own must not
// stop the monitor from starting.
func SnapFilter(ports, udpPorts []uint16, snapOther int) ([]bpf.RawInstruction, error) {
	if err := CheckSnapOther(snapOther); err != nil {
		return nil, err
	}
	if len(ports) == 0 {
		return compileFilter(PortExpr(ports, udpPorts), uint32(snapOther)) // all TCP: no port lists
	}
	if len(ports) > maxListPorts || len(udpPorts) > maxListPorts {
		return nil, fmt.Errorf("%d TCP and %d UDP ports: the kernel filter takes at most %d of each", len(ports), len(udpPorts), maxListPorts)
	}
	// Conditional jumps go at most a few instructions ahead; the long
	// ones, to the IPv6 code and to "other", are unconditional (ja
	// takes a 32-bit offset).
	var a asm
	a.emit(bpf.LoadAbsolute{Off: offEtherType, Size: 2})
	a.jeq(0x0800, "v4", "")
	a.jeq(0x86dd, "", "notIP")
	a.jump("v6")
	a.label("notIP")
	a.jump("other")
	// IPv4: the transport header follows the IHL-sized IP header; a
	// non-first fragment carries no ports.
	a.label("v4")
	a.emit(bpf.LoadAbsolute{Off: offIPv4Frag, Size: 2})
	a.jset(0x1fff, "", "first")
	a.jump("other")
	a.label("first")
	a.emit(bpf.LoadMemShift{Off: ethHeaderLen})
	a.emit(bpf.LoadAbsolute{Off: offIPv4Proto, Size: 1})
	portLists(&a, "v4", ports, udpPorts, func(off uint32) bpf.Instruction {
		return bpf.LoadIndirect{Off: ethHeaderLen + off, Size: 2}
	})
	// IPv6: the ports right after the fixed header, as tcpdump's "port".
	a.label("v6")
	a.emit(bpf.LoadAbsolute{Off: offIPv6Next, Size: 1})
	portLists(&a, "v6", ports, udpPorts, func(off uint32) bpf.Instruction {
		return bpf.LoadAbsolute{Off: offIPv6L4 + off, Size: 2}
	})
	a.label("other")
	a.emit(bpf.LoadAbsolute{Off: offEtherType, Size: 2})
	a.jeq(0x0800, "short", "")
	a.jeq(0x86dd, "short", "")
	a.jeq(0x0806, "short", "")
	a.emit(bpf.RetConstant{Val: 0})
	a.label("short")
	a.emit(bpf.RetConstant{Val: uint32(snapOther)})
	return a.assemble()
}

// maxListPorts bounds a port list of SnapFilter: a run of comparisons
// (source then destination port, each against every port) jumps to its
// return across at most 2*n+1 instructions.
const maxListPorts = 126

// portLists emits, with the IP protocol number in A, the TCP and UDP port
// runs of one IP family (label prefix fam); load loads the port at off
// within the transport header. Each run ends in a return of the whole frame,
// and a miss goes to "other".
func portLists(a *asm, fam string, tcp, udp []uint16, load func(off uint32) bpf.Instruction) {
	lists := []struct {
		proto uint32
		ports []uint16
	}{{6, tcp}, {17, udp}}
	for _, l := range lists {
		if len(l.ports) > 0 {
			run := fam + strconv.Itoa(int(l.proto))
			a.jeq(l.proto, "", run+"not")
			a.jump(run) // the UDP run lies beyond the whole TCP one
			a.label(run + "not")
		}
	}
	a.jump("other")
	for _, l := range lists {
		if len(l.ports) == 0 {
			continue
		}
		run := fam + strconv.Itoa(int(l.proto))
		a.label(run)
		for _, off := range []uint32{0, 2} {
			a.emit(load(off))
			for _, p := range l.ports {
				a.jeq(uint32(p), run+"whole", "")
			}
		}
		a.jump("other")
		a.label(run + "whole")
		a.emit(bpf.RetConstant{Val: snapAll})
	}
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
