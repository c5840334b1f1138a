package skydivetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Node is a node of the analyzer's graph, as the analyzer encodes it in
// JSON. Times are milliseconds since the epoch.
type Node struct {
	ID        string
	Metadata  map[string]any
	Host      string
	Origin    string
	CreatedAt int64
	UpdatedAt int64
	Revision  int64
}

// Edge is an edge of the analyzer's graph, from Parent to Child, as the
// analyzer encodes it in JSON. Times are milliseconds since the epoch.
type Edge struct {
	ID        string
	Metadata  map[string]any
	Parent    string
	Child     string
	Host      string
	Origin    string
	CreatedAt int64
	UpdatedAt int64
	Revision  int64
}

// The reasons an element is dropped or ignored; they head the log lines.
var (
	errInvalidSchema  = errors.New("invalid schema")
	errNoID           = errors.New("no ID")
	errReAdd          = errors.New("ignored re-add")
	errRevision       = errors.New("revision not higher")
	errNodeNotFound   = errors.New("node not found")
	errEdgeNotFound   = errors.New("edge not found")
	errParentNotFound = errors.New("Parent node not found") // the analyzer's own wording, capital and all
	errChildNotFound  = errors.New("Child node not found")
)

// graph is the analyzer's in-memory graph. It is not safe for concurrent
// use: the Analyzer guards it with its mutex.
type graph struct {
	nodes     map[string]*Node
	edges     map[string]*Edge
	nodeEdges map[string]map[string]bool // node ID -> IDs of the edges touching it
}

func newGraph() *graph {
	return &graph{nodes: map[string]*Node{}, edges: map[string]*Edge{}, nodeEdges: map[string]map[string]bool{}}
}

// nowMS is the analyzer's clock, in milliseconds since the epoch.
func nowMS() int64 { return time.Now().UnixMilli() }

// checkNode applies the analyzer's node schema: non-empty string Type and
// Name; ovsport also needs UUID, netns also needs Path.
func checkNode(m map[string]any) error {
	typ, ok := m["Type"].(string)
	if !ok || typ == "" {
		return fmt.Errorf("%w: Metadata.Type must be a non-empty string", errInvalidSchema)
	}
	if name, ok := m["Name"].(string); !ok || name == "" {
		return fmt.Errorf("%w: Metadata.Name must be a non-empty string", errInvalidSchema)
	}
	need := map[string]string{"ovsport": "UUID", "netns": "Path"}[typ]
	if v, ok := m[need].(string); need != "" && (!ok || v == "") {
		return fmt.Errorf("%w: Metadata.%s must be a non-empty string for Type %s", errInvalidSchema, need, typ)
	}
	return nil
}

// checkEdge applies the analyzer's edge schema: a non-empty RelationType.
func checkEdge(m map[string]any) error {
	if rel, ok := m["RelationType"].(string); !ok || rel == "" {
		return fmt.Errorf("%w: Metadata.RelationType must be a non-empty string", errInvalidSchema)
	}
	return nil
}

// addNode stores n unless it fails the schema or its ID exists (a re-add
// is ignored, never an update). Missing times are filled with now.
func (g *graph) addNode(n Node) error {
	if n.ID == "" {
		return errNoID
	}
	if err := checkNode(n.Metadata); err != nil {
		return err
	}
	if _, ok := g.nodes[n.ID]; ok {
		return fmt.Errorf("%w: node already exists", errReAdd)
	}
	fillTimes(&n.CreatedAt, &n.UpdatedAt)
	g.nodes[n.ID] = &n
	return nil
}

// updateNode replaces the whole Metadata, UpdatedAt and Revision of a
// stored node when n.Revision is higher; ID, Host, Origin and CreatedAt
// stay as stored.
func (g *graph) updateNode(n Node) error {
	if err := checkNode(n.Metadata); err != nil {
		return err
	}
	cur, ok := g.nodes[n.ID]
	if !ok {
		return errNodeNotFound
	}
	if n.Revision <= cur.Revision {
		return fmt.Errorf("%w: got %d, stored %d", errRevision, n.Revision, cur.Revision)
	}
	if n.UpdatedAt == 0 {
		n.UpdatedAt = nowMS()
	}
	cur.Metadata, cur.UpdatedAt, cur.Revision = n.Metadata, n.UpdatedAt, n.Revision
	return nil
}

// delNode removes a node and every edge touching it.
func (g *graph) delNode(id string) error {
	if _, ok := g.nodes[id]; !ok {
		return errNodeNotFound
	}
	for eid := range g.nodeEdges[id] {
		_ = g.delEdge(eid) // listed in the index, so present
	}
	delete(g.nodes, id)
	delete(g.nodeEdges, id)
	return nil
}

