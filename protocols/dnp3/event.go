package dnp3

import (
	"math"
	"strconv"
	"unsafe"

	"github.com/sluice-ics/sluice/internal/jsonw"
)

// MaxPoints bounds the points written per fragment in an event: a response
// to an integrity poll can carry thousands. Objects whose points were cut
// say how many with "points_omitted".
const MaxPoints = 256

// AppendJSON appends the value of an EVE event's "dnp3" key for t, shaped
// like the "dnp3" object of Suricata's DNP3 alerts (request and response,
// each with the link addresses and control, the application header and its
// objects; the response's internal indications by name):
//
//	{"request":{"type":"request","src":1,"dst":10,"control":{...},"application":{"control":{...},
//	  "function_code":3,"function":"select","objects":[{"group":12,"variation":1,...,"points":[...]}],"complete":true}},
//	 "response":{"type":"response",...,"iin":{"indicators":["device_restart"]},"application":{...}},"latency_us":830}
//
// A request unanswered adds "timeout":true. docs/dnp3.md lists every field.
// Strings from the network go through jsonw. It allocates nothing once dst
// has room.
func (t *Transaction) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	if t.HasRequest {
		dst = append(dst, `"request":`...)
		dst = appendHalf(dst, &t.Request)
	}
	if t.HasResponse {
		if t.HasRequest {
			dst = append(dst, ',')
		}
		dst = append(dst, `"response":`...)
		dst = appendHalf(dst, &t.Response)
	}
	switch {
	case t.HasRequest && t.HasResponse:
		dst = intMember(dst, `,"latency_us":`, t.Latency.Microseconds())
	case t.Timeout:
		dst = append(dst, `,"timeout":true`...)
	}
	return append(dst, '}')
}

// Members composed once per octet value, so that an event copies one
// string instead of writing five keys and values: the link control object,
// the application control object, the application function members.
var linkControlJSON, appControlJSON, functionJSON = func() (lc, ac, fn [256]string) {
	b := func(v bool) string { return strconv.FormatBool(v) }
	for i := range 256 {
		c := LinkControl(i)
		lc[i] = `{"dir":` + b(c.Dir()) + `,"pri":` + b(c.Primary()) + `,"fcb":` + b(c.FCB()) + `,"fcv":` + b(c.FCV()) +
			`,"function_code":` + strconv.Itoa(int(c.Code())) + `,"function":"` + c.Function().String() + `"}`
		a := AppControl(i)
		ac[i] = `{"fir":` + b(a.FIR()) + `,"fin":` + b(a.FIN()) + `,"con":` + b(a.CON()) + `,"uns":` + b(a.UNS()) +
			`,"sequence":` + strconv.Itoa(int(a.Seq())) + `}`
		fn[i] = `,"function_code":` + strconv.Itoa(i) + `,"function":"` + FunctionCode(i).String() + `"`
	}
	return lc, ac, fn
}()

func appendHalf(dst []byte, h *Half) []byte {
	m := &h.Message
	switch {
	case m.Function == FuncUnsolicitedResponse:
		dst = append(dst, `{"type":"unsolicited_response"`...)
	case m.Function.IsResponse():
		dst = append(dst, `{"type":"response"`...)
	default:
		dst = append(dst, `{"type":"request"`...)
	}
	dst = uintMember(dst, `,"src":`, uint64(h.Link.Source))
	dst = uintMember(dst, `,"dst":`, uint64(h.Link.Dest))
	dst = append(dst, `,"control":`...)
	dst = append(dst, linkControlJSON[h.Link.Control]...)
	if m.Function.IsResponse() && m.Size >= 4 {
		dst = append(dst, `,"iin":{"indicators":[`...)
		first := true
		for n := range m.IIN.Names {
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, '"')
			dst = append(dst, n...)
			dst = append(dst, '"')
		}
		dst = append(dst, ']', '}')
	}
	dst = append(dst, `,"application":{`...)
	if m.Size >= 1 {
		dst = append(dst, `"control":`...)
		dst = append(dst, appControlJSON[m.Control]...)
	}
	if m.Size >= 2 {
		dst = append(dst, functionJSON[m.Function]...)
	}
	if m.Size >= 1 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"objects":[`...)
	budget := MaxPoints
	for i := range m.Objects {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendObject(dst, &m.Objects[i], &budget)
	}
	dst = append(dst, ']')
	if m.Omitted > 0 {
		dst = uintMember(dst, `,"objects_omitted":`, uint64(m.Omitted))
	}
	if m.Err != nil {
		// The error's text is ours (names and numbers): no escaping.
		dst = append(dst, `,"complete":false,"error":"`...)
		dst = m.perr.append(dst)
		dst = append(dst, '"')
	} else {
		dst = append(dst, `,"complete":true`...)
	}
	return append(dst, '}', '}')
}

