package rules

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
)

// The simulator's example (simulator/rules.yaml) loads, and names every
// tag of the dam.
func TestExampleLoads(t *testing.T) {
	p, err := Load("../simulator/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Variables) != 34 || len(p.Rules) != 10 || len(p.Maintenance) != 1 {
		t.Fatalf("%d variables, %d rules, %d windows", len(p.Variables), len(p.Rules), len(p.Maintenance))
	}
	var sp *baselines.Variable
	for i := range p.Variables {
		if p.Variables[i].Name == "Dam.Spillway1.Setpoint" {
			sp = &p.Variables[i]
		}
	}
	if sp == nil || !sp.InModbus || sp.Unit != 1 || sp.Table != modbus.TableHoldingRegisters || sp.Addr != 0 ||
		sp.Scale != 0.1 || sp.EngUnit != "%" || sp.Node != "ns=2;s=Dam.Spillway1.Setpoint" {
		t.Fatalf("Dam.Spillway1.Setpoint: %+v", sp)
	}
	m := p.Maintenance[0]
	if m.Location.String() != "Europe/Paris" || m.Start != 300 || m.End != 420 || m.Days != 1<<time.Sunday {
		t.Fatalf("window: %+v", m)
	}
}

// Every mistake gives one line naming the file, the line, the field and
// what was expected; all the mistakes of a file are reported at once.
func TestMistakes(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string // each a line of the error, in order
	}{
		{"unknown top-level field", "variables: {}\nrulez: {}\n",
			[]string{`f.yaml:2: rulez: unknown field "rulez" (did you mean "rules"?): expected one of timezone, variables, rules, maintenance`}},
		{"unknown rule field", "rules:\n  a:\n    modbus: {}\n    master: {allow: [10.0.0.1]}\n",
			[]string{`f.yaml:2: rules.a: a rule needs a check`, `f.yaml:4: rules.a.master: unknown field "master" (did you mean "masters"?)`}},
		{"bad address", "rules:\n  a:\n    masters: {allow: [10.0.0.300]}\n",
			[]string{`f.yaml:3: rules.a.masters.allow: expected an IP address (10.10.1.10) or a network (10.10.1.0/24), got "10.0.0.300"`}},
		{"host bits", "rules:\n  a:\n    masters: {deny: 10.0.0.1/24}\n",
			[]string{`f.yaml:3: rules.a.masters.deny: 10.0.0.1/24 has host bits set: did you mean 10.0.0.0/24?`}},
		{"unit out of range", "rules:\n  a:\n    modbus: {unit: 300}\n    functions: [3]\n",
			[]string{`f.yaml:3: rules.a.modbus.unit: expected a Modbus unit id (0-255), got "300"`}},
		{"function name typo", "rules:\n  a:\n    modbus: {}\n    functions: [read_holding_register]\n",
			[]string{`f.yaml:4: rules.a.functions: expected a Modbus function code 1-127 or its name`}},
		{"functions without protocol", "rules:\n  a:\n    functions: [3]\n",
			[]string{`f.yaml:3: rules.a.functions: functions are Modbus's or DNP3's`}},
		{"writable range", "rules:\n  a:\n    modbus: {}\n    writable: [\"holdings 0-3\", \"holding 5-2\"]\n",
			[]string{`f.yaml:4: rules.a.writable: expected TABLE FIRST[-LAST] with TABLE one of coil, discrete_input, input, holding and addresses 0-65535 ("holding 0-3"), got "holdings 0-3"`, `got "holding 5-2"`}},
		{"limit on unknown variable", "variables:\n  Gate.SP: {modbus: {unit: 1, holding: 0}}\nrules:\n  a:\n    limits:\n      Gate.Sp: {max: 60}\n",
			[]string{`f.yaml:6: rules.a.limits.Gate.Sp: no variable "Gate.Sp" in the register map (variables:) (did you mean "Gate.SP"?)`}},
		{"min above max", "variables:\n  V: {modbus: {unit: 1, holding: 0}}\nrules:\n  a:\n    limits:\n      V: {min: 5, max: 1}\n",
			[]string{`f.yaml:6: rules.a.limits.V: min 5 is above max 1`}},
		{"bad type", "variables:\n  V: {modbus: {unit: 1, holding: 0}, type: float}\n",
			[]string{`f.yaml:2: variables.V.type: expected uint16, int16, uint32, int32, float32 or bool, got "float"`}},
		{"two tables", "variables:\n  V: {modbus: {unit: 1, holding: 0, input: 1}}\n",
			[]string{`f.yaml:2: variables.V.modbus: expected exactly one of coil, discrete_input, input, holding`}},
		{"word order on 16 bits", "variables:\n  V: {modbus: {unit: 1, holding: 0}, word_order: low_first}\n",
			[]string{`f.yaml:2: variables.V.word_order: only a 32-bit type`}},
		{"dnp3 without its point", "variables:\n  V: {dnp3: {outstation: 10}}\n",
			[]string{`f.yaml:2: variables.V.dnp3: expected the point: analog_output: INDEX (group 41)`}},
		{"coil not bool", "variables:\n  V: {modbus: {unit: 1, coil: 0}}\n",
			[]string{`f.yaml:2: variables.V: a coil or discrete input is a bool: give type: bool`}},
		{"quiet typo", "rules:\n  gate-limits:\n    masters: {allow: 10.0.0.1}\nmaintenance:\n  w:\n    quiet: [gate-limit, new_mastr]\n    from: \"06:00\"\n    to: \"07:00\"\n",
			[]string{`f.yaml:6: maintenance.w.quiet: expected the name of a rule of this file or of a Sluice rule (new_master, write_value_out_of_range…) (did you mean "gate-limits"?), got "gate-limit"`,
				`(did you mean "new_master"?), got "new_mastr"`}},
		{"bad time", "maintenance:\n  w:\n    quiet: [new_master]\n    from: \"25:00\"\n    to: \"07:00\"\n",
			[]string{`f.yaml:2: maintenance.w: from and to must both be times of day or both date-times`}},
		{"bad zone", "timezone: Mars/Olympus\n",
			[]string{`f.yaml:1: timezone: expected an IANA time zone`}},
		{"not yaml", "rules:\n  a: [\n",
			[]string{`f.yaml:2: not YAML: did not find expected node content`}},
		{"duplicate rule", "rules:\n  a: {masters: {allow: 10.0.0.1}}\n  a: {masters: {allow: 10.0.0.2}}\n",
			[]string{`f.yaml:3: rules.a: rule name given twice`}},
		{"empty file", "", []string{`f.yaml:0: the file is empty`}},
		{"a Sluice rule's name", "rules:\n  new_master: {masters: {allow: 10.0.0.1}}\n",
			[]string{`f.yaml:2: rules.new_master: "new_master" is the name of a Sluice rule: give the file's rule another name`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.file))
			if err == nil {
				t.Fatal("accepted")
			}
			if !IsError(err) {
				t.Fatalf("not a rules error: %v", err)
			}
			got := err.Error()
			lines := strings.Split(got, "\n")
			for i, w := range tc.want {
				if i >= len(lines) || !strings.Contains(lines[i], w) {
					t.Fatalf("error\n%s\nline %d does not contain\n%s", got, i+1, w)
				}
			}
		})
	}
}

