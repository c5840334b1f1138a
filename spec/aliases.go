package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The alias budget. A YAML alias stands for a copy of the node it names,
// and the decoder walks that copy every time: a 1 MiB file whose map of
// 20,000 labels is reused by 6,000 documents stands for 240 million nodes.
// Before any document is decoded, the nodes the aliases expand to are
// counted across the whole load, and the load is refused when they pass
// AliasExpansionFactor times the nodes written (at least
// AliasExpansionFloor), so decoding costs at most a fixed multiple of the
// input.
const (
	// AliasExpansionFactor is how many times the nodes written in a load
	// (every file of it) its aliases may expand to in all.
	AliasExpansionFactor = 10
	// AliasExpansionFloor is the expansion every load may have whatever its
	// size, so that small files with a few aliases load.
	AliasExpansionFloor = 100_000
)

// unbounded is the size of a node that contains an alias to itself.
const unbounded = math.MaxInt64

// aliasCounter measures the documents of one load, file by file, in order.
type aliasCounter struct {
	// written counts the nodes of every document as written, an alias as one.
	written int64
	// expanded sums, over every alias written, the nodes it stands for.
	expanded int64
	// limit, when not zero, is the budget being searched for the alias
	// that passes it; crossing is then that alias.
	limit    int64
	crossing *crossing

	// sizes memoises, for the file being measured, the expanded size of
	// each anchored node (alias targets are always anchored), so each
	// node is counted once however often it is aliased; -1 marks a node
	// still being measured, which an alias inside it makes unbounded.
	sizes map[*yaml.Node]int64
	path  []pathStep
	doc   *yaml.Node
}

// crossing is the alias that took the expansion past the limit.
type crossing struct {
	alias, doc *yaml.Node
	size       int64 // what it expands to
	total      int64 // the load's expansion with it
	field      string
}

// pathStep is a key or an index on the way to the node being measured.
type pathStep struct {
	key     string
	index   int
	isIndex bool
}

// file measures the documents (the roots of one file, in order) and
// reports whether any of them holds an alias.
func (c *aliasCounter) file(docs []*yaml.Node) (aliased bool) {
	// yaml.v3 keeps anchors for the whole stream, so a document may alias
	// a node of an earlier document of the same file, never of another file.
	c.sizes = map[*yaml.Node]int64{}
	aliases := 0
	for _, d := range docs {
		c.doc = d
		c.measure(d, &aliases)
	}
	c.sizes = nil
	return aliases > 0
}

// measure returns the number of nodes n stands for once its aliases are
// expanded, counting n's written nodes and the expansion of its aliases.
func (c *aliasCounter) measure(n *yaml.Node, aliases *int) int64 {
	if n.Kind == yaml.AliasNode {
		*aliases++
		c.written++
		size, ok := c.sizes[n.Alias]
		switch {
		case ok && size < 0:
			size = unbounded
		case !ok:
			// Unreachable with yaml.v3, which sets an anchor before any
			// alias to it. Measuring the target here may count the
			// expansion of its aliases twice, too much rather than too
			// little, but its nodes were written once, elsewhere.
			written := c.written
			size = c.measure(n.Alias, new(int))
			c.written = written
		}
		c.expanded = addSat(c.expanded, size)
		if c.limit > 0 && c.crossing == nil && c.expanded > c.limit {
			c.crossing = &crossing{alias: n, doc: c.doc, size: size, total: c.expanded, field: c.field()}
		}
		return size
	}
	c.written++
	if n.Anchor != "" {
		c.sizes[n] = -1
	}
	size := int64(1)
	for i, child := range n.Content {
		switch {
		case n.Kind == yaml.MappingNode && i%2 == 0:
			// A key: an alias there is reported at the mapping's path.
			size = addSat(size, c.measure(child, aliases))
			continue
		case n.Kind == yaml.MappingNode:
			c.path = append(c.path, pathStep{key: resolve(n.Content[i-1]).Value})
		default:
			c.path = append(c.path, pathStep{index: i, isIndex: true})
		}
		size = addSat(size, c.measure(child, aliases))
		c.path = c.path[:len(c.path)-1]
	}
	if n.Anchor != "" {
		c.sizes[n] = size
	}
	return size
}

// field renders the path being measured as the walker names fields:
// spec.selectVlans[3].
func (c *aliasCounter) field() string {
	var b strings.Builder
	for _, s := range c.path {
		if s.isIndex {
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
}

func addSat(a, b int64) int64 {
	if a > unbounded-b {
		return unbounded
	}
	return a + b
}

// aliasLimit is the budget of a load of written nodes.
func aliasLimit(written int64) int64 {
	return max(AliasExpansionFloor, AliasExpansionFactor*written)
}

// diagnostic reports the crossing alias of file.
func (x *crossing) diagnostic(file string, limit, written int64) Diagnostic {
	d := Diagnostic{
		Position: Position{File: file, Line: x.alias.Line, Column: x.alias.Column},
		Severity: SeverityError,
		Field:    x.field,
	}
	root := resolve(x.doc)
	if k := lookup(root, "kind"); k != nil && k.Kind == yaml.ScalarNode {
		d.Kind = k.Value
	}
	if m := lookup(root, "metadata"); m != nil {
		if name := lookup(m, "name"); name != nil && name.Kind == yaml.ScalarNode {
			d.Name = name.Value
		}
	}
	if x.size == unbounded {
		d.Message = fmt.Sprintf("alias *%s is inside the node it names, so it would expand without end; write the values out", x.alias.Value)
		return d
	}
	d.Message = fmt.Sprintf("alias *%s expands to %d nodes and takes the aliases of this load to %d nodes, more than the limit of %d (%d x the %d nodes written, at least %d); write the values out or use fewer aliases",
		x.alias.Value, x.size, x.total, limit, AliasExpansionFactor, written, AliasExpansionFloor)
	return d
}
