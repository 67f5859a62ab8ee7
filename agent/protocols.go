package agent

import (
	"github.com/sluice-ics/sluice/baselines"
	"github.com/sluice-ics/sluice/internal/flow"
)

// modules is the protocol registry: every application protocol the agent
// decodes, in the order its stats, flags and metrics list them. Ports,
// flags, the kernel filter, stats, metrics labels and the report iterate
// over it, so adding a protocol is a new file with its module (see
// modbus.go) and one line here (docs/architecture.md has the checklist).
var modules = []*module{
	&modbusModule,
	&opcuaModule,
	&dnp3Module,
}

// module is one application protocol: how the agent recognises its
// connections, decodes them and names what it reports.
type module struct {
	// name is the protocol's one name: the event_type and object key of
	// its events, the key of its stats, the prefix of its port flag
	// (--modbus-ports) and its metrics label. It equals the baselines
	// protocol's name.
	name string
	// title names the protocol for people ("Modbus/TCP").
	title string
	// defaultPorts are the server ports of `sluice replay` without flags.
	defaultPorts []uint16
	// baseline is the protocol of the module's observations; 0 for a
	// protocol without a baseline model yet, whose transactions are
	// events only and whose anomalies are not judged.
	baseline baselines.Protocol
	// newStream returns the decoder glue of one connection; c is the
	// shared part, set up by the agent, which the stream embeds (by
	// value: one object per connection, not two to reach per packet).
	newStream func(c conn) flow.Stream
	// udp: the protocol also runs over UDP on its ports (DNP3, IEEE
	// 1815-2012 Annex C); each datagram carries whole messages of its
	// conversation (udp.go).
	udp bool
	// shared, when set, returns the state every connection of the
	// protocol shares in one agent (a memory budget across connections);
	// a stream finds it with conn.shared.
	shared func(cfg *Config) any
	// index is the module's position in the registry (set by init).
	index int
	// objectKey is `,"<name>":`, the key of the protocol object of its
	// events (set by init).
	objectKey string
}

func init() {
	for i, m := range modules {
		m.objectKey = `,"` + m.name + `":`
		m.index = i
	}
}

// ProtocolInfo describes one protocol the agent decodes, for flags, filters
// and help texts.
type ProtocolInfo struct {
	// Name is the event_type of its events and the key of its stats
	// ("modbus", "opcua").
	Name string
	// Title names it for people ("Modbus/TCP").
	Title string
	// DefaultPorts are its server ports when none are configured.
	DefaultPorts []uint16
	// UDP says its ports carry it over UDP too (DNP3).
	UDP bool
}

// Protocols lists the protocols the agent decodes, in registry order.
func Protocols() []ProtocolInfo {
	out := make([]ProtocolInfo, len(modules))
	for i, m := range modules {
		out[i] = ProtocolInfo{Name: m.name, Title: m.title, DefaultPorts: append([]uint16(nil), m.defaultPorts...), UDP: m.udp}
	}
	return out
}

// moduleIndex returns the registry index of the protocol named name, or -1.
func moduleIndex(name string) int {
	for i, m := range modules {
		if m.name == name {
			return i
		}
	}
	return -1
}
