package testpcaps

import (
	"os"
	"path/filepath"
	"slices"
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

func TestFilesListsCapturesSorted(t *testing.T) {
	root := t.TempDir()
	t.Setenv("SLUICE_PCAPS", root)
	for _, name := range []string{"modbus/b.pcap", "modbus/a.pcapng", "opcua/c.pcap.gz", "modbus/README.md", "other/d.pcap"} {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := Files(t, "opcua", "modbus")
	want := []string{filepath.Join(root, "modbus/a.pcapng"), filepath.Join(root, "modbus/b.pcap"), filepath.Join(root, "opcua/c.pcap.gz")}
	if !slices.Equal(got, want) {
		t.Errorf("Files = %q, want %q", got, want)
	}
}
