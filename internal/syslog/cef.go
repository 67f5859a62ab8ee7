package syslog

import (
	"strconv"
	"unicode/utf8"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
)

// appendCEF appends r as a CEF:0 message (ArcSight Common Event Format,
// Implementing ArcSight CEF rev. 25):
//
//	CEF:0|Sluice|Sluice|VERSION|SIGNATURE ID|NAME|SEVERITY|EXTENSION
//
// with the fields the OT monitors' CEF outputs carry (Microsoft Defender
// for IoT, Nozomi): the signature id and sentence, the severity on 0-10,
// then rt (packet time, ms since the epoch), dvchost (sensor), cs4 (site),
// src/spt/dst/dpt, proto, app (modbus, opcua), cn2 (flow id), and for an
// alert act, cat, cs1 (rule), cs2 (ATT&CK for ICS technique ids), cs3
// (deviation id), cn1 (count), outcome=resolved when a condition ended;
// cs5 is the protocol's function. docs/deploy.md has the table.
func (s *Sink) appendCEF(b []byte, r *agent.Record) []byte {
	b = append(b, "CEF:0|"+vendor+"|"+product+"|"...)
	b = cefHeader(b, s.version)
	b = append(b, '|')
	b = eventID(b, r)
	b = append(b, '|')
	b = appendName(b, r, cefHeader)
	b = append(b, '|')
	b = append(b, cefSeverity[level(r)]...)
	b = append(b, '|')
	ext := len(b)
	if !r.Time.IsZero() { // zero: the stats of a run that saw no packet
		b = append(b, " rt="...)
		b = strconv.AppendInt(b, r.Time.UnixMilli(), 10)
	}
	if s.sensor != "" {
		b = cefPair(b, "dvchost", s.sensor)
	}
	if s.site != "" {
		b = cefPair(cefPair(b, "cs4Label", "Site"), "cs4", s.site)
	}
	if f := r.Flow; f != nil {
		b = appendParties(b, f, ' ', "spt", "dpt")
		if f.Protocol != "" {
			b = cefPair(b, "app", f.Protocol)
		}
		if f.HasID && f.ID != 0 { // flow ids start at 1: poll_stopped alerts carry 0
			b = append(b, " cn2Label=Flow ID cn2="...)
			b = strconv.AppendUint(b, f.ID, 10)
		}
	}
	if a := r.Alert; a != nil {
		b = append(b, " act=allowed"...)
		b = cefPair(b, "cat", a.Category)
		b = cefPair(append(b, " cs1Label=Rule"...), "cs1", a.Rule.String())
		if a.Rule == baselines.PolicyViolation {
			// The rule of the engineer's file (alert.policy).
			b = cefPair(append(b, " flexString1Label=Policy"...), "flexString1", a.Item.What)
		}
		if len(r.Also) > 0 {
			// Every rule the request broke, the most severe first.
			b = append(b, " cs6Label=Rules cs6="...)
			b = appendRules(b, a, r.Also)
		}
		b = techniques(append(b, " cs2Label=ATT&CK for ICS cs2="...), a, r.Also)
		b = cefPair(append(b, " cs3Label=Deviation ID"...), "cs3", a.ID)
		b = append(b, " cn1Label=Count cn1="...)
		b = strconv.AppendUint(b, a.Count, 10)
		if a.Resolved {
			b = append(b, " outcome=resolved"...)
		}
	}
	if r.Function != "" {
		b = cefPair(append(b, " cs5Label=Function"...), "cs5", r.Function)
	}
	if len(b) > ext { // every pair was written with a space before it
		b = append(b[:ext], b[ext+1:]...)
	}
	return b
}

// cefPair appends " key=value", the value escaped.
func cefPair(b []byte, key, value string) []byte {
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, '=')
	return cefValue(b, value)
}

// cefHeader appends a header field: '\' and '|' escaped with a backslash,
// as the CEF specification asks. It allows no line break in the header
// (multi-line text is for extension values only), and has no escape for
// them: every control character becomes a space. Invalid UTF-8 becomes
// U+FFFD.
func cefHeader(b []byte, s string) []byte {
	i := plainPrefix(s, cefHeaderSpecial)
	b = append(b, s[:i]...)
	for _, r := range s[i:] {
		switch {
		case r == '\\' || r == '|':
			b = append(b, '\\', byte(r))
		case isControl(r):
			b = append(b, ' ')
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// cefValue appends an extension value: '\' and '=' escaped with a
// backslash, line feed and carriage return written \n and \r, as the CEF
// specification asks; the other control characters, which it has no
// escape for, become a space. A '|' needs no escape in the extension.
func cefValue(b []byte, s string) []byte {
	i := plainPrefix(s, cefValueSpecial)
	b = append(b, s[:i]...)
	for _, r := range s[i:] {
		switch {
		case r == '\\' || r == '=':
			b = append(b, '\\', byte(r))
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case isControl(r):
			b = append(b, ' ')
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}
