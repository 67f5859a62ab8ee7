package dnp3

// DNP3 link-layer CRC (IEEE 1815-2012, 9.2.5 and Annex E): CRC-16 with the
// generator polynomial x^16+x^13+x^12+x^11+x^10+x^8+x^6+x^5+x^2+1 (0x3D65),
// processed least significant bit first (the reflected polynomial 0xA6BC),
// initial value 0, the result complemented and sent low octet first. It
// protects the link header (its first eight octets) and every block of up
// to 16 user-data octets.

// crcTable holds the CRC of every octet value, for processing one octet per
// step (Annex E's table-driven method).
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA6BC
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC returns the DNP3 CRC of b, as it is sent: complemented, to be written
// low octet first.
func CRC(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c>>8 ^ crcTable[byte(c)^x]
	}
	return ^c
}

// crcOK reports whether the two octets after b hold b's CRC.
func crcOK(b []byte, sum []byte) bool {
	return CRC(b) == uint16(sum[0])|uint16(sum[1])<<8
}
