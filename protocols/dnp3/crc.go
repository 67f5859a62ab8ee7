package dnp3

// DNP3 link-layer CRC (IEEE 1815-2012, 9.2.5 and Annex E): CRC-16 with the
// generator polynomial x^16+x^13+x^12+x^11+x^10+x^8+x^6+x^5+x^2+1 (0x3D65),
// processed least significant bit first (the reflected polynomial 0xA6BC),
// initial value 0, the result complemented and sent low octet first. It
// protects the link header (its first eight octets) and every block of up
// to 16 user-data octets.

// crcTables holds the CRC of every octet value followed by k zero octets,
// k = 0..7: crcTables[0] is Annex E's table for one octet per step; the
// eight together process eight octets per step ("slicing by 8", as
// hash/crc32 does), which halves the cost of checking a 16-octet block.
var crcTables = func() (t [8][256]uint16) {
	for i := range t[0] {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA6BC
			} else {
				c >>= 1
			}
		}
		t[0][i] = c
	}
	for k := 1; k < 8; k++ {
		for i := range t[k] {
			c := t[k-1][i]
			t[k][i] = c>>8 ^ t[0][byte(c)]
		}
	}
	return t
}()

// CRC returns the DNP3 CRC of b, as it is sent: complemented, to be written
// low octet first.
func CRC(b []byte) uint16 {
	var c uint16
	t := &crcTables
	for len(b) >= 8 {
		c ^= uint16(b[0]) | uint16(b[1])<<8
		c = t[7][byte(c)] ^ t[6][c>>8] ^ t[5][b[2]] ^ t[4][b[3]] ^
			t[3][b[4]] ^ t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]
		b = b[8:]
	}
	for _, x := range b {
		c = c>>8 ^ t[0][byte(c)^x]
	}
	return ^c
}

// crcOK reports whether the two octets after b hold b's CRC.
func crcOK(b []byte, sum []byte) bool {
	return CRC(b) == uint16(sum[0])|uint16(sum[1])<<8
}
