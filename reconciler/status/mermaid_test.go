package status

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// mirrorSet is node edge-1 with a manager and one Mirror "m" whose OVS name
// and source port are name, with output port tap0.
func mirrorSet(t *testing.T, name string) *spec.Set {
	t.Helper()
	q := strconv.Quote(name) // a YAML double-quoted scalar too
	set, diags := spec.LoadFS(fstest.MapFS{"m.yaml": {Data: []byte(`apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: edge-ovs}
spec: {node: edge-1, address: "unix:/run/ovs.sock"}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: m}
spec:
  manager: edge-ovs
  bridge: br-int
  mirrorName: ` + q + `
  selectSrcPorts: [` + q + `]
  output: {port: tap0}
`)}}, "")
	if diags.HasErrors() {
		t.Fatalf("test spec for %q is invalid:\n%v", name, diags)
	}
	return set
}

// mermaidInjections are names a spec author could write to break out of a
// label; want is the label text as the diagram writes it.
var mermaidInjections = []struct{ name, in, want string }{
	{"init directive", `%%{init: {"theme":"dark"}}%%`,
		"#37;#37;#123;init#58; #123;#quot;theme#quot;#58;#quot;dark#quot;#125;#125;#37;#37;"},
	{"init directive, single quotes, then a click", "%%{init: {'theme':'forest'}}%%\nclick mgr__edge_2dovs call alert(1)",
		"#37;#37;#123;init#58; #123;'theme'#58;'forest'#125;#125;#37;#37;<br/>click mgr__edge_2dovs call alert(1)"},
	{"comment", "%% comment", "#37;#37; comment"},
	{"style pre-pass", "style x:#35;y; classDef Ready fill:#f00;", "style x#58;#35;35#59;y#59; classDef Ready fill#58;#35;f00#59;"},
	{"close node and click", `"]; click A href "javascript:alert(1)"`,
		"#quot;#93;#59; click A href #quot;javascript#58;alert(1)#quot;"},
	{"link out of the node", "]-->B[x", "#93;--#gt;B#91;x"},
	{"style on a new line", "x\nstyle A fill:#f00", "x<br/>style A fill#58;#35;f00"},
	{"carriage return and style", "x\r\nstyle A fill:#f00", "x<br/>style A fill#58;#35;f00"},
	{"HTML", "<img src=x onerror=alert(1)>", "#lt;img src=x onerror=alert(1)#gt;"},
	{"Markdown string", "`**bold**`", "#96;**bold**#96;"},
	{"encoded quote", "#quot;", "#35;quot#59;"},
	{"encoded ampersand", "a&amp;b", "a#amp;amp#59;b"},
	{"edge label pipe", "a|b", "a#124;b"},
	{"line separator", "a\u2028%%{init}%%", "a#8232;#37;#37;#123;init#125;#37;#37;"},
	{"tab and escape", "a\tb\x1b", "a#9;b#27;"},
	{"fence", "```", "#96;#96;#96;"},
}

// Whatever a spec author puts in a name, the diagram keeps it inside its
// label: no directive, comment, click, style, link, HTML tag or Markdown
// string, and exactly the statements the topology calls for. The test
// needs no Mermaid; TestMermaidRealParser reads the same names with
// Mermaid's own parser and checks each label's text as shown.
func TestMermaidLabelInjection(t *testing.T) {
	for _, tt := range mermaidInjections {
		t.Run(tt.name, func(t *testing.T) {
			got := readDiagram(t, renderMermaid(&reconciler.NodeStatus{Node: "edge-1"}, mirrorSet(t, tt.in)))
			br, tap := mermaidID("br", "edge-ovs", "br-int"), mermaidID("port", "edge-ovs", "br-int", "tap0")
			port := mermaidID("port", "edge-ovs", "br-int", tt.in)
			want := []string{"flowchart LR"}
			for _, s := range diagramStyles {
				want = append(want, "  classDef "+s.class+" "+s.style)
			}
			// Without a status every object is Pending, and says so.
			want = append(want,
				`  `+br+`["bridge br-int"]`,
				`  mgr__edge_2dovs["OVSManager edge-ovs<br/>unix#58;/run/ovs.sock<br/>Pending"]`,
				`  mir__m{{"mirror `+tt.want+`<br/>Pending"}}`,
				`  `+port+`[/"port `+tt.want+`"/]`,
				`  `+tap+`[/"port tap0"/]`,
				`  mgr__edge_2dovs --- `+br,
				`  `+br+` -.- mir__m`,
				`  `+br+` --- `+port,
				`  `+br+` --- `+tap,
				`  `+port+` -->|"src"| mir__m`,
				`  mir__m -->|"output"| `+tap,
				`  class mgr__edge_2dovs,mir__m Pending`,
				`  class `+sortedIDs(br, port, tap)+` undeclared`,
			)
			if diff := cmp.Diff(sorted(want), sorted(got.lines)); diff != "" {
				t.Errorf("diagram lines (-want +got):\n%s\ndiagram:\n%s", diff, got.text)
			}
			if strings.Contains(got.text, tt.in) {
				t.Errorf("the diagram holds %q unescaped", tt.in)
			}
			if got.after != "\n"+mermaidLegend {
				t.Errorf("after the diagram: %q, want a blank line and the legend", got.after)
			}
		})
	}
}

