package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// CompileFilter compiles a tcpdump filter expression (pcap-filter(7)
// syntax) into a classic BPF program for Ethernet frames, in pure Go: the
// default build stays cgo-free, without libpcap.
//
// It implements the subset a passive ICS monitor filters on, with
// pcap-filter's semantics (checked against tcpdump's own compiler by the
// tests):
//
//	ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6
//	[ip|ip6] proto N                     N a number: ip proto 6
//	[ip|ip6] [src|dst] host ADDR         literal IPv4 or IPv6 address
//	[ip|ip6] [src|dst] net PREFIX        CIDR, e.g. 10.1.0.0/16, fd00::/8
//	[tcp|udp|sctp] [src|dst] port N
//	[tcp|udp|sctp] [src|dst] portrange N-M
//	ether [src|dst] host MAC
//	not (!), and (&&), or (||), parentheses; "and" and "or" have equal
//	precedence and group left to right, "not" binds tightest
//	a bare value repeats the previous qualifiers: "port 502 or 4840"
//
// Not supported (an error, never a silently wider filter): host names (they
// would need DNS at start-up), "net N mask M" and "net 10" shorthands,
// service names, vlan, mpls, gateway, less/greater, broadcast/multicast and
// byte-offset expressions such as tcp[13] & 2 != 0. As in tcpdump, "host"
// and "net" match IPv4 or IPv6 by the address family; unlike tcpdump, an
// IPv4 "host" does not also match ARP/RARP frames; "port" looks at the
// first IPv6 next header only (no extension-header walk), as tcpdump does
// for everything but fragments.
//
// AF_PACKET applies the program after VLAN offload removed any 802.1Q tag,
// so filters match tagged traffic as if it were untagged.
func CompileFilter(expr string) ([]bpf.RawInstruction, error) {
	return compileFilter(expr, 0)
}

// CompileFilterSnap is CompileFilter, but the IPv4, IPv6 and ARP frames
// expr does not match are cut to snapOther bytes instead of dropped
// (sluice monitor --bpf EXPR --snap-other BYTES): the operator chooses
// what is copied whole, and still sees every conversation's headers.
func CompileFilterSnap(expr string, snapOther int) ([]bpf.RawInstruction, error) {
	if err := CheckSnapOther(snapOther); err != nil {
		return nil, fmt.Errorf("bpf %q: %w", expr, err)
	}
	return compileFilter(expr, uint32(snapOther))
}

// compileFilter compiles expr: the frames it matches are kept whole; the
// IPv4, IPv6 and ARP frames it does not match are cut to snapOther bytes
// (a classic BPF program's return value is the snap length), or dropped
// when snapOther is 0; any other frame is dropped.
func compileFilter(expr string, snapOther uint32) ([]bpf.RawInstruction, error) {
	toks, err := lexFilter(expr)
	if err != nil {
		return nil, fmt.Errorf("bpf %q: %w", expr, err)
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("bpf %q: empty filter expression", expr)
	}
	p := &filterParser{toks: toks}
	root, err := p.expr()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	if err != nil {
		return nil, fmt.Errorf("bpf %q: %w", expr, err)
	}
	var g filterGen
	if err := g.gen(root, "accept", "drop"); err != nil {
		return nil, fmt.Errorf("bpf %q: %w", expr, err)
	}
	// Both exits sit right after the expression's code, the one of them
	// that is a single instruction first: the longest jump, which bounds
	// how many ports fit (classic BPF jumps at most 255 instructions), is
	// one longer than the code, with or without the snap block.
	if snapOther > 0 {
		g.a.label("accept")
		g.a.emit(bpf.RetConstant{Val: snapAll})
		g.a.label("drop")
		g.a.emit(bpf.LoadAbsolute{Off: offEtherType, Size: 2})
		g.a.jeq(0x0800, "short", "")
		g.a.jeq(0x86dd, "short", "")
		g.a.jeq(0x0806, "short", "")
		g.a.emit(bpf.RetConstant{Val: 0})
		g.a.label("short")
		g.a.emit(bpf.RetConstant{Val: snapOther})
	} else {
		g.a.label("drop")
		g.a.emit(bpf.RetConstant{Val: 0})
		g.a.label("accept")
		g.a.emit(bpf.RetConstant{Val: snapAll})
	}
	if len(g.a.insns) > maxBPFInstructions {
		return nil, fmt.Errorf("bpf %q: %d instructions, the kernel takes at most %d", expr, len(g.a.insns), maxBPFInstructions)
	}
	raw, err := g.a.assemble()
	if err != nil {
		return nil, fmt.Errorf("bpf %q: %w", expr, err)
	}
	return raw, nil
}

