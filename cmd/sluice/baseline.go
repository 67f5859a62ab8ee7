package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/baselines/store"
	"github.com/sluice-ics/sluice/internal/fleet"
)

func init() {
	register(command{
		name:    "baseline",
		summary: "show, export, import, diff, accept deviations into and approve a baseline; check and recover a damaged one",
		run:     runBaseline,
	})
}

const baselineUsage = `Usage: sluice baseline SUBCOMMAND --db FILE [flags]

  show    [--device IP] [--json] [--site SITE]
                                         inventory and learned model
  export  -o FILE.json [--site SITE]     the whole store as JSON (- for stdout)
  import  FILE.json                      replace the baseline with an export
  diff    A B                            added, removed, changed items (A, B: .db or .json)
  accept  --alert ID|FILE --reason TEXT [--by NAME]
                                         fold a benign deviation into the baseline
  approve --by NAME                      record an approval with the baseline's SHA-256
  check                                  verify the store file: "ok" and its counts, or what is damaged
  recover -o NEW.db                      copy every readable record of a damaged store into a new store

show and export read a fleet database (sluice hub) too: --site names the
site whose baseline to read.

accept and approve record who, when and why in the store's audit trail.
check exits 1 if the store is damaged; recover exits 0 once NEW.db is
written, and lists what it rescued and what was lost.
`

func runBaseline(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, baselineUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	subs := map[string]func([]string, io.Writer) error{
		"show": baselineShow, "export": baselineExport, "import": baselineImport,
		"diff": baselineDiff, "accept": baselineAccept, "approve": baselineApprove,
		"check": baselineCheck, "recover": baselineRecover,
	}
	fn, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "sluice baseline: unknown subcommand %q\n\n%s", args[0], baselineUsage)
		return 2
	}
	if err := fn(args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(os.Stderr, "sluice baseline %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// baselineFlags makes the flag set of one subcommand, with --db.
func baselineFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("sluice baseline "+name, flag.ContinueOnError)
	db := fs.String("db", "", "baseline database `FILE` (required)")
	return fs, db
}

func openDB(path string, readOnly bool) (*store.DB, error) {
	if path == "" {
		return nil, errors.New("--db FILE is required")
	}
	return store.Open(path, store.Options{ReadOnly: readOnly})
}

// loadSnapshot reads a store (.db or anything else) or an export (.json).
func loadSnapshot(path string) (*baselines.Snapshot, error) {
	if strings.HasSuffix(path, ".json") || path == "-" {
		var b []byte
		var err error
		if path == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(path)
		}
		if err != nil {
			return nil, err
		}
		var s baselines.Snapshot
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if s.Schema > baselines.ExportVersion {
			return nil, fmt.Errorf("%s: %w: schema %d, this sluice reads up to %d", path,
				baselines.ErrNewerSchema, s.Schema, baselines.ExportVersion)
		}
		return &s, nil
	}
	db, err := openDB(path, true)
	if err != nil {
		if fleet.IsFleetDB(path) {
			sites, _ := fleet.Sites(path)
			return nil, fmt.Errorf("%s is a fleet database (sluice hub): name a site with --site (sites: %s)", path, strings.Join(sites, ", "))
		}
		return nil, err
	}
	defer db.Close()
	return db.Load()
}

// loadSiteSnapshot is loadSnapshot, or with site the baseline of that
// site of a fleet database.
func loadSiteSnapshot(path, site string) (*baselines.Snapshot, error) {
	if site == "" {
		return loadSnapshot(path)
	}
	return fleet.SiteSnapshot(path, site)
}

