package skydivetest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The Gremlin subset the stand-in understands, as the analyzer reads it:
//
//	G.V() | G.V('id', ...) | G.E() | G.E('id', ...)
//	  followed by any of
//	.Has('Key') .Has('Key', value, 'Key2', value2, ...)
//	.InV() .OutV()            on edges: InV is the parent, OutV the child
//	.Out() .In() .OutE() .InE() on nodes: children, parents, edges to them
//	.Dedup()
//
// Keys are metadata keys, dotted for nested maps ('WireKeeper.Phase'), or
// '@ID', '@Host', '@Origin', '@CreatedAt', '@UpdatedAt', '@Revision' (and
// '@Parent', '@Child' on edges) for the element's own fields. Values are
// single- or double-quoted strings, numbers, true or false; a value matches
// a list when it matches one of its items. The graph itself is `g` or `G`.

// step is one step of a query: its name and literal arguments.
type step struct {
	name string
	args []any
}

// parseGremlin parses a query of the subset above.
func parseGremlin(q string) ([]step, error) {
	p := &gremlinParser{s: q}
	p.space()
	if id := p.ident(); id != "G" && id != "g" {
		return nil, fmt.Errorf("a query starts with G, not %q", id)
	}
	var steps []step
	for {
		p.space()
		if p.i == len(p.s) {
			break
		}
		if err := p.expect('.'); err != nil {
			return nil, err
		}
		p.space()
		s := step{name: p.ident()}
		if s.name == "" {
			return nil, fmt.Errorf("step name expected at offset %d", p.i)
		}
		p.space()
		if err := p.expect('('); err != nil {
			return nil, err
		}
		for p.space(); p.peek() != ')'; p.space() {
			if len(s.args) > 0 {
				if err := p.expect(','); err != nil {
					return nil, err
				}
				p.space()
			}
			v, err := p.literal()
			if err != nil {
				return nil, err
			}
			s.args = append(s.args, v)
		}
		p.i++ // ')'
		steps = append(steps, s)
	}
	if len(steps) == 0 || (steps[0].name != "V" && steps[0].name != "E") {
		return nil, errors.New("a query starts with G.V() or G.E()")
	}
	return steps, nil
}

type gremlinParser struct {
	s string
	i int
}

func (p *gremlinParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *gremlinParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *gremlinParser) expect(c byte) error {
	if p.peek() != c {
		if p.i == len(p.s) {
			return fmt.Errorf("%q expected at the end of the query", c)
		}
		return fmt.Errorf("%q expected at offset %d, found %q", c, p.i, p.s[p.i])
	}
	p.i++
	return nil
}

