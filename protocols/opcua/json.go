package opcua

import (
	"github.com/gopcua/opcua/ua"
	"github.com/sluice-ics/sluice/internal/jsonw"
)

// AppendJSON appends the value of the "opcua" object of a Sluice event
// (issue 4 §4; every field is documented in docs/opcua.md) to dst and
// returns it. Every string from the network goes through jsonw.String.
//
// The session's AuthenticationToken is deliberately not written: it is a
// bearer secret (OPC 10000-4 §5.6.2) and events travel to places
// credentials should not.
func (m *Message) AppendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	dst = jsonw.Key(dst, "message_type")
	dst = jsonw.String(dst, m.Type.String())
	ch := &m.Channel
	if ch.ID != 0 {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "secure_channel_id")
		dst = jsonw.Uint(dst, uint64(ch.ID))
	}
	if ch.TokenID != 0 {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "token_id")
		dst = jsonw.Uint(dst, uint64(ch.TokenID))
	}
	dst = str(dst, "security_policy", ch.SecurityPolicy)
	dst = str(dst, "security_mode", ch.Mode.String())
	if ch.ModeInferred {
		dst = append(dst, `,"security_mode_inferred":true`...)
	}
	dst = str(dst, "client_certificate_thumbprint", ch.SenderThumbprint)
	dst = str(dst, "client_certificate_subject", ch.SenderSubject)
	dst = str(dst, "receiver_certificate_thumbprint", ch.ReceiverThumbprint)
	dst = str(dst, "server_certificate_thumbprint", ch.ServerThumbprint)
	dst = str(dst, "server_certificate_subject", ch.ServerSubject)
	dst = str(dst, "server_certificate_not_after", ch.ServerNotAfter)
	if m.Type.secure() {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "request_id")
		dst = jsonw.Uint(dst, uint64(m.RequestID))
	}
	if m.Encrypted {
		dst = append(dst, `,"encrypted":true`...)
	}
	dst = str(dst, "unpaired", m.Unpaired)
	if s := m.Session; s != nil && (s.ID != "" || s.ClientApplicationURI != "" || s.Identity != IdentityUnknown) {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "session")
		dst = appendSession(dst, s)
	}
	if m.Hello != nil {
		h := m.Hello
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "hello")
		dst = append(dst, '{')
		dst = jsonw.Key(dst, "protocol_version")
		dst = jsonw.Uint(dst, uint64(h.ProtocolVersion))
		dst = num(dst, "receive_buffer_size", uint64(h.ReceiveBufferSize))
		dst = num(dst, "send_buffer_size", uint64(h.SendBufferSize))
		dst = num(dst, "max_message_size", uint64(h.MaxMessageSize))
		dst = num(dst, "max_chunk_count", uint64(h.MaxChunkCount))
		dst = str(dst, "endpoint_url", h.EndpointURL)
		dst = append(dst, '}')
	}
	if m.Error != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "error")
		dst = append(dst, '{')
		dst = jsonw.Key(dst, "status")
		dst = jsonw.String(dst, StatusName(m.Error.Status))
		dst = str(dst, "reason", m.Error.Reason)
		dst = append(dst, '}')
	}
	if r := m.ReverseHello; r != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "reverse_hello")
		dst = append(dst, '{')
		dst = jsonw.Key(dst, "server_uri")
		dst = jsonw.String(dst, r.ServerURI)
		dst = str(dst, "endpoint_url", r.EndpointURL)
		dst = append(dst, '}')
	}
	if m.Request != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "request")
		dst = appendService(dst, m.Request, m.RequestSize, false)
	}
	if m.Response != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "response")
		dst = appendService(dst, m.Response, m.ResponseSize, true)
	}
	if m.Request != nil && m.Response != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "latency_us")
		dst = jsonw.Int(dst, m.Latency().Microseconds())
	}
	return append(dst, '}')
}

// str appends `,"k":"v"` when v is not empty.
func str(dst []byte, k, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',')
	dst = jsonw.Key(dst, k)
	return jsonw.String(dst, v)
}

