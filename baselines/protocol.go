package baselines

import (
	"fmt"
	"slices"
)

// Protocol is the industrial protocol of an observation and of a channel.
// Each one has a model, registered by its file; the numbers are stable
// (they are hashed into deviation ids).
type Protocol uint8

// maxProtocols bounds the protocol numbers.
const maxProtocols = 16

// register makes m the model of protocol p. Each model's file calls it
// from init (modbus.go: register(Modbus, &modbusModel{})), so that adding
// a protocol is one new file (see docs/architecture-baselines.md); the
// registered models are the only list of the protocols: Observe dispatches
// through it, Load, validation, the store's layout, the role names and the
// rule table follow it. A number registered twice, or a rule number
// declared twice, is a programming error caught at start-up.
func register(p Protocol, m model) {
	if p == 0 || p >= maxProtocols || protos[p] != nil {
		panic(fmt.Sprintf("baselines: protocol %d registered twice or out of range", p))
	}
	pr := &proto{modelInfo: m.info(), model: m}
	pr.inventory, _ = m.(inventorier)
	pr.signer, _ = m.(signer)
	pr.rater, _ = m.(rater)
	pr.describer, _ = m.(describer)
	pr.identifier, _ = m.(identifier)
	protos[p] = pr
	addRoleNames(pr)
	addRules(pr.rules)
}

// A model is one protocol's part of the baseline. It owns its observation
// type (a Detail), its channels' learned fields (a ChannelModel), how they
// are learned and judged, its rules and how it names things. The engine
// (engine.go) keeps everything the protocols share: devices, channels'
// common part, rate windows, polls, alert records.
//
// A model is a stateless value; the state it keeps for this run lives in
// the chanRuntime and pairRuntime the engine hands it. The channel's key
// is chanRuntime.key (keys are not passed to the interface's methods: a
// pointer to one would make Observe's escape to the heap, and a copy costs
// more than the call). Optional abilities (inventory, signatures, rates,
// describing devices) are the small interfaces below, found once by type
// assertion.
type model interface {
	// info names the protocol and lists its roles and rules.
	info() modelInfo
	// read returns what the engine needs of o before learning or judging
	// it: the protocol's part of its channel key and its outcome. ok is
	// false when o is not this protocol's (its Detail has another type).
	read(o *Observation) (t txn, ok bool)
	// newChannel returns an empty model of a channel.
	newChannel() ChannelModel
	// learn folds a learnable transaction into c, a channel of this
	// protocol, and says what it found.
	learn(e *Engine, c *channel, rt *chanRuntime, o *Observation) found
	// judge compares a transaction with c (nil for a channel never
	// learned), raises the deviations and says what it found.
	judge(e *Engine, c *channel, rt *chanRuntime, o *Observation) found
	// pollKey returns the poll key of a repeating request.
	pollKey(o *Observation) (PollKey, bool)
	// validKey reports whether a stored or accepted key is one this
	// protocol makes (the fields of the other protocols zero).
	validKey(k ChannelKey) bool
	// channelName and serverName name a channel and its server in text:
	// "modbus 10.10.9.66>10.10.2.1 unit 1", "PLC 10.10.2.1 unit 1".
	channelName(k ChannelKey) string
	serverName(k ChannelKey) string
}

// txn is what a model reads of a transaction for the engine: small, so
// that it is returned in registers.
type txn struct {
	// unit and port are the protocol's part of the channel key
	// (ChannelKey.Unit, ChannelKey.Port): the Modbus unit, the OPC UA
	// endpoint port.
	unit uint8
	port uint16
	// master and outstation are DNP3's part: the link addresses.
	master, outstation uint16
	// answered: the server answered (an exception is an answer);
	// learnable: the transaction may be learned (answered, successfully).
	answered, learnable bool
}

// modelInfo is what a model declares about itself.
type modelInfo struct {
	name string // "modbus": Protocol.String, the store's bucket names
	// client and server are the roles of the two ends of a channel,
	// roleNames their names.
	client, server Roles
	roleNames      [2]string
	// rules are the protocol's own alert rules (rules.go has those the
	// protocols share).
	rules []ruleInfo
	// noRates: the shared rate rules (request_flood) do not apply; a
	// model whose transactions are whole conversations (network.go)
	// rather than requests.
	noRates bool
}

// inventorier is a model that learns about the server from transactions
// (unit ids, identity), outside Monitor mode.
type inventorier interface {
	inventory(srv *Device, o *Observation)
}

// signer is a model with rules that need no baseline, raised before the
// rate rules.
type signer interface {
	signatures(e *Engine, o *Observation, rt *chanRuntime)
}

// rater is a model with rate rules of its own, raised after request_flood.
type rater interface {
	rates(e *Engine, o *Observation, rt *chanRuntime, pr *pairRuntime)
}

// describer is a model that lists what identifies a device in its terms
// (Diff's device items).
type describer interface {
	deviceItems(d *Device) []string
}

// Detail is the protocol part of an Observation: *ModbusObs or *OPCUAObs,
// the protocol model's own type. The interface is sealed: only the models
// of this package implement it.
type Detail interface {
	detail()
}

// proto is a registered protocol with its model's optional abilities,
// found once.
type proto struct {
	modelInfo
	model
	inventory inventorier
	signer    signer
	rater     rater
	describer describer
	// identifier compares a reported identity with the inventory's
	// (identity.go).
	identifier identifier
}

// protos holds the registered models with their abilities, indexed by
// Protocol (nil for a number without a model).
var protos [maxProtocols]*proto

// protoOf returns the registered protocol p, or nil.
func protoOf(p Protocol) *proto {
	if int(p) < len(protos) {
		return protos[p]
	}
	return nil
}

// Protocols returns the registered protocols in number order.
func Protocols() []Protocol {
	var out []Protocol
	for p, pr := range protos {
		if pr != nil {
			out = append(out, Protocol(p))
		}
	}
	return out
}

func (p Protocol) String() string {
	if pr := protoOf(p); pr != nil {
		return pr.name
	}
	return "unknown"
}

// MarshalText writes the protocol name.
func (p Protocol) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses a protocol name ("unknown" is the zero Protocol).
func (p *Protocol) UnmarshalText(b []byte) error {
	if string(b) == "unknown" {
		*p = 0
		return nil
	}
	for _, q := range Protocols() {
		if q.String() == string(b) {
			*p = q
			return nil
		}
	}
	return fmt.Errorf("baselines: unknown protocol %q", b)
}

// ChannelBucket is the store bucket of p's channels: "channels/modbus".
func ChannelBucket(p Protocol) string { return "channels/" + p.String() }

// Buckets returns the name of every store bucket TakeDelta writes to, in
// sorted order: one per kind of record and one per registered protocol's
// channels.
func Buckets() []string {
	out := []string{BucketDevices, BucketAlerts, BucketAccepted, BucketAudit}
	for _, p := range Protocols() {
		out = append(out, ChannelBucket(p))
	}
	slices.Sort(out)
	return out
}
