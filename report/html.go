package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
)

//go:embed report.html.tmpl
var htmlSource string

// MaxAlertRows caps the alert log in the HTML and Markdown reports: a scan
// can leave thousands of deviations, and the JSON report keeps them all.
const MaxAlertRows = 500

// htmlTemplate is parsed once; html/template escapes every value by its
// context (element text, attribute, SVG), which is what keeps attacker-set
// device identities inert.
var htmlTemplate = template.Must(template.New("report").Funcs(funcs).Parse(htmlSource))

var funcs = template.FuncMap{
	"num":   fmtFloat,
	"join":  strings.Join,
	"units": unitsText,
	"sev":   sevName,
	"dist":  distinctText,
	"inc":   func(i int) int { return i + 1 },
	"yn": func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	},
}

// htmlView is what the template sees: the report and its pictures.
type htmlView struct {
	*Report
	Map        commMap
	Heat       map[string][]heatPic // by server
	AlertRows  []AlertRow
	AlertsMore int
}

// WriteHTML writes the report as one self-contained HTML page: inline CSS,
// inline SVG, no script, no external resource, laid out to print on A4.
func (r *Report) WriteHTML(w io.Writer) error {
	r = r.visibleText() // html/template escapes markup, not controls
	v := htmlView{Report: r, Map: buildMap(r), Heat: map[string][]heatPic{}}
	for _, db := range r.Baselines {
		for _, h := range db.HeatMaps {
			v.Heat[db.Server] = append(v.Heat[db.Server], buildHeat(h))
		}
	}
	v.AlertRows, v.AlertsMore = r.Alerts, r.omittedAlerts()
	if len(v.AlertRows) > MaxAlertRows {
		v.AlertRows, v.AlertsMore = v.AlertRows[:MaxAlertRows], v.AlertsMore+len(v.AlertRows)-MaxAlertRows
	}
	// The most severe rows are kept; they are shown by incident.
	v.AlertRows = r.byIncident(v.AlertRows)
	if err := htmlTemplate.Execute(w, v); err != nil {
		return fmt.Errorf("report: html: %w", err)
	}
	return nil
}

// fmtFloat writes a number without trailing zeros: 12.5, 3, 0.25.
func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func unitsText(u []uint16) string {
	parts := make([]string, len(u))
	for i, x := range u {
		parts[i] = strconv.Itoa(int(x))
	}
	return strings.Join(parts, ", ")
}

func sevName(s uint8) string {
	switch s {
	case 1:
		return "high"
	case 2:
		return "medium"
	}
	return "low"
}

// distinctText lists an envelope's distinct values, or says there were
// many.
func distinctText(e EnvelopeRow) string {
	if e.Many {
		return "many"
	}
	parts := make([]string, len(e.Distinct))
	for i, v := range e.Distinct {
		parts[i] = fmtFloat(v)
	}
	return strings.Join(parts, ", ")
}