func baselineShow(args []string, w io.Writer) error {
	fs, dbPath := baselineFlags("show")
	device := fs.String("device", "", "show only the device with this `IP`")
	asJSON := fs.Bool("json", false, "write JSON instead of text")
	site := fs.String("site", "", "with a fleet database (sluice hub): the `SITE` whose baseline to show")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbPath == "" {
		return errors.New("--db FILE is required")
	}
	s, err := loadSiteSnapshot(*dbPath, *site)
	if err != nil {
		return err
	}
	devs := s.Devices
	if *device != "" {
		d := s.Device(*device)
		if d == nil {
			return fmt.Errorf("no device %s in %s", *device, *dbPath)
		}
		devs = []*baselines.Device{d}
	}
	if *asJSON {
		type view struct {
			*baselines.Device
			NewItemsPerHour float64              `json:"new_items_per_hour"`
			Channels        []*baselines.Channel `json:"channels"`
		}
		var out []view
		for _, d := range devs {
			out = append(out, view{d, d.NewItemsPerHour(time.Hour), channelsOf(s, d)})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	sha, err := s.SHA256()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "baseline %s: %d devices, %d channels, %d accepted deviations, %d alerted deviations\nsha256 %s\n",
		*dbPath, len(s.Devices), len(s.Channels), len(s.Accepted), len(s.Alerts), sha)
	if modes := s.RunModes(); len(modes) > 0 {
		fmt.Fprintf(w, "built in mode %s\n", strings.Join(modes, ", then "))
	}
	for i := len(s.Audit) - 1; i >= 0; i-- {
		if a := s.Audit[i]; a.Action == "approve" {
			state := "unchanged since"
			if a.SHA256 != sha {
				state = "CHANGED since"
			}
			fmt.Fprintf(w, "approved by %s at %s; baseline %s approval\n", strconv.Quote(a.By), a.At.UTC().Format(time.RFC3339), state)
			break
		}
	}
	for _, d := range devs {
		showDevice(w, s, d)
	}
	return nil
}

// channelsOf returns the channels in which d is the server, then those in
// which it is the client.
func channelsOf(s *baselines.Snapshot, d *baselines.Device) []*baselines.Channel {
	var out []*baselines.Channel
	for _, c := range s.Channels {
		if c.Key.Server == d.IP {
			out = append(out, c)
		}
	}
	for _, c := range s.Channels {
		if c.Key.Client == d.IP {
			out = append(out, c)
		}
	}
	return out
}

// showDevice prints one device. Strings learned from the network are
// quoted with %q so control characters cannot reach the terminal.
func showDevice(w io.Writer, s *baselines.Snapshot, d *baselines.Device) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\ndevice %s\n", d.IP)
	if !d.MAC.IsZero() {
		fmt.Fprintf(tw, "  mac\t%s\t%q\n", d.MAC, d.Vendor)
	}
	fmt.Fprintf(tw, "  roles\t%s\n", d.Roles)
	if len(d.Units) > 0 {
		fmt.Fprintf(tw, "  units\t%v\n", d.Units)
	}
	fmt.Fprintf(tw, "  seen\t%s .. %s\t%d transactions\n", d.FirstSeen.UTC().Format(time.RFC3339), d.LastSeen.UTC().Format(time.RFC3339), d.Transactions)
	if s.LearnOnly() {
		fmt.Fprintf(tw, "  learning\tlearned in learn mode, not judged yet\t%.1f new items/hour, %d items in all\n",
			d.NewItemsPerHour(time.Hour), d.NewItems)
	} else {
		fmt.Fprintf(tw, "  learning\tuntil %s (in auto mode)\t%.1f new items/hour, %d items in all\n",
			d.LearnUntil.UTC().Format(time.RFC3339), d.NewItemsPerHour(time.Hour), d.NewItems)
	}
	if id := d.Ident; id != nil {
		fmt.Fprintf(tw, "  identity\tvendor %q product %q revision %q model %q\n", id.VendorName, id.ProductCode, id.Revision, id.ModelName)
	}
	if sv := d.Server; sv != nil {
		fmt.Fprintf(tw, "  opcua server\t%q %q %q build %q\n", sv.AppURI, sv.ProductURI, sv.SoftwareVersion, sv.BuildNumber)
		if sv.CertThumbprint != "" {
			fmt.Fprintf(tw, "  opcua certificate\t%s %q not after %s\n", sv.CertThumbprint, sv.CertSubject, sv.CertNotAfter)
		}
	}
	if len(d.Hostnames) > 0 {
		fmt.Fprintf(tw, "  hostnames\t%q\n", d.Hostnames)
	}
	if st := d.DNP3; st != nil {
		fmt.Fprintf(tw, "  dnp3 addresses\t%v\n", st.Addresses)
		for _, k := range slices.Sorted(maps.Keys(st.Attributes)) {
			fmt.Fprintf(tw, "  dnp3 %s\t%q\n", strings.ReplaceAll(k, "_", " "), st.Attributes[k])
		}
	}
	tw.Flush()
	for _, c := range channelsOf(s, d) {
		fmt.Fprintf(w, "  channel %s: %d transactions, %.1f writes/hour, peak %d requests/window\n",
			c.Key, c.Transactions, c.WriteRate(), c.PeakWindow)
		for _, it := range c.Items() {
			fmt.Fprintf(w, "    %s\n", terminalText(it))
		}
	}
}

