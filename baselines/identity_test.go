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

// TestCertificateChanged: an OPC UA server that presents another
// certificate raises certificate_changed (not device_identity_changed), in
// learn mode once, the inventory then holding the new one; a build info
// read in between keeps the certificate; in monitor mode the inventory
// keeps the old one and the repeats are one deviation, counted.
func TestCertificateChanged(t *testing.T) {
	const a, b = "31486501bbd82721e310236be2b7841c375031fa", "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"
	opn := func(at time.Duration, thumb, notAfter string) Observation {
		o := ua(t0.Add(at), scada, "OpenSecureChannel")
		uaOf(&o).Server = &ServerInfo{CertThumbprint: thumb, CertSubject: "CN=Sluice dam simulator", CertNotAfter: notAfter}
		return o
	}
	build := ua(t0.Add(90*time.Second), scada, "Read")
	uaOf(&build).Server = &ServerInfo{SoftwareVersion: "2.4.1"}
	for _, mode := range []Mode{Learn, Monitor} {
		e := New(Config{Mode: mode})
		if mode == Monitor {
			l := New(Config{Mode: Learn})
			o := opn(0, a, "2126-11-10T03:13:41Z")
			l.Observe(&o)
			e.Load(l.Snapshot())
		}
		var got []Alert
		for _, o := range []Observation{opn(0, a, "2126-11-10T03:13:41Z"), opn(time.Minute, a, "2126-11-10T03:13:41Z"), build,
			opn(2*time.Minute, b, "2027-01-01T00:00:00Z"), opn(3*time.Minute, b, "2027-01-01T00:00:00Z")} {
			for _, al := range e.Observe(&o) {
				if al.Rule == CertificateChanged || al.Rule == DeviceIdentityChanged {
					got = append(got, al)
				}
			}
		}
		want := `OPC UA server 10.10.2.1 presents a new certificate: thumbprint "` + a + `" → "` + b + `", not after "2126-11-10T03:13:41Z" → "2027-01-01T00:00:00Z"`
		if len(got) != 1 || got[0].Rule != CertificateChanged || got[0].Signature != want || got[0].Severity != 1 ||
			!slices.Equal(got[0].Techniques, []string{"T0830"}) {
			t.Fatalf("%s: alerts %+v, want one %s", mode, got, want)
		}
		d := e.Snapshot().Device("10.10.2.1")
		wantThumb := b
		if mode == Monitor {
			wantThumb = a
		}
		if d == nil || d.Server == nil || d.Server.CertThumbprint != wantThumb {
			t.Fatalf("%s: inventory %+v", mode, d)
		}
		if mode == Learn && d.Server.SoftwareVersion != "2.4.1" {
			t.Errorf("the build info did not stay beside the certificate: %+v", d.Server)
		}
		recs := 0
		for _, r := range e.Snapshot().Alerts {
			if r.Rule == CertificateChanged {
				recs++
				if wc := map[Mode]uint64{Learn: 1, Monitor: 2}[mode]; r.Count != wc || r.Item.Node != b {
					t.Errorf("%s: alert record %+v, want count %d", mode, r, wc)
				}
			}
		}
		if recs != 1 {
			t.Errorf("%s: %d certificate_changed records", mode, recs)
		}
	}
}

// TestIdentityChangesKept: two successive firmware changes are two
// deviations in the alert log, each with its time and text (the report
// lists them), and accepting the first does not silence the second.
func TestIdentityChangesKept(t *testing.T) {
	e := New(Config{Mode: Learn})
	for i, rev := range []string{"2.4.1", "2.5.0", "2.6.0"} {
		o := mb(t0.Add(time.Duration(i)*time.Hour), hmi, 1, 43)
		mbOf(&o).MEIType = 14
		mbOf(&o).Ident = &DeviceIdent{VendorName: "Sluice Automation", Revision: rev}
		e.Observe(&o)
	}
	var texts []string
	for _, r := range e.Snapshot().Alerts {
		if r.Rule == DeviceIdentityChanged {
			texts = append(texts, r.First.Sub(t0).String()+" "+r.Text)
		}
	}
	slices.Sort(texts)
	if want := []string{`1h0m0s revision "2.4.1" → "2.5.0"`, `2h0m0s revision "2.5.0" → "2.6.0"`}; !slices.Equal(texts, want) {
		t.Errorf("alert log %q, want %q", texts, want)
	}
}

// TestIdentityPerUnit: behind one address (a gateway, the simulator's PLC
// with its dam and turbine units), another unit's identity is another
// device's: it raises nothing and does not mix into the inventory's, which
// keeps the first unit's; that unit's own change still raises.
func TestIdentityPerUnit(t *testing.T) {
	e := New(Config{Mode: Learn})
	ident := func(at time.Duration, unit uint8, product, rev string) Observation {
		o := mb(t0.Add(at), hmi, unit, 43)
		mbOf(&o).MEIType = 14
		mbOf(&o).Ident = &DeviceIdent{ProductCode: product, Revision: rev}
		return o
	}
	var sigs []string
	for _, o := range []Observation{ident(0, 1, "SLC-DAM-400", "v2.4.1"), ident(time.Minute, 2, "SLC-TGC-220", "v1.9.0"),
		ident(2*time.Minute, 1, "SLC-DAM-400", "v2.4.1"), ident(3*time.Minute, 1, "SLC-DAM-400", "v2.5.0")} {
		for _, a := range e.Observe(&o) {
			if a.Rule == DeviceIdentityChanged {
				sigs = append(sigs, a.Signature)
			}
		}
	}
	if want := `10.10.2.1 reports a new firmware: revision "v2.4.1" → "v2.5.0"`; len(sigs) != 1 || sigs[0] != want {
		t.Errorf("alerts %q, want one %q", sigs, want)
	}
	if d := e.Snapshot().Device("10.10.2.1"); d == nil || d.Ident == nil || *d.Ident != (DeviceIdent{ProductCode: "SLC-DAM-400", Revision: "v2.5.0", Unit: 1}) {
		t.Errorf("inventory %+v", d.Ident)
	}
}
