package agent

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParsePorts(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []uint16
		wantErr bool
	}{
		{"502", []uint16{502}, false},
		{" 502, 5020 ,1", []uint16{502, 5020, 1}, false},
		{"", nil, false},
		{"0", nil, true},
		{"65536", nil, true},
		{"502,", nil, true},
		{"modbus", nil, true},
		{"-1", nil, true},
	} {
		got, err := ParsePorts(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParsePorts(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePorts(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseModeAndEvents(t *testing.T) {
	for _, m := range []Mode{ModeAuto, ModeLearn, ModeMonitor} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("judge"); err == nil {
		t.Error("ParseMode(judge) accepted")
	}
	for _, e := range []Events{EventsAll, EventsAlerts} {
		got, err := ParseEvents(e.String())
		if err != nil || got != e {
			t.Errorf("ParseEvents(%q) = %v, %v", e.String(), got, err)
		}
	}
	if _, err := ParseEvents("modbus"); err == nil {
		t.Error("ParseEvents(modbus) accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		errSub string // "" = valid
	}{
		{"default", func(*Config) {}, ""},
		{"opcua only", func(c *Config) { delete(c.Ports, "modbus") }, ""},
		{"no output", func(c *Config) { c.Sinks = nil }, "no output"},
		{"nil output", func(c *Config) { c.Sinks = []Sink{nil} }, "output 0 is nil"},
		{"unknown protocol", func(c *Config) { c.Ports["dnp"] = []uint16{20000} }, `unknown protocol "dnp"`},
		{"no ports", func(c *Config) { c.Ports = nil }, "no Modbus/TCP, OPC UA Binary or DNP3 port"},
		{"port in both", func(c *Config) { c.Ports["opcua"] = []uint16{4840, 502} }, "port 502 is both modbus and opcua"},
		{"port 0", func(c *Config) { c.Ports["modbus"] = []uint16{0} }, "port 0"},
		{"bad mode", func(c *Config) { c.Mode = 9 }, "mode(9)"},
		{"negative learn", func(c *Config) { c.LearnFor = -time.Second }, "negative learn-for"},
		{"negative cap", func(c *Config) { c.MaxFlows = -1 }, "negative max flows"},
		{"identity", func(c *Config) { c.Sensor, c.Site = "dam-1 \"north\" ünit", "Rivière] site" }, ""},
		{"sensor newline", func(c *Config) { c.Sensor = "dam-1\nforged" }, "sensor: control character U+000A"},
		{"site not utf-8", func(c *Config) { c.Site = "\xff" }, "site: not UTF-8"},
		{"sensor too long", func(c *Config) { c.Sensor = strings.Repeat("x", MaxIdentity+1) }, "sensor: longer than 255 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig(io.Discard)
			tc.mutate(&c)
			err := c.Validate()
			if tc.errSub == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.errSub) {
				t.Fatalf("error %v, want ErrConfig containing %q", err, tc.errSub)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{Sinks: []Sink{NewEVE(io.Discard, EventsAll)}, Ports: map[string][]uint16{"modbus": {502}}}.withDefaults()
	d := DefaultConfig(io.Discard)
	if c.MaxFlows != d.MaxFlows || c.IdleTimeout != d.IdleTimeout || c.LearnFor != d.LearnFor ||
		c.AlertEvery != d.AlertEvery || c.MaxPendingPerFlow != d.MaxPendingPerFlow || c.TransactionTimeout != d.TransactionTimeout {
		t.Errorf("withDefaults = %+v, want the defaults of %+v", c, d)
	}
	c = Config{MaxFlows: 7}.withDefaults()
	if c.MaxFlows != 7 {
		t.Errorf("withDefaults overrode MaxFlows: %d", c.MaxFlows)
	}
}
