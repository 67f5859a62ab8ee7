// Package dnp3 decodes DNP3 (IEEE 1815-2012) carried over TCP: link-layer
// framing of a reassembled byte stream with every CRC checked, transport
// reassembly, the application layer with its object headers and point
// values, request/response pairing and the "dnp3" event object.
//
// The package is pure: it knows nothing of packets, flows or baselines, so it
// can be fuzzed in isolation. The pieces, in the order octets flow through
// them:
//
//   - Framer (framer.go, link.go, crc.go) cuts one direction of a connection
//     into link frames (clause 9), checking the header CRC and the CRC of
//     every 16-octet user-data block (Annex E); bad frames are counted and
//     kept as errors, a stream that does not start with a link header fails
//     with ErrNotDNP3, and Resync scans for the next valid header after a
//     gap or for a connection picked up mid-stream.
//   - Reassembler (transport.go) rebuilds application fragments from the
//     transport segments of user-data frames (clause 8), per link address
//     pair, counting lost, repeated and out-of-order segments.
//   - Message (app.go, funcs.go, objects.go) decodes a fragment's header
//     (control, function code, internal indications; clause 4) and walks its
//     object headers for every qualifier, sized by a table of the groups and
//     variations of Annex A; Object.Points (points.go, free.go) decodes the
//     points of an object on demand.
//   - Pairer (pair.go) pairs a master's requests with the outstation's
//     responses by (master, outstation, application sequence number) and
//     yields Transactions; unsolicited responses and requests that expect no
//     response are transactions of their own.
//   - Transaction.AppendJSON (event.go) writes the value of an EVE event's
//     "dnp3" key, shaped like the dnp3 object of Suricata's DNP3 alerts;
//     docs/dnp3.md and docs/events.md list its fields.
//
// Nothing here allocates per frame once its buffers are warm, and nothing is
// safe for concurrent use: the caller keeps one Framer and one Reassembler
// per direction and one Pairer per connection.
package dnp3
