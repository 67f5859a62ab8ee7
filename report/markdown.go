package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Format is an output format of the report.
type Format uint8

const (
	HTML Format = iota
	Markdown
	JSON
)

func (f Format) String() string {
	return [...]string{"html", "md", "json"}[f%3]
}

// ParseFormat parses "html", "md" (or "markdown") and "json".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "html":
		return HTML, nil
	case "md", "markdown":
		return Markdown, nil
	case "json":
		return JSON, nil
	}
	return HTML, fmt.Errorf("report: unknown format %q (want html, md or json)", s)
}

// Write writes the report in format f.
func (r *Report) Write(w io.Writer, f Format) error {
	switch f {
	case Markdown:
		return r.WriteMarkdown(w)
	case JSON:
		return r.WriteJSON(w)
	}
	return r.WriteHTML(w)
}

// WriteJSON writes the report as indented JSON. encoding/json escapes <, >
// and & in strings, so the output is also safe to embed in HTML.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}

// mdReplacer escapes text for Markdown table cells and paragraphs:
// backslash escapes for CommonMark's punctuation that starts inline markup,
// entities for < > & (so raw HTML is never recognised), and newlines folded
// into spaces (a cell is one line).
var mdReplacer = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `|`, `\|`, `#`, `\#`,
	`!`, `\!`, `~`, `\~`, `<`, "&lt;", `>`, "&gt;", `&`, "&amp;",
	"\r\n", " ", "\n", " ", "\r", " ",
)

// mdEscape makes network text inert in Markdown.
func mdEscape(s string) string { return mdReplacer.Replace(s) }

// mdCode writes s as an inline code span. A code span cannot hold a
// backslash escape or an entity, so text with backticks, pipes, line
// breaks or markup characters is written as escaped text instead: a code
// span's content is literal in CommonMark, but not every renderer keeps to
// that, and network text gets no benefit of the doubt.
func mdCode(s string) string {
	if s == "" {
		return ""
	}
	if strings.ContainsAny(s, "`|\r\n<>&") {
		return mdEscape(s)
	}
	return "`" + s + "`"
}

