package opcua

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/gopcua/opcua/ua"
)

// The guard walks an encoded service body along the shape of its gopcua
// type before the codec sees it, without allocating, and rejects what would
// make gopcua's reflection decoder dangerous rather than merely wrong:
//
//   - array lengths larger than the bytes left (gopcua allocates the slice
//     from the wire length first: a 30-byte body announcing 2^31 elements
//     would allocate 16 GiB, a fatal error no recover catches);
//   - nesting deeper than maxDepth (Variant in Variant, DiagnosticInfo in
//     DiagnosticInfo: a stack overflow is fatal too);
//   - more than maxElements elements in total (bounds decode time).
//
// It also returns the number of bytes the structure takes, so that the Conn
// can tell a signature (Sign mode) from the end of the body.

const (
	maxDepth    = 32
	maxElements = 1 << 16
)

var (
	errGuardShort    = errors.New("structure extends beyond the body")
	errGuardLength   = errors.New("array length exceeds the bytes left")
	errGuardDepth    = errors.New("nesting too deep")
	errGuardElements = errors.New("too many elements")
	errGuardType     = errors.New("invalid built-in type")
)

// guard validates body (after the service type id) for service id tid and
// returns the length of the structure. An unknown service is not walked
// (the codec rejects it without decoding) and has length -1.
func guard(body []byte, tid uint32) (int, error) {
	t, ok := serviceTypes[tid]
	if !ok {
		return -1, nil
	}
	return walkBody(body, t)
}

// walkBody returns the encoded length of a value of type t at the start of b.
func walkBody(b []byte, t reflect.Type) (int, error) {
	w := walker{b: b}
	w.walk(planFor(t), 0)
	return w.pos, w.err
}

type opKind uint8

const (
	opFixed  opKind = iota // size bytes
	opString               // String, ByteString, XmlElement
	opSlice                // Int32 length + elements
	opStruct
	opNodeID
	opExpandedNodeID
	opLocalizedText
	opDataValue
	opVariant
	opExtensionObject
	opDiagnosticInfo
)

// plan is the wire shape of a Go type as gopcua's decoder reads it.
type plan struct {
	kind   opKind
	size   int
	elem   *plan   // opSlice
	fields []*plan // opStruct
}

var (
	plansMu sync.Mutex
	plans   = map[reflect.Type]*plan{}

	typeTime     = reflect.TypeFor[time.Time]()
	typeNodeID   = reflect.TypeFor[ua.NodeID]()
	typeExpanded = reflect.TypeFor[ua.ExpandedNodeID]()
	typeLText    = reflect.TypeFor[ua.LocalizedText]()
	typeDV       = reflect.TypeFor[ua.DataValue]()
	typeVariant  = reflect.TypeFor[ua.Variant]()
	typeExtObj   = reflect.TypeFor[ua.ExtensionObject]()
	typeDiag     = reflect.TypeFor[ua.DiagnosticInfo]()
	typeGUID     = reflect.TypeFor[ua.GUID]()
)

// planCache holds the finished plans of the top-level types walked, so the
// hot path reads without locking; plans (under plansMu) is the build
// table, which also holds nested and half-built recursive plans.
var planCache sync.Map // reflect.Type → *plan

// planFor returns (building once) the plan of t.
func planFor(t reflect.Type) *plan {
	if p, ok := planCache.Load(t); ok {
		return p.(*plan)
	}
	plansMu.Lock()
	defer plansMu.Unlock()
	p := buildPlan(t)
	planCache.Store(t, p)
	return p
}

func buildPlan(t reflect.Type) *plan {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if p, ok := plans[t]; ok {
		return p
	}
	p := &plan{}
	plans[t] = p // before recursing: recursive types end here
	switch t {
	case typeTime:
		p.kind, p.size = opFixed, 8
		return p
	case typeGUID:
		p.kind, p.size = opFixed, 16
		return p
	case typeNodeID:
		p.kind = opNodeID
		return p
	case typeExpanded:
		p.kind = opExpandedNodeID
		return p
	case typeLText:
		p.kind = opLocalizedText
		return p
	case typeDV:
		p.kind = opDataValue
		return p
	case typeVariant:
		p.kind = opVariant
		return p
	case typeExtObj:
		p.kind = opExtensionObject
		return p
	case typeDiag:
		p.kind = opDiagnosticInfo
		return p
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Uint8:
		p.kind, p.size = opFixed, 1
	case reflect.Int16, reflect.Uint16:
		p.kind, p.size = opFixed, 2
	case reflect.Int32, reflect.Uint32, reflect.Float32:
		p.kind, p.size = opFixed, 4
	case reflect.Int64, reflect.Uint64, reflect.Float64:
		p.kind, p.size = opFixed, 8
	case reflect.String:
		p.kind = opString
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			p.kind = opString
		} else {
			p.kind = opSlice
			p.elem = buildPlan(t.Elem())
		}
	case reflect.Struct:
		p.kind = opStruct
		p.fields = make([]*plan, t.NumField())
		for i := range p.fields {
			p.fields[i] = buildPlan(t.Field(i).Type)
		}
	default:
		// Interfaces, maps, arrays: gopcua cannot decode them either; make
		// the walk fail.
		p.kind, p.size = opFixed, 1<<30
	}
	return p
}

