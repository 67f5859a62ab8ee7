package agent

import (
	"strings"
	"time"

	"github.com/gopcua/opcua/ua"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/protocols/opcua"
)

// opcuaModule is OPC UA Binary in the protocol registry.
var opcuaModule = module{
	name:         "opcua",
	title:        "OPC UA Binary",
	defaultPorts: []uint16{4840},
	baseline:     baselines.OPCUA,
	newStream:    newOPCUAStream,
	// Unfinished multi-chunk messages of every connection share one
	// budget (issue #15: 24 connections that never finish a message
	// would otherwise hold 16 MiB per direction each).
	shared: func(cfg *Config) any { return &opcua.Budget{Limit: cfg.MaxUnfinishedTotal} },
}

// opcuaStream is the glue between one TCP connection on an OPC UA port and
// protocols/opcua: it feeds the reassembled bytes to an opcua.Conn (which
// frames chunks, reassembles messages, tracks the channel and session and
// pairs requests with responses) and turns every Message into an "opcua"
// event and a baseline observation.
type opcuaStream struct {
	conn
	uc *opcua.Conn
	// last are the opcua.Conn counters already added to the stats.
	last opcua.Stats
	// malformedSeen limits the malformed anomaly to one per connection.
	malformedSeen bool
}

func newOPCUAStream(c conn) flow.Stream {
	s := &opcuaStream{conn: c}
	budget, _ := c.shared().(*opcua.Budget)
	s.uc = opcua.NewConn(opcua.Config{
		MaxPending: c.a.cfg.MaxPendingPerFlow,
		Budget:     budget,
	}, s.message)
	if c.c.MidStream {
		s.uc.MidStream()
	}
	return s
}

// Data implements flow.Stream.
func (s *opcuaStream) Data(dir flow.Dir, data []byte, ts time.Time) {
	if s.dead {
		return
	}
	// Bytes skipped in this call may precede the message that confirms
	// the framing again: judge them by the state before it.
	gapped := s.gapped[dir&1]
	var err error
	if dir == flow.ClientToServer {
		err = s.uc.FeedClient(data, ts)
	} else {
		err = s.uc.FeedServer(data, ts)
	}
	if err != nil {
		// The framer skipped bytes to find a chunk header. It has
		// recovered and goes on, but the user should know once.
		s.skipped(dir, ts, err, gapped)
		if s.dead {
			return
		}
	}
	if s.expireDue(ts) {
		s.uc.Expire(ts)
	}
	s.account(dir, ts)
}

// Gap implements flow.Stream: the direction's framer resynchronises.
func (s *opcuaStream) Gap(dir flow.Dir, lost int, ts time.Time) {
	if s.dead {
		return
	}
	s.gap(ts, dir, lost)
	s.uc.Gap(dir == flow.ServerToClient)
}

// Close implements flow.Stream: pending requests are emitted unpaired.
// The connection's share of the unfinished-message budget is given back
// even when the connection was silenced.
func (s *opcuaStream) Close(reason flow.CloseReason, ts time.Time) {
	if s.dead {
		s.uc.Release()
		return
	}
	s.uc.Close(ts)
	s.account(flow.ClientToServer, ts)
	s.dead = true
}

// nonProtocolAfter is how many bytes an OPC UA port may carry without a
// single chunk before the connection is declared something else (HTTP,
// TLS, a scanner) and silenced.
const nonProtocolAfter = 1024

