package baselines

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sluice-ics/sluice/protocols/opcua"
)

func init() { register(OPCUA, &opcuaModel{}) }

// The OPC UA Binary model (OPC 10000-6 §7). A channel is (client, server,
// endpoint port); it learns the services called, the session security
// (policies, modes, identity tokens, users, client applications), the
// nodes read, written (with their values) and called, and the polls.

// OPCUA is OPC UA Binary over TCP.
const OPCUA Protocol = 2

// The roles of the ends of an OPC UA channel.
const (
	RoleOPCUAClient Roles = 1 << 2
	RoleOPCUAServer Roles = 1 << 3
)

// The OPC UA rules (docs/alerts.md). The numbers are stable.
const (
	OPCUANewClient         Rule = 15
	OPCUAAnonymousSession  Rule = 16
	OPCUASecurityDowngrade Rule = 17
	OPCUAUnexpectedWrite   Rule = 18
	OPCUAUnexpectedCall    Rule = 19
)

var opcuaRules = []ruleInfo{
	{OPCUANewClient, "opcua_new_client", 1, "Unauthorized Command Message", true, true, []string{"T0886", "T0848"}},
	{OPCUAAnonymousSession, "opcua_anonymous_session", 2, "Valid Accounts", true, true, []string{"T0859", "T0886"}},
	{OPCUASecurityDowngrade, "opcua_security_downgrade", 1, "Adversary-in-the-Middle", true, true, []string{"T0830", "T0859"}},
	{OPCUAUnexpectedWrite, "opcua_unexpected_write", 1, "Unauthorized Command Message", true, true, []string{"T0855", "T0836"}},
	{OPCUAUnexpectedCall, "opcua_unexpected_call", 1, "Unauthorized Command Message", true, true, []string{"T0855"}},
}

// OPCUAObs is the Detail of an OPC UA observation: one service call with
// the session context the agent tracks per connection. Context fields the
// agent has not seen (mid-stream pick-up) are left zero and are then
// neither learned nor judged.
type OPCUAObs struct {
	// Service is the service name without the Request suffix, as in OPC
	// 10000-4 §5: "OpenSecureChannel", "CreateSession", "ActivateSession",
	// "Read", "Write", "Call", "Browse", "CreateSubscription", "Publish"...
	Service string
	// Status is the response's ServiceResult (0 = Good).
	Status uint32
	// Channel and session context.
	EndpointURL    string
	SecurityPolicy string // policy URI, e.g. http://opcfoundation.org/UA/SecurityPolicy#None
	SecurityMode   SecurityMode
	Token          TokenType
	User           string // user name of a UserNameIdentityToken
	// PasswordCleartext: this ActivateSession's username token carried
	// its password unencrypted (PasswordLength bytes; never the password).
	PasswordCleartext bool
	PasswordLength    int
	// Undecodable: the request's body could not be decoded (not the
	// encrypted body of a secured channel).
	Undecodable bool
	// Client description from CreateSession.
	ClientAppURI     string
	ClientProductURI string
	// Server description (CreateSession response, or a read of the
	// ServerStatus node).
	Server *ServerInfo
	// Node ids as strings in the standard notation ("ns=2;s=Gate1.Setpoint").
	Read    []string
	Written []NodeValue
	// Called holds the method node ids of a Call ("ns=2;s=Dam/ns=2;s=Reset"
	// form is not required: the method id alone names the item).
	Called []string
	// Values are the process values the response reports
	// (opcua_process.go): the Value attribute of the nodes a Read
	// returned, and the data changes of a Publish, numeric or Boolean
	// scalars with a Good status.
	Values []NodeValue
}

func (*OPCUAObs) detail() {}

// NodeValue is one written attribute value.
type NodeValue struct {
	Node string
	// Value is the written value when Numeric; non-numeric writes are
	// judged by node only.
	Value   float64
	Numeric bool
	// Bool: the value is a Boolean (a process state, as a coil).
	Bool bool
}

