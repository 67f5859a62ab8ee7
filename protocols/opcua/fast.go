package opcua

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// The four services of a polling HMI or historian — Read and Write, request
// and response — are decoded here without gopcua: its reflection decoder
// costs ~20 µs and 70 allocations per message, ten times the budget of
// issue 4 §6. Anything unusual (arrays, structured values, DateTime
// values) makes fastDecode give up, and the body takes the guarded gopcua
// path; TestFastPathMatchesGopcua checks both give the same Service on
// every message of the real captures.

// builtinNames are the OPC UA built-in type names (OPC 10000-6 §5.1.2),
// indexed by type id.
var builtinNames = [...]string{"", "Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64",
	"Float", "Double", "String", "DateTime", "Guid", "ByteString", "XmlElement", "NodeId", "ExpandedNodeId",
	"StatusCode", "QualifiedName", "LocalizedText", "ExtensionObject", "DataValue", "Variant", "DiagnosticInfo"}

// reader reads OPC UA Binary (OPC 10000-6 §5.2) from a byte slice; the
// first failure sticks.
type reader struct {
	b   []byte
	pos int
	bad bool
}

func (r *reader) need(n int) bool {
	if r.bad || n < 0 || n > len(r.b)-r.pos {
		r.bad = true
		return false
	}
	return true
}

func (r *reader) skip(n int) {
	if r.need(n) {
		r.pos += n
	}
}

func (r *reader) u8() byte {
	if !r.need(1) {
		return 0
	}
	r.pos++
	return r.b[r.pos-1]
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	r.pos += 2
	return binary.LittleEndian.Uint16(r.b[r.pos-2:])
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	r.pos += 4
	return binary.LittleEndian.Uint32(r.b[r.pos-4:])
}

func (r *reader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.pos += 8
	return binary.LittleEndian.Uint64(r.b[r.pos-8:])
}

// bytes reads a String/ByteString; nil for null or empty.
func (r *reader) bytes() []byte {
	n := int32(r.u32())
	if n <= 0 {
		return nil
	}
	if !r.need(int(n)) {
		return nil
	}
	r.pos += int(n)
	return r.b[r.pos-int(n) : r.pos]
}

func (r *reader) str() string {
	b := r.bytes()
	if len(b) > maxTextLen {
		b = b[:maxTextLen]
	}
	return string(b)
}

// count reads an array length, bounded by the bytes left.
func (r *reader) count() int {
	n := int32(r.u32())
	if n <= 0 {
		return 0
	}
	if int(n) > len(r.b)-r.pos {
		r.bad = true
		return 0
	}
	return int(n)
}

// nodeID reads a NodeId and returns it in standard notation, formatted as
// NodeIDString does.
func (r *reader) nodeID() string {
	var buf [64]byte
	dst := buf[:0]
	mask := r.u8()
	var ns uint16
	switch mask & 0x0f {
	case 0:
		return "i=" + strconv.FormatUint(uint64(r.u8()), 10)
	case 1:
		ns = uint16(r.u8())
		v := r.u16()
		if ns == 0 {
			return "i=" + strconv.FormatUint(uint64(v), 10)
		}
		dst = appendNS(dst, ns)
		dst = append(dst, 'i', '=')
		dst = strconv.AppendUint(dst, uint64(v), 10)
	case 2:
		ns = r.u16()
		v := r.u32()
		dst = appendNS(dst, ns)
		dst = append(dst, 'i', '=')
		dst = strconv.AppendUint(dst, uint64(v), 10)
	case 3:
		ns = r.u16()
		dst = appendNS(dst, ns)
		dst = append(dst, 's', '=')
		dst = append(dst, r.bytes()...)
	case 4:
		ns = r.u16()
		if !r.need(16) {
			return ""
		}
		g := r.b[r.pos : r.pos+16]
		r.pos += 16
		dst = appendNS(dst, ns)
		dst = append(dst, 'g', '=')
		dst = appendGUID(dst, g)
	case 5:
		ns = r.u16()
		dst = appendNS(dst, ns)
		dst = append(dst, 'b', '=')
		dst = base64.StdEncoding.AppendEncode(dst, r.bytes())
	default:
		r.bad = true
	}
	if r.bad {
		return ""
	}
	return string(dst)
}

