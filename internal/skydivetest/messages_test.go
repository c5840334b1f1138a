package skydivetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
)

const own = "wirekeeper.h4" // the origin of the tests' publisher

func TestMessageRules(t *testing.T) {
	forged := nd("a", "ovsbridge", 1)
	forged.Host, forged.Origin = "h9", "forged.origin"
	updated := nd("a", "ovsbridge", 2, "New", "yes")
	updated.UpdatedAt = T0 + 1000
	updatedEdge := ed("e", "a", "b", 2, "Type", "patch")
	updatedEdge.UpdatedAt = T0 + 1000
	// EdgeUpdated never stores the revision: the edge keeps the one it was
	// added with.
	updatedEdgeStored := updatedEdge
	updatedEdgeStored.Revision = 1
	hosts := []msg{{"NodeAdded", nd("a", "host", 1)}, {"NodeAdded", nd("b", "host", 1)}}
	hostNodes := []Node{withOrigin(nd("a", "host", 1), own), withOrigin(nd("b", "host", 1), own)}

	cases := []struct {
		name      string
		msgs      []msg
		wantNodes []Node
		wantEdges []Edge
		wantLog   string // a line that must be logged; "" means no drop may be logged
	}{{
		name:      "NodeAdded: origin rewritten, host kept",
		msgs:      []msg{{"NodeAdded", forged}},
		wantNodes: []Node{withOrigin(forged, own)},
	}, {
		name:      "NodeAdded on an existing ID is ignored silently",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 1)}, {"NodeAdded", nd("a", "ovsbridge", 5, "New", "yes")}},
		wantNodes: []Node{withOrigin(nd("a", "ovsbridge", 1), own)},
	}, {
		name:      "NodeUpdated with a higher revision replaces the whole metadata",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 1, "Old", "x")}, {"NodeUpdated", updated}},
		wantNodes: []Node{withOrigin(updated, own)},
	}, {
		name:      "NodeUpdated with the same revision is ignored silently",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 2)}, {"NodeUpdated", updated}},
		wantNodes: []Node{withOrigin(nd("a", "ovsbridge", 2), own)},
	}, {
		name:      "NodeUpdated with a lower revision is ignored silently",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 3)}, {"NodeUpdated", updated}},
		wantNodes: []Node{withOrigin(nd("a", "ovsbridge", 3), own)},
	}, {
		name:    "NodeUpdated of an unknown node is logged",
		msgs:    []msg{{"NodeUpdated", updated}},
		wantLog: "NodeUpdated a dropped: node not found",
	}, {
		name:      "NodeUpdated failing the schema is dropped",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 1)}, {"NodeUpdated", Node{ID: "a", Revision: 2, Metadata: md("Type", "ovsbridge")}}},
		wantNodes: []Node{withOrigin(nd("a", "ovsbridge", 1), own)},
		wantLog:   "NodeUpdated a dropped: invalid schema: Metadata.Name",
	}, {
		name:      "EdgeAdded with a missing child is dropped",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 1)}, {"EdgeAdded", ed("e", "a", "gone", 1)}},
		wantNodes: []Node{withOrigin(nd("a", "ovsbridge", 1), own)},
		wantLog:   `EdgeAdded e dropped: Child node not found: "gone"`,
	}, {
		name:      "EdgeAdded with a missing parent is dropped",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 1)}, {"EdgeAdded", ed("e", "gone", "a", 1)}},
		wantNodes: []Node{withOrigin(nd("a", "ovsbridge", 1), own)},
		wantLog:   `EdgeAdded e dropped: Parent node not found: "gone"`,
	}, {
		name:      "EdgeAdded without RelationType is dropped",
		msgs:      append(hosts, msg{"EdgeAdded", Edge{ID: "e", Parent: "a", Child: "b", Metadata: md("Type", "patch")}}),
		wantNodes: hostNodes,
		wantLog:   "EdgeAdded e dropped: invalid schema: Metadata.RelationType",
	}, {
		name:      "EdgeAdded on an existing ID is ignored silently",
		msgs:      append(hosts, msg{"EdgeAdded", ed("e", "a", "b", 1)}, msg{"EdgeAdded", ed("e", "a", "b", 1, "Type", "again")}),
		wantNodes: hostNodes,
		wantEdges: []Edge{edgeWithOrigin(ed("e", "a", "b", 1), own)},
	}, {
		name:      "EdgeUpdated with a higher revision replaces metadata and UpdatedAt, never the revision",
		msgs:      append(hosts, msg{"EdgeAdded", ed("e", "a", "b", 1)}, msg{"EdgeUpdated", updatedEdge}),
		wantNodes: hostNodes,
		wantEdges: []Edge{edgeWithOrigin(updatedEdgeStored, own)},
	}, {
		name: "EdgeUpdated never stores the revision, so the same revision applies again",
		msgs: append(hosts, msg{"EdgeAdded", ed("e", "a", "b", 1)},
			msg{"EdgeUpdated", ed("e", "a", "b", 2, "Type", "first")}, msg{"EdgeUpdated", updatedEdge}),
		wantNodes: hostNodes,
		wantEdges: []Edge{edgeWithOrigin(updatedEdgeStored, own)},
	}, {
		name:      "EdgeUpdated with a revision not higher is logged as edge not found",
		msgs:      append(hosts, msg{"EdgeAdded", ed("e", "a", "b", 2)}, msg{"EdgeUpdated", updatedEdge}),
		wantNodes: hostNodes,
		wantEdges: []Edge{edgeWithOrigin(ed("e", "a", "b", 2), own)},
		wantLog:   "EdgeUpdated e dropped: edge not found",
	}, {
		name:    "EdgeUpdated of an unknown edge is logged",
		msgs:    []msg{{"EdgeUpdated", updatedEdge}},
		wantLog: "EdgeUpdated e dropped: edge not found",
	}, {
		name: "NodeDeleted with the node's metadata removes it with its edges",
		msgs: []msg{
			{"NodeAdded", nd("a", "host", 1)}, {"NodeAdded", nd("b", "ovsbridge", 1)}, {"NodeAdded", nd("c", "host", 1)},
			{"EdgeAdded", ed("ab", "a", "b", 1)}, {"EdgeAdded", ed("bc", "b", "c", 1)}, {"EdgeAdded", ed("ac", "a", "c", 1)},
			{"NodeDeleted", nd("b", "ovsbridge", 1)},
		},
		wantNodes: []Node{withOrigin(nd("a", "host", 1), own), withOrigin(nd("c", "host", 1), own)},
		wantEdges: []Edge{edgeWithOrigin(ed("ac", "a", "c", 1), own)},
	}, {
		name:      "NodeDeleted without the node's metadata is dropped",
		msgs:      []msg{{"NodeAdded", nd("a", "host", 1)}, {"NodeDeleted", Node{ID: "a"}}},
		wantNodes: []Node{withOrigin(nd("a", "host", 1), own)},
		wantLog:   "NodeDeleted a dropped: invalid schema: Metadata.Type",
	}, {
		name:      "EdgeDeleted with the edge's metadata removes the edge only",
		msgs:      append(hosts, msg{"EdgeAdded", ed("ab", "a", "b", 1)}, msg{"EdgeDeleted", ed("ab", "a", "b", 1)}),
		wantNodes: hostNodes,
	}, {
		name:      "EdgeDeleted without the edge's metadata is dropped",
		msgs:      append(hosts, msg{"EdgeAdded", ed("ab", "a", "b", 1)}, msg{"EdgeDeleted", Edge{ID: "ab", Parent: "a", Child: "b"}}),
		wantNodes: hostNodes,
		wantEdges: []Edge{edgeWithOrigin(ed("ab", "a", "b", 1), own)},
		wantLog:   "EdgeDeleted ab dropped: invalid schema: Metadata.RelationType",
	}, {
		name:      "EdgeDeleted without Parent and Child cannot be parsed",
		msgs:      append(hosts, msg{"EdgeAdded", ed("ab", "a", "b", 1)}, msg{"EdgeDeleted", Edge{ID: "ab", Metadata: md("RelationType", "ownership")}}),
		wantNodes: hostNodes,
		wantEdges: []Edge{edgeWithOrigin(ed("ab", "a", "b", 1), own)},
		wantLog:   "EdgeDeleted ignored: unable to parse: parent ID wrong format",
	}, {
		name:      "EdgeDeleted of an unknown edge is ignored silently",
		msgs:      append(hosts, msg{"EdgeDeleted", ed("nope", "a", "b", 1)}),
		wantNodes: hostNodes,
	}, {
		name:    "NodeDeleted of an unknown node is logged",
		msgs:    []msg{{"NodeDeleted", nd("nope", "host", 1)}},
		wantLog: "NodeDeleted nope dropped: node not found",
	}, {
		name: "partial updates are parsed, then ignored silently",
		msgs: []msg{{"NodeAdded", nd("a", "host", 1)}, {"NodePartiallyUpdated", map[string]any{
			"ID": "a", "Revision": 2, "Ops": []any{map[string]any{"Type": 1, "Key": "New", "Value": "yes"}}}}},
		wantNodes: []Node{withOrigin(nd("a", "host", 1), own)},
	}, {
		name: "a partial update the analyzer cannot parse is logged",
		msgs: []msg{{"NodeAdded", nd("a", "host", 1)}, {"NodePartiallyUpdated", map[string]any{
			"ID": "a", "Revision": 2, "Ops": []any{map[string]any{"Type": 7, "Key": "New", "Value": "yes"}}}}},
		wantNodes: []Node{withOrigin(nd("a", "host", 1), own)},
		wantLog:   "NodePartiallyUpdated ignored: unable to parse: invalid update operation 7",
	}, {
		name:      "a SyncReply from a publisher is applied as a Sync",
		msgs:      []msg{{"NodeAdded", nd("old", "host", 1)}, {"SyncReply", Topology{Nodes: []Node{nd("a", "host", 1)}}}},
		wantNodes: []Node{nd("a", "host", 1)},
	}, {
		name:    "an element without ID cannot be parsed",
		msgs:    []msg{{"NodeAdded", Node{Metadata: md("Type", "host", "Name", "x")}}},
		wantLog: "NodeAdded ignored: unable to parse: no ID found for graph element",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Start(t, Options{})
			c := connect(t, a, "wirekeeper", "h4")
			publish(t, a, c, tc.msgs...)
			if tc.wantNodes == nil {
				tc.wantNodes = []Node{}
			}
			if tc.wantEdges == nil {
				tc.wantEdges = []Edge{}
			}
			if diff := cmp.Diff(tc.wantNodes, a.Nodes()); diff != "" {
				t.Errorf("nodes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantEdges, a.Edges()); diff != "" {
				t.Errorf("edges (-want +got):\n%s", diff)
			}
			if tc.wantLog != "" && !logged(a, own, tc.wantLog) {
				t.Errorf("log has no line with %q:\n%s", tc.wantLog, strings.Join(a.Log(), "\n"))
			}
			if tc.wantLog == "" && (loggedNow(a, "dropped") || loggedNow(a, "ignored")) {
				t.Errorf("log shows a drop:\n%s", strings.Join(a.Log(), "\n"))
			}
		})
	}
}

