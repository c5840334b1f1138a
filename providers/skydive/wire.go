package skydive

import (
	"encoding/json"
	"strconv"
)

// The message types of SkyDive's Graph namespace that a publisher sends.
const (
	msgSync        = "Sync"
	msgNodeAdded   = "NodeAdded"
	msgNodeUpdated = "NodeUpdated"
	msgNodeDeleted = "NodeDeleted"
	msgEdgeAdded   = "EdgeAdded"
	msgEdgeDeleted = "EdgeDeleted"
)

// message is one websocket text message to the analyzer.
type message struct {
	Namespace string `json:"Namespace"`
	Type      string `json:"Type"`
	Obj       any    `json:"Obj"`
}

// wireNode and wireEdge are graph elements as the analyzer reads and
// serves them. Metadata is kept encoded: it is what the diff and the
// read-back compare. DeletedAt is set on NodeDeleted and EdgeDeleted
// only (the analyzer's history keeps it); a delete also carries the
// element's whole metadata, which the analyzer's schema check requires.
type wireNode struct {
	ID        string          `json:"ID"`
	Metadata  json.RawMessage `json:"Metadata"`
	Host      string          `json:"Host"`
	Origin    string          `json:"Origin"`
	CreatedAt int64           `json:"CreatedAt"`
	UpdatedAt int64           `json:"UpdatedAt"`
	DeletedAt int64           `json:"DeletedAt,omitempty"`
	Revision  int64           `json:"Revision"`
}

type wireEdge struct {
	ID        string          `json:"ID"`
	Parent    string          `json:"Parent"`
	Child     string          `json:"Child"`
	Metadata  json.RawMessage `json:"Metadata"`
	Host      string          `json:"Host"`
	Origin    string          `json:"Origin"`
	CreatedAt int64           `json:"CreatedAt"`
	UpdatedAt int64           `json:"UpdatedAt"`
	DeletedAt int64           `json:"DeletedAt,omitempty"`
	Revision  int64           `json:"Revision"`
}

// syncObj is the body of Sync (and of the analyzer's GET /api/topology).
type syncObj struct {
	Nodes []wireNode `json:"Nodes"`
	Edges []wireEdge `json:"Edges"`
}

// encode writes m as JSON. Metadata is already encoded and is copied as it
// is: encoding/json would validate and compact every element's metadata
// again, which was a third of a 10,000-node Sync's time.
func (m message) encode() ([]byte, error) {
	var b []byte
	b = append(b, `{"Namespace":`...)
	b = appendString(b, m.Namespace)
	b = append(b, `,"Type":`...)
	b = appendString(b, m.Type)
	b = append(b, `,"Obj":`...)
	switch o := m.Obj.(type) {
	case wireNode:
		b = appendNode(b, &o)
	case wireEdge:
		b = appendEdge(b, &o)
	case syncObj:
		b = append(b, `{"Nodes":[`...)
		for i := range o.Nodes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendNode(b, &o.Nodes[i])
		}
		b = append(b, `],"Edges":[`...)
		for i := range o.Edges {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendEdge(b, &o.Edges[i])
		}
		b = append(b, "]}"...)
	default:
		obj, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		b = append(b, obj...)
	}
	return append(b, '}'), nil
}

func appendNode(b []byte, n *wireNode) []byte {
	b = append(b, `{"ID":`...)
	b = appendString(b, n.ID)
	b = appendCommon(b, n.Metadata, n.Host, n.Origin, n.CreatedAt, n.UpdatedAt, n.DeletedAt, n.Revision)
	return append(b, '}')
}

func appendEdge(b []byte, e *wireEdge) []byte {
	b = append(b, `{"ID":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"Parent":`...)
	b = appendString(b, e.Parent)
	b = append(b, `,"Child":`...)
	b = appendString(b, e.Child)
	b = appendCommon(b, e.Metadata, e.Host, e.Origin, e.CreatedAt, e.UpdatedAt, e.DeletedAt, e.Revision)
	return append(b, '}')
}

func appendCommon(b []byte, md json.RawMessage, host, origin string, created, updated, deleted, rev int64) []byte {
	b = append(b, `,"Metadata":`...)
	if len(md) == 0 {
		b = append(b, "{}"...)
	} else {
		b = append(b, md...)
	}
	b = append(b, `,"Host":`...)
	b = appendString(b, host)
	b = append(b, `,"Origin":`...)
	b = appendString(b, origin)
	b = append(b, `,"CreatedAt":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"UpdatedAt":`...)
	b = strconv.AppendInt(b, updated, 10)
	if deleted != 0 {
		b = append(b, `,"DeletedAt":`...)
		b = strconv.AppendInt(b, deleted, 10)
	}
	b = append(b, `,"Revision":`...)
	return strconv.AppendInt(b, rev, 10)
}

// appendString appends s as a JSON string; plain ASCII (IDs, names) is
// copied, anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
