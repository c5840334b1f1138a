package status

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// phaseStyles colours diagram nodes by their object's phase; "undeclared"
// marks a bridge that mirrors or ports use but the spec does not declare.
var phaseStyles = []struct{ class, style string }{
	{string(reconciler.PhaseReady), "fill:#dcfce7,stroke:#15803d,color:#14532d"},
	{string(reconciler.PhaseDrifted), "fill:#ffedd5,stroke:#c2410c,color:#7c2d12"},
	{string(reconciler.PhasePending), "fill:#f1f5f9,stroke:#64748b,color:#334155"},
	{string(reconciler.PhaseDegraded), "fill:#fef9c3,stroke:#a16207,color:#713f12"},
	{string(reconciler.PhaseFailed), "fill:#fee2e2,stroke:#b91c1c,color:#7f1d1d"},
	{string(reconciler.PhaseSuspended), "fill:#e0e7ff,stroke:#4338ca,color:#312e81"},
	{"undeclared", "fill:#ffffff,stroke:#94a3b8,stroke-dasharray:4 3,color:#475569"},
}

// graph collects the diagram's nodes and edges; both are written sorted, so
// the diagram does not depend on the order of the spec files.
type graph struct {
	nodes map[string]graphNode
	edges map[graphEdge]bool
}

type graphNode struct {
	shape string // "[", "([", "{{" or "[/"
	label string // raw text; "\n" starts a new line
	class string // a phaseStyles class, or "" for none
}

type graphEdge struct {
	from, to, arrow, label string
}

func (g *graph) node(id, shape, label, class string) {
	if old, ok := g.nodes[id]; ok && old.class != "" && old.class != "undeclared" {
		return // a declared object's node wins over a mere reference
	}
	g.nodes[id] = graphNode{shape: shape, label: label, class: class}
}

func (g *graph) edge(from, arrow, to, label string) {
	g.edges[graphEdge{from: from, to: to, arrow: arrow, label: label}] = true
}

// renderMermaid draws the node's OVS managers, bridges, ports, mirrors and
// containers as a ```mermaid block, coloured by phase; a topology too large
// for Mermaid (maxDiagramBytes) gets a note instead.
func renderMermaid(ns *reconciler.NodeStatus, set *spec.Set) string {
	if set == nil {
		return "No spec revision is enforced yet, so there is no topology to draw.\n"
	}
	objs := slices.Clone(set.ForNode(ns.Node))
	slices.SortStableFunc(objs, func(a, b *spec.Object) int {
		return compareRefs(a.Kind, a.Metadata.Name, b.Kind, b.Metadata.Name)
	})
	phase := func(o *spec.Object) string {
		if st := ns.Object(reconciler.RefOf(o)); st != nil && st.Phase != "" {
			return string(st.Phase)
		}
		return string(reconciler.PhasePending)
	}
	g := &graph{nodes: map[string]graphNode{}, edges: map[graphEdge]bool{}}
	// bridge adds a bridge referenced by a mirror or port, and its manager edge.
	bridge := func(manager, name string) string {
		id := mermaidID("br", manager, name)
		g.node(id, "[", "bridge "+name, "undeclared")
		if manager != "" {
			g.edge(mermaidID("mgr", manager), "---", id, "")
		}
		return id
	}
	port := func(manager, br, name string) string {
		id := mermaidID("port", manager, br, name)
		g.node(id, "[/", "port "+name, "")
		g.edge(bridge(manager, br), "---", id, "")
		return id
	}
	for _, o := range objs {
		switch sp := o.Spec.(type) {
		case *spec.OVSManagerSpec:
			g.node(mermaidID("mgr", o.Metadata.Name), "[", "OVSManager "+o.Metadata.Name+"\n"+sp.Address, phase(o))
		case *spec.BridgeSpec:
			name := cmp.Or(sp.Bridge, o.Metadata.Name)
			id := bridge(sp.Manager, name)
			label := "bridge " + name
			if name != o.Metadata.Name {
				label += "\n(" + o.Metadata.Name + ")"
			}
			g.node(id, "[", label, phase(o))
		case *spec.MirrorSpec:
			id := mermaidID("mir", o.Metadata.Name)
			g.node(id, "{{", "mirror "+cmp.Or(sp.MirrorName, o.Metadata.Name), phase(o))
			br := bridge(sp.Manager, sp.Bridge)
			if sp.SelectAll {
				g.edge(br, "-->", id, "all")
			} else {
				g.edge(br, "-.-", id, "")
			}
			for _, p := range sp.SelectSrcPorts {
				g.edge(port(sp.Manager, sp.Bridge, p), "-->", id, "src")
			}
			for _, p := range sp.SelectDstPorts {
				g.edge(port(sp.Manager, sp.Bridge, p), "-->", id, "dst")
			}
			if out := sp.Output; out != nil {
				switch {
				case out.Port != "":
					g.edge(id, "-->", port(sp.Manager, sp.Bridge, out.Port), "output")
				case out.VLAN != nil:
					vid := mermaidID("vlan", sp.Manager, sp.Bridge, fmt.Sprint(*out.VLAN))
					g.node(vid, "([", fmt.Sprintf("VLAN %d", *out.VLAN), "")
					g.edge(id, "-->", vid, "output")
				}
			}
		case *spec.ContainerPortSpec:
			manager := sp.Manager
			if manager == "" {
				manager = onlyManager(set, ns.Node)
			}
			cid := mermaidID("ctr", sp.Container)
			g.node(cid, "([", "container "+sp.Container, "")
			pid := mermaidID("cp", o.Metadata.Name)
			g.node(pid, "[", o.Metadata.Name+"\n"+sp.Interface, phase(o))
			tag := "trunk"
			if sp.VLAN != nil {
				tag = fmt.Sprintf("vlan %d", *sp.VLAN)
			}
			g.edge(cid, "---", pid, "")
			g.edge(pid, "---", bridge(manager, sp.Bridge), tag)
		}
	}
	if len(g.nodes) == 0 {
		return "No OVS objects on this node.\n"
	}
	text, ok := g.render()
	if !ok {
		return fmt.Sprintf("The topology (%d shapes, %d links) is too large to draw: Mermaid draws at most %d characters of diagram. The tables above list every object.\n",
			len(g.nodes), len(g.edges), maxDiagramBytes)
	}
	return "```mermaid\n" + text + "```\n"
}

