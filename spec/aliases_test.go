package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// aliasBomb is the file of issue 15: one document holds a map of labels
// under the anchor L, and as many documents as fit under MaxFileSize reuse
// it with labels: *L. It returns the file and the number of documents.
func aliasBomb(labels int) ([]byte, int) {
	var b strings.Builder
	b.WriteString(manager)
	b.WriteString("apiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata:\n  name: br-0\n  labels: &L\n")
	for i := range labels {
		fmt.Fprintf(&b, "    k%05d: v\n", i)
	}
	b.WriteString("spec: {manager: ovs-a}\n")
	docs := 1
	for {
		next := fmt.Sprintf("---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: br-%d, labels: *L}\nspec: {manager: ovs-a}\n", docs)
		if b.Len()+len(next) > MaxFileSize {
			return []byte(b.String()), docs
		}
		b.WriteString(next)
		docs++
	}
}

// TestAliasBombRefused reproduces point 4 of issue 15: a 1 MiB file whose
// 20,000-label map is reused by thousands of documents. Every way in (a
// directory on disk, a tree as the daemon reads it from git, one file) must
// refuse the whole load with one diagnostic on the alias that crossed the
// limit, before decoding the expansion.
func TestAliasBombRefused(t *testing.T) {
	data, docs := aliasBomb(20000)
	if docs < 6000 {
		t.Fatalf("the bomb has %d documents; the report had 6,161", docs)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bomb.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	loads := map[string]func() ([]*Object, Diagnostics){
		"Load": func() ([]*Object, Diagnostics) {
			set, diags := Load(dir)
			return set.Objects, diags
		},
		"LoadFS": func() ([]*Object, Diagnostics) {
			set, diags := LoadFS(fstest.MapFS{"bomb.yaml": {Data: data}}, "specs")
			return set.Objects, diags
		},
		"Decode": func() ([]*Object, Diagnostics) { return Decode("bomb.yaml", data) },
	}
	for name, load := range loads {
		t.Run(name, func(t *testing.T) {
			objs, diags := load()
			if len(objs) != 0 {
				t.Errorf("%d objects returned from a refused load, want none", len(objs))
			}
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want 1:\n%v", len(diags), diags)
			}
			d := diags[0]
			if filepath.Base(d.File) != "bomb.yaml" || d.Severity != SeverityError {
				t.Errorf("diagnostic not an error on bomb.yaml: %s", d)
			}
			if d.Line < 1 || d.Line > len(lines) || !strings.HasPrefix(lines[d.Line-1][d.Column-1:], "*L") {
				t.Errorf("diagnostic at %d:%d, not on an alias *L", d.Line, d.Column)
			}
			if d.Field != "metadata.labels" || !strings.HasPrefix(d.Object(), "Bridge/br-") {
				t.Errorf("diagnostic names %s %s, want Bridge/br-N metadata.labels", d.Object(), d.Field)
			}
			for _, part := range []string{"alias *L expands to 40001 nodes", "more than the limit of", "x the", "nodes written", "write the values out"} {
				if !strings.Contains(d.Message, part) {
					t.Errorf("message %q lacks %q", d.Message, part)
				}
			}
		})
	}
}

// labelShare is one file of an attack spread over several files: a map of
// 500 labels under an anchor and 40 documents reusing it, 40,040 nodes of
// expansion from about 1,600 written, which is within the floor on its own.
// It returns the file and the position of the alias of its 20th document.
func labelShare(name string) (string, string) {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata:\n  name: %s-0\n  labels: &L\n", name)
	for i := range 500 {
		fmt.Fprintf(&b, "    k%d: v\n", i)
	}
	b.WriteString("spec: {manager: ovs-a}\n")
	var at string
	for i := 1; i <= 40; i++ {
		b.WriteString("---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\n")
		line := fmt.Sprintf("metadata: {name: %s-%d, labels: *L}", name, i)
		if i == 20 {
			at = fmt.Sprintf("%s.yaml:%d:%d Bridge/%s-20 metadata.labels", name, strings.Count(b.String(), "\n")+1, strings.Index(line, "*L")+1, name)
		}
		b.WriteString(line + "\nspec: {manager: ovs-a}\n")
	}
	return b.String(), at
}

