package baselines

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDeviceIdentityChanged: a PLC that reports another revision than the
// one the inventory holds raises device_identity_changed (a firmware
// change), in learn mode too, and the inventory then holds the new one; a
// report of the same identity, or the first ever, raises nothing; an OPC
// UA server's new build number is a firmware change as well.
func TestDeviceIdentityChanged(t *testing.T) {
	e := New(Config{Mode: Learn})
	ident := func(at time.Duration, rev string) Observation {
		o := mb(t0.Add(at), hmi, 1, 43)
		mbOf(&o).MEIType = 14
		mbOf(&o).Ident = &DeviceIdent{VendorName: "Sluice Automation", ProductCode: "DC-400", Revision: rev}
		return o
	}
	var got []Alert
	for i, o := range []Observation{ident(0, "2.4.1"), ident(time.Minute, "2.4.1"), ident(2*time.Minute, "2.5.0"), ident(3*time.Minute, "2.5.0")} {
		for _, a := range e.Observe(&o) {
			if a.Rule == DeviceIdentityChanged {
				got = append(got, a)
				if i != 2 {
					t.Errorf("report %d raised %s", i, a.Signature)
				}
			}
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d identity alerts, want 1", len(got))
	}
	if a := got[0]; a.Severity != 1 || a.Text != `revision "2.4.1" → "2.5.0"` ||
		a.Signature != `10.10.2.1 reports a new firmware: revision "2.4.1" → "2.5.0"` || !slices.Contains(a.Techniques, "T0839") {
		t.Errorf("alert %+v", a)
	}

	// OPC UA: a new build.
	o := ua(t0.Add(4*time.Minute), scada, "GetEndpoints")
	uaOf(&o).Server = &ServerInfo{AppURI: "urn:dam", SoftwareVersion: "2.4.1", BuildNumber: "100"}
	e.Observe(&o)
	o2 := ua(t0.Add(5*time.Minute), scada, "GetEndpoints")
	uaOf(&o2).Server = &ServerInfo{AppURI: "urn:dam", SoftwareVersion: "2.4.1", BuildNumber: "101"}
	var sigs []string
	for _, a := range e.Observe(&o2) {
		if a.Rule == DeviceIdentityChanged {
			sigs = append(sigs, a.Signature)
		}
	}
	if len(sigs) != 1 || !strings.Contains(sigs[0], `new firmware: build "100" → "101"`) {
		t.Errorf("OPC UA alerts %q", sigs)
	}
}

// TestDNP3IdentityChanged: an outstation whose software version attribute
// (g0v242) changes raises a firmware change.
func TestDNP3IdentityChanged(t *testing.T) {
	e := New(Config{Mode: Learn})
	attr := func(at time.Duration, ver string) Observation {
		resp := response(t, 0, append([]byte{0x00, 0xF2, 0x00, 0x00, 0x00, 0x01, byte(len(ver))}, ver...)...)
		return dn(t0.Add(at), scada, request(t, 0x01, 0x00, 0xF2, 0x00, 0x00, 0x00), resp)
	}
	var sigs []string
	for _, o := range []Observation{attr(0, "7.1"), attr(time.Minute, "7.1"), attr(2*time.Minute, "7.2")} {
		for _, a := range e.Observe(&o) {
			if a.Rule == DeviceIdentityChanged {
				sigs = append(sigs, a.Signature)
			}
		}
	}
	if len(sigs) != 1 || sigs[0] != `10.10.4.20 reports a new firmware: software version "7.1" → "7.2"` {
		t.Errorf("alerts %q", sigs)
	}
	if d := e.Snapshot().Device(rtu.String()); d == nil || d.DNP3 == nil || d.DNP3.Attributes["software_version"] != "7.2" {
		t.Errorf("inventory %+v", d)
	}
}
