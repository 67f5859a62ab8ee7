package simulator

import (
	"math"
	"testing"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/modbus"
	"github.com/sluice-ics/sluice/rules"
)

// The register map of the example rules file (rules.yaml) is the tag
// table's: every tag, at its unit, table and address, with its scale,
// engineering unit and OPC UA node, and nothing else. A tag moved in
// tags.go without the file fails here.
func TestRulesFileNamesEveryTag(t *testing.T) {
	p, err := rules.Load("rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tables := map[Table]modbus.Table{Coils: modbus.TableCoils, DiscreteInputs: modbus.TableDiscreteInputs,
		InputRegisters: modbus.TableInputRegisters, HoldingRegisters: modbus.TableHoldingRegisters}
	vars := map[string]*baselines.Variable{}
	for i := range p.Variables {
		vars[p.Variables[i].Name] = &p.Variables[i]
	}
	if len(vars) != len(Tags) {
		t.Errorf("%d variables for %d tags", len(vars), len(Tags))
	}
	for _, tag := range Tags {
		v := vars[tag.Name]
		if v == nil {
			t.Errorf("%s: not in rules.yaml", tag.Name)
			continue
		}
		scale := 1.0
		typ := baselines.Bool
		if tag.Kind == Analog {
			scale, typ = 1/tag.Scale, baselines.Uint16
		}
		if !v.InModbus || v.Server.Addr() != HostPLC.IP || v.Unit != tag.UnitID || v.Table != tables[tag.Table] || v.Addr != tag.Addr ||
			v.Type != typ || math.Abs(v.Scale-scale) > 1e-12 || v.EngUnit != tag.Unit ||
			v.Node != tag.NodeID() || v.NodeServer.Addr() != HostUAServer.IP {
			t.Errorf("%s: %+v, want unit %d %s %d scale %g unit %q node %s", tag.Name, *v, tag.UnitID, tag.Table, tag.Addr, scale, tag.Unit, tag.NodeID())
		}
	}
}
