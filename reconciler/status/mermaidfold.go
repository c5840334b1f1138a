package status

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// The diagram's bounds. Each holds by construction: a piece of the topology
// is drawn only when it fits next to what is drawn and to the room kept for
// the fold shapes that count what is not.
const (
	// mermaidMaxTextSize is Mermaid's default maxTextSize, which forges use:
	// past it a viewer shows an error box instead of the diagram. Mermaid
	// counts UTF-16 code units; a byte count is never below that.
	mermaidMaxTextSize = 50_000
	// maxDiagramBytes is the diagram's budget, well below Mermaid's limit.
	maxDiagramBytes = 30_000
	// maxShapes bounds the shapes drawn, fold shapes included: past a few
	// dozen, a flowchart becomes a column too long to read.
	maxShapes = 60
	// maxSelectedPerMirror is how many of a mirror's selected ports are drawn;
	// the rest are counted in one fold shape.
	maxSelectedPerMirror = 8
	// maxBridgesPerManager is how many bridges of one manager are drawn.
	maxBridgesPerManager = 16
	// maxPortsPerBridge is how many container ports of one bridge are drawn,
	// worst phase first: each adds a row to the diagram's height, and past
	// a dozen or so the folds' counts by phase say more.
	maxPortsPerBridge = 16
	// foldSlots fold shapes (of foldSlotBytes each) are kept free while
	// pieces are drawn, when as many folds may yet be needed, so that what
	// comes last (Ready container ports) is counted on its bridge rather
	// than only in the rest.
	foldSlots, foldSlotBytes = 8, 256
)

// shape is one diagram node; label is already escaped (mermaidLabel).
type shape struct {
	id, open, label, class string
}

// link is one diagram edge; label is already escaped.
type link struct {
	from, arrow, to, label string
}

// piece is one object's share of the diagram: its shapes and links, drawn
// whole or counted whole in a fold. A link is drawn only when both its ends
// are.
type piece struct {
	shapes []shape
	links  []link
	needs  []string // ids that must be drawn before: the pieces it hangs off
	fold   fold     // where the piece is counted when it is not drawn
	class  string   // what the fold counts it as: a phase class, or "undeclared"
	folded bool     // counted, not drawn, whatever the room (a per-parent limit)
}

// fold is a counted group: a shape "NAME: N more NOUN, all PHASE" linked to
// the shape it hangs off. One is drawn per class, so each is coloured.
type fold struct {
	parent string // id of the shape it hangs off, "" for the node itself
	name   string // escaped name of that shape's object, "" for the node
	noun   string // plural: "container ports"
	arrow  string // the link's arrow
	out    bool   // the link goes from parent to the fold, else to parent
}

type foldKey struct {
	fold
	class string
}

type foldCount struct {
	n      int
	inRest bool // there was no room for its shape: counted in the rest
}

// diagram is a flowchart under construction within maxDiagramBytes and
// maxShapes. used counts the bytes of what is drawn plus the room kept:
// the header and classDefs, each class line's overhead, the largest text
// of every fold shape and of the rest shape; shapes counts the same way.
type diagram struct {
	shapes map[string]shape
	links  map[link]bool
	folds  map[foldKey]*foldCount
	rest   map[string]int // class -> pieces neither drawn nor in a fold shape
	used   int
	nShape int
}

const restID = "rest"

func newDiagram() *diagram {
	d := &diagram{shapes: map[string]shape{}, links: map[link]bool{}, folds: map[foldKey]*foldCount{}, rest: map[string]int{}}
	d.used = len(diagramHeader())
	for _, s := range diagramStyles {
		d.used += len("  class  \n") + len(s.class) // each id adds its length and a comma
	}
	d.used += len(shapeLine(d.restShape(true))) + len(restID) + 1
	d.nShape = 1 // the rest's shape
	return d
}

func diagramHeader() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, s := range diagramStyles {
		fmt.Fprintf(&b, "  classDef %s %s\n", s.class, s.style)
	}
	return b.String()
}

