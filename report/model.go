package report

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/jsonw"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// DefaultConvergenceWindow is the window of the convergence figure when
// Options leaves it zero; it matches the engine's default
// (baselines.Config.ConvergenceWindow).
const DefaultConvergenceWindow = time.Hour

// Options are what the report cannot read from the baseline itself.
type Options struct {
	// Title heads the report ("Sluice baseline report" when empty).
	Title string
	// Generated is the generation time: the only field in which two
	// reports of the same database differ. The caller reads the clock.
	Generated time.Time
	// Database names the baseline file the snapshot came from.
	Database string
	// Sources are captures or interfaces the baseline was learned from
	// beyond those the database records itself (runs with --db record
	// each file with its SHA-256, or the interface, in the audit trail);
	// sluice report --source adds them.
	Sources []string
	// ConvergenceWindow is the engine's convergence window
	// (DefaultConvergenceWindow when zero).
	ConvergenceWindow time.Duration
	// MaxRows bounds the devices, channels and alert rows listed, and
	// MaxMatrix the matrix's clients and servers (DefaultMaxRows and
	// DefaultMaxMatrix when zero; negative: everything). Report.Omitted
	// counts what was left out; the summary counts everything.
	MaxRows, MaxMatrix int
	// Policy is the engineer's rules file (sluice report --rules): its
	// register map names the registers and nodes of the alert log, and
	// is listed (Report.Variables). nil: none.
	Policy *baselines.Policy
}

// Time is a timestamp that marshals like every Sluice output: RFC 3339, UTC,
// microseconds, Z (so that report JSON sorts and diffs like EVE JSON). The
// zero time marshals as null.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return jsonw.Time(nil, t.Time), nil
}

// String formats the time for people: "2026-11-21 22:33:00Z", or "—" when
// unknown.
func (t Time) String() string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// Report is everything the report says, in the order it says it. Its JSON
// is the `--format json` output.
type Report struct {
	Title     string `json:"title"`
	Generated Time   `json:"generated"`
	Database  string `json:"database,omitempty"`
	Schema    int    `json:"schema"`
	// SHA256 is the hex SHA-256 of the canonical baseline JSON
	// (baselines.Baseline.Canonical), the value `baseline approve` signs.
	SHA256    string     `json:"sha256"`
	Approvals []Approval `json:"approvals"`
	Window    Window     `json:"window"`
	Sources   []string   `json:"sources"`
	Summary   Summary    `json:"summary"`
	// Devices is the asset inventory, sorted by IP.
	Devices []Device `json:"devices"`
	// Matrix is the communication matrix: who talks to whom, how much.
	Matrix Matrix `json:"matrix"`
	// Baselines is the learned model per server device.
	Baselines      []DeviceBaseline `json:"baselines"`
	AlertsByRule   []RuleCount      `json:"alerts_by_rule"`
	AlertsByDevice []DeviceAlerts   `json:"alerts_by_device"`
	// Incidents group the alert log as the agent groups its alerts:
	// deviations between the same client and server within
	// IncidentWindow of each other, first first (baselines.GroupIncidents).
	Incidents []IncidentRow `json:"incidents"`
	// Alerts is the alert log (one row per deviation), most severe first;
	// each row names its incident.
	Alerts   []AlertRow    `json:"alerts"`
	Accepted []AcceptedRow `json:"accepted"`
	Audit    []AuditRow    `json:"audit"`
	// Variables is the register map of Options.Policy; absent without.
	Variables []VariableRow `json:"variables,omitempty"`
	// Omitted counts what the lists above leave out (Options.MaxRows);
	// absent when nothing was.
	Omitted *Omitted `json:"omitted,omitempty"`

	policy *baselines.Policy
}

// Window is the learning window: from the first device seen to the end of
// the last server's learning (the engine judges a transaction by its
// server's window), and the last traffic time in the baseline.
type Window struct {
	Start    Time `json:"start"`
	LearnEnd Time `json:"learn_end"`
	// LastSeen is the last traffic: the latest of the devices' last
	// transactions, the recorded runs' last packets and the alert log's
	// last occurrences.
	LastSeen Time `json:"last_seen"`
	// Modes are the engine modes of the recorded runs (learn, auto,
	// monitor), each once, in the order first used; BuiltIn says in a
	// sentence what that means for the devices.
	Modes   []string `json:"modes"`
	BuiltIn string   `json:"built_in"`
	// LearnOnly: every recorded run learned (--mode learn); no device
	// has been judged, none is "learning until" a date.
	LearnOnly bool `json:"learn_only"`
}

// Summary counts the report's contents.
type Summary struct {
	Devices          int    `json:"devices"`
	Channels         int    `json:"channels"`
	Deviations       int    `json:"deviations"`
	Alerts           uint64 `json:"alerts"`
	Occurrences      uint64 `json:"occurrences"`
	Accepted         int    `json:"accepted"`
	StillLearning    int    `json:"devices_learning"`
	BaselineItems    int    `json:"baseline_items"`
	ApprovedCurrent  bool   `json:"approved_current"`
	HighSeverityOpen int    `json:"high_severity_deviations"`
}

// Approval is one `sluice baseline approve` entry of the audit trail.
type Approval struct {
	By     string `json:"by"`
	At     Time   `json:"at"`
	SHA256 string `json:"sha256"`
	// Current is true when the approved hash is the baseline's hash now:
	// nothing was learned or accepted since the approval.
	Current bool `json:"current"`
}

