package agent

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/communityid"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/internal/jsonw"
	"github.com/sluice-ics/sluice/protocols/service"
)

// conn is the part of a connection's decoder glue that every protocol
// shares: the connection and its pre-rendered event envelope, the
// baseline observation it reuses, its protocol's counters and sinks, the
// silenced state, and the one way to report a transaction, an anomaly or
// a panic. A protocol's stream (modbus.go, opcua.go) embeds it and adds its
// decoder.
type conn struct {
	a     *Agent
	m     *module
	stats *ProtoStats
	c     flow.Conn
	// route is where the protocol's events go.
	route *route
	// addrs are the src/dest fields of every event of this connection,
	// rendered once; head is the whole envelope after the timestamp of
	// its protocol's events (flow_id, event_type, addrs).
	addrs, head []byte
	// flow is the Flow of the connection's records.
	flow Flow
	// obs is the baseline observation of every transaction, its
	// protocol and endpoints set once; the stream fills the rest.
	obs baselines.Observation
	// dead silences the connection: it turned out not to speak its
	// protocol, or its decoder panicked. Later calls return at once.
	dead bool
	// lastExpire is the packet time (Unix ns) pending requests were last
	// expired.
	lastExpire int64
	// gapped records, per direction, that the decoder's footing is not
	// confirmed: the capture lost bytes of that direction (gapAt, the
	// packet time of the last loss) or the connection was picked up
	// without its start, and no answered transaction framed since has
	// shown the decoder back on the protocol's boundaries. What the
	// decoder fails on meanwhile is a fact of the capture.
	gapped [2]bool
	gapAt  [2]time.Time
	// lossReported: the capture_loss anomaly, once per connection.
	lossReported bool
	// named is the policy whose register map names the variables of the
	// transaction being written (nil: none, or obs is not its).
	named *baselines.Policy
	// app is the app_proto of the connection's flow event, in the flow
	// table's Conn (nil for a UDP conversation): the protocol, or what
	// the connection turned out to carry instead (looksLike).
	app *string
}

// newConn sets up the shared glue of connection c of protocol m (index i
// in the registry), carried over transport proto (communityid.TCP or
// UDP), and returns the protocol's stream for it.
func (a *Agent) newConn(i int, c *flow.Conn, proto uint8, app *string) flow.Stream {
	m := modules[i]
	addrs := appendAddrsProto(make([]byte, 0, 112), c.Key.ClientIP, c.Key.ServerIP, c.Key.ClientPort, c.Key.ServerPort, true, proto)
	cn := conn{
		a:     a,
		m:     m,
		stats: &a.stats.Protocols[i],
		c:     *c,
		route: a.w.routes[m.name],
		addrs: addrs,
		app:   app,
		head:  appendHead(make([]byte, 0, 48+len(addrs)), m.name, c.ID, true, addrs),
		flow: Flow{Protocol: m.name, ID: c.ID, HasID: true,
			Src:  netip.AddrPortFrom(c.Key.ClientIP.Unmap(), c.Key.ClientPort),
			Dest: netip.AddrPortFrom(c.Key.ServerIP.Unmap(), c.Key.ServerPort), UDP: proto == communityid.UDP},
	}
	cn.obs.Protocol = m.baseline
	cn.obs.Endpoints = baselines.Endpoints{
		FlowID:     c.ID,
		ClientIP:   c.Key.ClientIP.Unmap(),
		ServerIP:   c.Key.ServerIP.Unmap(),
		ClientMAC:  c.ClientMAC,
		ServerMAC:  c.ServerMAC,
		ClientPort: c.Key.ClientPort,
		ServerPort: c.Key.ServerPort,
	}
	cn.stats.Flows++
	if c.MidStream {
		cn.gapped = [2]bool{true, true}
	}
	return m.newStream(cn)
}

// payload is a decoded transaction as the agent reports it: AppendJSON is
// its protocol package's rendering, the value of the event's protocol
// object; Function names its function or service for the sinks (metrics
// labels), asked only when the event is written.
type payload interface {
	AppendJSON(b []byte) []byte
	Function() string
}

