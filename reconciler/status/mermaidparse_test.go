package status

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// parseResult is one line of testdata/mermaid-parse.mjs's report.
type parseResult struct {
	File      string            `json:"file"`
	Chars     int               `json:"chars"`
	Error     string            `json:"error"`
	Type      string            `json:"type"`
	Vertices  int               `json:"vertices"`
	Edges     int               `json:"edges"`
	ClassDefs []string          `json:"classDefs"`
	Unclassed []string          `json:"unclassed"`
	Labels    map[string]string `json:"labels"`
}

// parseWithMermaid runs the real Mermaid parser (mermaid and jsdom from npm,
// under node) on each diagram and returns its report, in order.
// node and modules come from testenv.Mermaid.
func parseWithMermaid(t *testing.T, node, modules string, diagrams []string) []parseResult {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i, text := range diagrams {
		f := filepath.Join(dir, fmt.Sprintf("%04d.mmd", i))
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "mermaid-parse.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(node, append([]string{script, modules, strconv.Itoa(mermaidMaxTextSize)}, files...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, stderr.String())
	}
	var out []parseResult
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r parseResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	if len(out) != len(diagrams) {
		t.Fatalf("the parser reported on %d of %d diagrams; stderr:\n%s", len(out), len(diagrams), stderr.String())
	}
	return out
}

// Every diagram the renderer makes parses with the real Mermaid (11.17,
// with the defaults forges use), from 1 to 5,000 ports, every phase, and
// names written to break out of their labels: Mermaid reads the shapes the
// renderer wrote, each with a class, at most 60, within 30,000 characters,
// and shows each hostile name as written.
func TestMermaidRealParser(t *testing.T) {
	node, modules := testenv.Mermaid(t)
	type fixture struct {
		name  string
		f     nodeFixture
		shown map[string]string // shape id -> its text as Mermaid shows it
	}
	mixed := func(i int) reconciler.Phase {
		return []reconciler.Phase{"Ready", "Ready", "Ready", "Failed", "Drifted", "Pending", "Degraded", "Suspended", "Hibernating"}[i%9]
	}
	var fixtures []fixture
	for _, n := range []int{1, 2, 10, 40, 61, 320, 500, 1000, 5000} {
		fixtures = append(fixtures,
			fixture{name: fmt.Sprintf("%d ports, Ready", n), f: nodeFixture{ports: n, selected: []string{"eth0", "eth1"}}},
			fixture{name: fmt.Sprintf("%d ports, every phase", n), f: nodeFixture{ports: n, phaseOf: mixed, selected: []string{"eth0"}, mirrors: 2}})
	}
	for _, n := range []int{2, 40, 500} {
		fixtures = append(fixtures, fixture{name: fmt.Sprintf("%d ports, a mirror naming container ports", n), f: nodeFixture{ports: n, phaseOf: mixed, cpMirror: true}})
	}
	for _, tt := range mermaidInjections {
		selected := []string{tt.in}
		for i := 1; i < 12; i++ {
			selected = append(selected, fmt.Sprintf("%s%d", tt.in, i))
		}
		shown := strings.ReplaceAll(tt.in, "\r", "")
		fixtures = append(fixtures, fixture{
			name: "hostile: " + tt.name,
			f:    nodeFixture{ports: 3, mirrorName: tt.in, selected: selected, exchange: tt.in, phaseOf: mixed},
			shown: map[string]string{
				"mir__span":                  "mirror " + shown,
				mermaidID("exchange", tt.in): "RabbitMQ exchange " + shown,
				mermaidID("port", "edge-ovs", "br-int", tt.in):                 "port " + shown,
				mermaidID("fold", "mir__span", "selected ports", "undeclared"): "mirror " + shown + ": 4 more selected ports",
			},
		})
	}
	long := func(c string, i int) string { return fmt.Sprintf("%d%s", i, strings.Repeat(c, 300)) }
	var longPorts []string
	for i := 0; i < 50; i++ {
		longPorts = append(longPorts, long("|", i))
	}
	fixtures = append(fixtures, fixture{name: "longest names, 300 mirrors, 2,000 ports",
		f: nodeFixture{ports: 2000, mirrorName: long("{", 0), selected: longPorts, mirrors: 300, exchange: long("%", 0), phaseOf: mixed}})

	var diagrams []string
	var written []diagramText
	for _, fx := range fixtures {
		ns, set := fx.f.build(t)
		d := readDiagram(t, renderMermaid(ns, set))
		diagrams = append(diagrams, d.text)
		written = append(written, d)
	}
	results := parseWithMermaid(t, node, modules, diagrams)
	for i, fx := range fixtures {
		r, d := results[i], written[i]
		t.Run(fx.name, func(t *testing.T) {
			if r.Error != "" {
				t.Fatalf("Mermaid: %s\ndiagram:\n%s", r.Error, d.text)
			}
			if r.Type != "flowchart-v2" {
				t.Errorf("Mermaid read a %q diagram, want flowchart-v2", r.Type)
			}
			if r.Chars > wantMaxDiagramChars {
				t.Errorf("%d characters, over the budget of %d", r.Chars, wantMaxDiagramChars)
			}
			if links := linkLines(d); r.Edges != links {
				t.Errorf("Mermaid read %d links, the renderer wrote %d", r.Edges, links)
			}
			if r.Vertices != len(d.labels) || r.Vertices > wantMaxShapes {
				t.Errorf("Mermaid read %d shapes, the renderer wrote %d, want at most %d", r.Vertices, len(d.labels), wantMaxShapes)
			}
			for id := range d.labels {
				if _, ok := r.Labels[id]; !ok {
					t.Errorf("Mermaid has no shape %s", id)
				}
			}
			if len(r.Unclassed) > 0 {
				t.Errorf("shapes in Mermaid's default colour: %v", r.Unclassed)
			}
			for _, c := range []string{"Ready", "Drifted", "Pending", "Degraded", "Failed", "Suspended", "Unknown"} {
				if !strings.Contains(strings.Join(r.ClassDefs, " ")+" ", c+" ") {
					t.Errorf("Mermaid has no classDef %s (it has %v)", c, r.ClassDefs)
				}
			}
			for id, want := range fx.shown {
				if got := r.Labels[id]; got != want {
					t.Errorf("shape %s shows %q, want %q", id, got, want)
				}
			}
		})
	}
}

// linkLines counts the link lines of a diagram: those that are neither a
// shape, a class nor a classDef line.
func linkLines(d diagramText) int {
	n := 0
	for _, l := range d.lines[1:] { // after "flowchart LR"
		if !shapeLineRE.MatchString(l) && !classLineRE.MatchString(l) && !classDefRE.MatchString(l) {
			n++
		}
	}
	return n
}