// Device is one asset of the inventory.
type Device struct {
	IP           string   `json:"ip"`
	MAC          string   `json:"mac,omitempty"`
	Vendor       string   `json:"vendor,omitempty"`
	Roles        []string `json:"roles"`
	Protocols    []string `json:"protocols"`
	Units        []uint16 `json:"units,omitempty"`
	FirstSeen    Time     `json:"first_seen"`
	LastSeen     Time     `json:"last_seen"`
	Transactions uint64   `json:"transactions"`
	// Identity is what the device reports about itself: Modbus FC 43/14
	// and FC 17, OPC UA server description, build info and certificate,
	// DNP3 device attributes. Attacker-controlled text.
	Identity []Field `json:"identity,omitempty"`
	// IdentityChanges are the changes of that identity the alert log
	// holds (device_identity_changed, certificate_changed), first first.
	IdentityChanges []IdentityChange `json:"identity_changes,omitempty"`
	// LearnUntil is the end of the device's learning window; Learning is
	// true when the last traffic in the baseline is before it. Client is
	// true for a device that serves nothing: its transactions are learned
	// or judged by its servers' windows, so it has no state of its own.
	LearnUntil Time `json:"learn_until"`
	Learning   bool `json:"learning"`
	// LearnOnly: the baseline was only ever learned (Window.LearnOnly).
	LearnOnly bool `json:"learn_only,omitempty"`
	Client    bool `json:"client_only,omitempty"`
	// Convergence is new baseline items per hour over the convergence
	// window: 0 means learning has stopped finding anything new.
	Convergence float64 `json:"convergence_items_per_hour"`
	NewItems    uint64  `json:"new_items"`
}

// IdentityChange is one change of a device's reported identity: when it
// was first and last reported, what changed (firmware, identity or
// certificate) and how ("revision "2.4.1" → "2.5.0""), how often. The
// same change reported to several clients is one row.
type IdentityChange struct {
	First       Time   `json:"first"`
	Last        Time   `json:"last"`
	Rule        string `json:"rule"`
	What        string `json:"what"`
	Change      string `json:"change"`
	Occurrences uint64 `json:"occurrences"`
}

// Field is one labelled text value.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Matrix is the communication matrix: Cells[i][j] is what Clients[i] sent
// to Servers[j].
type Matrix struct {
	Clients []string       `json:"clients"`
	Servers []string       `json:"servers"`
	Cells   [][]MatrixCell `json:"cells"`
}

// MatrixCell is the traffic of one client to one server.
type MatrixCell struct {
	Transactions uint64   `json:"transactions"`
	Protocols    []string `json:"protocols,omitempty"`
	// Alerted is true when a deviation names this pair (e.g. new_master).
	Alerted bool `json:"alerted,omitempty"`
}

// DeviceBaseline is the learned model of one server device: every channel
// that talks to it, and the heat maps of its register tables.
type DeviceBaseline struct {
	Server   string            `json:"server"`
	Channels []ChannelBaseline `json:"channels"`
	HeatMaps []HeatMap         `json:"heat_maps,omitempty"`
}

// ChannelBaseline is the learned model of one channel (issue 5 §2).
type ChannelBaseline struct {
	Name         string  `json:"name"` // baselines.ChannelKey.String()
	Protocol     string  `json:"protocol"`
	Client       string  `json:"client"`
	Server       string  `json:"server"`
	Unit         uint8   `json:"unit,omitempty"`
	Port         uint16  `json:"port,omitempty"`
	FirstSeen    Time    `json:"first_seen"`
	LastSeen     Time    `json:"last_seen"`
	Transactions uint64  `json:"transactions"`
	Writes       uint64  `json:"writes"`
	WritesPerHr  float64 `json:"writes_per_hour"`
	PeakWindow   uint32  `json:"peak_window_requests"`
	Items        int     `json:"items"` // len(Channel.Items())

	Functions   []Count       `json:"functions,omitempty"`
	Diagnostics []Count       `json:"diagnostics,omitempty"`
	Read        []TableRanges `json:"read,omitempty"`
	Written     []TableRanges `json:"written,omitempty"`
	Values      []EnvelopeRow `json:"values,omitempty"`
	// Process are the process variables read (at most maxProcessRows, the
	// busiest first; ProcessOmitted counts the others, ProcessDropped the
	// values of the variables beyond the baseline's own cap).
	Process        []ProcessRow  `json:"process,omitempty"`
	ProcessOmitted int           `json:"process_omitted,omitempty"`
	ProcessDropped uint64        `json:"process_dropped,omitempty"`
	Polls          []PollRow     `json:"polls,omitempty"`
	Services       []Count       `json:"services,omitempty"`
	Security       []SecurityRow `json:"security,omitempty"`
	NodesRead      []Count       `json:"nodes_read,omitempty"`
	NodesWrite     []EnvelopeRow `json:"nodes_written,omitempty"`
	NodesCalled    []Count       `json:"nodes_called,omitempty"`
	ClientApps     []Count       `json:"client_application_uris,omitempty"`
	Users          []Count       `json:"users,omitempty"`
}

