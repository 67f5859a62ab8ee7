package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/internal/fleet"
)

// FleetReport is the report of a fleet database (sluice hub): every site,
// its sensors and when each was last heard from, its devices, its alerts by
// rule and its newest alerts.
type FleetReport struct {
	Title     string `json:"title"`
	Generated Time   `json:"generated"`
	Database  string `json:"database"`
	Summary   struct {
		Sites   int `json:"sites"`
		Sensors int `json:"sensors"`
		Devices int `json:"devices"`
		Alerts  int `json:"alerts"`
	} `json:"summary"`
	Sites []FleetSite `json:"sites"`
}

// FleetSite is one site of the fleet report.
type FleetSite struct {
	Name    string            `json:"name"`
	Sensors []FleetSensor     `json:"sensors"`
	Devices []FleetDevice     `json:"devices"`
	Alerts  int               `json:"alerts"`
	ByRule  []fleet.RuleCount `json:"alerts_by_rule"`
	Recent  []FleetAlert      `json:"recent_alerts"`
	// Error says why the site's baseline could not be read (its devices
	// are then missing), "" when it was.
	Error string `json:"error,omitempty"`
}

// FleetSensor is one sensor: when the hub first and last heard from it
// (its clock), its newest event's packet time, what it sent.
type FleetSensor struct {
	Name       string            `json:"name"`
	FirstHeard Time              `json:"first_heard"`
	LastHeard  Time              `json:"last_heard"`
	Silent     string            `json:"silent_for"` // since LastHeard, at Generated
	LastEvent  Time              `json:"last_event"`
	Messages   map[string]uint64 `json:"messages"`
	Duplicates uint64            `json:"duplicates"`
}

// FleetDevice is one device of a site's inventory.
type FleetDevice struct {
	IP        string `json:"ip"`
	MAC       string `json:"mac,omitempty"`
	Vendor    string `json:"vendor,omitempty"`
	Roles     string `json:"roles"`
	FirstSeen Time   `json:"first_seen"`
	LastSeen  Time   `json:"last_seen"`
}

// FleetAlert is one of a site's newest alerts.
type FleetAlert struct {
	Time      Time   `json:"timestamp"`
	Sensor    string `json:"sensor"`
	Rule      string `json:"rule"`
	Severity  int    `json:"severity"`
	Signature string `json:"signature"`
	Src       string `json:"src_ip,omitempty"`
	Dest      string `json:"dest_ip,omitempty"`
}

// BuildFleet makes the fleet report of f; opt gives the title, the
// generation time and the database's name.
func BuildFleet(f *fleet.Fleet, opt Options) *FleetReport {
	r := &FleetReport{Title: opt.Title, Generated: Time{opt.Generated}, Database: opt.Database}
	if r.Title == "" {
		r.Title = "Sluice fleet report"
	}
	for _, s := range f.Sites {
		fs := FleetSite{Name: s.Name, Alerts: s.Alerts, ByRule: s.ByRule, Error: s.Error}
		for _, sn := range s.Sensors {
			fs.Sensors = append(fs.Sensors, FleetSensor{
				Name: sn.Sensor, FirstHeard: Time{sn.FirstHeard}, LastHeard: Time{sn.LastHeard},
				Silent:    opt.Generated.Sub(sn.LastHeard).Round(time.Second).String(),
				LastEvent: Time{sn.LastEvent}, Messages: sn.Messages, Duplicates: sn.Duplicates,
			})
		}
		for _, d := range s.Devices {
			fd := FleetDevice{IP: d.IP.String(), Vendor: d.Vendor, Roles: d.Roles.String(),
				FirstSeen: Time{d.FirstSeen}, LastSeen: Time{d.LastSeen}}
			if !d.MAC.IsZero() {
				fd.MAC = d.MAC.String()
			}
			fs.Devices = append(fs.Devices, fd)
		}
		for _, a := range s.Recent {
			fs.Recent = append(fs.Recent, FleetAlert{Time: Time{a.Time}, Sensor: a.Sensor, Rule: a.Rule,
				Severity: a.Severity, Signature: a.Signature, Src: a.SrcIP, Dest: a.DestIP})
		}
		r.Summary.Sensors += len(fs.Sensors)
		r.Summary.Devices += len(fs.Devices)
		r.Summary.Alerts += fs.Alerts
		r.Sites = append(r.Sites, fs)
	}
	r.Summary.Sites = len(r.Sites)
	return r
}

// Write writes the fleet report in format f.
func (r *FleetReport) Write(w io.Writer, f Format) error {
	switch f {
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case Markdown:
		return r.writeMarkdown(w)
	}
	return fleetTemplate.Execute(w, r)
}

