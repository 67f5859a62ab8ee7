package opcua

import (
	"encoding/base64"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"
)

// MaxArrayValues is how many elements of an array value are kept.
const MaxArrayValues = 16

// maxTextLen bounds a string or ByteString value kept from the network.
const maxTextLen = 1024

// NodeIDString formats n in the standard notation of OPC 10000-6 §5.3.1.10
// ("i=2258", "ns=2;s=Dam.Level", "ns=1;g=…", "ns=1;b=<base64>"); "" for nil.
// It allocates only the result (gopcua's String goes through fmt).
func NodeIDString(n *ua.NodeID) string {
	if n == nil {
		return ""
	}
	return string(appendNodeID(make([]byte, 0, 24), n))
}

func appendNodeID(dst []byte, n *ua.NodeID) []byte {
	if ns := n.Namespace(); ns != 0 {
		dst = append(dst, "ns="...)
		dst = strconv.AppendUint(dst, uint64(ns), 10)
		dst = append(dst, ';')
	}
	switch n.Type() {
	case ua.NodeIDTypeTwoByte, ua.NodeIDTypeFourByte, ua.NodeIDTypeNumeric:
		dst = append(dst, 'i', '=')
		dst = strconv.AppendUint(dst, uint64(n.IntID()), 10)
	case ua.NodeIDTypeString:
		dst = append(dst, 's', '=')
		dst = append(dst, n.StringID()...)
	case ua.NodeIDTypeGUID:
		dst = append(dst, 'g', '=')
		dst = append(dst, strings.ToLower(n.StringID())...)
	case ua.NodeIDTypeByteString:
		dst = append(dst, 'b', '=')
		dst = append(dst, n.StringID()...) // base64
	}
	return dst
}

// ExpandedNodeIDString formats an ExpandedNodeId (OPC 10000-6 §5.3.1.11):
// "svr=1;nsu=urn:x;s=Level" when it carries a server index or namespace URI.
func ExpandedNodeIDString(n *ua.ExpandedNodeID) string {
	if n == nil || n.NodeID == nil {
		return ""
	}
	if n.ServerIndex == 0 && n.NamespaceURI == "" {
		return NodeIDString(n.NodeID)
	}
	var dst []byte
	if n.ServerIndex != 0 {
		dst = append(dst, "svr="...)
		dst = strconv.AppendUint(dst, uint64(n.ServerIndex), 10)
		dst = append(dst, ';')
	}
	if n.NamespaceURI != "" {
		dst = append(dst, "nsu="...)
		dst = append(dst, n.NamespaceURI...)
		dst = append(dst, ';')
		// The namespace index is replaced by the URI.
		id := *n.NodeID
		id.SetNamespace(0)
		return string(appendNodeID(dst, &id))
	}
	return string(appendNodeID(dst, n.NodeID))
}

// StatusName returns the symbolic name of a status code as the
// specification spells it (OPC 10000-4 §7.39, StatusCode.csv: "Good",
// "BadNodeIdUnknown"), or its hex form ("0x80AB0001") when unknown. A
// code with info bits set is named by its code bits.
func StatusName(s ua.StatusCode) string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	if n, ok := statusNames[s&0xFFFF0000]; ok {
		return n
	}
	return "0x" + strings.ToUpper(strconv.FormatUint(uint64(s), 16))
}

// statusNames maps gopcua's status codes to the specification's names:
// gopcua prefixes "Status" and upper-cases the initialisms Id, Uri, Url
// and Tcp.
var statusNames = func() map[ua.StatusCode]string {
	m := make(map[ua.StatusCode]string, len(ua.StatusCodes))
	fix := strings.NewReplacer("ID", "Id", "URI", "Uri", "URL", "Url", "TCP", "Tcp")
	for c, d := range ua.StatusCodes {
		if strings.HasPrefix(d.Name, "Status") {
			m[c] = fix.Replace(strings.TrimPrefix(d.Name, "Status"))
		}
	}
	m[ua.StatusGood] = "Good"
	return m
}()

func clip(s string) string {
	if len(s) > maxTextLen {
		return s[:maxTextLen]
	}
	return s
}

