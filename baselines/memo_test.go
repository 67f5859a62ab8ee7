package baselines

import (
	"encoding/json"
	"testing"
	"time"
)

// TestKnownReadMemo learns the same traffic twice, once with the channels'
// memo of learned reads and once with the memo emptied before every
// transaction, and requires identical baselines. The traffic rotates
// through more reads than the memo holds, mixes read functions on the same
// range, a read-write (FC 23) that shares a read key, and a hostile read
// that also carries a write.
func TestKnownReadMemo(t *testing.T) {
	var obs []Observation
	at := t0
	for round := range 40 {
		for blk := range knownReads + 4 {
			at = at.Add(50 * time.Millisecond)
			obs = append(obs, mbRead(at, hmi, 1, uint16(blk*20), 10))
		}
		at = at.Add(50 * time.Millisecond)
		in := mb(at, hmi, 1, 4)
		in.Modbus.ReadTable, in.Modbus.Read = InputRegisters, Range{0, 10}
		obs = append(obs, in)
		at = at.Add(50 * time.Millisecond)
		rw := mb(at, hmi, 1, 23)
		rw.Modbus.ReadTable, rw.Modbus.Read = HoldingRegisters, Range{0, 10}
		rw.Modbus.WriteTable, rw.Modbus.Write, rw.Modbus.Values = HoldingRegisters, Range{100, 1}, []uint16{uint16(round)}
		obs = append(obs, rw)
		if round%3 == 0 {
			at = at.Add(50 * time.Millisecond)
			odd := mbRead(at, hmi, 1, 0, 10)
			odd.Modbus.WriteTable, odd.Modbus.Write, odd.Modbus.Values = HoldingRegisters, Range{5, 1}, []uint16{7}
			obs = append(obs, odd)
		}
		at = at.Add(50 * time.Millisecond)
		obs = append(obs, mbRead(at, hmi, 1, 65530, 10)) // wraps: not learnable
	}
	learnAll := func(forget bool) string {
		e := New(Config{Mode: Learn})
		for i := range obs {
			if forget {
				for _, ch := range e.channels {
					ch.known = [knownReads]knownRead{}
				}
			}
			e.Observe(&obs[i])
		}
		b, err := json.Marshal(e.Snapshot())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	with, without := learnAll(false), learnAll(true)
	if with != without {
		t.Fatalf("the memo changed what was learned:\nwith    %s\nwithout %s", with, without)
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(with), &s); err != nil {
		t.Fatal(err)
	}
	// Twelve holding-register blocks, the input registers and the
	// wrapping read (a poll, though its range is not learnable).
	if len(s.Channels) != 1 || len(s.Channels[0].Polls) != knownReads+6 {
		t.Fatalf("want one channel with %d polls, got %d channels", knownReads+6, len(s.Channels))
	}
}