func appendNS(dst []byte, ns uint16) []byte {
	if ns == 0 {
		return dst
	}
	dst = append(dst, "ns="...)
	dst = strconv.AppendUint(dst, uint64(ns), 10)
	return append(dst, ';')
}

// appendGUID writes a Guid (OPC 10000-6 §5.1.3: Data1-3 little endian,
// Data4 bytes in order) in lowercase 8-4-4-4-12 form.
func appendGUID(dst, g []byte) []byte {
	const hx = "0123456789abcdef"
	put := func(b byte) { dst = append(dst, hx[b>>4], hx[b&15]) }
	for i := 3; i >= 0; i-- {
		put(g[i])
	}
	dst = append(dst, '-')
	put(g[5])
	put(g[4])
	dst = append(dst, '-')
	put(g[7])
	put(g[6])
	dst = append(dst, '-')
	put(g[8])
	put(g[9])
	dst = append(dst, '-')
	for _, b := range g[10:] {
		put(b)
	}
	return dst
}

func (r *reader) skipNodeID() {
	mask := r.u8()
	switch mask & 0x0f {
	case 0:
		r.skip(1)
	case 1:
		r.skip(3)
	case 2:
		r.skip(6)
	case 3, 5:
		r.skip(2)
		r.bytes()
	case 4:
		r.skip(18)
	default:
		r.bad = true
	}
}

// skipExtensionObject skips an ExtensionObject (only ever an empty
// AdditionalHeader on the fast path). Its TypeId is read as gopcua and the
// guard walker read it, an ExpandedNodeId: the namespace URI (mask bit
// 0x80) and server index (0x40) follow when flagged.
func (r *reader) skipExtensionObject() {
	mask := byte(0)
	if r.pos < len(r.b) {
		mask = r.b[r.pos]
	}
	r.skipNodeID()
	if mask&0x80 != 0 {
		r.bytes()
	}
	if mask&0x40 != 0 {
		r.skip(4)
	}
	if r.u8() != 0 {
		r.bytes()
	}
}

func (r *reader) skipDiagnosticInfo() {
	w := walker{b: r.b, pos: r.pos}
	w.diagnosticInfo(0)
	if w.err != nil {
		r.bad = true
		return
	}
	r.pos = w.pos
}

// requestHeader reads a RequestHeader (OPC 10000-4 §7.32).
func (r *reader) requestHeader(svc *Service) {
	// A null token (namespace 0, numeric 0, in any of the numeric
	// encodings and whatever the unused mask bits say) links to no
	// session, as isNullNodeID decides on gopcua's path.
	if tok := r.nodeID(); tok != "i=0" {
		svc.authToken = tok
	}
	r.skip(8) // Timestamp
	svc.RequestHandle = r.u32()
	r.skip(4) // ReturnDiagnostics
	r.bytes() // AuditEntryId
	r.skip(4) // TimeoutHint
	r.skipExtensionObject()
}

// responseHeader reads a ResponseHeader (OPC 10000-4 §7.33).
func (r *reader) responseHeader(svc *Service) {
	r.skip(8)
	svc.RequestHandle = r.u32()
	svc.Status = ua.StatusCode(r.u32())
	r.skipDiagnosticInfo()
	for n := r.count(); n > 0 && !r.bad; n-- {
		r.bytes()
	}
	r.skipExtensionObject()
}

