package store

import "github.com/sluice-ics/sluice/baselines"

func init() {
	samples[baselines.OPCUA] = func() *baselines.Observation {
		return sampleObservation(baselines.OPCUA, 4840, &baselines.OPCUAObs{Service: "Read", Read: []string{"ns=2;s=Level"}})
	}
}