// ServerInfo is what an OPC UA server says about itself (ApplicationDescription
// and BuildInfo, OPC 10000-5 §12.4). Attacker-controlled text.
type ServerInfo struct {
	AppURI           string `json:"application_uri,omitempty"`
	ProductURI       string `json:"product_uri,omitempty"`
	ManufacturerName string `json:"manufacturer_name,omitempty"`
	ProductName      string `json:"product_name,omitempty"`
	SoftwareVersion  string `json:"software_version,omitempty"`
	BuildNumber      string `json:"build_number,omitempty"`
	// The server's application instance certificate: the lowercase hex
	// SHA-1 of its DER (as OPC UA's thumbprints and Windows show it), its
	// subject and the end of its validity (RFC 3339) when it parses.
	CertThumbprint string `json:"certificate_thumbprint,omitempty"`
	CertSubject    string `json:"certificate_subject,omitempty"`
	CertNotAfter   string `json:"certificate_not_after,omitempty"`
}

// TokenType is an OPC UA user identity token type (OPC 10000-4 §7.36):
// protocols/opcua's IdentityType, named as the baseline stores it.
type TokenType uint8

const (
	TokenUnknown   = TokenType(opcua.IdentityUnknown) // not (yet) seen on this session
	TokenAnonymous = TokenType(opcua.IdentityAnonymous)
	TokenUserName  = TokenType(opcua.IdentityUserName)
	TokenX509      = TokenType(opcua.IdentityX509)
	TokenIssued    = TokenType(opcua.IdentityIssued)
)

var tokenNames = [...]string{"unknown", "anonymous", "username", "x509", "issued"}

func (t TokenType) String() string { return tokenNames[int(t)%len(tokenNames)] }

