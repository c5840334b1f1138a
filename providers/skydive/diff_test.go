package skydive

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/topology"
)

// summary renders messages as "Type name[rev]" or "Type parent>child".
func summary(t *testing.T, msgs []message, g ...*topology.Graph) []string {
	t.Helper()
	name := map[string]string{}
	for _, gr := range g {
		for id, n := range gr.Nodes {
			name[id] = n.Metadata["Name"].(string)
		}
	}
	var out []string
	for _, m := range msgs {
		switch o := m.Obj.(type) {
		case wireNode:
			out = append(out, fmt.Sprintf("%s %s[%d]", m.Type, name[o.ID], o.Revision))
		case wireEdge:
			out = append(out, fmt.Sprintf("%s %s>%s", m.Type, name[o.Parent], name[o.Child]))
		default:
			t.Fatalf("unexpected %T", o)
		}
	}
	return out
}

func graph(ports []string, tag int, mirrorSrc string) *topology.Graph {
	g := topology.New("h1", nil)
	g.AddNode(topology.PartBridges, "br", topology.Metadata{"Type": "ovsbridge", "Name": "br0"})
	g.Link(g.HostID(), "br", topology.Ownership, nil)
	for _, p := range ports {
		g.AddNode(topology.PartPorts, p, topology.Metadata{"Type": "ovsport", "Name": p, "UUID": "u-" + p, "Tag": tag})
		g.Link("br", p, topology.Ownership, nil)
	}
	if mirrorSrc != "" {
		g.AddNode(topology.PartMirrors, "m", topology.Metadata{"Type": "ovsmirror", "Name": "m"})
		g.Link("br", "m", topology.Ownership, nil)
		g.Link("m", mirrorSrc, topology.Mirroring, topology.Metadata{"Direction": "src"})
	}
	g.Finish()
	return g
}

func TestChangesComeInAnOrderTheAnalyzerAccepts(t *testing.T) {
	o := origin{host: "h1", origin: "wirekeeper.h1"}
	g1 := graph([]string{"p1", "p2"}, 10, "p1")
	s1, err := encodeGraph(g1, nil, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// p2 leaves, p3 comes, p1's tag changes, the mirror moves from p1 to p3.
	g2 := graph([]string{"p1", "p3"}, 20, "p3")
	s2, err := encodeGraph(g2, s1, 2000)
	if err != nil {
		t.Fatal(err)
	}
	got := summary(t, o.changes(s1, s2), g1, g2)
	want := []string{
		"NodeAdded p3[1]",
		"NodeUpdated p1[2]",
		"EdgeDeleted m>p1",
		"EdgeDeleted br0>p2",
		"EdgeAdded m>p3",
		"EdgeAdded br0>p3",
		"NodeDeleted p2[1]",
	}
	// Within one kind of message the order is by ID; compare as groups.
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
	if s2.nodes["p1"].created != 1000 || s2.nodes["p1"].updated != 2000 || s2.nodes["br"].updated != 1000 {
		t.Errorf("times: p1 created %d updated %d, br updated %d", s2.nodes["p1"].created, s2.nodes["p1"].updated, s2.nodes["br"].updated)
	}
	// Nothing changed: nothing sent, revisions kept.
	s3, _ := encodeGraph(graph([]string{"p1", "p3"}, 20, "p3"), s2, 3000)
	if msgs := o.changes(s2, s3); len(msgs) != 0 {
		t.Errorf("an unchanged graph gave %v", summary(t, msgs, g2))
	}
	if s3.nodes["p1"].rev != 2 {
		t.Errorf("p1 revision %d after no change, want 2", s3.nodes["p1"].rev)
	}
}

func TestSyncCarriesOriginHostAndRevisions(t *testing.T) {
	o := origin{host: "h1", origin: "wirekeeper.h1"}
	s, _ := encodeGraph(graph([]string{"p1"}, 1, ""), nil, 5)
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
	s, _ := encodeGraph(graph([]string{"p1", "p2"}, 1, ""), nil, 5)
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
	g := graph([]string{"p1", "p\"2<x>é"}, 3, "p1")
	s, _ := encodeGraph(g, nil, 42)
	msgs := append([]message{o.syncMessage(s)}, o.changes(&graphState{nodes: map[string]*stateNode{}, edges: map[string]*stateEdge{}}, s)...)
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
	}
}
