package baselines

import (
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"time"

	"github.com/sluice-ics/sluice/protocols/modbus"
)

// Item is what a deviation is about, within its channel: a function code, a
// register, a node, a sub-function, a security property. Unused fields are
// zero. It is comparable (the alert suppression key is rule+channel+item).
type Item struct {
	Function uint8        `json:"function,omitempty"`
	Sub      uint16       `json:"sub_function,omitempty"`
	Table    modbus.Table `json:"table,omitempty"`
	Addr     uint16       `json:"address,omitempty"`
	Count    uint16       `json:"count,omitempty"`
	Node     string       `json:"node,omitempty"`
	// What names a property for rules about properties:
	// "policy", "mode", "token" (opcua_security_downgrade), "client"...
	What string `json:"what,omitempty"`
}

// Deviation identifies one alerted condition: the suppression key, and what
// `sluice baseline accept` folds into the baseline.
type Deviation struct {
	Rule    Rule       `json:"rule"`
	Channel ChannelKey `json:"channel"`
	Item    Item       `json:"item"`
	// Value is the offending value (write_value_out_of_range,
	// opcua_unexpected_write) or the offending property value (the policy
	// URI, a token type) as text in Text.
	Value float64 `json:"value,omitempty"`
	Text  string  `json:"text,omitempty"`
}

// ID returns the deviation's stable id: 16 hex digits of an FNV-1a hash of
// rule, channel and item (not value). Repeats of one deviation share it, so
// `sluice baseline accept --alert ID` names all of them.
func (d *Deviation) ID() string {
	h := fnv.New64a()
	var b [8]byte
	b[0] = byte(d.Rule)
	b[1] = byte(d.Channel.Protocol)
	b[2] = d.Channel.Unit
	binary.BigEndian.PutUint16(b[3:], d.Channel.Port)
	b[5] = d.Item.Function
	binary.BigEndian.PutUint16(b[6:], d.Item.Sub)
	h.Write(b[:])
	c, _ := d.Channel.Client.MarshalBinary()
	h.Write(c)
	h.Write([]byte{'>'})
	s, _ := d.Channel.Server.MarshalBinary()
	h.Write(s)
	b[0] = byte(d.Item.Table)
	binary.BigEndian.PutUint16(b[1:], d.Item.Addr)
	binary.BigEndian.PutUint16(b[3:], d.Item.Count)
	h.Write(b[:5])
	h.Write([]byte(d.Item.Node))
	h.Write([]byte{0})
	h.Write([]byte(d.Item.What))
	if d.Channel.Master != 0 || d.Channel.Outstation != 0 {
		// DNP3's link addresses, hashed only when set so that the ids
		// of the other protocols' deviations stay what they were.
		binary.BigEndian.PutUint16(b[0:], d.Channel.Master)
		binary.BigEndian.PutUint16(b[2:], d.Channel.Outstation)
		h.Write(b[:4])
	}
	var sum [8]byte
	binary.BigEndian.PutUint64(sum[:], h.Sum64())
	return hex.EncodeToString(sum[:])
}

// Alert is one raised alert, shaped for a Suricata EVE "alert" event. The
// agent writes it with the triggering transaction (Obs) or decoder anomaly
// (Anomaly) attached.
type Alert struct {
	Time time.Time
	Deviation
	// ID is Deviation.ID().
	ID          string
	SignatureID uint32
	Severity    uint8 // 1 high … 3 low
	// Signature is a human sentence naming the device, unit, register or
	// node. It contains network-derived text: escape it when writing.
	Signature string
	Category  string
	// Techniques are ATT&CK for ICS ids; shared, do not modify.
	Techniques []string
	// Count is the number of occurrences this alert stands for: 1, or 1
	// plus the repeats suppressed since the previous alert of the same
	// deviation (one alert per Config.AlertEvery).
	Count uint64
	// Resolved marks the end of a condition (poll_stopped: the poll came
	// back).
	Resolved bool
	// Update marks an alert that only reports the repeats of an earlier
	// one held back by AlertEvery (Count of them), written when AlertEvery
	// has passed or at the end of the run.
	Update bool
	// Endpoints is the flow context (zero for Tick-raised alerts that have
	// no single flow; then Channel names the parties).
	Endpoints
	// Obs is the triggering observation, Anomaly the triggering decoder
	// anomaly; at most one is set. Both point to the caller's value and
	// are valid only until the caller reuses it.
	Obs     *Observation
	Anomaly *Anomaly
	// Process are the figures of a process alert (rules 37-40): nil for
	// the others and for updates.
	Process *ProcessFacts
}