func TestSchema(t *testing.T) {
	cases := []struct {
		name     string
		metadata map[string]any
		why      string // "" when accepted
	}{
		{"bridge", md("Type", "ovsbridge", "Name", "br0"), ""},
		{"no Type", md("Name", "br0"), "Metadata.Type"},
		{"empty Type", md("Type", "", "Name", "br0"), "Metadata.Type"},
		{"no Name", md("Type", "ovsbridge"), "Metadata.Name"},
		{"empty Name", md("Type", "ovsbridge", "Name", ""), "Metadata.Name"},
		{"Name not a string", md("Type", "ovsbridge", "Name", 7), "Metadata.Name"},
		{"no Metadata", nil, "Metadata.Type"},
		{"ovsport with UUID", md("Type", "ovsport", "Name", "p1", "UUID", "2222"), ""},
		{"ovsport with an empty UUID", md("Type", "ovsport", "Name", "p1", "UUID", ""), ""},
		{"ovsport without UUID", md("Type", "ovsport", "Name", "p1"), "Metadata.UUID"},
		{"ovsport with a null UUID", md("Type", "ovsport", "Name", "p1", "UUID", nil), "Metadata.UUID"},
		{"netns with Path", md("Type", "netns", "Name", "ns1", "Path", "/var/run/netns/ns1"), ""},
		{"netns with an empty Path", md("Type", "netns", "Name", "ns1", "Path", ""), ""},
		{"netns without Path", md("Type", "netns", "Name", "ns1"), "Metadata.Path"},
		{"interface needs no UUID", md("Type", "internal", "Name", "br0", "Driver", "openvswitch"), ""},
	}
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "node " + tc.name
			publish(t, a, c, msg{"NodeAdded", Node{ID: id, Metadata: tc.metadata}})
			_, stored := a.Node(id)
			if stored != (tc.why == "") {
				t.Errorf("stored = %v, want %v", stored, tc.why == "")
			}
			if tc.why != "" && !logged(a, id+" dropped: invalid schema: "+tc.why) {
				t.Errorf("log has no invalid schema line for %q:\n%s", id, strings.Join(a.Log(), "\n"))
			}
			if !stored {
				return
			}
			// The delete is checked against the same schema.
			publish(t, a, c, msg{"NodeDeleted", Node{ID: id, Metadata: tc.metadata}})
			if _, still := a.Node(id); still {
				t.Errorf("NodeDeleted with the node's own metadata left it:\n%s", strings.Join(a.Log(), "\n"))
			}
		})
	}
}

