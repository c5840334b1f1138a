package skydive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// memSource is a part of the graph the test changes at will: the stand-in
// for a provider's live cache in the protocol tests (the OVS tests use
// the real OVSDB provider).
type memSource struct {
	topology.Signals
	mu    sync.Mutex
	nodes map[string]topology.Metadata // by a name local to the test
	links map[[3]string]bool           // parent, child, relation (names)
	// fragments, when set, puts each node and the links from it in a
	// fragment whose version moves when either changes, as the OVSDB
	// provider does per port.
	fragments bool
	versions  map[string]uint64
}

func newMemSource() *memSource {
	return &memSource{nodes: map[string]topology.Metadata{}, links: map[[3]string]bool{}, versions: map[string]uint64{}}
}

// signature is what node name's fragment holds. Callers hold m.mu.
func (m *memSource) signature(name string) string {
	var out []string
	for l := range m.links {
		if l[0] == name {
			out = append(out, fmt.Sprint(l))
		}
	}
	slices.Sort(out)
	return fmt.Sprint(m.nodes[name], out)
}

func (m *memSource) OnTopologyChange(f func()) { m.Add(f) }

func (m *memSource) Topology(g *topology.Graph) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := func(name string) string {
		if name == "host" {
			return g.HostID()
		}
		return topology.ID(g.Host(), "mem", name)
	}
	addNode := func(name string, md topology.Metadata) {
		n := g.AddNode(topology.PartPorts, id(name), maps.Clone(md))
		if n != nil && strings.HasPrefix(name, "obj-") {
			n.Object = "Mirror/" + name
		}
	}
	if !m.fragments {
		for name, md := range m.nodes {
			addNode(name, md)
		}
		for l := range m.links {
			g.Link(id(l[0]), id(l[1]), l[2], nil)
		}
		return
	}
	for name, md := range m.nodes {
		g.Fragment("mem/"+name, m.versions[name], func() {
			addNode(name, md)
			for l := range m.links {
				if l[0] == name {
					g.Link(id(l[0]), id(l[1]), l[2], nil)
				}
			}
		})
	}
	for l := range m.links {
		if _, ok := m.nodes[l[0]]; !ok { // links from the host or a missing node
			g.Link(id(l[0]), id(l[1]), l[2], nil)
		}
	}
}

// change edits the source and signals it.
func (m *memSource) change(f func(nodes map[string]topology.Metadata, links map[[3]string]bool)) {
	m.mu.Lock()
	before := map[string]string{}
	for name := range m.nodes {
		before[name] = m.signature(name)
	}
	f(m.nodes, m.links)
	for name := range m.nodes {
		if m.signature(name) != before[name] {
			m.versions[name]++
		}
	}
	m.mu.Unlock()
	m.Fire()
}

func port(name string, rev int) topology.Metadata {
	return topology.Metadata{"Type": "ovsport", "Name": name, "UUID": fmt.Sprintf("uuid-%s-%d", name, rev), "Rev": rev}
}

// logBuffer collects the provider's log, to check what it says (and that
// it never says a secret).
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// exporterRig is one node's provider with its exports applied directly,
// as the engine would.
type exporterRig struct {
	t    testing.TB
	node string
	p    *skydive.Provider
	log  *logBuffer
	set  *spec.Set
}

func newExporter(t testing.TB, node string, opts skydive.Options, sources ...topology.Source) *exporterRig {
	t.Helper()
	lb := &logBuffer{}
	opts.Node, opts.Sources = node, sources
	opts.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.BackoffMin == 0 {
		opts.BackoffMin, opts.BackoffMax = 20*time.Millisecond, 200*time.Millisecond
	}
	if opts.VerifySettle == 0 {
		opts.VerifySettle = 50 * time.Millisecond
	}
	r := &exporterRig{t: t, node: node, p: skydive.New(opts), log: lb}
	t.Cleanup(func() {
		r.p.Close()
		if t.Failed() {
			t.Logf("provider log of %s:\n%s", node, lb.String())
		}
	})
	return r
}

// exportDoc is a SkyDiveExport; body is the rest of its spec in flow style.
func exportDoc(name, analyzer, body string) string {
	if body != "" {
		body = ", " + body
	}
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: SkyDiveExport\nmetadata: {name: %s}\nspec: {analyzer: %q%s}", name, analyzer, body)
}

func loadSet(t testing.TB, docs ...string) *spec.Set {
	t.Helper()
	set, diags := spec.LoadFS(fstest.MapFS{"spec.yaml": &fstest.MapFile{Data: []byte(strings.Join(docs, "\n---\n"))}}, "")
	if diags.HasErrors() {
		t.Fatalf("test spec invalid:\n%v", diags)
	}
	return set
}

// apply runs the engine's create or update of the export named name in set.
func (r *exporterRig) apply(set *spec.Set, name string) {
	r.t.Helper()
	o := set.Get(skydive.Kind, name)
	if o == nil {
		r.t.Fatalf("no SkyDiveExport %s in the set", name)
	}
	req := reconciler.Request{Ref: reconciler.Ref{Kind: skydive.Kind, Name: name}, Desired: o, Set: set}
	act := reconciler.ActionCreate
	if _, running := r.p.Status(name); running {
		act = reconciler.ActionUpdate
	}
	if err := r.p.Apply(context.Background(), req, reconciler.Change{Action: act}); err != nil {
		r.t.Fatal(err)
	}
	r.set = set
}

