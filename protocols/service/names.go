package service

import (
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Host names learned passively (issue #11 §4): what DNS answers and DHCP
// clients say an address is called. gopacket's DNS and DHCPv4 decoders
// read the messages (they report truncation and bad lengths as errors);
// this package keeps only the names, printable and bounded.

// Named binds a host name to an address.
type Named struct {
	Name string
	Addr netip.Addr
}

// maxAnswers bounds the names taken from one DNS response.
const maxAnswers = 16

// DNSAnswers returns the A and AAAA records of a DNS response (a UDP
// payload): each record's owner name with its address. Anything that is
// not a well-formed response gives none.
func DNSAnswers(b []byte) []Named {
	var d layers.DNS
	if err := d.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil || !d.QR || d.ResponseCode != layers.DNSResponseCodeNoErr {
		return nil
	}
	var out []Named
	for _, a := range d.Answers {
		if len(out) == maxAnswers {
			break
		}
		if a.Type != layers.DNSTypeA && a.Type != layers.DNSTypeAAAA || len(a.Name) == 0 {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !ip.IsValid() || ip.IsUnspecified() {
			continue
		}
		out = append(out, Named{Name: line(a.Name), Addr: ip.Unmap()})
	}
	return out
}

// DHCPHost returns the host name a DHCP client sends (option 12) with the
// address it has (ciaddr) or asks for (option 50), from a DHCPv4 request
// (a UDP payload to port 67).
func DHCPHost(b []byte) (Named, bool) {
	var d layers.DHCPv4
	if err := d.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil || d.Operation != layers.DHCPOpRequest {
		return Named{}, false
	}
	var n Named
	if ip, ok := netip.AddrFromSlice(d.ClientIP); ok && !ip.Unmap().IsUnspecified() {
		n.Addr = ip.Unmap()
	}
	for _, o := range d.Options {
		switch o.Type {
		case layers.DHCPOptHostname:
			n.Name = line(o.Data)
		case layers.DHCPOptRequestIP:
			if ip, ok := netip.AddrFromSlice(o.Data); ok && !n.Addr.IsValid() {
				n.Addr = ip.Unmap()
			}
		}
	}
	return n, n.Name != "" && n.Addr.IsValid() && !n.Addr.IsUnspecified()
}
