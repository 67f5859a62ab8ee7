package baselines

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

func init() { register(Network, &networkModel{}) }

// The network model (issue #11 §5): every conversation on the control
// network that no industrial protocol model decodes (SMB, RDP, SSH, DNS,
// TLS, a command-and-control channel…), as the agent's conversation layer
// reports it when its service is known (its first bytes) or when it ends
// (a rejected or unanswered attempt). A channel is (client IP, server IP,
// transport, server port): ChannelKey.Unit holds the transport's IP
// protocol number (6 TCP, 17 UDP, 1 ICMP…), Port the server's port (0 for
// a transport without ports). It learns the services seen on it and how
// many conversations and bytes it carried (its rough rate: Transactions
// over FirstSeen..LastSeen). Only conversations the server answered are
// learned; rejected and unanswered attempts are judged (a blocked lateral
// movement is still an alert) and counted by port_scan.
//
// The hosts of these conversations join the inventory with the roles
// net_client and net_server: new_device covers a host that speaks
// anything.

// Network is the conversations of every protocol the agent does not
// decode.
const Network Protocol = 4

// The roles of the ends of a network conversation.
const (
	RoleNetClient Roles = 1 << 6 // opens conversations
	RoleNetServer Roles = 1 << 7 // answers them
)

// The network rules (docs/alerts.md). The numbers are stable.
const (
	NewConversation        Rule = 42
	NewService             Rule = 43
	ITProtocolToController Rule = 44
	PortScan               Rule = 45
)

var networkRules = []ruleInfo{
	{NewConversation, "new_conversation", 2, "Lateral Movement", true, true, []string{"T0886", "T0867"}},
	{NewService, "new_service", 2, "Command and Control", true, true, []string{"T0869", "T0885"}},
	{ITProtocolToController, "it_protocol_to_controller", 1, "Remote Services", true, true, []string{"T0886", "T0822"}},
	{PortScan, "port_scan", 2, "Network Scanning", false, false, []string{"T0846"}},
}

// ConvObs is the Detail of a network observation: one conversation.
type ConvObs struct {
	// Transport is the IP protocol number (6 TCP, 17 UDP, 1 ICMP…).
	Transport uint8
	// Service names what the first bytes said (protocols/service's
	// names: "smb", "rdp", "tls", "unknown"), or, for a conversation
	// that carried no payload, what its server port usually carries.
	Service string
	// Failed: the server never answered (unanswered attempt) or refused
	// (Rejected: a TCP reset to the SYN).
	Failed, Rejected bool
	// Bytes is what the conversation carried both ways, when it ended
	// (0 when judged on its first bytes).
	Bytes uint64
	// ServerName is a name the client gave the server (TLS SNI, HTTP
	// Host), learned as one of its hostnames; empty when none.
	ServerName string
}

func (*ConvObs) detail() {}

// NetworkModel is the network model's part of a channel.
type NetworkModel struct {
	// Services counts the conversations of each service on the channel.
	Services Counts[string] `json:"services,omitempty"`
	// Bytes is what its conversations carried, both ways.
	Bytes uint64 `json:"bytes,omitempty"`
	// noPolls stays empty: a conversation is no poll (pollKey says so),
	// but the engine reads a channel's polls through polls().
	noPolls map[PollKey]*Rhythm
}

func (m *NetworkModel) polls() *map[PollKey]*Rhythm { return &m.noPolls }

func (m *NetworkModel) items(add func(format string, a ...any)) {
	addKeys(add, "service %s", m.Services)
}

func (m *NetworkModel) foldIn(d *Deviation, cfg *Config) {
	switch d.Rule {
	case NewConversation, NewService, ITProtocolToController:
		// An accepted attempt (item "attempt", port 0) learns nothing
		// but its channel: the pair's refused and unanswered attempts
		// are expected from then on.
		if d.Item.What != "" && d.Item.What != "attempt" {
			m.Services.add(d.Item.What)
		}
	}
}