// Count is a named counter: a function code, a service, a node.
type Count struct {
	Code  int    `json:"code,omitempty"`
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// TableRanges is a set of addresses of one Modbus table as compact ranges
// ("0-9, 20, 40-49").
type TableRanges struct {
	Table     string `json:"table"`
	Ranges    string `json:"ranges"`
	Addresses int    `json:"addresses"`
}

// EnvelopeRow is the learned envelope of the values written to one
// register or node.
type EnvelopeRow struct {
	Item     string    `json:"item"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
	Writes   uint64    `json:"writes"`
	Distinct []float64 `json:"distinct,omitempty"`
	Many     bool      `json:"many,omitempty"`
}

// ProcessRow is what one process variable learned (issue #14 §1): its
// range, largest step per second, changes among reads, longest still
// stretch, and for a bit its states.
type ProcessRow struct {
	Variable string  `json:"variable"`
	Min      float64 `json:"min"`
	Max      float64 `json:"max"`
	MaxRate  float64 `json:"max_rate"`
	Reads    uint64  `json:"reads"`
	Changes  uint64  `json:"changes"`
	MaxStill float64 `json:"max_still_s"`
	States   string  `json:"states,omitempty"` // a bit's: "0", "1", "0,1"
}

// maxProcessRows bounds the process variables listed per channel.
const maxProcessRows = 64

// PollRow is the learned rhythm of one repeating request.
type PollRow struct {
	Request  string  `json:"request"`
	PeriodMS float64 `json:"period_ms"`
	JitterMS float64 `json:"jitter_ms"`
	Samples  uint64  `json:"samples"`
	// Regular is true when the request is judged as a poll (enough
	// samples, jitter at most half the period): poll_stopped watches it.
	Regular bool `json:"regular"`
}

// SecurityRow is one OPC UA security property seen on a channel.
type SecurityRow struct {
	Property string `json:"property"` // "policy", "mode", "token"
	Value    string `json:"value"`
	Count    uint64 `json:"count"`
}

// HeatMap shows which addresses of one table of one unit are read and
// written, in at most HeatCells buckets from First to Last.
type HeatMap struct {
	Unit   uint8  `json:"unit"`
	Table  string `json:"table"`
	First  uint16 `json:"first"`
	Last   uint16 `json:"last"`
	Bucket int    `json:"bucket_size"`
	// Read and Written hold, per bucket, how many (channel, address)
	// pairs of the bucket are read or written; Max is the largest value of
	// either, for shading.
	Read    []int `json:"read"`
	Written []int `json:"written"`
	Max     int   `json:"max"`
}

// HeatCells is the most buckets a heat map has.
const HeatCells = 64

// RuleCount summarises the alert log of one rule.
type RuleCount struct {
	Rule        string   `json:"rule"`
	SignatureID uint32   `json:"signature_id"`
	Severity    uint8    `json:"severity"`
	Category    string   `json:"category"`
	Techniques  []string `json:"mitre_technique_id"`
	Deviations  int      `json:"deviations"`
	Alerts      uint64   `json:"alerts"`
	Occurrences uint64   `json:"occurrences"`
}

// DeviceAlerts summarises the alert log of one judged device.
type DeviceAlerts struct {
	Device      string  `json:"device"`
	Deviations  int     `json:"deviations"`
	Occurrences uint64  `json:"occurrences"`
	Rules       []Count `json:"rules"`
}

// IncidentWindow is how far apart the first occurrences of two deviations
// between the same hosts may be for the report to put them in one
// incident: the agent's default (agent.DefaultIncidentWindow).
const IncidentWindow = 30 * time.Minute

// IncidentRow is one incident of the alert log.
type IncidentRow struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Actor    string `json:"actor"`
	Target   string `json:"target"`
	First    Time   `json:"first"`
	Last     Time   `json:"last"`
	Severity uint8  `json:"severity"`
	// Deviations counts its rows in the alert log, Occurrences what they
	// count.
	Deviations  int      `json:"deviations"`
	Occurrences uint64   `json:"occurrences"`
	Rules       []string `json:"rules"`
	Tactics     []string `json:"tactics"`
	Techniques  []string `json:"techniques"`
}

// AlertRow is one deviation of the alert log.
type AlertRow struct {
	ID          string `json:"id"`
	Incident    string `json:"incident"`
	Rule        string `json:"rule"`
	Severity    uint8  `json:"severity"`
	Channel     string `json:"channel"`
	Item        string `json:"item,omitempty"`
	Signature   string `json:"signature"`
	First       Time   `json:"first"`
	Last        Time   `json:"last"`
	Occurrences uint64 `json:"occurrences"`
	Alerts      uint64 `json:"alerts"`
}

// AcceptedRow is one deviation folded into the baseline, with who, when and
// why.
type AcceptedRow struct {
	ID      string `json:"id"`
	Rule    string `json:"rule"`
	Channel string `json:"channel"`
	Item    string `json:"item,omitempty"`
	By      string `json:"by"`
	At      Time   `json:"at"`
	Reason  string `json:"reason"`
}

// VariableRow is one variable of the register map: its name, where it
// lives (Modbus server, unit, table, address, type, scale; OPC UA node)
// and its engineering unit. Names and units come from the rules file.
type VariableRow struct {
	Name   string `json:"name"`
	Modbus string `json:"modbus,omitempty"`
	Node   string `json:"opcua_node,omitempty"`
	Unit   string `json:"unit,omitempty"`
}

// AuditRow is one entry of the audit trail.
type AuditRow struct {
	Seq       uint64 `json:"seq"`
	Action    string `json:"action"`
	By        string `json:"by"`
	At        Time   `json:"at"`
	Reason    string `json:"reason,omitempty"`
	Deviation string `json:"deviation_id,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
}

// ErrNoSnapshot is returned by Build for a nil snapshot.
var ErrNoSnapshot = errors.New("report: no baseline snapshot")

// Build computes the report of a snapshot. It does not modify s.
func Build(s *baselines.Snapshot, opt Options) (*Report, error) {
	if s == nil {
		return nil, ErrNoSnapshot
	}
	if s.Schema > baselines.ExportVersion {
		return nil, fmt.Errorf("report: %w: schema %d, this sluice reads up to %d",
			baselines.ErrNewerSchema, s.Schema, baselines.ExportVersion)
	}
	if opt.ConvergenceWindow <= 0 {
		opt.ConvergenceWindow = DefaultConvergenceWindow
	}
	if opt.Title == "" {
		opt.Title = "Sluice baseline report"
	}
	sum, err := s.SHA256()
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	r := &Report{
		Title:     opt.Title,
		Generated: Time{opt.Generated.UTC()},
		Database:  opt.Database,
		Schema:    s.Schema,
		SHA256:    sum,
		Sources:   slices.Sorted(slices.Values(opt.Sources)),
	}
	// The runs recorded in the database (sluice replay/monitor with --db),
	// in the order they were fed, after the sources named on the command
	// line.
	for _, a := range s.Audit {
		if a.Action == "capture" && a.Capture != nil {
			r.Sources = append(r.Sources, a.Capture.String())
		}
	}
	if r.Sources == nil {
		r.Sources = []string{}
	}
	r.window(s)
	r.devices(s, opt.ConvergenceWindow)
	r.matrix(s)
	r.baselines(s)
	r.policy = opt.Policy
	r.alerts(s)
	r.variables()
	r.accepted(s)
	r.audit(s)
	r.Summary.Devices = len(r.Devices)
	r.Summary.Channels = len(s.Channels)
	r.Summary.Accepted = len(r.Accepted)
	for _, a := range r.Approvals {
		if a.Current {
			r.Summary.ApprovedCurrent = true
		}
	}
	var om Omitted
	r.Omitted = &om
	r.bound(or(opt.MaxRows, DefaultMaxRows), or(opt.MaxMatrix, DefaultMaxMatrix))
	if !om.Any() {
		r.Omitted = nil
	}
	return r, nil
}

func (r *Report) window(s *baselines.Snapshot) {
	anyServer := false
	for _, d := range s.Devices {
		anyServer = anyServer || isServer(d)
	}
	for _, d := range s.Devices {
		if r.Window.Start.IsZero() || (!d.FirstSeen.IsZero() && d.FirstSeen.Before(r.Window.Start.Time)) {
			r.Window.Start = Time{d.FirstSeen.UTC()}
		}
		if (isServer(d) || !anyServer) && d.LearnUntil.After(r.Window.LearnEnd.Time) {
			r.Window.LearnEnd = Time{d.LearnUntil.UTC()}
		}
		if d.LastSeen.After(r.Window.LastSeen.Time) {
			r.Window.LastSeen = Time{d.LastSeen.UTC()}
		}
	}
	r.Window.Modes = s.RunModes()
	for _, a := range s.Audit {
		if c := a.Capture; a.Action == "capture" && c != nil && c.LastPacket.After(r.Window.LastSeen.Time) {
			r.Window.LastSeen = Time{c.LastPacket.UTC()}
		}
	}
	for _, a := range s.Alerts {
		if a.Last.After(r.Window.LastSeen.Time) {
			r.Window.LastSeen = Time{a.Last.UTC()}
		}
	}
	r.Window.LearnOnly = s.LearnOnly()
	switch {
	case len(r.Window.Modes) == 0:
		r.Window.BuiltIn = "no run recorded its mode; learning windows are those of auto mode"
	case r.Window.LearnOnly:
		r.Window.BuiltIn = "learn mode: every run learned and nothing was judged; run with --mode monitor (or auto) to judge traffic against this baseline"
	case slices.Contains(r.Window.Modes, "auto"):
		r.Window.BuiltIn = "auto mode: each server learns for its window, then is judged"
	default:
		r.Window.BuiltIn = "modes " + strings.Join(r.Window.Modes, ", ") + ": learned in learn mode, judged in monitor mode"
	}
}

// isServer reports whether d serves Modbus or OPC UA: the engine decides
// learning or judging by the server's window, so only servers learn.
func isServer(d *baselines.Device) bool {
	return d.Roles&(baselines.RoleModbusSlave|baselines.RoleOPCUAServer|baselines.RoleNetServer) != 0
}

func (r *Report) devices(s *baselines.Snapshot, window time.Duration) {
	r.Devices = make([]Device, 0, len(s.Devices))
	changes := identityChanges(s)
	for _, d := range s.Devices {
		dev := Device{
			IP:           d.IP.String(),
			Vendor:       d.Vendor,
			Roles:        nonNil(d.Roles.Strings()),
			Protocols:    nonNil(d.Roles.Protocols()),
			Units:        d.Units,
			FirstSeen:    Time{d.FirstSeen.UTC()},
			LastSeen:     Time{d.LastSeen.UTC()},
			Transactions: d.Transactions,
			LearnUntil:   Time{d.LearnUntil.UTC()},
			Client:       !isServer(d),
			Learning:     isServer(d) && !r.Window.LearnOnly && d.LearnUntil.After(r.Window.LastSeen.Time),
			LearnOnly:    r.Window.LearnOnly,
			Convergence:  d.NewItemsPerHour(window),
			NewItems:     d.NewItems,
		}
		if !d.MAC.IsZero() {
			dev.MAC = d.MAC.String()
		}
		if id := d.Ident; id != nil {
			dev.Identity = appendFields(dev.Identity,
				"Vendor name", id.VendorName, "Product code", id.ProductCode, "Revision", id.Revision,
				"Vendor URL", id.VendorURL, "Product name", id.ProductName, "Model name", id.ModelName,
				"User application", id.UserAppName, "Server id (FC 17)", id.ServerID)
		}
		if si := d.Server; si != nil {
			dev.Identity = appendFields(dev.Identity,
				"Application URI", si.AppURI, "Product URI", si.ProductURI, "Manufacturer", si.ManufacturerName,
				"Product", si.ProductName, "Software version", si.SoftwareVersion, "Build", si.BuildNumber,
				"Certificate (SHA-1)", si.CertThumbprint, "Certificate subject", si.CertSubject,
				"Certificate not after", si.CertNotAfter)
		}
		if st := d.DNP3; st != nil {
			dev.Identity = appendFields(dev.Identity, "DNP3 addresses", strings.Trim(fmt.Sprint(st.Addresses), "[]"))
			for _, k := range slices.Sorted(maps.Keys(st.Attributes)) {
				dev.Identity = appendFields(dev.Identity, "DNP3 "+strings.ReplaceAll(k, "_", " "), st.Attributes[k])
			}
		}
		if len(d.Hostnames) > 0 {
			// Names clients gave it (TLS SNI, HTTP Host): what it is
			// called on the network, as attacker-controlled as the rest.
			dev.Identity = appendFields(dev.Identity, "Hostnames", strings.Join(d.Hostnames, ", "))
		}
		dev.IdentityChanges = changes[d.IP]
		if dev.Learning {
			r.Summary.StillLearning++
		}
		r.Devices = append(r.Devices, dev)
	}
}

// IdentityChanged reports whether a device's identity changed: the report
// then lists the changes after the inventory.
func (r *Report) IdentityChanged() bool {
	return slices.ContainsFunc(r.Devices, func(d Device) bool { return len(d.IdentityChanges) > 0 })
}

// identityChanges collects the identity changes of the alert log by
// device: each device_identity_changed or certificate_changed deviation
// names one change of its server (its item says what changed), and the
// same change reported to several clients is merged.
func identityChanges(s *baselines.Snapshot) map[netip.Addr][]IdentityChange {
	out := map[netip.Addr][]IdentityChange{}
	for _, a := range s.Alerts {
		if a.Rule != baselines.DeviceIdentityChanged && a.Rule != baselines.CertificateChanged {
			continue
		}
		srv, change := a.Channel.Server, a.Text
		if change == "" {
			change = a.Item.Node
		}
		cs := out[srv]
		i := slices.IndexFunc(cs, func(c IdentityChange) bool { return c.Rule == a.Rule.String() && c.Change == change })
		if i < 0 {
			cs = append(cs, IdentityChange{First: Time{a.First.UTC()}, Last: Time{a.Last.UTC()}, Rule: a.Rule.String(),
				What: a.Item.What, Change: change})
			i = len(cs) - 1
		}
		c := &cs[i]
		if a.First.Before(c.First.Time) {
			c.First = Time{a.First.UTC()}
		}
		if a.Last.After(c.Last.Time) {
			c.Last = Time{a.Last.UTC()}
		}
		c.Occurrences += a.Count
		out[srv] = cs
	}
	for _, cs := range out {
		slices.SortFunc(cs, func(a, b IdentityChange) int {
			return cmp.Or(a.First.Compare(b.First.Time), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Change, b.Change))
		})
	}
	return out
}

