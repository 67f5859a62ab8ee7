package report

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/baselines"
)

// TestNetworkConversations: the conversations no ICS protocol decodes are
// in the inventory (every host, with the names clients gave it), in the
// matrix and the map (drawn apart: class net) and in the baseline (the
// services of each channel); a hostile SNI is escaped.
func TestNetworkConversations(t *testing.T) {
	e := baselines.New(baselines.Config{Mode: baselines.Learn})
	ws, fs := netip.MustParseAddr("10.1.1.10"), netip.MustParseAddr("10.1.1.20")
	evil := `files<script>alert(1)</script>.dam.local`
	for i, c := range []struct {
		port uint16
		svc  string
		name string
	}{{445, "smb", ""}, {445, "smb", ""}, {443, "tls", evil}} {
		o := baselines.Observation{Time: t0.Add(time.Duration(i) * time.Second), Protocol: baselines.Network, Responded: true,
			Endpoints: baselines.Endpoints{FlowID: uint64(i + 1), ClientIP: ws, ServerIP: fs, ClientPort: 40000, ServerPort: c.port},
			Detail:    &baselines.ConvObs{Transport: 6, Service: c.svc, Bytes: 1000, ServerName: c.name}}
		e.Observe(&o)
	}
	r := build(t, e.Snapshot(), genT)
	if len(r.Devices) != 2 {
		t.Fatalf("devices %+v", r.Devices)
	}
	var server *Device
	for i := range r.Devices {
		if r.Devices[i].IP == fs.String() {
			server = &r.Devices[i]
		}
	}
	if server == nil || server.Client || len(server.Identity) != 1 || server.Identity[0].Value != evil {
		t.Fatalf("server %+v", server)
	}
	if r.Matrix.Cells[0][0].Transactions != 3 || strings.Join(r.Matrix.Cells[0][0].Protocols, ",") != "network" {
		t.Errorf("matrix %+v", r.Matrix)
	}
	if m := buildMap(r); len(m.Links) != 1 || m.Links[0].Class != "net" {
		t.Errorf("map links %+v", m.Links)
	}
	var services []string
	for _, ch := range r.Baselines[0].Channels {
		for _, s := range ch.Services {
			services = append(services, s.Name)
		}
	}
	if strings.Join(services, ",") != "tls,smb" && strings.Join(services, ",") != "smb,tls" {
		t.Errorf("services %v", services)
	}
	html := render(t, r, HTML)
	if bytes.Contains(html, []byte("<script>")) || !bytes.Contains(html, []byte("files&lt;script&gt;alert(1)&lt;/script&gt;.dam.local")) {
		t.Error("the hostile hostname is not escaped in the HTML report")
	}
}
