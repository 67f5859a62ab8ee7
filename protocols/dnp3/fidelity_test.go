package dnp3

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ics/sluice/internal/testpcaps"
)

// TestFidelityTshark decodes every capture in ../shared/pcaps/dnp3 and
// compares, message by message, with Wireshark's DNP3 dissector (tshark's
// PDML): for each application-layer message its function code, control
// octet, link source and destination and internal indications; for each
// object header its group, variation, prefix and range codes and range
// (start and stop, or quantity); for each point the fields tshark decodes
// (index, value, flags, times, the CROB's fields, file-control and
// device-attribute fields). Items are messages, object headers and points;
// at least 99.9 % must agree. Both sides list the messages each frame
// completes, in order, so no alignment is guessed.
func TestFidelityTshark(t *testing.T) {
	files := captureFiles(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed (make tools installs it)")
	}
	var g testpcaps.Agreement
	for _, file := range files {
		theirs := tsharkMessages(t, file)
		ours := ourMessages(t, file)
		var c fidCount
		c.compare(theirs, ours)
		g.Add(t, file, c.agree, c.total, fmt.Sprintf("  (messages %d/%d, objects %d/%d, points %d/%d%s)",
			c.msgs[0], c.msgs[1], c.objs[0], c.objs[1], c.points[0], c.points[1], c.note()), c.diffs)
	}
	g.Require(t, "DNP3 messages, object headers and points", 99.9)
}

// fidMsg is what one side says about one application-layer message.
type fidMsg struct {
	frame    int
	head     map[string]string // func, ctl, src, dst, iin
	objects  []fidObj
	malform  bool // tshark marked the frame malformed
	complete bool // ours: every octet decoded
}

type fidObj struct {
	head   map[string]string // group, variation, prefix, range, start, stop, quantity
	points []map[string]string
	count  int // points decoded (ours: points holds at most maxFidPoints)
}

// maxFidPoints bounds the points of one object collected for comparison
// (a fuzzed object can name 65,536 of zero octets).
const maxFidPoints = 4096

// fidCount adds up agreement: [0] agreeing, [1] compared.
type fidCount struct {
	msgs, objs, points [2]int
	agree, total       int
	oursOnly           int // points we decode that tshark does not list
	oursOnlyObjs       int // objects likewise
	wrong              int // fields tshark gets wrong (tsharkWrong), not compared
	diffs              []string
}

func (c *fidCount) note() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{c.oursOnlyObjs, "objects only Sluice lists"}, {c.oursOnly, "points only Sluice lists"}, {c.wrong, "fields tshark gets wrong"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, ", ")
}

func (c *fidCount) item(kind *[2]int, ok bool) {
	kind[1]++
	c.total++
	if ok {
		kind[0]++
		c.agree++
	}
}

func (c *fidCount) compare(theirs, ours map[int][]fidMsg) {
	frames := map[int]bool{}
	for f := range theirs {
		frames[f] = true
	}
	for f := range ours {
		frames[f] = true
	}
	for f := range sortedKeys(frames) {
		th, ou := theirs[f], ours[f]
		for i := 0; i < max(len(th), len(ou)); i++ {
			if i >= len(th) || i >= len(ou) {
				c.item(&c.msgs, false)
				c.diffs = append(c.diffs, fmt.Sprintf("frame %d: message %d only one side decodes (tshark %d, ours %d)", f, i, len(th), len(ou)))
				continue
			}
			c.message(f, &th[i], &ou[i])
		}
	}
}