func num(dst []byte, k string, v uint64) []byte {
	dst = append(dst, ',')
	dst = jsonw.Key(dst, k)
	return jsonw.Uint(dst, v)
}

// open starts `,"k":[` or `"k":[` for the first member written.
func list(dst []byte, k string) []byte {
	dst = append(dst, ',')
	dst = jsonw.Key(dst, k)
	return append(dst, '[')
}

// objects appends ,"k":[{…},…], each object's members written by fields,
// or nothing when there are no items.
func objects[T any](dst []byte, k string, items []T, fields func(dst []byte, item *T) []byte) []byte {
	if len(items) == 0 {
		return dst
	}
	dst = list(dst, k)
	for i := range items {
		dst = sep(dst, i)
		dst = append(dst, '{')
		dst = fields(dst, &items[i])
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func sep(dst []byte, i int) []byte {
	if i > 0 {
		dst = append(dst, ',')
	}
	return dst
}

func appendSession(dst []byte, s *Session) []byte {
	n := len(dst)
	dst = append(dst, '{')
	dst = str(dst, "session_id", s.ID)
	dst = str(dst, "name", s.Name)
	dst = str(dst, "client_application_uri", s.ClientApplicationURI)
	dst = str(dst, "client_product_uri", s.ClientProductURI)
	dst = str(dst, "client_application_name", s.ClientApplicationName)
	dst = str(dst, "endpoint_url", s.EndpointURL)
	dst = str(dst, "identity", s.Identity.String())
	dst = str(dst, "user", s.User)
	dst = str(dst, "user_certificate_thumbprint", s.CertThumbprint)
	if s.PasswordCleartext {
		dst = append(dst, `,"password_cleartext":true`...)
		dst = num(dst, "password_length", uint64(s.PasswordLength))
	}
	if s.Activated {
		dst = append(dst, `,"activated":true`...)
	}
	if len(dst) > n+1 && dst[n+1] == ',' {
		dst = append(dst[:n+1], dst[n+2:]...) // drop the leading comma
	}
	return append(dst, '}')
}

func appendStatuses(dst []byte, k string, st []ua.StatusCode) []byte {
	if len(st) == 0 {
		return dst
	}
	dst = list(dst, k)
	for i, s := range st {
		dst = sep(dst, i)
		dst = jsonw.String(dst, StatusName(s))
	}
	return append(dst, ']')
}

// appendValue writes a Value as a JSON value: numbers as numbers, Booleans
// as true/false, text as strings, arrays as arrays (first MaxArrayValues),
// null for a null variant.
func appendValue(dst []byte, v *Value) []byte {
	switch {
	case v.ArrayLength >= 0 && v.Text == "":
		dst = append(dst, '[')
		for i := range v.Array {
			dst = sep(dst, i)
			dst = appendValue(dst, &v.Array[i])
		}
		return append(dst, ']')
	case v.IsNumber && v.Type == "Boolean":
		return jsonw.Bool(dst, v.Number != 0)
	case v.IsNumber:
		return jsonw.Float(dst, v.Number)
	case v.Type == "":
		return append(dst, "null"...)
	}
	return jsonw.String(dst, v.Text)
}

// appendTyped writes `,"value":…,"value_type":"Double"` (and the array
// length of an array).
func appendTyped(dst []byte, v *Value) []byte {
	dst = append(dst, ',')
	dst = jsonw.Key(dst, "value")
	dst = appendValue(dst, v)
	dst = str(dst, "value_type", v.Type)
	if v.ArrayLength >= 0 {
		dst = num(dst, "array_length", uint64(v.ArrayLength))
	}
	return dst
}

func appendService(dst []byte, s *Service, size int, response bool) []byte {
	dst = append(dst, '{')
	dst = jsonw.Key(dst, "size")
	dst = jsonw.Int(dst, int64(size))
	dst = str(dst, "service", s.Name)
	if s.ID != 0 {
		dst = num(dst, "service_id", uint64(s.ID))
	}
	if !s.Decoded {
		dst = append(dst, `,"decoded":false`...)
		dst = str(dst, "decode_error", s.DecodeError)
		if !s.HeaderDecoded {
			return append(dst, '}')
		}
	}
	dst = num(dst, "request_handle", uint64(s.RequestHandle))
	if response {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "status")
		dst = jsonw.String(dst, StatusName(s.Status))
	}
	dst = objects(dst, "reads", s.Reads, func(dst []byte, r *ReadItem) []byte {
		dst = jsonw.Key(dst, "node_id")
		dst = jsonw.String(dst, r.NodeID)
		dst = num(dst, "attribute_id", uint64(r.AttributeID))
		dst = str(dst, "index_range", r.IndexRange)
		return dst
	})
	dst = objects(dst, "writes", s.Writes, func(dst []byte, w *WriteItem) []byte {
		dst = jsonw.Key(dst, "node_id")
		dst = jsonw.String(dst, w.NodeID)
		dst = num(dst, "attribute_id", uint64(w.AttributeID))
		dst = str(dst, "index_range", w.IndexRange)
		dst = appendTyped(dst, &w.Value)
		return dst
	})
	dst = objects(dst, "calls", s.Calls, func(dst []byte, c *CallItem) []byte {
		dst = jsonw.Key(dst, "object_id")
		dst = jsonw.String(dst, c.ObjectID)
		dst = str(dst, "method_id", c.MethodID)
		dst = list(dst, "inputs")
		for j := range c.Inputs {
			dst = sep(dst, j)
			dst = append(dst, '{')
			dst = jsonw.Key(dst, "value")
			dst = appendValue(dst, &c.Inputs[j])
			dst = str(dst, "value_type", c.Inputs[j].Type)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
		return dst
	})
	dst = objects(dst, "browses", s.Browses, func(dst []byte, b *BrowseItem) []byte {
		dst = jsonw.Key(dst, "node_id")
		dst = jsonw.String(dst, b.NodeID)
		dst = str(dst, "direction", b.Direction)
		dst = str(dst, "reference_type_id", b.ReferenceTypeID)
		return dst
	})
	dst = objects(dst, "browse_paths", s.BrowsePaths, func(dst []byte, b *BrowsePathItem) []byte {
		dst = jsonw.Key(dst, "starting_node")
		dst = jsonw.String(dst, b.StartingNode)
		dst = str(dst, "path", b.Path)
		return dst
	})
	if s.ContinuationPoints > 0 {
		dst = num(dst, "continuation_points", uint64(s.ContinuationPoints))
	}
	dst = objects(dst, "monitored_items", s.MonitoredItems, func(dst []byte, mi *MonitoredItem) []byte {
		dst = jsonw.Key(dst, "node_id")
		dst = jsonw.String(dst, mi.NodeID)
		dst = num(dst, "attribute_id", uint64(mi.AttributeID))
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "sampling_interval")
		dst = jsonw.Float(dst, mi.SamplingInterval)
		dst = num(dst, "queue_size", uint64(mi.QueueSize))
		return dst
	})
	if s.HistoryDetails != "" || len(s.HistoryNodes) > 0 {
		dst = str(dst, "history_details", s.HistoryDetails)
		dst = list(dst, "history_nodes")
		for i, n := range s.HistoryNodes {
			dst = sep(dst, i)
			dst = jsonw.String(dst, n)
		}
		dst = append(dst, ']')
	}
	dst = objects(dst, "add_nodes", s.AddNodes, func(dst []byte, a *AddNodesItem) []byte {
		dst = jsonw.Key(dst, "parent_node_id")
		dst = jsonw.String(dst, a.ParentNodeID)
		dst = str(dst, "requested_node_id", a.RequestedNodeID)
		dst = str(dst, "browse_name", a.BrowseName)
		dst = str(dst, "node_class", a.NodeClass)
		return dst
	})
	if len(s.DeleteNodes) > 0 {
		dst = list(dst, "delete_nodes")
		for i, n := range s.DeleteNodes {
			dst = sep(dst, i)
			dst = jsonw.String(dst, n)
		}
		dst = append(dst, ']')
	}
	dst = objects(dst, "add_references", s.AddReferences, func(dst []byte, a *AddReferencesItem) []byte {
		dst = jsonw.Key(dst, "source_node_id")
		dst = jsonw.String(dst, a.SourceNodeID)
		dst = str(dst, "reference_type_id", a.ReferenceTypeID)
		dst = str(dst, "target_node_id", a.TargetNodeID)
		return dst
	})
	dst = objects(dst, "servers", s.Servers, func(dst []byte, a *Application) []byte {
		dst = jsonw.Key(dst, "application_uri")
		dst = jsonw.String(dst, a.URI)
		dst = str(dst, "product_uri", a.ProductURI)
		dst = str(dst, "application_name", a.Name)
		dst = str(dst, "application_type", a.Type)
		return dst
	})
	dst = objects(dst, "endpoints", s.Endpoints, func(dst []byte, e *Endpoint) []byte {
		dst = jsonw.Key(dst, "endpoint_url")
		dst = jsonw.String(dst, e.URL)
		dst = str(dst, "security_policy", e.SecurityPolicy)
		dst = str(dst, "security_mode", e.Mode.String())
		if len(e.TokenTypes) > 0 {
			dst = list(dst, "identity_tokens")
			for j, t := range e.TokenTypes {
				dst = sep(dst, j)
				dst = jsonw.String(dst, t.String())
			}
			dst = append(dst, ']')
		}
		return dst
	})
	if c := s.ServerCertificate; c != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "server_certificate")
		dst = append(dst, '{')
		dst = jsonw.Key(dst, "thumbprint")
		dst = jsonw.String(dst, c.Thumbprint)
		dst = str(dst, "subject", c.Subject)
		dst = str(dst, "not_after", c.NotAfter)
		dst = append(dst, '}')
	}
	if sub := s.Subscription; sub != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "subscription")
		dst = append(dst, '{')
		dst = jsonw.Key(dst, "subscription_id")
		dst = jsonw.Uint(dst, uint64(sub.ID))
		if sub.PublishingInterval != 0 {
			dst = append(dst, ',')
			dst = jsonw.Key(dst, "publishing_interval")
			dst = jsonw.Float(dst, sub.PublishingInterval)
		}
		if sub.SequenceNumber != 0 {
			dst = num(dst, "sequence_number", uint64(sub.SequenceNumber))
		}
		if sub.Notifications != 0 {
			dst = num(dst, "notifications", uint64(sub.Notifications))
		}
		dst = append(dst, '}')
	}
	if sc := s.SecureChannel; sc != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "secure_channel")
		dst = append(dst, '{')
		if response {
			dst = jsonw.Key(dst, "channel_id")
			dst = jsonw.Uint(dst, uint64(sc.ChannelID))
			dst = num(dst, "token_id", uint64(sc.TokenID))
			dst = num(dst, "revised_lifetime", uint64(sc.RevisedLifetime))
		} else {
			dst = jsonw.Key(dst, "request_type")
			dst = jsonw.String(dst, sc.RequestType)
			dst = str(dst, "security_mode", sc.Mode.String())
			dst = num(dst, "requested_lifetime", uint64(sc.RequestedLifetime))
		}
		dst = append(dst, '}')
	}
	if si := s.SessionInfo; si != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "session")
		dst = appendSession(dst, si)
	}
	if b := s.Build; b != nil {
		dst = append(dst, ',')
		dst = jsonw.Key(dst, "build_info")
		dst = append(dst, '{')
		dst = jsonw.Key(dst, "product_uri")
		dst = jsonw.String(dst, b.ProductURI)
		dst = str(dst, "manufacturer_name", b.ManufacturerName)
		dst = str(dst, "product_name", b.ProductName)
		dst = str(dst, "software_version", b.SoftwareVersion)
		dst = str(dst, "build_number", b.BuildNumber)
		dst = append(dst, '}')
	}
	dst = appendStatuses(dst, "results", s.Results)
	if len(s.Values) > 0 {
		dst = list(dst, "values")
		for i := range s.Values {
			dst = sep(dst, i)
			dst = appendValue(dst, &s.Values[i])
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}
