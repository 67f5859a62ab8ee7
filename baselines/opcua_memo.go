package baselines

import "slices"

// The OPC UA model's memo of calls. An OPC UA client repeats its calls as
// a Modbus master does: the same service on the same nodes within the same
// session, so learning one counts the same Services, Policies, Modes,
// Tokens, Users, ClientApps and NodesRead/NodesCalled keys each time, a map
// operation with a string hash for each, and judging one looks up the same
// service, token and methods. A channel's memo holds its last few calls
// without writes, with the counts learning them bumps and what judging
// them found.
//
// As the Modbus memo (modbus_memo.go), it is runtime state of the model
// (opcuaRuntime), holds no count of its own and only remembers what cannot
// change back; the reference engine (Engine.plain) runs without it.

// callWays is how many calls a channel's memo holds: a client alternates a
// few services (Read, Publish, Browse...).
const callWays = 4

// call is one OPC UA call without writes: its service, session context
// and nodes, and what learning and judging it found. Strings may be kept
// (Observation says so); the node lists are copies.
type call struct {
	service, policy, user, app string
	mode                       SecurityMode
	token                      TokenType
	read, called               []string
	used                       bool
	// learned: the call was learned, so every key it counts is in its
	// map, counts holds their counts and its poll is in Polls.
	learned bool
	counts  []*uint64
	// anonymousOK, serviceOK, calledOK: judging found the anonymous
	// token (when the call has one), the service and every method
	// learned.
	anonymousOK, serviceOK, calledOK bool
	// pollSet: poll is resolved (nil when the call is no learned poll).
	pollSet bool
	poll    *poll
}

// callMemo is a channel's memo of calls, replacing the oldest.
type callMemo struct {
	calls [callWays]call
	next  uint8
}

// matches reports whether u is the call c, without writes.
func (c *call) matches(u *OPCUAObs) bool {
	return c.used && len(u.Written) == 0 && c.service == u.Service && c.policy == u.SecurityPolicy &&
		c.mode == u.SecurityMode && c.token == u.Token && c.user == u.User && c.app == u.ClientAppURI &&
		slices.Equal(c.read, u.Read) && slices.Equal(c.called, u.Called)
}

// entry returns the memo entry of u, a call without writes, replacing the
// oldest call when u has none. The node lists and counts reuse the
// replaced call's arrays.
func (m *callMemo) entry(u *OPCUAObs) *call {
	for i := range m.calls {
		if c := &m.calls[i]; c.matches(u) {
			return c
		}
	}
	k := &m.calls[m.next%callWays]
	m.next++
	*k = call{service: u.Service, policy: u.SecurityPolicy, user: u.User, app: u.ClientAppURI,
		mode: u.SecurityMode, token: u.Token, read: append(k.read[:0], u.Read...),
		called: append(k.called[:0], u.Called...), counts: k.counts[:0], used: true}
	return k
}

// callOf returns the memo entry of u, a call without writes, when c's
// transactions go through the memo, else nil.
func callOf(e *Engine, c *channel, rt *chanRuntime, u *OPCUAObs) *call {
	st, _ := rt.state.(*opcuaRuntime)
	if !e.memo(c, st != nil && st.calls != nil) {
		return nil
	}
	if st == nil {
		st = stateIn[opcuaRuntime](&rt.state)
	}
	if st.calls == nil {
		st.calls = &callMemo{}
	}
	return st.calls.entry(u)
}