// transaction reports one decoded transaction: its event, and, when
// observe is true, the observation the stream filled in c.obs, judged or
// learned by the baselines, with the alerts it raises written with p
// attached.
func (c *conn) transaction(ts time.Time, p payload, observe bool) {
	a := c.a
	c.stats.Transactions++
	c.named = nil
	if observe {
		c.named = a.policy.Load()
	}
	if a.w.wants(c.route) {
		w := a.w
		w.open(ts, c.m.name, &c.flow, c.route)
		if len(c.route.others) > 0 { // the EVE sink does not need it
			w.rec.Function = p.Function()
		}
		w.buf = append(w.buf, c.head...)
		w.buf = c.appendObject(w.buf, p)
		w.send()
	}
	if !observe {
		return
	}
	alerts := a.engine.Observe(&c.obs)
	if len(alerts) == 0 {
		return
	}
	attach := func(b []byte) []byte { return c.appendObject(b, p) }
	a.writeMerged(alerts, func(al *baselines.Alert, also []baselines.Alert) { a.writeAlert(al, c, p, also, attach) })
}

// writeMerged writes the alerts one request (or conversation) raised with
// write. One request, one alert: the rules it breaks go into one event,
// the most severe first (alert.rule), the others listed with their own
// deviation ids (alert.also). A poll's return and the update of held-back
// repeats are other events.
func (a *Agent) writeMerged(alerts []baselines.Alert, write func(al *baselines.Alert, also []baselines.Alert)) {
	mergeable := func(al *baselines.Alert) bool { return al.Obs != nil && !al.Resolved && !al.Update }
	first, primary, merged := -1, -1, 0
	for i := range alerts {
		if al := &alerts[i]; mergeable(al) {
			if first < 0 {
				first = i
			}
			if primary < 0 || al.Severity < alerts[primary].Severity {
				primary = i
			}
			merged++
		}
	}
	for i := range alerts {
		switch al := &alerts[i]; {
		case merged < 2 || !mergeable(al):
			write(al, nil)
		case i == first:
			also := a.also[:0]
			for j := range alerts {
				if j != primary && mergeable(&alerts[j]) {
					also = append(also, alerts[j])
				}
			}
			a.also = also
			write(&alerts[primary], also)
		}
	}
}

// appendObject appends `,"<protocol>":{...}`.
func (c *conn) appendObject(b []byte, p payload) []byte {
	b = p.AppendJSON(append(b, c.m.objectKey...))
	if c.named != nil {
		b = appendVariables(b, c.named, &c.obs)
	}
	return b
}

// expireDue reports whether a second of packet time has passed since the
// last expiry of pending requests on this connection.
func (c *conn) expireDue(ts time.Time) bool {
	now := ts.UnixNano()
	if now-c.lastExpire < int64(time.Second) {
		return false
	}
	c.lastExpire = now
	return true
}

// silence reports the fault that made a stream's decoder give up and
// silences the connection: a connection that never framed a message in
// either direction carries another protocol (non_protocol_traffic), one
// that did is malformed. The stream emits its pending requests first.
// data is what the decoder was fed when it gave up: for another protocol,
// its first bytes, which say what it is (protocols/service).
func (c *conn) silence(dir flow.Dir, ts time.Time, err error, nonProtocol bool, data []byte) {
	kind := anomalyMalformed
	if c.gapped[dir&1] && !nonProtocol {
		// The decoder lost its footing after bytes the capture lost, or
		// never found it in a connection picked up without its start:
		// nothing says the traffic was malformed or not the protocol.
		c.dead = true
		why := "decoding stopped after bytes the capture lost: "
		if c.gapAt[dir&1].IsZero() {
			why = "decoding stopped in a connection picked up without its start, before one answered transaction confirmed the framing: "
		}
		c.anomaly(ts, dir, anomalyCaptureLoss, why+err.Error())
		return
	}
	detail := err.Error()
	if nonProtocol {
		kind = anomalyNonProtocol
		c.stats.NonProtocol++
		detail += c.looksLike(dir, data)
	} else {
		c.stats.DecodeErrors++
	}
	c.dead = true
	c.anomaly(ts, dir, kind, detail)
}

