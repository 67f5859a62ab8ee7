package store

import (
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/protocols/dnp3"
)

func init() {
	samples[baselines.DNP3] = func() *baselines.Observation {
		// An event poll (read of class 1, 2 and 3) answered.
		var req, resp dnp3.Message
		if req.Parse([]byte{0xC0, 0x01, 0x3C, 0x02, 0x06, 0x3C, 0x03, 0x06, 0x3C, 0x04, 0x06}) != nil ||
			resp.Parse([]byte{0xC0, 0x81, 0x00, 0x00}) != nil {
			panic("sample DNP3 fragments do not decode")
		}
		return sampleObservation(baselines.DNP3, 20000, &baselines.DNP3Obs{Master: 1, Outstation: 10, Request: &req, Response: &resp})
	}
}