func (p *gremlinParser) ident() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (p.i == start || c < '0' || c > '9') {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

// literal reads a quoted string (backslash escapes the next byte), a
// number, true or false.
func (p *gremlinParser) literal() (any, error) {
	if q := p.peek(); q == '\'' || q == '"' {
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			switch c := p.s[p.i]; {
			case c == q:
				p.i++
				return b.String(), nil
			case c == '\\' && p.i+1 < len(p.s):
				p.i++
				b.WriteByte(p.s[p.i])
			default:
				b.WriteByte(c)
			}
		}
		return nil, errors.New("unterminated string")
	}
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(",) \t\r\n", p.s[p.i]) < 0 {
		p.i++
	}
	word := p.s[start:p.i]
	switch word {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	f, err := strconv.ParseFloat(word, 64)
	if err != nil {
		return nil, fmt.Errorf("literal expected at offset %d, found %q", start, word)
	}
	return f, nil
}

// query runs steps on g and returns copies of the resulting nodes or
// edges ([]Node or []Edge), in traversal order.
func (g *graph) query(steps []step) (any, error) {
	var nodes []*Node
	var edges []*Edge
	onEdges := steps[0].name == "E"
	ids, err := stringArgs(steps[0])
	if err != nil {
		return nil, err
	}
	if onEdges {
		edges = slices.DeleteFunc(g.sortedEdges(), func(e *Edge) bool { return len(ids) > 0 && !slices.Contains(ids, e.ID) })
	} else {
		nodes = slices.DeleteFunc(g.sortedNodes(), func(n *Node) bool { return len(ids) > 0 && !slices.Contains(ids, n.ID) })
	}
	for _, s := range steps[1:] {
		if (s.name != "Has" && s.name != "Dedup") && len(s.args) > 0 {
			return nil, fmt.Errorf("%s() takes no argument", s.name)
		}
		switch {
		case s.name == "Has":
			if len(s.args) == 0 || (len(s.args) > 1 && len(s.args)%2 == 1) {
				return nil, fmt.Errorf("%s() takes a key, or key/value pairs", s.name)
			}
			if onEdges {
				edges = slices.DeleteFunc(edges, func(e *Edge) bool { return !has(s.args, edgeFields(e), e.Metadata) })
			} else {
				nodes = slices.DeleteFunc(nodes, func(n *Node) bool { return !has(s.args, nodeFields(n), n.Metadata) })
			}
		case s.name == "Dedup":
			nodes, edges = dedup(nodes), dedup(edges)
		case onEdges && (s.name == "InV" || s.name == "OutV"):
			nodes = nil
			for _, e := range edges {
				id := e.Parent
				if s.name == "OutV" {
					id = e.Child
				}
				nodes = append(nodes, g.nodes[id])
			}
			edges, onEdges = nil, false
		case !onEdges && (s.name == "Out" || s.name == "In" || s.name == "OutE" || s.name == "InE"):
			var nextNodes []*Node
			var nextEdges []*Edge
			for _, n := range nodes {
				var touching []string
				for id := range g.nodeEdges[n.ID] {
					touching = append(touching, id)
				}
				slices.Sort(touching)
				for _, id := range touching {
					e := g.edges[id]
					out := e.Parent == n.ID
					if out != (s.name == "Out" || s.name == "OutE") {
						continue
					}
					nextEdges = append(nextEdges, e)
					if out {
						nextNodes = append(nextNodes, g.nodes[e.Child])
					} else {
						nextNodes = append(nextNodes, g.nodes[e.Parent])
					}
				}
			}
			if strings.HasSuffix(s.name, "E") {
				nodes, edges, onEdges = nil, nextEdges, true
			} else {
				nodes = nextNodes
			}
		default:
			return nil, fmt.Errorf("step %s() not supported here by the stand-in", s.name)
		}
	}
	if onEdges {
		out := []Edge{}
		for _, e := range edges {
			out = append(out, e.clone())
		}
		return out, nil
	}
	out := []Node{}
	for _, n := range nodes {
		out = append(out, n.clone())
	}
	return out, nil
}

func stringArgs(s step) ([]string, error) {
	var out []string
	for _, a := range s.args {
		id, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("%s() takes string IDs", s.name)
		}
		out = append(out, id)
	}
	return out, nil
}

func dedup[T comparable](in []T) []T {
	seen := map[T]bool{}
	return slices.DeleteFunc(in, func(x T) bool {
		dup := seen[x]
		seen[x] = true
		return dup
	})
}

func nodeFields(n *Node) map[string]any {
	return map[string]any{
		"@ID": n.ID, "@Host": n.Host, "@Origin": n.Origin,
		"@CreatedAt": float64(n.CreatedAt), "@UpdatedAt": float64(n.UpdatedAt), "@Revision": float64(n.Revision),
	}
}

func edgeFields(e *Edge) map[string]any {
	return map[string]any{
		"@ID": e.ID, "@Host": e.Host, "@Origin": e.Origin, "@Parent": e.Parent, "@Child": e.Child,
		"@CreatedAt": float64(e.CreatedAt), "@UpdatedAt": float64(e.UpdatedAt), "@Revision": float64(e.Revision),
	}
}

// has reports whether an element with those fields and metadata passes
// Has(args...).
func has(args []any, fields, md map[string]any) bool {
	if len(args) == 1 {
		_, ok := lookup(args[0], fields, md)
		return ok
	}
	for i := 0; i < len(args); i += 2 {
		v, ok := lookup(args[i], fields, md)
		if !ok || !matches(v, args[i+1]) {
			return false
		}
	}
	return true
}

// lookup finds key in the element's fields ('@...') or its metadata,
// following dots into nested maps (a literal dotted key also matches).
func lookup(key any, fields, md map[string]any) (any, bool) {
	k, ok := key.(string)
	if !ok {
		return nil, false
	}
	if v, ok := fields[k]; ok {
		return v, true
	}
	if v, ok := md[k]; ok {
		return v, true
	}
	var cur any = md
	for _, part := range strings.Split(k, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func matches(v, want any) bool {
	if list, ok := v.([]any); ok {
		return slices.ContainsFunc(list, func(x any) bool { return matches(x, want) })
	}
	switch v := v.(type) {
	case string, float64, bool:
		return v == want
	case int64: // an integer field of a decoded structure (metadataDecoders)
		return float64(v) == want
	}
	return false
}