func (m *NetworkModel) sanitize() { m.Services.sanitize() }

// controllerRoles are the roles of a host known as a PLC, RTU or
// outstation: the servers of the industrial protocols.
const controllerRoles = RoleModbusSlave | RoleDNP3Outstation

// remoteAccess are the services a controller has no business answering
// for an ordinary host: remote access and file sharing.
var remoteAccess = []string{"rdp", "smb", "ssh", "telnet", "vnc", "ftp"}

type networkModel struct{}

func (*networkModel) info() modelInfo {
	return modelInfo{name: "network", client: RoleNetClient, server: RoleNetServer,
		roleNames: [2]string{"net_client", "net_server"}, rules: networkRules, noRates: true}
}

func (*networkModel) read(o *Observation) (txn, bool) {
	d, _ := o.Detail.(*ConvObs)
	if d == nil || d.Transport == 0 {
		return txn{}, false
	}
	answered := o.Responded && !d.Failed
	return txn{unit: d.Transport, port: channelPort(o.ServerPort), answered: answered, learnable: answered}, true
}

// dynamicPorts is the first port of the range operating systems hand out
// dynamically (Linux from 32768, Windows from 49152): a server port there
// is one a service was given for the moment (DCE/RPC and OPC Classic's
// DCOM endpoints, FTP's passive data connections), not a service of its
// own. Every server port from it on is one channel per client and server,
// keyed by this port, its services telling them apart; a new port in the
// range is no new conversation, a new service on it is.
const dynamicPorts = 32768

// channelPort is the channel key's port of a server port.
func channelPort(p uint16) uint16 { return min(p, dynamicPorts) }

func (*networkModel) validKey(k ChannelKey) bool {
	return k.Unit != 0 && k.Master == 0 && k.Outstation == 0
}

func (*networkModel) newChannel() ChannelModel { return &NetworkModel{} }

func (*networkModel) channelName(k ChannelKey) string {
	return fmt.Sprintf("%s %s>%s", k.Protocol, k.Client, serverEndpoint(k))
}

func (*networkModel) serverName(k ChannelKey) string { return "host " + serverEndpoint(k) }

// serverEndpoint names the server's side of a channel: "10.0.0.5 tcp/445".
func serverEndpoint(k ChannelKey) string {
	return fmt.Sprintf("%s %s", k.Server, transportPort(k.Unit, k.Port))
}

// transportPort names a transport and port: "tcp/445", "udp/53", "icmp";
// a channel of the dynamic range "tcp/32768-65535".
func transportPort(transport uint8, port uint16) string {
	ports := strconv.Itoa(int(port))
	if port == dynamicPorts {
		ports = "32768-65535" // a channel's key (channelPort)
	}
	switch transport {
	case 6:
		return "tcp/" + ports
	case 17:
		return "udp/" + ports
	case 1:
		return "icmp"
	case 58:
		return "icmpv6"
	}
	return fmt.Sprintf("ip-proto-%d", transport)
}

func (*networkModel) pollKey(o *Observation) (PollKey, bool) { return PollKey{}, false }

// inventory keeps the names clients give the server (TLS SNI, HTTP Host).
func (*networkModel) inventory(srv *Device, o *Observation) {
	if d := o.Detail.(*ConvObs); o.ServerIP == srv.IP {
		addHostname(srv, d.ServerName)
	}
}

// maxHostnames bounds the names kept per device: a server behind many
// virtual hosts keeps its first ones.
const maxHostnames = 16

// addHostname adds name to d's hostnames (sorted, bounded) and reports
// whether it was new.
func addHostname(d *Device, name string) bool {
	if name == "" || slices.Contains(d.Hostnames, name) || len(d.Hostnames) >= maxHostnames {
		return false
	}
	d.Hostnames = append(d.Hostnames, name)
	slices.Sort(d.Hostnames)
	return true
}

// maxPendingNames bounds the names kept for addresses not (yet) in the
// inventory.
const maxPendingNames = 4096