// variant reads a Variant (OPC 10000-6 §5.2.2.16) of the simple built-in
// types, scalar or one-dimensional array, into the Value gopcua's path
// would produce; ok is false for anything else (structured values,
// matrices), and the caller falls back to gopcua.
func (r *reader) variant() (v Value, ok bool) {
	v.ArrayLength = -1
	mask := r.u8()
	typ := mask & 0x3f
	if mask&0x40 != 0 || typ > 25 || r.bad {
		return v, false
	}
	if typ == 0 {
		return v, true
	}
	if mask&0x80 == 0 {
		v, ok = r.scalar(typ)
		v.Type = builtinNames[typ]
		return v, ok && !r.bad
	}
	n := int32(r.u32())
	if n > 0xffff || r.bad { // gopcua's MaxVariantArrayLength: its error, its path
		return v, false
	}
	v.Type = builtinNames[typ]
	if n < 0 {
		n = 0
	}
	v.ArrayLength = int(n)
	if typ == 3 { // Byte array: kept as base64 text, like a ByteString
		if !r.need(int(n)) {
			return v, false
		}
		v.Text = base64.StdEncoding.EncodeToString(r.b[r.pos : r.pos+min(int(n), maxTextLen)])
		r.pos += int(n)
		return v, true
	}
	if int(n) > len(r.b)-r.pos {
		return v, false
	}
	v.Array = make([]Value, min(int(n), MaxArrayValues))
	for i := 0; i < int(n); i++ {
		e, ok := r.scalar(typ)
		if !ok || r.bad {
			return v, false
		}
		if i < len(v.Array) {
			v.Array[i] = e
		}
	}
	return v, true
}

// scalar reads one value of a simple built-in type, typed as gopcua's
// path types array elements.
func (r *reader) scalar(typ byte) (v Value, ok bool) {
	v.ArrayLength = -1
	v.Type = builtinNames[typ]
	switch typ {
	case 1:
		v.IsNumber = true
		if r.u8() != 0 {
			v.Number = 1
		}
	case 2:
		v.Number, v.IsNumber = float64(int8(r.u8())), true
	case 3:
		v.Number, v.IsNumber = float64(r.u8()), true
	case 4:
		v.Number, v.IsNumber = float64(int16(r.u16())), true
	case 5:
		v.Number, v.IsNumber = float64(r.u16()), true
	case 6:
		v.Number, v.IsNumber = float64(int32(r.u32())), true
	case 7:
		v.Number, v.IsNumber = float64(r.u32()), true
	case 8:
		v.Number, v.IsNumber = float64(int64(r.u64())), true
	case 9:
		v.Number, v.IsNumber = float64(r.u64()), true
	case 10:
		v.Number, v.IsNumber = float64(math.Float32frombits(r.u32())), true
	case 11:
		v.Number, v.IsNumber = math.Float64frombits(r.u64()), true
	case 12, 16: // String, XmlElement
		v.Text = r.str()
	case 13: // DateTime: 100 ns ticks since 1601 (OPC 10000-6 §5.2.2.5)
		if ts := r.u64(); ts != 0 {
			v.Text = time.Unix(0, int64((ts-116444736000000000)*100)).UTC().Format(time.RFC3339Nano)
		}
	case 14:
		if !r.need(16) {
			return v, false
		}
		v.Text = string(appendGUID(make([]byte, 0, 36), r.b[r.pos:r.pos+16]))
		r.pos += 16
	case 15:
		b := r.bytes()
		v.Text = base64.StdEncoding.EncodeToString(b[:min(len(b), maxTextLen)])
	case 17:
		v.Text = r.nodeID()
	case 18:
		v.Text = r.expandedNodeID()
	case 19:
		v.Text = StatusName(ua.StatusCode(r.u32()))
	case 20: // QualifiedName
		ns := r.u16()
		name := r.str()
		if ns == 0 {
			v.Text = name
		} else {
			v.Text = strconv.FormatUint(uint64(ns), 10) + ":" + name
		}
	case 21: // LocalizedText
		m := r.u8()
		if m&1 != 0 {
			r.bytes()
		}
		if m&2 != 0 {
			v.Text = r.str()
		}
	default:
		return v, false
	}
	return v, !r.bad
}

