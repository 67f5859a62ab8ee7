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

// DeviceIdentityChanged is the rule; its number is stable.
const DeviceIdentityChanged Rule = 33

func init() {
	addRules([]ruleInfo{
		{DeviceIdentityChanged, "device_identity_changed", 1, "System Firmware", false, false, []string{"T0839", "T0857"}},
	})
}

// identifier is a model whose transactions report the server's identity:
// identityChange compares what o reports with what the inventory holds
// for srv and describes the fields that differ ("revision "1.2" →
// "1.3""), firmware set when one of them is a version. Empty: nothing
// reported, nothing known yet, or the same.
type identifier interface {
	identityChange(srv *Device, o *Observation) (change string, firmware bool)
}

// identityDiff collects the differences of (name, old, new) triples whose
// old and new values are both known; firmware marks the version fields.
type identityDiff struct {
	parts    []string
	firmware bool
}

func (d *identityDiff) field(name, old, new string, version bool) {
	if old == "" || new == "" || old == new {
		return
	}
	d.parts = append(d.parts, fmt.Sprintf("%s %q → %q", name, old, new))
	d.firmware = d.firmware || version
}

func (d *identityDiff) result() (string, bool) { return strings.Join(d.parts, ", "), d.firmware }

func (*modbusModel) identityChange(srv *Device, o *Observation) (string, bool) {
	n := o.Detail.(*ModbusObs).Ident
	if n == nil || srv.Ident == nil {
		return "", false
	}
	old, d := srv.Ident, identityDiff{}
	d.field("vendor", old.VendorName, n.VendorName, false)
	d.field("product code", old.ProductCode, n.ProductCode, false)
	d.field("revision", old.Revision, n.Revision, true)
	d.field("product", old.ProductName, n.ProductName, false)
	d.field("model", old.ModelName, n.ModelName, false)
	d.field("server id", old.ServerID, n.ServerID, false)
	return d.result()
}

func (*opcuaModel) identityChange(srv *Device, o *Observation) (string, bool) {
	n := o.Detail.(*OPCUAObs).Server
	if n == nil || srv.Server == nil {
		return "", false
	}
	old, d := srv.Server, identityDiff{}
	d.field("application URI", old.AppURI, n.AppURI, false)
	d.field("product URI", old.ProductURI, n.ProductURI, false)
	d.field("manufacturer", old.ManufacturerName, n.ManufacturerName, false)
	d.field("product", old.ProductName, n.ProductName, false)
	d.field("software version", old.SoftwareVersion, n.SoftwareVersion, true)
	d.field("build", old.BuildNumber, n.BuildNumber, true)
	return d.result()
}

func (*dnp3Model) identityChange(srv *Device, o *Observation) (string, bool) {
	d := o.Detail.(*DNP3Obs)
	if srv.DNP3 == nil || len(srv.DNP3.Attributes) == 0 || d.Response == nil || d.Response.Err != nil {
		return "", false
	}
	var diff identityDiff
	eachAttribute(d.Response, func(name, v string) {
		diff.field(strings.ReplaceAll(name, "_", " "), srv.DNP3.Attributes[name], v,
			name == "software_version" || name == "hardware_version")
	})
	return diff.result()
}

// identity raises device_identity_changed when o reports an identity of
// its server other than the inventory's.
func (e *Engine) identity(p *proto, srv *device, o *Observation, key ChannelKey) {
	change, firmware := p.identifier.identityChange(&srv.Device, o)
	if change == "" {
		return
	}
	k := ChannelKey{Protocol: key.Protocol, Client: key.Client, Server: key.Server}
	if a := e.raiseValue(o.Time, DeviceIdentityChanged, k, Item{What: "identity"}, 0, change, &o.Endpoints, o, nil); a != nil {
		what := "a new identity"
		if firmware {
			what = "a new firmware"
		}
		e.sign(a, fmt.Sprintf("%s reports %s: %s", key.Server, what, change))
	}
}
