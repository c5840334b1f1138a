package skydive

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/topology"
)

// summary renders messages as "Type id[rev]" or "Type parent>child";
// the test graphs' IDs are names.
func summary(t *testing.T, msgs []message) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		switch o := m.Obj.(type) {
		case wireNode:
			out = append(out, fmt.Sprintf("%s %s[%d]", m.Type, o.ID, o.Revision))
		case wireEdge:
			out = append(out, fmt.Sprintf("%s %s>%s", m.Type, o.Parent, o.Child))
		default:
			t.Fatalf("unexpected %T", o)
		}
	}
	return out
}

type noOverlay struct{}

func (noOverlay) overlayKey(*topology.Node) string         { return "" }
func (noOverlay) overlay(*topology.Node) topology.Metadata { return nil }
func (noOverlay) phaseGeneration() uint64                  { return 0 }

// graph builds a test graph on c: a bridge, ports (each in a fragment of
// version tag when frag is set), and a mirror selecting mirrorSrc.
func graph(c *topology.Cache, ports []string, tag int, mirrorSrc string, frag bool) *topology.Graph {
	g := topology.NewLoose("h1", nil, c)
	g.AddNode(topology.PartBridges, "br", topology.Metadata{"Type": "ovsbridge", "Name": "br0"})
	g.Link(g.HostID(), "br", topology.Ownership, nil)
	for _, p := range ports {
		build := func() {
			g.AddNode(topology.PartPorts, p, topology.Metadata{"Type": "ovsport", "Name": p, "UUID": "u-" + p, "Tag": tag})
			g.Link("br", p, topology.Ownership, nil)
		}
		if frag {
			g.Fragment("port/"+p, uint64(tag), build)
		} else {
			build()
		}
	}
	if mirrorSrc != "" {
		g.AddNode(topology.PartMirrors, "m", topology.Metadata{"Type": "ovsmirror", "Name": "m"})
		g.Link("br", "m", topology.Ownership, nil)
		g.Link("m", mirrorSrc, topology.Mirroring, topology.Metadata{"Direction": "src"})
	}
	g.Finish()
	return g
}

