// Package opcua decodes OPC UA Binary (OPC 10000-6, "UA TCP" + "UA Secure
// Conversation") passively, from the reassembled byte streams of one TCP
// connection, for monitoring: it never sends, never holds keys, and never
// guesses the content of encrypted bodies.
//
// The package is pure: it knows nothing of packets, flows or baselines, so it
// can be fuzzed on bytes and reused by the simulator. Files by concept:
//
//   - chunk.go, framer.go: a per-direction Framer cuts the byte stream into
//     chunks (OPC 10000-6 §7.1.2 message header; §6.7.2 security and
//     sequence headers). It buffers a partial chunk within the negotiated
//     (HEL/ACK) or hard maximum chunk size, and resynchronises at the next
//     plausible chunk header after a TCP gap or when the handshake was not
//     captured.
//   - conn.go: a per-connection Conn reassembles multi-chunk messages per
//     request id (§6.7.2.4: 'C' continues, 'F' is final, 'A' aborts),
//     tracks the secure channel (policy, certificates, mode, read or
//     inferred) and the sessions (CreateSession, ActivateSession identity),
//     and pairs requests with responses by (secure channel id, request id),
//     with a pending cap and expiry on packet time.
//   - services.go: service bodies decoded with gopcua's ua codec and reduced
//     to Service values; fast.go: an allocation-light decoder for the hot
//     services (Read, Write, Publish) that gives identical results;
//     values.go: node ids, status codes and Variants in text form;
//     cert.go: certificate thumbprints and subjects.
//   - message.go, json.go: Message is one decoded exchange (a request and
//     its response, an unpaired request or response, or a
//     HEL/ACK/ERR/RHE/OPN/CLO); its AppendJSON writes the "opcua" object of
//     a Sluice event (fields in docs/opcua.md).
//
// Hostile bytes: every call into the gopcua codec runs under recover, bodies
// are size-capped before decoding and array lengths are validated against the
// bytes actually present (guard.go), so a malicious message costs a counter,
// not the agent.
//
// Concurrency: a Framer and a Conn are not safe for concurrent use; the flow
// layer guarantees calls for one connection are never concurrent.
package opcua