// NameHost records that the network calls ip name (a DNS answer, a DHCP
// client's host name): a device's hostnames in the inventory. A name for
// an address not in the inventory waits (bounded) until the address
// talks. Monitor mode changes nothing.
func (e *Engine) NameHost(ip netip.Addr, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg.Mode == Monitor || name == "" || !ip.IsValid() {
		return
	}
	ip = ip.Unmap()
	if d := e.devices[ip]; d != nil {
		if addHostname(&d.Device, name) {
			d.dirty = true
		}
		return
	}
	if e.pendingNames == nil {
		e.pendingNames = map[netip.Addr][]string{}
	}
	if ns := e.pendingNames[ip]; len(e.pendingNames) < maxPendingNames && !slices.Contains(ns, name) && len(ns) < maxHostnames {
		e.pendingNames[ip] = append(ns, name)
	}
}

// namePending gives a new device the names the network gave its address
// before it talked.
func (e *Engine) namePending(d *device) {
	for _, n := range e.pendingNames[d.IP] {
		addHostname(&d.Device, n)
	}
	delete(e.pendingNames, d.IP)
}

func (*networkModel) deviceItems(d *Device) []string {
	out := make([]string, 0, len(d.Hostnames))
	for _, h := range d.Hostnames {
		out = append(out, "hostname "+h)
	}
	return out
}

func (*networkModel) learn(e *Engine, c *channel, rt *chanRuntime, o *Observation) (f found) {
	d := o.Detail.(*ConvObs)
	m := c.Model.(*NetworkModel)
	if _, isNew := m.Services.add(d.Service); isNew {
		f.newItems++
	}
	m.Bytes += d.Bytes
	return f
}

// judge raises, for a conversation the channel never carried (or a service
// it never carried): it_protocol_to_controller when it is remote access or
// file sharing to a controller, new_conversation between two known hosts,
// and new_service when the server answered on a service it never offered
// to anyone.
func (*networkModel) judge(e *Engine, c *channel, rt *chanRuntime, o *Observation) (f found) {
	d, key := o.Detail.(*ConvObs), rt.key
	if c != nil && c.Model.(*NetworkModel).Services.Has(d.Service) {
		return f
	}
	item := Item{What: d.Service}
	how := ""
	switch {
	case d.Rejected:
		how = " (rejected)"
	case d.Failed:
		how = " (unanswered)"
	}
	srv, cli := e.devices[key.Server], e.devices[key.Client]
	// A session, not an attempt: a refused or unanswered one is a new
	// conversation (below) or part of a scan (port_scan), and names its
	// service only by port.
	if srv != nil && !d.Failed && srv.Roles&controllerRoles != 0 && slices.Contains(remoteAccess, d.Service) {
		if a := e.raise(o.Time, ITProtocolToController, key, item, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("%s opens %s to controller %s (%s) over %s%s",
				key.Client, strings.ToUpper(d.Service), key.Server, srv.Roles, transportPort(key.Unit, o.ServerPort), how))
		}
	}
	if srv != nil && cli != nil {
		ck := key
		if d.Failed {
			// Refused or unanswered attempts between two hosts are one
			// deviation whatever the port (counted): a blocked lateral
			// movement alerts once, a scan does not raise one per port
			// (port_scan says it is a scan).
			ck.Port, item = 0, Item{What: "attempt"}
		}
		if accepted := d.Failed && e.channels[ck] != nil; !accepted { // attempts between the two, accepted
			if a := e.raise(o.Time, NewConversation, ck, item, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("New conversation: %s talks %s to %s over %s for the first time%s",
					key.Client, d.Service, key.Server, transportPort(key.Unit, o.ServerPort), how))
			}
		}
	}
	if srv != nil && o.Responded && !d.Failed && !e.offers(key, d.Service) {
		// Keyed by the channel that revealed it: accepting it learns
		// the service there, and offers then finds it for every client.
		if a := e.raise(o.Time, NewService, key, item, &o.Endpoints, o, nil); a != nil {
			e.sign(a, fmt.Sprintf("New service: %s answers %s on %s, never offered before (first to %s)",
				key.Server, d.Service, transportPort(key.Unit, o.ServerPort), key.Client))
		}
	}
	return f
}

