package agent

import (
	"fmt"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/internal/jsonw"
)

// streamBase is what every protocol's per-connection glue shares: the
// connection, its pre-rendered event addresses, its baseline endpoints and
// the silenced state.
type streamBase struct {
	a     *Agent
	c     flow.Conn
	proto baselines.Protocol
	// addrs are the src/dest fields of every event of this connection,
	// rendered once; head is the whole envelope after the timestamp of
	// its protocol's events (flow_id, event_type, addrs), for beginHead.
	addrs []byte
	head  []byte
	ends  baselines.Endpoints
	// dead silences the connection: it turned out not to speak its
	// protocol, or its decoder panicked. Later calls return at once.
	dead bool
	// lastExpire is the packet time (Unix ns) pending requests were last
	// expired.
	lastExpire int64
}

func (a *Agent) newBase(c *flow.Conn, p baselines.Protocol) streamBase {
	addrs := appendAddrs(make([]byte, 0, 112), c.Key.ClientIP, c.Key.ServerIP, c.Key.ClientPort, c.Key.ServerPort, true)
	typ := EventModbus
	if p == baselines.OPCUA {
		typ = EventOPCUA
	}
	return streamBase{
		a:     a,
		c:     *c,
		proto: p,
		addrs: addrs,
		head:  appendHead(make([]byte, 0, 48+len(addrs)), typ, c.ID, addrs),
		ends: baselines.Endpoints{
			FlowID:     c.ID,
			ClientIP:   c.Key.ClientIP.Unmap(),
			ServerIP:   c.Key.ServerIP.Unmap(),
			ClientMAC:  c.ClientMAC,
			ServerMAC:  c.ServerMAC,
			ClientPort: c.Key.ClientPort,
			ServerPort: c.Key.ServerPort,
		},
	}
}

// expireDue reports whether a second of packet time has passed since the
// last expiry of pending requests on this connection.
func (s *streamBase) expireDue(ts time.Time) bool {
	now := ts.UnixNano()
	if now-s.lastExpire < int64(time.Second) {
		return false
	}
	s.lastExpire = now
	return true
}

// Panicked implements flow.PanicHandler. Every call the flow table makes
// into a stream runs under the table's recover (Packetbeat runs every
// plugin call under one for the same reason: one hostile connection must
// not stop the monitor); the table counts the panic and ignores the
// connection from then on, and the glue silences its state and reports the
// panic as an internal_error anomaly. One recover per call, the table's,
// rather than a second deferred one in every Data call of the glue.
func (s *streamBase) Panicked(r any, dir flow.Dir, ts time.Time) {
	s.dead = true
	s.a.out.abandon()
	s.a.anomaly(s, ts, dir, anomalyInternal, fmt.Sprint(r))
}

// Anomaly event names, after Suricata's anomaly events and the baselines'
// rule names.
const (
	anomalyMalformed   = "malformed"
	anomalyNonProtocol = "non_protocol_traffic"
	anomalyInternal    = "internal_error"
)

// anomaly writes an "anomaly" event for connection s and hands malformed
// and non-protocol anomalies to the baselines, writing the alerts they
// raise. detail is a short reason from the decoder (escaped on output).
func (a *Agent) anomaly(s *streamBase, ts time.Time, dir flow.Dir, event, detail string) {
	a.stats.Anomaly++
	if a.out.wants(EventAnomaly) {
		a.out.begin(ts, EventAnomaly, s.c.ID, s.addrs)
		a.out.buf = append(a.out.buf, `,"anomaly":`...)
		a.out.buf = appendAnomaly(a.out.buf, s.proto, dir, event, detail)
		a.out.end()
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
	an := baselines.Anomaly{Time: ts, Protocol: s.proto, Kind: kind, Endpoints: s.ends, Detail: detail}
	alerts := a.engine.ObserveAnomaly(&an)
	for i := range alerts {
		a.writeAlert(&alerts[i], s, func(b []byte) []byte {
			b = append(b, `,"anomaly":`...)
			return appendAnomaly(b, s.proto, dir, event, detail)
		})
	}
}

// appendAnomaly appends the anomaly object, shaped like Suricata's
// application-layer anomaly events.
func appendAnomaly(b []byte, p baselines.Protocol, dir flow.Dir, event, detail string) []byte {
	b = append(b, `{"type":"applayer","app_proto":"`...)
	b = append(b, p.String()...)
	b = append(b, `","event":"`...)
	b = append(b, event...)
	b = append(b, `","direction":"`...)
	b = append(b, dir.String()...)
	b = append(b, `","detail":`...)
	b = jsonw.String(b, detail)
	return append(b, '}')
}

// writeAlert writes one alert event. s is the connection of the triggering
// transaction (nil for alerts raised by packet time alone, such as
// poll_stopped); attach appends the triggering protocol object (with its
// leading comma) or is nil.
func (a *Agent) writeAlert(al *baselines.Alert, s *streamBase, attach func([]byte) []byte) {
	a.stats.Alerts++
	if !a.out.wants(EventAlert) {
		return
	}
	ts := al.Time
	if ts.IsZero() {
		ts = a.now
	}
	switch {
	case s != nil:
		a.out.begin(ts, EventAlert, s.c.ID, s.addrs)
	case al.Endpoints.ClientIP.IsValid():
		e := &al.Endpoints
		a.out.begin(ts, EventAlert, e.FlowID, nil)
		a.out.buf = appendAddrs(a.out.buf, e.ClientIP, e.ServerIP, e.ClientPort, e.ServerPort, true)
	case al.Channel.Client.IsValid():
		a.out.begin(ts, EventAlert, noFlow, nil)
		a.out.buf = appendAddrs(a.out.buf, al.Channel.Client, al.Channel.Server, 0, 0, false)
	default:
		a.out.begin(ts, EventAlert, noFlow, nil)
	}
	a.out.buf = append(a.out.buf, `,"alert":`...)
	a.out.buf = appendAlert(a.out.buf, al)
	if attach != nil {
		a.out.buf = attach(a.out.buf)
	}
	a.out.end()
}

// appendAlert appends the alert object of issue 5 §4: Suricata's fields
// (action, signature_id, severity, signature, category, metadata) plus the
// stable rule name, the deviation id (what `sluice baseline accept --alert`
// takes) and the count of occurrences it stands for.
func appendAlert(b []byte, al *baselines.Alert) []byte {
	b = append(b, `{"action":"allowed","signature_id":`...)
	b = jsonw.Uint(b, uint64(al.SignatureID))
	b = append(b, `,"rule":`...)
	b = jsonw.String(b, al.Rule.String())
	b = append(b, `,"severity":`...)
	b = jsonw.Uint(b, uint64(al.Severity))
	b = append(b, `,"signature":`...)
	b = jsonw.String(b, al.Signature)
	b = append(b, `,"category":`...)
	b = jsonw.String(b, al.Category)
	b = append(b, `,"metadata":{"mitre_technique_id":[`...)
	for i, t := range al.Techniques {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.String(b, t)
	}
	b = append(b, `]},"id":`...)
	b = jsonw.String(b, al.ID)
	b = append(b, `,"count":`...)
	b = jsonw.Uint(b, al.Count)
	if al.Resolved {
		b = append(b, `,"resolved":true`...)
	}
	return append(b, '}')
}