func (r *exporterRig) remove(name string) {
	r.t.Helper()
	req := reconciler.Request{Ref: reconciler.Ref{Kind: skydive.Kind, Name: name}, Last: r.set.Get(skydive.Kind, name), Set: r.set}
	if err := r.p.Apply(context.Background(), req, reconciler.Change{Action: reconciler.ActionDelete}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *exporterRig) observe(name string) reconciler.Observation {
	r.t.Helper()
	req := reconciler.Request{Ref: reconciler.Ref{Kind: skydive.Kind, Name: name}, Desired: r.set.Get(skydive.Kind, name), Set: r.set}
	obs, err := r.p.Observe(context.Background(), req)
	if err != nil {
		r.t.Fatal(err)
	}
	return obs
}

// in returns the rig reporting to t, for use inside a subtest of the test
// that made it: a failure must stop the subtest, since FailNow on the
// parent from a subtest's goroutine is a misuse the testing package
// reports instead of the failure. The copy shares the provider and log;
// apply through it does not update r.set.
func (r *exporterRig) in(t testing.TB) *exporterRig {
	c := *r
	c.t = t
	return &c
}

// waitHandled waits until the analyzer has handled every graph message the
// export sent (Status.Syncs plus Status.Messages, against what the
// analyzer counted on the node's connection), for a test to change the
// analyzer behind the export's back: writing to the socket is not the
// analyzer applying it, and a Sync still on its way would undo the change.
// It is for an export with nothing more to send, connected once since it
// started (its counters cover every connection, the analyzer's the current
// one; a refused dial sends nothing). Both sides move on their own, the
// export's counters after the write, so both are polled.
func (r *exporterRig) waitHandled(a *skydivetest.Analyzer, name string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		changed := a.Changed()
		st, _ := r.p.Status(name)
		sent, handled := st.Syncs+st.Messages, -1
		for _, pub := range a.Publishers() {
			if pub.HostID == r.node {
				handled = pub.Messages
			}
		}
		if st.Connected && handled == sent {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: timed out waiting for the analyzer to handle what the export sent: %d of %d graph messages handled on its connection (-1: none); status %+v",
				r.node, handled, sent, st)
		}
		select {
		case <-changed:
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitStatus waits until the export's status satisfies cond.
func (r *exporterRig) waitStatus(name, what string, cond func(skydive.Status) bool) skydive.Status {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := r.p.Status(name)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: timed out waiting for %s; status %+v", r.node, what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// elements renders a graph as sorted lines "node ID {metadata}" and
// "edge ID parent>child {metadata}", metadata in canonical JSON, so that
// two graphs compare with cmp.Diff.
func elements(t testing.TB, nodes map[string]any, edges map[string][3]any) []string {
	t.Helper()
	var out []string
	for id, md := range nodes {
		out = append(out, "node "+id+" "+canon(t, md))
	}
	for id, e := range edges {
		out = append(out, fmt.Sprintf("edge %s %s>%s %s", id, e[0], e[1], canon(t, e[2])))
	}
	slices.Sort(out)
	return out
}

func canon(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(x)
	return string(b)
}

// local is the node's graph as the provider builds it now.
func (r *exporterRig) local(include []string) []string {
	g := r.p.Graph(include)
	nodes, edges := map[string]any{}, map[string][3]any{}
	for id, n := range g.Nodes {
		nodes[id] = n.Metadata
	}
	for id, e := range g.Edges {
		edges[id] = [3]any{e.Parent, e.Child, e.Metadata}
	}
	return elements(r.t, nodes, edges)
}

// held is what the analyzer holds for origin.
func held(t testing.TB, a *skydivetest.Analyzer, origin string) []string {
	ns, es := a.OriginGraph(origin)
	nodes, edges := map[string]any{}, map[string][3]any{}
	for _, n := range ns {
		nodes[n.ID] = n.Metadata
	}
	for _, e := range es {
		edges[e.ID] = [3]any{e.Parent, e.Child, e.Metadata}
	}
	return elements(t, nodes, edges)
}

// waitHeld waits until the analyzer holds exactly the node's local graph.
func (r *exporterRig) waitHeld(a *skydivetest.Analyzer, include []string) {
	r.t.Helper()
	origin := "wirekeeper." + r.node
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var want, got []string
	err := a.Wait(ctx, func(a *skydivetest.Analyzer) bool {
		want, got = r.local(include), held(r.t, a, origin)
		return slices.Equal(want, got)
	})
	if err != nil {
		r.t.Fatalf("%s: the analyzer does not hold the local graph:\nwant %d elements, got %d\n%s", r.node, len(want), len(got), lineDiff(want, got))
	}
}

func lineDiff(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "+ %s\n", g)
		}
	}
	return b.String()
}

// deleteNode deletes a node through the analyzer's REST API, as an
// operator or another tool might.
func deleteNode(t testing.TB, a *skydivetest.Analyzer, id string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, a.HTTPURL()+"/api/node/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("DELETE /api/node/%s: %s", id, resp.Status)
	}
}
