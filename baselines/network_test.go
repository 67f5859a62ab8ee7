package baselines

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// conv is a network observation of one conversation from client to
// server on TCP port at t.
func conv(t time.Time, client, server string, port uint16, svc string, failed bool) Observation {
	return Observation{Time: t, Protocol: Network, Responded: !failed,
		Endpoints: Endpoints{FlowID: 1, ClientIP: netip.MustParseAddr(client), ServerIP: netip.MustParseAddr(server), ClientPort: 40000, ServerPort: port},
		Detail:    &ConvObs{Transport: 6, Service: svc, Failed: failed, Rejected: failed}}
}

func rulesOf(as []Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Rule.String())
	}
	return out
}

// TestNetworkLifecycle: learned conversations pass; a new one alerts;
// accepting it learns its service on the channel (and the server then
// offers it); an accepted refused attempt quiets the pair's attempts.
func TestNetworkLifecycle(t *testing.T) {
	l := New(Config{Mode: Learn})
	l.Observe(ptr(conv(t0, "10.0.0.1", "10.0.0.2", 22, "ssh", false)))
	e := New(Config{Mode: Monitor})
	if err := e.Load(l.Snapshot()); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	if got := rulesOf(e.Observe(ptr(conv(at, "10.0.0.1", "10.0.0.2", 22, "ssh", false)))); len(got) != 0 {
		t.Fatalf("learned conversation: %v", got)
	}
	as := e.Observe(ptr(conv(at, "10.0.0.1", "10.0.0.2", 445, "smb", false)))
	if got := rulesOf(as); len(got) != 2 || got[0] != "new_conversation" || got[1] != "new_service" {
		t.Fatalf("new SMB: %v", got)
	}
	if _, err := e.Accept(as[0].Deviation, "op", "backup job", at, 1); err != nil {
		t.Fatal(err)
	}
	if got := rulesOf(e.Observe(ptr(conv(at.Add(time.Second), "10.0.0.1", "10.0.0.2", 445, "smb", false)))); len(got) != 0 {
		t.Fatalf("accepted SMB alerts again: %v", got)
	}
	// A client never seen: new_device only (no conversation between
	// known hosts; the server offers SMB now, so no new service).
	if got := rulesOf(e.Observe(ptr(conv(at, "10.0.0.3", "10.0.0.2", 445, "smb", false)))); len(got) != 1 || got[0] != "new_device" {
		t.Fatalf("unknown client: %v", got)
	}
	as = e.Observe(ptr(conv(at, "10.0.0.1", "10.0.0.2", 3389, "rdp", true)))
	if got := rulesOf(as); len(got) != 1 || got[0] != "new_conversation" || as[0].Item.What != "attempt" || as[0].Channel.Port != 0 {
		t.Fatalf("refused RDP: %v %+v", got, as)
	}
	if _, err := e.Accept(as[0].Deviation, "op", "scanner of the IT team", at, 2); err != nil {
		t.Fatal(err)
	}
	if got := rulesOf(e.Observe(ptr(conv(at.Add(time.Minute), "10.0.0.1", "10.0.0.2", 5900, "vnc", true)))); len(got) != 0 {
		t.Fatalf("accepted attempts alert again: %v", got)
	}
	for _, c := range e.Snapshot().Channels {
		if m := c.Model.(*NetworkModel); m.Services.Has("attempt") {
			t.Errorf("channel %s learned the service \"attempt\"", c.Key)
		}
	}
}

// TestDynamicPorts: a server's ports in the dynamic range are one channel
// per client and server: DCE/RPC on a new dynamic port is no new
// conversation, another service there is.
func TestDynamicPorts(t *testing.T) {
	l := New(Config{Mode: Learn})
	l.Observe(ptr(conv(t0, "10.0.0.1", "10.0.0.2", 49712, "dcerpc", false)))
	e := New(Config{Mode: Monitor})
	if err := e.Load(l.Snapshot()); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	if got := rulesOf(e.Observe(ptr(conv(at, "10.0.0.1", "10.0.0.2", 51003, "dcerpc", false)))); len(got) != 0 {
		t.Fatalf("DCE/RPC on another dynamic port: %v", got)
	}
	as := e.Observe(ptr(conv(at, "10.0.0.1", "10.0.0.2", 40022, "ssh", false)))
	if got := rulesOf(as); len(got) != 2 || got[0] != "new_conversation" {
		t.Fatalf("SSH on a dynamic port: %v", got)
	}
	if s := as[0].Signature; !strings.Contains(s, "tcp/40022") {
		t.Errorf("signature %q does not name the port", s)
	}
	if k := as[0].Channel; k.Port != dynamicPorts || !strings.Contains(k.String(), "tcp/32768-65535") {
		t.Errorf("channel %s", k)
	}
}
