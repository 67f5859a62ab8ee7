package syslog

import (
	"slices"
	"testing"
)

func contents(q *queue) []string {
	var out []string
	for i := 0; i < q.n; i++ {
		out = append(out, string(q.ring[(q.head+i)%len(q.ring)]))
	}
	return out
}

// The queue keeps the newest messages within its count and byte limits;
// messages the sender puts back are the oldest again, and the first to go.
func TestQueue(t *testing.T) {
	q := newQueue(4, 10)
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		q.push([]byte(m))
	}
	if got := contents(q); !slices.Equal(got, []string{"b", "c", "d", "e"}) || q.dropped != 1 {
		t.Fatalf("after 5 pushes: %q, %d dropped", got, q.dropped)
	}
	q.push([]byte("ffffffff")) // 8 bytes: b and c go for it to fit in 10
	if got := contents(q); !slices.Equal(got, []string{"d", "e", "ffffffff"}) || q.dropped != 3 || q.bytes != 10 {
		t.Fatalf("after a large push: %q, %d dropped, %d bytes", got, q.dropped, q.bytes)
	}
	q.push([]byte("longer than the limit"))
	if got := contents(q); len(got) != 3 || q.dropped != 4 {
		t.Fatalf("a message over the limit: %q, %d dropped", got, q.dropped)
	}
	taken := [][]byte{q.popFront(), q.popFront()} // the sender takes d and e
	q.push([]byte("g"))
	q.pushFront(taken) // its write failed: e fits back in front, d, older, does not
	if got := contents(q); !slices.Equal(got, []string{"e", "ffffffff", "g"}) || q.dropped != 5 || q.bytes != 10 {
		t.Fatalf("after pushFront: %q, %d dropped, %d bytes", got, q.dropped, q.bytes)
	}
	if b := q.spare(); len(b) != 0 || cap(b) == 0 {
		t.Errorf("spare: len %d cap %d, want an empty buffer with room", len(b), cap(b))
	}
}
