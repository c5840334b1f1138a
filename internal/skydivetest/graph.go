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

// Deletion is one element the analyzer removed from its graph, with the
// DeletedAt it recorded (a history backend keeps both).
type Deletion struct {
	Kind string // "node" or "edge"
	ID   string
	// Cause is what removed it: "NodeDeleted" or "EdgeDeleted" (a
	// publisher's message), "NodeDeleted of its node" (an edge removed
	// with its node), "Sync", "DeleteOnDisconnect" or "REST".
	Cause  string
	Origin string
	// Metadata are those of the delete message for NodeDeleted and
	// EdgeDeleted (decoded like any node's), the stored ones otherwise.
	Metadata map[string]any
	// DeletedAt is, in ms since the epoch, the DeletedAt of the
	// NodeDeleted or EdgeDeleted message (0 when it carried none; the
	// edges of a deleted node get the node's), the analyzer's clock for
	// the other causes.
	DeletedAt int64
}

// maxDeletions bounds the deletions kept: the most recent ones.
const maxDeletions = 1000

// The reasons an element is dropped or ignored; they head the log lines.
// errReAdd and errStale are never logged: the analyzer ignores re-adds and
// stale revisions silently.
var (
	errInvalidSchema = errors.New("invalid schema")
	errReAdd         = errors.New("already exists")
	errStale         = errors.New("revision not higher")
	errNodeNotFound  = errors.New("node not found")
	errEdgeNotFound  = errors.New("edge not found")
	//lint:ignore ST1005 the analyzer's own log wording, capital and all
	errParentNotFound = errors.New("Parent node not found")
	//lint:ignore ST1005 the analyzer's own log wording, capital and all
	errChildNotFound = errors.New("Child node not found")
)

// graph is the analyzer's in-memory graph. It is not safe for concurrent
// use: the Analyzer guards it with its mutex.
type graph struct {
	nodes     map[string]*Node
	edges     map[string]*Edge
	nodeEdges map[string]map[string]bool // node ID -> IDs of the edges touching it
	deleted   *[]Deletion                // shared with the graph a Restart replaces it with
}

func newGraph(deleted *[]Deletion) *graph {
	if deleted == nil {
		deleted = &[]Deletion{}
	}
	return &graph{nodes: map[string]*Node{}, edges: map[string]*Edge{}, nodeEdges: map[string]map[string]bool{}, deleted: deleted}
}

// nowMS is the analyzer's clock, in milliseconds since the epoch.
func nowMS() int64 { return time.Now().UnixMilli() }

