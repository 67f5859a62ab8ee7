package agent

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/communityid"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/internal/jsonw"
	"github.com/sluice-ics/sluice/protocols/service"
)

// The conversation layer's glue (issue #11 §2, §5): the flow table counts
// every conversation, decoded or not, and tells the agent, through this
// observer, its first bytes (for one no protocol module decodes) and its
// end. The agent names the service from the first bytes
// (protocols/service), hands the conversation to the baselines' network
// model (new_conversation, new_service, it_protocol_to_controller,
// port_scan, new_device for any host), and writes a flow event per
// finished conversation, shaped like Suricata's.

// EventFlow is the event_type of a finished conversation.
const EventFlow = "flow"

// convObserver implements flow.Observer for the agent.
type convObserver struct {
	a *Agent
	// obs and detail are the observation reused for every conversation.
	obs    baselines.Observation
	detail baselines.ConvObs
	addrs  []byte
}

// FirstBytes names the service of a conversation no module decodes and
// judges it when the first bytes show it answered: a TCP conversation
// that carried data went through its handshake; a datagram conversation
// counts as answered when its server sent something. The others are
// judged when they end, with their state (Ended).
func (o *convObserver) FirstBytes(c *flow.Conn, toServer, toClient []byte, ts time.Time) {
	if len(toServer) == 0 && len(toClient) == 0 {
		return // at its end, without payload: Ended judges it
	}
	if c.Transport == flow.TransportUDP && c.Key.ServerPort == 67 {
		// A DHCP request, broadcast (no answer on this conversation):
		// the client's host name and address.
		if n, ok := service.DHCPHost(toServer); ok {
			o.a.engine.NameHost(n.Addr, n.Name)
		}
	}
	answered := len(toClient) > 0 || c.Transport == flow.TransportTCP
	if !answered {
		return
	}
	in := identify(c, toServer, toClient)
	c.AppProto = in.Service
	o.names(c, in.Service, toServer, toClient)
	name := in.SNI
	if name == "" {
		name = in.HTTPHost
	}
	o.judge(c, ts, time.Time{}, in.Service, name, true, false, false, 0)
}

// Ended judges a conversation that was not judged on its first bytes
// (an attempt, a conversation without payload, one whose server never
// spoke) and writes its flow event.
func (o *convObserver) Ended(c *flow.Conn, s *flow.Summary) {
	if c.AppProto == "" {
		in := identify(c, nil, nil)
		responded := s.Pkts[flow.ServerToClient] > 0 && s.State != flow.StateRejected
		failed := s.State.Failed() || (c.Transport != flow.TransportTCP && !responded)
		o.judge(c, s.End, s.Start, in.Service, "", responded, failed, s.State == flow.StateRejected, s.Bytes[0]+s.Bytes[1])
	}
	o.a.writeFlow(c, s)
}

// names hands the baselines the host names an answered conversation's
// first bytes bind to addresses: a DNS response's A and AAAA records.
func (o *convObserver) names(c *flow.Conn, svc string, toServer, toClient []byte) {
	if svc == service.DNS && c.Transport == flow.TransportUDP {
		for _, n := range service.DNSAnswers(toClient) {
			o.a.engine.NameHost(n.Addr, n.Name)
		}
	}
}

// identify names the service of a conversation from its first bytes; for
// transports without ports, the transport.
func identify(c *flow.Conn, toServer, toClient []byte) service.Info {
	switch c.Transport {
	case flow.TransportTCP:
		return service.Identify(service.TCP, c.Key.ServerPort, toServer, toClient)
	case flow.TransportUDP:
		return service.Identify(service.UDP, c.Key.ServerPort, toServer, toClient)
	}
	return service.Info{Service: strings.ToLower(transportName(c.Transport)), ByPort: true}
}

// judge hands one conversation to the baselines and writes its alerts.
func (o *convObserver) judge(c *flow.Conn, ts, start time.Time, svc, serverName string, responded, failed, rejected bool, bytes uint64) {
	a := o.a
	d := &o.detail
	*d = baselines.ConvObs{Transport: c.Transport, Service: svc, Failed: failed, Rejected: rejected, Bytes: bytes, ServerName: serverName}
	ob := &o.obs
	*ob = baselines.Observation{Time: ts, RequestTime: start, Protocol: baselines.Network, Responded: responded, Detail: d,
		Endpoints: baselines.Endpoints{FlowID: c.ID, ClientIP: c.Key.ClientIP, ServerIP: c.Key.ServerIP,
			ClientMAC: c.ClientMAC, ServerMAC: c.ServerMAC, ClientPort: c.Key.ClientPort, ServerPort: c.Key.ServerPort}}
	if !flow.HasPorts(c.Transport) {
		ob.ClientPort, ob.ServerPort = 0, 0
	}
	alerts := a.engine.Observe(ob)
	if len(alerts) == 0 {
		return
	}
	o.addrs = appendConvAddrs(o.addrs[:0], c)
	a.convAddrs = o.addrs
	defer func() { a.convAddrs = nil }()
	attach := func(b []byte) []byte {
		b = append(b, `,"app_proto":`...)
		return jsonw.String(b, svc)
	}
	a.writeMerged(alerts, func(al *baselines.Alert, also []baselines.Alert) { a.writeAlert(al, nil, nil, also, attach) })
}

