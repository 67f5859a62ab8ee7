package testpcaps

import (
	"path/filepath"
	"testing"
)

func TestRootFromEnvironment(t *testing.T) {
	t.Setenv("SLUICE_PCAPS", "/some/where")
	if got := Root(); got != "/some/where" {
		t.Fatalf("Root() = %q", got)
	}
}

func TestRootBesideRepository(t *testing.T) {
	t.Setenv("SLUICE_PCAPS", "")
	// This package is two levels below the repository root.
	want, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "pcaps"))
	if err != nil {
		t.Fatal(err)
	}
	if got := Root(); got != want {
		t.Fatalf("Root() = %q, want %q", got, want)
	}
}

func TestDirSkipsWhenAbsent(t *testing.T) {
	t.Setenv("SLUICE_PCAPS", t.TempDir())
	skipped := true
	t.Run("absent", func(t *testing.T) {
		Dir(t, "no-such-folder")
		skipped = false
	})
	if skipped == false {
		t.Fatal("Dir did not skip for a missing folder")
	}
}