// looksLike names the protocol that data, the first bytes of direction
// dir of a connection on this protocol's port, actually speaks (a scanner's
// TLS or HTTP probe, RDP or SMB on a PLC's port): "; it is TLS (server
// name "x", JA3 …)", or "" when the bytes say nothing known.
func (c *conn) looksLike(dir flow.Dir, data []byte) string {
	tr := service.TCP
	if c.flow.UDP {
		tr = service.UDP
	}
	var in service.Info
	if dir == flow.ClientToServer {
		in = service.Identify(tr, c.flow.Dest.Port(), data, nil)
	} else {
		in = service.Identify(tr, c.flow.Dest.Port(), nil, data)
	}
	if c.app != nil && in.Service != c.m.name {
		*c.app = in.Service // the flow event's app_proto: what it carried
	}
	if in.Service == service.Unknown || in.ByPort || in.Service == c.m.name {
		return ""
	}
	what := "; it is " + service.Title(in.Service)
	if d := in.Details(); len(d) > 0 {
		what += " (" + strings.Join(d, ", ") + ")"
	}
	return what
}

// gap records that the capture lost n bytes of direction dir (a
// reassembly gap: a span port that dropped packets, a capture cut) and
// reports it once per connection as a capture_loss anomaly. Missing bytes
// are a fact of the capture, not of the devices: the streams do not count
// the requests whose responses were lost as failed, and a decoder that
// cannot find its footing after a gap is not malformed traffic (issue
// #16). The anomaly is an event only; the baselines never see it.
func (c *conn) gap(ts time.Time, dir flow.Dir, n int) {
	c.stats.Gaps++
	c.gapped[dir&1], c.gapAt[dir&1] = true, ts
	if c.lossReported {
		return
	}
	c.lossReported = true
	detail := fmt.Sprintf("the capture lost %d bytes the client sent; the requests in them are not seen", n)
	if dir == flow.ServerToClient {
		detail = fmt.Sprintf("the capture lost %d bytes the server sent; requests left unanswered by it are marked capture_loss, not timeout", n)
	}
	c.anomaly(ts, dir, anomalyCaptureLoss, detail)
}

// confirmed records an answered transaction (request framed at req,
// response at resp): a direction whose last loss came before its part of
// the transaction is on the protocol's boundaries again. Small enough to
// inline: a connection that lost nothing pays one comparison.
func (c *conn) confirmed(req, resp time.Time) {
	if c.gapped != [2]bool{} {
		c.reconfirm(req, resp)
	}
}

func (c *conn) reconfirm(req, resp time.Time) {
	if c.gapped[0] && !req.Before(c.gapAt[0]) {
		c.gapped[0] = false
	}
	if c.gapped[1] && !resp.Before(c.gapAt[1]) {
		c.gapped[1] = false
	}
}

// pairCounts are a pairer's running totals of requests emitted without
// their response: timed out (or flushed), evicted from a full table, lost
// with the capture's bytes.
type pairCounts struct{ timedOut, evicted, lost uint64 }

// countPairs adds what a pairer's totals gained since last to the stats
// (timeouts, pending_dropped) and remembers them.
func (c *conn) countPairs(now pairCounts, last *pairCounts) {
	c.stats.Timeouts += now.timedOut - last.timedOut
	c.stats.PendingDropped += now.evicted - last.evicted
	c.stats.CaptureLoss += now.lost - last.lost
	*last = now
}

// Panicked implements flow.PanicHandler. Every call the flow table makes
// into a stream runs under the table's recover (Packetbeat runs every
// plugin call under one for the same reason: one hostile connection must
// not stop the monitor); the table counts the panic and ignores the
// connection from then on, and the glue silences its state and reports the
// panic as an internal_error anomaly. An event half rendered when the panic
// struck is dropped, never handed to a sink.
func (c *conn) Panicked(r any, dir flow.Dir, ts time.Time) {
	c.dead = true
	c.a.w.abandon()
	c.anomaly(ts, dir, anomalyInternal, fmt.Sprint(r))
}

// Anomaly event names, after Suricata's anomaly events and the baselines'
// rule names.
const (
	anomalyMalformed   = "malformed"
	anomalyNonProtocol = "non_protocol_traffic"
	anomalyInternal    = "internal_error"
	anomalyLimit       = "resource_limit"
	anomalyCaptureLoss = "capture_loss"
)

