package report

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// DefaultMaxRows bounds each long list of a report (devices, channels,
// alert rows, the matrix's rows and columns are bounded by MaxMatrix): a
// baseline of 65,536 channels made a 62 MB HTML page that took 20 s and
// 430 MB to write (issue #15), and no auditor reads it. What is left out is
// counted in Report.Omitted and said where the list ends; `sluice report
// --all` and `sluice baseline export` give everything.
const (
	DefaultMaxRows   = 1000
	DefaultMaxMatrix = 64
)

// Omitted counts what a bounded report leaves out of each list.
type Omitted struct {
	Devices        int `json:"devices,omitempty"`
	Channels       int `json:"channels,omitempty"`
	Alerts         int `json:"alerts,omitempty"`
	Incidents      int `json:"incidents,omitempty"`
	AlertsByDevice int `json:"alerts_by_device,omitempty"`
	MatrixClients  int `json:"matrix_clients,omitempty"`
	MatrixServers  int `json:"matrix_servers,omitempty"`
}

// Any reports whether anything was left out.
func (o Omitted) Any() bool { return o != Omitted{} }

// bound cuts the report's lists to opt's limits, keeping what matters
// most: servers and the busiest devices, the busiest channels, the most
// severe and earliest alerts, the busiest clients and servers of the
// matrix. The summary keeps counting everything.
func (r *Report) bound(maxRows, maxMatrix int) {
	if maxRows > 0 && len(r.Devices) > maxRows {
		kept := slices.Clone(r.Devices)
		slices.SortStableFunc(kept, func(a, b Device) int {
			return cmp.Or(cmpBool(!a.Client, !b.Client), cmp.Compare(b.Transactions, a.Transactions))
		})
		kept = kept[:maxRows]
		slices.SortFunc(kept, func(a, b Device) int { return cmpAddr(a.IP, b.IP) })
		r.Omitted.Devices = len(r.Devices) - maxRows
		r.Devices = kept
	}
	if n := r.channelCount(); maxRows > 0 && n > maxRows {
		var tx []uint64
		for _, db := range r.Baselines {
			for _, c := range db.Channels {
				tx = append(tx, c.Transactions)
			}
		}
		slices.SortFunc(tx, func(a, b uint64) int { return cmp.Compare(b, a) })
		// Keep channels busier than the threshold, then those equal to
		// it in canonical order until the limit.
		threshold, room := tx[maxRows-1], maxRows
		for _, t := range tx[:maxRows] {
			if t > threshold {
				room--
			}
		}
		var servers []DeviceBaseline
		for _, db := range r.Baselines {
			var cs []ChannelBaseline
			for _, c := range db.Channels {
				switch {
				case c.Transactions > threshold:
				case c.Transactions == threshold && room > 0:
					room--
				default:
					continue
				}
				cs = append(cs, c)
			}
			if len(cs) > 0 {
				db.Channels = cs
				servers = append(servers, db)
			}
		}
		r.Omitted.Channels = n - maxRows
		r.Baselines = servers
	}
	if maxRows > 0 && len(r.Alerts) > maxRows {
		r.Omitted.Alerts = len(r.Alerts) - maxRows
		r.Alerts = r.Alerts[:maxRows] // most severe, then earliest, first
	}
	if maxRows > 0 && len(r.Incidents) > maxRows {
		// The most severe, then the earliest; shown in time order.
		kept := slices.Clone(r.Incidents)
		slices.SortStableFunc(kept, func(a, b IncidentRow) int { return cmp.Compare(a.Severity, b.Severity) })
		kept = kept[:maxRows]
		slices.SortStableFunc(kept, func(a, b IncidentRow) int { return a.First.Compare(b.First.Time) })
		r.Omitted.Incidents = len(r.Incidents) - maxRows
		r.Incidents = kept
	}
	if maxRows > 0 && len(r.AlertsByDevice) > maxRows {
		kept := slices.Clone(r.AlertsByDevice)
		slices.SortStableFunc(kept, func(a, b DeviceAlerts) int { return cmp.Compare(b.Occurrences, a.Occurrences) })
		kept = kept[:maxRows]
		slices.SortFunc(kept, func(a, b DeviceAlerts) int { return cmpAddr(a.Device, b.Device) })
		r.Omitted.AlertsByDevice = len(r.AlertsByDevice) - maxRows
		r.AlertsByDevice = kept
	}
	if maxMatrix > 0 && (len(r.Matrix.Clients) > maxMatrix || len(r.Matrix.Servers) > maxMatrix) {
		r.boundMatrix(maxMatrix)
	}
}

