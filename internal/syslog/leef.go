package syslog

import (
	"strconv"
	"unicode/utf8"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
)

// leefTimeFormat is the devTimeFormat of every LEEF message: Java's
// SimpleDateFormat pattern of devTime, as IBM's own LEEF example writes
// it.
const leefTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"

// appendLEEF appends r as a LEEF 2.0 message (IBM QRadar Log Event
// Extended Format, version 2):
//
//	LEEF:2.0|Sluice|Sluice|VERSION|EVENT ID|x09|key=value<tab>key=value…
//
// The delimiter is tab, declared in the header as x09. The predefined
// keys devTime, devTimeFormat, sev, cat, src, srcPort, dst, dstPort and
// proto, then Sluice's own: msg (the signature sentence or the event's
// title), action, rule, techniques, deviationId, count, resolved, app,
// function, flowId, sensor, site. docs/deploy.md has the table.
func (s *Sink) appendLEEF(b []byte, r *agent.Record) []byte {
	b = append(b, "LEEF:2.0|"+vendor+"|"+product+"|"...)
	b = leefValue(b, s.version) // LEEF has no escape in the header either
	b = append(b, '|')
	b = eventID(b, r)
	b = append(b, "|x09|"...)
	if !r.Time.IsZero() { // zero: the stats of a run that saw no packet
		b = append(b, "devTime="...)
		b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000-0700")
		b = append(b, "\tdevTimeFormat="+leefTimeFormat+"\t"...)
	}
	b = append(b, "sev="...)
	b = append(b, leefSeverity[level(r)]...)
	if a := r.Alert; a != nil {
		b = leefPair(b, "cat", a.Category)
	}
	if r.Flow != nil {
		b = appendParties(b, r.Flow, '\t', "srcPort", "dstPort")
	}
	b = appendName(append(b, "\tmsg="...), r, leefValue)
	if a := r.Alert; a != nil {
		b = append(b, "\taction=allowed"...)
		b = leefPair(b, "rule", a.Rule.String())
		if a.Rule == baselines.PolicyViolation {
			b = leefPair(b, "policy", a.Item.What)
		}
		if len(r.Also) > 0 {
			b = appendRules(append(b, "\trules="...), a, r.Also)
		}
		b = techniques(append(b, "\ttechniques="...), a, r.Also)
		b = leefPair(b, "deviationId", a.ID)
		b = append(b, "\tcount="...)
		b = strconv.AppendUint(b, a.Count, 10)
		if a.Resolved {
			b = append(b, "\tresolved=true"...)
		}
	}
	if f := r.Flow; f != nil {
		if f.Protocol != "" {
			b = leefPair(b, "app", f.Protocol)
		}
		if f.HasID && f.ID != 0 { // flow ids start at 1: poll_stopped alerts carry 0
			b = append(b, "\tflowId="...)
			b = strconv.AppendUint(b, f.ID, 10)
		}
	}
	if r.Function != "" {
		b = leefPair(b, "function", r.Function)
	}
	if s.sensor != "" {
		b = leefPair(b, "sensor", s.sensor)
	}
	if s.site != "" {
		b = leefPair(b, "site", s.site)
	}
	return b
}

// leefPair appends "<tab>key=value", the value made safe.
func leefPair(b []byte, key, value string) []byte {
	b = append(b, '\t')
	b = append(b, key...)
	b = append(b, '=')
	return leefValue(b, value)
}

// leefValue appends a value. LEEF defines no escape: a value only must not
// hold the delimiter (IBM's guidelines: avoid tab, pipe and caret in keys
// and values), and a line break would end the event. So every control
// character, tab and line breaks included, becomes a space; '=' is safe
// (a key is what precedes the first '=' after a delimiter). Invalid UTF-8
// becomes U+FFFD.
func leefValue(b []byte, s string) []byte {
	i := plainPrefix(s, leefSpecial)
	b = append(b, s[:i]...)
	for _, r := range s[i:] {
		if isControl(r) {
			b = append(b, ' ')
		} else {
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}
