package skydive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// verdict is the outcome of one read-back: what the analyzer holds for
// this node's origin against what was published.
type verdict struct {
	nodes, edges             int // published
	missingNodes, extraNodes int
	differentNodes           int
	missingEdges, extraEdges int
	differentEdges           int
	examples                 []string // a few of the differences, for the message
	remoteNodes, remoteEdges int
}

func (v verdict) ok() bool {
	return v.missingNodes+v.extraNodes+v.differentNodes+v.missingEdges+v.extraEdges+v.differentEdges == 0
}

// String says what differs, or that the analyzer holds what was published.
func (v verdict) String() string {
	if v.ok() {
		return fmt.Sprintf("analyzer holds the %d nodes and %d edges published", v.nodes, v.edges)
	}
	s := fmt.Sprintf("analyzer holds %d nodes and %d edges for this node, %d and %d published: nodes %d missing, %d extra, %d different; edges %d missing, %d extra, %d different",
		v.remoteNodes, v.remoteEdges, v.nodes, v.edges, v.missingNodes, v.extraNodes, v.differentNodes, v.missingEdges, v.extraEdges, v.differentEdges)
	if len(v.examples) > 0 {
		s += " (" + strings.Join(v.examples, ", ") + ")"
	}
	return s
}

// readBack reads what the analyzer holds for o's origin over REST and
// compares it with published.
func (e *endpoint) readBack(ctx context.Context, o origin, published *graphState) (verdict, error) {
	var nodes []wireNode
	if err := e.gremlin(ctx, fmt.Sprintf("G.V().Has('@Origin', '%s')", o.origin), &nodes); err != nil {
		return verdict{}, err
	}
	var edges []wireEdge
	if err := e.gremlin(ctx, fmt.Sprintf("G.E().Has('@Origin', '%s')", o.origin), &edges); err != nil {
		return verdict{}, err
	}
	return compare(published, nodes, edges)
}

// compare checks the analyzer's elements against published, metadata
// compared in one canonical JSON form.
func compare(published *graphState, nodes []wireNode, edges []wireEdge) (verdict, error) {
	v := verdict{nodes: len(published.nodes), edges: len(published.edges), remoteNodes: len(nodes), remoteEdges: len(edges)}
	example := func(s string) {
		if len(v.examples) < 3 {
			v.examples = append(v.examples, s)
		}
	}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n.ID] = true
		p := published.nodes[n.ID]
		if p == nil {
			v.extraNodes++
			example("node " + n.ID + " not published")
			continue
		}
		same, err := sameJSON(p.md, n.Metadata)
		if err != nil {
			return v, fmt.Errorf("skydive: node %s: %w", n.ID, err)
		}
		if !same {
			v.differentNodes++
			example("node " + describe(p.md) + " differs")
		}
	}
	for id, p := range published.nodes {
		if !seen[id] {
			v.missingNodes++
			example("node " + describe(p.md) + " missing")
		}
	}
	seen = make(map[string]bool, len(edges))
	for _, e := range edges {
		seen[e.ID] = true
		p := published.edges[e.ID]
		if p == nil {
			v.extraEdges++
			example("edge " + e.ID + " not published")
			continue
		}
		same, err := sameJSON(p.md, e.Metadata)
		if err != nil {
			return v, fmt.Errorf("skydive: edge %s: %w", e.ID, err)
		}
		if !same || p.parent != e.Parent || p.child != e.Child {
			v.differentEdges++
			example("edge " + e.ID + " differs")
		}
	}
	for id := range published.edges {
		if !seen[id] {
			v.missingEdges++
			example("edge " + id + " missing")
		}
	}
	return v, nil
}

// describe names a node by its metadata: "ovsmirror m1".
func describe(md []byte) string {
	var m struct{ Type, Name string }
	json.Unmarshal(md, &m)
	return m.Type + " " + m.Name
}

// sameJSON compares two JSON documents by value.
func sameJSON(a, b []byte) (bool, error) {
	ca, err := canonical(a)
	if err != nil {
		return false, err
	}
	cb, err := canonical(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ca, cb), nil
}

func canonical(b []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// gremlin posts a Gremlin query to /api/topology and decodes the answer.
func (e *endpoint) gremlin(ctx context.Context, query string, into any) error {
	body, _ := json.Marshal(map[string]string{"GremlinQuery": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.http+"/api/topology", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("skydive: read-back: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := e.authorize(ctx, req.Header); err != nil {
		return err
	}
	resp, err := e.httpc.Do(req)
	if err != nil {
		return fmt.Errorf("skydive: read-back from %s: %w", e.http, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		e.token = ""
		return fmt.Errorf("skydive: read-back from %s: %w", e.http, errUnauthorized)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("skydive: read-back from %s: HTTP %s: %s", e.http, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("skydive: read-back from %s: %w", e.http, err)
	}
	return nil
}