func sortedIDs(ids ...string) string { return strings.Join(sorted(ids), ",") }

func sorted(lines []string) []string { return slices.Sorted(slices.Values(lines)) }

// A label is clipped to 200 bytes before escaping, saying how much was cut.
func TestMermaidLabelClipped(t *testing.T) {
	got := mermaidLabel("port " + strings.Repeat("x", 1000))
	if want := "port " + strings.Repeat("x", 175) + "… #91;825 bytes cut#93;"; got != want {
		t.Errorf("label of a 1000-byte name = %q, want %q", got, want)
	}
}

// manyBridges is node edge-1 with one manager, n declared bridges and a
// container port on each.
func manyBridges(t *testing.T, n int) (*reconciler.NodeStatus, *spec.Set) {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: edge-ovs}\nspec: {node: edge-1, address: \"unix:/run/ovs.sock\"}\n")
	ns := &reconciler.NodeStatus{Node: "edge-1"}
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: br-%03d}\nspec: {manager: edge-ovs}\n", i)
		fmt.Fprintf(&b, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: cp-%03d}\nspec: {node: edge-1, bridge: br-%03d, container: c%03d, interface: eth1}\n", i, i, i)
		ns.Objects = append(ns.Objects,
			reconciler.ObjectStatus{Kind: "Bridge", Name: fmt.Sprintf("br-%03d", i), Phase: reconciler.PhaseReady},
			reconciler.ObjectStatus{Kind: "ContainerPort", Name: fmt.Sprintf("cp-%03d", i), Phase: reconciler.PhaseFailed})
	}
	set, diags := spec.LoadFS(fstest.MapFS{"node.yaml": {Data: []byte(b.String())}}, "")
	if diags.HasErrors() {
		t.Fatalf("fixture spec is invalid:\n%v", diags)
	}
	return ns, set
}

// The diagram's accounting is an upper bound of what render writes, and
// stays within the bounds, for every fixture: what holds the budget is the
// construction, not a check of the text afterwards.
func TestDiagramAccounting(t *testing.T) {
	long := strings.Repeat("|", 300)
	type fx struct {
		name    string
		ns      *reconciler.NodeStatus
		set     *spec.Set
		wantAll string // a label the diagram must hold
	}
	var fixtures []fx
	for _, f := range []nodeFixture{
		{ports: 1}, {ports: 40, selected: []string{"a", "b"}}, {ports: 5000, mirrors: 20, selected: []string{long + "1", long + "2"}},
		{ports: 2000, mirrorName: long, selected: []string{long}, mirrors: 300, exchange: long},
	} {
		ns, set := f.build(t)
		fixtures = append(fixtures, fx{name: fmt.Sprintf("%d ports, %d mirrors", f.ports, f.mirrors+1), ns: ns, set: set})
	}
	ns, set := manyBridges(t, 300)
	fixtures = append(fixtures, fx{name: "300 bridges", ns: ns, set: set, wantAll: "edge-ovs#58; "})
	for _, f := range fixtures {
		t.Run(f.name, func(t *testing.T) {
			d := newDiagram()
			d.addAll(topologyPieces(f.ns, f.set))
			text := d.render()
			var shapes int
			for _, l := range strings.Split(text, "\n") {
				if shapeLineRE.MatchString(l) {
					shapes++
				}
			}
			if len(text) > d.used || d.used > maxDiagramBytes {
				t.Errorf("text %d bytes, accounted %d, budget %d", len(text), d.used, maxDiagramBytes)
			}
			if shapes > d.nShape || d.nShape > maxShapes {
				t.Errorf("%d shapes, accounted %d, limit %d", shapes, d.nShape, maxShapes)
			}
			if f.wantAll != "" && !strings.Contains(text, f.wantAll) {
				t.Errorf("diagram lacks %q:\n%s", f.wantAll, text)
			}
		})
	}
}