// rawMsg writes one raw graph message of type typ with obj as the JSON
// text of its Obj.
func rawMsg(t *testing.T, c *websocket.Conn, typ, obj string) {
	t.Helper()
	if err := c.WriteJSON(Message{Namespace: "Graph", Type: typ, Obj: json.RawMessage(obj)}); err != nil {
		t.Fatalf("send %s: %v", typ, err)
	}
}

func TestTimes(t *testing.T) {
	const hostMD = `"Metadata":{"Type":"host","Name":"x"}`
	const edgeMD = `"Metadata":{"RelationType":"ownership"}`
	cases := []struct {
		name        string
		add, update string // Obj of the NodeAdded and of a NodeUpdated (none when "")
		now         [2]bool
		want        [2]int64 // CreatedAt, UpdatedAt when not now
	}{
		{"missing times are now", `{"ID":"n",` + hostMD + `}`, "", [2]bool{true, true}, [2]int64{}},
		{"null times are now", `{"ID":"n","CreatedAt":null,"UpdatedAt":null,` + hostMD + `}`, "", [2]bool{true, true}, [2]int64{}},
		{"0 is stored as 1970", `{"ID":"n","CreatedAt":0,"UpdatedAt":0,` + hostMD + `}`, "", [2]bool{}, [2]int64{0, 0}},
		{"times as sent", `{"ID":"n","CreatedAt":5,"UpdatedAt":6,` + hostMD + `}`, "", [2]bool{}, [2]int64{5, 6}},
		{"an update without UpdatedAt is now", `{"ID":"n","CreatedAt":5,"UpdatedAt":6,` + hostMD + `}`,
			`{"ID":"n","Revision":1,` + hostMD + `}`, [2]bool{false, true}, [2]int64{5, 0}},
		{"an update with UpdatedAt 0 is 1970", `{"ID":"n","CreatedAt":5,"UpdatedAt":6,` + hostMD + `}`,
			`{"ID":"n","Revision":1,"UpdatedAt":0,` + hostMD + `}`, [2]bool{}, [2]int64{5, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Start(t, Options{})
			c := connect(t, a, "wirekeeper", "h4")
			before := time.Now().UnixMilli()
			want := a.Messages() + 1
			rawMsg(t, c, "NodeAdded", tc.add)
			if tc.update != "" {
				rawMsg(t, c, "NodeUpdated", tc.update)
				want++
			}
			// The same times on an edge between two nodes.
			rawMsg(t, c, "NodeAdded", `{"ID":"m",`+hostMD+`}`)
			edge := strings.Replace(tc.add, `"ID":"n",`, `"ID":"e","Parent":"n","Child":"m",`, 1)
			rawMsg(t, c, "EdgeAdded", strings.Replace(edge, hostMD, edgeMD, 1))
			want += 2
			waitUntil(t, a, "messages handled", func(a *Analyzer) bool { return a.Messages() >= want })
			after := time.Now().UnixMilli()
			n, ok := a.Node("n")
			if !ok {
				t.Fatalf("node not stored:\n%s", strings.Join(a.Log(), "\n"))
			}
			e, ok := a.Edge("e")
			if !ok {
				t.Fatalf("edge not stored:\n%s", strings.Join(a.Log(), "\n"))
			}
			check := func(what string, got int64, now bool, want int64) {
				if now && (got < before || got > after) {
					t.Errorf("%s = %d, want now, within [%d, %d]", what, got, before, after)
				}
				if !now && got != want {
					t.Errorf("%s = %d, want %d", what, got, want)
				}
			}
			check("node CreatedAt", n.CreatedAt, tc.now[0], tc.want[0])
			check("node UpdatedAt", n.UpdatedAt, tc.now[1], tc.want[1])
			if tc.update == "" {
				check("edge CreatedAt", e.CreatedAt, tc.now[0], tc.want[0])
				check("edge UpdatedAt", e.UpdatedAt, tc.now[1], tc.want[1])
			}
		})
	}
}

