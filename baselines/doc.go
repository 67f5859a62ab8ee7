// Package baselines knows what normal looks like for every device on an
// industrial network and says when something else happens.
//
// It consumes decoded transactions, never packets: the agent converts each
// paired Modbus/TCP or OPC UA request/response into an [Observation] and each
// decoder complaint into an [Anomaly], and calls [Engine.Observe],
// [Engine.ObserveAnomaly] and, as packet time advances, [Engine.Tick]. The
// engine keeps
//
//   - an asset inventory ([Device]): IP, MAC, OUI vendor, roles, unit ids,
//     protocols, first/last seen, counts and passively learned identity;
//   - a model per channel ([Channel]): for Modbus the (client IP, server IP,
//     unit id) triple, for OPC UA the (client IP, server IP, endpoint port)
//     triple. Keys are channels and items, never ephemeral ports, so an HMI
//     that opens a new connection for every poll is one channel.
//
// Learning and judging are kept apart (as Zeek keeps known-masters-slaves
// apart from its Modbus analyzer): learn.go folds successful transactions
// into the model, judge.go compares transactions with it, rules.go lists the
// alert rules with their stable names, signature ids and ATT&CK for ICS
// techniques (docs/alerts.md documents each one).
//
// Time is always the packet time carried by the inputs; nothing in the data
// path reads the wall clock, so replaying a capture gives the same alerts
// every time.
//
// Concurrency: one goroutine feeds an Engine (Observe, ObserveAnomaly,
// Tick). Snapshot, Accept and the store's flusher may run concurrently with
// it; they synchronise on the engine's mutex.
package baselines
