package skydive

import (
	"maps"
	"slices"
)

// graphState is a graph as sent to the analyzer: each element's metadata
// encoded, each node's revision. The exporter keeps the one it believes
// the analyzer holds (published) and diffs each rebuild against it.
type graphState struct {
	nodes map[string]*stateNode
	edges map[string]*stateEdge
}

type stateNode struct {
	md               []byte
	rev              int64
	created, updated int64 // ms since the epoch
}

type stateEdge struct {
	parent, child string
	md            []byte
	created       int64
}

func newGraphState() *graphState {
	return &graphState{nodes: map[string]*stateNode{}, edges: map[string]*stateEdge{}}
}

// origin identifies a publisher's elements in the analyzer.
type origin struct{ host, origin string }

func (o origin) node(id string, n *stateNode) wireNode {
	return wireNode{ID: id, Metadata: n.md, Host: o.host, Origin: o.origin, CreatedAt: n.created, UpdatedAt: n.updated, Revision: n.rev}
}

func (o origin) edge(id string, e *stateEdge) wireEdge {
	return wireEdge{ID: id, Parent: e.parent, Child: e.child, Metadata: e.md, Host: o.host, Origin: o.origin,
		CreatedAt: e.created, UpdatedAt: e.created, Revision: 1}
}

// deletedNode is the body of a NodeDeleted of n at now: the node as
// published, metadata and all (the analyzer drops a delete that fails
// its schema check), with DeletedAt.
func (o origin) deletedNode(id string, n *stateNode, now int64) wireNode {
	w := o.node(id, n)
	w.DeletedAt = now
	return w
}

// deletedEdge is the body of an EdgeDeleted; see deletedNode.
func (o origin) deletedEdge(id string, e *stateEdge, now int64) wireEdge {
	w := o.edge(id, e)
	w.DeletedAt = now
	return w
}

// syncMessage is the Sync of the whole of s: the analyzer drops what it
// held for this origin and takes these elements.
func (o origin) syncMessage(s *graphState) message {
	obj := syncObj{Nodes: make([]wireNode, 0, len(s.nodes)), Edges: make([]wireEdge, 0, len(s.edges))}
	for _, id := range slices.Sorted(maps.Keys(s.nodes)) {
		obj.Nodes = append(obj.Nodes, o.node(id, s.nodes[id]))
	}
	for _, id := range slices.Sorted(maps.Keys(s.edges)) {
		obj.Edges = append(obj.Edges, o.edge(id, s.edges[id]))
	}
	return message{Namespace: "Graph", Type: msgSync, Obj: obj}
}