// maxBPFInstructions is the kernel's BPF_MAXINSNS for a socket filter.
const maxBPFInstructions = 4096

func lexFilter(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			toks = append(toks, s[i:i+1])
			i++
		case c == '!':
			toks = append(toks, "not")
			i++
		case strings.HasPrefix(s[i:], "&&"):
			toks = append(toks, "and")
			i += 2
		case strings.HasPrefix(s[i:], "||"):
			toks = append(toks, "or")
			i += 2
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected character %q (byte-offset and arithmetic expressions are not supported)", c)
		}
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == ':' || c == '/' || c == '-' || c == '_'
}

// Qualifiers of a primitive (pcap-filter(7): type, dir, proto).
type (
	fType  uint8
	fDir   uint8
	fProto uint8
)

const (
	typeNone fType = iota
	typeHost
	typeNet
	typePort
	typePortRange
	typeProto // ip proto N
)

const (
	dirAny fDir = iota
	dirSrc
	dirDst
)

const (
	protoNone fProto = iota
	protoEther
	protoIP
	protoIP6
	protoARP
	protoRARP
	protoTCP
	protoUDP
	protoSCTP
	protoICMP
	protoICMP6
)

var protoNames = map[string]fProto{
	"ether": protoEther, "ip": protoIP, "ip6": protoIP6, "arp": protoARP, "rarp": protoRARP,
	"tcp": protoTCP, "udp": protoUDP, "sctp": protoSCTP, "icmp": protoICMP, "icmp6": protoICMP6,
}

// IP protocol numbers (IANA).
var ipProtoNumbers = map[fProto]uint32{protoTCP: 6, protoUDP: 17, protoSCTP: 132, protoICMP: 1, protoICMP6: 58}

type fNode struct {
	op   string // "and", "or", "not", "prim"
	l, r *fNode
	prim fPrim
}

type fPrim struct {
	proto  fProto
	dir    fDir
	typ    fType
	addr   netip.Prefix // host (full-length prefix) or net
	mac    [6]byte
	lo, hi uint16 // port or port range
	num    uint32 // ip proto number
}

type filterParser struct {
	toks []string
	pos  int
	last *fPrim // qualifiers a bare value repeats
}

func (p *filterParser) peek() string {
	if p.pos < len(p.toks) {
		return strings.ToLower(p.toks[p.pos])
	}
	return ""
}