// boundMatrix keeps the max busiest clients and servers of the matrix
// (alerted cells count as busy: a rogue pair must stay visible).
func (r *Report) boundMatrix(max int) {
	m := &r.Matrix
	rowTx := make([]uint64, len(m.Clients))
	colTx := make([]uint64, len(m.Servers))
	const alertedWeight = 1 << 62
	for i := range m.Cells {
		for j, c := range m.Cells[i] {
			w := c.Transactions
			if c.Alerted {
				w = alertedWeight
			}
			rowTx[i] = satAdd(rowTx[i], w)
			colTx[j] = satAdd(colTx[j], w)
		}
	}
	rows, cols := top(rowTx, max), top(colTx, max)
	r.Omitted.MatrixClients = len(m.Clients) - len(rows)
	r.Omitted.MatrixServers = len(m.Servers) - len(cols)
	var out Matrix
	for _, j := range cols {
		out.Servers = append(out.Servers, m.Servers[j])
	}
	for _, i := range rows {
		out.Clients = append(out.Clients, m.Clients[i])
		row := make([]MatrixCell, 0, len(cols))
		for _, j := range cols {
			row = append(row, m.Cells[i][j])
		}
		out.Cells = append(out.Cells, row)
	}
	*m = out
}

// top returns the indexes of the max largest weights, in index order.
func top(w []uint64, max int) []int {
	idx := make([]int, len(w))
	for i := range idx {
		idx[i] = i
	}
	if len(idx) > max {
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(w[b], w[a]) })
		idx = idx[:max]
		slices.Sort(idx)
	}
	return idx
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}

func (r *Report) channelCount() int {
	n := 0
	for _, db := range r.Baselines {
		n += len(db.Channels)
	}
	return n
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// cmpAddr orders address texts as addresses (what the lists were sorted
// by), text that is not an address last.
func cmpAddr(a, b string) int {
	x, errx := netip.ParseAddr(a)
	y, erry := netip.ParseAddr(b)
	if errx != nil || erry != nil {
		return cmp.Or(cmpBool(errx == nil, erry == nil), cmp.Compare(a, b))
	}
	return x.Compare(y)
}

// or returns v, or d when v is zero.
func or(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// omittedNote returns the sentence that ends a bounded list, "" when the
// list is whole. what names the list ("devices").
func (r *Report) omittedNote(what string) string {
	if r.Omitted == nil {
		return ""
	}
	n, kept := 0, ""
	switch what {
	case "devices":
		n, kept = r.Omitted.Devices, "servers first, then the busiest clients"
	case "channels":
		n, kept = r.Omitted.Channels, "the busiest"
	case "alerts by device":
		n, kept = r.Omitted.AlertsByDevice, "the devices with most occurrences"
	case "incidents":
		n, kept = r.Omitted.Incidents, "the most severe"
	case "matrix":
		if r.Omitted.MatrixClients+r.Omitted.MatrixServers == 0 {
			return ""
		}
		return fmt.Sprintf("… and %d more clients and %d more servers, the least busy (pairs named by an alert come first): sluice report --all lists them all.",
			r.Omitted.MatrixClients, r.Omitted.MatrixServers)
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("… and %d more %s (the report shows %s): sluice report --all, or sluice baseline export, lists them all.", n, what, kept)
}

// OmittedNote is omittedNote for the HTML template.
func (r *Report) OmittedNote(what string) string { return r.omittedNote(what) }

// omittedAlerts is how many alert rows the model itself left out.
func (r *Report) omittedAlerts() int {
	if r.Omitted == nil {
		return 0
	}
	return r.Omitted.Alerts
}
