// Package schemagen generates the JSON Schemas (draft 2020-12) of the spec
// language from the spec package's Go types: the `wk` tag rules give the
// shape and the doc comments give the descriptions. The schemas check shape
// only; `wirekeeper validate` also applies the cross-field and cross-document
// rules.
package schemagen

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"reflect"
	"slices"
	"strings"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Draft is the JSON Schema dialect of the generated files.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// AnyDocument is the file name of the schema that accepts a document of any
// kind; editors are pointed at it.
const AnyDocument = "wirekeeper.json"

// BaseURL is the $id prefix of the generated schemas; each file's $id is
// BaseURL + its name, so relative $refs between them resolve to the sibling files.
var BaseURL = "https://wirekeeper.io/schemas/" + path.Base(spec.APIVersion) + "/"

// FileName is the schema file of a kind, e.g. "mirror.json" for Mirror.
func FileName(kind string) string { return strings.ToLower(kind) + ".json" }

// Generate renders every schema: one per kind (FileName) and AnyDocument.
// It returns file name -> pretty JSON with a trailing newline; the output
// depends only on the spec package, so it is the same on every run.
func Generate() (map[string][]byte, error) {
	dir, err := specDir()
	if err != nil {
		return nil, err
	}
	d, err := readDocs(dir)
	if err != nil {
		return nil, err
	}
	g := &generator{docs: d}
	files := map[string][]byte{}
	for _, k := range spec.Kinds() {
		s, err := g.kind(k)
		if err != nil {
			return nil, err
		}
		if files[FileName(k.Name)], err = encode(s); err != nil {
			return nil, err
		}
	}
	files[AnyDocument], err = encode(anyDocument(spec.Kinds()))
	if err != nil {
		return nil, err
	}
	return files, nil
}

// kind is the whole-document schema of one kind.
func (g *generator) kind(k spec.KindInfo) (*object, error) {
	doc, err := g.docs.typeDoc(k.Type.Name())
	if err != nil {
		return nil, err
	}
	meta, err := g.metadata()
	if err != nil {
		return nil, err
	}
	specSchema := newObject().set("description", fmt.Sprintf("Desired state of the %s.", k.Name))
	if err := g.value(specSchema, k.Type, spec.Rules{}); err != nil {
		return nil, err
	}
	props := newObject().
		set("apiVersion", apiVersion()).
		set("kind", newObject().
			set("description", "Kind of the document.").
			set("const", k.Name)).
		set("metadata", meta).
		set("spec", specSchema)
	return newObject().
		set("$schema", Draft).
		set("$id", BaseURL+FileName(k.Name)).
		set("title", k.Name).
		set("description", renameSubject(doc, k.Type.Name(), k.Name)).
		set("type", "object").
		set("required", []string{"apiVersion", "kind", "metadata", "spec"}).
		set("properties", props).
		set("additionalProperties", false), nil
}

// metadata is the schema of spec.Metadata, with the annotations wirekeeper
// itself reads.
func (g *generator) metadata() (*object, error) {
	t := reflect.TypeFor[spec.Metadata]()
	doc, err := g.docs.typeDoc(t.Name())
	if err != nil {
		return nil, err
	}
	o := newObject().set("description", renameSubject(doc, t.Name(), "Metadata"))
	if err := g.structure(o, t); err != nil {
		return nil, err
	}
	suspend, err := g.docs.value("AnnotationSuspend")
	if err != nil {
		return nil, err
	}
	// The decoder refuses wirekeeper.io/ annotations other than those it
	// knows, and values other than theirs.
	annotations, _ := o.get("properties").(*object).get("annotations").(*object)
	if annotations == nil {
		return nil, errors.New("schemagen: spec.Metadata has no annotations field")
	}
	known := spec.KnownAnnotations()
	names := make([]string, 0, len(known))
	props := newObject()
	for _, name := range slices.Sorted(maps.Keys(known)) {
		p := newObject()
		if name == spec.AnnotationSuspend {
			p.set("description", renameSubject(suspend, "AnnotationSuspend", ""))
		}
		props.set(name, p.set("enum", known[name]))
		names = append(names, name)
	}
	annotations.set("properties", props)
	annotations.get("propertyNames").(*object).
		set("if", newObject().set("pattern", `^wirekeeper\.io/`)).
		set("then", newObject().set("enum", names))
	return o, nil
}

func apiVersion() *object {
	return newObject().
		set("description", "Version of the wirekeeper spec language.").
		set("const", spec.APIVersion)
}

// anyDocument is the schema of a document of any kind: the kind selects one
// of the kind files through relative $refs.
func anyDocument(kinds []spec.KindInfo) *object {
	names := make([]string, len(kinds))
	files := make([]string, len(kinds))
	var pick []any
	for i, k := range kinds {
		names[i], files[i] = k.Name, FileName(k.Name)
		pick = append(pick, newObject().
			set("if", newObject().
				set("properties", newObject().set("kind", newObject().set("const", k.Name))).
				set("required", []string{"kind"})).
			set("then", newObject().set("$ref", FileName(k.Name))))
	}
	return newObject().
		set("$schema", Draft).
		set("$id", BaseURL+AnyDocument).
		set("title", "wirekeeper document").
		set("description", "Any wirekeeper document; its kind selects the schema that applies ("+strings.Join(files, ", ")+").").
		set("type", "object").
		set("required", []string{"apiVersion", "kind"}).
		set("properties", newObject().
			set("apiVersion", apiVersion()).
			set("kind", newObject().
				set("description", "Kind of the document: "+strings.Join(names, ", ")+".").
				set("enum", names))).
		set("allOf", pick)
}

// renameSubject rewrites a Go doc comment for a schema reader: "MirrorSpec is
// an OVS port mirror" becomes "Mirror is an OVS port mirror". With an empty
// name the sentence loses its subject and starts with a capital.
func renameSubject(doc, goName, name string) string {
	rest, ok := strings.CutPrefix(doc, goName+" ")
	if !ok {
		return doc
	}
	if name != "" {
		return name + " " + rest
	}
	return strings.ToUpper(rest[:1]) + rest[1:]
}