func shapeLine(s shape) string {
	return fmt.Sprintf("  %s%s\"%s\"%s\n", s.id, s.open, s.label, shapeClose[s.open])
}

func linkLine(l link) string {
	if l.label == "" {
		return fmt.Sprintf("  %s %s %s\n", l.from, l.arrow, l.to)
	}
	return fmt.Sprintf("  %s %s|\"%s\"| %s\n", l.from, l.arrow, l.label, l.to)
}

var shapeClose = map[string]string{"[": "]", "([": "])", "{{": "}}", "[/": "/]", "[[": "]]", "[(": ")]"}

// addAll adds pieces in order, keeping room for the folds that the pieces
// after each may need.
func (d *diagram) addAll(pieces []piece) {
	later := make([]int, len(pieces)+1) // later[i]: distinct folds of pieces[i:]
	alone := make([]bool, len(pieces))  // no later piece has the same fold
	seen := map[foldKey]bool{}
	for i := len(pieces) - 1; i >= 0; i-- {
		key := foldKey{pieces[i].fold, pieces[i].class}
		alone[i] = !seen[key]
		seen[key] = true
		later[i] = len(seen)
	}
	for i, p := range pieces {
		d.add(p, min(foldSlots, later[i+1]), alone[i])
	}
}

// add draws p if it fits with room for slots fold shapes to spare, or
// counts it: in its fold's shape when there is room for that shape, else in
// the rest. A piece that would be alone in its fold (last is set and no
// fold holds its group yet) is drawn instead when it takes no more room
// than that fold's shape: "1 more" says less than the piece. Once a fold
// counts a piece, the fold's later pieces are counted too, so that
// "N more" is all the rest.
func (d *diagram) add(p piece, slots int, last bool) {
	key := foldKey{p.fold, p.class}
	if fc := d.folds[key]; fc != nil {
		d.count(key, fc)
		return
	}
	for _, id := range p.needs {
		if _, ok := d.shapes[id]; !ok {
			d.rest[p.class]++ // what it hangs off is not drawn either
			return
		}
	}
	bytes, shapes := d.cost(p)
	if !p.folded && d.used+bytes+slots*foldSlotBytes <= maxDiagramBytes && d.nShape+shapes+slots <= maxShapes {
		d.draw(p)
		return
	}
	foldBytes := d.foldCost(key)
	if last && shapes <= 1 && bytes <= foldBytes && d.used+bytes <= maxDiagramBytes && d.nShape+shapes <= maxShapes {
		d.draw(p)
		return
	}
	fc := &foldCount{}
	if d.used+foldBytes <= maxDiagramBytes && d.nShape+1 <= maxShapes {
		d.used += foldBytes
		d.nShape++
	} else {
		fc.inRest = true
	}
	d.folds[key] = fc
	d.count(key, fc)
}

func (d *diagram) count(key foldKey, fc *foldCount) {
	if fc.inRest {
		d.rest[key.class]++
	} else {
		fc.n++
	}
}

// cost is what drawing p adds: bytes and shapes.
func (d *diagram) cost(p piece) (bytes, shapes int) {
	seen := map[string]bool{}
	for _, s := range p.shapes {
		if _, ok := d.shapes[s.id]; ok || seen[s.id] {
			continue
		}
		seen[s.id] = true
		bytes += len(shapeLine(s)) + len(s.id) + 1 // its line and its place in a class line
		shapes++
	}
	drawn := func(id string) bool { _, ok := d.shapes[id]; return ok || seen[id] }
	for _, l := range p.links {
		if !d.links[l] && drawn(l.from) && drawn(l.to) {
			bytes += len(linkLine(l))
		}
	}
	return bytes, shapes
}

func (d *diagram) draw(p piece) {
	bytes, shapes := d.cost(p)
	for _, s := range p.shapes {
		if _, ok := d.shapes[s.id]; !ok {
			d.shapes[s.id] = s
		}
	}
	for _, l := range p.links {
		if d.has(l.from) && d.has(l.to) {
			d.links[l] = true
		}
	}
	d.used += bytes
	d.nShape += shapes
}