// limitWindow is how often, at most, a table that keeps hitting its cap
// is reported: one resource_limit anomaly per table per window of packet
// time, so that a flood does not turn into a flood of anomalies.
const limitWindow = 60 // seconds

// shared returns the state its protocol's connections share (nil when the
// module has none).
func (c *conn) shared() any { return c.a.shared[c.m.index] }

// resourceLimit reports that a table outsiders can grow (named by table,
// e.g. "opcua_unfinished") refused or evicted something to stay under its
// cap: a resource_limit anomaly on this connection, at most one per table
// per limitWindow (see Agent.resourceLimit).
func (c *conn) resourceLimit(ts time.Time, dir flow.Dir, table string, limit int) {
	if !c.a.limitDue(ts, table) {
		return
	}
	c.anomaly(ts, dir, anomalyLimit, limitDetail(table, limit))
}

// limitDue reports whether a resource_limit anomaly for table may be
// written at ts (one per table per limitWindow of packet time) and, if so,
// remembers it.
func (a *Agent) limitDue(ts time.Time, table string) bool {
	sec := ts.Unix()
	if last, ok := a.limitSec[table]; ok && sec-last < limitWindow && sec >= last {
		return false
	}
	if a.limitSec == nil {
		a.limitSec = make(map[string]int64)
	}
	a.limitSec[table] = sec
	return true
}

func limitDetail(table string, limit int) string {
	return fmt.Sprintf("%s cap of %d reached: the newest is refused or the oldest evicted, and counted (see --memory-limit)", table, limit)
}

// resourceLimit reports a cap reached by a table of no one connection
// (the flow table, the baseline's): a resource_limit anomaly event without
// flow fields, at most one per table per limitWindow. The monitor goes on;
// what was refused or evicted is counted in the stats.
func (a *Agent) resourceLimit(ts time.Time, table string, limit int) {
	if a.limitDue(ts, table) {
		a.agentAnomaly(ts, anomalyLimit, limitDetail(table, limit))
	}
}

// agentAnomaly writes an anomaly of the monitor itself, of no connection
// (type "resource"): a cap reached, the baseline store unwritable.
func (a *Agent) agentAnomaly(ts time.Time, event, detail string) {
	a.stats.Anomaly++
	w := a.w
	if !w.wants(w.anomalies) {
		return
	}
	w.openParties(ts, EventAnomaly, w.anomalies, "", netip.Addr{}, netip.Addr{})
	w.buf = append(w.buf, `,"anomaly":{"type":"resource","event":`...)
	w.buf = jsonw.String(w.buf, event)
	w.buf = append(w.buf, `,"detail":`...)
	w.buf = jsonw.String(w.buf, detail)
	w.buf = append(w.buf, '}')
	w.send()
}

// anomaly writes an "anomaly" event for the connection and hands malformed
// and non-protocol anomalies to the baselines (of a protocol that has a
// model), writing the alerts they raise. detail is a short reason from the
// decoder (escaped on output).
func (c *conn) anomaly(ts time.Time, dir flow.Dir, event, detail string) {
	a := c.a
	a.stats.Anomaly++
	if w := a.w; w.wants(w.anomalies) {
		w.open(ts, EventAnomaly, &c.flow, w.anomalies)
		w.buf = appendHead(w.buf, EventAnomaly, c.c.ID, true, c.addrs)
		w.buf = append(w.buf, `,"anomaly":`...)
		w.buf = c.appendAnomaly(w.buf, dir, event, detail)
		w.send()
	}
	if c.m.baseline == 0 {
		return // no baseline model to judge it
	}
	var kind baselines.AnomalyKind
	switch event {
	case anomalyMalformed:
		kind = baselines.Malformed
	case anomalyNonProtocol:
		kind = baselines.NonProtocol
	default:
		return
	}
	an := baselines.Anomaly{Time: ts, Protocol: c.m.baseline, Kind: kind, Endpoints: c.obs.Endpoints, Detail: detail}
	alerts := a.engine.ObserveAnomaly(&an)
	for i := range alerts {
		a.writeAlert(&alerts[i], c, nil, nil, func(b []byte) []byte {
			b = append(b, `,"anomaly":`...)
			return c.appendAnomaly(b, dir, event, detail)
		})
	}
}