// dataValue reads a DataValue (OPC 10000-6 §5.2.2.17).
func (r *reader) dataValue() (v Value, st ua.StatusCode, ok bool) {
	mask := r.u8()
	v.ArrayLength = -1
	if mask&0x01 != 0 {
		if v, ok = r.variant(); !ok {
			return v, 0, false
		}
	}
	if mask&0x02 != 0 {
		st = ua.StatusCode(r.u32())
	}
	r.skip(dataValueTimesLen(mask))
	return v, st, !r.bad
}

// fastDecode decodes Read/Write requests and responses (OPC 10000-4
// §5.10.2, §5.10.4) from b, the body after the type id. It returns the
// bytes used, or ok false to fall back to gopcua.
func fastDecode(svc *Service, tid uint32, b []byte) (used int, ok bool) {
	r := &reader{b: b}
	switch tid {
	case id.ReadRequest_Encoding_DefaultBinary:
		r.requestHeader(svc)
		r.skip(8 + 4) // MaxAge, TimestampsToReturn
		n := r.count()
		svc.Reads = make([]ReadItem, 0, n)
		for i := 0; i < n && !r.bad; i++ {
			it := ReadItem{NodeID: r.nodeID(), AttributeID: r.u32(), IndexRange: r.str()}
			r.skip(2) // DataEncoding QualifiedName
			r.bytes()
			svc.Reads = append(svc.Reads, it)
		}
	case id.ReadResponse_Encoding_DefaultBinary:
		r.responseHeader(svc)
		n := r.count()
		svc.Values = make([]Value, 0, n)
		svc.Results = make([]ua.StatusCode, 0, n)
		for i := 0; i < n && !r.bad; i++ {
			v, st, ok := r.dataValue()
			if !ok {
				return 0, false
			}
			svc.Values = append(svc.Values, v)
			svc.Results = append(svc.Results, st)
		}
		for n := r.count(); n > 0 && !r.bad; n-- {
			r.skipDiagnosticInfo()
		}
	case id.WriteRequest_Encoding_DefaultBinary:
		r.requestHeader(svc)
		n := r.count()
		svc.Writes = make([]WriteItem, 0, n)
		for i := 0; i < n && !r.bad; i++ {
			it := WriteItem{NodeID: r.nodeID(), AttributeID: r.u32(), IndexRange: r.str()}
			v, _, ok := r.dataValue()
			if !ok {
				return 0, false
			}
			it.Value = v
			svc.Writes = append(svc.Writes, it)
		}
	case id.WriteResponse_Encoding_DefaultBinary:
		r.responseHeader(svc)
		svc.Results = r.statusCodes()
		for n := r.count(); n > 0 && !r.bad; n-- {
			r.skipDiagnosticInfo()
		}
	case id.PublishRequest_Encoding_DefaultBinary:
		r.requestHeader(svc)
		r.skip(8 * r.count()) // SubscriptionAcknowledgements
	case id.PublishResponse_Encoding_DefaultBinary:
		r.responseHeader(svc)
		sub := &Subscription{ID: r.u32()}
		r.skip(4 * r.count()) // AvailableSequenceNumbers
		r.skip(1)             // MoreNotifications
		sub.SequenceNumber = r.u32()
		r.skip(8) // PublishTime
		for n := r.count(); n > 0 && !r.bad; n-- {
			k, ok := r.notification(svc)
			if !ok {
				return 0, false
			}
			sub.Notifications += k
		}
		svc.Subscription = sub
		svc.Results = r.statusCodes()
		for n := r.count(); n > 0 && !r.bad; n-- {
			r.skipDiagnosticInfo()
		}
	default:
		return 0, false
	}
	if r.bad {
		return 0, false
	}
	return r.pos, true
}