func (c *fidCount) message(frame int, th, ou *fidMsg) {
	d := c.subsetDiff(th.head, ou.head)
	c.item(&c.msgs, d == "")
	if d != "" {
		c.diffs = append(c.diffs, fmt.Sprintf("frame %d: message %s", frame, d))
	}
	if n := len(ou.objects) - len(th.objects); n > 0 {
		// Objects tshark does not list (it decodes no objects for some
		// function codes, stops at groups it does not know) are not
		// checked; they are counted apart.
		c.oursOnlyObjs += n
	}
	for i := range th.objects {
		if i >= len(ou.objects) {
			c.item(&c.objs, false)
			c.diffs = append(c.diffs, fmt.Sprintf("frame %d: object %d only tshark decodes: %v", frame, i, th.objects[i].head))
			continue
		}
		to, oo := &th.objects[i], &ou.objects[i]
		d := c.subsetDiff(to.head, oo.head)
		c.item(&c.objs, d == "")
		if d != "" {
			c.diffs = append(c.diffs, fmt.Sprintf("frame %d: object %d %s", frame, i, d))
		}
		for j, tp := range to.points {
			if j >= len(oo.points) {
				c.item(&c.points, false)
				c.diffs = append(c.diffs, fmt.Sprintf("frame %d: object %d point %d only tshark decodes: %v", frame, i, j, tp))
				continue
			}
			d := c.subsetDiff(tp, oo.points[j])
			c.item(&c.points, d == "")
			if d != "" {
				c.diffs = append(c.diffs, fmt.Sprintf("frame %d: object %d point %d %s", frame, i, j, d))
			}
		}
		if n := oo.count - len(to.points); n > 0 {
			c.oursOnly += n
		}
	}
}

func sortedKeys(m map[int]bool) func(func(int) bool) {
	return func(yield func(int) bool) {
		keys := make([]int, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		for i := 1; i < len(keys); i++ {
			for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
			}
		}
		for _, k := range keys {
			if !yield(k) {
				return
			}
		}
	}
}

// tsharkWrong reports a field tshark 4.0 gets wrong, which is left out of
// the comparison.
//
// The permissions of a file command (g70 v3, IEEE 1815-2012 11.9.27.3: two
// octets after the six of the creation time) are read by packet-dnp.c at
// the object's start (proto_tree_add_item(..., hf_dnp3_al_file_perms, tvb,
// offset, ...) where every other field uses data_pos), that is from the
// object's size prefix. iti_file_write.pcap frame 1, the object after the
// header 46 03 5b 01:
//
//	2a 00                size 42
//	1a 00 10 00          file name at offset 26, 16 octets
//	c8 b3 31 5a 4c 01    created 2015-03-27T07:45:49Z (tshark agrees)
//	ff 01                permissions 0x01ff = 0777 (Sluice: 511)
//	00 00 00 00 09 00 00 00 02 00 00 04 06 00  key, size 9, mode write, block 1024, request 6 (tshark agrees)
//
// tshark shows "Permissions: 052", the size 0x002a in octal.
func tsharkWrong(k string, theirs map[string]string) bool {
	return k == "perms" && theirs["perms"] == theirs["size"]
}

// subsetDiff describes the fields of theirs that ours lacks or holds
// differently ("" when none): tshark is the reference for what it decodes;
// what only Sluice decodes is not compared. Numbers compare as numbers
// (tshark prints floats its own way).
func (c *fidCount) subsetDiff(theirs, ours map[string]string) string {
	var d []string
	for k, v := range theirs {
		o, ok := ours[k]
		if ok && (o == v || sameNumber(o, v)) {
			continue
		}
		if tsharkWrong(k, theirs) {
			c.wrong++
			continue
		}
		d = append(d, fmt.Sprintf("%s: tshark %q, ours %q", k, v, o))
	}
	if len(d) == 0 {
		return ""
	}
	sortStrings(d)
	return strings.Join(d, "; ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func sameNumber(a, b string) bool {
	x, err1 := strconv.ParseFloat(a, 64)
	y, err2 := strconv.ParseFloat(b, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return x == y || math.Abs(x-y) <= 1e-6*math.Max(math.Abs(x), math.Abs(y))
}

// pdmlField is a field of tshark's PDML output.
type pdmlField struct {
	Name     string      `xml:"name,attr"`
	Show     string      `xml:"show,attr"`
	Value    string      `xml:"value,attr"`
	Children []pdmlField `xml:"field"`
}

type pdmlPacket struct {
	Protos []struct {
		Name   string      `xml:"name,attr"`
		Fields []pdmlField `xml:"field"`
	} `xml:"proto"`
}

// tsharkMessages lists, per frame, the application-layer messages tshark
// decodes.
func tsharkMessages(t *testing.T, file string) map[int][]fidMsg {
	t.Helper()
	out, err := exec.Command("tshark", "-r", file, "-T", "pdml").Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", file, err)
	}
	msgs := map[int][]fidMsg{}
	dec := xml.NewDecoder(bytes.NewReader(out))
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "packet" {
			continue
		}
		var p pdmlPacket
		if err := dec.DecodeElement(&p, &se); err != nil {
			t.Fatal(err)
		}
		frame, malformed := 0, false
		for _, pr := range p.Protos {
			switch pr.Name {
			case "geninfo":
				for _, f := range pr.Fields {
					if f.Name == "num" {
						frame, _ = strconv.Atoi(f.Show)
					}
				}
			case "_ws.malformed":
				malformed = true
			}
		}
		for _, pr := range p.Protos {
			if pr.Name != "dnp3" {
				continue
			}
			var src, dst string
			for _, f := range pr.Fields {
				if strings.HasPrefix(f.Show, "Data Link Layer") {
					for _, c := range f.Children {
						switch c.Name {
						case "dnp3.src":
							src = c.Show
						case "dnp3.dst":
							dst = c.Show
						}
					}
				}
				if strings.HasPrefix(f.Show, "Application Layer") {
					m := tsharkMessage(&f)
					m.frame, m.malform = frame, malformed
					m.head["src"], m.head["dst"] = src, dst
					msgs[frame] = append(msgs[frame], m)
				}
			}
		}
	}
	return msgs
}

