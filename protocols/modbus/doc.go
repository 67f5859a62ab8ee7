// Package modbus decodes and encodes Modbus/TCP: MBAP framing on a
// reassembled TCP byte stream, request and response PDUs of every public
// function code, request/response pairing and the "modbus" event object.
//
// The package is pure: it knows nothing of packets, flows or baselines, so it
// can be fuzzed in isolation and the simulator can reuse its encoders. The
// pieces, in the order bytes flow through them:
//
//   - Framer (mbap.go) cuts one direction of a connection into ADUs,
//     whatever the TCP segmentation (Modbus Messaging on TCP/IP
//     Implementation Guide V1.0b, 3.1.3 and 4.2). It enforces the sanity
//     that Zeek enforces (protocol identifier 0, length 2..254) and reports
//     ErrNotModbus otherwise; after a gap or for a connection picked up
//     mid-stream, Resync scans for a plausible MBAP header instead.
//   - DecodeRequest and DecodeResponse (pdu.go) turn a PDU into a Request or
//     Response value, driven by the function-code table in funcs.go (Modbus
//     Application Protocol Specification V1.1b3, chapter 6). Values, file
//     records and device-identification objects alias the PDU bytes: decoding
//     allocates nothing.
//   - Request.AppendPDU, Response.AppendPDU and ADU.Append (encode.go) are
//     the inverse, for every function code.
//   - Pairer (pair.go) pairs requests and responses of one connection by
//     (transaction id, unit id), bounded and expired on packet time, and
//     yields Transactions.
//   - Transaction.AppendJSON (event.go) writes the value of an EVE event's
//     "modbus" key; docs/modbus.md lists its fields.
//
// Nothing here is safe for concurrent use; the caller keeps one Framer per
// direction and one Pairer per connection.
package modbus
