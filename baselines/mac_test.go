package baselines

import (
	"testing"
	"time"
)

// TestDeviceMACFlip checks that a device whose frames alternate between two
// MACs (a PLC seen through a router and directly) always carries the vendor
// of its latest MAC, and that flipping back reuses the last lookup instead
// of asking Config.OUI again.
func TestDeviceMACFlip(t *testing.T) {
	lookups := map[MAC]int{}
	e := New(Config{Mode: Learn, OUI: func(mac [6]byte) string {
		lookups[mac]++
		return map[MAC]string{plcMAC: "PLC Vendor", {0x02, 0, 0, 0, 0, 9}: "Router Vendor"}[mac]
	}})
	router := MAC{0x02, 0, 0, 0, 0, 9}
	at := t0
	for i, tc := range []struct {
		mac    MAC
		vendor string
	}{
		{plcMAC, "PLC Vendor"},
		{router, "Router Vendor"},
		{plcMAC, "PLC Vendor"},
		{router, "Router Vendor"},
		{plcMAC, "PLC Vendor"},
		{MAC{}, "PLC Vendor"}, // no MAC (raw IP capture): keep the last
	} {
		o := mbRead(at, hmi, 1, 0, 10)
		o.ServerMAC = tc.mac
		e.Observe(&o)
		at = at.Add(time.Second)
		d := e.Snapshot().Device(plc.String())
		want := tc.mac
		if want.IsZero() {
			want = plcMAC
		}
		if d == nil || d.MAC != want || d.Vendor != tc.vendor {
			t.Fatalf("step %d: device %+v, want mac %v vendor %q", i, d, want, tc.vendor)
		}
	}
	if lookups[plcMAC] != 1 || lookups[router] != 1 {
		t.Fatalf("OUI lookups %v, want one per MAC", lookups)
	}
}