// appendFields appends the non-empty (name, value) pairs of kv.
func appendFields(out []Field, kv ...string) []Field {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			out = append(out, Field{Name: kv[i], Value: kv[i+1]})
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// pair is a (client, server) of the matrix.
type pair struct{ client, server netip.Addr }

func (r *Report) matrix(s *baselines.Snapshot) {
	clients := map[netip.Addr]bool{}
	servers := map[netip.Addr]bool{}
	cells := map[pair]*MatrixCell{}
	for _, c := range s.Channels {
		clients[c.Key.Client] = true
		servers[c.Key.Server] = true
		p := pair{c.Key.Client, c.Key.Server}
		cell := cells[p]
		if cell == nil {
			cell = &MatrixCell{}
			cells[p] = cell
		}
		cell.Transactions += c.Transactions
		if proto := c.Key.Protocol.String(); !slices.Contains(cell.Protocols, proto) {
			cell.Protocols = append(cell.Protocols, proto)
			slices.Sort(cell.Protocols)
		}
	}
	// A deviation between two known parties marks their cell; one naming
	// a pair without a channel (a rogue master whose writes were never
	// learned) adds the pair, so the matrix shows it.
	for _, a := range s.Alerts {
		k := a.Channel
		if !k.Client.IsValid() || !k.Server.IsValid() {
			continue
		}
		p := pair{k.Client, k.Server}
		cell := cells[p]
		if cell == nil {
			cell = &MatrixCell{}
			cells[p] = cell
			clients[k.Client], servers[k.Server] = true, true
		}
		cell.Alerted = true
	}
	r.Matrix.Clients = addrStrings(clients)
	r.Matrix.Servers = addrStrings(servers)
	cl := slices.SortedFunc(maps.Keys(clients), netip.Addr.Compare)
	sv := slices.SortedFunc(maps.Keys(servers), netip.Addr.Compare)
	r.Matrix.Cells = make([][]MatrixCell, len(cl))
	for i, c := range cl {
		r.Matrix.Cells[i] = make([]MatrixCell, len(sv))
		for j, sa := range sv {
			if cell := cells[pair{c, sa}]; cell != nil {
				r.Matrix.Cells[i][j] = *cell
			}
		}
	}
}

func addrStrings(m map[netip.Addr]bool) []string {
	out := make([]string, 0, len(m))
	for _, a := range slices.SortedFunc(maps.Keys(m), netip.Addr.Compare) {
		out = append(out, a.String())
	}
	return out
}

func (r *Report) baselines(s *baselines.Snapshot) {
	byServer := map[netip.Addr]*DeviceBaseline{}
	var order []netip.Addr
	// heat: per server, unit and table, the read and written sets of
	// every channel.
	type heatKey struct {
		unit  uint8
		table modbus.Table
	}
	type heatSets struct{ read, written []baselines.RangeSet }
	heat := map[netip.Addr]map[heatKey]*heatSets{}
	for _, c := range s.Channels { // canonical order: protocol, server, unit, port, client
		db := byServer[c.Key.Server]
		if db == nil {
			db = &DeviceBaseline{Server: c.Key.Server.String()}
			byServer[c.Key.Server] = db
			order = append(order, c.Key.Server)
			heat[c.Key.Server] = map[heatKey]*heatSets{}
		}
		cb := channelBaseline(c)
		r.Summary.BaselineItems += cb.Items
		db.Channels = append(db.Channels, cb)
		mm, _ := c.Model.(*baselines.ModbusModel)
		if mm == nil {
			continue
		}
		for t, rs := range mm.Read {
			hk := heatKey{c.Key.Unit, t}
			if heat[c.Key.Server][hk] == nil {
				heat[c.Key.Server][hk] = &heatSets{}
			}
			heat[c.Key.Server][hk].read = append(heat[c.Key.Server][hk].read, rs)
		}
		for t, rs := range mm.Written {
			hk := heatKey{c.Key.Unit, t}
			if heat[c.Key.Server][hk] == nil {
				heat[c.Key.Server][hk] = &heatSets{}
			}
			heat[c.Key.Server][hk].written = append(heat[c.Key.Server][hk].written, rs)
		}
	}
	slices.SortFunc(order, netip.Addr.Compare)
	r.Baselines = make([]DeviceBaseline, 0, len(order))
	for _, srv := range order {
		db := byServer[srv]
		keys := slices.SortedFunc(maps.Keys(heat[srv]), func(a, b heatKey) int {
			return cmp.Or(cmp.Compare(a.unit, b.unit), cmp.Compare(a.table, b.table))
		})
		for _, k := range keys {
			hs := heat[srv][k]
			if hm, ok := heatMap(k.unit, k.table, hs.read, hs.written); ok {
				db.HeatMaps = append(db.HeatMaps, hm)
			}
		}
		r.Baselines = append(r.Baselines, *db)
	}
}

func channelBaseline(c *baselines.Channel) ChannelBaseline {
	cb := ChannelBaseline{
		Name:         c.Key.String(),
		Protocol:     c.Key.Protocol.String(),
		Client:       c.Key.Client.String(),
		Server:       c.Key.Server.String(),
		Unit:         c.Key.Unit,
		Port:         c.Key.Port,
		FirstSeen:    Time{c.FirstSeen.UTC()},
		LastSeen:     Time{c.LastSeen.UTC()},
		Transactions: c.Transactions,
		Writes:       c.Writes,
		WritesPerHr:  round3(c.WriteRate()),
		PeakWindow:   c.PeakWindow,
		Items:        len(c.Items()),
	}
	for _, k := range slices.SortedFunc(maps.Keys(c.Polls()), func(a, b baselines.PollKey) int {
		return cmp.Compare(a.String(), b.String())
	}) {
		p := c.Polls()[k]
		if p == nil {
			continue
		}
		cb.Polls = append(cb.Polls, PollRow{
			Request:  pollText(k),
			PeriodMS: round3(float64(p.Period) / float64(time.Millisecond)),
			JitterMS: round3(float64(p.Jitter) / float64(time.Millisecond)),
			Samples:  p.Samples,
			Regular:  p.Regular(pollMinSamples),
		})
	}
	switch m := c.Model.(type) {
	case *baselines.ModbusModel:
		modbusBaseline(&cb, m)
	case *baselines.OPCUAModel:
		opcuaBaseline(&cb, m)
		processRows(&cb, m.Process, m.ProcessDropped, strings.Compare, func(n string) string { return "node " + n })
	case *baselines.DNP3Model:
		processRows(&cb, m.Process, m.ProcessDropped, func(a, b baselines.PointKey) int {
			return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Index, b.Index))
		}, func(k baselines.PointKey) string { t, _ := k.MarshalText(); return string(t) })
	case *baselines.NetworkModel:
		cb.Services = countRows(m.Services)
	}
	return cb
}