// Of 300 bridges, 16 are drawn and the rest counted on their manager, and
// the container ports of bridges not drawn in the last shape: every object
// is drawn or counted once.
func TestMermaidManyBridges(t *testing.T) {
	ns, set := manyBridges(t, 300)
	d := readDiagram(t, renderMermaid(ns, set))
	checkBounds(t, d)
	bridges := len(d.ids("br__"))
	folded, _ := d.folded("edge-ovs", "bridges")
	if bridges != 16 || bridges+folded["Ready"] != 300 {
		t.Errorf("%d bridges drawn, %v folded, want 16 drawn and 300 in all", bridges, folded)
	}
	ports := len(d.ids("cp__"))
	var inFolds int
	for _, label := range d.labels {
		if m := foldLabelRE.FindStringSubmatch(label); m != nil && strings.HasPrefix(m[3], "container port") {
			n, _ := strconv.Atoi(m[2])
			inFolds += n
		}
	}
	m := regexp.MustCompile(`^([0-9]+) more, not drawn#58; ([0-9]+) Failed$`).FindStringSubmatch(d.labels["rest"])
	if m == nil {
		t.Fatalf("rest shape %q, want \"N more, not drawn: N Failed\"", d.labels["rest"])
	}
	rest, _ := strconv.Atoi(m[2])
	if ports+inFolds+rest != 300 {
		t.Errorf("container ports: %d drawn, %d in folds, %d in the rest: want 300 in all", ports, inFolds, rest)
	}
}

// cpMirrorSet is node edge-1 with a manager, ContainerPorts web-eth1
// (container web, VLAN 10) and tap (container capture, a trunk) on br-int,
// and Mirror cspan on br-int whose spec's selection and output are sel.
func cpMirrorSet(t *testing.T, sel string) *spec.Set {
	t.Helper()
	set, diags := spec.LoadFS(fstest.MapFS{"m.yaml": {Data: []byte(`apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: edge-ovs}
spec: {node: edge-1, address: "unix:/run/ovs.sock"}
---
apiVersion: wirekeeper.io/v1alpha1
kind: ContainerPort
metadata: {name: web-eth1}
spec: {node: edge-1, bridge: br-int, container: web, interface: eth1, vlan: 10}
---
apiVersion: wirekeeper.io/v1alpha1
kind: ContainerPort
metadata: {name: tap}
spec: {node: edge-1, bridge: br-int, container: capture, interface: eth1}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: cspan}
spec: {manager: edge-ovs, bridge: br-int, ` + sel + `}
`)}}, "")
	if diags.HasErrors() {
		t.Fatalf("test spec is invalid:\n%v", diags)
	}
	return set
}