func tsharkMessage(al *pdmlField) fidMsg {
	m := fidMsg{head: map[string]string{}}
	for _, f := range al.Children {
		switch f.Name {
		case "dnp3.al.ctl":
			m.head["ctl"] = hexToDec(f.Show)
		case "dnp3.al.func":
			m.head["func"] = f.Show
		case "dnp3.al.iin":
			m.head["iin"] = hexToDec(f.Show)
		}
		if strings.HasSuffix(f.Show, "Data Objects") {
			for i := range f.Children {
				if o := &f.Children[i]; o.Name == "dnp3.al.obj" {
					m.objects = append(m.objects, tsharkObject(o))
				}
			}
		}
	}
	return m
}

func hexToDec(s string) string {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		return s
	}
	return strconv.FormatUint(v, 10)
}

func tsharkObject(o *pdmlField) fidObj {
	code, _ := strconv.ParseUint(strings.TrimPrefix(o.Show, "0x"), 16, 16)
	obj := fidObj{head: map[string]string{
		"group":     strconv.Itoa(int(code >> 8)),
		"variation": strconv.Itoa(int(code & 0xFF)),
	}}
	var cur map[string]string
	for i := range o.Children {
		c := &o.Children[i]
		switch {
		case strings.HasPrefix(c.Show, "Qualifier Field"):
			for _, q := range c.Children {
				switch q.Name {
				case "dnp3.al.objq.prefix":
					obj.head["prefix"] = q.Show
				case "dnp3.al.objq.range":
					obj.head["range"] = q.Show
				}
			}
		case strings.HasPrefix(c.Show, "Number of Items"):
			for _, r := range c.Children {
				switch r.Name {
				case "dnp3.al.range.start":
					obj.head["start"] = r.Show
				case "dnp3.al.range.stop":
					obj.head["stop"] = r.Show
				case "dnp3.al.range.quantity":
					obj.head["quantity"] = r.Show
				}
			}
		case strings.HasPrefix(c.Show, "Point Number") || strings.HasPrefix(c.Show, "Object: Size"):
			cur = map[string]string{}
			obj.points = append(obj.points, cur)
			if m := showValue.FindStringSubmatch(c.Show); m != nil {
				cur["value"] = m[2]
			}
			tsharkPointFields(c, cur)
		case cur != nil:
			// Some values (times, delays) follow their point node
			// instead of nesting in it.
			tsharkPointField(c, cur)
		}
	}
	return obj
}

// showValue finds the value tshark prints in a point's line ("Point Number
// 3 (Quality: Online), Value: 1"; "Count: 7" for counters).
var showValue = regexp.MustCompile(`, (Value|Count): ([^ ,\[]+)`)