func (p *filterParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

// expr := term { (and|or) term }, left-associative, equal precedence.
func (p *filterParser) expr() (*fNode, error) {
	l, err := p.term()
	if err != nil {
		return nil, err
	}
	for op := p.peek(); op == "and" || op == "or"; op = p.peek() {
		p.next()
		r, err := p.term()
		if err != nil {
			return nil, err
		}
		l = &fNode{op: op, l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) term() (*fNode, error) {
	switch t := p.peek(); t {
	case "":
		return nil, fmt.Errorf("expression ends where a primitive was expected")
	case "not":
		p.next()
		n, err := p.term()
		if err != nil {
			return nil, err
		}
		return &fNode{op: "not", l: n}, nil
	case "(":
		p.next()
		n, err := p.expr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("missing ')'")
		}
		return n, nil
	}
	prim, err := p.primitive()
	if err != nil {
		return nil, err
	}
	return &fNode{op: "prim", prim: prim}, nil
}

func (p *filterParser) primitive() (fPrim, error) {
	var pr fPrim
	t := p.peek()
	if !isKeyword(t) && p.last != nil && p.last.typ != typeNone && p.last.typ != typeProto {
		// A bare value: "port 502 or 4840" means "or port 4840".
		pr = *p.last
		return pr, p.value(&pr, p.next())
	}
	if pt, ok := protoNames[t]; ok {
		pr.proto = pt
		p.next()
	}
	switch p.peek() {
	case "src":
		pr.dir = dirSrc
		p.next()
	case "dst":
		pr.dir = dirDst
		p.next()
	}
	switch p.peek() {
	case "host":
		pr.typ = typeHost
	case "net":
		pr.typ = typeNet
	case "port":
		pr.typ = typePort
	case "portrange":
		pr.typ = typePortRange
	case "proto":
		pr.typ = typeProto
	}
	if pr.typ != typeNone {
		p.next()
	} else if pr.dir != dirAny {
		pr.typ = typeHost // "src 10.0.0.1" means "src host 10.0.0.1"
	}
	if pr.typ == typeNone {
		if pr.proto == protoNone {
			// libpcap too refuses a bare value with no earlier
			// qualifiers to repeat.
			return pr, fmt.Errorf("%q is not supported here (write host, net or port before a value)", p.toks[min(p.pos, len(p.toks)-1)])
		}
		if pr.proto == protoEther {
			return pr, fmt.Errorf("ether needs host, src or dst")
		}
		return pr, nil // a protocol alone: "tcp", "ip6"
	}
	v := p.next()
	if v == "" {
		return pr, fmt.Errorf("missing value")
	}
	if err := p.value(&pr, v); err != nil {
		return pr, err
	}
	p.last = &pr
	return pr, nil
}

func isKeyword(t string) bool {
	switch t {
	case "and", "or", "not", "(", ")", "src", "dst", "host", "net", "port", "portrange", "proto",
		"vlan", "mpls", "gateway", "less", "greater", "broadcast", "multicast", "mask", "len", "inbound", "outbound":
		return true
	}
	_, ok := protoNames[t]
	return ok
}

// value parses a primitive's value and checks it against the qualifiers.
func (p *filterParser) value(pr *fPrim, v string) error {
	if isKeyword(v) {
		return fmt.Errorf("expected a value, found %q", v)
	}
	switch pr.typ {
	case typeHost:
		if pr.proto == protoEther {
			mac, err := net.ParseMAC(v)
			if err != nil || len(mac) != 6 {
				return fmt.Errorf("%q is not a MAC address", v)
			}
			pr.mac = [6]byte(mac)
			return nil
		}
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%q is not a literal IP address (host names are not supported)", v)
		}
		pr.addr = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	case typeNet:
		pf, err := netip.ParsePrefix(v)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR prefix (write 10.0.0.0/8)", v)
		}
		pr.addr = pf.Masked()
	case typePort:
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return fmt.Errorf("%q is not a port number", v)
		}
		pr.lo, pr.hi = uint16(n), uint16(n)
	case typePortRange:
		lo, hi, ok := strings.Cut(v, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b, err2 := strconv.ParseUint(hi, 10, 16)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("%q is not a port range N-M", v)
		}
		pr.lo, pr.hi = uint16(min(a, b)), uint16(max(a, b))
	case typeProto:
		n, err := strconv.ParseUint(v, 10, 8)
		if err != nil {
			return fmt.Errorf("%q is not an IP protocol number", v)
		}
		pr.num = uint32(n)
	}
	return p.check(pr)
}

// check rejects qualifier combinations pcap-filter rejects or that this
// subset does not implement.
func (p *filterParser) check(pr *fPrim) error {
	switch pr.typ {
	case typeHost, typeNet:
		if pr.proto == protoEther {
			if pr.typ == typeNet {
				return fmt.Errorf("ether net is not supported")
			}
			return nil
		}
		is4 := pr.addr.Addr().Is4()
		if pr.proto != protoNone && !(pr.proto == protoIP && is4) && !(pr.proto == protoIP6 && !is4) {
			return fmt.Errorf("host/net qualifier does not match the address %s", pr.addr.Addr())
		}
	case typePort, typePortRange:
		if pr.proto != protoNone && pr.proto != protoTCP && pr.proto != protoUDP && pr.proto != protoSCTP {
			return fmt.Errorf("port needs tcp, udp or sctp as its protocol")
		}
	case typeProto:
		if pr.proto != protoNone && pr.proto != protoIP && pr.proto != protoIP6 {
			return fmt.Errorf("proto needs ip or ip6")
		}
		if pr.dir != dirAny {
			return fmt.Errorf("proto takes no src/dst")
		}
	}
	return nil
}

// Offsets in an untagged Ethernet frame.
const (
	offIPv4Proto = ethHeaderLen + 9
	offIPv4Frag  = ethHeaderLen + 6
	offIPv4Src   = ethHeaderLen + 12
	offIPv4Dst   = ethHeaderLen + 16
	offIPv6Next  = ethHeaderLen + 6
	offIPv6Src   = ethHeaderLen + 8
	offIPv6Dst   = ethHeaderLen + 24
	offIPv6L4    = ethHeaderLen + 40
)

