package agent

import (
	"errors"
	"time"

	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/flow"
	"github.com/sluice-ics/sluice/protocols/dnp3"
)

// dnp3Module is DNP3 over TCP and UDP in the protocol registry (IEEE
// 1815-2012, Annex C: port 20000 for both).
var dnp3Module = module{
	name:         "dnp3",
	title:        "DNP3",
	defaultPorts: []uint16{20000},
	baseline:     baselines.DNP3,
	udp:          true,
	newStream:    newDNP3Stream,
}

// dnp3Stream is the glue between one TCP connection on a DNP3 port and
// protocols/dnp3: per direction a Framer cuts the reassembled bytes into
// link frames (CRCs checked) and a Reassembler rebuilds application
// fragments from their transport segments; the Pairer pairs a master's
// requests with the outstation's responses, and every Transaction becomes a
// "dnp3" event.
//
// A connection whose first octets are not a DNP3 link header is reported
// once as non-protocol traffic and silenced. Frames that fail their CRC in
// a connection known to be DNP3 are dropped, counted as decode errors and
// reported once per connection as a malformed anomaly.
type dnp3Stream struct {
	conn
	fr [2]dnp3.Framer      // indexed by flow.Dir
	ra [2]dnp3.Reassembler // indexed by flow.Dir
	pr dnp3.Pairer
	// ts and dir are those of the data being framed, for the callbacks.
	ts  time.Time
	dir flow.Dir
	// The callbacks are bound once: a method value made per call would
	// allocate.
	onFrame    func(*dnp3.Frame)
	onFragment func(*dnp3.Fragment)
	onTx       func(*dnp3.Transaction)
	// last are the counters already added to the stats.
	last         pairCounts
	lastLost     [2]uint64
	lastLinkErrs [2]uint64
	// linkErrSeen limits the malformed anomaly of bad frames to one per
	// connection.
	linkErrSeen bool
	// masterSide says the master's side of the connection is known
	// (masterServer: it is the TCP server, an outstation that dials its
	// master; the observations' endpoints are then swapped).
	masterSide, masterServer bool
}

func newDNP3Stream(c conn) flow.Stream {
	s := &dnp3Stream{conn: c}
	s.pr = dnp3.Pairer{MaxPending: c.a.cfg.MaxPendingPerFlow, Timeout: c.a.cfg.TransactionTimeout}
	s.onFrame = func(f *dnp3.Frame) {
		// A frame dropped before this one is reported first, so the
		// events keep the order of the stream.
		s.linkErrors()
		if f.Control.Function().UserData() {
			s.ra[s.dir].Segment(f, s.onFragment)
		}
	}
	s.onFragment = func(f *dnp3.Fragment) {
		if !s.masterSide && f.Link.Control.Dir() {
			s.masterFrom(s.dir)
		}
		s.pr.Fragment(f, s.ts, s.onTx)
	}
	s.onTx = s.transaction
	if c.c.MidStream {
		// Picked up without the SYN: the first octets may be the middle
		// of a frame. Scan for a valid link header instead.
		s.fr[flow.ClientToServer].Resync()
		s.fr[flow.ServerToClient].Resync()
	}
	return s
}

// Data implements flow.Stream.
func (s *dnp3Stream) Data(dir flow.Dir, data []byte, ts time.Time) {
	if s.dead {
		return
	}
	dir &= 1
	s.ts, s.dir = ts, dir
	fr := &s.fr[dir]
	if err := fr.Feed(data, s.onFrame); err != nil {
		s.fail(dir, ts, err, data)
		return
	}
	s.linkErrors()
	if fr.Frames() > 0 {
		// One direction speaks DNP3: a bad header in the other is a
		// fault, not proof of another protocol.
		s.fr[1-dir].Trust()
	}
	if s.expireDue(ts) {
		s.pr.Expire(ts, s.onTx)
	}
	s.account()
}

// linkErrors counts the frames the framer of the current direction dropped
// since the last call as decode errors, and reports the first of the
// connection as a malformed anomaly.
func (s *dnp3Stream) linkErrors() {
	fr := &s.fr[s.dir]
	n := fr.LinkErrors() - s.lastLinkErrs[s.dir]
	if n == 0 {
		return
	}
	s.lastLinkErrs[s.dir] += n
	s.stats.DecodeErrors += n
	if !s.linkErrSeen {
		s.linkErrSeen = true
		s.anomaly(s.ts, s.dir, anomalyMalformed, fr.LastLinkError().Error())
	}
}

