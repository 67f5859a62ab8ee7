package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile writes the report in format f to path through a temporary file
// in the same directory (mode 0640: the report describes the plant) and
// renames it, so a failed write never leaves half a report.
func (r *Report) WriteFile(path string, f Format) error {
	return writeFile(path, func(w io.Writer) error { return r.Write(w, f) })
}

// WriteFile writes the fleet report to path as Report.WriteFile does.
func (r *FleetReport) WriteFile(path string, f Format) error {
	return writeFile(path, func(w io.Writer) error { return r.Write(w, f) })
}

// writeFile writes to path through a temporary file in its directory,
// renamed into place once whole (mode 0640).
func writeFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o640)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