// filterGen emits code for a tree: gen(n, T, F) jumps to label T when n
// holds and F when it does not. Every jump goes forward, as classic BPF
// requires.
type filterGen struct {
	a asm
	n int
}

func (g *filterGen) newLabel() string {
	g.n++
	return "L" + strconv.Itoa(g.n)
}

func (g *filterGen) gen(n *fNode, t, f string) error {
	switch n.op {
	case "not":
		return g.gen(n.l, f, t)
	case "and", "or":
		mid := g.newLabel()
		var err error
		if n.op == "and" {
			err = g.gen(n.l, mid, f)
		} else {
			err = g.gen(n.l, t, mid)
		}
		if err != nil {
			return err
		}
		g.a.label(mid)
		return g.gen(n.r, t, f)
	}
	return g.prim(&n.prim, t, f)
}

func (g *filterGen) etherType(v uint32, t, f string) {
	g.a.emit(bpf.LoadAbsolute{Off: offEtherType, Size: 2})
	g.a.jeq(v, t, f)
}

// family runs body4 for IPv4 frames and body6 for IPv6 frames (either may
// be skipped with a nil body), anything else fails.
func (g *filterGen) family(body4, body6 func(f string), f string) {
	g.a.emit(bpf.LoadAbsolute{Off: offEtherType, Size: 2})
	if body4 != nil && body6 != nil {
		l6 := g.newLabel()
		g.a.jeq(0x0800, "", l6)
		body4(f)
		g.a.label(l6)
		g.a.jeq(0x86dd, "", f)
		body6(f)
		return
	}
	if body4 != nil {
		g.a.jeq(0x0800, "", f)
		body4(f)
		return
	}
	g.a.jeq(0x86dd, "", f)
	body6(f)
}

func (g *filterGen) prim(p *fPrim, t, f string) error {
	switch p.typ {
	case typeNone:
		switch p.proto {
		case protoIP:
			g.etherType(0x0800, t, f)
		case protoIP6:
			g.etherType(0x86dd, t, f)
		case protoARP:
			g.etherType(0x0806, t, f)
		case protoRARP:
			g.etherType(0x8035, t, f)
		case protoICMP:
			g.family(func(f string) { g.ipProto(offIPv4Proto, 1, t, f) }, nil, f)
		case protoICMP6:
			g.family(nil, func(f string) { g.ipProto(offIPv6Next, 58, t, f) }, f)
		default: // tcp, udp, sctp over either IP version
			num := ipProtoNumbers[p.proto]
			g.family(func(f string) { g.ipProto(offIPv4Proto, num, t, f) },
				func(f string) { g.ipProto(offIPv6Next, num, t, f) }, f)
		}
	case typeProto:
		v4 := func(f string) { g.ipProto(offIPv4Proto, p.num, t, f) }
		v6 := func(f string) { g.ipProto(offIPv6Next, p.num, t, f) }
		switch p.proto {
		case protoIP:
			v6 = nil
		case protoIP6:
			v4 = nil
		}
		g.family(v4, v6, f)
	case typeHost, typeNet:
		if p.proto == protoEther {
			g.etherHost(p, t, f)
			return nil
		}
		if p.addr.Addr().Is4() {
			g.family(func(f string) { g.addr4(p, t, f) }, nil, f)
		} else {
			g.family(nil, func(f string) { g.addr6(p, t, f) }, f)
		}
	case typePort, typePortRange:
		g.family(func(f string) { g.port(p, true, t, f) }, func(f string) { g.port(p, false, t, f) }, f)
	}
	return nil
}

// eitherOf tests the source and/or the destination field, at srcOff and
// dstOff, as dir says. test must jump to the caller's true label on a match
// and to miss otherwise; the fields are tried in turn, and f is taken when
// none matches.
func (g *filterGen) eitherOf(dir fDir, srcOff, dstOff uint32, f string, test func(off uint32, miss string)) {
	offs := []uint32{srcOff, dstOff}
	switch dir {
	case dirSrc:
		offs = offs[:1]
	case dirDst:
		offs = offs[1:]
	}
	for i, off := range offs {
		miss := f
		if i < len(offs)-1 {
			miss = g.newLabel()
		}
		test(off, miss)
		if miss != f {
			g.a.label(miss)
		}
	}
}

