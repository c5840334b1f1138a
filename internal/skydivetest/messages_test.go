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

	cases := []struct {
		name      string
		msgs      []msg
		wantNodes []Node
		wantEdges []Edge
		wantLog   string // a line that must be logged; "" means nothing dropped
	}{{
		name:      "NodeAdded: origin rewritten, host kept",
		msgs:      []msg{{"NodeAdded", forged}},
		wantNodes: []Node{func() Node { n := withOrigin(forged, own); return n }()},
	}, {
		name:      "NodeAdded on an existing ID is ignored",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 1)}, {"NodeAdded", nd("a", "ovsbridge", 5, "New", "yes")}},
		wantNodes: []Node{withOrigin(nd("a", "ovsbridge", 1), own)},
		wantLog:   "NodeAdded a dropped: ignored re-add",
	}, {
		name:      "NodeUpdated with a higher revision replaces the whole metadata",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 1, "Old", "x")}, {"NodeUpdated", updated}},
		wantNodes: []Node{withOrigin(updated, own)},
	}, {
		name:      "NodeUpdated with the same revision is ignored",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 2)}, {"NodeUpdated", updated}},
		wantNodes: []Node{withOrigin(nd("a", "ovsbridge", 2), own)},
		wantLog:   "NodeUpdated a dropped: revision not higher: got 2, stored 2",
	}, {
		name:      "NodeUpdated with a lower revision is ignored",
		msgs:      []msg{{"NodeAdded", nd("a", "ovsbridge", 3)}, {"NodeUpdated", updated}},
		wantNodes: []Node{withOrigin(nd("a", "ovsbridge", 3), own)},
		wantLog:   "revision not higher: got 2, stored 3",
	}, {
		name:    "NodeUpdated of an unknown node is ignored",
		msgs:    []msg{{"NodeUpdated", updated}},
		wantLog: "NodeUpdated a dropped: node not found",
	}, {
		name:      "NodeUpdated failing the schema is ignored",
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
		msgs:      []msg{{"NodeAdded", nd("a", "host", 1)}, {"NodeAdded", nd("b", "host", 1)}, {"EdgeAdded", Edge{ID: "e", Parent: "a", Child: "b", Metadata: md("Type", "patch")}}},
		wantNodes: []Node{withOrigin(nd("a", "host", 1), own), withOrigin(nd("b", "host", 1), own)},
		wantLog:   "EdgeAdded e dropped: invalid schema: Metadata.RelationType",
	}, {
		name: "EdgeAdded on an existing ID is ignored, EdgeUpdated follows the revision rule",
		msgs: []msg{
			{"NodeAdded", nd("a", "host", 1)}, {"NodeAdded", nd("b", "host", 1)},
			{"EdgeAdded", ed("e", "a", "b", 1)}, {"EdgeAdded", ed("e", "a", "b", 1, "Type", "again")},
			{"EdgeUpdated", updatedEdge}, {"EdgeUpdated", ed("e", "a", "b", 2, "Type", "same revision")},
		},
		wantNodes: []Node{withOrigin(nd("a", "host", 1), own), withOrigin(nd("b", "host", 1), own)},
		wantEdges: []Edge{edgeWithOrigin(updatedEdge, own)},
		wantLog:   "EdgeUpdated e dropped: revision not higher: got 2, stored 2",
	}, {
		name:    "EdgeUpdated of an unknown edge is ignored",
		msgs:    []msg{{"EdgeUpdated", updatedEdge}},
		wantLog: "EdgeUpdated e dropped: edge not found",
	}, {
		name: "NodeDeleted removes the node's edges",
		msgs: []msg{
			{"NodeAdded", nd("a", "host", 1)}, {"NodeAdded", nd("b", "ovsbridge", 1)}, {"NodeAdded", nd("c", "host", 1)},
			{"EdgeAdded", ed("ab", "a", "b", 1)}, {"EdgeAdded", ed("bc", "b", "c", 1)}, {"EdgeAdded", ed("ac", "a", "c", 1)},
			{"NodeDeleted", Node{ID: "b"}},
		},
		wantNodes: []Node{withOrigin(nd("a", "host", 1), own), withOrigin(nd("c", "host", 1), own)},
		wantEdges: []Edge{edgeWithOrigin(ed("ac", "a", "c", 1), own)},
	}, {
		name: "EdgeDeleted removes the edge only",
		msgs: []msg{
			{"NodeAdded", nd("a", "host", 1)}, {"NodeAdded", nd("b", "host", 1)},
			{"EdgeAdded", ed("ab", "a", "b", 1)}, {"EdgeDeleted", Edge{ID: "ab"}},
		},
		wantNodes: []Node{withOrigin(nd("a", "host", 1), own), withOrigin(nd("b", "host", 1), own)},
	}, {
		name:    "NodeDeleted of an unknown node is logged",
		msgs:    []msg{{"NodeDeleted", Node{ID: "nope"}}},
		wantLog: "NodeDeleted nope dropped: node not found",
	}, {
		name:      "partial updates are unsupported",
		msgs:      []msg{{"NodeAdded", nd("a", "host", 1)}, {"NodePartiallyUpdated", map[string]any{"ID": "a"}}},
		wantNodes: []Node{withOrigin(nd("a", "host", 1), own)},
		wantLog:   "NodePartiallyUpdated ignored: unsupported",
	}, {
		name:    "SyncReply from a publisher is ignored",
		msgs:    []msg{{"SyncReply", Topology{Nodes: []Node{nd("a", "host", 1)}}}},
		wantLog: "SyncReply from a publisher ignored",
	}, {
		name:    "an element without ID is ignored",
		msgs:    []msg{{"NodeAdded", Node{Metadata: md("Type", "host", "Name", "x")}}},
		wantLog: "NodeAdded ignored: invalid object: no ID",
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
		{"ovsport without UUID", md("Type", "ovsport", "Name", "p1"), "Metadata.UUID"},
		{"netns with Path", md("Type", "netns", "Name", "ns1", "Path", "/var/run/netns/ns1"), ""},
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
		})
	}
}