func uintMember(dst []byte, k string, v uint64) []byte {
	return jsonw.Uint(append(dst, k...), v)
}

func intMember(dst []byte, k string, v int64) []byte {
	return jsonw.Int(append(dst, k...), v)
}

func bitMember(dst []byte, k string, flags, bit uint8) []byte {
	return append(append(dst, k...), '0'+flags>>bit&1)
}

func nameMember(dst []byte, k, v string) []byte {
	dst = append(dst, k...)
	dst = append(dst, '"')
	dst = append(dst, v...)
	return append(dst, '"')
}

func appendObject(dst []byte, o *Object, budget *int) []byte {
	dst = uintMember(dst, `{"group":`, uint64(o.Group))
	dst = uintMember(dst, `,"variation":`, uint64(o.Variation))
	if n := o.Name(); n != "" {
		dst = nameMember(dst, `,"name":`, n)
	}
	q := o.Qualifier
	dst = uintMember(dst, `,"qualifier":`, uint64(q))
	dst = uintMember(dst, `,"prefix_code":`, uint64(q.PrefixCode()))
	dst = uintMember(dst, `,"range_code":`, uint64(q.RangeCode()))
	if q.HasRange() {
		dst = uintMember(dst, `,"start":`, uint64(o.Start))
		dst = uintMember(dst, `,"stop":`, uint64(o.Stop))
	}
	dst = uintMember(dst, `,"count":`, uint64(o.Count))
	if o.hasData {
		written := uint32(0)
		if *budget > 0 {
			dst = append(dst, `,"points":[`...)
			it := o.Points()
			var p Point
			for *budget > 0 && it.Next(&p) {
				if written > 0 {
					dst = append(dst, ',')
				}
				dst = appendPoint(dst, o, &p)
				written++
				*budget--
			}
			dst = append(dst, ']')
		}
		if written < o.Count {
			dst = uintMember(dst, `,"points_omitted":`, uint64(o.Count-written))
		}
	}
	return append(dst, '}')
}

// flagNames are the names of bits 0-6 of each flag set, "" for a bit
// without meaning there (Suricata's names).
var flagNames = [...][7]string{
	flagsBinary:  {"online", "restart", "comm_lost", "remote_forced", "local_forced", "chatter_filter"},
	flagsDouble:  {"online", "restart", "comm_lost", "remote_forced", "local_forced", "chatter_filter"},
	flagsOutput:  {"online", "restart", "comm_lost", "remote_forced", "local_forced"},
	flagsCounter: {"online", "restart", "comm_lost", "remote_forced", "local_forced", "rollover", "discontinuity"},
	flagsAnalog:  {"online", "restart", "comm_lost", "remote_forced", "local_forced", "over_range", "reference_err"},
}

// flagsJSON holds, per flag set and flag octet, the members the octet's
// bits write (`,"online":1,"restart":0,…`), built once: a point costs one
// copy instead of a key and a digit per bit.
var flagsJSON = func() (t [len(flagNames)][256]string) {
	for s, names := range flagNames {
		for v := range 256 {
			var b []byte
			for bit, n := range names {
				if n != "" {
					b = append(b, `,"`+n+`":`...)
					b = append(b, '0'+byte(v>>bit&1))
				}
			}
			t[s][v] = string(b)
		}
	}
	return t
}()

func appendFlags(dst []byte, set flagSet, flags uint8) []byte {
	if set == flagsCommand {
		dst = uintMember(dst, `,"status_code":`, uint64(flags&0x7F))
		return nameMember(dst, `,"status":`, CommandStatusName(flags))
	}
	return append(dst, flagsJSON[set][flags]...)
}