func TestSyncReplacesOnlyItsOrigin(t *testing.T) {
	a := Start(t, Options{})
	other := connect(t, a, "other", "hB")
	mine := connect(t, a, "wirekeeper", "hA")
	const mineOrigin, otherOrigin = "wirekeeper.hA", "other.hB"
	publish(t, a, other, msg{"NodeAdded", nd("b1", "host", 1)}, msg{"NodeAdded", nd("b2", "host", 1)})
	publish(t, a, mine,
		msg{"NodeAdded", nd("a1", "ovsbridge", 1)}, msg{"NodeAdded", nd("a2", "ovsbridge", 1)},
		msg{"EdgeAdded", ed("a1-a2", "a1", "a2", 1)},
		msg{"EdgeAdded", ed("b1-b2 by mine", "b1", "b2", 1)}) // mine's edge between other's nodes
	publish(t, a, other, msg{"EdgeAdded", ed("b1-a1", "b1", "a1", 1)}, msg{"EdgeAdded", ed("b1-b2", "b1", "b2", 1)})

	publish(t, a, mine, msg{"Sync", Topology{
		Nodes: []Node{
			withOrigin(nd("a3", "ovsbridge", 1), mineOrigin),
			withOrigin(nd("x1", "host", 1), "kept.origin"),
			withOrigin(nd("b1", "ovsbridge", 9), mineOrigin),                              // other's ID: skipped silently
			{ID: "bad", Origin: mineOrigin, Metadata: md("Type", "ovsport", "Name", "p")}, // no schema check
		},
		Edges: []Edge{
			edgeWithOrigin(ed("a3-b1", "a3", "b1", 1), mineOrigin),
			edgeWithOrigin(ed("b1-b2", "b1", "b2", 5), mineOrigin),   // other's ID: skipped silently
			edgeWithOrigin(ed("a3-gone", "a3", "a1", 1), mineOrigin), // a1 went with the Sync
		},
	}})

	wantNodes := []Node{
		withOrigin(nd("a3", "ovsbridge", 1), mineOrigin),
		withOrigin(nd("b1", "host", 1), otherOrigin),
		withOrigin(nd("b2", "host", 1), otherOrigin),
		{ID: "bad", Origin: mineOrigin, Metadata: md("Type", "ovsport", "Name", "p")},
		withOrigin(nd("x1", "host", 1), "kept.origin"),
	}
	wantEdges := []Edge{
		edgeWithOrigin(ed("a3-b1", "a3", "b1", 1), mineOrigin),
		edgeWithOrigin(ed("b1-b2", "b1", "b2", 1), otherOrigin),
		edgeWithOrigin(ed("b1-b2 by mine", "b1", "b2", 1), mineOrigin), // between other's nodes: survives
	}
	if diff := cmp.Diff(wantNodes, a.Nodes()); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEdges, a.Edges()); diff != "" {
		t.Errorf("edges (-want +got):\n%s", diff)
	}
	if line := `Sync edge a3-gone dropped: Child node not found: "a1"`; !logged(a, mineOrigin, line) {
		t.Errorf("log has no line with %q:\n%s", line, strings.Join(a.Log(), "\n"))
	}
	for _, id := range []string{"b1", "b1-b2", "bad"} {
		if loggedNow(a, " "+id+" dropped") {
			t.Errorf("%s logged as dropped:\n%s", id, strings.Join(a.Log(), "\n"))
		}
	}
}