func tsharkPointFields(f *pdmlField, p map[string]string) {
	for i := range f.Children {
		tsharkPointField(&f.Children[i], p)
	}
}

// tsharkFieldKeys maps tshark's point fields to the keys both sides use.
var tsharkFieldKeys = map[string]string{
	"dnp3.al.point_index": "index", "dnp3.al.index": "index", "dnp3.al.size": "size",
	"dnp3.al.bit": "bit", "dnp3.al.2bit": "2bit",
	"dnp3.al.ana.int": "value", "dnp3.al.ana.float": "value", "dnp3.al.ana.double": "value",
	"dnp3.al.anaout.int": "value", "dnp3.al.anaout.float": "value", "dnp3.al.anaout.double": "value",
	"dnp3.al.cnt": "value", "dnp3.al.ctrlstatus": "status", "dnp3.al.time_delay": "delay",
	"dnp3.ctl.op": "op", "dnp3.ctl.clr": "clr", "dnp3.ctl.trip": "trip", "dnp3.al.count": "count",
	"dnp3.al.on_time": "on", "dnp3.al.off_time": "off",
	"dnp3.al.file.handle": "handle", "dnp3.al.file.blocknum": "block", "dnp3.al.file.lastblock": "last",
	"dnp3.al.file.status": "fstatus", "dnp3.al.file.size": "fsize", "dnp3.al.file.maxblock": "maxblock",
	"dnp3.al.file.reqID": "reqid", "dnp3.al.file.mode": "mode", "dnp3.al.file.auth": "authkey",
	"dnp3.al.file.perms": "perms", "dnp3.al.file_name": "name",
	"dnp3.al.datatype": "datype", "dnp3.al.da.length": "dalen", "dnp3.al.da.value": "text",
	"dnp3.al.da.uint8": "value", "dnp3.al.da.uint16": "value", "dnp3.al.da.uint32": "value",
	"dnp3.al.da.int8": "value", "dnp3.al.da.int16": "value", "dnp3.al.da.int32": "value",
	"dnp3.al.da.float": "value", "dnp3.al.da.double": "value",
}

// flagField matches the quality bits of each point type (dnp3.al.biq.b0 …).
var flagField = regexp.MustCompile(`^dnp3\.al\.(biq|boq|ctrq|aiq|aoq)\.b([0-7])$`)

func tsharkPointField(f *pdmlField, p map[string]string) {
	switch k := tsharkFieldKeys[f.Name]; {
	case k != "":
		v := f.Show
		if strings.HasPrefix(v, "0x") {
			v = hexToDec(v)
		}
		p[k] = v
	case f.Name == "dnp3.al.timestamp":
		ts, err := time.Parse("Jan 2, 2006 15:04:05.000000000 MST", f.Show)
		if err == nil {
			p["timestamp"] = strconv.FormatInt(ts.UnixMilli(), 10)
		}
	case f.Name == "dnp3.al.reltimestamp":
		s, _ := strconv.ParseFloat(f.Show, 64)
		p["reltime"] = strconv.FormatInt(int64(math.Round(s*1000)), 10)
	default:
		if m := flagField.FindStringSubmatch(f.Name); m != nil {
			bit, _ := strconv.Atoi(m[2])
			old, _ := strconv.Atoi(p["flags"])
			if f.Show == "1" {
				old |= 1 << bit
			}
			p["flags"] = strconv.Itoa(old)
		}
	}
	tsharkPointFields(f, p)
}

// ourMessages lists, per frame, the messages Sluice decodes, in the keys
// tsharkMessages uses.
func ourMessages(t *testing.T, file string) map[int][]fidMsg {
	t.Helper()
	msgs := map[int][]fidMsg{}
	for _, x := range decodeCapture(t, file).out {
		m := &x.msg
		fm := fidMsg{frame: x.frame, complete: m.Err == nil, head: map[string]string{
			"src": strconv.Itoa(int(x.link.Source)), "dst": strconv.Itoa(int(x.link.Dest)),
			"ctl": strconv.Itoa(int(m.Control)), "func": strconv.Itoa(int(m.Function)),
		}}
		if m.Function.IsResponse() {
			fm.head["iin"] = strconv.Itoa(int(m.IIN))
		}
		for i := range m.Objects {
			fm.objects = append(fm.objects, ourObject(&m.Objects[i]))
		}
		msgs[x.frame] = append(msgs[x.frame], fm)
	}
	return msgs
}