// addEdge stores e unless it fails the schema, its ID exists, or its
// parent or child node is missing.
func (g *graph) addEdge(e Edge) error {
	if e.ID == "" {
		return errNoID
	}
	if err := checkEdge(e.Metadata); err != nil {
		return err
	}
	if _, ok := g.edges[e.ID]; ok {
		return fmt.Errorf("%w: edge already exists", errReAdd)
	}
	if _, ok := g.nodes[e.Parent]; !ok {
		return fmt.Errorf("%w: %q", errParentNotFound, e.Parent)
	}
	if _, ok := g.nodes[e.Child]; !ok {
		return fmt.Errorf("%w: %q", errChildNotFound, e.Child)
	}
	fillTimes(&e.CreatedAt, &e.UpdatedAt)
	g.edges[e.ID] = &e
	for _, n := range []string{e.Parent, e.Child} {
		if g.nodeEdges[n] == nil {
			g.nodeEdges[n] = map[string]bool{}
		}
		g.nodeEdges[n][e.ID] = true
	}
	return nil
}

// updateEdge is updateNode for edges; Parent and Child stay as stored.
func (g *graph) updateEdge(e Edge) error {
	if err := checkEdge(e.Metadata); err != nil {
		return err
	}
	cur, ok := g.edges[e.ID]
	if !ok {
		return errEdgeNotFound
	}
	if e.Revision <= cur.Revision {
		return fmt.Errorf("%w: got %d, stored %d", errRevision, e.Revision, cur.Revision)
	}
	if e.UpdatedAt == 0 {
		e.UpdatedAt = nowMS()
	}
	cur.Metadata, cur.UpdatedAt, cur.Revision = e.Metadata, e.UpdatedAt, e.Revision
	return nil
}

// delEdge removes an edge.
func (g *graph) delEdge(id string) error {
	e, ok := g.edges[id]
	if !ok {
		return errEdgeNotFound
	}
	delete(g.nodeEdges[e.Parent], id)
	delete(g.nodeEdges[e.Child], id)
	delete(g.edges, id)
	return nil
}

// delOrigin removes every node whose Origin is origin, with their edges,
// and with edgesToo also every edge whose Origin is origin. It returns how
// many nodes and edges went.
func (g *graph) delOrigin(origin string, edgesToo bool) (nodes, edges int) {
	before := len(g.edges)
	for id, n := range g.nodes {
		if n.Origin == origin {
			_ = g.delNode(id)
			nodes++
		}
	}
	if edgesToo {
		for id, e := range g.edges {
			if e.Origin == origin {
				_ = g.delEdge(id)
			}
		}
	}
	return nodes, before - len(g.edges)
}

func fillTimes(created, updated *int64) {
	now := nowMS()
	if *created == 0 {
		*created = now
	}
	if *updated == 0 {
		*updated = now
	}
}

// sortedNodes returns the stored nodes, sorted by ID.
func (g *graph) sortedNodes() []*Node {
	out := make([]*Node, 0, len(g.nodes))
	for _, n := range g.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// sortedEdges returns the stored edges, sorted by ID.
func (g *graph) sortedEdges() []*Edge {
	out := make([]*Edge, 0, len(g.edges))
	for _, e := range g.edges {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *Edge) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// nodeList returns copies of the nodes keep accepts (all when nil),
// sorted by ID.
func (g *graph) nodeList(keep func(*Node) bool) []Node {
	out := []Node{}
	for _, n := range g.sortedNodes() {
		if keep == nil || keep(n) {
			out = append(out, n.clone())
		}
	}
	return out
}

// edgeList returns copies of the edges keep accepts (all when nil),
// sorted by ID.
func (g *graph) edgeList(keep func(*Edge) bool) []Edge {
	out := []Edge{}
	for _, e := range g.sortedEdges() {
		if keep == nil || keep(e) {
			out = append(out, e.clone())
		}
	}
	return out
}

func (n *Node) clone() Node {
	c := *n
	c.Metadata = cloneMap(n.Metadata)
	return c
}

func (e *Edge) clone() Edge {
	c := *e
	c.Metadata = cloneMap(e.Metadata)
	return c
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return cloneValue(m).(map[string]any)
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(v))
		for k, x := range v {
			c[k] = cloneValue(x)
		}
		return c
	case []any:
		c := make([]any, len(v))
		for i, x := range v {
			c[i] = cloneValue(x)
		}
		return c
	default:
		return v
	}
}
