package schemagen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemasDir holds the committed schemas that Generate must reproduce.
const schemasDir = "../../schemas"

// TestSchemasUpToDate fails when the committed schemas are not what the spec
// types generate today: CI's check that nobody forgot make generate.
func TestSchemasUpToDate(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	onDisk, err := filepath.Glob(filepath.Join(schemasDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, p := range onDisk {
		if _, ok := want[filepath.Base(p)]; !ok {
			problems = append(problems, fmt.Sprintf("%s: no longer generated", filepath.Base(p)))
		}
	}
	for _, name := range sortedNames(want) {
		got, err := os.ReadFile(filepath.Join(schemasDir, name))
		switch {
		case os.IsNotExist(err):
			problems = append(problems, fmt.Sprintf("%s: missing", name))
		case err != nil:
			t.Fatal(err)
		case !bytes.Equal(got, want[name]):
			problems = append(problems, fmt.Sprintf("%s: stale: %s", name, firstDifference(want[name], got)))
		}
	}
	if len(problems) > 0 {
		t.Errorf("schemas/ is out of date with the spec types; run make generate:\n  %s", strings.Join(problems, "\n  "))
	}
}

// firstDifference describes the first line where got differs from want.
func firstDifference(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d: generated %q, on disk %q (%d lines generated, %d on disk)",
				i+1, strings.TrimSpace(wl), strings.TrimSpace(gl), len(w), len(g))
		}
	}
	return "differs"
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// localLoader serves BaseURL + name from the files of dir and refuses every
// other URL, so the schemas compile offline and from the files under test.
type localLoader struct{ dir string }

func (l localLoader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, BaseURL)
	if !ok || strings.ContainsAny(name, "/#") {
		return nil, fmt.Errorf("no local schema for %s", url)
	}
	f, err := os.Open(filepath.Join(l.dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}

// compileSchemas compiles every schema file under schemasDir, keyed by file name.
func compileSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(schemasDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no schemas in %s; run make generate", schemasDir)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(localLoader{dir: schemasDir})
	out := map[string]*jsonschema.Schema{}
	for _, p := range paths {
		name := filepath.Base(p)
		s, err := c.Compile(BaseURL + name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

func TestSchemasCompile(t *testing.T) {
	schemas := compileSchemas(t)
	want := []string{AnyDocument}
	for name := range mustGenerate(t) {
		if name != AnyDocument {
			want = append(want, name)
		}
	}
	for _, name := range want {
		if schemas[name] == nil {
			t.Errorf("%s did not compile", name)
		}
	}
}

func mustGenerate(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestSchemaFragments pins the rendering of one field per rule kind.
func TestSchemaFragments(t *testing.T) {
	files := mustGenerate(t)
	oneOf := func(names ...string) []any {
		var out []any
		for _, n := range names {
			out = append(out, map[string]any{"required": []any{n}})
		}
		return out
	}
	tests := []struct {
		file, path string
		want       map[string]any
	}{
		{"mirror.json", "properties.spec.properties.output", map[string]any{
			"type": "object",
			"properties": map[string]any{
				"port":          map[string]any{"type": "string", "pattern": `^\S`},
				"containerPort": map[string]any{"type": "string", "pattern": `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, "maxLength": 63.0},
				"vlan":          map[string]any{"type": "integer", "minimum": 1.0, "maximum": 4095.0},
			},
			"additionalProperties": false,
			"oneOf":                oneOf("port", "containerPort", "vlan"),
		}},
		{"mirror.json", "properties.spec.properties.selectVlans", map[string]any{
			"type":        "array",
			"items":       map[string]any{"type": "integer", "minimum": 0.0, "maximum": 4095.0},
			"uniqueItems": true,
		}},
		{"containerport.json", "properties.spec.properties.routes", map[string]any{
			"type": "array",
			"items": map[string]any{
				"type":     "object",
				"required": []any{"to", "via"},
				"properties": map[string]any{
					"to":  map[string]any{"type": "string", "minLength": 1.0, "pattern": `^[0-9A-Fa-f:.]+/[0-9]{1,3}$`},
					"via": map[string]any{"type": "string", "minLength": 1.0, "pattern": `^[0-9A-Fa-f:.]+$`},
				},
				"additionalProperties": false,
			},
			"uniqueItems": true,
			"maxItems":    64.0,
		}},
		{"collectortarget.json", "properties.spec.properties.interval", map[string]any{
			"type": "string", "pattern": DurationPattern, "default": "60s",
		}},
		{"collectortarget.json", "properties.spec.properties.rabbitmq.properties.maxQueueDepth", map[string]any{
			"type": "integer", "minimum": 1.0, "default": 50000.0,
		}},
		{"collectortarget.json", "properties.spec.properties.netbeam.properties.metrics", map[string]any{
			"type":        "array",
			"items":       map[string]any{"type": "string", "enum": []any{"traffic", "errors", "discards"}},
			"uniqueItems": true,
			"default":     []any{"traffic", "errors", "discards"},
		}},
		{"collectortarget.json", "properties.spec.properties.rabbitmq.properties.url", map[string]any{
			"type": "object",
			"properties": map[string]any{
				"env":  map[string]any{"type": "string", "pattern": `^WIREKEEPER_SECRET_[A-Za-z0-9_]+$`, "maxLength": 255.0},
				"file": map[string]any{"type": "string", "pattern": `^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$`, "maxLength": 255.0},
			},
			"additionalProperties": false,
			"oneOf":                oneOf("env", "file"),
		}},
		{"bridge.json", "properties.spec.properties.externalIds", map[string]any{
			"type":                 "object",
			"propertyNames":        map[string]any{"minLength": 1.0},
			"additionalProperties": map[string]any{"type": "string"},
		}},
		{"ovsmanager.json", "properties.spec.properties.node", map[string]any{
			"type": "string", "minLength": 1.0, "pattern": `^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`, "maxLength": 253.0,
		}},
	}
	noDescriptions := cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "description" })
	for _, tt := range tests {
		t.Run(tt.file+":"+tt.path, func(t *testing.T) {
			got := fragment(t, files[tt.file], tt.path)
			if diff := cmp.Diff(tt.want, got, noDescriptions); diff != "" {
				t.Errorf("fragment mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecretDescriptionRefusesLiterals(t *testing.T) {
	got := fragment(t, mustGenerate(t)["skydiveexport.json"], "properties.spec.properties.auth.properties.password")
	if d, _ := got["description"].(string); !strings.Contains(d, "A literal value is refused") {
		t.Errorf("description of a secret = %q, want it to say a literal value is refused", d)
	}
}

// fragment decodes a schema file and walks a dotted path of object keys.
func fragment(t *testing.T, file []byte, path string) map[string]any {
	t.Helper()
	var v any
	if err := json.Unmarshal(file, &v); err != nil {
		t.Fatal(err)
	}
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not inside an object", path, key)
		}
		v = m[key]
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: not an object: %v", path, v)
	}
	return m
}

func TestReferenceUpToDate(t *testing.T) {
	files, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	want, err := Reference(files)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", ReferenceFile))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is stale or missing (%v): run make generate", ReferenceFile, err)
	}
	for _, must := range []string{"## SkyDiveExport", "`spec.auth.password` | secret | yes", "`spec.persistence` | string |  | `\"DeleteOnDisconnect\"`"} {
		if !bytes.Contains(want, []byte(must)) {
			t.Errorf("the reference lacks %q", must)
		}
	}
}
