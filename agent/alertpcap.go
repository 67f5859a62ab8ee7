package agent

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sluice-ics/sluice/internal/capture"
	"github.com/sluice-ics/sluice/internal/flow"
)

// Packets for every alert (issue #13 §3). With Config.AlertPcapDir set,
// the agent keeps the last AlertPcapRing of packets in a ring of bounded
// size; when a connection alerts, its packets still in the ring and the
// next AlertPcapAfter of it go to DIR/<deviation id>-<time>.pcap, which the
// alert names (alert.pcap). The files are written by a goroutine of their
// own, never on the packet path; the directory is kept under
// AlertPcapMaxBytes, the oldest files removed first. What could not be
// kept is counted (stats.alert_pcap).

// Defaults of the alert packet capture.
const (
	DefaultAlertPcapRing      = time.Minute
	DefaultAlertPcapRingBytes = 16 << 20
	DefaultAlertPcapAfter     = 100
	DefaultAlertPcapAfterTime = 10 * time.Second
	DefaultAlertPcapMaxBytes  = 1 << 30
)

// AlertPcapStats counts what the alert packet capture did.
type AlertPcapStats struct {
	Files   uint64 `json:"files"`   // pcap files written
	Bytes   uint64 `json:"bytes"`   // their size
	Evicted uint64 `json:"evicted"` // files removed to keep the directory under its cap
	Dropped uint64 `json:"dropped"` // files not written: the writer was behind, or a write failed
}

// flowKey names a connection whatever the direction of a packet: a hash
// of its two endpoints in a fixed order (64 bits: two connections that
// share one are as likely as a collision of two random numbers).
type flowKey uint64