func TestSyncRequestIsAnsweredWithTheWholeGraph(t *testing.T) {
	a := Start(t, Options{})
	other := connect(t, a, "other", "hB")
	publish(t, a, other, msg{"NodeAdded", nd("b1", "host", 1)})
	c := connect(t, a, "wirekeeper", "h4")
	publish(t, a, c, msg{"NodeAdded", nd("a1", "ovsbridge", 1)}, msg{"EdgeAdded", ed("a1-b1", "a1", "b1", 1)})

	if err := c.WriteJSON(Message{Namespace: "Graph", Type: "SyncRequest", UUID: "req-1", Obj: json.RawMessage(`{"GremlinFilter":"G.V()"}`)}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	mt, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("no SyncReply: %v", err)
	}
	if mt != websocket.TextMessage {
		t.Errorf("message type %d, want text", mt)
	}
	var got Message
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	var topo Topology
	if err := json.Unmarshal(got.Obj, &topo); err != nil {
		t.Fatal(err)
	}
	got.Obj = nil
	if diff := cmp.Diff(Message{Namespace: "Graph", Type: "SyncReply", UUID: "req-1", Status: 200}, got); diff != "" {
		t.Errorf("reply (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Topology{Nodes: a.Nodes(), Edges: a.Edges()}, topo); diff != "" {
		t.Errorf("reply graph (-want +got):\n%s", diff)
	}
	if len(topo.Nodes) != 2 || len(topo.Edges) != 1 {
		t.Errorf("reply holds %d nodes and %d edges, want 2 and 1", len(topo.Nodes), len(topo.Edges))
	}
}

func TestInputNeverAnswered(t *testing.T) {
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	for _, raw := range []string{`not json`, `{"Namespace":"Other","Type":"NodeAdded","Obj":{"ID":"o"}}`} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, a, c, msg{"NodeAdded", Node{ID: "x"}}, msg{"Bogus", nil})
	for _, line := range []string{"invalid message ignored", "NodeAdded x dropped: invalid schema"} {
		if !logged(a, line) {
			t.Errorf("log has no line with %q:\n%s", line, strings.Join(a.Log(), "\n"))
		}
	}
	// Nothing comes back: the next frame the client could read would be a
	// reply; the read must time out instead (pings are answered silently).
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, data, err := c.ReadMessage(); err == nil {
		t.Errorf("the analyzer answered bad input with %s", data)
	}
}

