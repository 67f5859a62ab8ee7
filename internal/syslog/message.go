package syslog

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-ics/sluice/agent"
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/jsonw"
)

// Format is what follows the RFC 5424 header of a message.
type Format uint8

const (
	// FormatCEF is ArcSight's Common Event Format (CEF:0), what Microsoft
	// Sentinel, Splunk and Elastic read from OT monitors. The default.
	FormatCEF Format = iota
	// FormatLEEF is IBM QRadar's Log Event Extended Format 2.0, with tab
	// as the attribute delimiter.
	FormatLEEF
	// FormatEVE is the event's EVE JSON line, as the EVE file has it.
	FormatEVE
)

var formatNames = [...]string{"cef", "leef", "eve"}

func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return "format(" + strconv.Itoa(int(f)) + ")"
}

// ParseFormat is the inverse of Format.String.
func ParseFormat(s string) (Format, error) {
	for i, n := range formatNames {
		if s == n {
			return Format(i), nil
		}
	}
	return 0, fmt.Errorf("unknown syslog format %q (want cef, leef or eve)", s)
}

// DefaultFacility is local4 (RFC 5424 6.2.1: facilities 16-23 are
// local0-local7, left to the site).
const DefaultFacility = 20

var facilityNames = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14, "solaris-cron": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// ParseFacility reads a facility by its name (RFC 5424 Table 1, in the
// names syslog.conf uses: local4, daemon, authpriv…) or its number, 1-23.
// 0 (kern) is refused: it belongs to the kernel's own messages.
func ParseFacility(s string) (int, error) {
	n, ok := facilityNames[strings.ToLower(s)]
	if !ok {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 0 || n > 23 {
			return 0, fmt.Errorf("unknown syslog facility %q (want a name such as local4 or a number 1-23)", s)
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("syslog facility %q is the kernel's", s)
	}
	return n, nil
}

// Severities of the three encodings, by Sluice severity (1 high, 2
// medium, 3 low; index 0 is every event that is not an alert). RFC 5424
// 6.2.1: 2 critical, 4 warning, 5 notice, 6 informational. CEF: 0-10, its
// bands Low 0-3, Medium 4-6, High 7-8 (Very-High 9-10 is left unused:
// Sluice has no higher level than high). LEEF's sev is 1-10, on the same
// scale.
var (
	syslogSeverity = [4]byte{6, 2, 4, 5}
	cefSeverity    = [4]string{"0", "8", "5", "3"}
	leefSeverity   = [4]string{"1", "8", "5", "3"}
)

// level is the index into the severity tables of a record.
func level(r *agent.Record) int {
	if r.Alert != nil && r.Alert.Severity >= 1 && r.Alert.Severity <= 3 {
		return int(r.Alert.Severity)
	}
	return 0
}

// SDID is the SD-ID of Sluice's structured data element. Sluice has no
// IANA private enterprise number: 32473 is the one RFC 5612 reserves for
// documentation, which RFC 5424's own examples use. A collector that
// keys on the SD-ID should be told this one.
const SDID = "sluice@32473"

// appName is the APP-NAME of every message (RFC 5424 6.2.5).
const appName = "sluice"

// Product names of the CEF and LEEF headers.
const (
	vendor  = "Sluice"
	product = "Sluice"
)

// header renders what is constant in the messages of one sink: the fields
// after the timestamp up to MSGID (" HOSTNAME APP-NAME PROCID "), and the
// structured data element of the sensor identity.
func header(hostname string, pid int, sensor, site string) (mid, sd []byte) {
	mid = append(mid, ' ')
	mid = appendHostname(mid, hostname)
	mid = append(mid, ' ')
	mid = append(mid, appName...)
	mid = append(mid, ' ')
	mid = strconv.AppendInt(mid, int64(pid), 10)
	mid = append(mid, ' ')
	if sensor == "" && site == "" {
		return mid, []byte("-")
	}
	sd = append(sd, '[')
	sd = append(sd, SDID...)
	for _, p := range [...]struct{ name, value string }{{"sensor", sensor}, {"site", site}} {
		if p.value != "" {
			sd = append(sd, ' ')
			sd = append(sd, p.name...)
			sd = append(sd, '=', '"')
			sd = appendParamValue(sd, p.value)
			sd = append(sd, '"')
		}
	}
	return mid, append(sd, ']')
}

// appendHostname appends HOSTNAME (RFC 5424 6.2.4): 1-255 printable
// US-ASCII characters, "-" when unknown. Anything else becomes '_'.
func appendHostname(b []byte, h string) []byte {
	if h == "" {
		return append(b, '-')
	}
	if len(h) > 255 {
		h = h[:255]
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// appendParamValue appends an SD-PARAM value with '"', '\' and ']'
// escaped by a backslash (RFC 5424 6.3.3), as UTF-8.
func appendParamValue(b []byte, s string) []byte {
	i := plainPrefix(s, paramSpecial)
	b = append(b, s[:i]...)
	for _, r := range s[i:] { // invalid UTF-8 comes as U+FFFD
		switch r {
		case '"', '\\', ']':
			b = append(b, '\\', byte(r))
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// appendHead appends the RFC 5424 header of r: PRI, VERSION, TIMESTAMP
// (the event's packet time, UTC, microseconds), the constant middle,
// MSGID (the event type), the structured data and the space before MSG.
func (s *Sink) appendHead(b []byte, r *agent.Record) []byte {
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.facility*8+int(syslogSeverity[level(r)])), 10)
	b = append(b, '>', '1', ' ')
	if r.Time.IsZero() {
		b = append(b, '-')
	} else {
		b = r.Time.UTC().AppendFormat(b, jsonw.TimeLayout)
	}
	b = append(b, s.mid...)
	b = append(b, r.Type...)
	b = append(b, ' ')
	b = append(b, s.sd...)
	return append(b, ' ')
}

// appendMessage appends the whole message of r, without transport framing.
func (s *Sink) appendMessage(b []byte, r *agent.Record) []byte {
	b = s.appendHead(b, r)
	switch s.format {
	case FormatEVE:
		return append(b, r.Line...)
	case FormatLEEF:
		return s.appendLEEF(b, r)
	default:
		return s.appendCEF(b, r)
	}
}

// eventID is the signature id of an alert, the event type of any other
// event: CEF's Signature ID, LEEF's EventID.
func eventID(b []byte, r *agent.Record) []byte {
	if r.Alert != nil {
		return strconv.AppendUint(b, uint64(r.Alert.SignatureID), 10)
	}
	return append(b, r.Type...)
}

// appendName appends the human title of an event, each piece escaped by
// esc: an alert's signature sentence (which contains network text), else
// "modbus write_single_register", "anomaly", "stats".
func appendName(b []byte, r *agent.Record, esc func([]byte, string) []byte) []byte {
	if r.Alert != nil {
		return esc(b, r.Alert.Signature)
	}
	b = esc(b, r.Type)
	if r.Function != "" {
		b = esc(append(b, ' '), r.Function)
	}
	return b
}

// appendParties appends the client and the server of a flow when it
// names them, each pair after sep: src and dst (IPv6 too: Sentinel,
// Splunk and Elastic take it there), their ports under the keys given
// (when known), and proto=TCP.
func appendParties(b []byte, f *agent.Flow, sep byte, sport, dport string) []byte {
	if !f.Src.IsValid() {
		return b
	}
	for _, p := range [2]struct {
		ap        netip.AddrPort
		key, port string
	}{{f.Src, "src", sport}, {f.Dest, "dst", dport}} {
		b = append(b, sep)
		b = append(b, p.key...)
		b = append(b, '=')
		b = p.ap.Addr().AppendTo(b)
		if n := p.ap.Port(); n != 0 {
			b = append(b, sep)
			b = append(b, p.port...)
			b = append(b, '=')
			b = strconv.AppendUint(b, uint64(n), 10)
		}
	}
	b = append(b, sep)
	if f.UDP {
		return append(b, "proto=UDP"...)
	}
	return append(b, "proto=TCP"...)
}

// techniques appends the ATT&CK technique ids of an alert event,
// comma-separated: a's, then those of the rules merged into it not already
// written (the EVE alert's metadata lists the same).
func techniques(b []byte, a *baselines.Alert, also []baselines.Alert) []byte {
	n := 0
	add := func(t string) {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, t...)
		n++
	}
	for _, t := range a.Techniques {
		add(t)
	}
	for i := range also {
		for _, t := range also[i].Techniques {
			if !slices.Contains(a.Techniques, t) && !slices.ContainsFunc(also[:i], func(o baselines.Alert) bool { return slices.Contains(o.Techniques, t) }) {
				add(t)
			}
		}
	}
	return b
}

// appendRules appends the rule names of an alert event, comma-separated:
// its own, then those merged into it (rule names are fixed ASCII
// identifiers: nothing to escape).
func appendRules(b []byte, a *baselines.Alert, also []baselines.Alert) []byte {
	b = append(b, a.Rule.String()...)
	for i := range also {
		b = append(append(b, ','), also[i].Rule.String()...)
	}
	return b
}

// isControl reports the characters no encoding lets through as they are:
// C0 controls (tab and line breaks included) and DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// special marks the bytes an escaping function must look at: every
// control character and non-ASCII byte (UTF-8 is checked rune by rune),
// and the format's own delimiters.
type special [256]bool

func specials(delims string) *special {
	var t special
	for c := range t {
		t[c] = c < 0x20 || c >= 0x7f || strings.IndexByte(delims, byte(c)) >= 0
	}
	return &t
}

var (
	cefHeaderSpecial = specials(`\|`)
	cefValueSpecial  = specials(`\=`)
	leefSpecial      = specials("")
	paramSpecial     = specials(`"\]`)
)

// plainPrefix is the length of the start of s that t lets through as it
// is: the escaping functions copy it at once and look at the rest rune by
// rune.
func plainPrefix(s string, t *special) int {
	for i := 0; i < len(s); i++ {
		if t[s[i]] {
			return i
		}
	}
	return len(s)
}