// endpointHash hashes an address (IPv4 in its first 4 bytes, the rest
// zero, as flow.Segment holds it) and a port.
func endpointHash(a [16]byte, port uint16) uint64 {
	x := binary.LittleEndian.Uint64(a[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(a[8:])*0xc2b2ae3d27d4eb4f
	x ^= uint64(port) * 0x165667b19e3779f9
	return x ^ x>>29
}

func keyOfHashes(x, y uint64) flowKey {
	if x > y {
		x, y = y, x
	}
	h := (x ^ y*0xff51afd7ed558ccd) * 0x9e3779b97f4a7c15
	return flowKey(h ^ h>>32)
}

// keyOf is the key of a connection between two endpoints.
func keyOf(x, y netip.AddrPort) flowKey {
	return keyOfHashes(endpointHash(addrBytes(x.Addr()), x.Port()), endpointHash(addrBytes(y.Addr()), y.Port()))
}

// addrBytes lays an address out as flow.Segment does.
func addrBytes(a netip.Addr) (b [16]byte) {
	if a.Is4() || a.Is4In6() {
		v4 := a.Unmap().As4()
		copy(b[:], v4[:])
		return b
	}
	return a.As16()
}

// ringPacket is one packet in the ring: its bytes at off in the arena.
type ringPacket struct {
	off, n, wire int32
	ts           int64 // Unix nanoseconds
	key          flowKey
}

// packetRing holds the recent packets: an arena of bytes written in a
// circle, and the packets in it oldest first. Only whole packets are kept:
// one that does not fit before the arena's end is written at its start,
// after the oldest packets there are dropped.
type packetRing struct {
	arena []byte
	pkts  []ringPacket // circular
	head  int
	count int
	w     int // where the next packet's bytes go
	age   time.Duration
}

// maxRingBytes bounds the arena: offsets are 32-bit.
const maxRingBytes = 1 << 30

func newPacketRing(bytes int, age time.Duration) *packetRing {
	// A packet is at least 60 bytes on Ethernet: bytes/64 entries hold
	// a full arena of small packets.
	return &packetRing{arena: make([]byte, bytes), pkts: make([]ringPacket, max(bytes/64, 1024)), age: age}
}

func (r *packetRing) pop() {
	r.head = (r.head + 1) % len(r.pkts)
	r.count--
}

func (r *packetRing) oldest() *ringPacket { return &r.pkts[r.head] }

// push copies data in, dropping what is older than the ring's age or in
// the way of its bytes.
func (r *packetRing) push(ts time.Time, data []byte, wire int, key flowKey) {
	n := len(data)
	if n > len(r.arena) {
		return
	}
	now := ts.UnixNano()
	for r.count > 0 && now-r.oldest().ts > int64(r.age) {
		r.pop()
	}
	if r.w+n > len(r.arena) {
		// Wrap: the packets between the write position and the end
		// are the oldest.
		for r.count > 0 && int(r.oldest().off) >= r.w {
			r.pop()
		}
		r.w = 0
	}
	for r.count > 0 {
		o := r.oldest()
		if int(o.off) >= r.w+n || int(o.off+o.n) <= r.w {
			break
		}
		r.pop()
	}
	if r.count == len(r.pkts) {
		r.pop()
	}
	copy(r.arena[r.w:], data)
	r.pkts[(r.head+r.count)%len(r.pkts)] = ringPacket{off: int32(r.w), n: int32(n), wire: int32(min(wire, 1<<31-1)), ts: now, key: key}
	r.count++
	r.w += n
}

// of appends copies of the ring's packets of connection key, oldest first.
func (r *packetRing) of(key flowKey, out []pcapPacket) []pcapPacket {
	for i := 0; i < r.count; i++ {
		p := &r.pkts[(r.head+i)%len(r.pkts)]
		if p.key == key {
			out = append(out, pcapPacket{ts: time.Unix(0, p.ts), wire: int(p.wire), data: slices.Clone(r.arena[p.off : p.off+p.n])})
		}
	}
	return out
}

type pcapPacket struct {
	ts   time.Time
	wire int
	data []byte
}

// pcapJob is the file of one alert: the packets before it, and those of
// its connection that follow until after packets or deadline.
type pcapJob struct {
	path     string
	link     layers.LinkType
	pkts     []pcapPacket
	after    int
	deadline time.Time
}

// alertPcap is the agent's alert packet capture.
type alertPcap struct {
	dir      string
	ring     *packetRing
	dec      *flow.Decoder
	after    int
	afterFor time.Duration
	link     layers.LinkType
	// open are the files still taking their connection's packets.
	open map[flowKey][]*pcapJob
	jobs chan *pcapJob
	done chan struct{}

	mu    sync.Mutex // guards stats (the writer updates them)
	stats AlertPcapStats
	// files are the directory's pcap files, oldest first, with their
	// sizes (the writer's).
	files    []dirFile
	total    int64
	maxBytes int64
}

type dirFile struct {
	name string
	size int64
}

func newAlertPcap(cfg *Config) (*alertPcap, error) {
	if err := os.MkdirAll(cfg.AlertPcapDir, 0o750); err != nil {
		return nil, fmt.Errorf("agent: alert pcap directory: %w", err)
	}
	p := &alertPcap{dir: cfg.AlertPcapDir, ring: newPacketRing(int(cfg.AlertPcapRingBytes), cfg.AlertPcapRing),
		dec: flow.NewDecoder(), after: cfg.AlertPcapAfter, afterFor: DefaultAlertPcapAfterTime,
		open: map[flowKey][]*pcapJob{}, jobs: make(chan *pcapJob, 64), done: make(chan struct{}), maxBytes: cfg.AlertPcapMaxBytes}
	// The files already there count against the cap, oldest first.
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, fmt.Errorf("agent: alert pcap directory: %w", err)
	}
	type aged struct {
		dirFile
		mod time.Time
	}
	var old []aged
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".pcap") {
			if info, err := e.Info(); err == nil {
				old = append(old, aged{dirFile{e.Name(), info.Size()}, info.ModTime()})
			}
		}
	}
	slices.SortFunc(old, func(a, b aged) int { return cmp.Or(a.mod.Compare(b.mod), strings.Compare(a.name, b.name)) })
	for _, f := range old {
		p.files = append(p.files, f.dirFile)
		p.total += f.size
	}
	go p.writer()
	return p, nil
}