// MarshalText writes the token type name.
func (t TokenType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a token type name.
func (t *TokenType) UnmarshalText(b []byte) error {
	return parseName(t, tokenNames[:], b, "token type")
}

// SecurityMode is an OPC UA MessageSecurityMode (OPC 10000-4 §7.20):
// protocols/opcua's SecurityMode, named as the baseline stores it
// ("sign_and_encrypt").
type SecurityMode uint8

const (
	SecurityUnknown        = SecurityMode(opcua.ModeUnknown)
	SecurityNone           = SecurityMode(opcua.ModeNone)
	SecuritySign           = SecurityMode(opcua.ModeSign)
	SecuritySignAndEncrypt = SecurityMode(opcua.ModeSignAndEncrypt)
)

var modeNames = [...]string{"unknown", "none", "sign", "sign_and_encrypt"}

func (m SecurityMode) String() string { return modeNames[int(m)%len(modeNames)] }

// MarshalText writes the mode name.
func (m SecurityMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses a mode name.
func (m *SecurityMode) UnmarshalText(b []byte) error {
	return parseName(m, modeNames[:], b, "security mode")
}

// parseName sets *v to the index of b in names.
func parseName[T ~uint8](v *T, names []string, b []byte, what string) error {
	if i := slices.Index(names, string(b)); i >= 0 {
		*v = T(i)
		return nil
	}
	return fmt.Errorf("baselines: unknown %s %q", what, b)
}

// policyStrength ranks OPC UA security policies (OPC 10000-7 profiles);
// higher is stronger. Unknown policies rank as Basic256Sha256.
func policyStrength(uri string) int {
	_, name, _ := strings.Cut(uri, "#")
	switch name {
	case "None":
		return 0
	case "Basic128Rsa15":
		return 1
	case "Basic256":
		return 2
	case "Aes128_Sha256_RsaOaep":
		return 3
	case "Aes256_Sha256_RsaPss":
		return 5
	}
	return 4
}

// tokenStrength ranks identity token types: anonymous < user name <
// certificate or issued token.
func tokenStrength(t TokenType) int {
	switch t {
	case TokenAnonymous:
		return 0
	case TokenUserName:
		return 1
	}
	return 2
}

// OPCUAModel is what an OPC UA channel learned.
type OPCUAModel struct {
	// Polls are the repeating Reads, by their first node.
	Polls        map[PollKey]*Rhythm  `json:"polls,omitempty"`
	Services     Counts[string]       `json:"services,omitempty"`
	Policies     Counts[string]       `json:"security_policies,omitempty"`
	Modes        Counts[SecurityMode] `json:"security_modes,omitempty"`
	Tokens       Counts[TokenType]    `json:"token_types,omitempty"`
	Users        Counts[string]       `json:"users,omitempty"`
	ClientApps   Counts[string]       `json:"client_application_uris,omitempty"`
	NodesRead    Counts[string]       `json:"nodes_read,omitempty"`
	NodesWritten map[string]*Envelope `json:"nodes_written,omitempty"`
	NodesCalled  Counts[string]       `json:"nodes_called,omitempty"`
	// Process are the process variables read or notified, by node
	// (opcua_process.go), at most Config.MaxProcessVars; ProcessDropped
	// counts the values of variables beyond it.
	Process        map[string]*ProcessVar `json:"process,omitempty"`
	ProcessDropped uint64                 `json:"process_dropped,omitempty"`
}

func (m *OPCUAModel) polls() *map[PollKey]*Rhythm { return &m.Polls }

func (m *OPCUAModel) items(add func(format string, a ...any)) {
	addKeys(add, "service %s", m.Services)
	addKeys(add, "policy %s", m.Policies)
	addKeys(add, "mode %s", m.Modes)
	addKeys(add, "token %s", m.Tokens)
	addKeys(add, "user %s", m.Users)
	addKeys(add, "client_application %s", m.ClientApps)
	addKeys(add, "node_read %s", m.NodesRead)
	for n, env := range m.NodesWritten {
		if env.Writes > 0 && (env.Many || len(env.Distinct) > 0) {
			add("node_written %s %s", n, env.text())
		} else {
			add("node_written %s", n)
		}
	}
	addKeys(add, "node_called %s", m.NodesCalled)
	for n, pv := range m.Process {
		add("process %s %s", n, pv.text())
	}
}

func (m *OPCUAModel) foldIn(d *Deviation, cfg *Config) {
	it := d.Item
	switch d.Rule {
	case UnexpectedFunction:
		if it.What == "service" {
			m.Services.add(it.Node)
		}
	case WriteValueOutOfRange:
		if it.Node != "" {
			m.nodeWritten(it.Node).add(d.Value, cfg.DistinctValues)
		}
	case OPCUAUnexpectedWrite:
		m.nodeWritten(it.Node)
	case OPCUAUnexpectedCall:
		m.NodesCalled.add(it.Node)
	case OPCUAAnonymousSession:
		m.Tokens.add(TokenAnonymous)
	case OPCUASecurityDowngrade:
		switch it.What {
		case "policy":
			m.Policies.add(d.Text)
		case "mode":
			var md SecurityMode
			if md.UnmarshalText([]byte(d.Text)) == nil {
				m.Modes.add(md)
			}
		case "token":
			var t TokenType
			if t.UnmarshalText([]byte(d.Text)) == nil {
				m.Tokens.add(t)
			}
		}
	case OPCUANewClient:
		if it.What == "application_uri" {
			m.ClientApps.add(it.Node)
		}
	case ProcessValueOutOfRange, ProcessRateOfChange, ProcessValueFrozen, ProcessStateUnexpected:
		if pv := m.processVar(it.Node, d.Rule == ProcessStateUnexpected, cfg.MaxProcessVars); pv != nil {
			foldProcess(pv, d.Rule, d.Value)
		}
	}
}

// nodeWritten returns the envelope of node, making it.
func (m *OPCUAModel) nodeWritten(node string) *Envelope {
	if m.NodesWritten == nil {
		m.NodesWritten = map[string]*Envelope{}
	}
	env := m.NodesWritten[node]
	if env == nil {
		env = &Envelope{}
		m.NodesWritten[node] = env
	}
	return env
}

func (m *OPCUAModel) sanitize() {
	for _, c := range []Counts[string]{m.Services, m.Policies, m.Users, m.ClientApps, m.NodesRead, m.NodesCalled} {
		c.sanitize()
	}
	m.Modes.sanitize()
	m.Tokens.sanitize()
	sanitizeEnvelopes(m.NodesWritten)
	sanitizeRhythms(m.Polls)
	for n, pv := range m.Process {
		if pv == nil || n == "" {
			delete(m.Process, n)
			continue
		}
		pv.sanitize()
	}
}

// opcuaModel is the OPC UA protocol model (see model).
type opcuaModel struct{}

func (*opcuaModel) info() modelInfo {
	return modelInfo{name: "opcua", client: RoleOPCUAClient, server: RoleOPCUAServer,
		roleNames: [2]string{"opcua_client", "opcua_server"}, rules: opcuaRules}
}

// read: a response answers; a Good service result is learned.
func (*opcuaModel) read(o *Observation) (txn, bool) {
	u, _ := o.Detail.(*OPCUAObs)
	if u == nil {
		return txn{}, false
	}
	return txn{port: o.ServerPort, answered: o.Responded, learnable: o.Responded && u.Status == 0}, true
}

func (*opcuaModel) validKey(k ChannelKey) bool {
	return k.Unit == 0 && k.Master == 0 && k.Outstation == 0
}

func (*opcuaModel) newChannel() ChannelModel { return &OPCUAModel{} }

func (*opcuaModel) channelName(k ChannelKey) string {
	return fmt.Sprintf("opcua %s>%s:%d", k.Client, k.Server, k.Port)
}

func (*opcuaModel) serverName(k ChannelKey) string {
	return fmt.Sprintf("OPC UA server %s:%d", k.Server, k.Port)
}

func (*opcuaModel) pollKey(o *Observation) (PollKey, bool) {
	return opcuaPollKey(o.Detail.(*OPCUAObs))
}

// opcuaPollKey returns the poll key of a Read: its first node.
func opcuaPollKey(u *OPCUAObs) (PollKey, bool) {
	if u.Service != "Read" || len(u.Read) == 0 {
		return PollKey{}, false
	}
	return PollKey{Node: u.Read[0]}, true
}

// inventory notes what the server says about itself.
func (*opcuaModel) inventory(srv *Device, o *Observation) {
	if s := o.Detail.(*OPCUAObs).Server; s != nil {
		v := *s
		if srv.Server != nil {
			// Build info, description and certificate come in
			// different responses: each keeps the others' fields.
			v = mergeServer(*srv.Server, v)
		}
		srv.Server = &v
	}
}

// mergeServer returns old with the fields n reports replaced.
func mergeServer(old, n ServerInfo) ServerInfo {
	pick(&old.AppURI, n.AppURI)
	pick(&old.ProductURI, n.ProductURI)
	pick(&old.ManufacturerName, n.ManufacturerName)
	pick(&old.ProductName, n.ProductName)
	pick(&old.SoftwareVersion, n.SoftwareVersion)
	pick(&old.BuildNumber, n.BuildNumber)
	if n.CertThumbprint != "" {
		// The three fields name one certificate: never mix two.
		old.CertThumbprint, old.CertSubject, old.CertNotAfter = n.CertThumbprint, n.CertSubject, n.CertNotAfter
	}
	return old
}

func (*opcuaModel) deviceItems(d *Device) []string {
	if d.Server == nil {
		return nil
	}
	items := []string{fmt.Sprintf("opcua_server %q %q %q", d.Server.AppURI, d.Server.ProductURI, d.Server.SoftwareVersion)}
	if d.Server.CertThumbprint != "" {
		items = append(items, "opcua_certificate "+d.Server.CertThumbprint)
	}
	return items
}

// opcuaRuntime is an OPC UA channel's state of this run
// (chanRuntime.state).
type opcuaRuntime struct {
	// sec is the session context last judged, secClean whether it was
	// judged without a deviation: it repeats on every service call and
	// is judged once per change.
	sec      sessionContext
	secClean bool
	// calls is the memo of learned calls (opcua_memo.go).
	calls *callMemo
}

// sessionContext is what judgeSecurity and judgeClientApp judge.
type sessionContext struct {
	policy string
	mode   SecurityMode
	token  TokenType
	app    string
}

// learn folds one successful call into the channel's model. It allocates
// only when the call brings something new.
func (*opcuaModel) learn(e *Engine, c *channel, rt *chanRuntime, o *Observation) (f found) {
	u := o.Detail.(*OPCUAObs)
	m := c.Model.(*OPCUAModel)
	f.newItems += learnOPCUAProcess(e, m, o, u)
	var k *call
	if len(u.Written) == 0 {
		// A repeat of a learned call only counts: every key it would
		// count is in its map, and k.counts are their counts.
		if k = callOf(e, c, rt, u); k != nil && k.learned {
			for _, n := range k.counts {
				*n++
			}
			if k.poll != nil {
				k.poll.r.add(o.Time, e.resumed)
			}
			f.poll, f.pollKnown = k.poll, true
			return f
		}
	}
	count := func(n *uint64, isNew bool) {
		if isNew {
			f.newItems++
		}
		if k != nil {
			k.counts = append(k.counts, n)
		}
	}
	if u.Service != "" {
		count(m.Services.add(u.Service))
	}
	if u.SecurityPolicy != "" {
		count(m.Policies.add(u.SecurityPolicy))
	}
	if u.SecurityMode != SecurityUnknown {
		count(m.Modes.add(u.SecurityMode))
	}
	if u.Token != TokenUnknown {
		count(m.Tokens.add(u.Token))
	}
	// Strings a client chooses (node ids, user and application names)
	// are learned up to MaxItems per set and channel: one client reading
	// 200,000 node ids that do not exist must not add 200,000 items.
	capped := func(cs *Counts[string], key string) {
		if len(*cs) >= e.cfg.MaxItems && !cs.Has(key) {
			e.limited.Items++
			return
		}
		count(cs.add(key))
	}
	if u.User != "" {
		capped(&m.Users, u.User)
	}
	if u.ClientAppURI != "" {
		capped(&m.ClientApps, u.ClientAppURI)
	}
	for _, n := range u.Read {
		capped(&m.NodesRead, n)
	}
	for _, n := range u.Called {
		capped(&m.NodesCalled, n)
	}
	if len(u.Written) > 0 {
		c.Writes++
		for _, w := range u.Written {
			if m.NodesWritten[w.Node] == nil {
				if len(m.NodesWritten) >= e.cfg.MaxItems {
					e.limited.Items++
					continue
				}
				f.newItems++
			}
			env := m.nodeWritten(w.Node)
			if w.Numeric {
				if env.add(w.Value, e.cfg.DistinctValues) {
					f.newItems++
				}
			} else {
				env.Writes++
			}
		}
	}
	if pk, ok := opcuaPollKey(u); ok {
		var isNew bool
		if f.poll, isNew = c.learnPoll(e, pk, o.Time, e.resumed); isNew {
			f.newItems++
		}
	}
	f.pollKnown = true
	if k != nil {
		k.learned, k.poll, k.pollSet = true, f.poll, true
	}
	return f
}

// judge compares one call with the channel's model (c is nil for a client
// never learned on the endpoint).
func (*opcuaModel) judge(e *Engine, c *channel, rt *chanRuntime, o *Observation) (f found) {
	u, key := o.Detail.(*OPCUAObs), rt.key
	var m *OPCUAModel
	if c != nil {
		m = c.Model.(*OPCUAModel)
	}
	// The memo entry of the call remembers what judging looked up: the
	// maps only grow, so what was found stays found. Its poll is
	// resolved once.
	var k *call
	if c != nil && len(u.Written) == 0 {
		if k = callOf(e, c, rt, u); k != nil {
			if !k.pollSet {
				if pk, ok := opcuaPollKey(u); ok {
					k.poll = c.poll(pk)
				}
				k.pollSet = true
			}
			f.poll, f.pollKnown = k.poll, true
		}
	}
	if c == nil {
		if a := e.raise(o.Time, OPCUANewClient, key, Item{What: "client"}, &o.Endpoints, o, nil); a != nil {
			app := "" // a client need not send an application URI before CreateSession
			if u.ClientAppURI != "" {
				app = fmt.Sprintf(" (%q)", u.ClientAppURI)
			}
			e.sign(a, fmt.Sprintf("OPC UA client %s%s never seen before uses %s on server %s port %d",
				key.Client, app, u.Service, key.Server, key.Port))
		}
	}
	if u.Token == TokenAnonymous && (k == nil || !k.anonymousOK) {
		if m == nil || m.Tokens.N(TokenAnonymous) == 0 {
			if a := e.raise(o.Time, OPCUAAnonymousSession, key, Item{What: "token"}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("OPC UA client %s uses an anonymous session on server %s port %d, never learned",
					key.Client, key.Server, key.Port))
			}
		} else if k != nil {
			k.anonymousOK = true
		}
	}
	if c != nil {
		st := stateIn[opcuaRuntime](&rt.state)
		ctx := sessionContext{u.SecurityPolicy, u.SecurityMode, u.Token, u.ClientAppURI}
		if !st.secClean || st.sec != ctx || e.plain {
			dev := judgeSecurity(e, o, u, key, m)
			dev = judgeClientApp(e, o, u, key, m) || dev
			st.sec, st.secClean = ctx, !dev
		}
	}
	if c != nil && u.Service != "" && !sessionService(u.Service) && (k == nil || !k.serviceOK) {
		if !m.Services.Has(u.Service) {
			if a := e.raise(o.Time, UnexpectedFunction, key, Item{What: "service", Node: u.Service}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("OPC UA client %s calls service %s, never used on server %s port %d",
					key.Client, u.Service, key.Server, key.Port))
			}
		} else if k != nil {
			k.serviceOK = true
		}
	}
	for _, w := range u.Written {
		var env *Envelope
		if m != nil {
			env = m.NodesWritten[w.Node]
		}
		if env == nil {
			if a := e.raise(o.Time, OPCUAUnexpectedWrite, key, Item{Node: w.Node}, &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("OPC UA client %s writes node %s, never written on server %s port %d",
					key.Client, w.Node, key.Server, key.Port))
			}
			continue
		}
		if w.Numeric && env.Min <= env.Max && env.Writes > 0 && !env.Contains(w.Value, e.cfg.ValueSlack) && !envNonNumeric(env) {
			if a := e.raiseValue(o.Time, WriteValueOutOfRange, key, Item{Node: w.Node}, w.Value, "", &o.Endpoints, o, nil); a != nil {
				e.sign(a, fmt.Sprintf("OPC UA client %s writes %g to node %s on server %s port %d, outside the learned %s",
					key.Client, w.Value, w.Node, key.Server, key.Port, env.describe()))
			}
		}
	}
	if m != nil {
		judgeOPCUAProcess(e, m, rt, o, u)
	}
	if k == nil || !k.calledOK {
		all := true
		for _, n := range u.Called {
			if m == nil || !m.NodesCalled.Has(n) {
				all = false
				if a := e.raise(o.Time, OPCUAUnexpectedCall, key, Item{Node: n}, &o.Endpoints, o, nil); a != nil {
					e.sign(a, fmt.Sprintf("OPC UA client %s calls method %s, never called on server %s port %d",
						key.Client, n, key.Server, key.Port))
				}
			}
		}
		if k != nil && all {
			k.calledOK = true
		}
	}
	return f
}