// stepTo steps a to a new graph; the graph is built by build on a's cache.
func stepTo(t *testing.T, a *assembly, s *graphState, now int64, build func(*topology.Cache) *topology.Graph) []message {
	t.Helper()
	msgs, err := a.step(build(a.cache), noOverlay{}, origin{host: "h1", origin: "wirekeeper.h1"}, s, now)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestChangesComeInAnOrderTheAnalyzerAccepts(t *testing.T) {
	for _, frag := range []bool{false, true} {
		t.Run(fmt.Sprintf("fragments=%v", frag), func(t *testing.T) {
			a, s := newAssembly(), newGraphState()
			stepTo(t, a, s, 1000, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p1", "p2"}, 10, "p1", frag) })
			if len(s.nodes) != 5 || len(s.edges) != 5 {
				t.Fatalf("first state: %d nodes %d edges, want 5 and 5", len(s.nodes), len(s.edges))
			}
			// p2 leaves, p3 comes, p1's tag changes, the mirror moves from p1 to p3.
			got := summary(t, stepTo(t, a, s, 2000, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p1", "p3"}, 20, "p3", frag) }))
			want := []string{"NodeAdded p3[1]", "NodeUpdated p1[2]", "EdgeDeleted m>p1", "EdgeDeleted br>p2", "EdgeAdded m>p3", "EdgeAdded br>p3", "NodeDeleted p2[1]"}
			group := func(s []string) map[string][]string {
				out := map[string][]string{}
				for _, x := range s {
					var typ string
					fmt.Sscan(x, &typ)
					out[typ] = append(out[typ], x)
				}
				for _, g := range out {
					slices.Sort(g)
				}
				return out
			}
			if diff := cmp.Diff(group(want), group(got)); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			rank := map[string]int{"NodeAdded": 0, "NodeUpdated": 1, "EdgeDeleted": 2, "EdgeAdded": 3, "NodeDeleted": 4}
			last := -1
			for _, m := range got {
				var typ string
				fmt.Sscan(m, &typ)
				if rank[typ] < last {
					t.Errorf("%s comes after a later kind of message: %v", m, got)
				}
				last = rank[typ]
			}
			if s.nodes["p1"].created != 1000 || s.nodes["p1"].updated != 2000 || s.nodes["br"].updated != 1000 {
				t.Errorf("times: p1 created %d updated %d, br updated %d", s.nodes["p1"].created, s.nodes["p1"].updated, s.nodes["br"].updated)
			}
			// Nothing changed: nothing sent, revisions kept.
			if msgs := stepTo(t, a, s, 3000, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p1", "p3"}, 20, "p3", frag) }); len(msgs) != 0 {
				t.Errorf("an unchanged graph gave %v", summary(t, msgs))
			}
			if s.nodes["p1"].rev != 2 {
				t.Errorf("p1 revision %d after no change, want 2", s.nodes["p1"].rev)
			}
			// The port the mirror selects goes: the mirror edge goes with it, before it.
			got = summary(t, stepTo(t, a, s, 4000, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p1"}, 20, "p3", frag) }))
			want = []string{"EdgeDeleted m>p3", "EdgeDeleted br>p3", "NodeDeleted p3[1]"}
			if diff := cmp.Diff(group(want), group(got)); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncCarriesOriginHostAndRevisions(t *testing.T) {
	o := origin{host: "h1", origin: "wirekeeper.h1"}
	a, s := newAssembly(), newGraphState()
	stepTo(t, a, s, 5, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p1"}, 1, "", false) })
	m := o.syncMessage(s)
	obj := m.Obj.(syncObj)
	if m.Type != "Sync" || len(obj.Nodes) != 3 || len(obj.Edges) != 2 {
		t.Fatalf("sync %s with %d nodes %d edges", m.Type, len(obj.Nodes), len(obj.Edges))
	}
	for _, n := range obj.Nodes {
		if n.Origin != "wirekeeper.h1" || n.Host != "h1" || n.Revision != 1 || n.CreatedAt != 5 {
			t.Errorf("node %+v", n)
		}
	}
}

func TestCompareFindsMissingExtraAndDifferent(t *testing.T) {
	a, s := newAssembly(), newGraphState()
	stepTo(t, a, s, 5, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p1", "p2"}, 1, "", false) })
	o := origin{host: "h1", origin: "wirekeeper.h1"}
	full := o.syncMessage(s).Obj.(syncObj)
	v, err := compare(s, full.Nodes, full.Edges)
	if err != nil || !v.ok() {
		t.Fatalf("the published graph itself: %v %v", v, err)
	}
	// Reordered keys and spacing are the same metadata.
	nodes := append([]wireNode(nil), full.Nodes...)
	for i := range nodes {
		if string(nodes[i].ID) == "p1" {
			nodes[i].Metadata = []byte(`{ "UUID":"u-p1", "Tag": 1, "Name":"p1","Type":"ovsport"}`)
		}
	}
	if v, _ := compare(s, nodes, full.Edges); !v.ok() {
		t.Errorf("same metadata in another form: %v", v)
	}
	nodes[0].Metadata = []byte(`{"Type":"ovsport","Name":"changed"}`)
	nodes = append(nodes[:1], nodes[2:]...)
	nodes = append(nodes, wireNode{ID: "stranger", Metadata: []byte(`{}`)})
	v, _ = compare(s, nodes, full.Edges[1:])
	if v.differentNodes != 1 || v.missingNodes != 1 || v.extraNodes != 1 || v.missingEdges != 1 || v.ok() {
		t.Errorf("verdict %+v", v)
	}
}

func TestMessageEncodingEqualsEncodingJSON(t *testing.T) {
	o := origin{host: "h1", origin: "wirekeeper.h1"}
	a, s := newAssembly(), newGraphState()
	msgs := stepTo(t, a, s, 42, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p1", "p\"2<x>é"}, 3, "p1", true) })
	msgs = append(msgs, o.syncMessage(s))
	// Deletes carry DeletedAt.
	msgs = append(msgs, stepTo(t, a, s, 43, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p\"2<x>é"}, 3, "", true) })...)
	for _, m := range msgs {
		got, err := m.encode()
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", m.Type, got, want)
		}
		if deleted := strings.Contains(string(got), `"DeletedAt":43`); deleted != strings.HasSuffix(m.Type, "Deleted") {
			t.Errorf("%s with DeletedAt %v: %s", m.Type, deleted, got)
		}
	}
}

func TestDeletesCarryTheWholeElement(t *testing.T) {
	a, s := newAssembly(), newGraphState()
	stepTo(t, a, s, 1, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p1", "p2"}, 3, "p1", false) })
	msgs := stepTo(t, a, s, 2, func(c *topology.Cache) *topology.Graph { return graph(c, []string{"p2"}, 3, "", false) })
	seen := 0
	for _, m := range msgs {
		switch o := m.Obj.(type) {
		case wireNode:
			if m.Type == msgNodeDeleted {
				seen++
				if o.DeletedAt != 2 || o.Origin != "wirekeeper.h1" || (o.ID == "p1") != strings.Contains(string(o.Metadata), `"UUID":"u-p1"`) ||
					!strings.Contains(string(o.Metadata), `"Type":"ovs`) {
					t.Errorf("NodeDeleted %+v (metadata %s)", o, o.Metadata)
				}
			}
		case wireEdge:
			if m.Type == msgEdgeDeleted {
				seen++
				if o.DeletedAt != 2 || !strings.Contains(string(o.Metadata), `"RelationType"`) || o.Parent == "" || o.Child == "" {
					t.Errorf("EdgeDeleted %+v (metadata %s)", o, o.Metadata)
				}
			}
		}
	}
	if seen != 5 { // p1 and the mirror, their three edges
		t.Errorf("%d deletes in %v", seen, summary(t, msgs))
	}
}