func (d *diagram) has(id string) bool { _, ok := d.shapes[id]; return ok }

// foldCost is the most a fold's shape can add: its count at its widest,
// "all" in its text, its link (counted even while the shape it hangs off
// is not drawn) and its place in a class line.
func (d *diagram) foldCost(key foldKey) int {
	s, l := d.foldShape(key, math.MaxInt, true)
	bytes := len(shapeLine(s)) + len(s.id) + 1
	if key.parent != "" {
		bytes += len(linkLine(l))
	}
	return bytes
}

// foldShape is the shape counting n pieces of key, and its link to the
// shape it hangs off.
func (d *diagram) foldShape(key foldKey, n int, all bool) (shape, link) {
	var text strings.Builder
	if key.name != "" {
		text.WriteString(key.name + mermaidLabel(": "))
	}
	noun := key.noun
	if n == 1 {
		noun = strings.TrimSuffix(noun, "s") // every noun is a plural in -s
	}
	fmt.Fprintf(&text, "%d more %s", n, noun)
	if key.class != "undeclared" {
		text.WriteString(", ")
		if all {
			text.WriteString("all ")
		}
		text.WriteString(key.class)
	}
	s := shape{id: mermaidID("fold", key.parent, key.noun, key.class), open: "[", label: text.String(), class: key.class}
	l := link{from: s.id, arrow: key.arrow, to: key.parent}
	if key.out {
		l.from, l.to = key.parent, s.id
	}
	return s, l
}

// restShape counts what has no room of its own, by class; widest gives its
// largest text, every class at the widest count.
func (d *diagram) restShape(widest bool) shape {
	var parts []string
	total, worst := 0, ""
	for _, s := range diagramStyles {
		n := d.rest[s.class]
		if widest {
			n = math.MaxInt
		}
		if n == 0 {
			continue
		}
		if worst == "" {
			worst = s.class
		}
		total += n
		parts = append(parts, fmt.Sprintf("%d %s", n, s.class))
	}
	count := fmt.Sprint(total)
	if widest {
		count = fmt.Sprint(uint64(math.MaxUint64))
	}
	label := mermaidLabel(fmt.Sprintf("%s more, not drawn: ", count)) + strings.Join(parts, ", ")
	return shape{id: restID, open: "[", label: label, class: worst}
}

// render writes the diagram text, without the fence.
func (d *diagram) render() string {
	shapes := maps.Clone(d.shapes)
	links := maps.Clone(d.links)
	classes := map[foldKey]int{} // how many classes each fold counts, for "all"
	for key, fc := range d.folds {
		if !fc.inRest {
			classes[foldKey{fold: key.fold}]++
		}
	}
	for key, fc := range d.folds {
		if fc.inRest {
			continue
		}
		s, l := d.foldShape(key, fc.n, classes[foldKey{fold: key.fold}] == 1)
		shapes[s.id] = s
		if d.has(key.parent) {
			links[l] = true
		}
	}
	if len(d.rest) > 0 {
		s := d.restShape(false)
		shapes[s.id] = s
	}

	var b strings.Builder
	b.WriteString(diagramHeader())
	byClass := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(shapes)) {
		s := shapes[id]
		b.WriteString(shapeLine(s))
		byClass[s.class] = append(byClass[s.class], id)
	}
	for _, l := range slices.SortedFunc(maps.Keys(links), func(a, b link) int {
		return cmp.Or(cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to), cmp.Compare(a.arrow, b.arrow), cmp.Compare(a.label, b.label))
	}) {
		b.WriteString(linkLine(l))
	}
	for _, s := range diagramStyles {
		if ids := byClass[s.class]; len(ids) > 0 {
			fmt.Fprintf(&b, "  class %s %s\n", strings.Join(ids, ","), s.class)
		}
	}
	return b.String()
}
