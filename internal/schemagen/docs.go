package schemagen

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// docs are the doc comments of the spec package's types and struct fields,
// which become schema titles and descriptions.
type docs struct {
	types  map[string]string            // type name -> doc
	fields map[string]map[string]string // type name -> Go field name -> doc
	values map[string]string            // constant or variable name -> doc
}

// specDir is the source directory of package spec. It is found from this
// file's own path, so the generator must run from a source checkout (as
// `go run` and `go test` do), not from a binary built with -trimpath.
func specDir() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("schemagen: cannot locate the generator's source file")
	}
	dir := filepath.Join(filepath.Dir(self), "..", "..", "spec")
	if _, err := os.Stat(filepath.Join(dir, "types.go")); err != nil {
		return "", fmt.Errorf("schemagen: cannot find the spec sources next to %s: %w", self, err)
	}
	return dir, nil
}

// readDocs parses the non-test Go files of dir and collects the doc comments
// of type declarations and of struct fields.
func readDocs(dir string) (*docs, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("schemagen: %w", err)
	}
	d := &docs{types: map[string]string{}, fields: map[string]map[string]string{}, values: map[string]string{}}
	fset := token.NewFileSet()
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("schemagen: %w", err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, s := range gen.Specs {
				if vs, ok := s.(*ast.ValueSpec); ok {
					doc := vs.Doc
					if doc == nil && len(gen.Specs) == 1 {
						doc = gen.Doc
					}
					for _, n := range vs.Names {
						d.values[n.Name] = text(doc)
					}
					continue
				}
				ts, ok := s.(*ast.TypeSpec)
				if !ok {
					continue
				}
				doc := ts.Doc
				if doc == nil && len(gen.Specs) == 1 {
					doc = gen.Doc
				}
				d.types[ts.Name.Name] = text(doc)
				if st, ok := ts.Type.(*ast.StructType); ok {
					d.fields[ts.Name.Name] = fieldDocs(st)
				}
			}
		}
	}
	return d, nil
}

func fieldDocs(st *ast.StructType) map[string]string {
	out := map[string]string{}
	for _, f := range st.Fields.List {
		for _, n := range f.Names {
			out[n.Name] = text(f.Doc)
		}
	}
	return out
}

// text joins the lines of a comment into one paragraph.
func text(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	return strings.Join(strings.Fields(cg.Text()), " ")
}

// field returns the doc comment of a struct field, or an error naming the
// field when it has none: every field a spec author can write is described.
func (d *docs) field(typeName, fieldName string) (string, error) {
	doc := d.fields[typeName][fieldName]
	if doc == "" {
		return "", fmt.Errorf("schemagen: spec.%s.%s has no doc comment; it becomes the schema description", typeName, fieldName)
	}
	return doc, nil
}

// value returns the doc comment of a constant or variable, or an error when it has none.
func (d *docs) value(name string) (string, error) {
	doc := d.values[name]
	if doc == "" {
		return "", fmt.Errorf("schemagen: spec.%s has no doc comment; it becomes a schema description", name)
	}
	return doc, nil
}

// typeDoc returns the doc comment of a type, or an error when it has none.
func (d *docs) typeDoc(typeName string) (string, error) {
	doc := d.types[typeName]
	if doc == "" {
		return "", fmt.Errorf("schemagen: spec.%s has no doc comment; it becomes the schema description", typeName)
	}
	return doc, nil
}