// sessionService reports the services of the SecureChannel and Session
// service sets (OPC UA Part 4, 5.5 and 5.6): every client opens, activates
// and closes sessions, so they are not judged by unexpected_function. A
// baseline learned on a historian that never restarted has no
// CloseSession, and the historian's next restart would alert on it. What
// matters in them is judged by their own rules: the security policy, mode
// and token (opcua_security_downgrade, opcua_anonymous_session) and the
// client application (opcua_new_client).
func sessionService(name string) bool {
	switch name {
	case "OpenSecureChannel", "CloseSecureChannel", "CreateSession", "ActivateSession", "CloseSession", "Cancel":
		return true
	}
	return false
}

// envNonNumeric reports an envelope learned only from non-numeric writes
// (Writes counted, no min/max): values cannot be judged.
func envNonNumeric(env *Envelope) bool { return !env.Many && len(env.Distinct) == 0 }

// judgeClientApp raises opcua_new_client for an application URI never
// learned on the channel; it reports whether the URI deviates.
func judgeClientApp(e *Engine, o *Observation, u *OPCUAObs, key ChannelKey, m *OPCUAModel) bool {
	if u.ClientAppURI == "" || len(m.ClientApps) == 0 || m.ClientApps.Has(u.ClientAppURI) {
		return false
	}
	if a := e.raise(o.Time, OPCUANewClient, key, Item{What: "application_uri", Node: u.ClientAppURI}, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("OPC UA client %s presents application URI %q, never seen on server %s port %d",
			key.Client, u.ClientAppURI, key.Server, key.Port))
	}
	return true
}

