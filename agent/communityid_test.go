package agent

import (
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// TestCommunityIDTshark: every event of a conversation carries its
// Community ID, and it is Wireshark's: for every shared capture, each
// conversation's community_id (TCP, UDP, ICMP, over IPv4 and IPv6) equals
// the one tshark computes for its packets (issue #11 §2; tshark
// --enable-protocol communityid).
func TestCommunityIDTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	type convKey struct {
		proto string
		a, b  netip.AddrPort
	}
	key := func(proto string, a, b netip.AddrPort) convKey {
		if a.Addr().Compare(b.Addr()) > 0 || a.Addr() == b.Addr() && a.Port() > b.Port() {
			a, b = b, a
		}
		return convKey{proto, a, b}
	}
	compared := map[string]int{}
	for _, path := range testpcaps.Files(t, "modbus", "opcua", "dnp3") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ours := map[convKey]string{}
			for _, e := range parseEvents(t, replayFile(t, path, nil)) {
				if e.FlowID == nil {
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
				k := key(e.Proto, netip.AddrPortFrom(src, uint16(e.SrcPort)), netip.AddrPortFrom(dst, uint16(e.DestPort)))
				if old, ok := ours[k]; ok && old != e.CommunityID {
					t.Errorf("conversation %v: community_id %s and %s", k, old, e.CommunityID)
				}
				ours[k] = e.CommunityID
			}
			// Every packet's id, keyed as ours: TCP and UDP by their
			// ports, ICMP by its addresses (tshark gives each packet
			// of a conversation the id of the conversation).
			theirs := map[convKey]map[string]bool{}
			for _, r := range tsharkRows(t, path, []string{"ip.src", "ipv6.src", "tcp.srcport", "udp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport", "udp.dstport", "communityid", "icmp.type", "icmpv6.type"},
				"--enable-protocol", "communityid", "-Y", "(tcp or udp or icmp or icmpv6) and not icmp.resp_to and not (icmp.type == 3 or icmp.type == 11 or icmpv6.type < 128)") {
				src, err3 := netip.ParseAddr(first(r[0], r[1]))
				dst, err4 := netip.ParseAddr(first(r[4], r[5]))
				if err3 != nil || err4 != nil || r[8] == "" {
					continue // an ICMP-quoted or tunnelled header: several values
				}
				proto, sp, dp := "TCP", r[2], r[6]
				switch {
				case r[3] != "":
					proto, sp, dp = "UDP", r[3], r[7]
				case r[9] != "":
					proto, sp, dp = "ICMP", "0", "0"
				case r[10] != "":
					proto, sp, dp = "IPv6-ICMP", "0", "0"
				}
				spn, err1 := strconv.Atoi(sp)
				dpn, err2 := strconv.Atoi(dp)
				if err1 != nil || err2 != nil {
					continue
				}
				k := key(proto, netip.AddrPortFrom(src, uint16(spn)), netip.AddrPortFrom(dst, uint16(dpn)))
				if theirs[k] == nil {
					theirs[k] = map[string]bool{}
				}
				theirs[k][r[8]] = true
			}
			for k, id := range ours {
				want, ok := theirs[k]
				if !ok {
					t.Errorf("conversation %v: tshark has no packet of it", k)
					continue
				}
				if !want[id] {
					t.Errorf("conversation %v: community_id %s, tshark %v", k, id, want)
				}
				compared[k.proto]++
			}
		})
	}
	t.Logf("conversations compared with tshark, by transport: %v", compared)
}
