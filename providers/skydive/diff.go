package skydive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/wirekeeper/wirekeeper/internal/topology"
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

// encodeGraph encodes g as it is; see encodings.encode.
func encodeGraph(g *topology.Graph, prev *graphState, now int64) (*graphState, error) {
	var e encodings
	return e.encode(g, nil, prev, now)
}

// overlayer adds wirekeeper's view to nodes: key says what it would add
// ("" for nothing), cheaply; metadata returns the node's metadata with it.
type overlayer interface {
	overlayKey(n *topology.Node) string
	overlay(n *topology.Node) topology.Metadata
}

// encodings remembers the encoded metadata of the nodes and edges of the
// last build: an element reused from the sources' caches (the same
// pointer) with the same overlay is not encoded again.
type encodings struct {
	nodes map[*topology.Node]encoded
	edges map[*topology.Edge][]byte
}

type encoded struct {
	overlay string // the overlay's phase the bytes include
	md      []byte
}

// encode encodes g, with ov's metadata in place of a node's own where it
// has some (nil ov: none). now stamps elements prev (nil for
// none) does not have; prev's times and revisions are kept otherwise.
func (e *encodings) encode(g *topology.Graph, ov overlayer, prev *graphState, now int64) (*graphState, error) {
	nodes := make(map[*topology.Node]encoded, len(g.Nodes))
	edges := make(map[*topology.Edge][]byte, len(g.Edges))
	s := &graphState{nodes: make(map[string]*stateNode, len(g.Nodes)), edges: make(map[string]*stateEdge, len(g.Edges))}
	for id, n := range g.Nodes {
		key := ""
		if ov != nil {
			key = ov.overlayKey(n)
		}
		enc, ok := e.nodes[n]
		if !ok || enc.overlay != key {
			meta := n.Metadata
			if key != "" {
				meta = ov.overlay(n)
			}
			md, err := json.Marshal(meta)
			if err != nil {
				return nil, fmt.Errorf("skydive: node %s: %w", id, err)
			}
			enc = encoded{overlay: key, md: md}
		}
		nodes[n] = enc
		sn := &stateNode{md: enc.md, rev: 1, created: now, updated: now}
		if prev != nil {
			if p := prev.nodes[id]; p != nil {
				sn.created, sn.rev, sn.updated = p.created, p.rev, p.updated
				if !bytes.Equal(p.md, enc.md) {
					sn.rev, sn.updated = p.rev+1, now
				}
			}
		}
		s.nodes[id] = sn
	}
	for id, ed := range g.Edges {
		md, ok := e.edges[ed]
		if !ok {
			var err error
			if md, err = json.Marshal(ed.Metadata); err != nil {
				return nil, fmt.Errorf("skydive: edge %s: %w", id, err)
			}
		}
		edges[ed] = md
		se := &stateEdge{parent: ed.Parent, child: ed.Child, md: md, created: now}
		if prev != nil {
			if p := prev.edges[id]; p != nil && bytes.Equal(p.md, md) {
				se.created = p.created
			}
		}
		s.edges[id] = se
	}
	e.nodes, e.edges = nodes, edges
	return s, nil
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

// changes are the messages taking the analyzer from old to next (in no
// particular order within one kind), in an order of kinds it accepts: new nodes, updated nodes (with their revision
// raised, since a re-add is ignored), removed edges, new edges (their
// nodes exist by then), removed nodes (their edges are gone by then). An
// edge whose metadata changed is removed and added again.
func (o origin) changes(old, next *graphState) []message {
	var out []message
	add := func(typ string, obj any) { out = append(out, message{Namespace: "Graph", Type: typ, Obj: obj}) }
	var updated, edgesGone, nodesGone []message
	for id, n := range next.nodes {
		switch p := old.nodes[id]; {
		case p == nil:
			add(msgNodeAdded, o.node(id, n))
		case n.rev != p.rev:
			updated = append(updated, message{Namespace: "Graph", Type: msgNodeUpdated, Obj: o.node(id, n)})
		}
	}
	out = append(out, updated...)
	for id, e := range old.edges {
		if n := next.edges[id]; n == nil || !sameEdge(e, n) {
			edgesGone = append(edgesGone, message{Namespace: "Graph", Type: msgEdgeDeleted, Obj: o.edge(id, e)})
		}
	}
	out = append(out, edgesGone...)
	for id, e := range next.edges {
		if p := old.edges[id]; p == nil || !sameEdge(p, e) {
			add(msgEdgeAdded, o.edge(id, e))
		}
	}
	for id, n := range old.nodes {
		if next.nodes[id] == nil {
			nodesGone = append(nodesGone, message{Namespace: "Graph", Type: msgNodeDeleted, Obj: o.node(id, n)})
		}
	}
	return append(out, nodesGone...)
}

func sameEdge(a, b *stateEdge) bool {
	return a.parent == b.parent && a.child == b.child && bytes.Equal(a.md, b.md)
}