// modbusBaseline fills in what a Modbus channel learned.
func modbusBaseline(cb *ChannelBaseline, m *baselines.ModbusModel) {
	for _, fc := range slices.Sorted(maps.Keys(m.Functions)) {
		cb.Functions = append(cb.Functions, Count{Code: int(fc), Name: modbus.FunctionCode(fc).String(), Count: m.Functions.N(fc)})
	}
	for _, sub := range slices.Sorted(maps.Keys(m.Diagnostics)) {
		cb.Diagnostics = append(cb.Diagnostics, Count{Code: int(sub), Name: modbus.SubFunction(sub).String(), Count: m.Diagnostics.N(sub)})
	}
	cb.Read = tableRanges(m.Read)
	cb.Written = tableRanges(m.Written)
	for _, k := range slices.SortedFunc(maps.Keys(m.Values), func(a, b baselines.RegKey) int {
		return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Addr, b.Addr))
	}) {
		cb.Values = append(cb.Values, envelopeRow(k.Table.String()+" "+strconv.Itoa(int(k.Addr)), m.Values[k]))
	}
	processRows(cb, m.Process, m.ProcessDropped, func(a, b baselines.RegKey) int {
		return cmp.Or(cmp.Compare(a.Table, b.Table), cmp.Compare(a.Addr, b.Addr))
	}, func(k baselines.RegKey) string { return k.Table.String() + " " + strconv.Itoa(int(k.Addr)) })
}

