package skydive

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/wirekeeper/wirekeeper/internal/topology"
)

// overlayer adds wirekeeper's view to nodes: overlayKey says what it
// would add ("" for nothing), cheaply; overlay returns the node's
// metadata with it.
type overlayer interface {
	overlayKey(n *topology.Node) string
	overlay(n *topology.Node) topology.Metadata
	// phaseGeneration moves whenever some overlay key may have changed.
	phaseGeneration() uint64
}

// assembly is an export's running copy of the node's graph, kept between
// builds so that a change costs in proportion to what changed: elements
// of the sources' fragments that did not change (the same *Fragment) are
// neither re-encoded nor compared, only the elements built outside
// fragments (bridges, mirrors, containers: a few) and those of changed
// fragments are. Every method runs in the export's goroutine.
type assembly struct {
	cache *topology.Cache
	frags map[string]*topology.Fragment // as of the last step
	loose struct {
		nodes map[string]*topology.Node
		edges map[string]*topology.Edge
	}
	// nodes and edges are the current elements by ID, edges whose ends
	// are missing included; incident indexes edges by their ends.
	nodes    map[string]*topology.Node
	edges    map[string]*topology.Edge
	incident map[string]map[string]struct{}
	// objects maps the spec objects shown to their nodes; phases has the
	// overlay key each object's nodes were last encoded with.
	objects map[string]map[string]struct{}
	phases  map[string]string
	// phaseGen is the overlayer's generation phases was last compared at:
	// while it stays, no object's phase needs looking at.
	phaseGen uint64
	// enc is each current element's encoded metadata and the overlay key
	// it was encoded with.
	encNodes map[string]encoded
	encEdges map[string]encodedEdge

	touchedNodes, touchedEdges map[string]struct{}
	// wasPresent records, for each node touched in this step, whether it
	// was there before: only a node that came or went changes which of its
	// edges can be sent.
	wasPresent map[string]bool
}

type encoded struct {
	node    *topology.Node
	overlay string
	md      []byte
}

type encodedEdge struct {
	edge *topology.Edge
	md   []byte
}

func newAssembly() *assembly {
	a := &assembly{cache: topology.NewCache(), frags: map[string]*topology.Fragment{},
		nodes: map[string]*topology.Node{}, edges: map[string]*topology.Edge{}, incident: map[string]map[string]struct{}{},
		objects: map[string]map[string]struct{}{}, phases: map[string]string{},
		encNodes: map[string]encoded{}, encEdges: map[string]encodedEdge{}}
	a.loose.nodes, a.loose.edges = map[string]*topology.Node{}, map[string]*topology.Edge{}
	return a
}

// step takes the assembly to the graph g just built (with NewLoose on
// a.cache) and brings published along, returning the messages that take
// the analyzer from the old published state to the new one, in an order
// it accepts: new nodes, updated nodes (revision raised: the analyzer
// ignores a re-add), removed edges, new edges (their ends exist by then),
// removed nodes. An edge whose ends are not both present is not sent. now
// stamps what is new or changed.
func (a *assembly) step(g *topology.Graph, ov overlayer, o origin, published *graphState, now int64) ([]message, error) {
	a.touchedNodes, a.touchedEdges, a.wasPresent = map[string]struct{}{}, map[string]struct{}{}, map[string]bool{}
	// Removals first, so that an element that moved (to another fragment)
	// ends up present.
	cur := a.cache.Fragments()
	for key, f := range a.frags {
		if cur[key] != f {
			a.dropAll(f.Nodes, f.Edges)
			delete(a.frags, key)
		}
	}
	for _, n := range a.loose.nodes {
		a.dropNode(n)
	}
	for _, e := range a.loose.edges {
		a.dropEdge(e)
	}
	for key, f := range cur {
		if a.frags[key] != f {
			for _, n := range f.Nodes {
				a.putNode(n)
			}
			for _, e := range f.Edges {
				a.putEdge(e)
			}
			a.frags[key] = f
		}
	}
	a.loose.nodes, a.loose.edges = g.Nodes, g.Edges
	for _, n := range g.Nodes {
		a.putNode(n)
	}
	for _, e := range g.Edges {
		a.putEdge(e)
	}
	// Objects whose phase changed, when any may have.
	if gen := ov.phaseGeneration(); gen != a.phaseGen {
		a.phaseGen = gen
		a.touchPhaseChanges(ov)
	}
	// An edge may come or go with its ends.
	for id, was := range a.wasPresent {
		if was != (a.nodes[id] != nil) {
			for eid := range a.incident[id] {
				a.touchedEdges[eid] = struct{}{}
			}
		}
	}
	return a.delta(ov, o, published, now)
}

// touchPhaseChanges touches the nodes of the objects whose overlay key
// changed since it was last recorded.
func (a *assembly) touchPhaseChanges(ov overlayer) {
	for obj, ids := range a.objects {
		var any *topology.Node
		for id := range ids {
			any = a.nodes[id]
			break
		}
		if any == nil {
			continue
		}
		if key := ov.overlayKey(any); key != a.phases[obj] {
			a.phases[obj] = key
			for id := range ids {
				a.touchedNodes[id] = struct{}{}
			}
		}
	}
}