func appendPoint(dst []byte, o *Object, p *Point) []byte {
	dst = uintMember(dst, `{"index":`, uint64(p.Index))
	if p.HasSize {
		dst = uintMember(dst, `,"size":`, uint64(p.Size))
	}
	info := &o.info
	switch {
	case !info.known() || info.layout == layoutRaw:
		dst = hexMember(dst, `,"data":`, p.Raw)
	case info.layout == layoutAttribute:
		dst = appendAttribute(dst, p)
	case info.layout == layoutFile:
		dst = appendFile(dst, o.Variation, p.Raw)
	case info.layout == layoutAuth:
		dst = appendAuth(dst, o.Variation, p.Raw)
	case info.layout == layoutStatistic:
		dst = appendStatistic(dst, p.Raw)
	case p.Raw != nil && info.value != valOctets:
		// A fixed-size object sent with a size prefix too short for it.
		dst = hexMember(dst, `,"data":`, p.Raw)
	case info.layout == layoutCROB:
		c := p.Control
		dst = uintMember(dst, `,"op_type":`, uint64(c.OpType()))
		dst = nameMember(dst, `,"operation":`, c.OpTypeName())
		dst = uintMember(dst, `,"tcc":`, uint64(c.TripClose()))
		dst = nameMember(dst, `,"trip_close":`, c.TripCloseName())
		dst = bitMember(dst, `,"cr":`, uint8(c), 5)
		dst = bitMember(dst, `,"qu":`, uint8(c), 4)
		dst = uintMember(dst, `,"count":`, uint64(p.Count))
		dst = uintMember(dst, `,"ontime":`, uint64(p.OnTime))
		dst = uintMember(dst, `,"offtime":`, uint64(p.OffTime))
		dst = appendStatus(dst, p.Status)
	case info.layout == layoutDelay:
		if o.Variation == 1 {
			dst = uintMember(dst, `,"delay_secs":`, p.Value.Uint)
		} else {
			dst = uintMember(dst, `,"delay_ms":`, p.Value.Uint)
		}
	case info.value == valTime:
		dst = uintMember(dst, `,"timestamp":`, p.Value.Uint)
		if info.layout != layoutPlain {
			dst = uintMember(dst, `,"interval":`, uint64(p.Interval))
			if info.layout == layoutIndexedTime {
				dst = uintMember(dst, `,"units":`, uint64(p.Units))
			}
		}
	case info.value == valOctets:
		dst = hexMember(dst, `,"data":`, p.Raw)
	default:
		dst = appendValue(dst, &p.Value)
		if o.Group == 80 && p.Index < 16 {
			dst = nameMember(dst, `,"name":`, iinNames[p.Index])
		}
		if p.HasFlags {
			dst = appendFlags(dst, info.flags, p.Flags)
		} else if info.layout == layoutOutputBlock {
			dst = appendStatus(dst, p.Status)
		}
		if p.HasTime {
			dst = uintMember(dst, `,"timestamp":`, p.Time)
		}
		if p.HasRelTime {
			dst = uintMember(dst, `,"relative_time_ms":`, uint64(p.RelTime))
		}
	}
	return append(dst, '}')
}

func appendStatus(dst []byte, s uint8) []byte {
	dst = uintMember(dst, `,"status_code":`, uint64(s))
	return nameMember(dst, `,"status":`, CommandStatusName(s))
}

func appendValue(dst []byte, v *Value) []byte {
	switch v.Kind {
	case IntValue:
		return intMember(dst, `,"value":`, v.Int)
	case UintValue, TimeValue:
		return uintMember(dst, `,"value":`, v.Uint)
	case FloatValue:
		dst = append(dst, `,"value":`...)
		return appendFloat(dst, v.Float, v.Float32)
	}
	return dst
}

// appendFloat writes f in the shortest form that reads back as the same
// float32 or float64; NaN and infinities, which JSON cannot carry, as null.
func appendFloat(dst []byte, f float64, single bool) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	if single {
		return strconv.AppendFloat(dst, f, 'g', -1, 32)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

func hexMember(dst []byte, k string, b []byte) []byte {
	return jsonw.Bytes(append(dst, k...), b)
}

func textMember(dst []byte, k string, b []byte) []byte {
	return jsonw.String(append(dst, k...), unsafeString(b))
}

// unsafeString views b as a string without copying, for jsonw.String, which
// only reads it before returning.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
