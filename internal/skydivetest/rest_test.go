package skydivetest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// gremlinGraph publishes a small graph from two origins: wirekeeper.h4
// owns h, br0 and p1 with their edges; other.hB owns x and the edge x-h.
func gremlinGraph(t *testing.T) *Analyzer {
	a := Start(t, Options{})
	mine := connect(t, a, "wirekeeper", "h4")
	publish(t, a, mine,
		msg{"NodeAdded", nd("h", "host", 1)},
		msg{"NodeAdded", nd("br0", "ovsbridge", 1, "WireKeeper", md("Phase", "applied"), "Tags", []any{"a", "b"})},
		msg{"NodeAdded", nd("p1", "ovsport", 1, "UUID", "2222")},
		msg{"EdgeAdded", ed("h-br0", "h", "br0", 1)},
		msg{"EdgeAdded", ed("br0-p1", "br0", "p1", 1)},
		msg{"EdgeAdded", Edge{ID: "br0-p1-l2", Parent: "br0", Child: "p1", Revision: 1, Metadata: md("RelationType", "layer2")}})
	other := connect(t, a, "other", "hB")
	x := nd("x", "host", 2)
	x.Host = "hB"
	publish(t, a, other, msg{"NodeAdded", x}, msg{"EdgeAdded", ed("x-h", "x", "h", 1, "RelationType", "peer")})
	return a
}

