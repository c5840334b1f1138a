package skydive

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// verdict is the outcome of one read-back: what the analyzer holds for
// this node's origin against what was published.
type verdict struct {
	nodes, edges             int // published
	remoteNodes, remoteEdges int
	missingNodes, extraNodes int
	differentNodes           int
	missingEdges, extraEdges int
	differentEdges           int
	// diffs lists every difference, sorted, so that the same difference
	// always reads the same: "node ovsport p1: Vlans", "edge ID missing".
	diffs []difference
}

// difference is one element that differs, by ID, and what differs.
type difference struct{ id, text string }

func (v verdict) ok() bool { return len(v.diffs) == 0 }

// String says what differs, or that the analyzer holds what was published.
// It holds no time or counter that moves by itself: the same difference
// renders the same text, so the object's status does not change with it.
func (v verdict) String() string {
	if v.ok() {
		return fmt.Sprintf("analyzer holds the %d nodes and %d edges published", v.nodes, v.edges)
	}
	return fmt.Sprintf("analyzer holds %d nodes and %d edges for this node, %d and %d published: nodes %d missing, %d extra, %d different; edges %d missing, %d extra, %d different (%s)",
		v.remoteNodes, v.remoteEdges, v.nodes, v.edges, v.missingNodes, v.extraNodes, v.differentNodes, v.missingEdges, v.extraEdges, v.differentEdges,
		v.examples(3))
}

// examples names the first n differences, and how many more there are.
func (v verdict) examples(n int) string {
	texts := make([]string, 0, n)
	for _, d := range v.diffs[:min(n, len(v.diffs))] {
		texts = append(texts, d.text)
	}
	s := strings.Join(texts, "; ")
	if len(v.diffs) > n {
		s += fmt.Sprintf("; %d more", len(v.diffs)-n)
	}
	return s
}

// fingerprint identifies the difference: equal for the same elements
// differing in the same keys, whatever the order the analyzer answered in.
func (v verdict) fingerprint() string {
	h := sha256.New()
	for _, d := range v.diffs {
		h.Write([]byte(d.id))
		h.Write([]byte{0})
		h.Write([]byte(d.text))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
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

// compare checks the analyzer's elements against published. Metadata is
// compared as the analyzer holds it: both sides go through its decoders
// (asAnalyzerKeeps), so that what the analyzer reshapes by design is not
// a difference.
func compare(published *graphState, nodes []wireNode, edges []wireEdge) (verdict, error) {
	v := verdict{nodes: len(published.nodes), edges: len(published.edges), remoteNodes: len(nodes), remoteEdges: len(edges)}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n.ID] = true
		p := published.nodes[n.ID]
		if p == nil {
			v.extraNodes++
			v.diffs = append(v.diffs, difference{n.ID, "node " + n.ID + " not published"})
			continue
		}
		if bytes.Equal(p.md, n.Metadata) {
			continue // the usual case: the analyzer encodes keys sorted, as we do
		}
		want, err := decodeMetadata(p.md)
		if err != nil {
			return v, fmt.Errorf("skydive: published node %s: %w", n.ID, err)
		}
		got, err := decodeMetadata(n.Metadata)
		if err != nil {
			return v, fmt.Errorf("skydive: the analyzer's node %s: %w", n.ID, err)
		}
		if keys := differingKeys(want, got); len(keys) > 0 {
			v.differentNodes++
			v.diffs = append(v.diffs, difference{n.ID, "node " + describe(want) + ": " + strings.Join(keys, ", ")})
		}
	}
	for id, p := range published.nodes {
		if !seen[id] {
			v.missingNodes++
			md, _ := decodeMetadata(p.md)
			v.diffs = append(v.diffs, difference{id, "node " + describe(md) + " missing"})
		}
	}
	seen = make(map[string]bool, len(edges))
	for _, e := range edges {
		seen[e.ID] = true
		p := published.edges[e.ID]
		if p == nil {
			v.extraEdges++
			v.diffs = append(v.diffs, difference{e.ID, "edge " + e.ID + " not published"})
			continue
		}
		if bytes.Equal(p.md, e.Metadata) && p.parent == e.Parent && p.child == e.Child {
			continue
		}
		want, err := decodeMetadata(p.md)
		if err != nil {
			return v, fmt.Errorf("skydive: published edge %s: %w", e.ID, err)
		}
		got, err := decodeMetadata(e.Metadata)
		if err != nil {
			return v, fmt.Errorf("skydive: the analyzer's edge %s: %w", e.ID, err)
		}
		keys := differingKeys(want, got)
		if p.parent != e.Parent {
			keys = append(keys, "Parent")
		}
		if p.child != e.Child {
			keys = append(keys, "Child")
		}
		if len(keys) > 0 {
			v.differentEdges++
			v.diffs = append(v.diffs, difference{e.ID, "edge " + e.ID + ": " + strings.Join(keys, ", ")})
		}
	}
	for id := range published.edges {
		if !seen[id] {
			v.missingEdges++
			v.diffs = append(v.diffs, difference{id, "edge " + id + " missing"})
		}
	}
	slices.SortFunc(v.diffs, func(a, b difference) int { return cmp.Or(cmp.Compare(a.text, b.text), cmp.Compare(a.id, b.id)) })
	return v, nil
}

// describe names a node by its metadata: "ovsmirror m1".
func describe(md map[string]any) string {
	t, _ := md["Type"].(string)
	n, _ := md["Name"].(string)
	return t + " " + n
}

// gremlin posts a Gremlin query to /api/topology and decodes the answer.
// A 401 to a login token used before is answered with a new login and
// the query made again: the token expired.
func (e *endpoint) gremlin(ctx context.Context, query string, into any) error {
	again, err := e.gremlinOnce(ctx, query, into)
	if again {
		_, err = e.gremlinOnce(ctx, query, into)
	}
	return err
}

// gremlinOnce is one query; again reports a 401 worth retrying.
func (e *endpoint) gremlinOnce(ctx context.Context, query string, into any) (again bool, err error) {
	body, _ := json.Marshal(map[string]string{"GremlinQuery": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.http+"/api/topology", bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("skydive: read-back: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	reused, err := e.authorize(ctx, req.Header)
	if err != nil {
		return false, err
	}
	resp, err := e.httpc.Do(req)
	if err != nil {
		return false, fmt.Errorf("skydive: read-back from %s: %w", e.http, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return e.retry401(reused), fmt.Errorf("skydive: read-back from %s: %w", e.http, errUnauthorized)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, fmt.Errorf("skydive: read-back from %s: HTTP %s: %s", e.http, resp.Status, strings.TrimSpace(string(msg)))
	}
	answer := io.Reader(resp.Body)
	if e.maxBody > 0 {
		answer = io.LimitReader(resp.Body, e.maxBody)
	}
	if err := json.NewDecoder(answer).Decode(into); err != nil {
		return false, fmt.Errorf("skydive: read-back from %s (answers are read up to %d bytes): %w", e.http, e.maxBody, err)
	}
	return false, nil
}
