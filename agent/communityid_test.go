package agent

import (
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// TestCommunityIDTshark: every event of a connection carries the flow's
// Community ID, and it is Wireshark's: for every shared capture, each
// connection's community_id equals the one tshark computes for its TCP
// packets, over IPv4 and IPv6 (issue #11 §2; tshark --enable-protocol
// communityid).
func TestCommunityIDTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	key := func(a, b netip.AddrPort) [2]netip.AddrPort {
		if a.Addr().Compare(b.Addr()) > 0 || a.Addr() == b.Addr() && a.Port() > b.Port() {
			a, b = b, a
		}
		return [2]netip.AddrPort{a, b}
	}
	compared := 0
	for _, path := range testpcaps.Files(t, "modbus", "opcua", "dnp3") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ours := map[[2]netip.AddrPort]string{}
			for _, e := range parseEvents(t, replayFile(t, path, nil)) {
				if e.FlowID == nil || e.SrcPort == 0 {
					if e.CommunityID != "" {
						t.Errorf("%s event without a connection has community_id %s", e.EventType, e.CommunityID)
					}
					continue
				}
				src, err1 := netip.ParseAddr(e.SrcIP)
				dst, err2 := netip.ParseAddr(e.DestIP)
				if err1 != nil || err2 != nil {
					t.Fatalf("addresses %q %q", e.SrcIP, e.DestIP)
				}
				k := key(netip.AddrPortFrom(src, uint16(e.SrcPort)), netip.AddrPortFrom(dst, uint16(e.DestPort)))
				if old, ok := ours[k]; ok && old != e.CommunityID {
					t.Errorf("connection %v: community_id %s and %s", k, old, e.CommunityID)
				}
				ours[k] = e.CommunityID
			}
			theirs := map[[2]netip.AddrPort]string{}
			for _, r := range tsharkRows(t, path, []string{"ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport", "communityid"},
				"--enable-protocol", "communityid", "-Y", "tcp") {
				sp, err1 := strconv.Atoi(r[2])
				dp, err2 := strconv.Atoi(r[5])
				src, err3 := netip.ParseAddr(first(r[0], r[1]))
				dst, err4 := netip.ParseAddr(first(r[3], r[4]))
				if err1 != nil || err2 != nil || err3 != nil || err4 != nil || r[6] == "" {
					continue // an ICMP-quoted or tunnelled header: several values
				}
				theirs[key(netip.AddrPortFrom(src, uint16(sp)), netip.AddrPortFrom(dst, uint16(dp)))] = r[6]
			}
			for k, id := range ours {
				want, ok := theirs[k]
				if !ok {
					t.Errorf("connection %v: tshark has no TCP packet of it", k)
					continue
				}
				if id != want {
					t.Errorf("connection %v: community_id %s, tshark %s", k, id, want)
				}
				compared++
			}
		})
	}
	t.Logf("%d connections compared with tshark", compared)
}
