package skydive

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAsAnalyzerKeepsAppliesTheDecoders(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"fields SkyDive has no slot for are dropped",
			`{"Type":"ovsport","Ovs":{"Tag":100,"Trunks":[1,2],"VLANMode":"trunk","FailMode":"secure"}}`,
			`{"Type":"ovsport","Ovs":{}}`},
		{"empty fields are dropped",
			`{"Ovs":{"OtherConfig":null,"Options":{},"Protocols":[],"DBVersion":"","Version":"","Error":""}}`,
			`{"Ovs":{}}`},
		{"non-empty fields are kept",
			`{"Ovs":{"OtherConfig":{"a":"1"},"Options":{"peer":"x"},"Protocols":["OpenFlow13"],"DBVersion":"8.3","Version":"3.1","Error":"e"}}`,
			`{"Ovs":{"OtherConfig":{"a":"1"},"Options":{"peer":"x"},"Protocols":["OpenFlow13"],"DBVersion":"8.3","Version":"3.1","Error":"e"}}`},
		{"a metric present stays, even empty: the structure holds a pointer",
			`{"Ovs":{"Metric":{},"LastUpdateMetric":null}}`,
			`{"Ovs":{"Metric":{}}}`},
		{"Container gets its fixed fields, missing ones filled in, unknown ones dropped",
			`{"Type":"container","Container":{"ID":"c1","Runtime":"docker","Foo":1}}`,
			`{"Type":"container","Container":{"Hosts":{},"ID":"c1","InitProcessPID":0,"Runtime":"docker","Status":""}}`},
		{"Container drops its empty omitempty fields, in Hosts too",
			`{"Container":{"ID":"c1","Image":"","ImageID":"","Labels":{},"Hosts":{"IP":"","Hostname":"","ByIP":{}},"Status":null}}`,
			`{"Container":{"Hosts":{},"ID":"c1","InitProcessPID":0,"Runtime":"","Status":""}}`},
		{"Container keeps Image, ImageID, Labels and Hosts when set",
			`{"Container":{"ID":"c1","Image":"busybox","ImageID":"sha256:1","Labels":{"a":"b"},"Hosts":{"IP":"10.0.0.2","ByIP":{"10.0.0.2":["c1"]}},"InitProcessPID":42,"Runtime":"docker","Status":"running"}}`,
			`{"Container":{"Hosts":{"ByIP":{"10.0.0.2":["c1"]},"IP":"10.0.0.2"},"ID":"c1","Image":"busybox","ImageID":"sha256:1","InitProcessPID":42,"Labels":{"a":"b"},"Runtime":"docker","Status":"running"}}`},
		{"Container as the container provider publishes it is kept as it is",
			`{"Container":{"Hosts":{},"ID":"c1","Image":"local/busybox:test","ImageID":"sha256:1","InitProcessPID":4242,"Runtime":"docker","Status":"running"},"Docker":{"ContainerID":"c1","ContainerName":"c"}}`,
			`{"Container":{"Hosts":{},"ID":"c1","Image":"local/busybox:test","ImageID":"sha256:1","InitProcessPID":4242,"Runtime":"docker","Status":"running"},"Docker":{"ContainerID":"c1","ContainerName":"c"}}`},
		{"a decoded key sent as null is the empty structure",
			`{"Ovs":null,"Container":null}`,
			`{"Ovs":{},"Container":{"Hosts":{},"ID":"","InitProcessPID":0,"Runtime":"","Status":""}}`},
		{"a decoded key of another type is left for the analyzer to refuse",
			`{"Ovs":"x","Container":["c1"]}`,
			`{"Ovs":"x","Container":["c1"]}`},
		{"other keys are kept as they are, empty or not",
			`{"Vlans":100,"WireKeeperOvs":{"Trunks":[]},"Docker":{"ContainerID":"c1"},"Interfaces":null}`,
			`{"Vlans":100,"WireKeeperOvs":{"Trunks":[]},"Docker":{"ContainerID":"c1"},"Interfaces":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in, want map[string]any
			if err := json.Unmarshal([]byte(tc.in), &in); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			before, _ := json.Marshal(in)
			got := asAnalyzerKeeps(in)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if after, _ := json.Marshal(in); string(after) != string(before) {
				t.Errorf("the input was changed: %s, was %s", after, before)
			}
		})
	}
}

func TestDifferingKeysNamesOneLevelIntoObjects(t *testing.T) {
	a := map[string]any{"Name": "p1", "Vlans": 100.0, "Ovs": map[string]any{"OtherConfig": map[string]any{"a": "1"}}, "Gone": true}
	b := map[string]any{"Name": "p1", "Ovs": map[string]any{"OtherConfig": map[string]any{"a": "2"}, "Error": "x"}, "New": 1.0}
	want := []string{"Gone", "New", "Ovs.Error", "Ovs.OtherConfig", "Vlans"}
	if diff := cmp.Diff(want, differingKeys(a, b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := differingKeys(a, a); len(got) != 0 {
		t.Errorf("a against itself: %v", got)
	}
}

// analyzerOf returns what an analyzer that decodes as SkyDive does would
// serve for the published graph s: Ovs reshaped, keys in another order.
func analyzerOf(t *testing.T, s *graphState) ([]wireNode, []wireEdge) {
	t.Helper()
	full := origin{host: "h1", origin: "wirekeeper.h1"}.syncMessage(s).Obj.(syncObj)
	nodes := append([]wireNode(nil), full.Nodes...)
	for i := range nodes {
		var md map[string]any
		if err := json.Unmarshal(nodes[i].Metadata, &md); err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(asAnalyzerKeeps(md))
		if err != nil {
			t.Fatal(err)
		}
		nodes[i].Metadata = b
	}
	return nodes, full.Edges
}

func TestCompareGoesThroughTheAnalyzersDecoding(t *testing.T) {
	s := newGraphState()
	// Published as main did: fields the analyzer drops inside Ovs.
	s.nodes["br"] = &stateNode{md: []byte(`{"Type":"ovsbridge","Name":"br0","Ovs":{"OtherConfig":null,"Protocols":[],"FailMode":"secure"}}`), rev: 1}
	s.nodes["p1"] = &stateNode{md: []byte(`{"Type":"ovsport","Name":"p1","UUID":"u1","Vlans":100,"Ovs":{"Tag":100}}`), rev: 1}
	s.edges["e1"] = &stateEdge{parent: "br", child: "p1", md: []byte(`{"RelationType":"ownership"}`)}
	nodes, edges := analyzerOf(t, s)
	if !strings.Contains(string(nodes[0].Metadata)+string(nodes[1].Metadata), `"Ovs":{}`) {
		t.Fatalf("the analyzer's copy should have lost the Ovs fields: %s %s", nodes[0].Metadata, nodes[1].Metadata)
	}
	v, err := compare(s, nodes, edges)
	if err != nil || !v.ok() {
		t.Fatalf("a graph the analyzer holds correctly is a difference: %v %v", v, err)
	}
	// A real difference still is one, naming the key.
	nodes[1].Metadata = []byte(`{"Type":"ovsport","Name":"p1","UUID":"u1","Ovs":{}}`)
	v, err = compare(s, nodes, edges)
	if err != nil || v.ok() || v.differentNodes != 1 || !strings.Contains(v.String(), "node ovsport p1: Vlans") {
		t.Errorf("Vlans lost: verdict %q (%v)", v, err)
	}
}

// The analyzer's copies here are what the stand-in serves (its own
// TestContainerDecoderAndUndecodedKeys): a container node it holds
// correctly is no difference, a changed field is one.
func TestCompareDecodesContainerAsTheAnalyzerDoes(t *testing.T) {
	s := newGraphState()
	s.nodes["c1"] = &stateNode{md: []byte(`{"Type":"container","Name":"c1","Container":{"ID":"c1","Runtime":"docker","Foo":1}}`), rev: 1}
	s.nodes["c2"] = &stateNode{md: []byte(`{"Type":"container","Name":"c2","Container":{"ID":"c1","Image":"busybox","ImageID":"","Labels":{"a":"b"},"Hosts":{"IP":"10.0.0.2","ByIP":{}},"InitProcessPID":42}}`), rev: 1}
	nodes := []wireNode{
		{ID: "c1", Metadata: []byte(`{"Container":{"Hosts":{},"ID":"c1","InitProcessPID":0,"Runtime":"docker","Status":""},"Name":"c1","Type":"container"}`)},
		{ID: "c2", Metadata: []byte(`{"Container":{"Hosts":{"IP":"10.0.0.2"},"ID":"c1","Image":"busybox","InitProcessPID":42,"Labels":{"a":"b"},"Runtime":"","Status":""},"Name":"c2","Type":"container"}`)},
	}
	v, err := compare(s, nodes, nil)
	if err != nil || !v.ok() {
		t.Fatalf("containers the analyzer holds correctly are a difference: %v %v", v, err)
	}
	nodes[1].Metadata = []byte(`{"Container":{"Hosts":{"IP":"10.0.0.2"},"ID":"c1","Image":"busybox","InitProcessPID":43,"Labels":{"a":"b"},"Runtime":"","Status":""},"Name":"c2","Type":"container"}`)
	v, err = compare(s, nodes, nil)
	if err != nil || v.ok() || !strings.Contains(v.String(), "node container c2: Container.InitProcessPID") {
		t.Errorf("InitProcessPID changed: verdict %q (%v)", v, err)
	}
}

func TestVerdictIsTheSameWhateverTheAnswersOrder(t *testing.T) {
	s := newGraphState()
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		s.nodes[id] = &stateNode{md: []byte(`{"Type":"ovsport","Name":"` + id + `","UUID":"u","Vlans":1}`), rev: 1}
	}
	nodes, edges := analyzerOf(t, s)
	for i := range nodes[:4] {
		nodes[i].Metadata = []byte(`{"Type":"ovsport","Name":"` + nodes[i].ID + `","UUID":"u"}`)
	}
	nodes = nodes[:4] // e missing
	first, err := compare(s, nodes, edges)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		v, _ := compare(s, nodes, edges)
		if v.String() != first.String() || v.fingerprint() != first.fingerprint() {
			t.Fatalf("verdict moved with the order:\n%s\n%s", first, v)
		}
	}
	want := "nodes 1 missing, 0 extra, 4 different; edges 0 missing, 0 extra, 0 different (node ovsport a: Vlans; node ovsport b: Vlans; node ovsport c: Vlans; 2 more)"
	if !strings.HasSuffix(first.String(), want) {
		t.Errorf("verdict %q, want it to end %q", first, want)
	}
	// Another difference is another fingerprint.
	nodes[0].Metadata = []byte(`{"Type":"ovsport","Name":"x","UUID":"u","Vlans":1}`)
	if v, _ := compare(s, nodes, edges); v.fingerprint() == first.fingerprint() {
		t.Error("a different difference has the same fingerprint")
	}
}

func TestStableTextDropsTheLocalPort(t *testing.T) {
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8082}
	err := fmt.Errorf("skydive: read-back from http://127.0.0.1:8082: %w",
		&url.Error{Op: "Post", URL: "http://127.0.0.1:8082/api/topology", Err: &net.OpError{Op: "read", Net: "tcp", Source: local, Addr: remote, Err: syscall.ECONNRESET}})
	got := stableText(err)
	if strings.Contains(got, "41234") || !strings.Contains(got, "read tcp 127.0.0.1:8082: connection reset by peer") {
		t.Errorf("stableText = %q", got)
	}
	if plain := errors.New("skydive: HTTP 404"); stableText(plain) != plain.Error() {
		t.Errorf("stableText changed %q", plain)
	}
}