func TestGremlin(t *testing.T) {
	a := gremlinGraph(t)
	cases := []struct {
		query string
		want  []string // IDs in order; nil with wantCode 400
		code  int      // 0 means 200
	}{
		{query: "G.V()", want: []string{"br0", "h", "p1", "x"}},
		{query: "G.E()", want: []string{"br0-p1", "br0-p1-l2", "h-br0", "x-h"}},
		{query: "G.V().Has('Type','ovsbridge')", want: []string{"br0"}},
		{query: `g.V().Has("Type", "ovsport")`, want: []string{"p1"}},
		{query: "G.V().Has('@Origin','wirekeeper.h4')", want: []string{"br0", "h", "p1"}},
		{query: "G.V().Has('Origin','wirekeeper.h4')", want: []string{}},
		{query: "G.E().Has('@Origin','other.hB')", want: []string{"x-h"}},
		{query: "G.E().Has('@Origin','wirekeeper.h4').Has('RelationType','ownership')", want: []string{"br0-p1", "h-br0"}},
		{query: "G.V().Has('WireKeeper.Phase','applied')", want: []string{"br0"}},
		{query: "G.V().Has('WireKeeper')", want: []string{"br0"}},
		{query: "G.V().Has('Tags','b')", want: []string{"br0"}},
		{query: "G.V().Has('Type','host','@Host','hB')", want: []string{"x"}},
		{query: "G.V().Has('@ID','h')", want: []string{"h"}},
		{query: "G.V().Has('@Revision', 2)", want: []string{"x"}},
		{query: "G.V('p1', 'h')", want: []string{"h", "p1"}},
		{query: "G.E('x-h')", want: []string{"x-h"}},
		{query: "G.E().Has('RelationType','layer2').InV()", want: []string{"br0"}},
		{query: "G.E().Has('RelationType','layer2').OutV()", want: []string{"p1"}},
		{query: "G.V().Has('Name','name-br0').Out()", want: []string{"p1", "p1"}},
		{query: "G.V().Has('Name','name-br0').Out().Dedup()", want: []string{"p1"}},
		{query: "G.V().Has('Name','name-br0').In()", want: []string{"h"}},
		{query: "G.V().Has('Name','name-h').OutE()", want: []string{"h-br0"}},
		{query: "G.V().Has('Name','name-h').InE().Has('@Origin','other.hB')", want: []string{"x-h"}},
		{query: "G.V(", code: 400},
		{query: "V()", code: 400},
		{query: "G.Foo()", code: 400},
		{query: "G.V().Foo()", code: 400},
		{query: "G.V().Has('a','b','c')", code: 400},
		{query: "G.V().Has()", code: 400},
		{query: "G.V().Has('Type','host'", code: 400},
		{query: "G.V().Has('Type',host)", code: 400},
		{query: "G.V().Has('Type','host)", code: 400},
		{query: "G.V().InV()", code: 400},
		{query: "G.E().Out()", code: 400},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			req, _ := json.Marshal(map[string]string{"GremlinQuery": tc.query})
			code, body := rest(t, a, http.MethodPost, "/api/topology", string(req))
			wantCode := tc.code
			if wantCode == 0 {
				wantCode = 200
			}
			if code != wantCode {
				t.Fatalf("status %d (%s), want %d", code, body, wantCode)
			}
			if code != 200 {
				if !strings.Contains(body, "gremlin") {
					t.Errorf("400 without a message: %q", body)
				}
				return
			}
			var got []map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			ids := []string{}
			for _, el := range got {
				id, _ := el["ID"].(string)
				ids = append(ids, id)
				_, isEdge := el["Parent"]
				if _, ok := a.Edge(id); isEdge && !ok {
					t.Errorf("edge-shaped %q is no edge", id)
				}
				if _, ok := a.Node(id); !isEdge && !ok {
					t.Errorf("node-shaped %q is no node", id)
				}
			}
			if diff := cmp.Diff(tc.want, ids); diff != "" {
				t.Errorf("IDs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRESTTopology(t *testing.T) {
	a := gremlinGraph(t)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		reqBody := ""
		if method == http.MethodPost {
			reqBody = "{}" // no query: the whole topology
		}
		code, body := rest(t, a, method, "/api/topology", reqBody)
		if code != 200 {
			t.Fatalf("%s /api/topology: %d %s", method, code, body)
		}
		var got Topology
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(Topology{Nodes: a.Nodes(), Edges: a.Edges()}, got); diff != "" {
			t.Errorf("%s /api/topology (-want +got):\n%s", method, diff)
		}
	}
	if code, body := rest(t, a, http.MethodPost, "/api/topology", "not json"); code != 400 {
		t.Errorf("POST of a bad body: %d %s, want 400", code, body)
	}
}

func TestRESTElements(t *testing.T) {
	a := Start(t, Options{})
	do := func(method, path, body string, wantCode int) string {
		t.Helper()
		code, got := rest(t, a, method, path, body)
		if code != wantCode {
			t.Errorf("%s %s: %d (%s), want %d", method, path, code, got, wantCode)
		}
		return got
	}

	created := do("POST", "/api/node", `{"ID":"n1","Origin":"custom.o","Host":"h","Revision":1,"Metadata":{"Type":"host","Name":"n1"}}`, 200)
	var n1 Node
	if err := json.Unmarshal([]byte(created), &n1); err != nil {
		t.Fatal(err)
	}
	if n1.Origin != "custom.o" || n1.CreatedAt == 0 || n1.UpdatedAt == 0 {
		t.Errorf("created node %+v: want Origin kept and times filled", n1)
	}
	do("POST", "/api/node", `{"ID":"n1","Metadata":{"Type":"host","Name":"again"}}`, 409)
	do("POST", "/api/node", `{"ID":"bad","Metadata":{"Type":"netns","Name":"ns"}}`, 400)
	do("POST", "/api/node", `{"ID":"n2","Revision":1,"Metadata":{"Type":"ovsbridge","Name":"br0"}}`, 200)
	do("POST", "/api/edge", `{"ID":"e1","Parent":"n1","Child":"n2","Metadata":{"RelationType":"ownership"}}`, 200)
	do("POST", "/api/edge", `{"ID":"e2","Parent":"n1","Child":"nope","Metadata":{"RelationType":"ownership"}}`, 400)
	do("POST", "/api/edge", `{"ID":"e3","Parent":"n1","Child":"n2","Metadata":{}}`, 400)
	if !logged(a, "rest: POST /api/node bad dropped: invalid schema") || !logged(a, "e2 dropped: Child node not found") {
		t.Errorf("REST drops not logged:\n%s", strings.Join(a.Log(), "\n"))
	}

	var nodes map[string]Node
	json.Unmarshal([]byte(do("GET", "/api/node", "", 200)), &nodes)
	if diff := cmp.Diff(map[string]Node{"n1": a.Nodes()[0], "n2": a.Nodes()[1]}, nodes); diff != "" {
		t.Errorf("GET /api/node (-want +got):\n%s", diff)
	}
	var edges map[string]Edge
	json.Unmarshal([]byte(do("GET", "/api/edge", "", 200)), &edges)
	if len(edges) != 1 || edges["e1"].Parent != "n1" {
		t.Errorf("GET /api/edge: %+v", edges)
	}
	var got Node
	json.Unmarshal([]byte(do("GET", "/api/node/n1", "", 200)), &got)
	if diff := cmp.Diff(n1, got); diff != "" {
		t.Errorf("GET /api/node/n1 (-want +got):\n%s", diff)
	}
	do("GET", "/api/node/zzz", "", 404)
	do("GET", "/api/edge/zzz", "", 404)

	do("PATCH", "/api/node/n1", `[{"op":"add","path":"/Metadata/WireKeeper","value":{"Phase":"applied"}},{"op":"replace","path":"/Metadata/Name","value":"renamed"}]`, 200)
	if n, _ := a.Node("n1"); n.Revision != 2 || n.Metadata["Name"] != "renamed" || n.Origin != "custom.o" {
		t.Errorf("patched node %+v: want revision 2, Name renamed, Origin kept", n)
	}
	do("PATCH", "/api/node/n1", `[{"op":"remove","path":"/Metadata/Name"}]`, 400)
	do("PATCH", "/api/node/n1", `[{"op":"replace","path":"/Host","value":"x"}]`, 400)
	do("PATCH", "/api/node/zzz", `[]`, 404)
	do("PATCH", "/api/edge/e1", `[{"op":"replace","path":"/Metadata/RelationType","value":"layer2"}]`, 200)
	if e, _ := a.Edge("e1"); e.Metadata["RelationType"] != "layer2" || e.Revision != 1 {
		t.Errorf("patched edge %+v", e)
	}

	do("DELETE", "/api/node/n2", "", 200)
	if _, e := a.Counts(); e != 0 {
		t.Errorf("DELETE of a node left its edges: %+v", a.Edges())
	}
	do("DELETE", "/api/node/n2", "", 404)
	do("POST", "/api/node", `{"ID":"n3","Metadata":{"Type":"host","Name":"n3"}}`, 200)
	do("POST", "/api/edge", `{"ID":"e4","Parent":"n1","Child":"n3","Metadata":{"RelationType":"ownership"}}`, 200)
	do("DELETE", "/api/edge/e4", "", 200)
	do("DELETE", "/api/edge/e4", "", 404)
	if n, e := a.Counts(); n != 2 || e != 0 {
		t.Errorf("after deletes: %d nodes, %d edges; want 2, 0", n, e)
	}
}

func TestStatusListsPublishers(t *testing.T) {
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4", "X-Persistence-Policy", DeleteOnDisconnect)
	connect(t, a, "other", "hB")
	publish(t, a, c, msg{"NodeAdded", nd("a", "host", 1)})
	code, body := rest(t, a, http.MethodGet, "/api/status", "")
	if code != 200 {
		t.Fatalf("GET /api/status: %d %s", code, body)
	}
	var status struct {
		HostID     string
		Publishers map[string]Publisher
	}
	if err := json.Unmarshal([]byte(body), &status); err != nil {
		t.Fatal(err)
	}
	got := map[string][4]string{}
	for k, p := range status.Publishers {
		got[k] = [4]string{p.ClientType, p.Origin, p.Persistence, p.HostID}
	}
	want := map[string][4]string{
		"h4": {"wirekeeper", "wirekeeper.h4", DeleteOnDisconnect, "h4"},
		"hB": {"other", "other.hB", "", "hB"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("publishers (-want +got):\n%s", diff)
	}
	if status.HostID != HostID || status.Publishers["h4"].Messages != 1 || status.Publishers["h4"].RemoteAddr == "" {
		t.Errorf("status %+v", status)
	}
}