func (a *assembly) dropAll(nodes []*topology.Node, edges []*topology.Edge) {
	for _, n := range nodes {
		a.dropNode(n)
	}
	for _, e := range edges {
		a.dropEdge(e)
	}
}

// touchNode marks id touched, noting first whether it was present.
func (a *assembly) touchNode(id string) {
	if _, ok := a.wasPresent[id]; !ok {
		a.wasPresent[id] = a.nodes[id] != nil
	}
	a.touchedNodes[id] = struct{}{}
}

func (a *assembly) dropNode(n *topology.Node) {
	if a.nodes[n.ID] != n {
		return // replaced since
	}
	a.touchNode(n.ID)
	delete(a.nodes, n.ID)
	if n.Object != "" {
		if ids := a.objects[n.Object]; ids != nil {
			delete(ids, n.ID)
			if len(ids) == 0 {
				delete(a.objects, n.Object)
				delete(a.phases, n.Object)
			}
		}
	}
}

func (a *assembly) putNode(n *topology.Node) {
	a.touchNode(n.ID)
	a.nodes[n.ID] = n
	if n.Object != "" {
		ids := a.objects[n.Object]
		if ids == nil {
			ids = map[string]struct{}{}
			a.objects[n.Object] = ids
		}
		ids[n.ID] = struct{}{}
	}
}

func (a *assembly) dropEdge(e *topology.Edge) {
	if a.edges[e.ID] != e {
		return
	}
	delete(a.edges, e.ID)
	for _, end := range []string{e.Parent, e.Child} {
		if set := a.incident[end]; set != nil {
			delete(set, e.ID)
			if len(set) == 0 {
				delete(a.incident, end)
			}
		}
	}
	a.touchedEdges[e.ID] = struct{}{}
}

func (a *assembly) putEdge(e *topology.Edge) {
	if old := a.edges[e.ID]; old != nil && old != e {
		a.dropEdge(old)
	}
	a.edges[e.ID] = e
	for _, end := range []string{e.Parent, e.Child} {
		set := a.incident[end]
		if set == nil {
			set = map[string]struct{}{}
			a.incident[end] = set
		}
		set[e.ID] = struct{}{}
	}
	a.touchedEdges[e.ID] = struct{}{}
}

// delta compares the touched elements with published, updates it, and
// returns the messages.
func (a *assembly) delta(ov overlayer, o origin, published *graphState, now int64) ([]message, error) {
	var added, updated, edgesGone, edgesNew, nodesGone []message
	msg := func(typ string, obj any) message { return message{Namespace: "Graph", Type: typ, Obj: obj} }
	for id := range a.touchedNodes {
		n := a.nodes[id]
		p := published.nodes[id]
		if n == nil {
			delete(a.encNodes, id)
			if p != nil {
				nodesGone = append(nodesGone, msg(msgNodeDeleted, o.deletedNode(id, p, now)))
				delete(published.nodes, id)
			}
			continue
		}
		key := ov.overlayKey(n)
		enc, ok := a.encNodes[id]
		if !ok || enc.node != n || enc.overlay != key {
			meta := n.Metadata
			if key != "" {
				meta = ov.overlay(n)
			}
			md, err := json.Marshal(meta)
			if err != nil {
				return nil, fmt.Errorf("skydive: node %s: %w", id, err)
			}
			enc = encoded{node: n, overlay: key, md: md}
			a.encNodes[id] = enc
		}
		switch {
		case p == nil:
			sn := &stateNode{md: enc.md, rev: 1, created: now, updated: now}
			published.nodes[id] = sn
			added = append(added, msg(msgNodeAdded, o.node(id, sn)))
		case !bytes.Equal(p.md, enc.md):
			p.md, p.rev, p.updated = enc.md, p.rev+1, now
			updated = append(updated, msg(msgNodeUpdated, o.node(id, p)))
		}
	}
	for id := range a.touchedEdges {
		e := a.edges[id]
		p := published.edges[id]
		if e == nil || a.nodes[e.Parent] == nil || a.nodes[e.Child] == nil {
			if e == nil {
				delete(a.encEdges, id)
			}
			if p != nil {
				edgesGone = append(edgesGone, msg(msgEdgeDeleted, o.deletedEdge(id, p, now)))
				delete(published.edges, id)
			}
			continue
		}
		enc, ok := a.encEdges[id]
		if !ok || enc.edge != e {
			md, err := json.Marshal(e.Metadata)
			if err != nil {
				return nil, fmt.Errorf("skydive: edge %s: %w", id, err)
			}
			enc = encodedEdge{edge: e, md: md}
			a.encEdges[id] = enc
		}
		md := enc.md
		if p != nil && p.parent == e.Parent && p.child == e.Child && bytes.Equal(p.md, md) {
			continue
		}
		if p != nil {
			edgesGone = append(edgesGone, msg(msgEdgeDeleted, o.deletedEdge(id, p, now)))
		}
		se := &stateEdge{parent: e.Parent, child: e.Child, md: md, created: now}
		published.edges[id] = se
		edgesNew = append(edgesNew, msg(msgEdgeAdded, o.edge(id, se)))
	}
	out := append(added, updated...)
	out = append(out, edgesGone...)
	out = append(out, edgesNew...)
	return append(out, nodesGone...), nil
}