// appendAnomaly appends the anomaly object, shaped like Suricata's
// application-layer anomaly events.
func (c *conn) appendAnomaly(b []byte, dir flow.Dir, event, detail string) []byte {
	b = append(b, `{"type":"applayer","app_proto":"`...)
	b = append(b, c.m.name...)
	b = append(b, `","event":"`...)
	b = append(b, event...)
	b = append(b, `","direction":"`...)
	b = append(b, dir.String()...)
	b = append(b, `","detail":`...)
	b = jsonw.String(b, detail)
	return append(b, '}')
}

// writeAlert writes one alert event. c is the connection of the triggering
// transaction (nil for alerts raised by packet time alone, such as
// poll_stopped); p is the triggering transaction (its function goes to the
// record) or nil; attach appends the triggering protocol object (with its
// leading comma) or is nil.
func (a *Agent) writeAlert(al *baselines.Alert, c *conn, p payload, also []baselines.Alert, attach func([]byte) []byte) {
	a.stats.Alerts++
	w := a.w
	if !w.wants(w.alerts) {
		return
	}
	inc := a.incidentOf(al, also)
	ts := al.Time
	if ts.IsZero() {
		ts = a.now
	}
	if c != nil {
		w.open(ts, EventAlert, &c.flow, w.alerts)
		w.buf = appendHead(w.buf, EventAlert, c.c.ID, true, c.addrs)
	} else {
		proto := ""
		if al.Channel.Protocol != 0 {
			proto = al.Channel.Protocol.String()
		}
		if e := &al.Endpoints; e.ClientIP.IsValid() && e.FlowID != 0 {
			f := &w.flow
			*f = Flow{Protocol: proto, ID: e.FlowID, HasID: true,
				Src: netip.AddrPortFrom(e.ClientIP.Unmap(), e.ClientPort), Dest: netip.AddrPortFrom(e.ServerIP.Unmap(), e.ServerPort)}
			w.open(ts, EventAlert, f, w.alerts)
			w.buf = appendHead(w.buf, EventAlert, e.FlowID, true, nil)
			if a.convAddrs != nil {
				// A conversation's alert: its transport (conversation.go).
				w.buf = append(w.buf, a.convAddrs...)
			} else {
				w.buf = appendAddrs(w.buf, e.ClientIP, e.ServerIP, e.ClientPort, e.ServerPort, true)
			}
		} else {
			// No single connection (poll_stopped, the update of held
			// back repeats, a port scan of many): no flow_id and no
			// ports, as docs/events.md says. A deviation keyed by its
			// client alone (port_scan) names the host it probed most.
			client, server := al.Channel.Client, al.Channel.Server
			if !server.IsValid() && client.IsValid() {
				server = al.Endpoints.ServerIP
			}
			w.openParties(ts, EventAlert, w.alerts, proto, client, server)
		}
	}
	w.rec.Alert, w.rec.Also = al, also
	if p != nil {
		w.rec.Function = p.Function()
	}
	pcap := ""
	if a.pcap != nil && c != nil && !al.Update && !al.Resolved {
		pcap = a.pcap.alert(al.ID, ts, c.flow.Src, c.flow.Dest)
	}
	w.buf = append(w.buf, `,"alert":`...)
	w.buf = appendAlert(w.buf, al, also, pcap)
	if inc != nil {
		w.buf = append(w.buf, `,"incident":{"id":`...)
		w.buf = append(jsonw.String(w.buf, inc.id), '}')
	}
	if attach != nil {
		w.buf = attach(w.buf)
	}
	w.send()
	if inc != nil && inc.grew {
		a.writeIncident(inc, ts, "update")
	}
}