// checkNode applies the analyzer's node schema: non-empty string Type and
// Name; ovsport also needs the key UUID, netns the key Path, as strings
// that may be empty.
func checkNode(m map[string]any) error {
	typ, ok := m["Type"].(string)
	if !ok || typ == "" {
		return fmt.Errorf("%w: Metadata.Type must be a non-empty string", errInvalidSchema)
	}
	if name, ok := m["Name"].(string); !ok || name == "" {
		return fmt.Errorf("%w: Metadata.Name must be a non-empty string", errInvalidSchema)
	}
	if need := map[string]string{"ovsport": "UUID", "netns": "Path"}[typ]; need != "" {
		if _, ok := m[need].(string); !ok {
			return fmt.Errorf("%w: Metadata.%s (a string) is required for Type %s", errInvalidSchema, need, typ)
		}
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

// addNode stores n unless its ID exists (errReAdd: a re-add is never an
// update). The schema is the caller's business: Sync elements skip it.
func (g *graph) addNode(n Node) error {
	if _, ok := g.nodes[n.ID]; ok {
		return errReAdd
	}
	g.nodes[n.ID] = &n
	return nil
}

// updateNode replaces the whole Metadata, UpdatedAt and Revision of a
// stored node when n.Revision is higher (errStale otherwise); ID, Host,
// Origin and CreatedAt stay as stored.
func (g *graph) updateNode(n Node) error {
	cur, ok := g.nodes[n.ID]
	if !ok {
		return errNodeNotFound
	}
	if n.Revision <= cur.Revision {
		return fmt.Errorf("%w: got %d, stored %d", errStale, n.Revision, cur.Revision)
	}
	cur.Metadata, cur.UpdatedAt, cur.Revision = n.Metadata, n.UpdatedAt, n.Revision
	return nil
}

// delNode removes a node and every edge touching it, recording them with
// deletedAt. md, when not nil, is what the deletion records as the node's
// metadata (those of the delete message).
func (g *graph) delNode(id, cause string, deletedAt int64, md map[string]any) error {
	n, ok := g.nodes[id]
	if !ok {
		return errNodeNotFound
	}
	edgeCause := cause
	if cause == "NodeDeleted" {
		edgeCause = "NodeDeleted of its node"
	}
	for _, eid := range sortedKeys(g.nodeEdges[id]) {
		_ = g.delEdge(eid, edgeCause, deletedAt, nil) // listed in the index, so present
	}
	if md == nil {
		md = n.Metadata
	}
	g.record(Deletion{Kind: "node", ID: id, Cause: cause, Origin: n.Origin, Metadata: cloneMap(md), DeletedAt: deletedAt})
	delete(g.nodes, id)
	delete(g.nodeEdges, id)
	return nil
}

// addEdge stores e unless its ID exists (errReAdd) or its parent or child
// node is missing. The schema is the caller's business.
func (g *graph) addEdge(e Edge) error {
	if _, ok := g.edges[e.ID]; ok {
		return errReAdd
	}
	if _, ok := g.nodes[e.Parent]; !ok {
		return fmt.Errorf("%w: %q", errParentNotFound, e.Parent)
	}
	if _, ok := g.nodes[e.Child]; !ok {
		return fmt.Errorf("%w: %q", errChildNotFound, e.Child)
	}
	g.edges[e.ID] = &e
	for _, n := range []string{e.Parent, e.Child} {
		if g.nodeEdges[n] == nil {
			g.nodeEdges[n] = map[string]bool{}
		}
		g.nodeEdges[n][e.ID] = true
	}
	return nil
}

// updateEdge is the analyzer's EdgeUpdated: when the edge exists and
// e.Revision is higher than the stored one, Metadata and UpdatedAt are
// replaced, but never the Revision; otherwise, stale revision included,
// it fails with errEdgeNotFound, as the analyzer reports both.
func (g *graph) updateEdge(e Edge) error {
	cur, ok := g.edges[e.ID]
	if !ok || e.Revision <= cur.Revision {
		return errEdgeNotFound
	}
	cur.Metadata, cur.UpdatedAt = e.Metadata, e.UpdatedAt
	return nil
}

// setMetadata replaces an element's metadata, raising its revision and
// UpdatedAt, as the analyzer's own writes (REST PATCH) do.
func (g *graph) setMetadata(kind, id string, md map[string]any) error {
	now := nowMS()
	if kind == "node" {
		n, ok := g.nodes[id]
		if !ok {
			return errNodeNotFound
		}
		n.Metadata, n.UpdatedAt, n.Revision = md, now, n.Revision+1
		return nil
	}
	e, ok := g.edges[id]
	if !ok {
		return errEdgeNotFound
	}
	e.Metadata, e.UpdatedAt, e.Revision = md, now, e.Revision+1
	return nil
}

// delEdge removes an edge, recording it with deletedAt; md as in delNode.
func (g *graph) delEdge(id, cause string, deletedAt int64, md map[string]any) error {
	e, ok := g.edges[id]
	if !ok {
		return errEdgeNotFound
	}
	if md == nil {
		md = e.Metadata
	}
	g.record(Deletion{Kind: "edge", ID: id, Cause: cause, Origin: e.Origin, Metadata: cloneMap(md), DeletedAt: deletedAt})
	delete(g.nodeEdges[e.Parent], id)
	delete(g.nodeEdges[e.Child], id)
	delete(g.edges, id)
	return nil
}

// delOrigin removes every node whose Origin is origin, with every edge
// touching them (whatever the edge's origin). Edges of origin between
// nodes of other origins stay. It returns how many nodes and edges went.
func (g *graph) delOrigin(origin, cause string) (nodes, edges int) {
	before := len(g.edges)
	now := nowMS()
	for _, n := range g.sortedNodes() {
		if n.Origin == origin {
			_ = g.delNode(n.ID, cause, now, nil)
			nodes++
		}
	}
	return nodes, before - len(g.edges)
}

// record keeps d among the last maxDeletions deletions.
func (g *graph) record(d Deletion) {
	*g.deleted = append(*g.deleted, d)
	if over := len(*g.deleted) - maxDeletions; over > 0 {
		*g.deleted = slices.Delete(*g.deleted, 0, over)
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
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