// maxDiagramBytes is Mermaid's default maxTextSize: past it a viewer shows
// an error instead of the diagram. A byte count is never below the UTF-16
// length Mermaid counts.
const maxDiagramBytes = 50_000

// onlyManager is the node's OVSManager when it has exactly one, as a
// ContainerPort without manager means.
func onlyManager(set *spec.Set, node string) string {
	var found string
	for _, m := range set.OfKind("OVSManager") {
		if set.NodeOf(m) == node {
			if found != "" {
				return ""
			}
			found = m.Metadata.Name
		}
	}
	return found
}

// render writes the diagram text (without the fence); ok is false, and the
// text incomplete, when it would be longer than maxDiagramBytes.
func (g *graph) render() (text string, ok bool) {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, s := range phaseStyles {
		fmt.Fprintf(&b, "  classDef %s %s\n", s.class, s.style)
	}
	ids := slices.Sorted(maps.Keys(g.nodes))
	byClass := map[string][]string{}
	for _, id := range ids {
		n := g.nodes[id]
		open, close := n.shape, shapeClose[n.shape]
		fmt.Fprintf(&b, "  %s%s\"%s\"%s\n", id, open, mermaidLabel(n.label), close)
		if b.Len() > maxDiagramBytes {
			return "", false
		}
		if n.class != "" {
			byClass[n.class] = append(byClass[n.class], id)
		}
	}
	edges := slices.SortedFunc(maps.Keys(g.edges), func(a, b graphEdge) int {
		return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to), cmp.Compare(a.arrow, b.arrow), cmp.Compare(a.label, b.label))
	})
	for _, e := range edges {
		if _, ok := g.nodes[e.from]; !ok {
			continue // a manager named by a bridge but not placed on this node
		}
		if e.label == "" {
			fmt.Fprintf(&b, "  %s %s %s\n", e.from, e.arrow, e.to)
		} else {
			fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", e.from, e.arrow, mermaidLabel(e.label), e.to)
		}
		if b.Len() > maxDiagramBytes {
			return "", false
		}
	}
	for _, s := range phaseStyles {
		if ids := byClass[s.class]; len(ids) > 0 {
			fmt.Fprintf(&b, "  class %s %s\n", strings.Join(ids, ","), s.class)
		}
	}
	if b.Len() > maxDiagramBytes {
		return "", false
	}
	return b.String(), true
}

var shapeClose = map[string]string{"[": "]", "([": "])", "{{": "}}", "[/": "/]"}

// mermaidID builds a node id from a prefix and name parts. Every byte other
// than an ASCII letter or digit, '_' included, is written as _XX (hex), and
// parts are joined by "__", so distinct inputs give distinct ids and no id
// can be a Mermaid keyword ("end") or start an o/x edge.
func mermaidID(prefix string, parts ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, p := range parts {
		b.WriteString("__")
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "_%02x", c)
			}
		}
	}
	return b.String()
}

// maxLabelBytes bounds the text of one diagram label (before escaping).
const maxLabelBytes = 200

// mermaidEntities are the characters mermaidLabel writes as entity codes:
// '"' ends a quoted label; '%' starts a directive (Mermaid finds %%{...}%%
// anywhere in the text) or a comment; '#' starts an entity code, so an
// entity in the text ("#quot;") stays literal; '<', '>' and '&' are HTML;
// '`' opens a Markdown string; ':' and ';' would let a label match
// Mermaid's pre-pass that rewrites "style ...:#...;" lines; brackets,
// braces and '|' delimit shapes and edge labels. Inside quotes most of
// these are inert today; escaping them keeps a label inert should a
// Mermaid version read quoted text differently.
var mermaidEntities = map[rune]string{
	'"': "#quot;", '<': "#lt;", '>': "#gt;", '&': "#amp;",
	'#': "#35;", '%': "#37;", '`': "#96;", ':': "#58;", ';': "#59;",
	'[': "#91;", ']': "#93;", '{': "#123;", '}': "#125;", '|': "#124;",
}

// mermaidLabel escapes text for a quoted Mermaid label: "\n" becomes a line
// break (<br/>), "\r" is dropped, the characters of mermaidEntities, other
// control characters and Unicode line separators (which JavaScript's
// regular expressions treat as line ends) become entity codes, so that the
// label shows its text and can neither end the label, the statement or the
// line nor open a directive, comment, HTML tag or Markdown string. The text
// is clipped to maxLabelBytes first.
func mermaidLabel(s string) string {
	var b strings.Builder
	for _, r := range reconciler.Clip(s, maxLabelBytes) {
		switch {
		case r == '\n':
			b.WriteString("<br/>")
		case r == '\r':
		case mermaidEntities[r] != "":
			b.WriteString(mermaidEntities[r])
		case r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, "#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
