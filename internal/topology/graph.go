// Package topology is the live topology graph of one node, in the shape
// SkyDive holds it: nodes with a Type and a Name, edges with a
// RelationType. Each provider adds its part from its own live caches (a
// Source); the SkyDive export publishes the whole. IDs are derived from
// what names an element (node, manager, bridge, port name), so they are
// the same after a restart of the daemon and on every rebuild.
package topology

import (
	"crypto/sha1"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
)

// Part is a group of nodes a SkyDiveExport may include (spec.include).
type Part string

// The parts; the host node belongs to none and is always there.
const (
	PartBridges    Part = "bridges"
	PartPorts      Part = "ports"
	PartInterfaces Part = "interfaces"
	PartMirrors    Part = "mirrors"
	PartContainers Part = "containers"
	PartCollectors Part = "collectors"
)

// Relation types of edges, SkyDive's and wirekeeper's own.
const (
	Ownership = "ownership"
	Layer2    = "layer2"
	// Mirroring links a mirror to a port it selects or outputs to; the
	// edge's Direction says which (src, dst, output).
	Mirroring = "mirroring"
)

// Metadata keys with a meaning across sources. The analyzer decodes some
// top-level keys into fixed structures and drops what they have no field
// for (Ovs into SkyDive's OvsMetadata: OtherConfig, Options, Protocols,
// DBVersion, Version, Error, Metric, LastUpdateMetric, each dropped when
// empty); data SkyDive has no field for goes in keys it does not decode.
const (
	// KeyVlans is a port's VLAN tag, a number, where SkyDive's own OVSDB
	// probe puts it.
	KeyVlans = "Vlans"
	// KeyOwnOvs holds the OVS settings SkyDive has no field for: a port's
	// Trunks and VLANMode, a bridge's FailMode.
	KeyOwnOvs = "WireKeeperOvs"
)

// Metadata is the metadata of a node or an edge, encoded as JSON.
type Metadata map[string]any

// Node is one element of the graph.
type Node struct {
	ID       string
	Metadata Metadata
	// Object is the spec object the node shows ("Mirror/m1"), "" for a
	// live element no object manages.
	Object string
}

// Edge links two nodes.
type Edge struct {
	ID, Parent, Child string
	Metadata          Metadata
}

// Graph is one node's topology, built afresh from the sources.
type Graph struct {
	host    string
	hostID  string
	include map[Part]bool
	Nodes   map[string]*Node
	Edges   map[string]*Edge
	// cache and rec are the fragments reused and the one being recorded.
	cache *Cache
	rec   *Fragment
	loose bool
}

// New returns a graph holding only the host node of host. include limits
// the parts kept (nil or empty: all of them).
func New(host string, include []string) *Graph {
	g := &Graph{host: host, hostID: ID(host, "host"), Nodes: map[string]*Node{}, Edges: map[string]*Edge{}}
	if len(include) > 0 {
		g.include = map[Part]bool{}
		for _, p := range include {
			g.include[Part(p)] = true
		}
	}
	g.Nodes[g.hostID] = &Node{ID: g.hostID, Metadata: Metadata{"Type": "host", "Name": host}}
	return g
}

// Host is the node name the graph describes.
func (g *Graph) Host() string { return g.host }

// HostID is the ID of the host node.
func (g *Graph) HostID() string { return g.hostID }

// Includes reports whether nodes of part are kept.
func (g *Graph) Includes(part Part) bool { return g.include == nil || g.include[part] }

// AddNode adds (or replaces) the node id of part with md, and returns it;
// it returns nil and adds nothing when part is not included.
func (g *Graph) AddNode(part Part, id string, md Metadata) *Node {
	if !g.Includes(part) {
		return nil
	}
	n := &Node{ID: id, Metadata: md}
	if g.rec != nil {
		g.rec.Nodes = append(g.rec.Nodes, n)
		if g.loose {
			return n
		}
	}
	g.Nodes[id] = n
	return n
}

// Link adds the edge parent -> child of relation. Extra metadata (a
// mirror's Direction, a patch's Type) is part of what identifies the
// edge, so that an edge's metadata never changes under one ID.
func (g *Graph) Link(parent, child, relation string, extra Metadata) {
	md := Metadata{"RelationType": relation}
	key := []string{parent, child, relation}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		md[k] = extra[k]
		if s, ok := extra[k].(string); ok {
			key = append(key, k+"="+s)
		}
	}
	id := ID(key...)
	e := &Edge{ID: id, Parent: parent, Child: child, Metadata: md}
	if g.rec != nil {
		g.rec.Edges = append(g.rec.Edges, e)
		if g.loose {
			return
		}
	}
	g.Edges[id] = e
}

// namespace is the UUIDv5 namespace of wirekeeper's graph IDs.
var namespace = [16]byte{0x7b, 0x5e, 0x0c, 0x41, 0x2f, 0x93, 0x4a, 0x8e, 0x9d, 0x11, 0x63, 0x0a, 0xe4, 0x5c, 0x28, 0xd7}

// ID returns the UUIDv5 (RFC 9562) of the parts, joined unambiguously:
// the same parts give the same ID on every host and every run.
func ID(parts ...string) string {
	h := sha1.New()
	h.Write(namespace[:])
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	var b strings.Builder
	b.Grow(36)
	for i, part := range [][]byte{u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]} {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(hex.EncodeToString(part))
	}
	return b.String()
}

// Source is a provider's part of the graph.
type Source interface {
	// Topology adds the source's nodes and edges to g from what the
	// source already holds in memory: it does no I/O and never blocks on
	// a server.
	Topology(g *Graph)
	// OnTopologyChange registers f, called (without blocking) whenever
	// the source's part may have changed.
	OnTopologyChange(f func())
}