// WriteMarkdown writes the report as GitHub-flavoured Markdown (tables).
// Every string is made visible (no control character reaches a terminal
// the report is printed to, no newline breaks a table row) and every string
// from the network is escaped with mdEscape.
func (r *Report) WriteMarkdown(w io.Writer) error {
	r = r.visibleText()
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	e := mdEscape
	p("# %s\n\n", e(r.Title))
	p("Generated %s", r.Generated)
	if r.Database != "" {
		p(" from %s", mdCode(r.Database))
	}
	p(" · baseline schema %d\n\n", r.Schema)
	p("- **Baseline SHA-256:** `%s`\n", r.SHA256)
	if len(r.Approvals) == 0 {
		p("- **Approval:** not approved (`sluice baseline approve --by NAME` records the approver and this hash)\n")
	}
	for _, a := range r.Approvals {
		state := "approved an earlier baseline"
		if a.Current {
			state = "approved"
		}
		p("- **Approval:** %s by %s at %s (`%s`)\n", state, e(a.By), a.At, a.SHA256)
	}
	s := r.Summary
	p("- **Summary:** %d devices, %d channels, %d baseline items, %d deviations (%d high severity), %d occurrences, %d alerts, %d accepted, %d devices still learning\n\n",
		s.Devices, s.Channels, s.BaselineItems, s.Deviations, s.HighSeverityOpen, s.Occurrences, s.Alerts, s.Accepted, s.StillLearning)

	p("## 1. Learning window and sources\n\n")
	p("| | |\n|---|---|\n")
	p("| First traffic | %s |\n| Learning ends | %s |\n| Last traffic | %s |\n| Built in | %s |\n", r.Window.Start, r.Window.LearnEnd, r.Window.LastSeen, r.Window.BuiltIn)
	if len(r.Sources) == 0 {
		p("| Capture sources | none recorded (runs with --db record theirs; --source adds others) |\n")
	}
	for _, src := range r.Sources {
		p("| Capture source | %s |\n", mdCode(src))
	}
	p("\nAll times are packet (traffic) times in UTC, except the generation time.\n\n")

	p("## 2. Communication matrix\n\n")
	if len(r.Matrix.Clients) == 0 {
		p("No traffic in the baseline.\n\n")
	} else {
		p("| client \\\\ server |")
		for _, sv := range r.Matrix.Servers {
			p(" %s |", sv)
		}
		p("\n|---|")
		for range r.Matrix.Servers {
			p("---:|")
		}
		p("\n")
		for i, c := range r.Matrix.Clients {
			p("| %s |", c)
			for _, cell := range r.Matrix.Cells[i] {
				switch {
				case cell.Transactions > 0:
					p(" %d %s", cell.Transactions, strings.Join(cell.Protocols, "+"))
					if cell.Alerted {
						p(" **(alert)**")
					}
					p(" |")
				case cell.Alerted:
					p(" **alert** |")
				default:
					p(" · |")
				}
			}
			p("\n")
		}
		p("\n")
		if n := r.omittedNote("matrix"); n != "" {
			p("%s\n\n", n)
		}
	}

	p("## 3. Asset inventory\n\n")
	p("| IP | MAC | vendor (OUI) | roles | units | identity | first seen | last seen | transactions | learning |\n")
	p("|---|---|---|---|---|---|---|---|---:|---|\n")
	for _, d := range r.Devices {
		var id []string
		for _, f := range d.Identity {
			id = append(id, f.Name+": "+e(f.Value))
		}
		learn := "judged since " + d.LearnUntil.String() + "; " + fmtFloat(d.Convergence) + " new items/h"
		switch {
		case d.Client:
			learn = "client: judged through its servers"
		case d.LearnOnly:
			learn = "learned (learn mode), not judged yet; " + fmtFloat(d.Convergence) + " new items/h"
		case d.Learning:
			learn = "learning until " + d.LearnUntil.String() + "; " + fmtFloat(d.Convergence) + " new items/h"
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %d | %s |\n",
			d.IP, d.MAC, e(d.Vendor), strings.Join(d.Roles, ", "), unitsText(d.Units), strings.Join(id, "; "),
			d.FirstSeen, d.LastSeen, d.Transactions, learn)
	}
	if n := r.omittedNote("devices"); n != "" {
		p("\n%s\n", n)
	}
	p("\nIdentity strings are what devices say about themselves; they are not authenticated.\n\n")
	if r.IdentityChanged() {
		p("### Identity changes\n\n")
		p("| device | first reported | last reported | what | change | occurrences |\n")
		p("|---|---|---|---|---|---:|\n")
		for _, d := range r.Devices {
			for _, c := range d.IdentityChanges {
				p("| %s | %s | %s | %s | %s | %d |\n", d.IP, c.First, c.Last, c.What, e(c.Change), c.Occurrences)
			}
		}
		p("\nA new firmware or identity is `device_identity_changed`, a new certificate `certificate_changed` (docs/alerts.md).\n\n")
	}

	p("## 4. Baseline per device\n\n")
	if n := r.omittedNote("channels"); n != "" {
		p("%s\n\n", n)
	}
	for _, db := range r.Baselines {
		p("### Server %s\n\n", db.Server)
		for _, h := range db.HeatMaps {
			p("Heat map unit %d %s %d-%d (%d per cell; r read, W written, + both): `%s`\n\n",
				h.Unit, h.Table, h.First, h.Last, h.Bucket, heatText(h))
		}
		for _, c := range db.Channels {
			p("#### %s\n\n", e(c.Name))
			p("- seen %s → %s; %d transactions, %d writes (%s/h), peak %d requests per rate window; %d baseline items\n",
				c.FirstSeen, c.LastSeen, c.Transactions, c.Writes, fmtFloat(c.WritesPerHr), c.PeakWindow, c.Items)
			if len(c.Functions) > 0 {
				var fs []string
				for _, f := range c.Functions {
					fs = append(fs, fmt.Sprintf("%d %s ×%d", f.Code, f.Name, f.Count))
				}
				p("- function codes: %s\n", e(strings.Join(fs, ", ")))
			}
			for _, d := range c.Diagnostics {
				p("- diagnostics sub-function %d %s ×%d\n", d.Code, e(d.Name), d.Count)
			}
			for _, t := range c.Read {
				p("- read %s: %s (%d)\n", e(t.Table), t.Ranges, t.Addresses)
			}
			for _, t := range c.Written {
				p("- written %s: %s (%d)\n", e(t.Table), t.Ranges, t.Addresses)
			}
			if len(c.Services) > 0 {
				p("- OPC UA services: %s\n", countsText(c.Services))
			}
			for _, sr := range c.Security {
				p("- security %s %s ×%d\n", sr.Property, mdCode(sr.Value), sr.Count)
			}
			for _, a := range c.ClientApps {
				p("- client application %s ×%d\n", mdCode(a.Name), a.Count)
			}
			for _, u := range c.Users {
				p("- user %s ×%d\n", mdCode(u.Name), u.Count)
			}
			for _, m := range c.NodesCalled {
				p("- method called %s ×%d\n", mdCode(m.Name), m.Count)
			}
			if len(c.NodesRead) > 0 {
				p("- %d nodes read: %s\n", len(c.NodesRead), countsText(c.NodesRead))
			}
			p("\n")
			envs := func(title string, rows []EnvelopeRow) {
				if len(rows) == 0 {
					return
				}
				p("| %s | min | max | writes | distinct values |\n|---|---:|---:|---:|---|\n", title)
				for _, v := range rows {
					p("| %s | %s | %s | %d | %s |\n", mdCode(v.Item), fmtFloat(v.Min), fmtFloat(v.Max), v.Writes, distinctText(v))
				}
				p("\n")
			}
			envs("register written", c.Values)
			envs("node written", c.NodesWrite)
			if len(c.Process) > 0 {
				p("| process variable | min | max | max step/s | changes / reads | longest still | states |\n|---|---:|---:|---:|---:|---:|---|\n")
				for _, v := range c.Process {
					p("| %s | %s | %s | %s | %d / %d | %s s | %s |\n", mdCode(v.Variable), fmtFloat(v.Min), fmtFloat(v.Max),
						fmtFloat(v.MaxRate), v.Changes, v.Reads, fmtFloat(v.MaxStill), v.States)
				}
				if c.ProcessOmitted > 0 {
					p("\n%d more process variables not listed (the %d that change most are).\n", c.ProcessOmitted, len(c.Process))
				}
				if c.ProcessDropped > 0 {
					p("\n%d values read of variables beyond the baseline's cap were not learned.\n", c.ProcessDropped)
				}
				p("\n")
			}
			if len(c.Polls) > 0 {
				p("| repeating request | period | jitter | samples | watched |\n|---|---:|---:|---:|---|\n")
				for _, pr := range c.Polls {
					p("| %s | %s ms | %s ms | %d | %s |\n", mdCode(pr.Request), fmtFloat(pr.PeriodMS), fmtFloat(pr.JitterMS), pr.Samples, yesNo(pr.Regular))
				}
				p("\n")
			}
		}
	}
	if len(r.Baselines) == 0 {
		p("Nothing learned yet.\n\n")
	}

	p("## 5. Alerts\n\n")
	if len(r.AlertsByRule) == 0 {
		p("No deviation recorded.\n\n")
	} else {
		p("### By rule\n\n| rule | signature id | severity | category | ATT&CK for ICS | deviations | alerts | occurrences |\n|---|---:|---|---|---|---:|---:|---:|\n")
		for _, rc := range r.AlertsByRule {
			p("| %s | %d | %s | %s | %s | %d | %d | %d |\n", rc.Rule, rc.SignatureID, sevName(rc.Severity), rc.Category,
				strings.Join(rc.Techniques, ", "), rc.Deviations, rc.Alerts, rc.Occurrences)
		}
		p("\n### By device\n\n| device | deviations | occurrences | rules |\n|---|---:|---:|---|\n")
		for _, da := range r.AlertsByDevice {
			p("| %s | %d | %d | %s |\n", da.Device, da.Deviations, da.Occurrences, countsText(da.Rules))
		}
		if n := r.omittedNote("alerts by device"); n != "" {
			p("\n%s\n", n)
		}
		p("\n### Incidents\n\nDeviations between the same client and server whose first occurrences lie within 30 minutes of each other, as the agent groups its alerts.\n\n")
		p("| incident | title | severity | first | last | rules | techniques | deviations | count |\n|---|---|---|---|---|---|---|---:|---:|\n")
		for _, inc := range r.Incidents {
			p("| %s | %s | %s | %s | %s | %s | %s | %d | %d |\n", inc.ID, e(inc.Title), sevName(inc.Severity), inc.First, inc.Last,
				strings.Join(inc.Rules, ", "), strings.Join(inc.Techniques, ", "), inc.Deviations, inc.Occurrences)
		}
		if n := r.omittedNote("incidents"); n != "" {
			p("\n%s\n", n)
		}
		p("\n### Alert log, by incident\n\n| incident | id | rule | channel | item | signature | first | last | count |\n|---|---|---|---|---|---|---|---|---:|\n")
		rows, more := r.Alerts, r.omittedAlerts()
		if len(rows) > MaxAlertRows {
			rows, more = rows[:MaxAlertRows], more+len(rows)-MaxAlertRows
		}
		rows = r.byIncident(rows)
		for _, a := range rows {
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", a.Incident, a.ID, a.Rule, e(a.Channel), e(a.Item), e(a.Signature), a.First, a.Last, a.Occurrences)
		}
		if more > 0 {
			p("\n… and %d more deviations: sluice report --all --format json lists them all.\n", more)
		}
		p("\n")
	}

	p("## 6. Accepted deviations\n\n")
	if len(r.Accepted) == 0 {
		p("None.\n\n")
	} else {
		p("| id | rule | channel | item | by | at | reason |\n|---|---|---|---|---|---|---|\n")
		for _, a := range r.Accepted {
			p("| %s | %s | %s | %s | %s | %s | %s |\n", a.ID, a.Rule, e(a.Channel), e(a.Item), e(a.By), a.At, e(a.Reason))
		}
		p("\n")
	}
	p("### Audit trail\n\n")
	if len(r.Audit) == 0 {
		p("Empty.\n")
	} else {
		p("| # | action | by | at | reason | deviation | sha256 |\n|---:|---|---|---|---|---|---|\n")
		for _, a := range r.Audit {
			p("| %d | %s | %s | %s | %s | %s | %s |\n", a.Seq, e(a.Action), e(a.By), a.At, e(a.Reason), a.Deviation, a.SHA256)
		}
	}
	if len(r.Variables) > 0 {
		p("\n## 7. Register map\n\n| variable | Modbus | OPC UA node | unit |\n|---|---|---|---|\n")
		for _, v := range r.Variables {
			p("| %s | %s | %s | %s |\n", e(v.Name), e(v.Modbus), e(v.Node), e(v.Unit))
		}
	}
	p("\n---\nGenerated by `sluice report`; the same database always gives the same report except for its generation time.\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report: markdown: %w", err)
	}
	return nil
}

func countsText(cs []Count) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = mdEscape(c.Name) + " ×" + strconv.FormatUint(c.Count, 10)
	}
	return strings.Join(parts, ", ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// heatText draws a heat map as one character per cell: '.' untouched,
// 'r' read, 'W' written, '+' both.
func heatText(h HeatMap) string {
	b := make([]byte, len(h.Read))
	for i := range b {
		switch {
		case h.Read[i] > 0 && h.Written[i] > 0:
			b[i] = '+'
		case h.Written[i] > 0:
			b[i] = 'W'
		case h.Read[i] > 0:
			b[i] = 'r'
		default:
			b[i] = '.'
		}
	}
	return string(b)
}
