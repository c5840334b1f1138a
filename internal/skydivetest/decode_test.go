package skydivetest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// restMetadata reads a node over REST and returns the JSON text of its
// metadata key (re-encoded, so map keys are sorted), "" when the node or
// the key is missing.
func restMetadata(t *testing.T, a *Analyzer, id, key string) string {
	t.Helper()
	code, body := rest(t, a, http.MethodGet, "/api/node/"+id, "")
	if code == http.StatusNotFound {
		return ""
	}
	if code != http.StatusOK {
		t.Fatalf("GET /api/node/%s: %d %s", id, code, body)
	}
	var n struct{ Metadata map[string]any }
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		t.Fatal(err)
	}
	v, ok := n.Metadata[key]
	if !ok {
		return ""
	}
	return canonical(t, v)
}

// canonical re-encodes a JSON value, or the JSON text s, with sorted keys.
func canonical(t *testing.T, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTheExportBugIsVisible is issue 16's bug: the analyzer decodes Ovs into
// SkyDive's OvsMetadata, which has no slot for wirekeeper's VLAN fields and
// drops empty ones, so what it serves back is not what was published.
func TestTheExportBugIsVisible(t *testing.T) {
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	port := nd("port", "ovsport", 1, "UUID", "2222",
		"Ovs", md("Tag", 100, "Trunks", []any{1, 2}, "VLANMode", "access"))
	bridge := nd("bridge", "ovsbridge", 1, "UUID", "1111",
		"Ovs", md("OtherConfig", nil, "Protocols", []any{}, "FailMode", "secure"))
	publish(t, a, c, msg{"NodeAdded", port}, msg{"NodeAdded", bridge})

	code, body := rest(t, a, http.MethodGet, "/api/topology", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/topology: %d %s", code, body)
	}
	var topo struct {
		Nodes []struct {
			ID       string
			Metadata map[string]any
		}
	}
	if err := json.Unmarshal([]byte(body), &topo); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range topo.Nodes {
		got[n.ID] = canonical(t, n.Metadata["Ovs"])
	}
	if diff := cmp.Diff(map[string]string{"port": "{}", "bridge": "{}"}, got); diff != "" {
		t.Errorf("Ovs read back (-want +got):\n%s", diff)
	}
	if loggedNow(a, "dropped") || loggedNow(a, "ignored") {
		t.Errorf("the analyzer logged the loss, it does not:\n%s", strings.Join(a.Log(), "\n"))
	}
}

func TestOvsDecoder(t *testing.T) {
	cases := []struct {
		name string
		ovs  string // the Ovs value published
		want string // the Ovs value served; "" when the node is dropped
	}{
		{"wirekeeper's port VLAN fields are dropped", `{"Tag":100,"Trunks":[1,2],"VLANMode":"access"}`, `{}`},
		{"null and empty fields are dropped", `{"OtherConfig":null,"Protocols":[],"FailMode":"secure"}`, `{}`},
		{"every field of OvsMetadata is kept",
			`{"OtherConfig":{"a":"b"},"Options":{"peer":"p2"},"Protocols":["OpenFlow13","OpenFlow10"],"DBVersion":"8.3.0","Version":"3.1.0","Error":"e"}`,
			`{"DBVersion":"8.3.0","Error":"e","Options":{"peer":"p2"},"OtherConfig":{"a":"b"},"Protocols":["OpenFlow13","OpenFlow10"],"Version":"3.1.0"}`},
		{"empty maps and strings are dropped", `{"OtherConfig":{},"Options":{},"DBVersion":"","Version":"","Error":""}`, `{}`},
		{"known fields next to unknown ones", `{"OtherConfig":{"a":"b"},"Tag":5}`, `{"OtherConfig":{"a":"b"}}`},
		{"field names match case and all", `{"otherconfig":{"a":"b"},"PROTOCOLS":["x"]}`, `{}`},
		{"Ovs null is the empty structure", `null`, `{}`},
		{"metrics keep their non-zero known counters",
			`{"Metric":{"RxBytes":10,"TxBytes":0,"Foo":3,"Last":1700000000000},"LastUpdateMetric":{}}`,
			`{"LastUpdateMetric":{},"Metric":{"Last":1700000000000,"RxBytes":10}}`},
		{"a map of non-strings cannot be decoded", `{"OtherConfig":{"a":1}}`, ""},
		{"a list that is a string cannot be decoded", `{"Protocols":"OpenFlow13"}`, ""},
		{"a list of non-strings cannot be decoded", `{"Protocols":[13]}`, ""},
		{"a number for a string cannot be decoded", `{"Version":3}`, ""},
		{"a fraction for a counter cannot be decoded", `{"Metric":{"RxBytes":1.5}}`, ""},
		{"Ovs that is not an object cannot be decoded", `"secure"`, ""},
		{"Ovs that is a list cannot be decoded", `[]`, ""},
	}
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "n" + string(rune('a'+i))
			publish(t, a, c, msg{"NodeAdded", nd(id, "ovsbridge", 1, "Ovs", json.RawMessage(tc.ovs))})
			got := restMetadata(t, a, id, "Ovs")
			if tc.want == "" {
				if got != "" {
					t.Errorf("stored with Ovs %s, want the node dropped", got)
				}
				if !logged(a, "NodeAdded ignored: unable to parse: metadata Ovs", tc.ovs) {
					t.Errorf("no parse error logged:\n%s", strings.Join(a.Log(), "\n"))
				}
				return
			}
			if got != tc.want {
				t.Errorf("Ovs %s read back as %s, want %s", tc.ovs, got, tc.want)
			}
		})
	}
}

