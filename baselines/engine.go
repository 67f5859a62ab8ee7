package baselines

import (
	"sync"
	"time"
)

// Engine learns and judges. Create it with New; feed it from one goroutine.
type Engine struct {
	mu  sync.Mutex
	cfg Config
	out []Alert
}

// New returns an engine with an empty baseline.
func New(cfg Config) *Engine {
	return &Engine{cfg: cfg.withDefaults()}
}

// Observe learns from and/or judges one transaction and returns the alerts
// it raises. The returned slice is reused by the next call to Observe,
// ObserveAnomaly or Tick.
func (e *Engine) Observe(o *Observation) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = e.out[:0]
	return e.out
}

// ObserveAnomaly judges one decoder anomaly (malformed,
// non_protocol_traffic). The returned slice is reused as for Observe.
func (e *Engine) ObserveAnomaly(a *Anomaly) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = e.out[:0]
	return e.out
}

// Tick advances packet time to now: it ends learning windows and raises
// time-driven alerts (poll_stopped). Call it as packet time advances (once a
// second of packet time is plenty); now must come from packets.
func (e *Engine) Tick(now time.Time) []Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = e.out[:0]
	return e.out
}