// offers reports whether the baseline has the server of key answering
// service on key's transport and port to any client. It walks the
// channels: it is asked only of a conversation the baseline does not know.
func (e *Engine) offers(key ChannelKey, service string) bool {
	for k, c := range e.channels {
		if k.Protocol == Network && k.Server == key.Server && k.Unit == key.Unit && k.Port == key.Port &&
			c.Model.(*NetworkModel).Services.Has(service) {
			return true
		}
	}
	return false
}

// signatures: port_scan, in every mode.
func (*networkModel) signatures(e *Engine, o *Observation, rt *chanRuntime) {
	d := o.Detail.(*ConvObs)
	if !d.Failed {
		return
	}
	e.portScan(o, rt.key)
}

// scanTarget is one (server, transport, port) a source probed.
type scanTarget struct {
	server    netip.Addr
	transport uint8
	port      uint16
}

// scanner is one source's failed attempts within the window.
type scanner struct {
	targets map[scanTarget]time.Time
}

// maxScanners bounds the sources port_scan follows at once; past it the
// stalest are forgotten.
const maxScanners = 4096

// portScan counts a failed attempt of the client of key and raises
// port_scan when it probed PortScanTargets distinct ports or hosts within
// PortScanWindow.
func (e *Engine) portScan(o *Observation, key ChannelKey) {
	if e.scanners == nil {
		e.scanners = map[netip.Addr]*scanner{}
	}
	s := e.scanners[key.Client]
	if s == nil {
		if len(e.scanners) >= maxScanners {
			e.forgetScanners(o.Time)
		}
		s = &scanner{targets: map[scanTarget]time.Time{}}
		e.scanners[key.Client] = s
	}
	for t, at := range s.targets {
		if o.Time.Sub(at) > e.cfg.PortScanWindow {
			delete(s.targets, t)
		}
	}
	s.targets[scanTarget{key.Server, key.Unit, o.ServerPort}] = o.Time // the real port, not the channel's
	if len(s.targets) < e.cfg.PortScanTargets {
		return
	}
	hosts := map[netip.Addr]int{}
	var ports []string
	for t := range s.targets {
		hosts[t.server]++
		ports = append(ports, t.server.String()+" "+transportPort(t.transport, t.port))
	}
	slices.Sort(ports)
	if len(ports) > 8 {
		ports = append(ports[:8], "…")
	}
	// The alert is about the scan, not the conversation that completed
	// it: its destination is the host probed most (the lowest address
	// of a tie), without ports or flow.
	var top netip.Addr
	for h, n := range hosts {
		if n > hosts[top] || n == hosts[top] && h.Less(top) {
			top = h
		}
	}
	ep := Endpoints{ClientIP: key.Client, ServerIP: top, ClientMAC: o.ClientMAC}
	sk := ChannelKey{Protocol: Network, Client: key.Client}
	if a := e.raise(o.Time, PortScan, sk, Item{What: "scan"}, &ep, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("Port scan: %s probed %d ports on %d hosts within %s, rejected or unanswered (%s)",
			key.Client, len(s.targets), len(hosts), e.cfg.PortScanWindow, strings.Join(ports, ", ")))
	}
}

// forgetScanners drops the sources whose newest attempt is outside the
// window, or, when none is, half of them (the map's order).
func (e *Engine) forgetScanners(now time.Time) {
	for ip, s := range e.scanners {
		stale := true
		for _, at := range s.targets {
			if now.Sub(at) <= e.cfg.PortScanWindow {
				stale = false
				break
			}
		}
		if stale {
			delete(e.scanners, ip)
		}
	}
	for ip := range e.scanners {
		if len(e.scanners) < maxScanners/2 {
			break
		}
		delete(e.scanners, ip)
	}
}