// messagesText lists counts by kind: "alert 12, baseline 3".
func messagesText(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func (r *FleetReport) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\nGenerated %s from `%s`: %d sites, %d sensors, %d devices, %d alerts.\n",
		mdEscape(r.Title), r.Generated, mdEscape(r.Database), r.Summary.Sites, r.Summary.Sensors, r.Summary.Devices, r.Summary.Alerts)
	for _, s := range r.Sites {
		fmt.Fprintf(&b, "\n## Site %s\n\n### Sensors\n\n| Sensor | First heard | Last heard | Silent for | Newest event | Messages | Duplicates |\n|---|---|---|---|---|---|---|\n", mdEscape(s.Name))
		for _, sn := range s.Sensors {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d |\n", mdCode(sn.Name), sn.FirstHeard, sn.LastHeard, sn.Silent, sn.LastEvent, mdEscape(messagesText(sn.Messages)), sn.Duplicates)
		}
		if s.Error != "" {
			fmt.Fprintf(&b, "\n**The site's baseline could not be read:** %s\n", mdEscape(s.Error))
		}
		fmt.Fprintf(&b, "\n### Devices (%d)\n\n| IP | MAC | Vendor | Roles | First seen | Last seen |\n|---|---|---|---|---|---|\n", len(s.Devices))
		for _, d := range s.Devices {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdCode(d.IP), mdCode(d.MAC), mdEscape(d.Vendor), mdEscape(d.Roles), d.FirstSeen, d.LastSeen)
		}
		fmt.Fprintf(&b, "\n### Alerts by rule (%d)\n\n| Rule | Severity | Alerts |\n|---|---|---|\n", s.Alerts)
		for _, rc := range s.ByRule {
			fmt.Fprintf(&b, "| %s | %s | %d |\n", mdCode(rc.Rule), sevName(uint8(rc.Severity)), rc.Count)
		}
		fmt.Fprintf(&b, "\n### Newest alerts\n\n| Time | Sensor | Rule | Source | Destination | Signature |\n|---|---|---|---|---|---|\n")
		for _, a := range s.Recent {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", a.Time, mdCode(a.Sensor), mdCode(a.Rule), mdCode(a.Src), mdCode(a.Dest), mdEscape(a.Signature))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fleetTemplate is the HTML fleet report: one self-contained page, every
// value escaped by html/template (site, sensor and device names, and
// signatures, come from the sensors and the network).
var fleetTemplate = template.Must(template.New("fleet").Funcs(template.FuncMap{
	"sev": sevName, "msgs": messagesText, "sev8": func(i int) uint8 { return uint8(i) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;font-size:.9em}
th{background:#eef}
code{font-size:.9em}
h2{border-bottom:2px solid #335;margin-top:2em}
@media print{body{margin:1cm}}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Generated {{.Generated}} from <code>{{.Database}}</code>: {{.Summary.Sites}} sites, {{.Summary.Sensors}} sensors, {{.Summary.Devices}} devices, {{.Summary.Alerts}} alerts.</p>
{{range .Sites}}
<h2>Site {{.Name}}</h2>
<h3>Sensors</h3>
<table><tr><th>Sensor</th><th>First heard</th><th>Last heard</th><th>Silent for</th><th>Newest event</th><th>Messages</th><th>Duplicates</th></tr>
{{range .Sensors}}<tr><td><code>{{.Name}}</code></td><td>{{.FirstHeard}}</td><td>{{.LastHeard}}</td><td>{{.Silent}}</td><td>{{.LastEvent}}</td><td>{{msgs .Messages}}</td><td>{{.Duplicates}}</td></tr>
{{end}}</table>
{{if .Error}}<p><strong>The site's baseline could not be read:</strong> {{.Error}}</p>{{end}}
<h3>Devices ({{len .Devices}})</h3>
<table><tr><th>IP</th><th>MAC</th><th>Vendor</th><th>Roles</th><th>First seen</th><th>Last seen</th></tr>
{{range .Devices}}<tr><td><code>{{.IP}}</code></td><td><code>{{.MAC}}</code></td><td>{{.Vendor}}</td><td>{{.Roles}}</td><td>{{.FirstSeen}}</td><td>{{.LastSeen}}</td></tr>
{{end}}</table>
<h3>Alerts by rule ({{.Alerts}})</h3>
<table><tr><th>Rule</th><th>Severity</th><th>Alerts</th></tr>
{{range .ByRule}}<tr><td><code>{{.Rule}}</code></td><td>{{sev (sev8 .Severity)}}</td><td>{{.Count}}</td></tr>
{{end}}</table>
<h3>Newest alerts</h3>
<table><tr><th>Time</th><th>Sensor</th><th>Rule</th><th>Source</th><th>Destination</th><th>Signature</th></tr>
{{range .Recent}}<tr><td>{{.Time}}</td><td><code>{{.Sensor}}</code></td><td><code>{{.Rule}}</code></td><td>{{.Src}}</td><td>{{.Dest}}</td><td>{{.Signature}}</td></tr>
{{end}}</table>
{{end}}
</body></html>
`))
