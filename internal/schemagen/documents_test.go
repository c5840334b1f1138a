package schemagen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"gopkg.in/yaml.v3"

	"github.com/wirekeeper/wirekeeper/spec"
)

const modelinePrefix = "# yaml-language-server: $schema="

// TestExamplesValid checks that every example file is valid under the JSON
// Schema its modeline names and under wirekeeper.json, and that the examples
// are valid under the Go validator. The Go validator loads examples/ as one
// set, as `wirekeeper validate examples/` does: the examples reference
// managers declared in another file, so a file alone does not validate.
func TestExamplesValid(t *testing.T) {
	checkValid(t, "../../examples")
}

// TestValidDocumentsPassBoth checks testdata documents that use every kind
// and most fields, so the schemas are known to accept real documents
// whatever examples/ holds.
func TestValidDocumentsPassBoth(t *testing.T) {
	checkValid(t, "testdata/valid")
}

// checkValid checks every YAML file under dir against the schemas, and dir
// as one set against the Go validator.
func checkValid(t *testing.T, dir string) {
	files := yamlFiles(t, dir)
	if len(files) == 0 {
		t.Fatalf("no *.yaml or *.yml files under %s", dir)
	}
	schemas := compileSchemas(t)
	for _, file := range files {
		name, _ := filepath.Rel(dir, file)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			named, err := modelineSchema(file, data)
			if err != nil {
				t.Fatal(err)
			}
			docs, err := yamlDocuments(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) == 0 {
				t.Fatal("no documents")
			}
			for i, doc := range docs {
				for _, name := range slices.Compact([]string{AnyDocument, named}) {
					if err := schemas[name].Validate(doc); err != nil {
						t.Errorf("document %d is invalid under %s:\n%v", i+1, name, err)
					}
				}
			}
		})
	}
	if _, diags := spec.Load(dir); diags.HasErrors() {
		t.Errorf("%s is invalid under the Go validator:\n%s", dir, diagnosticLines(diags))
	}
}

func diagnosticLines(diags spec.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	return b.String()
}

// modelineSchema checks that the first line of a spec file points editors at
// a schema under schemasDir and returns that schema's file name.
func modelineSchema(file string, data []byte) (string, error) {
	first, _, _ := strings.Cut(string(data), "\n")
	rel, ok := strings.CutPrefix(strings.TrimSpace(first), modelinePrefix)
	if !ok {
		return "", fmt.Errorf("first line is %q, want %s<relative path to a file in schemas/>", first, modelinePrefix)
	}
	target := filepath.Join(filepath.Dir(file), filepath.FromSlash(rel))
	dir, err := filepath.Abs(filepath.Dir(target))
	if err != nil {
		return "", err
	}
	want, err := filepath.Abs(schemasDir)
	if err != nil {
		return "", err
	}
	if dir != want {
		return "", fmt.Errorf("modeline schema %s is not in schemas/", rel)
	}
	if _, err := os.Stat(target); err != nil {
		return "", fmt.Errorf("modeline schema %s: %w", rel, err)
	}
	return filepath.Base(target), nil
}

// TestInvalidDocumentsFailBoth checks that each testdata/invalid file breaks
// one rule, and that both the JSON Schema and the Go validator refuse it
// there and nowhere else. Each file says where in its header:
//
//	# want-go: spec.output            (the field of every Go error)
//	# want-schema: /spec/output       (the instance location of every schema error)
func TestInvalidDocumentsFailBoth(t *testing.T) {
	schemas := compileSchemas(t)
	files := yamlFiles(t, "testdata/invalid")
	if len(files) == 0 {
		t.Fatal("no testdata/invalid/*.yaml")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			wantGo, wantSchema := header(data, "want-go"), header(data, "want-schema")
			if wantGo == "" || wantSchema == "" {
				t.Fatal("the file needs # want-go: and # want-schema: header lines")
			}

			_, diags := spec.Load(file)
			if !diags.HasErrors() {
				t.Errorf("the Go validator accepts it; want an error at %s", wantGo)
			}
			for _, d := range diags {
				if d.Severity == spec.SeverityError && d.Field != wantGo {
					t.Errorf("Go error at %q, want only %q: %s", d.Field, wantGo, d)
				}
			}

			docs, err := yamlDocuments(data)
			if err != nil {
				t.Fatal(err)
			}
			failed := false
			for _, doc := range docs {
				err := schemas[AnyDocument].Validate(doc)
				if err == nil {
					continue
				}
				failed = true
				var verr *jsonschema.ValidationError
				if !errors.As(err, &verr) {
					t.Fatal(err)
				}
				for _, leaf := range leaves(verr) {
					if loc := instanceLocation(leaf); loc != wantSchema {
						t.Errorf("schema error at %s, want only %s: %v", loc, wantSchema, leaf)
					}
				}
			}
			if !failed {
				t.Errorf("the JSON Schema accepts it; want an error at %s", wantSchema)
			}
		})
	}
}

// header returns the value of a "# key: value" comment line, or "".
func header(data []byte, key string) string {
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "# "+key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// leaves are the errors that explain a failure: those without causes, and
// propertyNames errors, whose causes are located in the key, not the document.
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if _, ok := e.ErrorKind.(*kind.PropertyNames); ok || len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// instanceLocation is where in the document a schema error is, as a JSON
// pointer (unescaped). The location of a propertyNames error is taken from
// its keyword location instead: jsonschema v6.0.3 keeps a slice that later
// validation overwrites (santhosh-tekuri/jsonschema#258, #269).
func instanceLocation(e *jsonschema.ValidationError) string {
	if _, ok := e.ErrorKind.(*kind.PropertyNames); ok {
		_, kw, _ := strings.Cut(e.SchemaURL, "#")
		kw = strings.TrimSuffix(kw, "/propertyNames")
		return strings.ReplaceAll(kw, "/properties/", "/")
	}
	return "/" + strings.Join(e.InstanceLocation, "/")
}

// yamlFiles lists the *.yaml and *.yml files under dir, or none when dir is missing.
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// yamlDocuments decodes every non-empty document of a YAML stream into the
// values a JSON decoder would give (json.Number for numbers), as an editor
// sees them.
func yamlDocuments(data []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		out = append(out, doc)
	}
}
