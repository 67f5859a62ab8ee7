package baselines

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// TestUnconfirmedEndpointsAreNotDevices is issue #15's spoofed-flow
// reproduction at the baseline's level: requests from 5,000 sources that
// no server ever answered add no device and no channel, and are counted;
// one answered exchange adds both ends.
func TestUnconfirmedEndpointsAreNotDevices(t *testing.T) {
	e := New(Config{Mode: Learn})
	for i := range 5000 {
		o := mb(t0.Add(time.Duration(i)*time.Millisecond), netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), 1, 3)
		o.Responded = false
		e.Observe(&o)
	}
	s := e.Snapshot()
	if len(s.Devices) != 0 || len(s.Channels) != 0 {
		t.Fatalf("%d devices, %d channels from unanswered requests", len(s.Devices), len(s.Channels))
	}
	if got := e.Limited().Unconfirmed; got != 10000 { // both ends of each
		t.Fatalf("unconfirmed %d, want 10000", got)
	}
	o := mb(t0.Add(time.Hour), hmi, 1, 3)
	e.Observe(&o)
	if s := e.Snapshot(); len(s.Devices) != 2 || len(s.Channels) != 1 {
		t.Fatalf("answered exchange: %d devices, %d channels, want 2 and 1", len(s.Devices), len(s.Channels))
	}
}

// TestDeviceAndChannelCaps: at MaxDevices and MaxChannels the baseline
// stops growing and counts what it refused.
func TestDeviceAndChannelCaps(t *testing.T) {
	e := New(Config{Mode: Learn, MaxDevices: 10, MaxChannels: 4})
	for i := range 100 {
		// Ten clients, ten units each, against one PLC: 100 channels
		// and 11 devices wanted.
		o := mb(t0.Add(time.Duration(i)*time.Second), netip.AddrFrom4([4]byte{10, 10, 1, byte(i / 10)}), uint8(i%10), 3)
		e.Observe(&o)
	}
	s := e.Snapshot()
	if len(s.Devices) != 10 || len(s.Channels) != 4 {
		t.Fatalf("%d devices, %d channels, want the caps 10 and 4", len(s.Devices), len(s.Channels))
	}
	l := e.Limited()
	if l.Devices == 0 || l.Channels == 0 {
		t.Fatalf("limited %+v: the refusals are not counted", l)
	}
}

// TestItemsCap: one OPC UA client reading 20,000 node ids (issue #15:
// 200,000 that do not exist) learns at most MaxItems of them.
func TestItemsCap(t *testing.T) {
	e := New(Config{Mode: Learn, MaxItems: 100})
	for i := range 20000 {
		o := ua(t0.Add(time.Duration(i)*time.Millisecond), hmi, "Read")
		uaOf(&o).Read = []string{"ns=2;s=absent." + strconv.Itoa(i)}
		e.Observe(&o)
	}
	s := e.Snapshot()
	if len(s.Channels) != 1 {
		t.Fatalf("%d channels", len(s.Channels))
	}
	if n := len(s.Channels[0].Model.(*OPCUAModel).NodesRead); n != 100 {
		t.Fatalf("%d nodes learned, cap 100", n)
	}
	if got := e.Limited().Items; got != 20000-100 {
		t.Fatalf("items refused %d, want %d", got, 20000-100)
	}
}