func TestContainerDecoderAndUndecodedKeys(t *testing.T) {
	cases := []struct {
		name, key, value, want string
	}{
		{"Container gets its fixed fields", "Container", `{"ID":"c1","Runtime":"docker","Foo":1}`,
			`{"Hosts":{},"ID":"c1","InitProcessPID":0,"Runtime":"docker","Status":""}`},
		{"Container keeps Image, Labels and Hosts when set", "Container",
			`{"ID":"c1","Image":"busybox","ImageID":"","Labels":{"a":"b"},"Hosts":{"IP":"10.0.0.2","ByIP":{}},"InitProcessPID":42}`,
			`{"Hosts":{"IP":"10.0.0.2"},"ID":"c1","Image":"busybox","InitProcessPID":42,"Labels":{"a":"b"},"Runtime":"","Status":""}`},
		{"Docker is not decoded by v0.28", "Docker", `{"ContainerID":"abc","ContainerName":"vm1","Extra":[]}`,
			`{"ContainerID":"abc","ContainerName":"vm1","Extra":[]}`},
		{"WireKeeper is not decoded", "WireKeeper", `{"Object":"OVSBridge/br0","Phase":"Ready","Empty":{}}`,
			`{"Empty":{},"Object":"OVSBridge/br0","Phase":"Ready"}`},
		{"ExtID is not decoded", "ExtID", `{"wirekeeper-owner":"n1"}`, `{"wirekeeper-owner":"n1"}`},
		{"top-level Metric is an interface metric", "Metric", `{"RxPackets":3,"TxPackets":0}`, `{"RxPackets":3}`},
	}
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "n" + string(rune('a'+i))
			publish(t, a, c, msg{"NodeAdded", nd(id, "container", 1, tc.key, json.RawMessage(tc.value))})
			if got := restMetadata(t, a, id, tc.key); got != tc.want {
				t.Errorf("%s %s read back as %s, want %s\n%s", tc.key, tc.value, got, tc.want, strings.Join(a.Log(), "\n"))
			}
		})
	}
}