type walker struct {
	b        []byte
	pos      int
	err      error
	elements int
}

func (w *walker) fail(err error) {
	if w.err == nil {
		w.err = fmt.Errorf("at byte %d: %w", w.pos, err)
	}
}

func (w *walker) skip(n int) {
	if w.err != nil {
		return
	}
	if n < 0 || n > len(w.b)-w.pos {
		w.fail(errGuardShort)
		return
	}
	w.pos += n
}

func (w *walker) u8() byte {
	if w.err != nil || w.pos >= len(w.b) {
		w.fail(errGuardShort)
		return 0
	}
	w.pos++
	return w.b[w.pos-1]
}

func (w *walker) i32() int32 {
	if w.err != nil || len(w.b)-w.pos < 4 {
		w.fail(errGuardShort)
		return 0
	}
	w.pos += 4
	return int32(binary.LittleEndian.Uint32(w.b[w.pos-4:]))
}

func (w *walker) str() {
	n := w.i32()
	if n > 0 {
		w.skip(int(n))
	}
}

// count checks an array length against the bytes left (every element takes
// at least one byte) and the element budget.
func (w *walker) count(n int32) int {
	if w.err != nil || n <= 0 {
		return 0
	}
	if int(n) > len(w.b)-w.pos {
		w.fail(errGuardLength)
		return 0
	}
	w.elements += int(n)
	if w.elements > maxElements {
		w.fail(errGuardElements)
		return 0
	}
	return int(n)
}

func (w *walker) walk(p *plan, depth int) {
	if w.err != nil {
		return
	}
	if depth > maxDepth {
		w.fail(errGuardDepth)
		return
	}
	switch p.kind {
	case opFixed:
		w.skip(p.size)
	case opString:
		w.str()
	case opSlice:
		n := w.count(w.i32())
		for i := 0; i < n && w.err == nil; i++ {
			w.walk(p.elem, depth+1)
		}
	case opStruct:
		for _, f := range p.fields {
			w.walk(f, depth+1)
		}
	case opNodeID:
		w.nodeID()
	case opExpandedNodeID:
		mask := w.nodeID()
		if mask&0x80 != 0 {
			w.str()
		}
		if mask&0x40 != 0 {
			w.skip(4)
		}
	case opLocalizedText:
		mask := w.u8()
		if mask&1 != 0 {
			w.str()
		}
		if mask&2 != 0 {
			w.str()
		}
	case opDataValue:
		w.dataValue(depth)
	case opVariant:
		w.variant(depth)
	case opExtensionObject:
		w.extensionObject(depth)
	case opDiagnosticInfo:
		w.diagnosticInfo(depth)
	}
}

// nodeID walks a NodeId (OPC 10000-6 §5.2.2.9) and returns its mask.
func (w *walker) nodeID() byte {
	mask := w.u8()
	switch mask & 0x0f {
	case 0:
		w.skip(1)
	case 1:
		w.skip(3)
	case 2:
		w.skip(6)
	case 3, 5:
		w.skip(2)
		w.str()
	case 4:
		w.skip(18)
	default:
		w.fail(errGuardType)
	}
	return mask
}

func (w *walker) dataValue(depth int) {
	mask := w.u8()
	if mask&0x01 != 0 {
		w.variant(depth + 1)
	}
	if mask&0x02 != 0 {
		w.skip(4)
	}
	w.skip(dataValueTimesLen(mask))
}

// dataValueTimesLen is the length of the fields that follow a DataValue's
// value and status (OPC 10000-6 §5.2.2.17): source and server timestamps (8
// bytes each, mask bits 0x04 and 0x08) and their picoseconds (2 bytes each,
// 0x10 and 0x20). Both the guard and the fast decoder skip them.
func dataValueTimesLen(mask byte) int {
	n := 0
	if mask&0x04 != 0 {
		n += 8
	}
	if mask&0x08 != 0 {
		n += 8
	}
	if mask&0x10 != 0 {
		n += 2
	}
	if mask&0x20 != 0 {
		n += 2
	}
	return n
}