func TestSilence(t *testing.T) {
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	publish(t, a, c, msg{"NodeAdded", nd("a", "host", 1)}, msg{"NodeAdded", nd("b", "host", 1)},
		msg{"EdgeAdded", ed("e", "a", "b", 1)})
	// An unknown namespace is not even counted: a marker message after it
	// shows it was read.
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"Namespace":"Other","Type":"NodeAdded","Obj":{"ID":"o"}}`)); err != nil {
		t.Fatal(err)
	}
	publish(t, a, c,
		msg{"NodeAdded", nd("a", "host", 1, "New", "re-add")},   // re-add
		msg{"EdgeAdded", ed("e", "a", "b", 1, "New", "re-add")}, // re-add
		msg{"NodeUpdated", nd("a", "host", 1, "New", "stale")},  // stale revision
		msg{"Bogus", map[string]any{"ID": "a"}},                 // unknown type
		msg{"EdgeDeleted", ed("nope", "a", "b", 1)},             // unknown edge
		msg{"NodeAdded", nd("marker", "host", 1)})
	if _, ok := a.Node("marker"); !ok {
		t.Fatalf("marker not stored:\n%s", strings.Join(a.Log(), "\n"))
	}
	for _, l := range a.Log() {
		if !strings.Contains(l, "publisher connected") {
			t.Errorf("logged: %s", l)
		}
	}
	if n, _ := a.Node("a"); n.Metadata["New"] != nil {
		t.Errorf("node a changed: %v", n.Metadata)
	}
	if _, ok := a.Node("o"); ok {
		t.Errorf("the message of namespace Other was applied")
	}
}
