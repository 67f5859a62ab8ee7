package store

import "github.com/sluice-ics/sluice/baselines"

func init() {
	samples[baselines.Network] = func() *baselines.Observation {
		// An SMB session from a workstation to a file server, answered.
		return sampleObservation(baselines.Network, 445, &baselines.ConvObs{Transport: 6, Service: "smb", Bytes: 4096})
	}
}