// processRows fills in a channel's process variables: the busiest
// (most changes, then reads) maxProcessRows of vars, listed in the order
// of order, each named by name; dropped counts the values beyond the
// baseline's caps.
func processRows[K comparable](cb *ChannelBaseline, vars map[K]*baselines.ProcessVar, dropped uint64, order func(a, b K) int, name func(K) string) {
	keys := slices.SortedFunc(maps.Keys(vars), func(a, b K) int {
		pa, pb := vars[a], vars[b]
		return cmp.Or(-cmp.Compare(pa.Changes, pb.Changes), -cmp.Compare(pa.Reads, pb.Reads), order(a, b))
	})
	if len(keys) > maxProcessRows {
		cb.ProcessOmitted, keys = len(keys)-maxProcessRows, keys[:maxProcessRows]
	}
	slices.SortFunc(keys, order)
	for _, k := range keys {
		pv := vars[k]
		row := ProcessRow{Variable: name(k), Min: pv.Min, Max: pv.Max,
			MaxRate: pv.MaxRate, Reads: pv.Reads, Changes: pv.Changes, MaxStill: pv.MaxStill}
		if pv.Bit {
			var st []string
			for s := range 2 {
				if pv.States&(1<<s) != 0 {
					st = append(st, strconv.Itoa(s))
				}
			}
			row.States = strings.Join(st, ",")
		}
		cb.Process = append(cb.Process, row)
	}
	cb.ProcessDropped = dropped
}

// opcuaBaseline fills in what an OPC UA channel learned.
func opcuaBaseline(cb *ChannelBaseline, m *baselines.OPCUAModel) {
	cb.Services = countRows(m.Services)
	for _, p := range slices.Sorted(maps.Keys(m.Policies)) {
		cb.Security = append(cb.Security, SecurityRow{Property: "policy", Value: p, Count: m.Policies.N(p)})
	}
	for _, md := range slices.Sorted(maps.Keys(m.Modes)) {
		cb.Security = append(cb.Security, SecurityRow{Property: "mode", Value: md.String(), Count: m.Modes.N(md)})
	}
	for _, t := range slices.Sorted(maps.Keys(m.Tokens)) {
		cb.Security = append(cb.Security, SecurityRow{Property: "token", Value: t.String(), Count: m.Tokens.N(t)})
	}
	cb.NodesRead = countRows(m.NodesRead)
	for _, n := range slices.Sorted(maps.Keys(m.NodesWritten)) {
		cb.NodesWrite = append(cb.NodesWrite, envelopeRow(n, m.NodesWritten[n]))
	}
	cb.NodesCalled = countRows(m.NodesCalled)
	cb.ClientApps = countRows(m.ClientApps)
	cb.Users = countRows(m.Users)
}

// pollMinSamples is the engine's default Config.PollMinSamples: how many
// repetitions make a request a judged poll.
const pollMinSamples = 10

func round3(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 3, 64), 64)
	return f
}

func counts(m map[string]uint64) []Count {
	var out []Count
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Count{Name: k, Count: m[k]})
	}
	return out
}

// countRows is counts of a learned model's counts.
func countRows(c baselines.Counts[string]) []Count {
	m := make(map[string]uint64, len(c))
	for k := range c {
		m[k] = c.N(k)
	}
	return counts(m)
}

func envelopeRow(item string, e *baselines.Envelope) EnvelopeRow {
	if e == nil {
		return EnvelopeRow{Item: item}
	}
	return EnvelopeRow{Item: item, Min: e.Min, Max: e.Max, Writes: e.Writes, Distinct: e.Distinct, Many: e.Many}
}

