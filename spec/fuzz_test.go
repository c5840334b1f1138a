package spec

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzDecode checks that no input makes the decoder or the validator panic,
// and that every diagnostic points somewhere in the file.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(manager + doc("Mirror", "m", "  manager: ovs-a\n  bridge: br0\n  selectAll: true\n  output: {port: tap0}\n")))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("- [\n"))
	f.Add([]byte("apiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: p}\nspec: {addresses: [\"::1/129\"], gateway: \"::1\", mtu: 0x10}\n"))
	seeds, _ := filepath.Glob("../examples/*/*.yaml")
	more, _ := filepath.Glob("../examples/*.yaml")
	for _, p := range append(seeds, more...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, diags := Decode("f.yaml", data)
		diags = append(diags, Validate(objs)...)
		for _, d := range diags {
			if d.File != "f.yaml" || d.Line < 1 || d.Column < 1 || d.Message == "" {
				t.Fatalf("diagnostic without a proper position or message: %+v", d)
			}
		}
	})
}

// FuzzAliasBudget checks the alias budget against a plain expansion of the
// same documents: a load is refused exactly when its aliases expand past the
// limit, a refused load returns no object and names the alias that passed
// it, and an accepted one is decoded with no more work than the expansion.
func FuzzAliasBudget(f *testing.F) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for _, n := range "bcdefghi" {
		prev := string(n - 1)
		laughs += fmt.Sprintf("%c: &%[1]c [*%s, *%[2]s, *%[2]s, *%[2]s, *%[2]s, *%[2]s, *%[2]s, *%[2]s, *%[2]s, *%[2]s]\n", n, prev)
	}
	// bomb is the report's file in small: 201 nodes reused by 600
	// documents of 8 nodes each, over the floor and 10x what is written.
	labels := make([]string, 100)
	for i := range labels {
		labels[i] = fmt.Sprintf("k%d: v", i)
	}
	bomb := "kind: Bridge\nmetadata: {name: b, labels: &L {" + strings.Join(labels, ", ") + "}}\n" +
		strings.Repeat("--- {kind: Bridge, metadata: {labels: *L}}\n", 600)
	f.Add([]byte(laughs))
	f.Add([]byte(bomb))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("--- &d\nk: &k [1, 2]\n--- *d\n--- [*k, *d, *k]\n"))
	f.Add([]byte(manager + doc("Bridge", "br0", "  manager: ovs-a\n  externalIds: &e {a: b}\n") + "---\n" + doc("Bridge", "br1", "  manager: ovs-a\n  externalIds: *e\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l loader
		l.decode("f.yaml", data)
		objs, diags := l.finish()

		written, expanded := expandPlainly(data)
		limit := aliasLimit(written)
		refused := expanded > limit
		if refused != (l.aliases.expanded > limit) || (!refused && l.aliases.expanded != expanded) {
			t.Fatalf("the budget counted %d of %d nodes, a plain expansion %d", l.aliases.expanded, limit, expanded)
		}
		if !refused {
			if l.visited > written+expanded {
				t.Fatalf("the walker decoded %d nodes, more than the %d the documents expand to", l.visited, written+expanded)
			}
			return
		}
		last := diags[len(diags)-1]
		if len(objs) != 0 || last.File != "f.yaml" || last.Line < 1 || last.Column < 1 || !strings.HasPrefix(last.Message, "alias *") {
			t.Fatalf("refused load returned %d objects, last diagnostic %s", len(objs), last)
		}
	})
}

// expandPlainly counts the nodes of data's documents as written and what
// their aliases expand to, by expanding each alias in full, up to a little
// past the limit (a recursive alias expands until then).
func expandPlainly(data []byte) (written, expanded int64) {
	var roots []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if parseNext(dec, &doc) != nil {
			break
		}
		if len(doc.Content) > 0 {
			roots = append(roots, doc.Content[0])
		}
	}
	var count func(n *yaml.Node)
	count = func(n *yaml.Node) {
		written++
		for _, c := range n.Content {
			count(c)
		}
	}
	for _, r := range roots {
		count(r)
	}
	stop := aliasLimit(written) + 1
	var expand func(n *yaml.Node)
	expand = func(n *yaml.Node) {
		for n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		if expanded++; expanded > stop {
			return
		}
		for _, c := range n.Content {
			expand(c)
		}
	}
	var raw func(n *yaml.Node)
	raw = func(n *yaml.Node) {
		if n.Kind == yaml.AliasNode {
			expand(n)
			return
		}
		for _, c := range n.Content {
			raw(c)
		}
	}
	for _, r := range roots {
		if raw(r); expanded > stop {
			break
		}
	}
	return written, expanded
}