// TestAliasBudgetCases covers the shapes of expansion the budget must
// count: nested aliases (billion laughs), recursive aliases, and aliases in
// several files (the budget is one for the whole load).
func TestAliasBudgetCases(t *testing.T) {
	// laughs nests aliases ten wide and nine deep: 10^10 nodes from 17 lines.
	var laughs strings.Builder
	laughs.WriteString("apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: lol}\nspec:\n  manager: ovs-a\n  bridge: br0\n  output: {port: tap0}\n  x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&laughs, "  x%d: &x%[1]d [%s]\n", i, strings.Repeat(fmt.Sprintf("*x%d, ", i-1), 9)+fmt.Sprintf("*x%d", i-1))
	}
	a, _ := labelShare("a")
	b, _ := labelShare("b")
	c, cAt := labelShare("c")
	tests := []struct {
		name  string
		files map[string]string
		wants []want
	}{
		// x1..x3 expand to 10*11 + 10*111 + 10*1111 = 12330 nodes; each *x3
		// adds 11111, and the 8th in x4 (column 12 + 7*5) passes 100000.
		{"billion laughs", map[string]string{"a.yaml": manager + laughs.String()}, []want{
			{"a.yaml:17:47 Mirror/lol spec.x4[7]", "alias *x3 expands to 11111 nodes and takes the aliases of this load to 101218 nodes, more than the limit of 100000 (10 x the "},
		}},
		{"recursive alias", map[string]string{"a.yaml": manager + doc("Bridge", "br0", "  manager: ovs-a\n  externalIds: &e {a: *e}\n")}, []want{
			{"a.yaml:11:23 Bridge/br0 spec.externalIds.a", "alias *e is inside the node it names, so it would expand without end"},
		}},
		{"one share of the floor loads", map[string]string{"m.yaml": manager, "a.yaml": a}, nil},
		// a and b expand to 80080 nodes; the 20th alias of c (1001 nodes
		// each) passes 100000, while 10x the nodes written stays below it.
		{"three shares in three files do not", map[string]string{"m.yaml": manager, "a.yaml": a, "b.yaml": b, "c.yaml": c}, []want{
			{cAt, "alias *L expands to 1001 nodes and takes the aliases of this load to 100100 nodes, more than the limit of 100000 (10 x the "},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { check(t, tt.files, tt.wants...) })
	}
}

// TestLegitimateAliasesLoad keeps the common use of anchors working: shared
// labels and a shared output reused by a few documents.
func TestLegitimateAliasesLoad(t *testing.T) {
	src := manager +
		"apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata:\n  name: m1\n  labels: &team {team: noc, site: ams}\n" +
		"spec:\n  manager: ovs-a\n  bridge: br0\n  selectSrcPorts: &ports [vm1, vm2]\n  output: &out {port: tap0}\n"
	for i := 2; i <= 20; i++ {
		src += fmt.Sprintf("---\napiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: m%d, labels: *team}\nspec: {manager: ovs-a, bridge: br%d, selectSrcPorts: *ports, output: *out}\n", i, i)
	}
	set, diags := LoadFS(fstest.MapFS{"m.yaml": {Data: []byte(src)}}, "")
	if len(diags) != 0 {
		t.Fatalf("diagnostics on a valid file with aliases:\n%v", diags)
	}
	if len(set.Objects) != 21 {
		t.Fatalf("got %d objects, want 21", len(set.Objects))
	}
	m := set.Get("Mirror", "m20")
	got := fmt.Sprintf("%v %v %s", m.Metadata.Labels, m.Spec.(*MirrorSpec).SelectSrcPorts, m.Spec.(*MirrorSpec).Output.Port)
	if diff := cmp.Diff("map[site:ams team:noc] [vm1 vm2] tap0", got); diff != "" {
		t.Errorf("Mirror/m20 (-want +got):\n%s", diff)
	}
}
