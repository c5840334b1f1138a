package status

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// The diagram's contract, as the tests check it: a budget well below
// Mermaid's default maxTextSize of 50,000 characters, and few enough shapes
// to read.
const (
	wantMaxDiagramChars = 30_000
	wantMaxShapes       = 60
)

// diagramText is a topology section read back from the renderer's own
// line format.
type diagramText struct {
	text    string            // the diagram, between the fences
	lines   []string          // its lines
	after   string            // what follows the closing fence
	labels  map[string]string // shape id -> label as written
	opens   map[string]string // shape id -> how its shape opens ("[", "{{", ...)
	classes map[string]string // shape id -> class
	defs    map[string]bool   // classDef names
}

var (
	shapeLineRE = regexp.MustCompile(`^  ([A-Za-z0-9_]+)(\[\[|\[\(|\(\[|\{\{|\[/|\[)"(.*)"(\]\]|\)\]|\]\)|\}\}|/\]|\])$`)
	classLineRE = regexp.MustCompile(`^  class ([A-Za-z0-9_,]+) ([A-Za-z]+)$`)
	classDefRE  = regexp.MustCompile(`^  classDef ([A-Za-z]+) `)
)

func readDiagram(t *testing.T, section string) diagramText {
	t.Helper()
	const open, close = "```mermaid\n", "\n```\n"
	end := strings.Index(section, close)
	if !strings.HasPrefix(section, open) || end < 0 {
		if len(section) > 300 {
			section = section[:300] + "…"
		}
		t.Fatalf("no ```mermaid block: %q", section)
	}
	d := diagramText{text: section[len(open) : end+1], after: section[end+len(close):],
		labels: map[string]string{}, opens: map[string]string{}, classes: map[string]string{}, defs: map[string]bool{}}
	d.lines = strings.Split(strings.TrimSuffix(d.text, "\n"), "\n")
	for _, l := range d.lines {
		if m := shapeLineRE.FindStringSubmatch(l); m != nil {
			d.labels[m[1]], d.opens[m[1]] = m[3], m[2]
		}
		if m := classLineRE.FindStringSubmatch(l); m != nil {
			for _, id := range strings.Split(m[1], ",") {
				if old, ok := d.classes[id]; ok {
					t.Errorf("shape %s has two classes, %s and %s", id, old, m[2])
				}
				d.classes[id] = m[2]
			}
		}
		if m := classDefRE.FindStringSubmatch(l); m != nil {
			d.defs[m[1]] = true
		}
	}
	return d
}

// ids lists the shapes whose id starts with prefix.
func (d diagramText) ids(prefix string) []string {
	var out []string
	for id := range d.labels {
		if strings.HasPrefix(id, prefix) {
			out = append(out, id)
		}
	}
	return out
}

var foldLabelRE = regexp.MustCompile(`^(.*)#58; ([0-9]+) more ([a-zA-Z ]+?)(, (all )?([A-Za-z]+))?$`)

