package agent

import (
	"slices"
	"testing"

	"github.com/sluice-ics/sluice/baselines"
)

// TestModulesHaveModels fails when a protocol module names a baseline
// protocol that has no registered model (its observations would be
// dropped), or one whose name differs from the module's (events and
// channels would name the protocol differently).
func TestModulesHaveModels(t *testing.T) {
	names := map[string]bool{}
	for _, m := range modules {
		if names[m.name] {
			t.Errorf("protocol %q is registered twice", m.name)
		}
		names[m.name] = true
		if m.baseline == 0 {
			t.Logf("%s has no baseline model: events only", m.name)
			continue
		}
		if !slices.Contains(baselines.Protocols(), m.baseline) {
			t.Errorf("module %s names baseline protocol %d, which has no model: register one in baselines/%s.go", m.name, m.baseline, m.name)
		} else if got := m.baseline.String(); got != m.name {
			t.Errorf("module %s's baseline protocol is named %q", m.name, got)
		}
	}
}