// skipped handles bytes the framer had to skip. A connection that never
// carried a chunk and has skipped nonProtocolAfter bytes is not OPC UA: one
// non_protocol_traffic anomaly, then silence, as for Modbus. A connection
// that did carry OPC UA and then desynchronised is reported once as
// malformed and kept.
func (s *opcuaStream) skipped(dir flow.Dir, ts time.Time, err error, gapped bool) {
	st := s.uc.Stats()
	chunks := st.Framer[0].Chunks + st.Framer[1].Chunks
	skipped := st.Framer[0].SkippedBytes + st.Framer[1].SkippedBytes
	switch {
	case chunks == 0 && skipped >= nonProtocolAfter:
		s.stats.NonProtocol++
		s.dead = true
		s.anomaly(ts, dir, anomalyNonProtocol, err.Error())
	case gapped:
		// Skipping to the next chunk after bytes the capture lost, or
		// into a connection picked up mid-stream, is what the framer
		// is for: no fault of the traffic.
	case chunks > 0 && !s.malformedSeen:
		s.malformedSeen = true
		s.stats.DecodeErrors++
		s.anomaly(ts, dir, anomalyMalformed, err.Error())
	}
}

// account adds what the opcua.Conn counted since the last call to the
// stats, and reports the shared budget's refusals (dir and ts are those of
// the data just fed).
func (s *opcuaStream) account(dir flow.Dir, ts time.Time) {
	st := s.uc.Stats()
	p := s.stats
	p.DecodeErrors += (st.DecodeErrors + st.Oversize + st.CodecPanics) - (s.last.DecodeErrors + s.last.Oversize + s.last.CodecPanics)
	p.Timeouts += st.Expired - s.last.Expired
	p.PendingDropped += st.Evicted - s.last.Evicted
	if n := st.OverBudget - s.last.OverBudget; n > 0 {
		p.ResourceLimited += n
		s.resourceLimit(ts, dir, "opcua_unfinished", s.a.cfg.MaxUnfinishedTotal)
	}
	s.last = st
}

// message is the opcua.Conn's emit function: the event, then the
// baselines learn or judge.
func (s *opcuaStream) message(m *opcua.Message) {
	ts := m.Time
	if ts.IsZero() {
		ts = m.ResponseTime
	}
	if m.Request != nil && m.Response != nil {
		s.confirmed(m.Time, m.ResponseTime)
	}
	s.conn.transaction(ts, opcuaPayload{m}, s.observation(m))
}

// opcuaPayload is a message as the glue reports it; its function is the
// service of its request (of its response when alone).
type opcuaPayload struct{ *opcua.Message }

func (p opcuaPayload) Function() string {
	switch {
	case p.Request != nil:
		return p.Request.Name
	case p.Response != nil:
		return p.Response.Name
	}
	return ""
}

// observation fills s.obs from m and reports whether m is a service call the
// baselines learn from or judge (a request, with or without its response;
// HEL/ACK and lone responses are not).
func (s *opcuaStream) observation(m *opcua.Message) bool {
	if m.Request == nil {
		return false
	}
	o := &s.obs // Protocol and Endpoints were set with the connection
	o.Time, o.RequestTime = m.Time, m.Time
	o.Responded = m.Response != nil
	if o.Responded && !m.ResponseTime.IsZero() {
		o.Time = m.ResponseTime
	}
	// The detail is made once per connection and reused, with its slices.
	u, _ := o.Detail.(*baselines.OPCUAObs)
	if u == nil {
		u = new(baselines.OPCUAObs)
		o.Detail = u
	}
	read, written, called, values := u.Read[:0], u.Written[:0], u.Called[:0], u.Values[:0]
	*u = baselines.OPCUAObs{}
	u.Service = strings.TrimSuffix(m.Request.Name, "Request")
	if m.Response != nil {
		u.Status = uint32(m.Response.Status)
	}
	u.SecurityPolicy = m.Channel.SecurityPolicy
	u.SecurityMode = baselines.SecurityMode(m.Channel.Mode)
	u.Undecodable = !m.Request.Decoded && !m.Encrypted
	if ss := m.Session; ss != nil {
		u.EndpointURL = ss.EndpointURL
		u.Token = baselines.TokenType(ss.Identity)
		u.User = ss.User
		u.ClientAppURI = ss.ClientApplicationURI
		u.ClientProductURI = ss.ClientProductURI
	}
	// The request's own token: a failed login exposes its password too.
	if si := m.Request.SessionInfo; si != nil && si.PasswordCleartext {
		u.PasswordCleartext, u.PasswordLength, u.User = true, si.PasswordLength, si.User
	}
	if m.Response != nil {
		serverInfo(u, m)
	}
	for _, r := range m.Request.Reads {
		read = append(read, r.NodeID)
	}
	for _, w := range m.Request.Writes {
		v, num := w.Value.Float()
		written = append(written, baselines.NodeValue{Node: w.NodeID, Value: v, Numeric: num})
	}
	for _, c := range m.Request.Calls {
		called = append(called, c.MethodID)
	}
	if m.Response != nil {
		values = processValues(values, m.Request, m.Response)
	}
	u.Read, u.Written, u.Called, u.Values = read, written, called, values
	return true
}

