package syslog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The parsers below read the messages back as a SIEM would, strictly: a
// field the sender did not mean to write, an escape the specification does
// not define or a duplicate key is an error, so hostile text that forged
// anything fails the tests.

// message is an RFC 5424 message.
type message struct {
	pri                                     int
	timestamp, hostname, app, procID, msgID string
	sd                                      map[string]map[string]string // SD-ID → params; nil for "-"
	msg                                     string
}

// parse5424 reads SYSLOG-MSG (RFC 5424 6) without a BOM.
func parse5424(s string) (message, error) {
	var m message
	if strings.ContainsAny(s, "\r\n") {
		return m, errors.New("line break in the message")
	}
	if !strings.HasPrefix(s, "<") {
		return m, errors.New("no PRI")
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return m, errors.New("bad PRI")
	}
	pri, err := strconv.Atoi(s[1:end])
	if err != nil || pri > 191 {
		return m, fmt.Errorf("bad PRI %q", s[1:end])
	}
	m.pri = pri
	rest, ok := strings.CutPrefix(s[end+1:], "1 ")
	if !ok {
		return m, errors.New("VERSION is not 1")
	}
	f := strings.SplitN(rest, " ", 6)
	if len(f) < 6 {
		return m, errors.New("header too short")
	}
	m.timestamp, m.hostname, m.app, m.procID, m.msgID = f[0], f[1], f[2], f[3], f[4]
	rest = f[5]
	if strings.HasPrefix(rest, "-") {
		rest = rest[1:]
	} else {
		m.sd = map[string]map[string]string{}
		for strings.HasPrefix(rest, "[") {
			var id string
			var params map[string]string
			if id, params, rest, err = parseElement(rest[1:]); err != nil {
				return m, err
			}
			if _, dup := m.sd[id]; dup {
				return m, fmt.Errorf("SD-ID %s twice", id)
			}
			m.sd[id] = params
		}
		if len(m.sd) == 0 {
			return m, errors.New("no structured data")
		}
	}
	if rest != "" {
		var ok bool
		if m.msg, ok = strings.CutPrefix(rest, " "); !ok {
			return m, fmt.Errorf("no space before MSG: %q", rest)
		}
	}
	return m, nil
}

// parseElement reads `ID name="value"...]` (the '[' already consumed).
func parseElement(s string) (id string, params map[string]string, rest string, err error) {
	i := strings.IndexAny(s, " ]")
	if i <= 0 {
		return "", nil, "", errors.New("bad SD-ID")
	}
	id, s = s[:i], s[i:]
	params = map[string]string{}
	for {
		if strings.HasPrefix(s, "]") {
			return id, params, s[1:], nil
		}
		if !strings.HasPrefix(s, " ") {
			return "", nil, "", fmt.Errorf("SD %s: want a space or ]: %q", id, s)
		}
		s = s[1:]
		eq := strings.Index(s, `="`)
		if eq <= 0 || strings.ContainsAny(s[:eq], ` ]"=`) {
			return "", nil, "", fmt.Errorf("SD %s: bad PARAM-NAME in %q", id, s)
		}
		name := s[:eq]
		s = s[eq+2:]
		var v strings.Builder
		for {
			if s == "" {
				return "", nil, "", fmt.Errorf("SD %s: unterminated value of %s", id, name)
			}
			c := s[0]
			s = s[1:]
			if c == '"' {
				break
			}
			if c == ']' {
				return "", nil, "", fmt.Errorf("SD %s: unescaped ] in %s", id, name)
			}
			if c == '\\' && s != "" && (s[0] == '"' || s[0] == '\\' || s[0] == ']') {
				c, s = s[0], s[1:]
			}
			v.WriteByte(c)
		}
		if _, dup := params[name]; dup {
			return "", nil, "", fmt.Errorf("SD %s: %s twice", id, name)
		}
		params[name] = v.String()
	}
}

// cef is a parsed CEF message: the seven header fields after "CEF:0"
// (vendor, product, version, signature id, name, severity) and the
// extension.
type cef struct {
	header [6]string
	ext    map[string]string
}

// parseCEF reads a CEF:0 message.
func parseCEF(s string) (cef, error) {
	var c cef
	rest, ok := strings.CutPrefix(s, "CEF:0|")
	if !ok {
		return c, errors.New("not CEF:0")
	}
	for i := range c.header {
		var b strings.Builder
		for {
			if rest == "" {
				return c, fmt.Errorf("header field %d unterminated", i+1)
			}
			ch := rest[0]
			rest = rest[1:]
			if ch == '|' {
				break
			}
			if ch == '\\' {
				if rest == "" || (rest[0] != '|' && rest[0] != '\\') {
					return c, fmt.Errorf("header field %d: bad escape", i+1)
				}
				ch, rest = rest[0], rest[1:]
			}
			b.WriteByte(ch)
		}
		c.header[i] = b.String()
	}
	c.ext = map[string]string{}
	// The key of each pair is the word before an unescaped '='; its
	// value runs to the space before the next key.
	type eq struct{ keyStart, eq int }
	var eqs []eq
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			i++
		case '=':
			k := strings.LastIndexByte(rest[:i], ' ') + 1
			if k == i {
				return c, fmt.Errorf("extension: empty key at %d", i)
			}
			eqs = append(eqs, eq{k, i})
		}
	}
	if len(eqs) == 0 || eqs[0].keyStart != 0 {
		return c, fmt.Errorf("extension does not start with a key: %q", rest)
	}
	for j, e := range eqs {
		end := len(rest)
		if j+1 < len(eqs) {
			end = eqs[j+1].keyStart - 1
		}
		key := rest[e.keyStart:e.eq]
		val, err := cefUnescape(rest[e.eq+1 : end])
		if err != nil {
			return c, fmt.Errorf("extension %s: %w", key, err)
		}
		if _, dup := c.ext[key]; dup {
			return c, fmt.Errorf("extension %s twice", key)
		}
		c.ext[key] = val
	}
	return c, nil
}

func cefUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i++; i == len(s) {
			return "", errors.New("trailing backslash")
		}
		switch s[i] {
		case '\\', '=':
			b.WriteByte(s[i])
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", fmt.Errorf("undefined escape \\%c", s[i])
		}
	}
	return b.String(), nil
}

// leef is a parsed LEEF 2.0 message: vendor, product, version, event id,
// delimiter, and the attributes.
type leef struct {
	header [5]string
	attrs  map[string]string
}

// parseLEEF reads a LEEF:2.0 message whose attributes are tab-delimited.
func parseLEEF(s string) (leef, error) {
	var l leef
	rest, ok := strings.CutPrefix(s, "LEEF:2.0|")
	if !ok {
		return l, errors.New("not LEEF:2.0")
	}
	for i := range l.header {
		j := strings.IndexByte(rest, '|')
		if j < 0 {
			return l, fmt.Errorf("header field %d unterminated", i+1)
		}
		l.header[i], rest = rest[:j], rest[j+1:]
	}
	if l.header[4] != "x09" {
		return l, fmt.Errorf("delimiter %q, want x09", l.header[4])
	}
	l.attrs = map[string]string{}
	for _, kv := range strings.Split(rest, "\t") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " |") {
			return l, fmt.Errorf("bad attribute %q", kv)
		}
		if _, dup := l.attrs[k]; dup {
			return l, fmt.Errorf("attribute %s twice", k)
		}
		l.attrs[k] = v
	}
	return l, nil
}