// variant walks a Variant (OPC 10000-6 §5.2.2.16).
func (w *walker) variant(depth int) {
	if depth > maxDepth {
		w.fail(errGuardDepth)
		return
	}
	mask := w.u8()
	typ := mask & 0x3f
	if w.err != nil || typ == 0 {
		return
	}
	if typ > 25 {
		w.fail(errGuardType)
		return
	}
	if mask&0x80 == 0 {
		w.builtin(typ, depth)
		return
	}
	n := w.count(w.i32())
	for i := 0; i < n && w.err == nil; i++ {
		w.builtin(typ, depth)
	}
	if mask&0x40 != 0 {
		d := w.count(w.i32())
		w.skip(4 * d)
	}
}

var builtinSize = [...]int{1: 1, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 4, 8: 8, 9: 8, 10: 4, 11: 8, 13: 8, 14: 16, 19: 4}

func (w *walker) builtin(typ byte, depth int) {
	if int(typ) < len(builtinSize) && builtinSize[typ] != 0 {
		w.skip(builtinSize[typ])
		return
	}
	switch typ {
	case 12, 15, 16: // String, ByteString, XmlElement
		w.str()
	case 17:
		w.nodeID()
	case 18:
		w.walk(&plan{kind: opExpandedNodeID}, depth+1)
	case 20: // QualifiedName
		w.skip(2)
		w.str()
	case 21:
		w.walk(&plan{kind: opLocalizedText}, depth+1)
	case 22:
		w.extensionObject(depth + 1)
	case 23:
		w.dataValue(depth + 1)
	case 24:
		w.variant(depth + 1)
	case 25:
		w.diagnosticInfo(depth + 1)
	default:
		w.fail(errGuardType)
	}
}

// extensionObject walks an ExtensionObject (OPC 10000-6 §5.2.2.15): a known
// binary body is walked within its announced length, like gopcua decodes it.
func (w *walker) extensionObject(depth int) {
	if depth > maxDepth {
		w.fail(errGuardDepth)
		return
	}
	start := w.pos
	mask := w.nodeID()
	var tid uint32
	var ns0 bool
	if w.err == nil {
		nb := w.b[start+1 : w.pos]
		switch mask & 0x0f {
		case 0:
			tid, ns0 = uint32(nb[0]), true
		case 1:
			tid, ns0 = uint32(binary.LittleEndian.Uint16(nb[1:])), nb[0] == 0
		case 2:
			tid, ns0 = binary.LittleEndian.Uint32(nb[2:]), binary.LittleEndian.Uint16(nb) == 0
		}
	}
	if mask&0x80 != 0 {
		w.str()
	}
	if mask&0x40 != 0 {
		w.skip(4)
	}
	enc := w.u8()
	if w.err != nil || enc == 0 {
		return
	}
	n := w.i32()
	if w.err != nil || n == 0 || n == -1 {
		return
	}
	if n < 0 || int(n) > len(w.b)-w.pos {
		w.fail(errGuardShort)
		return
	}
	body := w.b[w.pos : w.pos+int(n)]
	w.pos += int(n)
	// gopcua decodes every encoding byte but 0 (no body) and 2 (XML) as
	// binary: so must the guard, or a body flagged 0x16 would reach
	// gopcua's decoder unchecked.
	if enc == ua.ExtensionObjectXML || !ns0 {
		return // XML or foreign type: gopcua keeps it opaque
	}
	t, ok := extObjectTypes[tid]
	if !ok {
		return
	}
	inner := walker{b: body, elements: w.elements}
	inner.walk(planFor(t), depth+1)
	w.elements = inner.elements
	if inner.err != nil {
		w.fail(fmt.Errorf("extension object %d: %w", tid, inner.err))
	}
}

func (w *walker) diagnosticInfo(depth int) {
	for ; ; depth++ {
		if depth > maxDepth {
			w.fail(errGuardDepth)
			return
		}
		mask := w.u8()
		for _, bit := range [...]byte{0x01, 0x02, 0x08, 0x04} {
			if mask&bit != 0 {
				w.skip(4)
			}
		}
		if mask&0x10 != 0 {
			w.str()
		}
		if mask&0x20 != 0 {
			w.skip(4)
		}
		if mask&0x40 == 0 || w.err != nil {
			return
		}
	}
}
