package layering

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/wirekeeper/wirekeeper/"

// imports maps every package folder of the module (relative, with
// slashes) to the module packages its non-test files import.
func imports(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) {
				out[pkg] = append(out[pkg], strings.TrimPrefix(p, module))
			}
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range out {
		slices.Sort(v)
		out[k] = slices.Compact(v)
	}
	if len(out["providers/ovsdb"]) == 0 || len(out["cmd/wirekeeper"]) == 0 {
		t.Fatalf("the module's packages were not found under %s", root)
	}
	return out
}

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// provider returns the provider folder pkg is in ("ovsdb" for
// providers/ovsdb/...), "" outside one (the registry, providers/, too).
func provider(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, "providers/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// rules are the import rules: breaks reports whether pkg importing imp
// breaks the rule.
var rules = []struct {
	name   string
	breaks func(pkg, imp string) bool
}{
	{"spec knows YAML only: it imports no package of the module", func(pkg, imp string) bool {
		return under(pkg, "spec")
	}},
	{"reconciler knows nothing of the live systems: no providers/, no internal/", func(pkg, imp string) bool {
		return under(pkg, "reconciler") && (under(imp, "providers") || under(imp, "internal"))
	}},
	{"a provider knows nothing of git: no reconciler/source, status, daemon, review, trust, webhook", func(pkg, imp string) bool {
		if provider(pkg) == "" {
			return false
		}
		for _, git := range []string{"source", "status", "daemon", "review", "trust", "webhook"} {
			if under(imp, "reconciler/"+git) {
				return true
			}
		}
		return false
	}},
	{"no provider imports another", func(pkg, imp string) bool {
		return provider(pkg) != "" && provider(imp) != "" && provider(pkg) != provider(imp)
	}},
	{"nothing in internal/ imports providers/", func(pkg, imp string) bool {
		return under(pkg, "internal") && under(imp, "providers")
	}},
}

func TestImportRules(t *testing.T) {
	all := imports(t)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			for pkg, imps := range all {
				for _, imp := range imps {
					if r.breaks(pkg, imp) {
						t.Errorf("%s imports %s", pkg, imp)
					}
				}
			}
		})
	}
}

// TestRulesFireOnBreaches: each rule fires on an import it forbids and not
// on one it allows, so that a rule that cannot fail does not pass for
// nothing.
func TestRulesFireOnBreaches(t *testing.T) {
	cases := [][2][2]string{ // per rule: a breach, then an allowed import
		{{"spec", "internal/secret"}, {"cmd/wirekeeper", "spec"}},
		{{"reconciler/daemon", "internal/ovs"}, {"reconciler/daemon", "reconciler/source"}},
		{{"providers/collector/amqp", "reconciler/status"}, {"providers/ovsdb", "reconciler"}},
		{{"providers/container", "providers/ovsdb"}, {"providers/collector", "providers/collector/amqp"}},
		{{"internal/demo", "providers/ovsdb"}, {"examples/demo", "providers/ovsdb"}},
	}
	if len(cases) != len(rules) {
		t.Fatalf("%d cases for %d rules", len(cases), len(rules))
	}
	for i, r := range rules {
		breach, allowed := cases[i][0], cases[i][1]
		if !r.breaks(breach[0], breach[1]) {
			t.Errorf("%s: %s importing %s passes", r.name, breach[0], breach[1])
		}
		if r.breaks(allowed[0], allowed[1]) {
			t.Errorf("%s: %s importing %s fails", r.name, allowed[0], allowed[1])
		}
	}
	for pkg, want := range map[string]string{"providers/ovsdb": "ovsdb", "providers/collector/amqp": "collector", "providers": "", "internal/ovs": ""} {
		if got := provider(pkg); got != want {
			t.Errorf("provider(%q) = %q, want %q", pkg, got, want)
		}
	}
}
