package report

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The geometry of the pictures is computed here, in Go, so the template
// only places numbers: every text that reaches an SVG element still goes
// through html/template's escaping.

// commMap is the communication-map picture: clients on the left, servers on
// the right, one curve per talking pair, wider for more transactions,
// red and dashed when a deviation names the pair.
type commMap struct {
	Width, Height int
	Nodes         []mapNode
	Links         []mapLink
	// Legend positions.
	LegendY int
}

type mapNode struct {
	X, Y   int
	TextX  int
	Anchor string // "end" (clients) or "start" (servers)
	Label  string // IP
	Sub    string // vendor, identity or role: network text, escaped by the template
	Class  string
}

type mapLink struct {
	D     string
	Width string
	// Class is the protocol of the learned traffic ("" when the pair has
	// none); Alerted overlays a red dashed line.
	Class   string
	Alerted bool
	Title   string
}

const (
	mapWidth   = 820
	mapClientX = 250
	mapServerX = 570
	mapRow     = 46
	mapTop     = 34
)

// buildMap lays out the matrix as a picture.
func buildMap(r *Report) commMap {
	rows := max(len(r.Matrix.Clients), len(r.Matrix.Servers), 1)
	m := commMap{Width: mapWidth, Height: mapTop + rows*mapRow + 40}
	m.LegendY = m.Height - 14
	ys := func(n, i int) int {
		// Centre the shorter column against the longer one.
		off := (rows - n) * mapRow / 2
		return mapTop + off + i*mapRow + mapRow/2
	}
	sub := map[string]string{}
	for _, d := range r.Devices {
		sub[d.IP] = deviceTag(d)
	}
	for i, c := range r.Matrix.Clients {
		m.Nodes = append(m.Nodes, mapNode{X: mapClientX, Y: ys(len(r.Matrix.Clients), i), TextX: mapClientX - 12,
			Anchor: "end", Label: c, Sub: sub[c], Class: "client"})
	}
	for j, s := range r.Matrix.Servers {
		m.Nodes = append(m.Nodes, mapNode{X: mapServerX, Y: ys(len(r.Matrix.Servers), j), TextX: mapServerX + 12,
			Anchor: "start", Label: s, Sub: sub[s], Class: "server"})
	}
	for i, row := range r.Matrix.Cells {
		for j, cell := range row {
			if cell.Transactions == 0 && !cell.Alerted {
				continue
			}
			y1, y2 := ys(len(r.Matrix.Clients), i), ys(len(r.Matrix.Servers), j)
			mid := (mapClientX + mapServerX) / 2
			l := mapLink{
				D: "M" + itoa(mapClientX) + "," + itoa(y1) + " C" + itoa(mid) + "," + itoa(y1) + " " +
					itoa(mid) + "," + itoa(y2) + " " + itoa(mapServerX) + "," + itoa(y2),
				Width: strconv.FormatFloat(min(1.5+1.2*math.Log10(float64(cell.Transactions)+1), 9), 'f', 1, 64),
				Title: r.Matrix.Clients[i] + " → " + r.Matrix.Servers[j] + ": " +
					strconv.FormatUint(cell.Transactions, 10) + " transactions",
			}
			if cell.Alerted {
				l.Alerted = true
				l.Title += " (deviation alerted)"
			}
			switch {
			case cell.Transactions == 0:
			case slices.Contains(cell.Protocols, "modbus") && slices.Contains(cell.Protocols, "opcua"):
				l.Class = "both"
			case slices.Contains(cell.Protocols, "opcua"):
				l.Class = "opcua"
			case len(cell.Protocols) == 1 && cell.Protocols[0] == "network":
				// Only conversations no ICS protocol decodes (SMB,
				// RDP, DNS…): drawn apart, thin and grey.
				l.Class = "net"
			default:
				l.Class = "modbus"
			}
			m.Links = append(m.Links, l)
		}
	}
	return m
}

// deviceTag is the short second line of a device in the map.
func deviceTag(d Device) string {
	for _, f := range d.Identity {
		switch f.Name {
		case "Product name", "Product", "Vendor name", "Model name":
			return truncate(f.Value, 30)
		}
	}
	if d.Vendor != "" {
		return truncate(d.Vendor, 30)
	}
	if len(d.Roles) > 0 {
		return d.Roles[0]
	}
	return ""
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func itoa(i int) string { return strconv.Itoa(i) }

// heatPic is one heat map as SVG rectangles.
type heatPic struct {
	Title  string
	Width  int
	Height int
	Rows   []heatRow
	// Axis labels.
	First, Last string
	LastX       int
}

type heatRow struct {
	Label string
	Y     int
	Cells []heatCell
}

type heatCell struct {
	X       int
	Opacity string
	Title   string
	Empty   bool
}

const (
	heatCellW  = 10
	heatCellH  = 16
	heatLeft   = 70
	heatRowGap = 4
)

func buildHeat(h HeatMap) heatPic {
	n := len(h.Read)
	p := heatPic{
		Title: "unit " + itoa(int(h.Unit)) + " " + h.Table + " " + itoa(int(h.First)) + "-" + itoa(int(h.Last)) +
			" (" + itoa(h.Bucket) + " address" + plural(h.Bucket) + " per cell)",
		Width: heatLeft + n*heatCellW + 10, Height: 2*(heatCellH+heatRowGap) + 18,
		First: itoa(int(h.First)), Last: itoa(int(h.Last)), LastX: heatLeft + n*heatCellW,
	}
	for ri, row := range []struct {
		label string
		v     []int
	}{{"read", h.Read}, {"written", h.Written}} {
		hr := heatRow{Label: row.label, Y: ri * (heatCellH + heatRowGap)}
		for i, v := range row.v {
			lo := int(h.First) + i*h.Bucket
			hi := min(lo+h.Bucket-1, int(h.Last))
			c := heatCell{X: heatLeft + i*heatCellW, Empty: v == 0,
				Title: row.label + " " + itoa(lo) + "-" + itoa(hi) + ": " + itoa(v)}
			if v > 0 && h.Max > 0 {
				c.Opacity = strconv.FormatFloat(0.25+0.75*float64(v)/float64(h.Max), 'f', 2, 64)
			}
			hr.Cells = append(hr.Cells, c)
		}
		p.Rows = append(p.Rows, hr)
	}
	return p
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "es"
}
