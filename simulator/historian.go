package simulator

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
	"github.com/gopcua/opcua/uacp"
)

// alarmTags are what the live historian's subscription monitors.
var alarmTags = []string{TagAlarmHighLevel, TagAlarmGate1Fault, TagAlarmGate2Fault, TagAlarmTrip, TagGate1SP, TagGate2SP}

// liveHistorian is the SCADA historian when the simulator runs live: gopcua's
// own client, with its keep-alive and publish goroutines, a subscription on
// the alarms and setpoints, and a Read of the measurements every 2 s.
type liveHistorian struct {
	c      *opcua.Client
	cancel context.CancelFunc
}

func openLiveHistorian(e *env, user, pass string) (*liveHistorian, error) {
	ctx, cancel := context.WithCancel(e.ctx)
	h, err := dialLiveHistorian(ctx, e, user, pass)
	if err != nil {
		cancel()
		return nil, err
	}
	h.cancel = cancel
	return h, nil
}

func dialLiveHistorian(ctx context.Context, e *env, user, pass string) (*liveHistorian, error) {
	eps, err := opcua.GetEndpoints(ctx, e.uaURL)
	if err != nil {
		return nil, fmt.Errorf("historian: get endpoints: %w", err)
	}
	var ep *ua.EndpointDescription
	for _, x := range eps {
		if x.SecurityMode == ua.MessageSecurityModeNone {
			ep = x
			break
		}
	}
	if ep == nil {
		return nil, fmt.Errorf("historian: no SecurityPolicy None endpoint at %s", e.uaURL)
	}
	tok := ua.UserTokenTypeAnonymous
	auth := opcua.AuthAnonymous()
	if user != "" {
		tok, auth = ua.UserTokenTypeUserName, opcua.AuthUsername(user, pass)
	}
	ep.EndpointURL = e.uaURL
	c, err := opcua.NewClient(e.uaURL,
		opcua.SecurityPolicy(ua.SecurityPolicyURINone), opcua.SecurityMode(ua.MessageSecurityModeNone),
		auth, opcua.SecurityFromEndpoint(ep, tok),
		opcua.ApplicationName("historian"), opcua.SessionName("historian"),
		opcua.Dialer(&uacp.Dialer{Dialer: &net.Dialer{LocalAddr: loopbackFor(HostSCADA), Timeout: 5 * time.Second}}),
		opcua.AutoReconnect(false))
	if err != nil {
		return nil, fmt.Errorf("historian: %w", err)
	}
	if err := c.Connect(ctx); err != nil {
		return nil, fmt.Errorf("historian: connect: %w", err)
	}
	notes := make(chan *opcua.PublishNotificationData, 16)
	sub, err := c.Subscribe(ctx, &opcua.SubscriptionParameters{Interval: time.Second}, notes)
	if err != nil {
		c.Close(ctx)
		return nil, fmt.Errorf("historian: subscribe: %w", err)
	}
	items := make([]*ua.MonitoredItemCreateRequest, len(alarmTags))
	for i, n := range alarmTags {
		items[i] = opcua.NewMonitoredItemCreateRequestWithDefaults(ua.NewStringNodeID(uaDamNS, n), ua.AttributeIDValue, uint32(i+1))
	}
	if _, err := sub.Monitor(ctx, ua.TimestampsToReturnBoth, items...); err != nil {
		c.Close(ctx)
		return nil, fmt.Errorf("historian: monitor: %w", err)
	}
	go func() { // drain notifications; a historian would store them
		for {
			select {
			case <-ctx.Done():
				return
			case <-notes:
			}
		}
	}()
	return &liveHistorian{c: c}, nil
}

func (h *liveHistorian) read(ctx context.Context) error {
	nodes := make([]*ua.ReadValueID, len(historianTags))
	for i, n := range historianTags {
		nodes[i] = &ua.ReadValueID{NodeID: ua.NewStringNodeID(uaDamNS, n), AttributeID: ua.AttributeIDValue}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := h.c.Read(ctx, &ua.ReadRequest{NodesToRead: nodes, TimestampsToReturn: ua.TimestampsToReturnBoth})
	return err
}

func (h *liveHistorian) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h.c.Close(ctx)
	h.cancel()
}