// statusCodes reads an array of StatusCode as gopcua does: nil for a null
// array, empty for an empty one.
func (r *reader) statusCodes() []ua.StatusCode {
	n := int32(r.u32())
	if r.bad || n < 0 {
		return nil
	}
	if int(n) > (len(r.b)-r.pos)/4 {
		r.bad = true
		return nil
	}
	out := make([]ua.StatusCode, n)
	for i := range out {
		out[i] = ua.StatusCode(r.u32())
	}
	return out
}

// notification reads one NotificationData ExtensionObject of a
// NotificationMessage (OPC 10000-4 §7.25) and returns the number of
// monitored item notifications of a DataChangeNotification, whose values
// it appends to svc.DataChanges (a value the fast reader does not handle
// makes it give up, as for a Read). Known bodies are validated by the
// guard's walker, as gopcua would reject them.
func (r *reader) notification(svc *Service) (int, bool) {
	w := walker{b: r.b, pos: r.pos}
	start := w.pos
	mask := w.nodeID()
	if w.err != nil || mask&0xc0 != 0 {
		return 0, false
	}
	var tid uint32
	var ns0 bool
	nb := w.b[start+1 : w.pos]
	switch mask & 0x0f {
	case 0:
		tid, ns0 = uint32(nb[0]), true
	case 1:
		tid, ns0 = uint32(binary.LittleEndian.Uint16(nb[1:])), nb[0] == 0
	case 2:
		tid, ns0 = binary.LittleEndian.Uint32(nb[2:]), binary.LittleEndian.Uint16(nb) == 0
	}
	r.pos = w.pos
	enc := r.u8()
	if r.bad || enc == 0 {
		return 0, !r.bad
	}
	n := int32(r.u32())
	if n == 0 || n == -1 {
		return 0, !r.bad
	}
	if n < 0 || !r.need(int(n)) {
		return 0, false
	}
	body := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	if enc == ua.ExtensionObjectXML || !ns0 { // as gopcua: any other mask is binary
		return 0, true
	}
	t, known := extObjectTypes[tid]
	if !known {
		return 0, true
	}
	if _, err := walkBody(body, t); err != nil {
		return 0, false
	}
	if tid == id.DataChangeNotification_Encoding_DefaultBinary && len(body) >= 4 {
		if k := int32(binary.LittleEndian.Uint32(body)); k > 0 {
			return int(k), dataChanges(svc, body)
		}
	}
	return 0, true
}

// dataChanges appends the MonitoredItemNotifications of a
// DataChangeNotification body (OPC 10000-4 §7.22.2), at most
// MaxDataChanges in all, to svc.DataChanges.
func dataChanges(svc *Service, body []byte) bool {
	b := &reader{b: body}
	for n := b.count(); n > 0 && !b.bad; n-- {
		dc := DataChange{ClientHandle: b.u32()}
		v, st, ok := b.dataValue()
		if !ok {
			return false
		}
		dc.Value, dc.Status = v, st
		if len(svc.DataChanges) < MaxDataChanges {
			svc.DataChanges = append(svc.DataChanges, dc)
		}
	}
	return !b.bad
}

// expandedNodeID reads an ExpandedNodeId (OPC 10000-6 §5.2.2.10) and
// formats it as ExpandedNodeIDString does.
func (r *reader) expandedNodeID() string {
	if !r.need(1) {
		return ""
	}
	mask := r.b[r.pos]
	base := r.nodeID()
	var uri string
	var svr uint32
	if mask&0x80 != 0 {
		uri = string(r.bytes())
	}
	if mask&0x40 != 0 {
		svr = r.u32()
	}
	if svr == 0 && uri == "" {
		return base
	}
	var dst []byte
	if svr != 0 {
		dst = append(dst, "svr="...)
		dst = strconv.AppendUint(dst, uint64(svr), 10)
		dst = append(dst, ';')
	}
	if uri != "" {
		dst = append(dst, "nsu="...)
		dst = append(dst, uri...)
		dst = append(dst, ';')
		if strings.HasPrefix(base, "ns=") { // the URI replaces the index
			base = base[strings.IndexByte(base, ';')+1:]
		}
	}
	return string(append(dst, base...))
}
