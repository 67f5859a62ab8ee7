package simulator

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrReadOnly is returned by Process.Set for a tag that is not writable; the
// Modbus server answers exception 02 and OPC UA Bad_NotWritable.
var ErrReadOnly = errors.New("simulator: tag is read-only")

// ErrOutOfRange is returned by Process.Set for a value outside the tag's
// valid range; the Modbus server answers exception 03 (illegal data value)
// and OPC UA Bad_OutOfRange.
var ErrOutOfRange = errors.New("simulator: value outside the valid range")

// Physical constants of the dam. The numbers make a plant that holds its level
// within centimetres an hour in normal operation, so that an absurd setpoint
// (a gate at 95 %, a turbine at 35 MW) is what moves it.
const (
	stepDT          = time.Second // model integration step
	reservoirArea   = 2.5e6       // m², surface of the reservoir at normal level
	spillwayCrest   = 115.0       // m, crest of the spillway sill
	spillwayK       = 72.0        // discharge coefficient: Q = K·(pos/100)^1.5·√head
	tailwater       = 62.0        // m, level below the power house
	turbineEff      = 0.9         // hydraulic efficiency of a unit
	gateRate        = 0.5         // %/s, actuator rate limit of a spillway gate
	powerRate       = 0.2         // MW/s, ramp rate of a generating unit
	spinUpRate      = 30.0        // rpm/s, a unit's start-up to its synchronous speed
	tripPower       = 30.0        // MW, overload protection of a unit
	gateFaultDev    = 15.0        // %, position error that counts as not following
	gateFaultAfter  = 60          // s of not following before the gate fault alarm
	inflowMean      = 80.0        // m³/s, long-run mean of the weather-driven inflow
	ratedSpeed      = 300.0       // rpm, synchronous speed of a unit
	overspeed       = 1.4         // speed / rated after a load rejection (a trip at full load)
	turbidityBase   = 4.0         // NTU
	turbidityFilter = 0.02        // first-order filter of the turbidity sensor per step
)

// Process is the dam's physical process, advanced in fixed one-second steps
// of simulated time. It never reads the wall clock: the same seed and the same
// sequence of AdvanceTo and Set calls give the same values, which is what
// makes captures deterministic. It is safe for concurrent use (the Modbus and
// OPC UA servers read and write it from their goroutines).
type Process struct {
	mu   sync.Mutex
	rng  *rand.Rand
	now  time.Duration // simulated time since the start
	v    []float64     // current value of each tag, indexed like Tags
	idx  map[string]int
	turb float64 // unfiltered turbidity
	// gateBad counts the seconds each gate has not followed its setpoint.
	gateBad [2]int
	// replayed, when set, are the register values served instead of the
	// live ones (Replay): a man in the middle answering the HMI's reads
	// with an old response.
	replayed map[int]uint16
}

// NewProcess returns the dam in its normal initial state for seed.
func NewProcess(seed uint64) *Process {
	p := &Process{
		rng: rand.New(rand.NewPCG(seed, 0x5eed_da3)),
		v:   make([]float64, len(Tags)),
		idx: tagIndex,
	}
	set := func(name string, v float64) { p.v[p.idx[name]] = v }
	set(TagLevel, 119.8)
	set(TagInflow, inflowMean)
	set(TagGate1SP, 10)
	set(TagGate2SP, 10)
	set(TagGate1Pos, 10)
	set(TagGate2Pos, 10)
	set(TagGate1Enable, 1)
	set(TagGate2Enable, 1)
	set(TagHighLevelLimit, 122)
	set(TagEcoSP, 2.5)
	set(TagEcoFlow, 2.5)
	set(TagT1SP, 18)
	set(TagT2SP, 18)
	set(TagT1Power, 18)
	set(TagT2Power, 18)
	set(TagT1Breaker, 1)
	set(TagT2Breaker, 1)
	set(TagT1Closed, 1)
	set(TagT2Closed, 1)
	set(TagT1Speed, ratedSpeed)
	set(TagT2Speed, ratedSpeed)
	p.turb = turbidityBase
	set(TagTurbidity, turbidityBase)
	p.step() // derive flows from the initial state
	return p
}

// Now returns the simulated time since the start.
func (p *Process) Now() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now
}

// AdvanceTo integrates the process up to simulated time t (a no-op when t is
// not after the current time).
func (p *Process) AdvanceTo(t time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.now+stepDT <= t {
		p.now += stepDT
		p.step()
	}
}

// Get returns the engineering value of the tag called name (0 for an unknown
// name).
func (p *Process) Get(name string) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.idx[name]
	if !ok {
		return 0
	}
	return p.v[i]
}

// raw returns the register value of tag i as the PLC serves it; the
// caller holds p.mu.
func (p *Process) raw(i int) uint16 {
	if v, ok := p.replayed[i]; ok {
		return v
	}
	return Tags[i].Raw(p.v[i])
}

// Replay freezes (on) or releases the served register values of the
// input registers of unit: from now on a Modbus read returns the values of
// this instant, as a man in the middle replaying an old response would
// (the process itself goes on; OPC UA still sees it live).
func (p *Process) Replay(unit uint8, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !on {
		p.replayed = nil
		return
	}
	p.replayed = map[int]uint16{}
	for i := range Tags {
		if t := &Tags[i]; t.UnitID == unit && t.Table == InputRegisters {
			p.replayed[i] = t.Raw(p.v[i])
		}
	}
}

// Set writes an engineering value to a writable tag after checking its valid
// range, as the PLC logic would. Writing the alarm-acknowledge coil clears
// latched alarms whose cause has gone.
func (p *Process) Set(name string, v float64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.idx[name]
	if !ok {
		return fmt.Errorf("simulator: set %q: no such tag", name)
	}
	return p.set(i, v)
}

