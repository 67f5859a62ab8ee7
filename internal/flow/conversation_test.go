package flow

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// endLog is an Observer that logs what ended.
type endLog struct{ ends []string }

func (l *endLog) FirstBytes(c *Conn, toServer, toClient []byte, ts time.Time) {
	c.AppProto = fmt.Sprintf("%q/%q", toServer, toClient)
}

func (l *endLog) Ended(c *Conn, s *Summary) {
	l.ends = append(l.ends, fmt.Sprintf("%d %s>%s %s %s %s pkts %v", c.ID, c.Key.ClientIP, c.Key.ServerIP, s.State, s.Reason, c.AppProto, s.Pkts))
}

func seg4(src, dst byte, sp, dp uint16, flags uint8, seq uint32, payload string) *Segment {
	s := &Segment{SrcPort: sp, DstPort: dp, Flags: flags, Seq: seq, Payload: []byte(payload)}
	copy(s.Src[:], []byte{10, 0, 0, src})
	copy(s.Dst[:], []byte{10, 0, 0, dst})
	return s
}

// TestAttempts: a SYN nobody answers ends as attempted after
// AttemptTimeout; one refused ends at once as rejected; an answered one
// becomes an ordinary connection; with the table full, attempts are
// evicted before connections that carry data; an ignored connection's
// first bytes reach the Observer once, before its end.
func TestAttempts(t *testing.T) {
	obs := &endLog{}
	tab := NewTable(Config{MaxFlows: 3, AttemptTimeout: 30 * time.Second, Observer: obs}, func(*Conn, time.Time) Stream { return nil })
	t0 := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	// 1: answered, carries data.
	tab.Segment(seg4(1, 2, 40000, 22, flagSYN, 100, ""), at(0))
	tab.Segment(seg4(2, 1, 22, 40000, flagSYN|flagACK, 900, ""), at(time.Millisecond))
	tab.Segment(seg4(2, 1, 22, 40000, flagACK, 901, "SSH-2.0-x\r\n"), at(2*time.Millisecond))
	tab.Segment(seg4(1, 2, 40000, 22, flagACK, 101, "SSH-2.0-y\r\n"), at(3*time.Millisecond))
	// 2: refused.
	tab.Segment(seg4(1, 3, 40001, 23, flagSYN, 5, ""), at(4*time.Millisecond))
	tab.Segment(seg4(3, 1, 23, 40001, flagRST|flagACK, 0, ""), at(5*time.Millisecond))
	// 3 and 4: unanswered; 5 evicts 3 (the oldest attempt), not 1.
	tab.Segment(seg4(1, 4, 40002, 445, flagSYN, 7, ""), at(6*time.Millisecond))
	tab.Segment(seg4(1, 5, 40003, 445, flagSYN, 7, ""), at(7*time.Millisecond))
	tab.Segment(seg4(1, 6, 40004, 445, flagSYN, 7, ""), at(8*time.Millisecond))
	// 31 s later: the attempts time out; the SSH connection stays.
	tab.Segment(seg4(1, 2, 40000, 22, flagACK, 112, ""), at(31*time.Second))
	tab.Close()
	want := []string{
		`2 10.0.0.1>10.0.0.3 rejected rst ""/"" pkts [1 1]`,
		`3 10.0.0.1>10.0.0.4 attempted evicted ""/"" pkts [1 0]`,
		`4 10.0.0.1>10.0.0.5 attempted idle ""/"" pkts [1 0]`,
		`5 10.0.0.1>10.0.0.6 attempted idle ""/"" pkts [1 0]`,
		`1 10.0.0.1>10.0.0.2 established end "SSH-2.0-y\r\n"/"SSH-2.0-x\r\n" pkts [3 2]`,
	}
	if strings.Join(obs.ends, "\n") != strings.Join(want, "\n") {
		t.Errorf("ends:\n  %s\nwant:\n  %s", strings.Join(obs.ends, "\n  "), strings.Join(want, "\n  "))
	}
}