// TestDecodingAppliesEverywhere: every way an element enters the graph
// goes through the decoders, and every way out serves the decoded form.
func TestDecodingAppliesEverywhere(t *testing.T) {
	const tagged = `{"Tag":100,"OtherConfig":{"a":"b"}}`
	const want = `{"OtherConfig":{"a":"b"}}`
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")

	publish(t, a, c, msg{"NodeAdded", nd("upd", "ovsbridge", 1)},
		msg{"NodeUpdated", nd("upd", "ovsbridge", 2, "Ovs", json.RawMessage(tagged))},
		msg{"Sync", Topology{Nodes: []Node{nd("synced", "ovsbridge", 1, "Ovs", json.RawMessage(tagged))}}})
	code, body := rest(t, a, http.MethodPost, "/api/node", `{"ID":"posted","Metadata":{"Type":"ovsbridge","Name":"p","Ovs":`+tagged+`}}`)
	if code != http.StatusOK {
		t.Fatalf("POST /api/node: %d %s", code, body)
	}
	for _, id := range []string{"synced", "posted"} {
		if got := restMetadata(t, a, id, "Ovs"); got != want {
			t.Errorf("%s: Ovs %s, want %s", id, got, want)
		}
	}
	// The Sync replaced this origin's nodes: upd went with it, so check
	// the update on a node of another origin.
	other := connect(t, a, "other", "hB")
	publish(t, a, other, msg{"NodeAdded", nd("upd", "ovsbridge", 1)},
		msg{"NodeUpdated", nd("upd", "ovsbridge", 2, "Ovs", json.RawMessage(tagged))})
	if got := restMetadata(t, a, "upd", "Ovs"); got != want {
		t.Errorf("NodeUpdated: Ovs %s, want %s", got, want)
	}

	// A patch goes through the decoder too.
	code, body = rest(t, a, http.MethodPatch, "/api/node/posted", `[{"op":"add","path":"/Metadata/Ovs/Trunks","value":[1,2]},{"op":"add","path":"/Metadata/Ovs/Version","value":"3.1"}]`)
	if code != http.StatusOK {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	if got, want := restMetadata(t, a, "posted", "Ovs"), `{"OtherConfig":{"a":"b"},"Version":"3.1"}`; got != want {
		t.Errorf("patched Ovs %s, want %s", got, want)
	}
	if code, body := rest(t, a, http.MethodPatch, "/api/node/posted", `[{"op":"add","path":"/Metadata/Ovs/Version","value":3}]`); code != http.StatusBadRequest {
		t.Errorf("PATCH with an undecodable Ovs: %d %s, want 400", code, body)
	}
	if code, body := rest(t, a, http.MethodPost, "/api/node", `{"ID":"bad","Metadata":{"Type":"ovsbridge","Name":"b","Ovs":{"Protocols":"x"}}}`); code != http.StatusBadRequest {
		t.Errorf("POST with an undecodable Ovs: %d %s, want 400", code, body)
	}

	// The Gremlin API and the SyncReply see the decoded form.
	q, _ := json.Marshal(map[string]string{"GremlinQuery": "G.V().Has('Ovs.Tag', 100)"})
	if code, body := rest(t, a, http.MethodPost, "/api/topology", string(q)); code != 200 || body != "[]" {
		t.Errorf("Has('Ovs.Tag', 100): %d %s, want []", code, body)
	}
	reply := syncReply(t, c)
	for _, n := range reply.Nodes {
		if got := canonical(t, n.Metadata["Ovs"]); got != want && n.ID != "posted" {
			t.Errorf("SyncReply: %s has Ovs %s, want %s", n.ID, got, want)
		}
	}
}

// syncReply sends a SyncRequest on c and returns the graph of the reply.
func syncReply(t *testing.T, c interface {
	WriteJSON(any) error
	ReadJSON(any) error
}) Topology {
	t.Helper()
	if err := c.WriteJSON(Message{Namespace: "Graph", Type: "SyncRequest", UUID: "r", Obj: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("no SyncReply: %v", err)
	}
	var topo Topology
	if err := json.Unmarshal(m.Obj, &topo); err != nil {
		t.Fatal(err)
	}
	return topo
}

// TestAnUndecodableElementDropsTheWholeMessage: the analyzer parses a
// message as a whole, so one element its decoders refuse loses the message:
// a Sync with one is dropped before it deletes anything, and a partial
// update's value goes through the decoder too.
func TestAnUndecodableElementDropsTheWholeMessage(t *testing.T) {
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	publish(t, a, c, msg{"NodeAdded", nd("kept", "ovsbridge", 1)})
	publish(t, a, c, msg{"Sync", Topology{Nodes: []Node{
		nd("fine", "ovsbridge", 1),
		nd("broken", "ovsbridge", 1, "Ovs", md("OtherConfig", md("a", 1))),
	}}})
	var ids []string
	for _, n := range a.Nodes() {
		ids = append(ids, n.ID)
	}
	if diff := cmp.Diff([]string{"kept"}, ids); diff != "" {
		t.Errorf("nodes after an undecodable Sync (-want +got):\n%s", diff)
	}
	if !logged(a, own, "Sync ignored: unable to parse: metadata Ovs") {
		t.Errorf("no parse error logged for the Sync:\n%s", strings.Join(a.Log(), "\n"))
	}
	publish(t, a, c, msg{"NodePartiallyUpdated", map[string]any{"ID": "kept", "Revision": 2,
		"Ops": []any{map[string]any{"Type": 1, "Key": "Ovs", "Value": md("Protocols", "x")}}}})
	if !logged(a, own, `NodePartiallyUpdated ignored: unable to parse: partial update of key "Ovs"`) {
		t.Errorf("no parse error logged for the partial update:\n%s", strings.Join(a.Log(), "\n"))
	}
}