// Gap implements flow.Stream: the direction's framer drops its partial
// frame and scans for the next valid header; its partial fragments are
// abandoned.
func (s *dnp3Stream) Gap(dir flow.Dir, lost int, ts time.Time) {
	if s.dead {
		return
	}
	s.gap(ts, dir, lost)
	s.fr[dir&1].Resync()
	s.ra[dir&1].Reset()
}

// Close implements flow.Stream: requests still waiting for their response
// are emitted with "timeout": true.
func (s *dnp3Stream) Close(reason flow.CloseReason, ts time.Time) {
	if s.dead {
		return
	}
	s.pr.Flush(s.onTx)
	s.account()
	s.dead = true
}

// fail handles a framer error: the stream is not (or no longer) DNP3. It
// is reported once and silenced; requests already seen are emitted first.
func (s *dnp3Stream) fail(dir flow.Dir, ts time.Time, err error, data []byte) {
	nonProtocol := errors.Is(err, dnp3.ErrNotDNP3) && s.fr[0].Frames()+s.fr[1].Frames() == 0
	s.pr.Flush(s.onTx)
	s.account()
	s.silence(dir, ts, err, nonProtocol, data)
}

// account adds the Pairer's and the Reassemblers' counters since the last
// call to the stats: fragments abandoned for lost or out-of-order segments
// count as decode errors.
func (s *dnp3Stream) account() {
	st := s.pr.Stats()
	s.countPairs(pairCounts{st.TimedOut, st.Evicted, 0}, &s.last)
	for d := range s.ra {
		ts := s.ra[d].Stats()
		lost := ts.Lost + ts.OutOfOrder + ts.Oversize + ts.Evicted
		s.stats.DecodeErrors += lost - s.lastLost[d]
		s.lastLost[d] = lost
	}
}

// masterFrom notes that the master sends in direction dir (its frames
// carry the DIR bit). The baselines key a channel by master and
// outstation, not by who opened the TCP connection: when the outstation
// dialled its master, the observations' client is the TCP server.
func (s *dnp3Stream) masterFrom(dir flow.Dir) {
	s.masterSide = true
	if dir == flow.ServerToClient && !s.masterServer {
		s.masterServer = true
		ep := &s.obs.Endpoints
		ep.ClientIP, ep.ServerIP = ep.ServerIP, ep.ClientIP
		ep.ClientMAC, ep.ServerMAC = ep.ServerMAC, ep.ClientMAC
		ep.ClientPort, ep.ServerPort = ep.ServerPort, ep.ClientPort
	}
}

// transaction is the Pairer's emit function: the event, then the
// baselines learn or judge.
func (s *dnp3Stream) transaction(t *dnp3.Transaction) {
	if (t.HasRequest && t.Request.Message.Err != nil) || (t.HasResponse && t.Response.Message.Err != nil) {
		s.stats.DecodeErrors++
	} else if t.HasRequest && t.HasResponse {
		s.confirmed(t.Request.Time, t.Response.Time)
	}
	s.conn.transaction(t.Time(), dnp3Payload{t}, s.observation(t))
}

// observation fills s.obs from t and reports whether the baselines should
// see it: a master's request (with its response, if any) or an
// unsolicited response. A solicited response without its request says
// nothing about what the master asked.
func (s *dnp3Stream) observation(t *dnp3.Transaction) bool {
	o := &s.obs // Protocol and Endpoints were set with the connection
	// The detail is made once per connection and reused; its messages
	// point into the Pairer's, valid during this call.
	d, _ := o.Detail.(*baselines.DNP3Obs)
	if d == nil {
		d = new(baselines.DNP3Obs)
		o.Detail = d
	}
	*d = baselines.DNP3Obs{Timeout: t.Timeout}
	switch {
	case t.HasRequest:
		d.Request = &t.Request.Message
		d.Master, d.Outstation = t.Request.Link.Source, t.Request.Link.Dest
		o.Time, o.RequestTime = t.Request.Time, t.Request.Time
		if t.HasResponse {
			d.Response = &t.Response.Message
			o.Time = t.Response.Time
		}
	case t.HasResponse && t.Response.Message.Function == dnp3.FuncUnsolicitedResponse:
		d.Response = &t.Response.Message
		d.Master, d.Outstation = t.Response.Link.Dest, t.Response.Link.Source
		o.Time, o.RequestTime = t.Response.Time, time.Time{}
	default:
		return false
	}
	o.Responded = d.Response != nil
	return true
}

// dnp3Payload is a transaction as the glue reports it (a one-pointer
// struct: no allocation in the interface).
type dnp3Payload struct{ *dnp3.Transaction }

func (p dnp3Payload) Function() string { return p.Transaction.Function().String() }