// packet keeps a copy of the packet and gives it to the files that still
// take their connection's packets.
func (p *alertPcap) packet(pk *capture.Packet) {
	var key flowKey
	if s, err := p.dec.Decode(pk.Data, pk.LinkType); err == nil && s != nil {
		key = keyOfHashes(endpointHash(s.Src, s.SrcPort), endpointHash(s.Dst, s.DstPort))
	} else if src, dst, _, _, _, ok := parseUDP(pk.Data, pk.LinkType); ok {
		key = keyOf(src, dst) // a UDP conversation's (DNP3 over UDP)
	} else {
		return
	}
	p.link = pk.LinkType
	p.ring.push(pk.Timestamp, pk.Data, pk.Length, key)
	if jobs := p.open[key]; len(jobs) > 0 {
		keep := jobs[:0]
		for _, j := range jobs {
			j.pkts = append(j.pkts, pcapPacket{ts: pk.Timestamp, wire: pk.Length, data: slices.Clone(pk.Data)})
			if j.after--; j.after <= 0 {
				p.finish(j)
				continue
			}
			keep = append(keep, j)
		}
		p.setOpen(key, keep)
	}
}

func (p *alertPcap) setOpen(key flowKey, jobs []*pcapJob) {
	if len(jobs) == 0 {
		delete(p.open, key)
		return
	}
	p.open[key] = jobs
}

// alert starts the file of an alert on connection (src, dest) at ts and
// returns its name.
func (p *alertPcap) alert(id string, ts time.Time, src, dest netip.AddrPort) string {
	name := id + "-" + ts.UTC().Format("20060102T150405.000000Z") + ".pcap"
	key := keyOf(src, dest)
	j := &pcapJob{path: filepath.Join(p.dir, name), link: p.link, after: p.after, deadline: ts.Add(p.afterFor)}
	j.pkts = p.ring.of(key, nil)
	p.open[key] = append(p.open[key], j)
	return name
}

// tick finishes the files whose time for following packets is over.
func (p *alertPcap) tick(now time.Time) {
	for key, jobs := range p.open {
		keep := jobs[:0]
		for _, j := range jobs {
			if now.After(j.deadline) {
				p.finish(j)
				continue
			}
			keep = append(keep, j)
		}
		p.setOpen(key, keep)
	}
}

// finish hands a file to the writer; a writer that is behind costs the
// file, never the packet path.
func (p *alertPcap) finish(j *pcapJob) {
	select {
	case p.jobs <- j:
	default:
		p.mu.Lock()
		p.stats.Dropped++
		p.mu.Unlock()
	}
}

// close finishes every file, waits for the writer and returns the stats.
func (p *alertPcap) close() AlertPcapStats {
	for _, k := range slices.Sorted(maps.Keys(p.open)) {
		for _, j := range p.open[k] {
			p.jobs <- j // the end of a run waits for its files
		}
	}
	clear(p.open)
	close(p.jobs)
	<-p.done
	return p.statsNow()
}

func (p *alertPcap) statsNow() AlertPcapStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// writer writes the files and keeps the directory under its cap.
func (p *alertPcap) writer() {
	defer close(p.done)
	for j := range p.jobs {
		size, err := writePcap(j)
		p.mu.Lock()
		if err != nil {
			p.stats.Dropped++
			p.mu.Unlock()
			continue
		}
		p.stats.Files++
		p.stats.Bytes += uint64(size)
		p.files = append(p.files, dirFile{filepath.Base(j.path), size})
		p.total += size
		for p.total > p.maxBytes && len(p.files) > 1 {
			f := p.files[0]
			if err := os.Remove(filepath.Join(p.dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				break
			}
			p.files, p.total = p.files[1:], p.total-f.size
			p.stats.Evicted++
		}
		p.mu.Unlock()
	}
}

// writePcap writes one file (to a temporary name first: a reader never
// sees half a file) and returns its size.
func writePcap(j *pcapJob) (int64, error) {
	tmp := j.path + ".part"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return 0, err
	}
	w := pcapgo.NewWriterNanos(f)
	link := j.link
	if link == 0 {
		link = layers.LinkTypeEthernet
	}
	err = w.WriteFileHeader(262144, link)
	for _, p := range j.pkts {
		if err != nil {
			break
		}
		err = w.WritePacket(gopacket.CaptureInfo{Timestamp: p.ts, CaptureLength: len(p.data), Length: max(p.wire, len(p.data))}, p.data)
	}
	var size int64
	if info, serr := f.Stat(); serr == nil {
		size = info.Size()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, j.path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return size, nil
}