// variantValue reduces a decoded Variant to a Value.
func variantValue(v *ua.Variant) Value {
	if v == nil || v.Type() == ua.TypeIDNull {
		return Value{ArrayLength: -1}
	}
	out := Value{ArrayLength: -1}
	if t := int(v.Type()); t < len(builtinNames) {
		out.Type = builtinNames[t]
	}
	x := v.Value()
	if rv := reflect.ValueOf(x); rv.Kind() == reflect.Slice && v.Has(ua.VariantArrayValues) {
		n := rv.Len()
		out.ArrayLength = n
		if v.Type() == ua.TypeIDByte { // ByteArray: keep it as text
			out.Text = base64.StdEncoding.EncodeToString(rv.Bytes()[:min(n, maxTextLen)])
			return out
		}
		m := min(n, MaxArrayValues)
		out.Array = make([]Value, m)
		for i := 0; i < m; i++ {
			out.Array[i] = scalarValue(rv.Index(i).Interface())
		}
		return out
	}
	s := scalarValue(x)
	s.Type = out.Type
	return s
}

// scalarValue converts one element decoded by gopcua.
func scalarValue(x any) Value {
	v := Value{ArrayLength: -1}
	switch t := x.(type) {
	case bool:
		v.Type, v.IsNumber = "Boolean", true
		if t {
			v.Number = 1
		}
	case int8:
		v.Type, v.Number, v.IsNumber = "SByte", float64(t), true
	case uint8:
		v.Type, v.Number, v.IsNumber = "Byte", float64(t), true
	case int16:
		v.Type, v.Number, v.IsNumber = "Int16", float64(t), true
	case uint16:
		v.Type, v.Number, v.IsNumber = "UInt16", float64(t), true
	case int32:
		v.Type, v.Number, v.IsNumber = "Int32", float64(t), true
	case uint32:
		v.Type, v.Number, v.IsNumber = "UInt32", float64(t), true
	case int64:
		v.Type, v.Number, v.IsNumber = "Int64", float64(t), true
	case uint64:
		v.Type, v.Number, v.IsNumber = "UInt64", float64(t), true
	case float32:
		v.Type, v.Number, v.IsNumber = "Float", float64(t), true
	case float64:
		v.Type, v.Number, v.IsNumber = "Double", t, true
	case string:
		v.Type, v.Text = "String", clip(t)
	case time.Time:
		v.Type = "DateTime"
		if !t.IsZero() {
			v.Text = t.UTC().Format(time.RFC3339Nano)
		}
	case []byte:
		v.Type, v.Text = "ByteString", base64.StdEncoding.EncodeToString(t[:min(len(t), maxTextLen)])
	case *ua.GUID:
		v.Type = "Guid"
		if t != nil {
			v.Text = strings.ToLower(t.String())
		}
	case *ua.NodeID:
		v.Type, v.Text = "NodeId", NodeIDString(t)
	case *ua.ExpandedNodeID:
		v.Type, v.Text = "ExpandedNodeId", ExpandedNodeIDString(t)
	case ua.StatusCode:
		v.Type, v.Text = "StatusCode", StatusName(t)
	case *ua.QualifiedName:
		v.Type = "QualifiedName"
		if t != nil {
			v.Text = qualifiedName(t)
		}
	case *ua.LocalizedText:
		v.Type = "LocalizedText"
		if t != nil {
			v.Text = clip(t.Text)
		}
	case *ua.ExtensionObject:
		v.Type = "ExtensionObject"
		if t != nil && t.Value != nil {
			v.Text = reflect.TypeOf(t.Value).Elem().Name()
		}
	case *ua.DataValue:
		if t != nil {
			return variantValue(t.Value)
		}
		v.Type = "DataValue"
	case *ua.Variant:
		return variantValue(t)
	case ua.XMLElement:
		v.Type, v.Text = "XmlElement", clip(string(t))
	case *ua.DiagnosticInfo:
		v.Type = "DiagnosticInfo"
	}
	return v
}

// qualifiedName formats a QualifiedName as "ns:Name" (OPC 10000-4 A.2),
// or "Name" in namespace 0.
func qualifiedName(q *ua.QualifiedName) string {
	if q == nil {
		return ""
	}
	if q.NamespaceIndex == 0 {
		return clip(q.Name)
	}
	return strconv.FormatUint(uint64(q.NamespaceIndex), 10) + ":" + clip(q.Name)
}