func ourObject(o *Object) fidObj {
	q := o.Qualifier
	obj := fidObj{head: map[string]string{
		"group": strconv.Itoa(int(o.Group)), "variation": strconv.Itoa(int(o.Variation)),
		"prefix": strconv.Itoa(int(q.PrefixCode())), "range": strconv.Itoa(int(q.RangeCode())),
	}}
	switch {
	case q.HasRange():
		obj.head["start"], obj.head["stop"] = strconv.Itoa(int(o.Start)), strconv.Itoa(int(o.Stop))
	case q.RangeCode() != 6:
		obj.head["quantity"] = strconv.Itoa(int(o.Count))
	}
	it := o.Points()
	var p Point
	for it.Next(&p) {
		if obj.count++; obj.count > maxFidPoints {
			// Only points of zero octets come in such numbers: each
			// of the Count is there.
			obj.count = int(o.Count)
			break
		}
		obj.points = append(obj.points, ourPoint(o, &p))
	}
	return obj
}

func ourPoint(o *Object, p *Point) map[string]string {
	m := map[string]string{"index": u(uint64(p.Index))}
	if p.HasSize {
		m["size"] = u(uint64(p.Size))
	}
	info := &o.info
	switch info.bits {
	case 1:
		m["bit"] = u(p.Value.Uint)
	case 2:
		m["2bit"] = u(p.Value.Uint)
	}
	if p.HasFlags {
		m["flags"] = u(uint64(p.Flags))
	}
	switch p.Value.Kind {
	case IntValue:
		m["value"] = strconv.FormatInt(p.Value.Int, 10)
	case UintValue:
		m["value"] = u(p.Value.Uint)
	case FloatValue:
		m["value"] = strconv.FormatFloat(p.Value.Float, 'g', -1, 64)
	case TimeValue:
		m["timestamp"] = u(p.Value.Uint)
	}
	if p.HasTime {
		m["timestamp"] = u(p.Time)
	}
	if p.HasRelTime {
		m["reltime"] = u(uint64(p.RelTime))
	}
	if p.HasStatus {
		m["status"] = u(uint64(p.Status))
	}
	switch info.layout {
	case layoutCROB:
		c := p.Control
		m["op"], m["clr"], m["trip"] = u(uint64(c.OpType())), u(uint64(c>>4&3)), u(uint64(c.TripClose()))
		m["count"], m["on"], m["off"] = u(uint64(p.Count)), u(uint64(p.OnTime)), u(uint64(p.OffTime))
	case layoutDelay:
		m["delay"] = u(p.Value.Uint)
	case layoutAttribute:
		m["datype"], m["dalen"] = u(uint64(p.AttrType)), u(uint64(len(p.Raw)))
		if v, ok := p.AttributeValue(); ok {
			m["value"] = strconv.FormatFloat(map[ValueKind]float64{IntValue: float64(v.Int), UintValue: float64(v.Uint), FloatValue: v.Float}[v.Kind], 'g', -1, 64)
		} else if p.AttrType == 1 {
			m["text"] = string(p.Raw)
		}
	case layoutFile:
		if f, ok := ParseFile(o.Variation, p.Raw); ok {
			m["handle"], m["block"], m["last"] = u(uint64(f.Handle)), u(uint64(f.Block)), boolStr(f.Last)
			m["fstatus"], m["fsize"], m["maxblock"] = u(uint64(f.Status)), u(uint64(f.FileSize)), u(uint64(f.MaxBlockSize))
			m["reqid"], m["mode"], m["authkey"] = u(uint64(f.RequestID)), u(uint64(f.Mode)), u(uint64(f.AuthKey))
			m["perms"], m["name"] = u(uint64(f.Permissions)), string(f.Name)
			if o.Variation == 3 || o.Variation == 7 {
				m["timestamp"] = u(f.Created)
			}
		}
	}
	return m
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