// judgeSecurity raises opcua_security_downgrade when the session's policy,
// mode or token is weaker than the weakest one learned for the channel; it
// reports whether any of them deviates.
func judgeSecurity(e *Engine, o *Observation, u *OPCUAObs, key ChannelKey, m *OPCUAModel) bool {
	dev := false
	if u.SecurityPolicy != "" && len(m.Policies) > 0 && !m.Policies.Has(u.SecurityPolicy) {
		weakest := math.MaxInt
		for p := range m.Policies {
			weakest = min(weakest, policyStrength(p))
		}
		if policyStrength(u.SecurityPolicy) < weakest {
			downgrade(e, o, key, "policy", u.SecurityPolicy)
			dev = true
		}
	}
	if u.SecurityMode != SecurityUnknown && len(m.Modes) > 0 && m.Modes.N(u.SecurityMode) == 0 {
		weakest := SecurityMode(math.MaxUint8)
		for md := range m.Modes {
			weakest = min(weakest, md)
		}
		if u.SecurityMode < weakest {
			downgrade(e, o, key, "mode", u.SecurityMode.String())
			dev = true
		}
	}
	if u.Token != TokenUnknown && len(m.Tokens) > 0 && m.Tokens.N(u.Token) == 0 {
		weakest := math.MaxInt
		for t := range m.Tokens {
			weakest = min(weakest, tokenStrength(t))
		}
		if tokenStrength(u.Token) < weakest {
			downgrade(e, o, key, "token", u.Token.String())
			dev = true
		}
	}
	return dev
}

func downgrade(e *Engine, o *Observation, key ChannelKey, what, got string) {
	if a := e.raiseValue(o.Time, OPCUASecurityDowngrade, key, Item{What: what}, 0, got, &o.Endpoints, o, nil); a != nil {
		e.sign(a, fmt.Sprintf("OPC UA client %s connects to server %s port %d with security %s %s, weaker than learned",
			key.Client, key.Server, key.Port, what, got))
	}
}