// folded sums the counts of the fold shapes "NAME: N more NOUN[, PHASE]"
// for name and noun (a plural, without its s for 1), by phase; all tells
// whether one said "all".
func (d diagramText) folded(name, noun string) (byPhase map[string]int, all bool) {
	byPhase = map[string]int{}
	for id, label := range d.labels {
		m := foldLabelRE.FindStringSubmatch(label)
		if m == nil || m[1] != name || (m[3] != noun && m[3]+"s" != noun) {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		byPhase[m[6]] += n
		all = all || m[5] != ""
		if m[6] != "" && d.classes[id] != m[6] {
			panic(fmt.Sprintf("fold shape %s says %s but has class %q", id, m[6], d.classes[id]))
		}
	}
	return byPhase, all
}

// nodeFixture describes node edge-1: manager edge-ovs, a declared bridge
// br-int, a mirror selecting ports and sending to tap0, a collector, a
// SkyDive export, extra mirrors, and ports container ports on br-int, each
// in a container of its own.
type nodeFixture struct {
	ports      int
	phaseOf    func(i int) reconciler.Phase // a container port's phase; nil: Ready
	mirrorName string                       // "" for span
	selected   []string                     // the mirror's source ports
	mirrors    int                          // more mirrors, each selecting selected too
	exchange   string                       // the collector's exchange; "" for esnet
	cpMirror   bool                         // a Mirror cspan selecting the last container port but one by spec name, output to the last
}

func (f nodeFixture) build(t testing.TB) (*reconciler.NodeStatus, *spec.Set) {
	t.Helper()
	fsys := fstest.MapFS{}
	var b strings.Builder
	ns := &reconciler.NodeStatus{Node: "edge-1"}
	ready := func(kind, name string) {
		ns.Objects = append(ns.Objects, reconciler.ObjectStatus{Kind: kind, Name: name, Phase: reconciler.PhaseReady})
	}
	q := strconv.Quote // a YAML double-quoted scalar too
	doc := func(kind, name, spec string) {
		if b.Len() > 512<<10 { // the spec loader takes files of at most 1 MiB
			fsys[fmt.Sprintf("node-%d.yaml", len(fsys))] = &fstest.MapFile{Data: []byte(b.String())}
			b.Reset()
		}
		fmt.Fprintf(&b, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: %s\nmetadata: {name: %s}\nspec: %s\n", kind, name, spec)
	}
	doc("OVSManager", "edge-ovs", `{node: edge-1, address: "unix:/run/ovs.sock"}`)
	ready("OVSManager", "edge-ovs")
	doc("Bridge", "edge-br-int", `{manager: edge-ovs, bridge: br-int}`)
	ready("Bridge", "edge-br-int")
	selected := make([]string, len(f.selected))
	for i, s := range f.selected {
		selected[i] = q(s)
	}
	for i := 0; i <= f.mirrors; i++ {
		name, mirrorName := "span", f.mirrorName
		if i > 0 {
			name = fmt.Sprintf("span-%d", i)
			if mirrorName != "" {
				mirrorName = fmt.Sprintf("%s %d", mirrorName, i)
			}
		}
		extra := ""
		if mirrorName != "" {
			extra = ", mirrorName: " + q(mirrorName)
		}
		sel := "selectAll: true"
		if len(selected) > 0 {
			sel = "selectSrcPorts: [" + strings.Join(selected, ", ") + "]"
		}
		doc("Mirror", name, `{manager: edge-ovs, bridge: br-int, `+sel+`, output: {port: tap0}`+extra+`}`)
		ready("Mirror", name)
	}
	if f.cpMirror {
		doc("Mirror", "cspan", fmt.Sprintf(`{manager: edge-ovs, bridge: br-int, selectSrcContainerPorts: [web-%04d-eth1], selectDstContainerPorts: [web-%04d-eth1], output: {containerPort: web-%04d-eth1}}`, f.ports-2, f.ports-2, f.ports-1))
		ready("Mirror", "cspan")
	}
	doc("CollectorTarget", "esnet", `{node: edge-1, netbeam: {url: "https://netbeam.example.net/api", network: esnet/prod},
  rabbitmq: {url: {env: WIREKEEPER_SECRET_AMQP_URL}, exchange: `+q(cmpOr(f.exchange, "esnet"))+`},
  inventory: {mysql: {dsn: {env: WIREKEEPER_SECRET_MYSQL_DSN}}}}`)
	ready("CollectorTarget", "esnet")
	doc("SkyDiveExport", "topology", `{node: edge-1, analyzer: "analyzer.example.net:8082"}`)
	ready("SkyDiveExport", "topology")
	for i := 0; i < f.ports; i++ {
		name := fmt.Sprintf("web-%04d-eth1", i)
		doc("ContainerPort", name, fmt.Sprintf(`{node: edge-1, bridge: br-int, container: web-%04d, interface: eth1, vlan: 10}`, i))
		phase := reconciler.PhaseReady
		if f.phaseOf != nil {
			phase = f.phaseOf(i)
		}
		ns.Objects = append(ns.Objects, reconciler.ObjectStatus{Kind: "ContainerPort", Name: name, Phase: phase})
	}
	fsys[fmt.Sprintf("node-%d.yaml", len(fsys))] = &fstest.MapFile{Data: []byte(b.String())}
	set, diags := spec.LoadFS(fsys, "")
	if diags.HasErrors() {
		t.Fatalf("fixture spec is invalid:\n%v", diags)
	}
	return ns, set
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// checkBounds checks the limits every diagram keeps, and that every shape
// has a class (none is left in Mermaid's default colour).
func checkBounds(t *testing.T, d diagramText) {
	t.Helper()
	if n := len(d.text); n > wantMaxDiagramChars {
		t.Errorf("diagram is %d bytes, over the budget of %d", n, wantMaxDiagramChars)
	}
	if n := len(d.labels); n > wantMaxShapes {
		t.Errorf("diagram draws %d shapes, more than %d", n, wantMaxShapes)
	}
	for id := range d.labels {
		if d.classes[id] == "" {
			t.Errorf("shape %s has no class: %s", id, d.labels[id])
		} else if !d.defs[d.classes[id]] {
			t.Errorf("shape %s has class %s, which no classDef defines", id, d.classes[id])
		}
	}
}

// A node of any size gets a diagram within the budget, with the mirror, its
// ports, the collector and the export drawn, up to 16 Ready container ports
// of a bridge drawn and the rest counted: "br-int: N more container ports,
// all Ready". Before, 320 ports went past Mermaid's limit (the diagram was
// replaced by a note).
func TestMermaidFitsAnySize(t *testing.T) {
	for _, n := range []int{1, 40, 320, 500, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ns, set := nodeFixture{ports: n, selected: []string{"eth0", "eth1"}}.build(t)
			d := readDiagram(t, renderMermaid(ns, set))
			checkBounds(t, d)
			for _, id := range []string{"mgr__edge_2dovs", "br__edge_2dovs__br_2dint", "mir__span",
				"port__edge_2dovs__br_2dint__eth0", "port__edge_2dovs__br_2dint__eth1", "port__edge_2dovs__br_2dint__tap0",
				"col__esnet", "sky__topology"} {
				if _, ok := d.labels[id]; !ok {
					t.Errorf("shape %s is not drawn", id)
				}
			}
			drawn := len(d.ids("cp__"))
			folded, all := d.folded("br-int", "container ports")
			if drawn+folded["Ready"] != n || len(folded) > 1 {
				t.Errorf("%d container ports drawn, folded %v: want %d in all, all Ready", drawn, folded, n)
			}
			if folded["Ready"] > 0 && !all {
				t.Errorf("the fold of %d Ready ports does not say \"all Ready\"", folded["Ready"])
			}
			if want := min(n, 16); drawn != want {
				t.Errorf("%d of %d Ready container ports drawn, want %d: up to 16 of a bridge", drawn, n, want)
			}
		})
	}
}

// Container ports that are not Ready are drawn before Ready ones, up to 16
// of a bridge; when even they are too many, they are counted by phase, each
// fold in its phase's colour.
func TestMermaidDrawsWhatIsNotReady(t *testing.T) {
	phaseOf := func(every int) func(int) reconciler.Phase {
		return func(i int) reconciler.Phase {
			switch {
			case i%every == 1:
				return reconciler.PhaseFailed
			case i%every == 2:
				return reconciler.PhaseDrifted
			}
			return reconciler.PhaseReady
		}
	}
	t.Run("a few not Ready among 500", func(t *testing.T) {
		ns, set := nodeFixture{ports: 500, phaseOf: phaseOf(100)}.build(t)
		d := readDiagram(t, renderMermaid(ns, set))
		checkBounds(t, d)
		for i := 0; i < 500; i++ {
			want := phaseOf(100)(i)
			if want == reconciler.PhaseReady {
				continue
			}
			id := mermaidIDForTest("cp", fmt.Sprintf("web-%04d-eth1", i))
			if d.classes[id] != string(want) {
				t.Errorf("port %d (%s) drawn with class %q", i, want, d.classes[id])
			}
			if !strings.HasSuffix(d.labels[id], "<br/>"+string(want)) {
				t.Errorf("port %d label %q does not name its phase %s", i, d.labels[id], want)
			}
		}
		if folded, all := d.folded("br-int", "container ports"); len(folded) != 1 || folded["Ready"] == 0 || !all {
			t.Errorf("folded %v (all: %v), want only Ready ports, \"all Ready\"", folded, all)
		}
	})
	t.Run("many not Ready among 5000", func(t *testing.T) {
		ns, set := nodeFixture{ports: 5000, phaseOf: phaseOf(10)}.build(t)
		d := readDiagram(t, renderMermaid(ns, set))
		checkBounds(t, d)
		folded, all := d.folded("br-int", "container ports")
		drawn := map[string]int{}
		for _, id := range d.ids("cp__") {
			drawn[d.classes[id]]++
		}
		if n := drawn["Failed"] + drawn["Drifted"] + drawn["Ready"]; n != 16 {
			t.Errorf("%d container ports of br-int drawn, want 16", n)
		}
		if drawn["Ready"] != 0 {
			t.Errorf("%d Ready ports drawn while Failed and Drifted ones are folded", drawn["Ready"])
		}
		want := map[string]int{"Failed": 500, "Drifted": 500, "Ready": 4000}
		for phase, n := range want {
			if drawn[phase]+folded[phase] != n {
				t.Errorf("%s: %d drawn + %d folded, want %d", phase, drawn[phase], folded[phase], n)
			}
		}
		if all {
			t.Errorf("a fold says \"all\" while several phases are folded")
		}
	})
}

// mermaidIDForTest is the id the renderer gives a name (ASCII letters and
// digits kept, other bytes as _XX), for short names.
func mermaidIDForTest(prefix string, parts ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, p := range parts {
		b.WriteString("__")
		for i := 0; i < len(p); i++ {
			if c := p[i]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "_%02x", c)
			}
		}
	}
	return b.String()
}

