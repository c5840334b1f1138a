package topology

// Cache keeps the parts of a graph a source built, so that the next build
// reuses those whose version did not change instead of making them again:
// a change to one port of 10,000 rebuilds that port only. The nodes and
// edges of a cached fragment are shared between builds and must not be
// changed once built. One cache serves one sequence of builds (one
// export), not several at once.
type Cache struct {
	frags map[string]*Fragment
	used  map[string]bool
}

// Fragment is the part of a graph one call of Graph.Fragment built. A
// fragment is never changed once built: a new version is a new Fragment.
type Fragment struct {
	Version uint64
	Nodes   []*Node
	Edges   []*Edge
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{frags: map[string]*Fragment{}} }

// Fragments are the fragments of the last build, by key. The map belongs
// to the cache: read it, do not keep or change it.
func (c *Cache) Fragments() map[string]*Fragment { return c.frags }

// NewCached is New with the fragments of c (nil for none).
func NewCached(host string, include []string, c *Cache) *Graph {
	g := New(host, include)
	g.cache = c
	if c != nil {
		c.used = map[string]bool{}
	}
	return g
}

// NewLoose is NewCached for a consumer that reads the fragments from c
// itself (c.Fragments()): they are not copied into Nodes and Edges, which
// hold only the elements built outside fragments, and Finish drops no
// edge, since it cannot see every node.
func NewLoose(host string, include []string, c *Cache) *Graph {
	g := NewCached(host, include, c)
	g.loose = true
	return g
}

// Fragment adds what build adds to g, under key at version: when the
// cache holds key at that version, its nodes and edges are added again
// without calling build. Fragments do not nest.
func (g *Graph) Fragment(key string, version uint64, build func()) {
	c := g.cache
	if c == nil || g.rec != nil {
		build()
		return
	}
	c.used[key] = true
	f := c.frags[key]
	if f == nil || f.Version != version {
		f = &Fragment{Version: version}
		g.rec = f
		build()
		g.rec = nil
		c.frags[key] = f
	}
	if g.loose {
		return
	}
	for _, n := range f.Nodes {
		g.Nodes[n.ID] = n
	}
	for _, e := range f.Edges {
		g.Edges[e.ID] = e
	}
}

// Finish drops the edges whose parent or child is not in the graph (a
// part left out, a peer not seen yet): the analyzer would drop them too,
// and the read-back would never match. It also forgets the cached
// fragments this build did not use.
func (g *Graph) Finish() {
	if !g.loose {
		for id, e := range g.Edges {
			if g.Nodes[e.Parent] == nil || g.Nodes[e.Child] == nil {
				delete(g.Edges, id)
			}
		}
	}
	if c := g.cache; c != nil {
		for k := range c.frags {
			if !c.used[k] {
				delete(c.frags, k)
			}
		}
		c.used = nil
	}
}