func baselineExport(args []string, w io.Writer) error {
	fs, dbPath := baselineFlags("export")
	out := fs.String("o", "-", "write the JSON to `FILE` (- is standard output)")
	site := fs.String("site", "", "with a fleet database (sluice hub): the `SITE` whose baseline to export")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbPath == "" {
		return errors.New("--db FILE is required")
	}
	s, err := loadSiteSnapshot(*dbPath, *site)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if *out == "-" {
		_, err = w.Write(b)
		return err
	}
	return writeFileAtomic(*out, b, store.FileMode)
}

// writeFileAtomic writes b to a temporary file beside path and renames it.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func baselineImport(args []string, w io.Writer) error {
	fs, dbPath := baselineFlags("import")
	by := fs.String("by", "", "who imports (default $SUDO_USER or $USER)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("want one FILE.json")
	}
	s, err := loadSnapshot(fs.Arg(0))
	if err != nil {
		return err
	}
	db, err := openDB(*dbPath, false)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Replace(s); err != nil {
		return err
	}
	if err := audit(db, baselines.AuditEntry{Action: "import", By: who(*by), Reason: "import " + fs.Arg(0)}); err != nil {
		return err
	}
	fmt.Fprintf(w, "imported %d devices, %d channels into %s\n", len(s.Devices), len(s.Channels), *dbPath)
	return db.Close()
}

// audit appends one entry (numbered and timed here) to the store's trail.
func audit(db *store.DB, a baselines.AuditEntry) error {
	seq, err := db.NextAuditSeq()
	if err != nil {
		return err
	}
	a.Seq, a.At = seq, time.Now().UTC()
	e := baselines.New(baselines.Config{})
	e.AddAudit(a)
	_, err = db.Flush(e)
	return err
}

// who names the person acting: --by, else $SUDO_USER, else $USER.
func who(by string) string {
	for _, v := range []string{by, os.Getenv("SUDO_USER"), os.Getenv("USER")} {
		if v != "" {
			return v
		}
	}
	return "unknown"
}

func baselineDiff(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("sluice baseline diff", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "write JSON instead of text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("want two baselines: A B (each a .db store or a .json export)")
	}
	a, err := loadSnapshot(fs.Arg(0))
	if err != nil {
		return err
	}
	b, err := loadSnapshot(fs.Arg(1))
	if err != nil {
		return err
	}
	changes := baselines.Diff(a, b)
	if *asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(changes)
	}
	if len(changes) == 0 {
		fmt.Fprintln(w, "no differences")
		return nil
	}
	for _, c := range changes {
		fmt.Fprintf(w, "%s %s %s\n", c.Change, c.Kind, terminalText(c.Name))
		for _, x := range c.Added {
			fmt.Fprintf(w, "  + %s\n", terminalText(x))
		}
		for _, x := range c.Removed {
			fmt.Fprintf(w, "  - %s\n", terminalText(x))
		}
	}
	return nil
}

