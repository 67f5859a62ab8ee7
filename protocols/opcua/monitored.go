package opcua

import (
	"github.com/gopcua/opcua/id"
	"github.com/gopcua/opcua/ua"
)

// Data change notifications name a monitored item by the client's handle
// only (OPC 10000-4 §7.22.2); which node it watches was said once, in the
// CreateMonitoredItems request (ItemToMonitor, RequestedParameters
// .ClientHandle) that the server accepted item by item. A Conn remembers
// the accepted items of its secure channel, by subscription and handle,
// and names the node of each DataChange it emits.

// maxMonitored bounds the monitored items a Conn remembers; beyond it new
// items are counted (Stats.MonitoredDropped) and their notifications stay
// unnamed.
const maxMonitored = 4096

// monitoredNode is what a client handle stands for.
type monitoredNode struct {
	node string
	attr uint32
}

func monitoredKey(sub, handle uint32) uint64 { return uint64(sub)<<32 | uint64(handle) }

// monitor learns the items a CreateMonitoredItems exchange created and
// names the node of each data change of a Publish or Republish response.
func (c *Conn) monitor(m *Message) {
	rq, rs := m.Request, m.Response
	if rs == nil || !rs.Decoded {
		return
	}
	if len(rs.DataChanges) > 0 && rs.Subscription != nil {
		sub := rs.Subscription.ID
		if rq != nil && rq.ID == id.RepublishRequest_Encoding_DefaultBinary && rq.Subscription != nil {
			sub = rq.Subscription.ID // a Republish response does not repeat it
		}
		for i := range rs.DataChanges {
			dc := &rs.DataChanges[i]
			if n, ok := c.monitored[monitoredKey(sub, dc.ClientHandle)]; ok {
				dc.NodeID, dc.AttributeID = n.node, n.attr
			}
		}
		return
	}
	if rq == nil || rq.ID != id.CreateMonitoredItemsRequest_Encoding_DefaultBinary || rq.Subscription == nil ||
		rs.Status != ua.StatusGood || len(rs.Results) != len(rq.MonitoredItems) {
		return
	}
	for i, it := range rq.MonitoredItems {
		if rs.Results[i] != ua.StatusGood || it.NodeID == "" {
			continue
		}
		k := monitoredKey(rq.Subscription.ID, it.ClientHandle)
		if _, ok := c.monitored[k]; !ok && len(c.monitored) >= maxMonitored {
			c.st.MonitoredDropped++
			continue
		}
		if c.monitored == nil {
			c.monitored = make(map[uint64]monitoredNode)
		}
		c.monitored[k] = monitoredNode{it.NodeID, it.AttributeID}
	}
}
