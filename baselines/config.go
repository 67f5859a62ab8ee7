package baselines

import (
	"time"

	"github.com/sluice-ics/sluice/baselines/oui"
)

// Mode is how the engine treats the baseline.
type Mode uint8

const (
	// Auto (the default): each device learns for Config.LearnFor of
	// traffic time after it is first seen, then is judged.
	Auto Mode = iota
	// Learn updates the baseline and raises no deviation alerts.
	Learn
	// Monitor judges only: the baseline does not change.
	Monitor
)

func (m Mode) String() string {
	return [...]string{"auto", "learn", "monitor"}[m%3]
}

// Config tunes the engine. Zero fields take the defaults below; see
// docs/alerts.md for how each threshold shapes a rule.
type Config struct {
	Mode Mode
	// LearnFor is the learning window of a device in Auto mode (24h).
	LearnFor time.Duration
	// AlertEvery is how often one deviation (rule, channel, item) may
	// alert; repeats in between are counted (10m).
	AlertEvery time.Duration
	// Window is the sliding window of the rate rules scan,
	// exception_burst and request_flood (10s).
	Window time.Duration
	// ScanDistinct is how many distinct units, function codes or
	// addresses one client must probe unsuccessfully within Window to be
	// a scan (5).
	ScanDistinct int
	// BurstExceptions is how many exception responses one channel must
	// see within Window for exception_burst (10).
	BurstExceptions int
	// FloodMin is the least number of requests on one channel within
	// Window for request_flood (200), and FloodFactor how many times the
	// learned peak rate it must also exceed (4).
	FloodMin    int
	FloodFactor float64
	// PollMinSamples is how many repetitions make a request a learned
	// poll (10); PollMissFactor how many periods (plus 4 jitters) may
	// pass before poll_stopped (3).
	PollMinSamples int
	PollMissFactor float64
	// CaptureSilence is how long every channel may be silent before the
	// next transaction counts as the capture resuming (2m): poll
	// intervals across such a silence are not learned (a capture paused,
	// a span port down). Polls slower than this on an otherwise silent
	// network are learned only from the intervals within it.
	CaptureSilence time.Duration
	// FuzzBurst is how many fuzzing indicators (requests that do not
	// decode, replies saying the server could not decode one or does not
	// know its function) one channel must see within Window for
	// protocol_fuzzing (10).
	FuzzBurst int
	// ConvergenceWindow is the window of the per-device convergence
	// figure, new baseline items per hour (1h).
	ConvergenceWindow time.Duration
	// DistinctValues is how many distinct written values a register
	// envelope keeps before it keeps only min/max (16).
	DistinctValues int
	// ValueSlack widens a learned min/max value envelope by this fraction
	// of its width on each side before write_value_out_of_range (0.1).
	// Negative means no slack.
	ValueSlack float64
	// MaxAlertKeys caps the number of distinct deviations remembered for
	// suppression and the alert log (100000), so a sweep cannot grow
	// memory without bound; beyond it alerts are still raised but not
	// recorded.
	MaxAlertKeys int
	// MaxDevices and MaxChannels cap the inventory and the learned
	// channels (65536 each), so that spoofed sources or a sweep of
	// client/server/unit combinations cannot grow the baseline, its
	// database and its report without bound (issue #15). At a cap the
	// newest is not learned (alerts are still raised) and it is counted
	// (Engine.Limited).
	MaxDevices  int
	MaxChannels int
	// MaxItems caps each set of strings a client chooses that a channel
	// learns (OPC UA nodes read, written and called, users, application
	// URIs): 4096. Modbus addresses are ranges, bounded by the address
	// space.
	MaxItems int
	// MaxProcessVars caps the process variables each channel learns
	// (1024); the values of the others are counted (ProcessDropped), not
	// learned nor judged.
	MaxProcessVars int
	// MaxProcessVarsPerDevice caps the process variables of one server,
	// all its channels together (4096): a device serving thousands of
	// registers to several masters must not multiply them. A value of a
	// variable beyond it is counted (the channel's ProcessDropped and
	// Limited.ProcessVars), not learned nor judged.
	MaxProcessVarsPerDevice int
	// ProcessMinReads is how many values a process variable must have
	// been read with before it is judged (30); ProcessMinChanges how many
	// changes make its rate of change learned and, on one read in ten at
	// least, a variable that always moves (20).
	ProcessMinReads   int
	ProcessMinChanges int
	// ProcessSlack widens a learned process range by this fraction of its
	// span on each side, at least 1 and 10 % of its largest magnitude,
	// before process_value_out_of_range (1: the learned span again on each
	// side; a plant's variables drift past an hour's or a day's range with
	// the operator's setpoints and the weather, and a reading driven by an
	// attacker goes much further: a spillway opened fully, a turbine
	// overspeeding).
	ProcessSlack float64
	// ProcessRateFactor is how many times the largest learned step per
	// second (plus the slack's floor) a step must reach for
	// process_rate_of_change (2).
	ProcessRateFactor float64
	// ProcessFrozenFactor is how many times its longest learned still
	// stretch a moving variable must stand still for process_value_frozen
	// (4), and ProcessFrozenMin the least such time (1m).
	ProcessFrozenFactor float64
	ProcessFrozenMin    time.Duration
	// PortScanTargets is how many distinct (host, port) one source must
	// probe without an answer, or be refused by, within PortScanWindow
	// for port_scan (10, 1m).
	PortScanTargets int
	PortScanWindow  time.Duration
	// OUI resolves a MAC to a vendor name; nil means the embedded IEEE
	// table (package oui).
	OUI func(mac [6]byte) string
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defi := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.LearnFor, 24*time.Hour)
	def(&c.AlertEvery, 10*time.Minute)
	def(&c.Window, 10*time.Second)
	def(&c.ConvergenceWindow, time.Hour)
	def(&c.CaptureSilence, 2*time.Minute)
	defi(&c.ScanDistinct, 5)
	defi(&c.BurstExceptions, 10)
	defi(&c.FuzzBurst, 10)
	defi(&c.FloodMin, 200)
	defi(&c.PollMinSamples, 10)
	defi(&c.DistinctValues, 16)
	defi(&c.MaxAlertKeys, 100000)
	defi(&c.MaxDevices, 1<<16)
	defi(&c.MaxChannels, 1<<16)
	defi(&c.MaxItems, 4096)
	defi(&c.MaxProcessVars, 1024)
	defi(&c.MaxProcessVarsPerDevice, 4096)
	defi(&c.ProcessMinReads, 30)
	defi(&c.ProcessMinChanges, 20)
	def(&c.ProcessFrozenMin, time.Minute)
	defi(&c.PortScanTargets, 10)
	def(&c.PortScanWindow, time.Minute)
	deff := func(d *float64, v float64) {
		if *d <= 0 {
			*d = v
		}
	}
	deff(&c.ProcessSlack, 1)
	deff(&c.ProcessRateFactor, 2)
	deff(&c.ProcessFrozenFactor, 4)
	if c.OUI == nil {
		c.OUI = func(mac [6]byte) string { return oui.Vendor(mac) }
	}
	if c.ValueSlack == 0 {
		c.ValueSlack = 0.1
	} else if c.ValueSlack < 0 {
		c.ValueSlack = 0
	}
	if c.FloodFactor <= 0 {
		c.FloodFactor = 4
	}
	if c.PollMissFactor <= 0 {
		c.PollMissFactor = 3
	}
	return c
}