// Every shape is coloured by its phase: ports, containers and references
// included, with a classDef for every phase and for a phase this version
// does not know.
func TestMermaidColoursEveryShape(t *testing.T) {
	ns, set := nodeFixture{ports: 3, selected: []string{"eth0"}}.build(t)
	ns.Objects[len(ns.Objects)-1].Phase = "Hibernating" // from a newer version
	d := readDiagram(t, renderMermaid(ns, set))
	checkBounds(t, d)
	for _, c := range []string{"Ready", "Drifted", "Pending", "Degraded", "Failed", "Suspended", "Unknown"} {
		if !d.defs[c] {
			t.Errorf("no classDef %s", c)
		}
	}
	if got := d.classes["cp__web_2d0002_2deth1"]; got != "Unknown" {
		t.Errorf("a port in phase Hibernating has class %q, want Unknown", got)
	}
	if got := d.labels["cp__web_2d0002_2deth1"]; !strings.HasSuffix(got, "<br/>Hibernating") {
		t.Errorf("a port in phase Hibernating has label %q, want it named", got)
	}
	if got := d.classes["port__edge_2dovs__br_2dint__eth0"]; got != "undeclared" {
		t.Errorf("a port the mirror names has class %q, want undeclared", got)
	}
}

// Collectors and SkyDive exports are drawn with their phase, with where
// they read and write; the secrets they use are never named.
func TestMermaidCollectors(t *testing.T) {
	ns, set := nodeFixture{ports: 1}.build(t)
	for i := range ns.Objects {
		if ns.Objects[i].Kind == "CollectorTarget" {
			ns.Objects[i].Phase = reconciler.PhaseDegraded
		}
	}
	d := readDiagram(t, renderMermaid(ns, set))
	checkBounds(t, d)
	wantShapes := map[string]string{
		"col__esnet":                `[[` + "collector esnet<br/>Degraded",
		"sky__topology":             `[[` + "SkyDive export topology",
		"exchange__esnet":           `[(` + "RabbitMQ exchange esnet",
		"table__esnet_5finterfaces": `[(` + "MySQL table esnet_interfaces",
	}
	for id, want := range wantShapes {
		if got := d.opens[id] + d.labels[id]; got != want {
			t.Errorf("shape %s = %q, want %q", id, got, want)
		}
	}
	for _, want := range []string{
		`  col__esnet -->|"publish"| exchange__esnet`,
		`  col__esnet -->|"inventory"| table__esnet_5finterfaces`,
		`  sky__topology -->|"topology"| analyzer__analyzer_2eexample_2enet_3a8082`,
	} {
		if !strings.Contains(d.text, want+"\n") {
			t.Errorf("diagram lacks %q", want)
		}
	}
	if !strings.Contains(d.text, `(["Netbeam netbeam.example.net<br/>esnet/prod"])`) {
		t.Errorf("diagram lacks the Netbeam source")
	}
	if d.classes["col__esnet"] != "Degraded" || d.classes["sky__topology"] != "Ready" {
		t.Errorf("collector class %q, export class %q, want Degraded and Ready", d.classes["col__esnet"], d.classes["sky__topology"])
	}
	if strings.Contains(d.text, "WIREKEEPER_SECRET") {
		t.Errorf("the diagram names a secret:\n%s", d.text)
	}
}

// The budget holds by construction, even when every name is as long as a
// label allows and made of characters that escaping makes five times
// longer, and there are thousands of everything.
func TestMermaidBudgetHostile(t *testing.T) {
	long := func(c string, i int) string { return fmt.Sprintf("%d%s", i, strings.Repeat(c, 300)) }
	var selected []string
	for i := 0; i < 50; i++ {
		selected = append(selected, long("|", i))
	}
	ns, set := nodeFixture{ports: 2000, mirrorName: long("{", 0), selected: selected, mirrors: 300, exchange: long("%", 0),
		phaseOf: func(i int) reconciler.Phase { return []reconciler.Phase{"Failed", "Ready", "Pending"}[i%3] }}.build(t)
	d := readDiagram(t, renderMermaid(ns, set))
	checkBounds(t, d)
	if len(d.text) < wantMaxDiagramChars/2 {
		t.Errorf("diagram is %d bytes: the fixture should press against the budget", len(d.text))
	}
	if folded, _ := d.folded("br-int", "container ports"); folded["Failed"]+folded["Pending"]+folded["Ready"] == 0 {
		t.Errorf("no container ports folded: %v", folded)
	}
}
