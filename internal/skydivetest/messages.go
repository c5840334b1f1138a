package skydivetest

import (
	"bytes"
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
// ever answered: bad input is dropped and logged.
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
		a.logf("%s: %s message of namespace %q ignored", origin, m.Type, m.Namespace)
		return nil
	}
	a.messages++
	p.info.Messages++
	defer a.notifyLocked()

	switch m.Type {
	case "NodeAdded", "NodeUpdated", "NodeDeleted":
		var n Node
		if err := decodeObj(m.Obj, &n, &n.ID); err != nil {
			a.logf("%s: %s ignored: invalid object: %v", origin, m.Type, err)
			return nil
		}
		n.Origin = origin
		var err error
		switch m.Type {
		case "NodeAdded":
			err = a.g.addNode(n)
		case "NodeUpdated":
			err = a.g.updateNode(n)
		default:
			err = a.g.delNode(n.ID)
		}
		a.dropped(origin, m.Type, n.ID, err)
	case "EdgeAdded", "EdgeUpdated", "EdgeDeleted":
		var e Edge
		if err := decodeObj(m.Obj, &e, &e.ID); err != nil {
			a.logf("%s: %s ignored: invalid object: %v", origin, m.Type, err)
			return nil
		}
		e.Origin = origin
		var err error
		switch m.Type {
		case "EdgeAdded":
			err = a.g.addEdge(e)
		case "EdgeUpdated":
			err = a.g.updateEdge(e)
		default:
			err = a.g.delEdge(e.ID)
		}
		a.dropped(origin, m.Type, e.ID, err)
	case "Sync":
		var t Topology
		if err := decodeObj(m.Obj, &t, nil); err != nil {
			a.logf("%s: Sync ignored: invalid object: %v", origin, err)
			return nil
		}
		a.sync(origin, t)
	case "SyncRequest":
		return a.syncReply(m.UUID)
	case "SyncReply":
		a.logf("%s: SyncReply from a publisher ignored", origin)
	case "NodePartiallyUpdated", "EdgePartiallyUpdated":
		a.logf("%s: %s ignored: unsupported by the stand-in", origin, m.Type)
	default:
		a.logf("%s: unknown message type %q ignored", origin, m.Type)
	}
	return nil
}

// decodeObj decodes a message's Obj into v; id, when given, must end up
// non-empty.
func decodeObj(obj json.RawMessage, v any, id *string) error {
	if len(bytes.TrimSpace(obj)) == 0 || bytes.Equal(bytes.TrimSpace(obj), []byte("null")) {
		return errors.New("no Obj")
	}
	if err := json.Unmarshal(obj, v); err != nil {
		return err
	}
	if id != nil && *id == "" {
		return errors.New("no ID")
	}
	return nil
}

// dropped logs why an element was dropped or ignored, when it was.
func (a *Analyzer) dropped(origin, what, id string, err error) {
	if err != nil {
		a.logf("%s: %s %s dropped: %v", origin, what, id, err)
	}
}

// sync applies a Sync: every node of origin goes (with its edges, and the
// edges of origin), then the listed nodes and edges are added under the
// add rules, keeping the Origin they carry.
func (a *Analyzer) sync(origin string, t Topology) {
	n, e := a.g.delOrigin(origin, true)
	a.logf("%s: Sync: %d nodes and %d edges of origin %q deleted, adding %d nodes and %d edges",
		origin, n, e, origin, len(t.Nodes), len(t.Edges))
	for _, n := range t.Nodes {
		a.dropped(origin, "Sync node", n.ID, a.g.addNode(n))
	}
	for _, e := range t.Edges {
		a.dropped(origin, "Sync edge", e.ID, a.g.addEdge(e))
	}
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
