// Package report turns a learned baseline into the document an auditor
// reads and signs: `sluice report --db FILE --format html|md|json`
// (issue 5 §7).
//
// [Build] reads a [baselines.Snapshot] (from the store, or from a running
// engine) and computes a [Report]: the learning window, the capture sources,
// the asset inventory, the communication matrix, the per-device baseline
// (function codes, registers read and written as compact ranges and as a
// heat map, write envelopes, poll periods, OPC UA services, nodes and
// security), the alerts by rule and by device, the accepted deviations with
// their reasons, the audit trail, and the SHA-256 of the canonical baseline
// that `sluice baseline approve` signs. The Report is then written as one
// self-contained HTML file ([Report.WriteHTML]), Markdown
// ([Report.WriteMarkdown]) or JSON ([Report.WriteJSON]); [Report.WriteFile]
// writes any of them to a file, all or nothing.
//
// Determinism: every list is sorted and nothing reads the clock, so the same
// database gives the same report byte for byte except for
// [Options.Generated], which the caller passes in.
//
// Hostile text: device identities (FC 43/14 vendor names, FC 17 server
// ids), OPC UA application URIs, node ids, user names and alert signatures
// all come from the network and are attacker-controlled. The HTML writer
// renders them only through html/template's contextual escaping, the
// Markdown writer through mdEscape, and the JSON writer through
// encoding/json (which also escapes <, > and &): a report opened in a
// browser can never run script planted in a PLC's identity.
package report
