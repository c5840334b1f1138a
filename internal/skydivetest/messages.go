package skydivetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/websocket"
)

// Message is one websocket message of the publisher protocol, as JSON.
type Message struct {
	Namespace string
	Type      string
	UUID      string          `json:",omitempty"`
	Status    int             `json:",omitempty"`
	Obj       json.RawMessage `json:",omitempty"`
}

// Topology is the body of a Sync, of a SyncReply and of GET /api/topology.
type Topology struct {
	Nodes []Node
	Edges []Edge
}

// handle applies one websocket message of p under the analyzer's rules and
// returns the reply to send on the same socket, if any. Nothing else is
// ever answered: bad input is dropped, and logged where the analyzer logs
// it.
func (a *Analyzer) handle(p *publisher, mt int, data []byte) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	p.sent = true
	origin := p.info.Origin
	if mt != websocket.TextMessage {
		a.logf("%s: binary message ignored: json text messages only", origin)
		return nil
	}
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		a.logf("%s: invalid message ignored: %v", origin, err)
		return nil
	}
	if m.Namespace != "Graph" {
		return nil // no handler for that namespace: silently ignored
	}
	a.messages++
	p.info.Messages++
	defer a.notifyLocked()

	switch m.Type {
	case "NodeAdded", "NodeUpdated", "NodeDeleted":
		n, deletedAt, err := parseNode(m.Obj)
		if err != nil {
			a.logf("%s: %s ignored: %v", origin, m.Type, err)
			return nil
		}
		n.Origin = origin // the analyzer has a validator, so it owns the origin
		if err := checkNode(n.Metadata); err != nil {
			a.dropped(origin, m.Type, n.ID, err)
			return nil
		}
		switch m.Type {
		case "NodeAdded":
			err = a.g.addNode(n)
		case "NodeUpdated":
			err = a.g.updateNode(n)
		default:
			err = a.g.delNode(n.ID, m.Type, deletedAt, n.Metadata)
		}
		a.dropped(origin, m.Type, n.ID, err)
	case "EdgeAdded", "EdgeUpdated", "EdgeDeleted":
		e, deletedAt, err := parseEdge(m.Obj)
		if err != nil {
			a.logf("%s: %s ignored: %v", origin, m.Type, err)
			return nil
		}
		e.Origin = origin
		if err := checkEdge(e.Metadata); err != nil {
			a.dropped(origin, m.Type, e.ID, err)
			return nil
		}
		switch m.Type {
		case "EdgeAdded":
			err = a.g.addEdge(e)
		case "EdgeUpdated":
			err = a.g.updateEdge(e)
		default:
			if err = a.g.delEdge(e.ID, m.Type, deletedAt, e.Metadata); errors.Is(err, errEdgeNotFound) {
				err = nil // the analyzer returns quietly on an unknown edge
			}
		}
		a.dropped(origin, m.Type, e.ID, err)
	case "Sync", "SyncReply":
		// The analyzer handles a SyncReply from a publisher as a Sync.
		nodes, edges, err := parseTopology(m.Obj)
		if err != nil {
			a.logf("%s: %s ignored: %v", origin, m.Type, err)
			return nil
		}
		a.sync(origin, m.Type, nodes, edges)
	case "SyncRequest":
		return a.syncReply(m.UUID)
	case "NodePartiallyUpdated", "EdgePartiallyUpdated":
		// Parsed (a value its decoder refuses is logged), then left alone:
		// the publisher endpoint has no handler for partial updates.
		if err := parsePartial(m.Obj, m.Type == "NodePartiallyUpdated"); err != nil {
			a.logf("%s: %s ignored: %v", origin, m.Type, err)
		}
	}
	// Any other type: the analyzer's message decoder returns it unparsed
	// and no handler matches, so it goes without a word.
	return nil
}

// dropped logs why an element was dropped, when it was; a re-add and a
// stale revision are ignored without a log line, as the analyzer does.
func (a *Analyzer) dropped(origin, what, id string, err error) {
	if err != nil && !errors.Is(err, errReAdd) && !errors.Is(err, errStale) {
		a.logf("%s: %s %s dropped: %v", origin, what, id, err)
	}
}

// sync applies a Sync: every node of origin goes with the edges touching
// it, then the listed nodes and edges whose ID is free are added, keeping
// the Origin they carry and without schema checks.
func (a *Analyzer) sync(origin, what string, nodes []Node, edges []Edge) {
	n, e := a.g.delOrigin(origin, "Sync")
	a.logf("%s: %s: %d nodes and %d edges of origin %q deleted, adding %d nodes and %d edges",
		origin, what, n, e, origin, len(nodes), len(edges))
	for _, n := range nodes {
		a.dropped(origin, what+" node", n.ID, a.g.addNode(n))
	}
	for _, e := range edges {
		a.dropped(origin, what+" edge", e.ID, a.g.addEdge(e))
	}
}

// parsePartial decodes a partial update ({ID, UpdatedAt, Revision, Ops:
// [{Type: 1 add | 2 del, Key, Value}]}) as the analyzer does: an added
// value goes through its key's decoder (nodes only), any other operation
// type is an error.
func parsePartial(obj json.RawMessage, node bool) error {
	var pu struct {
		ID        string
		UpdatedAt *int64
		Revision  int64
		Ops       []struct {
			Type  int
			Key   string
			Value json.RawMessage
		}
	}
	if err := json.Unmarshal(obj, &pu); err != nil {
		return fmt.Errorf("%w: %v", errParse, err)
	}
	for _, op := range pu.Ops {
		switch op.Type {
		case 1:
			var err error
			if dec, ok := metadataDecoders[op.Key]; ok && node {
				_, err = dec(op.Value)
			} else {
				var v any
				err = json.Unmarshal(op.Value, &v)
			}
			if err != nil {
				return fmt.Errorf("%w: partial update of key %q: %v", errParse, op.Key, err)
			}
		case 2:
		default:
			return fmt.Errorf("%w: invalid update operation %d for key %s", errParse, op.Type, op.Key)
		}
	}
	return nil
}

// syncReply is the SyncReply to a SyncRequest: the whole graph (any
// GremlinFilter is ignored), with the request's UUID.
func (a *Analyzer) syncReply(uuid string) []byte {
	obj, err := json.Marshal(Topology{Nodes: a.g.nodeList(nil), Edges: a.g.edgeList(nil)})
	if err != nil {
		panic(fmt.Sprintf("skydivetest: graph cannot be encoded: %v", err))
	}
	out, err := json.Marshal(Message{Namespace: "Graph", Type: "SyncReply", UUID: uuid, Status: http.StatusOK, Obj: obj})
	if err != nil {
		panic(fmt.Sprintf("skydivetest: SyncReply cannot be encoded: %v", err))
	}
	return out
}