// A Mirror that selects or outputs to ContainerPorts by their spec names
// is drawn linked to the ContainerPorts' own shapes, labelled as the links
// of the ports it names by OVS name are ("src", "dst", "output"); the
// ContainerPorts are not drawn a second time as undeclared ports, under
// their spec names or their OVS names (a hash of node, container and
// interface).
func TestMermaidMirrorOfContainerPorts(t *testing.T) {
	const (
		mgr, br, mir = "mgr__edge_2dovs", "br__edge_2dovs__br_2dint", "mir__cspan"
		web, tap     = "cp__web_2deth1", "cp__tap"
	)
	tests := []struct {
		name   string
		sel    string
		phases map[string]reconciler.Phase // by object name; absent: Ready
		want   []string                    // the lines besides the classDefs
	}{
		{"selected both ways, output to a ContainerPort",
			"selectSrcContainerPorts: [web-eth1], selectDstContainerPorts: [web-eth1], output: {containerPort: tap}", nil,
			[]string{
				`  ` + web + ` -->|"src"| ` + mir,
				`  ` + web + ` -->|"dst"| ` + mir,
				`  ` + mir + ` -->|"output"| ` + tap,
				`  ` + br + ` -.- ` + mir,
				`  ` + mir + `{{"mirror cspan"}}`,
				`  class ` + sortedIDs(mgr, mir, web, tap) + ` Ready`,
				`  class ` + br + ` undeclared`,
			}},
		{"a ContainerPort selected, an OVS port the output",
			"selectSrcContainerPorts: [web-eth1], selectDstPorts: [eth0], output: {port: tap0}", nil,
			[]string{
				`  ` + web + ` -->|"src"| ` + mir,
				`  port__edge_2dovs__br_2dint__eth0[/"port eth0"/]`,
				`  port__edge_2dovs__br_2dint__tap0[/"port tap0"/]`,
				`  ` + br + ` --- port__edge_2dovs__br_2dint__eth0`,
				`  ` + br + ` --- port__edge_2dovs__br_2dint__tap0`,
				`  port__edge_2dovs__br_2dint__eth0 -->|"dst"| ` + mir,
				`  ` + mir + ` -->|"output"| port__edge_2dovs__br_2dint__tap0`,
				`  ` + br + ` -.- ` + mir,
				`  ` + mir + `{{"mirror cspan"}}`,
				`  class ` + sortedIDs(mgr, mir, web, tap) + ` Ready`,
				`  class ` + sortedIDs(br, "port__edge_2dovs__br_2dint__eth0", "port__edge_2dovs__br_2dint__tap0") + ` undeclared`,
			}},
		{"select all to a ContainerPort, the mirror Pending on it",
			"selectAll: true, output: {containerPort: tap}", map[string]reconciler.Phase{"tap": reconciler.PhaseFailed, "cspan": reconciler.PhasePending},
			[]string{
				`  ` + mir + ` -->|"output"| ` + tap,
				`  ` + br + ` -->|"all"| ` + mir,
				`  ` + mir + `{{"mirror cspan<br/>Pending"}}`,
				`  class ` + sortedIDs(mgr, web) + ` Ready`,
				`  class ` + tap + ` Failed`,
				`  class ` + mir + ` Pending`,
				`  class ` + br + ` undeclared`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &reconciler.NodeStatus{Node: "edge-1"}
			for _, o := range []struct{ kind, name string }{{"OVSManager", "edge-ovs"}, {"ContainerPort", "web-eth1"}, {"ContainerPort", "tap"}, {"Mirror", "cspan"}} {
				phase, ok := tt.phases[o.name]
				if !ok {
					phase = reconciler.PhaseReady
				}
				ns.Objects = append(ns.Objects, reconciler.ObjectStatus{Kind: o.kind, Name: o.name, Phase: phase})
			}
			got := readDiagram(t, renderMermaid(ns, cpMirrorSet(t, tt.sel)))
			checkBounds(t, got)
			tapLabel := "tap<br/>eth1"
			if ph := tt.phases["tap"]; ph != "" {
				tapLabel += "<br/>" + string(ph)
			}
			want := []string{"flowchart LR"}
			for _, s := range diagramStyles {
				want = append(want, "  classDef "+s.class+" "+s.style)
			}
			want = append(want,
				`  `+br+`["bridge br-int"]`,
				`  `+mgr+`["OVSManager edge-ovs<br/>unix#58;/run/ovs.sock"]`,
				`  ctr__web(["container web"])`,
				`  ctr__capture(["container capture"])`,
				`  `+web+`["web-eth1<br/>eth1"]`,
				`  `+tap+`["`+tapLabel+`"]`,
				`  `+mgr+` --- `+br,
				`  ctr__web --- `+web,
				`  ctr__capture --- `+tap,
				`  `+web+` ---|"vlan 10"| `+br,
				`  `+tap+` ---|"trunk"| `+br,
				`  class ctr__capture,ctr__web external`,
			)
			want = append(want, tt.want...)
			if diff := cmp.Diff(sorted(want), sorted(got.lines)); diff != "" {
				t.Errorf("diagram lines (-want +got):\n%s\ndiagram:\n%s", diff, got.text)
			}
		})
	}
}

// Of more container ports than a bridge draws, those a mirror names are
// drawn first, with their links to the mirror; the others are counted.
func TestMermaidContainerPortsAMirrorNamesDrawnFirst(t *testing.T) {
	ns, set := nodeFixture{ports: 40, cpMirror: true}.build(t)
	d := readDiagram(t, renderMermaid(ns, set))
	checkBounds(t, d)
	// The two the mirror names sort last of the 40 by name.
	src, out := mermaidIDForTest("cp", "web-0038-eth1"), mermaidIDForTest("cp", "web-0039-eth1")
	for _, want := range []string{
		`  ` + src + ` -->|"src"| mir__cspan`,
		`  ` + src + ` -->|"dst"| mir__cspan`,
		`  mir__cspan -->|"output"| ` + out,
	} {
		if !slices.Contains(d.lines, want) {
			t.Errorf("diagram lacks %q:\n%s", want, d.text)
		}
	}
	drawn := len(d.ids("cp__"))
	folded, _ := d.folded("br-int", "container ports")
	if drawn != 16 || drawn+folded["Ready"] != 40 {
		t.Errorf("%d container ports drawn, %v folded: want 16 drawn and 40 in all", drawn, folded)
	}
}
