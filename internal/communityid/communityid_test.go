package communityid

import (
	"net/netip"
	"testing"
)

// The specification's examples (community-id-spec, seed 0) for TCP and UDP
// over IPv4, in both directions: a flow has one id whichever end sent the
// packet. The agent's test compares every shared capture's TCP flows with
// tshark's communityid.
func TestV1SpecVectors(t *testing.T) {
	for _, c := range []struct {
		proto    uint8
		src, dst string
		want     string
	}{
		{TCP, "128.232.110.120:34855", "66.35.250.204:80", "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{TCP, "66.35.250.204:80", "128.232.110.120:34855", "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
		{UDP, "192.168.1.52:54585", "8.8.8.8:53", "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
		{UDP, "8.8.8.8:53", "192.168.1.52:54585", "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
	} {
		got := V1(0, netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst), c.proto)
		if got != c.want {
			t.Errorf("%d %s → %s: %s, want %s", c.proto, c.src, c.dst, got, c.want)
		}
	}
}

// IPv6 and IPv4-mapped addresses: one id both ways; a mapped address is
// hashed as the IPv4 address it carries.
func TestV1Addresses(t *testing.T) {
	a, b := netip.MustParseAddrPort("[2001:db8::1]:502"), netip.MustParseAddrPort("[2001:db8::2]:40000")
	if V1(0, a, b, TCP) != V1(0, b, a, TCP) {
		t.Error("IPv6: the id depends on the direction")
	}
	v4, mapped := netip.MustParseAddrPort("10.0.0.1:502"), netip.MustParseAddrPort("[::ffff:10.0.0.1]:502")
	peer := netip.MustParseAddrPort("10.0.0.2:40000")
	if V1(0, v4, peer, TCP) != V1(0, mapped, peer, TCP) {
		t.Error("a mapped IPv4 address hashes differently")
	}
	if V1(0, v4, peer, TCP) == V1(1, v4, peer, TCP) || V1(0, v4, peer, TCP) == V1(0, v4, peer, UDP) {
		t.Error("the seed or the protocol does not change the id")
	}
}
