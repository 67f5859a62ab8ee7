package store

import (
	"fmt"

	"github.com/sluice-ics/sluice/baselines"
)

// OpenEngine is what the agent does with --db: it opens (or creates) the
// store at path, loads its baseline into a new engine configured by cfg and
// starts the writer goroutine. Close the DB at the end of the run: it
// writes the last delta.
func OpenEngine(path string, cfg baselines.Config, opts Options) (*baselines.Engine, *DB, error) {
	db, err := Open(path, opts)
	if err != nil {
		return nil, nil, err
	}
	snap, err := db.Load()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	e := baselines.New(cfg)
	if err := e.Load(snap); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("store: %s: %w", path, err)
	}
	if opts.ReadOnly {
		return e, db, nil
	}
	if err := db.Start(e); err != nil {
		db.Close()
		return nil, nil, err
	}
	return e, db, nil
}