// terminalText returns s, which may be network text (node ids, identity
// strings), as a Go string literal without its quotes: no control
// character reaches the terminal.
func terminalText(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func baselineAccept(args []string, w io.Writer) error {
	fs, dbPath := baselineFlags("accept")
	alert := fs.String("alert", "", "the deviation `ID` (16 hex digits, the alert's id) or a `FILE` of alerts (EVE JSON lines or an export)")
	reason := fs.String("reason", "", "why the deviation is benign (required)")
	by := fs.String("by", "", "who accepts (default $SUDO_USER or $USER)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *alert == "" || *reason == "" {
		return errors.New("--alert and --reason are required")
	}
	db, err := openDB(*dbPath, false)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := db.Load()
	if err != nil {
		return err
	}
	devs, err := deviationsFor(*alert, s)
	if err != nil {
		return err
	}
	e := baselines.New(baselines.Config{})
	if err := e.Load(s); err != nil {
		return err
	}
	for _, d := range devs {
		seq, err := db.NextAuditSeq()
		if err != nil {
			return err
		}
		ent, err := e.Accept(d, who(*by), *reason, time.Now().UTC(), seq)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "accepted %s %s on %s by %s\n", ent.DeviationID, d.Rule, d.Channel, ent.By)
	}
	if _, err := db.Flush(e); err != nil {
		return err
	}
	return db.Close()
}