func (p *Process) set(i int, v float64) error {
	t := &Tags[i]
	if !t.Writable {
		return fmt.Errorf("set %s: %w", t.Name, ErrReadOnly)
	}
	if math.IsNaN(v) || v < t.Min || v > t.Max {
		return fmt.Errorf("set %s to %g (valid %g..%g): %w", t.Name, v, t.Min, t.Max, ErrOutOfRange)
	}
	if t.Name == TagAlarmAck {
		if v != 0 {
			p.acknowledge()
		}
		return nil // momentary: always reads back 0
	}
	p.v[i] = v
	return nil
}

// acknowledge resets latched alarms whose cause is gone: a tripped unit whose
// setpoint is back under the protection limit, a gate that follows again.
func (p *Process) acknowledge() {
	for _, names := range [2][2]string{{TagT1Trip, TagT1SP}, {TagT2Trip, TagT2SP}} {
		if p.v[p.idx[names[0]]] != 0 && p.v[p.idx[names[1]]] <= tripPower {
			p.v[p.idx[names[0]]] = 0
		}
	}
	for g, names := range [2][3]string{{TagAlarmGate1Fault, TagGate1Pos, TagGate1SP}, {TagAlarmGate2Fault, TagGate2Pos, TagGate2SP}} {
		if math.Abs(p.v[p.idx[names[1]]]-p.v[p.idx[names[2]]]) <= gateFaultDev {
			p.v[p.idx[names[0]]] = 0
			p.gateBad[g] = 0
		}
	}
}

// step integrates one second; the caller holds p.mu.
func (p *Process) step() {
	g := func(n string) float64 { return p.v[p.idx[n]] }
	s := func(n string, v float64) { p.v[p.idx[n]] = v }
	dt := stepDT.Seconds()

	// Weather: a mean-reverting random walk of the inflow.
	in := g(TagInflow) + 0.002*(inflowMean-g(TagInflow)) + p.rng.NormFloat64()*0.3
	in = max(5, in)
	s(TagInflow, in)
	level := g(TagLevel)
	head := max(0, level-spillwayCrest)

	// Spillway gates: rate-limited actuators, position feedback, discharge.
	spill := 0.0
	gates := [2][5]string{
		{TagGate1SP, TagGate1Pos, TagGate1Enable, TagGate1Flow, TagAlarmGate1Fault},
		{TagGate2SP, TagGate2Pos, TagGate2Enable, TagGate2Flow, TagAlarmGate2Fault},
	}
	for i, n := range gates {
		pos, sp := g(n[1]), g(n[0])
		if g(n[2]) != 0 {
			pos += max(-gateRate*dt, min(gateRate*dt, sp-pos))
		}
		s(n[1], pos)
		if math.Abs(sp-pos) > gateFaultDev {
			p.gateBad[i]++
			if p.gateBad[i] >= gateFaultAfter {
				s(n[4], 1)
			}
		} else {
			p.gateBad[i] = 0
		}
		q := spillwayK * math.Pow(pos/100, 1.5) * math.Sqrt(head)
		s(n[3], q)
		spill += q
	}

	// Generating units: breaker, ramp to setpoint, overload trip.
	units := [2][6]string{
		{TagT1SP, TagT1Power, TagT1Breaker, TagT1Closed, TagT1Trip, TagT1Flow},
		{TagT2SP, TagT2Power, TagT2Breaker, TagT2Closed, TagT2Trip, TagT2Flow},
	}
	speeds := [2]string{TagT1Speed, TagT2Speed}
	turb := 0.0
	hn := max(1, level-tailwater)
	for i, n := range units {
		closed := g(n[2]) != 0 && g(n[4]) == 0
		pw := g(n[1])
		tripped := false
		if closed {
			s(n[3], 1)
			pw += max(-powerRate*dt, min(powerRate*dt, g(n[0])-pw))
			if pw > tripPower {
				s(n[4], 1) // overload protection opens the breaker
				closed, tripped = false, true
			}
		}
		if !closed {
			s(n[3], 0)
			pw = 0
		}
		s(n[1], pw)
		q := pw * 1e6 / (1000 * 9.81 * hn * turbineEff)
		s(n[5], q)
		turb += q
		sp := g(speeds[i])
		switch {
		case closed && sp < ratedSpeed-5:
			// A start-up: the unit spins up to its synchronous speed.
			sp = min(ratedSpeed, sp+spinUpRate*dt)
		case closed:
			sp = ratedSpeed + p.rng.NormFloat64()*0.6
		case tripped:
			// Load rejection: the unit loses its load at once and
			// overspeeds before the wicket gates close.
			sp = ratedSpeed * overspeed
		default:
			sp *= 0.97 // coasting down
		}
		s(speeds[i], sp)
	}
	if g(TagT1Trip) != 0 || g(TagT2Trip) != 0 {
		s(TagAlarmTrip, 1)
	} else {
		s(TagAlarmTrip, 0)
	}

	eco := max(0, g(TagEcoSP)+p.rng.NormFloat64()*0.02)
	s(TagEcoFlow, eco)
	out := spill + turb + eco
	s(TagOutflow, out)
	level += (in - out) * dt / reservoirArea
	s(TagLevel, level)
	if level > g(TagHighLevelLimit) {
		s(TagAlarmHighLevel, 1)
	} else {
		s(TagAlarmHighLevel, 0)
	}

	// Turbidity: scour from spillway discharge and from floods, a slow sensor.
	target := turbidityBase + 0.05*spill + 0.04*max(0, in-inflowMean)
	p.turb += turbidityFilter * (target - p.turb)
	s(TagTurbidity, max(0, p.turb+p.rng.NormFloat64()*0.1))
}