func (g *filterGen) ipProto(off uint32, num uint32, t, f string) {
	g.a.emit(bpf.LoadAbsolute{Off: off, Size: 1})
	g.a.jeq(num, t, f)
}

// addr4 compares the IPv4 source and/or destination with a prefix.
func (g *filterGen) addr4(p *fPrim, t, f string) {
	a := p.addr.Addr().As4()
	want := binary.BigEndian.Uint32(a[:])
	mask := ^uint32(0) << (32 - p.addr.Bits())
	if p.addr.Bits() == 0 {
		mask = 0
	}
	g.eitherOf(p.dir, offIPv4Src, offIPv4Dst, f, func(off uint32, miss string) {
		g.a.emit(bpf.LoadAbsolute{Off: off, Size: 4})
		if mask != ^uint32(0) {
			g.a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
		}
		g.a.jeq(want&mask, t, miss)
	})
}

// addr6 compares the IPv6 source and/or destination with a prefix, one
// 32-bit word at a time.
func (g *filterGen) addr6(p *fPrim, t, f string) {
	a := p.addr.Addr().As16()
	g.eitherOf(p.dir, offIPv6Src, offIPv6Dst, f, func(off uint32, miss string) {
		bits := p.addr.Bits()
		words := 0
		for w := 0; w < 4 && bits > 32*w; w++ {
			words++
		}
		if words == 0 { // ::/0 matches every IPv6 frame
			g.a.jump(t)
		}
		for w := range words {
			mask := ^uint32(0)
			if rem := bits - 32*w; rem < 32 {
				mask = ^uint32(0) << (32 - rem)
			}
			want := binary.BigEndian.Uint32(a[4*w:]) & mask
			g.a.emit(bpf.LoadAbsolute{Off: off + uint32(4*w), Size: 4})
			if mask != ^uint32(0) {
				g.a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
			}
			hit := ""
			if w == words-1 {
				hit = t
			}
			g.a.jeq(want, hit, miss)
		}
	})
}

// port checks the transport protocol, then the source and/or destination
// port against a port or range. IPv4 non-first fragments carry no ports.
func (g *filterGen) port(p *fPrim, v4 bool, t, f string) {
	protos := []uint32{6, 17, 132}
	if p.proto != protoNone {
		protos = []uint32{ipProtoNumbers[p.proto]}
	}
	protoOff := uint32(offIPv4Proto)
	if !v4 {
		protoOff = offIPv6Next
	}
	g.a.emit(bpf.LoadAbsolute{Off: protoOff, Size: 1})
	ok := g.newLabel()
	for i, n := range protos {
		if i == len(protos)-1 {
			g.a.jeq(n, "", f)
		} else {
			g.a.jeq(n, ok, "")
		}
	}
	g.a.label(ok)
	load := func(portOff uint32) {
		if v4 {
			g.a.emit(bpf.LoadIndirect{Off: ethHeaderLen + portOff, Size: 2})
		} else {
			g.a.emit(bpf.LoadAbsolute{Off: offIPv6L4 + portOff, Size: 2})
		}
	}
	if v4 {
		g.a.emit(bpf.LoadAbsolute{Off: offIPv4Frag, Size: 2})
		g.a.jset(0x1fff, f, "")
		g.a.emit(bpf.LoadMemShift{Off: ethHeaderLen})
	}
	g.eitherOf(p.dir, 0, 2, f, func(off uint32, miss string) {
		load(off)
		if p.lo == p.hi {
			g.a.jeq(uint32(p.lo), t, miss)
		} else {
			g.a.cond(bpf.JumpGreaterOrEqual, uint32(p.lo), "", miss)
			g.a.cond(bpf.JumpGreaterThan, uint32(p.hi), miss, t)
		}
	})
}

// etherHost compares the Ethernet source and/or destination address.
func (g *filterGen) etherHost(p *fPrim, t, f string) {
	g.eitherOf(p.dir, 6, 0, f, func(off uint32, miss string) {
		g.a.emit(bpf.LoadAbsolute{Off: off, Size: 4})
		g.a.jeq(binary.BigEndian.Uint32(p.mac[:4]), "", miss)
		g.a.emit(bpf.LoadAbsolute{Off: off + 4, Size: 2})
		g.a.jeq(uint32(binary.BigEndian.Uint16(p.mac[4:])), t, miss)
	})
}