func tableRanges(m map[modbus.Table]baselines.RangeSet) []TableRanges {
	var out []TableRanges
	for _, t := range slices.Sorted(maps.Keys(m)) {
		rs := m[t]
		if len(rs) == 0 {
			continue
		}
		out = append(out, TableRanges{Table: t.String(), Ranges: RangesText(rs), Addresses: rs.Size()})
	}
	return out
}

// RangesText writes a range set compactly: "0-9, 20, 40-49".
func RangesText(rs baselines.RangeSet) string {
	var b strings.Builder
	for i, s := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(int(s.First)))
		if s.Last != s.First {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(s.Last)))
		}
	}
	return b.String()
}

// pollText names a repeating request for people.
func pollText(k baselines.PollKey) string {
	if k.Node != "" {
		return "Read " + k.Node
	}
	last := uint32(k.Start) + uint32(max(k.Count, 1)) - 1
	return fmt.Sprintf("FC %d %s %s %d-%d", k.Function, modbus.FunctionCode(k.Function), k.Table, k.Start, last)
}

// heatMap buckets the addresses of one table between the lowest and the
// highest address used into at most HeatCells cells and counts, per cell,
// the (channel, address) pairs read and written. ok is false when nothing
// was read or written.
func heatMap(unit uint8, t modbus.Table, read, written []baselines.RangeSet) (HeatMap, bool) {
	lo, hi, any := 1<<16, -1, false
	for _, sets := range [][]baselines.RangeSet{read, written} {
		for _, rs := range sets {
			for _, sp := range rs {
				lo, hi, any = min(lo, int(sp.First)), max(hi, int(sp.Last)), true
			}
		}
	}
	if !any {
		return HeatMap{}, false
	}
	span := hi - lo + 1
	bucket := (span + HeatCells - 1) / HeatCells
	n := (span + bucket - 1) / bucket
	hm := HeatMap{Unit: unit, Table: t.String(), First: uint16(lo), Last: uint16(hi), Bucket: bucket,
		Read: make([]int, n), Written: make([]int, n)}
	fill := func(cells []int, sets []baselines.RangeSet) {
		for _, rs := range sets {
			for _, sp := range rs {
				for a := int(sp.First); a <= int(sp.Last); {
					i := (a - lo) / bucket
					end := min(int(sp.Last), lo+(i+1)*bucket-1)
					cells[i] += end - a + 1
					a = end + 1
				}
			}
		}
	}
	fill(hm.Read, read)
	fill(hm.Written, written)
	for i := range hm.Read {
		hm.Max = max(hm.Max, hm.Read[i], hm.Written[i])
	}
	return hm, true
}

func (r *Report) alerts(s *baselines.Snapshot) {
	byRule := map[baselines.Rule]*RuleCount{}
	byDev := map[netip.Addr]*DeviceAlerts{}
	devRules := map[netip.Addr]map[string]uint64{}
	r.Alerts = make([]AlertRow, 0, len(s.Alerts))
	for _, a := range s.Alerts {
		rc := byRule[a.Rule]
		if rc == nil {
			rc = &RuleCount{Rule: a.Rule.String(), SignatureID: a.Rule.SignatureID(), Severity: a.Rule.Severity(),
				Category: a.Rule.Category(), Techniques: nonNil(slices.Clone(a.Rule.Techniques()))}
			byRule[a.Rule] = rc
		}
		rc.Deviations++
		rc.Alerts += a.Alerts
		rc.Occurrences += a.Count
		r.Summary.Deviations++
		r.Summary.Alerts += a.Alerts
		r.Summary.Occurrences += a.Count
		if a.Rule.Severity() == 1 {
			r.Summary.HighSeverityOpen++
		}
		// The judged device is the server of the channel; rules about a
		// party alone (new_device, scan) name it there too.
		dev := a.Channel.Server
		if !dev.IsValid() {
			dev = a.Channel.Client
		}
		da := byDev[dev]
		if da == nil {
			da = &DeviceAlerts{Device: addrText(dev)}
			byDev[dev] = da
			devRules[dev] = map[string]uint64{}
		}
		da.Deviations++
		da.Occurrences += a.Count
		devRules[dev][a.Rule.String()] += a.Count
		r.Alerts = append(r.Alerts, AlertRow{
			ID: a.ID, Rule: a.Rule.String(), Severity: a.Rule.Severity(), Channel: channelText(a.Deviation),
			Item: itemText(a.Deviation) + r.variableOf(a.Deviation), Signature: a.Signature, First: Time{a.First.UTC()}, Last: Time{a.Last.UTC()},
			Occurrences: a.Count, Alerts: a.Alerts,
		})
	}
	slices.SortStableFunc(r.Alerts, func(a, b AlertRow) int {
		return cmp.Or(cmp.Compare(a.Severity, b.Severity), a.First.Compare(b.First.Time), cmp.Compare(a.ID, b.ID))
	})
	r.incidents(s)
	r.AlertsByRule = make([]RuleCount, 0, len(byRule))
	for _, rule := range slices.Sorted(maps.Keys(byRule)) {
		r.AlertsByRule = append(r.AlertsByRule, *byRule[rule])
	}
	r.AlertsByDevice = make([]DeviceAlerts, 0, len(byDev))
	for _, dev := range slices.SortedFunc(maps.Keys(byDev), netip.Addr.Compare) {
		da := byDev[dev]
		da.Rules = counts(devRules[dev])
		r.AlertsByDevice = append(r.AlertsByDevice, *da)
	}
}