// appendAlert appends the alert object of issue 5 §4: Suricata's fields
// (action, signature_id, severity, signature, category, metadata) plus the
// stable rule name, the deviation id (what `sluice baseline accept --alert`
// takes) and the count of occurrences it stands for; rules names every
// rule of the event, al's first, and also the others the same request
// broke (issue 16 §2), each with its own id and count. The techniques are
// those of every rule, al's first.
func appendAlert(b []byte, al *baselines.Alert, also []baselines.Alert, pcap string) []byte {
	b = append(b, `{"action":"allowed","signature_id":`...)
	b = jsonw.Uint(b, uint64(al.SignatureID))
	b = append(b, `,"rule":`...)
	b = jsonw.String(b, al.Rule.String())
	b = appendPolicy(b, &al.Deviation)
	b = append(b, `,"rules":[`...)
	b = jsonw.String(b, al.Rule.String())
	for i := range also {
		b = jsonw.String(append(b, ','), also[i].Rule.String())
	}
	b = append(b, `],"severity":`...)
	b = jsonw.Uint(b, uint64(al.Severity))
	b = append(b, `,"signature":`...)
	b = jsonw.String(b, al.Signature)
	b = append(b, `,"category":`...)
	b = jsonw.String(b, al.Category)
	b = append(b, `,"metadata":{"mitre_technique_id":[`...)
	techs := al.Techniques
	if len(also) > 0 {
		var buf [16]string
		u := append(buf[:0], techs...)
		for i := range also {
			for _, t := range also[i].Techniques {
				if !slices.Contains(u, t) {
					u = append(u, t)
				}
			}
		}
		techs = u
	}
	for i, t := range techs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.String(b, t)
	}
	b = append(b, `]},"id":`...)
	b = jsonw.String(b, al.ID)
	b = append(b, `,"count":`...)
	b = jsonw.Uint(b, al.Count)
	if p := al.Process; p != nil {
		b = appendProcess(b, p)
	}
	if al.Resolved {
		b = append(b, `,"resolved":true`...)
	}
	if al.Update {
		b = append(b, `,"update":true`...)
	}
	if len(also) > 0 {
		b = append(b, `,"also":[`...)
		for i := range also {
			o := &also[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"signature_id":`...)
			b = jsonw.Uint(b, uint64(o.SignatureID))
			b = append(b, `,"rule":`...)
			b = jsonw.String(b, o.Rule.String())
			b = appendPolicy(b, &o.Deviation)
			b = append(b, `,"severity":`...)
			b = jsonw.Uint(b, uint64(o.Severity))
			b = append(b, `,"signature":`...)
			b = jsonw.String(b, o.Signature)
			b = append(b, `,"id":`...)
			b = jsonw.String(b, o.ID)
			b = append(b, `,"count":`...)
			b = append(jsonw.Uint(b, o.Count), '}')
		}
		b = append(b, ']')
	}
	if pcap != "" {
		b = append(b, `,"pcap":`...)
		b = jsonw.String(b, pcap)
	}
	return append(b, '}')
}

// appendProcess appends a process alert's figures (issue #14 §1,
// docs/events.md): the variable, the value read, and what was learned of
// it.
func appendProcess(b []byte, p *baselines.ProcessFacts) []byte {
	l := &p.Learned
	b = append(b, `,"process":{"variable":`...)
	b = jsonw.String(b, p.Variable)
	b = append(b, `,"value":`...)
	b = strconv.AppendFloat(b, p.Value, 'g', -1, 64)
	if l.Bit {
		b = append(b, `,"learned_states":[`...)
		for s, n := 0, 0; s < 2; s++ {
			if l.States&(1<<s) != 0 {
				if n > 0 {
					b = append(b, ',')
				}
				b, n = strconv.AppendInt(b, int64(s), 10), n+1
			}
		}
		b = append(b, ']')
	} else {
		b = append(b, `,"rate":`...)
		b = strconv.AppendFloat(b, p.Rate, 'g', 6, 64)
		b = append(b, `,"still_s":`...)
		b = strconv.AppendFloat(b, p.Still, 'g', 6, 64)
		b = append(b, `,"learned_min":`...)
		b = strconv.AppendFloat(b, l.Min, 'g', -1, 64)
		b = append(b, `,"learned_max":`...)
		b = strconv.AppendFloat(b, l.Max, 'g', -1, 64)
		b = append(b, `,"learned_max_rate":`...)
		b = strconv.AppendFloat(b, l.MaxRate, 'g', 6, 64)
		b = append(b, `,"learned_max_still_s":`...)
		b = strconv.AppendFloat(b, l.MaxStill, 'g', 6, 64)
	}
	b = append(b, `,"learned_reads":`...)
	b = jsonw.Uint(b, l.Reads)
	b = append(b, `,"learned_changes":`...)
	b = jsonw.Uint(b, l.Changes)
	return append(b, '}')
}
