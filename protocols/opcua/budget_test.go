package opcua

import (
	"testing"
	"time"

	"github.com/gopcua/opcua/ua"
)

// TestBudgetBoundsAllConns: 24 connections that each start a chunked
// message and never finish it (the reproduction of issue #15) hold no more
// than the shared budget together; what is refused is counted, a finished
// message on a connection still decodes, and closing the connections gives
// every byte back.
func TestBudgetBoundsAllConns(t *testing.T) {
	b := &Budget{Limit: 1 << 20}
	ts := time.Unix(0, 0)
	piece := make([]byte, 8000)
	var conns []*Conn
	for range 24 {
		c, _ := newTestConn(Config{Budget: b})
		conns = append(conns, c)
		for i := range 100 { // 800 kB per connection if nothing refused it
			c.FeedClient(msgChunk("MSG", ChunkIntermediate, 1, 7, piece), ts.Add(time.Duration(i)))
			if b.Used() > b.Limit {
				t.Fatalf("budget used %d > limit %d", b.Used(), b.Limit)
			}
		}
	}
	var over uint64
	for _, c := range conns {
		over += c.Stats().OverBudget
	}
	if over == 0 || b.Refused() != over {
		t.Fatalf("over budget %d, refused %d", over, b.Refused())
	}
	if b.Used() == 0 {
		t.Fatal("nothing held: the first connections' messages should fit")
	}

	// Closing the connections returns their bytes; a new connection's
	// chunked message then reassembles and decodes.
	for _, c := range conns {
		c.Close(ts)
	}
	if b.Used() != 0 {
		t.Fatalf("%d bytes still held after every connection closed", b.Used())
	}
	c, msgs := newTestConn(Config{Budget: b})
	body := encodeService(t, writeRequest(1, "i=1", 1.0))
	q := len(body) / 2
	c.FeedClient(msgChunk("MSG", ChunkIntermediate, 1, 9, body[:q]), ts)
	c.FeedClient(msgChunk("MSG", ChunkFinal, 1, 9, body[q:]), ts)
	c.FeedServer(msgChunk("MSG", ChunkFinal, 1, 9, encodeService(t, writeResponse(1, ua.StatusGood))), ts)
	if len(*msgs) != 1 || (*msgs)[0].Request == nil || len((*msgs)[0].Request.Writes) != 1 {
		t.Fatalf("messages %+v", *msgs)
	}
	if b.Used() != 0 {
		t.Fatalf("%d bytes held after the message completed", b.Used())
	}
}

// TestBudgetReleasedOnGapAndAbort: a gap or an abort chunk gives the
// unfinished message's bytes back, and Release gives back everything even
// when the Conn is abandoned half-way.
func TestBudgetReleasedOnGapAndAbort(t *testing.T) {
	b := &Budget{Limit: 1 << 20}
	ts := time.Unix(0, 0)
	piece := make([]byte, 1000)
	c, _ := newTestConn(Config{Budget: b})
	c.FeedClient(msgChunk("MSG", ChunkIntermediate, 1, 1, piece), ts)
	c.FeedClient(msgChunk("MSG", ChunkIntermediate, 1, 2, piece), ts)
	c.FeedClient(msgChunk("MSG", ChunkAbort, 1, 1, nil), ts)
	c.FeedServer(msgChunk("MSG", ChunkIntermediate, 1, 3, piece), ts)
	c.Gap(false)
	if got, want := b.Used(), c.held; got != want || got == 0 {
		t.Fatalf("used %d, conn holds %d", got, want)
	}
	c.Gap(true)
	if b.Used() != 0 {
		t.Fatalf("%d bytes held after the abort and both gaps", b.Used())
	}
	c.FeedClient(msgChunk("MSG", ChunkIntermediate, 1, 4, piece), ts)
	c.Release()
	if b.Used() != 0 || len(c.dirs[0].partial) != 0 {
		t.Fatalf("%d bytes held after Release", b.Used())
	}
}
