package modbus

import "unsafe"

// unsafeString views b as a string without copying, for passing PDU bytes to
// jsonw.String, which only reads them before returning.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