// transportName is a transport's name in the events' proto field, as
// Suricata writes it.
func transportName(transport uint8) string {
	switch transport {
	case flow.TransportTCP:
		return "TCP"
	case flow.TransportUDP:
		return "UDP"
	case flow.TransportICMP:
		return "ICMP"
	case flow.TransportICMPv6:
		return "IPv6-ICMP"
	case 2:
		return "IGMP"
	case 47:
		return "GRE"
	case 50:
		return "ESP"
	case 51:
		return "AH"
	case 89:
		return "OSPF"
	case 103:
		return "PIM"
	case 112:
		return "VRRP"
	case communityid.SCTP:
		return "SCTP"
	}
	return strconv.Itoa(int(transport))
}

// appendConvAddrs appends the address fields of conversation c: src and
// dest (with ports for TCP and UDP), proto and community_id (ICMP's with
// the type and code the Conn holds as its ports).
func appendConvAddrs(b []byte, c *flow.Conn) []byte {
	k := &c.Key
	if c.Transport == flow.TransportTCP || c.Transport == flow.TransportUDP {
		return appendAddrsProto(b, k.ClientIP, k.ServerIP, k.ClientPort, k.ServerPort, true, c.Transport)
	}
	b = append(b, `,"src_ip":`...)
	b = appendAddr(b, k.ClientIP)
	b = append(b, `,"dest_ip":`...)
	b = appendAddr(b, k.ServerIP)
	b = append(b, `,"proto":"`...)
	b = append(b, transportName(c.Transport)...)
	b = append(b, `","community_id":"`...)
	b = communityid.AppendV1(b, 0, netip.AddrPortFrom(k.ClientIP, k.ClientPort), netip.AddrPortFrom(k.ServerIP, k.ServerPort), c.Transport)
	return append(b, '"')
}

// flowReasons name a flow.CloseReason in the flow event's reason:
// Suricata's timeout, forced (evicted by the cap) and shutdown (the end
// of the capture or of the run), and closed for a connection that ended
// with FIN or a reset.
var flowReasons = [...]string{flow.CloseFIN: "closed", flow.CloseRST: "closed", flow.CloseIdle: "timeout",
	flow.CloseEvicted: "forced", flow.CloseEnd: "shutdown"}

// writeFlow writes the flow event of a finished conversation.
func (a *Agent) writeFlow(c *flow.Conn, s *flow.Summary) {
	w := a.w
	if !w.wants(w.flows) {
		return
	}
	f := &w.flow
	*f = Flow{Protocol: c.AppProto, ID: c.ID, HasID: true, UDP: c.Transport == flow.TransportUDP,
		Src: netip.AddrPortFrom(c.Key.ClientIP, c.Key.ClientPort), Dest: netip.AddrPortFrom(c.Key.ServerIP, c.Key.ServerPort)}
	w.open(s.End, EventFlow, f, w.flows)
	w.buf = appendHead(w.buf, EventFlow, c.ID, true, nil)
	w.buf = appendConvAddrs(w.buf, c)
	if c.AppProto != "" && flow.HasPorts(c.Transport) {
		w.buf = jsonw.String(append(w.buf, `,"app_proto":`...), c.AppProto)
	}
	b := append(w.buf, `,"flow":{"pkts_toserver":`...)
	b = jsonw.Uint(b, s.Pkts[flow.ClientToServer])
	b = jsonw.Uint(append(b, `,"pkts_toclient":`...), s.Pkts[flow.ServerToClient])
	b = jsonw.Uint(append(b, `,"bytes_toserver":`...), s.Bytes[flow.ClientToServer])
	b = jsonw.Uint(append(b, `,"bytes_toclient":`...), s.Bytes[flow.ServerToClient])
	b = w.appendTime(append(b, `,"start":`...), s.Start)
	b = w.appendTime(append(b, `,"end":`...), s.End)
	b = jsonw.Uint(append(b, `,"age":`...), uint64(max(s.End.Sub(s.Start), 0)/time.Second))
	b = append(b, `,"state":"`...)
	b = append(b, s.State.String()...)
	b = append(b, `","reason":"`...)
	if int(s.Reason) < len(flowReasons) {
		b = append(b, flowReasons[s.Reason]...)
	}
	b = append(b, `"}`...)
	if c.Transport == flow.TransportTCP {
		b = append(b, `,"tcp":{"tcp_flags":"`...)
		b = appendHex8(b, s.Flags[0]|s.Flags[1])
		b = append(b, `","tcp_flags_ts":"`...)
		b = appendHex8(b, s.Flags[0])
		b = append(b, `","tcp_flags_tc":"`...)
		b = appendHex8(b, s.Flags[1])
		b = append(b, '"')
		for _, fl := range [...]struct {
			name string
			bit  uint8
		}{{"syn", flow.FlagSYN}, {"fin", flow.FlagFIN}, {"rst", flow.FlagRST}, {"ack", flow.FlagACK}} {
			if (s.Flags[0]|s.Flags[1])&fl.bit != 0 {
				b = append(append(append(b, `,"`...), fl.name...), `":true`...)
			}
		}
		b = append(b, '}')
	}
	w.buf = b
	w.send()
}

// appendHex8 appends v as two lowercase hex digits, as Suricata writes
// TCP flags.
func appendHex8(b []byte, v uint8) []byte {
	const digits = "0123456789abcdef"
	return append(b, digits[v>>4], digits[v&15])
}