// attributeValue is the Value attribute (OPC 10000-6 A.1, AttributeId 13):
// the only attribute whose reads are process values.
const attributeValue = 13

// processValues appends to dst the process values a response reports
// (docs/process.md): the Value attribute of each node a Read returned (the
// request's nodes paired with the response's DataValues by position, when
// their counts agree) and each data change of a Publish named by its node.
// Only Good numeric or Boolean scalars: a string, an array or an Uncertain
// quality says nothing a range can judge.
func processValues(dst []baselines.NodeValue, rq, rs *opcua.Service) []baselines.NodeValue {
	add := func(node string, attr uint32, st ua.StatusCode, v opcua.Value) {
		if attr == attributeValue && node != "" && st&0xC0000000 == 0 && v.IsNumber && v.ArrayLength < 0 {
			dst = append(dst, baselines.NodeValue{Node: node, Value: v.Number, Numeric: true, Bool: v.Type == "Boolean"})
		}
	}
	if len(rq.Reads) > 0 && len(rq.Reads) == len(rs.Values) && len(rs.Results) == len(rs.Values) {
		for i, r := range rq.Reads {
			if r.IndexRange == "" {
				add(r.NodeID, r.AttributeID, rs.Results[i], rs.Values[i])
			}
		}
	}
	for _, dc := range rs.DataChanges {
		add(dc.NodeID, dc.AttributeID, dc.Status, dc.Value)
	}
	return dst
}

// serverInfo fills u.Server with what a response says of its server: its
// build info (a Read of ServerStatus or BuildInfo), its application URI
// (a CreateSession or GetEndpoints response describing one server) and
// its certificate (those responses' ServerCertificate, or the OPN
// response's, seen in the clear whatever the channel's policy). Only these
// few responses make a ServerInfo: the channel's certificate, repeated on
// every message, is not the server's news every time.
func serverInfo(u *baselines.OPCUAObs, m *opcua.Message) {
	r := m.Response
	cert := r.ServerCertificate
	if m.Request.Name == "OpenSecureChannelRequest" && m.Channel.ServerThumbprint != "" {
		cert = &opcua.Certificate{Thumbprint: m.Channel.ServerThumbprint, Subject: m.Channel.ServerSubject, NotAfter: m.Channel.ServerNotAfter}
	}
	appURI := ""
	if len(r.Servers) == 1 {
		appURI = r.Servers[0].URI
	}
	if r.Build == nil && cert == nil && appURI == "" {
		return
	}
	si := &baselines.ServerInfo{AppURI: appURI}
	if bi := r.Build; bi != nil {
		si.ProductURI, si.ManufacturerName, si.ProductName = bi.ProductURI, bi.ManufacturerName, bi.ProductName
		si.SoftwareVersion, si.BuildNumber = bi.SoftwareVersion, bi.BuildNumber
	}
	if cert != nil {
		si.CertThumbprint, si.CertSubject, si.CertNotAfter = cert.Thumbprint, cert.Subject, cert.NotAfter
	}
	u.Server = si
}