// deviationsFor resolves --alert: a deviation id found in the store's
// alert log, or a file of JSON objects, each an EVE alert carrying the
// deviation id as alert.id (what the agent writes), alert.deviation_id or
// alert.metadata.deviation_id, or an alert record as exported (id).
func deviationsFor(arg string, s *baselines.Snapshot) ([]baselines.Deviation, error) {
	byID := func(id string) (baselines.Deviation, error) {
		for _, r := range s.Alerts {
			if r.ID == id {
				return r.Deviation, nil
			}
		}
		return baselines.Deviation{}, fmt.Errorf("no alerted deviation %s in the store", id)
	}
	if _, err := os.Stat(arg); err != nil {
		d, err := byID(strings.ToLower(arg))
		if err != nil {
			return nil, err
		}
		return []baselines.Deviation{d}, nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return nil, err
	}
	var out []baselines.Deviation
	seen := map[string]bool{}
	dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(b)))
	for {
		var v struct {
			ID        string `json:"id"`
			EventType string `json:"event_type"`
			Alert     *struct {
				ID          string `json:"id"`
				DeviationID string `json:"deviation_id"`
				Metadata    struct {
					DeviationID json.RawMessage `json:"deviation_id"`
				} `json:"metadata"`
			} `json:"alert"`
			Alerts []struct {
				ID string `json:"id"`
			} `json:"alerts"`
		}
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", arg, err)
		}
		var ids []string
		switch {
		case v.Alert != nil:
			if v.Alert.ID != "" {
				ids = append(ids, v.Alert.ID)
			}
			if v.Alert.DeviationID != "" {
				ids = append(ids, v.Alert.DeviationID)
			}
			var one string
			var many []string
			if json.Unmarshal(v.Alert.Metadata.DeviationID, &one) == nil && one != "" {
				ids = append(ids, one)
			} else if json.Unmarshal(v.Alert.Metadata.DeviationID, &many) == nil {
				ids = append(ids, many...)
			}
		case v.ID != "":
			ids = append(ids, v.ID)
		}
		for _, a := range v.Alerts {
			ids = append(ids, a.ID)
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			d, err := byID(strings.ToLower(id))
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no alert with a deviation id", arg)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}

func baselineApprove(args []string, w io.Writer) error {
	fs, dbPath := baselineFlags("approve")
	by := fs.String("by", "", "the approver's `NAME` (required)")
	reason := fs.String("reason", "", "optional note")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *by == "" {
		return errors.New("--by NAME is required")
	}
	db, err := openDB(*dbPath, false)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := db.Load()
	if err != nil {
		return err
	}
	sha, err := s.SHA256()
	if err != nil {
		return err
	}
	if err := audit(db, baselines.AuditEntry{Action: "approve", By: *by, Reason: *reason, SHA256: sha}); err != nil {
		return err
	}
	fmt.Fprintf(w, "approved by %s: sha256 %s (%d devices, %d channels)\n", *by, sha, len(s.Devices), len(s.Channels))
	return db.Close()
}

// recordBuckets are the store's buckets in the order check and recover
// count them, with the names they print; "channels" stands for the
// buckets of every protocol's channels (store.IsChannelBucket).
var recordBuckets = []struct{ bucket, name string }{
	{baselines.BucketDevices, "devices"}, {"channels", "channels"},
	{baselines.BucketAlerts, "alerted deviations"}, {baselines.BucketAccepted, "accepted deviations"},
	{baselines.BucketAudit, "audit entries"},
}

// counts writes the records per bucket: the baseline's buckets first,
// then any foreign one by name (not the store's own meta bucket).
func counts(n map[string]int) string {
	var parts []string
	known := map[string]bool{"meta": true}
	byName := map[string]int{}
	for b, c := range n {
		if store.IsChannelBucket(b) {
			byName["channels"] += c
			known[b] = true
		} else {
			byName[b] = c
		}
	}
	for _, b := range recordBuckets {
		parts = append(parts, fmt.Sprintf("%s %d", b.name, byName[b.bucket]))
		known[b.bucket] = true
	}
	var other []string
	for b := range n {
		if !known[b] {
			other = append(other, b)
		}
	}
	sort.Strings(other)
	for _, b := range other {
		parts = append(parts, fmt.Sprintf("bucket %q %d", b, n[b]))
	}
	return strings.Join(parts, ", ")
}

func baselineCheck(args []string, w io.Writer) error {
	fs, dbPath := baselineFlags("check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbPath == "" {
		return errors.New("--db FILE is required")
	}
	r, err := store.Verify(*dbPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "ok %s: schema %d, transaction %d, %d of %d bytes in use (%d-byte pages)\n  %s\n",
		*dbPath, r.Schema, r.Txid, r.Pages*uint64(r.PageSize), r.Size, r.PageSize, counts(r.Records))
	return nil
}

func baselineRecover(args []string, w io.Writer) error {
	fs, dbPath := baselineFlags("recover")
	out := fs.String("o", "", "the new store `FILE` to write (required; must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dbPath == "" || *out == "" {
		return errors.New("--db FILE and -o NEW.db are required")
	}
	s, err := store.Recover(*dbPath, *out)
	if err != nil {
		return err
	}
	from := "no meta page was usable: records were looked for page by page"
	if s.MetaPage >= 0 {
		from = fmt.Sprintf("read from meta page %d, transaction %d", s.MetaPage, s.Txid)
	}
	fmt.Fprintf(w, "recovered %s into %s (%s)\nrescued: %s\n", *dbPath, *out, from, counts(s.Rescued))
	if s.Orphaned > 0 {
		fmt.Fprintf(w, "  %d of them from pages the tree no longer reaches: older versions or records an import removed may be among them; review with sluice baseline show --db %s\n",
			s.Orphaned, *out)
	}
	if len(s.Lost) == 0 {
		fmt.Fprintln(w, "lost: nothing")
		return nil
	}
	fmt.Fprintf(w, "lost (%d):\n", len(s.Lost))
	for _, l := range s.Lost {
		fmt.Fprintf(w, "  %s\n", l)
	}
	return nil
}