// variableOf returns " (Name)", the register map's variables of the
// register or node of d's item, "" when none or without a policy.
func (r *Report) variableOf(d baselines.Deviation) string {
	if r.policy == nil {
		return ""
	}
	var names []string
	if it := d.Item; it.Table != modbus.TableNone {
		for _, v := range r.policy.VariablesOf(nil, d.Channel.Server, d.Channel.Unit, it.Table, it.Addr, max(it.Count, 1)) {
			names = append(names, v.Name)
		}
	} else if it.Node != "" {
		if v := r.policy.NodeVariable(d.Channel.Server, it.Node); v != nil {
			names = append(names, v.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// variables lists the register map.
func (r *Report) variables() {
	if r.policy == nil {
		return
	}
	for _, v := range r.policy.Variables {
		row := VariableRow{Name: v.Name, Node: v.Node, Unit: v.EngUnit}
		if v.InModbus {
			server := "any server"
			if v.Server.IsValid() {
				server = addrText(v.Server.Addr())
				if v.Server.Bits() != v.Server.Addr().BitLen() {
					server = v.Server.String()
				}
			}
			row.Modbus = fmt.Sprintf("%s unit %d %s %d, %s", server, v.Unit, v.Table, v.Addr, v.Type)
			if v.Type.Words() == 2 && v.LowWordFirst {
				row.Modbus += " low word first"
			}
			if v.Scale != 1 {
				row.Modbus += ", scale " + strconv.FormatFloat(v.Scale, 'g', -1, 64)
			}
			if v.Offset != 0 {
				row.Modbus += ", offset " + strconv.FormatFloat(v.Offset, 'g', -1, 64)
			}
		}
		r.Variables = append(r.Variables, row)
	}
}

// incidents groups the alert log (baselines.GroupIncidents) and names each
// row's incident.
func (r *Report) incidents(s *baselines.Snapshot) {
	incs := baselines.GroupIncidents(s.Alerts, IncidentWindow)
	of := map[string]string{}
	r.Incidents = make([]IncidentRow, 0, len(incs))
	for _, inc := range incs {
		for _, d := range inc.Deviations {
			of[d] = inc.ID
		}
		title := addrText(inc.Actor) + " → " + addrText(inc.Target)
		if len(inc.Tactics) > 0 {
			title += ": " + strings.Join(inc.Tactics, " → ")
		}
		r.Incidents = append(r.Incidents, IncidentRow{ID: inc.ID, Title: title, Actor: addrText(inc.Actor),
			Target: addrText(inc.Target), First: Time{inc.First.UTC()}, Last: Time{inc.Last.UTC()}, Severity: inc.Severity,
			Deviations: len(inc.Deviations), Occurrences: inc.Occurrences, Rules: nonNil(inc.Rules),
			Tactics: nonNil(inc.Tactics), Techniques: nonNil(inc.Techniques)})
	}
	for i := range r.Alerts {
		r.Alerts[i].Incident = of[r.Alerts[i].ID]
	}
}

// byIncident returns rows in the order of their incidents (the incidents'
// order in r.Incidents), most severe first within one.
func (r *Report) byIncident(rows []AlertRow) []AlertRow {
	order := make(map[string]int, len(r.Incidents))
	for i, inc := range r.Incidents {
		order[inc.ID] = i
	}
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b AlertRow) int { return cmp.Compare(order[a.Incident], order[b.Incident]) })
	return rows
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "—"
	}
	return a.String()
}

// channelText names a channel, tolerating the partial keys of rules about
// one party.
func channelText(d baselines.Deviation) string {
	k := d.Channel
	switch {
	case d.Rule.PairLevel() && k.Client.IsValid() && k.Server.IsValid():
		// A scan's or a fuzzer's: no unit, whatever the key holds.
		return k.Protocol.String() + " " + k.Client.String() + ">" + k.Server.String()
	case k.Client.IsValid() && k.Server.IsValid():
		return k.String()
	case k.Server.IsValid():
		return k.Protocol.String() + " " + k.Server.String()
	case k.Client.IsValid():
		return k.Protocol.String() + " " + k.Client.String()
	}
	return k.Protocol.String()
}

// itemText describes what a deviation is about, within its channel.
func itemText(d baselines.Deviation) string {
	it := d.Item
	var parts []string
	if it.What != "" {
		parts = append(parts, it.What)
	}
	if it.Function != 0 {
		parts = append(parts, fmt.Sprintf("FC %d %s", it.Function, modbus.FunctionCode(it.Function)))
	}
	if it.Sub != 0 || (it.Function == 8 && it.What == "") {
		parts = append(parts, "sub-function "+strconv.Itoa(int(it.Sub))+" "+modbus.SubFunction(it.Sub).String())
	}
	if it.Table != modbus.TableNone {
		a := it.Table.String() + " " + strconv.Itoa(int(it.Addr))
		if it.Count > 1 {
			a += "-" + strconv.Itoa(int(it.Addr)+int(it.Count)-1)
		}
		parts = append(parts, a)
	}
	if it.Node != "" {
		parts = append(parts, it.Node)
	}
	if d.Text != "" {
		parts = append(parts, "= "+d.Text)
	} else if d.Value != 0 {
		parts = append(parts, "= "+strconv.FormatFloat(d.Value, 'g', -1, 64))
	}
	return strings.Join(parts, " ")
}

func (r *Report) accepted(s *baselines.Snapshot) {
	r.Accepted = make([]AcceptedRow, 0, len(s.Accepted))
	for _, a := range s.Accepted {
		r.Accepted = append(r.Accepted, AcceptedRow{
			ID: a.ID, Rule: a.Deviation.Rule.String(), Channel: channelText(a.Deviation),
			Item: itemText(a.Deviation), By: a.By, At: Time{a.At.UTC()}, Reason: a.Reason,
		})
	}
	slices.SortStableFunc(r.Accepted, func(a, b AcceptedRow) int {
		return cmp.Or(a.At.Compare(b.At.Time), cmp.Compare(a.ID, b.ID))
	})
}

func (r *Report) audit(s *baselines.Snapshot) {
	r.Audit = make([]AuditRow, 0, len(s.Audit))
	r.Approvals = []Approval{}
	for _, a := range s.Audit {
		r.Audit = append(r.Audit, AuditRow{Seq: a.Seq, Action: a.Action, By: a.By, At: Time{a.At.UTC()},
			Reason: a.Reason, Deviation: a.DeviationID, SHA256: a.SHA256})
		if a.Action == "approve" {
			r.Approvals = append(r.Approvals, Approval{By: a.By, At: Time{a.At.UTC()}, SHA256: a.SHA256,
				Current: a.SHA256 == r.SHA256})
		}
	}
}
