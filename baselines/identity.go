package baselines

import (
	"fmt"
	"strings"
)

// device_identity_changed (issue #14 §2): a device reports an identity
// other than the one the inventory holds for it — a Modbus FC 43/14 or
// FC 17 identity, an OPC UA server's application description and build
// info, DNP3 device attributes (group 0). A changed revision, software
// version or build is a firmware change (T0839 Module Firmware, T0857
// System Firmware); any other field, a device that now says it is another
// one. A signature rule: it fires in every mode, learning included, as an
// upgrade during commissioning is still worth a line; accept it to silence
// the new identity's repeats until the inventory holds it (learn mode).

// certificate_changed (issue #14 §2): an OPC UA server presents an
// application instance certificate other than the one the inventory holds
// for it (the OPN response's sender certificate, seen in the clear under
// every security policy, or a CreateSession or GetEndpoints response's).
// A server's certificate changes when it is renewed, and when someone else
// answers in its place: an adversary in the middle must present its own
// certificate to read or change a secured channel (T0830). A rule of its
// own, not device_identity_changed with other techniques: a SIEM keys its
// playbooks on the rule, and a new certificate wants another one than a
// new firmware. Signature rule, like device_identity_changed.

// DeviceIdentityChanged and CertificateChanged are the rules; their
// numbers are stable.
const (
	DeviceIdentityChanged Rule = 33
	CertificateChanged    Rule = 35
)

func init() {
	addRules([]ruleInfo{
		{DeviceIdentityChanged, "device_identity_changed", 1, "System Firmware", false, false, []string{"T0839", "T0857"}},
		{CertificateChanged, "certificate_changed", 1, "Adversary-in-the-Middle", false, false, []string{"T0830"}},
	})
}

// identifier is a model whose transactions report the server's identity:
// identityChange compares what o reports with what the inventory holds
// for srv and describes the fields that differ ("revision "1.2" →
// "1.3""), firmware set when one of them is a version, and a new
// certificate apart (cert). Empty: nothing reported, nothing known yet, or
// the same.
type identifier interface {
	identityChange(srv *Device, o *Observation) identityDiff
}

// identityDiff collects the differences of (name, old, new) triples whose
// old and new values are both known; firmware marks the version fields.
// cert describes a new certificate, certID is its thumbprint.
type identityDiff struct {
	parts        []string
	firmware     bool
	cert, certID string
}

func (d *identityDiff) field(name, old, new string, version bool) {
	if old == "" || new == "" || old == new {
		return
	}
	d.parts = append(d.parts, fmt.Sprintf("%s %q → %q", name, old, new))
	d.firmware = d.firmware || version
}

func (*modbusModel) identityChange(srv *Device, o *Observation) identityDiff {
	m := o.Detail.(*ModbusObs)
	n := m.Ident
	if n == nil || srv.Ident == nil || srv.Ident.Unit != m.Unit {
		// Another unit behind the same address is another device.
		return identityDiff{}
	}
	old, d := srv.Ident, identityDiff{}
	d.field("vendor", old.VendorName, n.VendorName, false)
	d.field("product code", old.ProductCode, n.ProductCode, false)
	d.field("revision", old.Revision, n.Revision, true)
	d.field("product", old.ProductName, n.ProductName, false)
	d.field("model", old.ModelName, n.ModelName, false)
	d.field("server id", old.ServerID, n.ServerID, false)
	return d
}

func (*opcuaModel) identityChange(srv *Device, o *Observation) identityDiff {
	n := o.Detail.(*OPCUAObs).Server
	if n == nil || srv.Server == nil {
		return identityDiff{}
	}
	old, d := srv.Server, identityDiff{}
	d.field("application URI", old.AppURI, n.AppURI, false)
	d.field("product URI", old.ProductURI, n.ProductURI, false)
	d.field("manufacturer", old.ManufacturerName, n.ManufacturerName, false)
	d.field("product", old.ProductName, n.ProductName, false)
	d.field("software version", old.SoftwareVersion, n.SoftwareVersion, true)
	d.field("build", old.BuildNumber, n.BuildNumber, true)
	if old.CertThumbprint != "" && n.CertThumbprint != "" && old.CertThumbprint != n.CertThumbprint {
		c := identityDiff{}
		c.field("thumbprint", old.CertThumbprint, n.CertThumbprint, false)
		c.field("subject", old.CertSubject, n.CertSubject, false)
		c.field("not after", old.CertNotAfter, n.CertNotAfter, false)
		d.cert, d.certID = strings.Join(c.parts, ", "), n.CertThumbprint
	}
	return d
}

func (*dnp3Model) identityChange(srv *Device, o *Observation) identityDiff {
	d := o.Detail.(*DNP3Obs)
	if srv.DNP3 == nil || len(srv.DNP3.Attributes) == 0 || d.Response == nil || d.Response.Err != nil {
		return identityDiff{}
	}
	var diff identityDiff
	eachAttribute(d.Response, func(name, v string) {
		diff.field(strings.ReplaceAll(name, "_", " "), srv.DNP3.Attributes[name], v,
			name == "software_version" || name == "hardware_version")
	})
	return diff
}

// identity raises device_identity_changed when o reports an identity of
// its server other than the inventory's, and certificate_changed when it
// presents another certificate. Each change is a deviation of its own
// (the item says what changed, "identity", "firmware" or "certificate",
// and names the change), so the alert log keeps every change with its first
// time for the report, and accepting one change does not silence the next.
func (e *Engine) identity(p *proto, srv *device, o *Observation, key ChannelKey) {
	d := p.identifier.identityChange(&srv.Device, o)
	k := ChannelKey{Protocol: key.Protocol, Client: key.Client, Server: key.Server}
	if len(d.parts) > 0 {
		change, what := strings.Join(d.parts, ", "), "identity"
		if d.firmware {
			what = "firmware"
		}
		if a := e.raiseValue(o.Time, DeviceIdentityChanged, k, Item{What: what, Node: change}, 0, change, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("%s reports a new %s: %s", key.Server, what, change))
		}
	}
	if d.cert != "" {
		if a := e.raiseValue(o.Time, CertificateChanged, k, Item{What: "certificate", Node: d.certID}, 0, d.cert, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("OPC UA server %s presents a new certificate: %s", key.Server, d.cert))
		}
	}
}
