package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	"github.com/sluice-ics/sluice/agent"
)

// outputMode is the permission of an event output file: events name the
// plant's devices and addresses, so they are for root and the log group
// (a shipper), not for everybody.
const outputMode fs.FileMode = 0o640

// opened is what openOutput found and did to an existing output file, for
// the command to report.
type opened struct {
	// repaired is 1 when the file ended with a partial line (an event cut
	// by a failed write or a crash) that was terminated with a newline.
	repaired int
	// partial is that line's length in bytes.
	partial int64
	// modeFrom and modeTo are the file's permissions before and after
	// they were tightened to outputMode (equal when nothing changed).
	modeFrom, modeTo fs.FileMode
	// warning says what could not be done (tighten the mode, look at
	// the file's end), "" when nothing failed.
	warning string
}

// report writes what o says to standard error, as cmd (the command's name)
// about path.
func (o opened) report(cmd, path string) {
	if o.repaired > 0 {
		fmt.Fprintf(os.Stderr, "%s: warning: %s ended with a partial line of %d bytes (an event cut by a failed write or a crash); terminated it with a newline so that no event is appended to it\n", cmd, path, o.partial)
	}
	if o.modeFrom != o.modeTo {
		fmt.Fprintf(os.Stderr, "%s: %s: mode %04o tightened to %04o (events name the plant's devices)\n", cmd, path, o.modeFrom, o.modeTo)
	}
	if o.warning != "" {
		fmt.Fprintf(os.Stderr, "%s: warning: %s\n", cmd, o.warning)
	}
}

// openOutput opens the event output: standard output for "-" or "", else
// FILE created with mode 0640 (outputMode). appendMode keeps what is there
// (a monitor restarting must not wipe its log); otherwise the file is
// truncated.
//
// An existing regular file is brought to what a new one would be: a mode
// looser than 0640 is tightened (the baseline store does the same with its
// file), and in append mode a last line without its newline (a failed
// write or a crash cut an event) is terminated, so that the next event
// starts a line of its own instead of being glued to the fragment. It is
// terminated rather than cut off: the file only grows, as log shippers that
// remember an offset in it expect (a file that shrinks is read as truncated
// and sent again from the start), and a last event that lost only its
// newline stays whole. The fragment stays as one line that is not JSON,
// where the output failed.
func openOutput(path string, appendMode bool) (io.WriteCloser, opened, error) {
	var o opened
	if path == "" || path == "-" {
		return nopCloser{os.Stdout}, o, nil
	}
	flags := os.O_WRONLY | os.O_CREATE
	if appendMode {
		flags |= os.O_APPEND
	} else {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, outputMode)
	if err != nil {
		return nil, o, fmt.Errorf("opening output: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return f, o, nil // a FIFO, /dev/stdout, /dev/null: nothing to fix
	}
	o.modeFrom, o.modeTo = fi.Mode().Perm(), fi.Mode().Perm()
	if loose := o.modeFrom &^ outputMode; loose != 0 {
		if err := f.Chmod(o.modeFrom & outputMode); err != nil {
			o.warning = fmt.Sprintf("%s: mode %04o is looser than %04o and cannot be tightened: %v", path, o.modeFrom, outputMode, err)
		} else {
			o.modeTo = o.modeFrom & outputMode
		}
	}
	if appendMode && fi.Size() > 0 {
		if n, err := partialLine(path, fi.Size()); err != nil {
			o.warning = fmt.Sprintf("%s: cannot read its end to check for a partial line: %v", path, err)
		} else if n > 0 {
			if _, err := f.Write([]byte{'\n'}); err != nil {
				f.Close()
				return nil, o, fmt.Errorf("opening output: terminating a partial last line of %d bytes: %w", n, err)
			}
			o.repaired, o.partial = 1, n
		}
	}
	return f, o, nil
}

// partialLine returns the length of the last line of the file at path
// (size bytes) when it does not end with a newline, 0 when it does.
func partialLine(path string, size int64) (int64, error) {
	r, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := r.ReadAt(b, start); err != nil {
			return 0, err
		}
		if end == size && b[len(b)-1] == '\n' {
			return 0, nil
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return size - (start + int64(i) + 1), nil
		}
		end = start
	}
	return size, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// CutTail implements agent.TailCutter for standard output redirected to a
// regular file.
func (n nopCloser) CutTail(k int) error {
	if f, ok := n.Writer.(*os.File); ok {
		return agent.CutFileTail(f, k)
	}
	return errors.ErrUnsupported
}

// reopener is the monitor's output: a file that SIGHUP reopens (logrotate
// moves the old one away). Writes come from the agent, under its output
// lock; reopen swaps the file between two writes.
type reopener struct {
	path string
	mu   sync.Mutex
	cur  io.WriteCloser
}

func (r *reopener) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.Write(p)
}

// CutTail implements agent.TailCutter: a failed write's partial event is
// cut from the file it went to.
func (r *reopener) CutTail(n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch f := r.cur.(type) {
	case *os.File:
		return agent.CutFileTail(f, n)
	case agent.TailCutter:
		return f.CutTail(n)
	}
	return errors.ErrUnsupported
}

// reopen opens the path anew and closes the old file. Standard output is
// not reopened.
func (r *reopener) reopen() (opened, error) {
	if r.path == "" || r.path == "-" {
		return opened{}, nil
	}
	f, o, err := openOutput(r.path, true)
	if err != nil {
		return o, err
	}
	r.mu.Lock()
	old := r.cur
	r.cur = f
	r.mu.Unlock()
	return o, old.Close()
}

func (r *reopener) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.Close()
}