func TestMissingTimesAreFilled(t *testing.T) {
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	before := time.Now().UnixMilli()
	publish(t, a, c, msg{"NodeAdded", Node{ID: "a", Metadata: md("Type", "host", "Name", "a")}},
		msg{"NodeAdded", Node{ID: "b", Metadata: md("Type", "host", "Name", "b")}},
		msg{"EdgeAdded", Edge{ID: "e", Parent: "a", Child: "b", Metadata: md("RelationType", "ownership")}})
	after := time.Now().UnixMilli()
	n, _ := a.Node("a")
	e, _ := a.Edge("e")
	for what, v := range map[string]int64{"node CreatedAt": n.CreatedAt, "node UpdatedAt": n.UpdatedAt, "edge CreatedAt": e.CreatedAt, "edge UpdatedAt": e.UpdatedAt} {
		if v < before || v > after {
			t.Errorf("%s = %d, want within [%d, %d]", what, v, before, after)
		}
	}
	if n.Revision != 0 || e.Revision != 0 {
		t.Errorf("revisions = %d, %d; want the 0 sent", n.Revision, e.Revision)
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
			withOrigin(nd("b1", "ovsbridge", 9), mineOrigin), // other's ID: ignored
			{ID: "bad", Origin: mineOrigin, Metadata: md("Type", "ovsport", "Name", "p")},
		},
		Edges: []Edge{
			edgeWithOrigin(ed("a3-b1", "a3", "b1", 1), mineOrigin),
			edgeWithOrigin(ed("a3-gone", "a3", "a1", 1), mineOrigin), // a1 went with the Sync
		},
	}})

	wantNodes := []Node{
		withOrigin(nd("a3", "ovsbridge", 1), mineOrigin),
		withOrigin(nd("b1", "host", 1), otherOrigin),
		withOrigin(nd("b2", "host", 1), otherOrigin),
		withOrigin(nd("x1", "host", 1), "kept.origin"),
	}
	wantEdges := []Edge{
		edgeWithOrigin(ed("a3-b1", "a3", "b1", 1), mineOrigin),
		edgeWithOrigin(ed("b1-b2", "b1", "b2", 1), otherOrigin),
	}
	if diff := cmp.Diff(wantNodes, a.Nodes()); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantEdges, a.Edges()); diff != "" {
		t.Errorf("edges (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		"Sync node b1 dropped: ignored re-add",
		"Sync node bad dropped: invalid schema: Metadata.UUID",
		`Sync edge a3-gone dropped: Child node not found: "a1"`,
	} {
		if !logged(a, mineOrigin, line) {
			t.Errorf("log has no line with %q:\n%s", line, strings.Join(a.Log(), "\n"))
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
	for _, raw := range []string{`not json`, `{"Namespace":"Other","Type":"NodeAdded"}`} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, a, c, msg{"NodeAdded", Node{ID: "x"}}, msg{"Bogus", nil})
	for _, line := range []string{"invalid message ignored", `message of namespace "Other" ignored`,
		"NodeAdded x dropped: invalid schema", `unknown message type "Bogus"`} {
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
