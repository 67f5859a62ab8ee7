package simulator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

func TestCaptureDeterministic(t *testing.T) {
	cfg := CaptureConfig{Scenario: "recon", Duration: 90 * time.Second, Seed: 7}
	a, la, err := Capture(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, lb, err := Capture(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(a) != sha256.Sum256(b) {
		t.Fatalf("two captures with the same configuration differ (%d and %d bytes)", len(a), len(b))
	}
	ja, _ := la.MarshalJSON()
	jb, _ := lb.MarshalJSON()
	if !bytes.Equal(ja, jb) {
		t.Fatalf("labels differ:\n%s\n%s", ja, jb)
	}
	t.Logf("%d bytes, labels %s", len(a), ja)
}
