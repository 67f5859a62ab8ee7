// Package baselines knows what normal looks like for every device on an
// industrial network and says when something else happens.
//
// It consumes decoded transactions, never packets: the agent converts each
// paired Modbus/TCP or OPC UA request/response into an [Observation] and each
// decoder complaint into an [Anomaly], and calls [Engine.Observe],
// [Engine.ObserveAnomaly] and, as packet time advances, [Engine.Tick]. An
// Observation carries what every protocol has (time, endpoints, whether it
// was answered) and a [Detail]: a [*ModbusObs] or an [*OPCUAObs]. The
// engine keeps
//
//   - an asset inventory ([Device]): IP, MAC, OUI vendor, roles, unit ids,
//     first/last seen, counts and passively learned identity;
//   - a model per channel ([Channel]): for Modbus the (client IP, server IP,
//     unit id) triple, for OPC UA the (client IP, server IP, endpoint port)
//     triple. Keys are channels and items, never ephemeral ports, so an HMI
//     that opens a new connection for every poll is one channel.
//
// # Shape
//
// The package is cut by protocol. A shared core holds what every protocol
// has: the engine (engine.go: Observe, ObserveAnomaly, Tick, and the lookup
// cache in lookup.go), the inventory (device.go), the common part of a
// channel (channel.go: key, first/last seen, transactions, peak window,
// writes), the sliding rate windows and request_flood (window.go,
// engine.go), the polls and poll_stopped (poll.go), alert suppression,
// records, acceptances and the audit trail (record.go, alert.go), the
// snapshot, Load, TakeDelta and Accept (snapshot.go) and Diff (diff.go).
//
// Each protocol has a model (modbus.go, opcua.go): its observation type,
// its channels' learned fields ([ModbusModel], [OPCUAModel], the Model of a
// Channel), how it learns and judges them, its rules (signatures that need
// no baseline, such as diagnostic_command, and its rate rules, such as scan
// and exception_burst), what accepting a deviation folds in, how it lists
// its items and names its channels. A model is reached only through the
// small interface in protocol.go; each model registers itself from its
// file (register), and the registered models are the one list of the
// protocols: Observe dispatches through it, and Protocol names, roles,
// the rule table, Load's validation and the store's layout
// (store.SchemaVersion 2: one bucket of channels per protocol) iterate it.
// docs/architecture-baselines.md has the checklists for adding a protocol
// or a rule.
//
// Learning and judging are kept apart (as Zeek keeps known-masters-slaves
// apart from its Modbus analyzer): a model's learn folds successful
// transactions into its channel, its judge compares transactions with it,
// and both return what they found (new items, the poll touched) to the
// engine. rules.go and the models declare the alert rules with their
// stable numbers, names, signature ids and ATT&CK for ICS techniques
// (docs/alerts.md documents each one).
//
// What is stored and exported ([Device], [Channel] and its model,
// [AlertRecord], [Acceptance], [AuditEntry]) holds nothing but what is
// stored; this run's caches and state live beside it (device, channel,
// poll, chanRuntime). The models' memos (modbus_memo.go, opcua_memo.go)
// are runtime state of their model that remembers only what cannot change
// back; an engine without memos or caches (the reference engine of the
// tests) gives the same verdicts, which FuzzObserve checks.
//
// Time is always the packet time carried by the inputs; nothing in the data
// path reads the wall clock, so replaying a capture gives the same alerts
// every time.
//
// Concurrency: one goroutine feeds an Engine (Observe, ObserveAnomaly,
// Tick). Snapshot, Accept and the store's flusher may run concurrently with
// it; they synchronise on the engine's mutex.
package baselines
