package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/internal/fleet"
	"github.com/sluice-ics/sluice/report"
	"github.com/sluice-ics/sluice/rules"
)

func init() {
	register(command{
		name:    "report",
		summary: "write the auditor's report of a baseline database, or the fleet report of a hub's (html, md or json)",
		run:     runReport,
	})
}

const reportHelp = `
Report reads a baseline database (read-only: a running monitor may keep
learning into it) and writes the report an auditor reviews and signs: the
learning window and capture sources, the asset inventory, the communication
matrix and map, the baseline of every device (function codes, registers read
and written as ranges and heat maps, write envelopes, poll periods, OPC UA
services, nodes and security), alerts by rule and by device, accepted
deviations with their reasons, the audit trail and the baseline's SHA-256.

The HTML report is one self-contained file (inline CSS and SVG, no script)
that prints on A4. Every string that came from the network is escaped: device
identities are attacker-controlled. The same database always gives the same
report except for its generation time.

A fleet database (sluice hub) gives the fleet report instead: every site,
its sensors and when each was last heard from, its devices, its alerts by
rule and its newest alerts; --site SITE gives that site's baseline report.

Examples:
  sluice report --db /var/lib/sluice/baseline.db -o baseline.html
  sluice report --db baseline.db --format md -o baseline.md --source eth1 --source day1.pcapng
  sluice report --db baseline.db --format json | jq .summary
  sluice report --db fleet.db -o fleet.html
`

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runReport(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	dbPath := fs.String("db", "", "baseline database `FILE` (required)")
	format := fs.String("format", "", "output `FORMAT`: html, md or json (default: from the -o extension, else html)")
	out := fs.String("o", "-", "write the report to `FILE` (- is standard output)")
	title := fs.String("title", "", "report `TITLE` (default \"Sluice baseline report\")")
	all := fs.Bool("all", false, fmt.Sprintf("list every device, channel and alert (by default each list shows at most %d, and the matrix %d clients and servers, and says how many more there are)", report.DefaultMaxRows, report.DefaultMaxMatrix))
	site := fs.String("site", "", "with a fleet database (sluice hub): write the baseline report of this `SITE` instead of the fleet report")
	rulesPath := fs.String("rules", "", "the rules `FILE` of the monitor (docs/rules.md): its register map names the registers and nodes of the alert log and is listed")
	var sources multiFlag
	fs.Var(&sources, "source", "a capture `SOURCE` the baseline was learned from (interface or file; repeatable) beyond the runs the database records itself")
	fs.Usage = flagUsage(fs, "sluice report --db FILE [--format html|md|json] [-o FILE]", reportHelp)
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return exitCode(err)
	}
	if len(rest) > 0 {
		fmt.Fprintf(os.Stderr, "sluice report: unexpected argument %q (sluice report --help)\n", rest[0])
		return 2
	}
	if *dbPath == "" {
		fmt.Fprintln(os.Stderr, "sluice report: --db is required (sluice report --help)")
		return 2
	}
	f, err := reportFormat(*format, *out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluice report: --format: %v\n", err)
		return 2
	}
	opt := report.Options{Title: *title, Generated: time.Now(), Database: *dbPath, Sources: sources}
	if *all {
		opt.MaxRows, opt.MaxMatrix = -1, -1
	}
	if *rulesPath != "" {
		if opt.Policy, err = rules.Load(*rulesPath); err != nil {
			fmt.Fprintf(os.Stderr, "sluice report: --rules: %v\n", err)
			return 2
		}
	}
	if err := writeReport(*dbPath, *site, *out, f, opt); err != nil {
		fmt.Fprintf(os.Stderr, "sluice report: %v\n", err)
		return 1
	}
	return 0
}

// reportFormat picks the format: the flag, else the output's extension,
// else HTML.
func reportFormat(flagValue, out string) (report.Format, error) {
	if flagValue != "" {
		return report.ParseFormat(flagValue)
	}
	switch strings.ToLower(filepath.Ext(out)) {
	case ".md", ".markdown":
		return report.Markdown, nil
	case ".json":
		return report.JSON, nil
	}
	return report.HTML, nil
}

// writeReport loads the database read-only, builds the report and writes
// it to out ("-" for standard output). A file is written under a temporary
// name and renamed, so a failed run never leaves half a report.
//
// A fleet database (sluice hub) gives the fleet report, or with site that
// site's baseline report.
func writeReport(dbPath, site, out string, f report.Format, opt report.Options) error {
	var snap *baselines.Snapshot
	var err error
	switch {
	case site != "":
		if snap, err = fleet.SiteSnapshot(dbPath, site); err != nil {
			return err
		}
		if opt.Title == "" {
			opt.Title = "Sluice baseline report: site " + site
		}
	case fleet.IsFleetDB(dbPath):
		fl, err := fleet.Load(dbPath)
		if err != nil {
			return err
		}
		return writeReportOut(report.BuildFleet(fl, opt), out, f)
	default:
		db, err := store.Open(dbPath, store.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		snap, err = db.Load()
		db.Close()
		if err != nil {
			return err
		}
	}
	r, err := report.Build(snap, opt)
	if err != nil {
		return err
	}
	return writeReportOut(r, out, f)
}

// writeReportOut writes a baseline or fleet report to out ("-": standard
// output).
func writeReportOut(r interface {
	Write(io.Writer, report.Format) error
	WriteFile(string, report.Format) error
}, out string, f report.Format) error {
	if out == "" || out == "-" {
		w := bufio.NewWriter(os.Stdout)
		if err := r.Write(w, f); err != nil {
			return err
		}
		return w.Flush()
	}
	return r.WriteFile(out, f)
}
