package simulator

import (
	"errors"

	mb "github.com/simonvetter/modbus"
)

// plcHandler is the simonvetter/modbus RequestHandler of both units: it maps
// FC 1-6, 15 and 16 onto the tag table and the process. The library has
// already checked the PDU's shape; this checks addresses and values as the
// PLC would: an address outside a unit's block is exception 02 (illegal data
// address), a value outside a tag's valid range is exception 03 (illegal data
// value) (Modbus Application Protocol Specification V1.1b3, 7).
type plcHandler struct {
	p *Process
	// written, when set, is told which tags a Modbus write changed, so the
	// OPC UA server notifies its subscribers as a PLC's would.
	written func(tags []*Tag)
}

var _ mb.RequestHandler = (*plcHandler)(nil)

// tagsAt returns the tags covering addr..addr+qty-1 of (unit, t), or
// ErrIllegalDataAddress when any address is outside the block.
func tagsAt(unit uint8, t Table, addr, qty uint16) ([]*Tag, error) {
	blk := blocks[blockKey{unit, t}]
	if qty == 0 || int(addr)+int(qty) > len(blk) {
		return nil, mb.ErrIllegalDataAddress
	}
	return blk[addr : addr+qty], nil
}

type blockKey struct {
	unit  uint8
	table Table
}

var blocks = func() map[blockKey][]*Tag {
	m := map[blockKey][]*Tag{}
	for _, u := range []uint8{UnitDam, UnitTurbine} {
		for _, t := range []Table{Coils, DiscreteInputs, InputRegisters, HoldingRegisters} {
			m[blockKey{u, t}] = block(u, t)
		}
	}
	return m
}()

// readRaw returns the register values of tags.
func (h *plcHandler) readRaw(tags []*Tag) []uint16 {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	out := make([]uint16, len(tags))
	for i, t := range tags {
		out[i] = h.p.raw(h.p.idx[t.Name])
	}
	return out
}

// writeRaw checks every value first and then writes them all, so a
// multiple-write with one bad value changes nothing (as FC 16 on a real PLC
// answering exception 03 must not leave half of the block written).
func (h *plcHandler) writeRaw(tags []*Tag, raws []uint16) error {
	if err := h.writeLocked(tags, raws); err != nil {
		return err
	}
	if h.written != nil {
		// After p.mu is released: the OPC UA server reads the values.
		h.written(tags)
	}
	return nil
}

func (h *plcHandler) writeLocked(tags []*Tag, raws []uint16) error {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	for i, t := range tags {
		if !t.Writable {
			return mb.ErrIllegalDataAddress
		}
		v := t.Value(raws[i])
		if v < t.Min || v > t.Max {
			return mb.ErrIllegalDataValue
		}
	}
	for i, t := range tags {
		if err := h.p.set(h.p.idx[t.Name], t.Value(raws[i])); err != nil {
			if errors.Is(err, ErrOutOfRange) {
				return mb.ErrIllegalDataValue
			}
			return mb.ErrIllegalDataAddress
		}
	}
	return nil
}

func bools(raw []uint16) []bool {
	out := make([]bool, len(raw))
	for i, r := range raw {
		out[i] = r != 0
	}
	return out
}

// HandleCoils serves FC 1, 5 and 15.
func (h *plcHandler) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	tags, err := tagsAt(req.UnitId, Coils, req.Addr, req.Quantity)
	if err != nil {
		return nil, err
	}
	if req.IsWrite {
		raws := make([]uint16, len(req.Args))
		for i, b := range req.Args {
			if b {
				raws[i] = 1
			}
		}
		return nil, h.writeRaw(tags, raws)
	}
	return bools(h.readRaw(tags)), nil
}

// HandleDiscreteInputs serves FC 2.
func (h *plcHandler) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	tags, err := tagsAt(req.UnitId, DiscreteInputs, req.Addr, req.Quantity)
	if err != nil {
		return nil, err
	}
	return bools(h.readRaw(tags)), nil
}

// HandleHoldingRegisters serves FC 3, 6 and 16.
func (h *plcHandler) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	tags, err := tagsAt(req.UnitId, HoldingRegisters, req.Addr, req.Quantity)
	if err != nil {
		return nil, err
	}
	if req.IsWrite {
		return nil, h.writeRaw(tags, req.Args)
	}
	return h.readRaw(tags), nil
}

// HandleInputRegisters serves FC 4.
func (h *plcHandler) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	tags, err := tagsAt(req.UnitId, InputRegisters, req.Addr, req.Quantity)
	if err != nil {
		return nil, err
	}
	return h.readRaw(tags), nil
}
