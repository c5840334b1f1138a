package topology

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIDIsAStableUUIDv5(t *testing.T) {
	a, b := ID("h1", "ovsbridge", "ovs", "br0"), ID("h1", "ovsbridge", "ovs", "br0")
	if a != b {
		t.Fatalf("same parts gave %s and %s", a, b)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(a) {
		t.Errorf("%s is not a version 5 UUID", a)
	}
	for _, other := range [][]string{{"h2", "ovsbridge", "ovs", "br0"}, {"h1", "ovsbridge", "ovsbr0"}, {"h1ovsbridge", "ovs", "br0"}} {
		if ID(other...) == a {
			t.Errorf("%q collides with h1/ovsbridge/ovs/br0", other)
		}
	}
}

func TestGraphIncludeAndDanglingEdges(t *testing.T) {
	g := New("h1", []string{"bridges", "mirrors"})
	if g.AddNode(PartBridges, "b", Metadata{"Type": "ovsbridge", "Name": "br0"}) == nil {
		t.Fatal("bridges are included")
	}
	if g.AddNode(PartPorts, "p", Metadata{"Type": "ovsport", "Name": "p0"}) != nil {
		t.Fatal("ports are not included")
	}
	g.AddNode(PartMirrors, "m", Metadata{"Type": "ovsmirror", "Name": "m0"})
	g.Link(g.HostID(), "b", Ownership, nil)
	g.Link("b", "p", Ownership, nil)
	g.Link("m", "p", Mirroring, Metadata{"Direction": "src"})
	g.Link("b", "m", Ownership, nil)
	g.Finish()
	var got []string
	for _, e := range g.Edges {
		got = append(got, e.Parent+">"+e.Child)
	}
	want := map[string]bool{g.HostID() + ">b": true, "b>m": true}
	if len(got) != 2 || !want[got[0]] || !want[got[1]] {
		t.Errorf("edges %v, want host>b and b>m only", got)
	}
	if diff := cmp.Diff(Metadata{"Type": "host", "Name": "h1"}, g.Nodes[g.HostID()].Metadata); diff != "" {
		t.Errorf("host node (-want +got):\n%s", diff)
	}
}

func TestLinkExtraMetadataIsPartOfTheEdgeID(t *testing.T) {
	g := New("h1", nil)
	g.Link("m", "p", Mirroring, Metadata{"Direction": "src"})
	g.Link("m", "p", Mirroring, Metadata{"Direction": "dst"})
	g.Link("m", "p", Mirroring, Metadata{"Direction": "src"})
	if len(g.Edges) != 2 {
		t.Errorf("%d edges, want one per direction", len(g.Edges))
	}
}

func TestCacheReusesFragmentsOfTheSameVersionAndForgetsUnusedOnes(t *testing.T) {
	c := NewCache()
	builds := 0
	build := func(version uint64, keys ...string) *Graph {
		g := NewCached("h1", nil, c)
		for _, k := range keys {
			g.Fragment(k, version, func() {
				builds++
				g.AddNode(PartPorts, k, Metadata{"Type": "ovsport", "Name": k})
				g.Link(g.HostID(), k, Ownership, nil)
			})
		}
		g.Finish()
		return g
	}
	g1 := build(1, "a", "b")
	g2 := build(1, "a", "b")
	if builds != 2 || g2.Nodes["a"] != g1.Nodes["a"] || len(g2.Edges) != 2 {
		t.Errorf("builds %d, node a reused %v, %d edges; want 2 builds and the same node", builds, g2.Nodes["a"] == g1.Nodes["a"], len(g2.Edges))
	}
	build(2, "a")
	if builds != 3 || len(c.Fragments()) != 1 || c.Fragments()["a"].Version != 2 {
		t.Errorf("after a new version of a and b gone: builds %d, fragments %v", builds, c.Fragments())
	}
	// A loose graph leaves the fragments to the cache's reader.
	g := NewLoose("h1", nil, c)
	g.Fragment("a", 2, func() { t.Error("built again") })
	g.Fragment("c", 1, func() { g.AddNode(PartPorts, "c", Metadata{"Type": "ovsport", "Name": "c"}) })
	g.Finish()
	if len(g.Nodes) != 1 || len(c.Fragments()["c"].Nodes) != 1 {
		t.Errorf("loose graph nodes %v, fragment c %v", g.Nodes, c.Fragments()["c"])
	}
}