// Absolute windows, windows across midnight, 32-bit types and the parts
// of a rule come through as written.
func TestParse(t *testing.T) {
	p, err := Parse("f.yaml", []byte(`
variables:
  Flow: {modbus: {server: 10.0.0.1, unit: 3, holding: 10}, type: float32, word_order: low_first, unit: m3/s}
  Count: {modbus: {unit: 3, input: 0}, type: int32, scale: 2, offset: -1}
rules:
  r:
    modbus: {server: [10.0.0.0/24], unit: [3, 4]}
    masters: {allow: [10.0.1.1], deny: 10.0.9.0/24}
    functions: [3, write_multiple_registers]
    writable: ["holding 10-11", "coil 7"]
    limits:
      Flow: {max: 12.5}
  u:
    opcua: {port: 4840}
    services: [Read, CreateSubscriptionRequest]
maintenance:
  overhaul:
    quiet: [r, policy_violation]
    from: 2026-12-01T08:00:00Z
    to: "2026-12-01 12:00"
    timezone: Europe/Paris
  night:
    quiet: [poll_stopped]
    days: [sat, SUN]
    from: "22:00"
    to: "02:30"
`))
	if err != nil {
		t.Fatal(err)
	}
	if e, err := Parse("e.yaml", []byte("variables:\nrules:\nmaintenance:\n")); err != nil || len(e.Rules) != 0 {
		t.Errorf("empty sections: %v", err)
	}
	if v := p.Variables[0]; v.Type != baselines.Float32 || !v.LowWordFirst || v.Addr != 10 || v.Server.String() != "10.0.0.1/32" {
		t.Errorf("Flow: %+v", v)
	}
	r := p.Rules[0]
	if len(r.Units) != 2 || r.ModbusFunctions[1] != 16 || r.Writable[1] != (baselines.TableRange{Table: modbus.TableCoils, From: 7, To: 7}) ||
		r.Deny[0].String() != "10.0.9.0/24" || !r.Limits[0].HasMax || r.Limits[0].HasMin {
		t.Errorf("rule: %+v", r)
	}
	if u := p.Rules[1]; u.Services[1] != "CreateSubscription" || u.Ports[0] != 4840 {
		t.Errorf("services: %+v", u)
	}
	o := p.Maintenance[0]
	if !o.To.Equal(time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("overhaul ends %v", o.To)
	}
	if n := p.Maintenance[1]; n.Start != 22*60 || n.End != 150 || n.Days != 1<<time.Saturday|1<<time.Sunday {
		t.Errorf("night: %+v", n)
	}
}

// FuzzParse: whatever the file holds, Parse returns a policy or a rules
// Error, never panics, and a policy it returns is usable (its maintenance
// windows have a time zone, its limits name variables of the map).
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../simulator/rules.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("rules:\n  a:\n    modbus: {unit: [1, 2]}\n    functions: [3, read_coils]\n    writable: [\"holding 0-3\"]\n"))
	f.Add([]byte("variables:\n  V: {modbus: {unit: 1, holding: 65535}, type: float32}\n"))
	f.Add([]byte("maintenance:\n  w: {quiet: [new_master], from: \"22:00\", to: \"02:00\", days: [sat]}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("f.yaml", b)
		if err != nil {
			if !IsError(err) {
				t.Fatalf("not a rules error: %v", err)
			}
			return
		}
		for _, m := range p.Maintenance {
			if m.Location == nil {
				t.Fatal("window without a time zone")
			}
		}
		for _, r := range p.Rules {
			for _, l := range r.Limits {
				if l.Var < 0 || l.Var >= len(p.Variables) {
					t.Fatalf("limit on variable %d of %d", l.Var, len(p.Variables))
				}
			}
		}
	})
}
