package importer

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wirekeeper/wirekeeper/spec"
)

// writer collects documents per file, names made unique per kind.
type writer struct {
	node  string
	docs  map[string][]document // by file
	names map[string]bool       // "Kind/name" taken
}

type document struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   metadata       `yaml:"metadata"`
	Spec       map[string]any `yaml:"spec"`
}

type metadata struct {
	Name string `yaml:"name"`
}

func newWriter(node string) *writer {
	return &writer{node: node, docs: map[string][]document{}, names: map[string]bool{}}
}

// add puts an object of kind into file, named from want (made a DNS label,
// and unique within the kind).
func (w *writer) add(file, kind, want string, sp map[string]any) {
	name := objectName(want)
	for i := 2; w.names[kind+"/"+name]; i++ {
		name = objectName(fmt.Sprintf("%s-%d", want, i))
	}
	w.names[kind+"/"+name] = true
	w.docs[file] = append(w.docs[file], document{APIVersion: "wirekeeper.io/v1alpha1", Kind: kind, Metadata: metadata{Name: name}, Spec: sp})
}

// files renders each file: the schema comment line, what made it, then
// its documents sorted by name. A file that would pass spec.MaxFileSize,
// which the loader refuses, goes on in FILE-2.yaml, FILE-3.yaml, ...
func (w *writer) files() map[string][]byte {
	out := map[string][]byte{}
	for file, docs := range w.docs {
		slices.SortFunc(docs, func(a, b document) int {
			return strings.Compare(a.Metadata.Name, b.Metadata.Name)
		})
		header := "# yaml-language-server: $schema=https://wirekeeper.io/schemas/v1alpha1/wirekeeper.json\n" +
			fmt.Sprintf("#\n# Imported by `wirekeeper import` from node %s's live host: review, then commit.\n", w.node)
		part, name := 1, file
		b := bytes.NewBufferString(header)
		for _, d := range docs {
			var doc bytes.Buffer
			doc.WriteString("---\n")
			enc := yaml.NewEncoder(&doc)
			enc.SetIndent(2)
			_ = enc.Encode(d) // maps and strings only: cannot fail
			_ = enc.Close()
			if b.Len() > len(header) && b.Len()+doc.Len() > spec.MaxFileSize {
				out[path.Join(w.node, name)] = b.Bytes()
				part++
				name = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(file, path.Ext(file)), part, path.Ext(file))
				b = bytes.NewBufferString(header)
			}
			b.Write(doc.Bytes())
		}
		out[path.Join(w.node, name)] = b.Bytes()
	}
	return out
}

// objectName makes s a metadata.name: lower case letters, digits and '-',
// at most 63 bytes, starting and ending with a letter or digit.
func objectName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	for strings.Contains(name, "--") {
		name = strings.ReplaceAll(name, "--", "-")
	}
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	if name == "" {
		name = "x"
	}
	return name
}
