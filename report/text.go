package report

import (
	"reflect"
	"strings"
	"unicode/utf8"
)

// Every string a report shows may come from the network: a device's
// identity (Modbus FC 43 and FC 17, an OPC UA server description), node
// ids, user names, function names of unknown codes. The HTML and Markdown
// writers escape markup, but a control character passes markup escaping
// untouched: ESC [2J in a vendor name clears the terminal of whoever prints
// a Markdown report to it, a newline breaks a Markdown table row, a
// right-to-left override reorders what an auditor reads. So both writers
// render a copy of the report in which every string is made visible first
// (visibleText); the JSON report, whose encoder escapes controls itself,
// keeps the strings as they were.

// visible returns s with its control characters replaced by something an
// auditor can see and no terminal or renderer acts on: C0 controls and DEL
// by their Unicode control pictures (ESC → ␛, BEL → ␇, NUL → ␀, newline →
// ␊), C1 controls, bidirectional overrides and isolates, line and
// paragraph separators and bytes that are not UTF-8 by U+FFFD. Strings
// without any are returned as they are.
func visible(s string) string {
	i := strings.IndexFunc(s, unsafeRune)
	if i < 0 {
		if utf8.ValidString(s) {
			return s
		}
		i = 0
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for _, r := range s[i:] { // an invalid byte comes as utf8.RuneError
		switch {
		case r < 0x20:
			b.WriteRune(0x2400 + r)
		case r == 0x7f:
			b.WriteRune('\u2421')
		case unsafeRune(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune reports the runes visible replaces.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f: // C0, DEL, C1
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c: // bidi
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	}
	return false
}

// visibleText returns a deep copy of r in which every string (at any depth:
// fields, slices, maps, pointers) has been passed through visible. Going by
// type rather than field by field, a string added to the report later is
// covered without anyone remembering to.
func (r *Report) visibleText() *Report {
	return visibleValue(reflect.ValueOf(r)).Interface().(*Report)
}

func visibleValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		if s := v.String(); s != "" {
			out := reflect.New(v.Type()).Elem()
			out.SetString(visible(s))
			return out
		}
	case reflect.Pointer:
		if !v.IsNil() {
			out := reflect.New(v.Type().Elem())
			out.Elem().Set(visibleValue(v.Elem()))
			return out
		}
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v) // unexported fields (a time.Time's) are copied as they are
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(visibleValue(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if !v.IsNil() {
			out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
			for i := 0; i < v.Len(); i++ {
				out.Index(i).Set(visibleValue(v.Index(i)))
			}
			return out
		}
	case reflect.Array:
		out := reflect.New(v.Type()).Elem()
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(visibleValue(v.Index(i)))
		}
		return out
	case reflect.Map:
		if !v.IsNil() {
			out := reflect.MakeMapWithSize(v.Type(), v.Len())
			for it := v.MapRange(); it.Next(); {
				out.SetMapIndex(visibleValue(it.Key()), visibleValue(it.Value()))
			}
			return out
		}
	}
	return v
}
