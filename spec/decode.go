package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Decode parses the YAML documents of one file (file names the file in
// diagnostics) as a load of its own. It returns every document it could
// recognise, even those with errors, and all the diagnostics it found; it
// never panics. When the file's aliases expand past the budget (see
// AliasExpansionFactor) it decodes nothing: no object, and a diagnostic on
// the alias that passed the limit.
func Decode(file string, data []byte) (objs []*Object, diags Diagnostics) {
	var l loader
	l.decode(file, data)
	return l.finish()
}

// loader decodes the files of one load. The alias budget belongs to the
// whole load, so a file with aliases is kept parsed, not decoded, until
// every file has been measured; a file without any is decoded at once.
// Files are parsed and measured concurrently (each on its own, as anchors
// never cross files), at most GOMAXPROCS at a time; finish waits for them
// and adds up their measures in load order.
type loader struct {
	aliases aliasCounter
	files   []*loadedFile
	// diags are about files and folders (unreadable, too large, links).
	diags Diagnostics
	// visited counts the nodes the walker decoded; the fuzz test holds it
	// to what the budget measured.
	visited int64

	// decoded is LoadOptions.Decoded.
	decoded func(*Object)

	wg    sync.WaitGroup
	slots chan struct{}
}

// loadedFile is one file of a load: its parsed documents until decoded,
// then its objects.
type loadedFile struct {
	name   string
	docs   []*yaml.Node
	walked bool
	objs   []*Object
	diags  Diagnostics
	// syntax is the error that ended the parse, reported after the
	// diagnostics of the documents before it.
	syntax *Diagnostic
	// written and expanded are the file's alias measures (aliasCounter's),
	// visited the nodes its walk decoded.
	written, expanded, visited int64
	// decoded is called with each object walked (LoadOptions.Decoded).
	decoded func(*Object)
}

// decode parses data, measures its aliases, and decodes it unless it has
// any, on a goroutine of its own; finish waits for it.
func (l *loader) decode(file string, data []byte) {
	if l.slots == nil {
		l.slots = make(chan struct{}, runtime.GOMAXPROCS(0))
	}
	f := &loadedFile{name: file, decoded: l.decoded}
	l.files = append(l.files, f)
	l.wg.Add(1)
	l.slots <- struct{}{}
	go func() {
		defer func() { <-l.slots; l.wg.Done() }()
		f.parse(data)
	}()
}

// parse reads the documents of data, measures their aliases and walks
// them unless there are any.
func (f *loadedFile) parse(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := parseNext(dec, &doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			d := syntaxDiagnostic(f.name, err)
			f.syntax = &d
			break
		}
		if len(doc.Content) > 0 {
			f.docs = append(f.docs, doc.Content[0])
		}
	}
	var c aliasCounter
	aliased := c.file(f.docs)
	f.written, f.expanded = c.written, c.expanded
	if !aliased {
		f.walk()
	}
}

// walk decodes the documents of f into objects.
func (f *loadedFile) walk() {
	for _, root := range f.docs {
		if isNull(root) {
			continue // an empty document, e.g. after a trailing ---
		}
		w := &walker{file: f.name, diags: &f.diags}
		if obj := w.document(root); obj != nil {
			f.objs = append(f.objs, obj)
			if f.decoded != nil {
				f.decoded(obj)
			}
		}
		f.visited += w.visited
	}
	f.docs, f.walked = nil, true
}

// finish checks the load's aliases against the budget, then decodes the
// files kept for it, or refuses the load: no object, and the diagnostics
// found so far plus one on the alias that passed the limit.
func (l *loader) finish() ([]*Object, Diagnostics) {
	l.wg.Wait()
	for _, f := range l.files {
		l.aliases.written = addSat(l.aliases.written, f.written)
		l.aliases.expanded = addSat(l.aliases.expanded, f.expanded)
	}
	limit := aliasLimit(l.aliases.written)
	refused := l.aliases.expanded > limit
	var objs []*Object
	diags := l.diags
	for _, f := range l.files {
		if !f.walked && !refused {
			f.walk()
		}
		l.visited += f.visited
		objs = append(objs, f.objs...)
		diags = append(diags, f.diags...)
		if f.syntax != nil {
			diags = append(diags, *f.syntax)
		}
	}
	if !refused {
		return objs, diags
	}
	// Measure again, in load order, to find the alias that passed the limit.
	search := aliasCounter{limit: limit}
	for _, f := range l.files {
		if f.walked {
			continue // no aliases
		}
		if search.file(f.docs); search.crossing != nil {
			return nil, append(diags, search.crossing.diagnostic(f.name, limit, l.aliases.written))
		}
	}
	// Unreachable: the search measures what the first pass measured.
	return nil, append(diags, Diagnostic{
		Position: Position{File: l.files[0].name, Line: 1, Column: 1}, Severity: SeverityError,
		Message: fmt.Sprintf("aliases expand to %d nodes, more than the limit of %d; write the values out or use fewer aliases", l.aliases.expanded, limit),
	})
}

// parseNext reads the next YAML document. yaml.v3 has panicked on some
// malformed inputs in the past; such a panic becomes a syntax error rather
// than taking the daemon down. Only the parser is guarded: a panic in our own
// decoding is a bug the fuzz test must see.
func parseNext(dec *yaml.Decoder, doc *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML parser failed: %v", r)
		}
	}()
	return dec.Decode(doc)
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)

// syntaxDiagnostic turns a yaml.v3 error (which names a line, rarely a column)
// into a diagnostic.
func syntaxDiagnostic(file string, err error) Diagnostic {
	d := Diagnostic{Position: Position{File: file, Line: 1, Column: 1}, Severity: SeverityError}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		d.Line, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			d.Column, _ = strconv.Atoi(m[2])
		}
		msg = strings.TrimSpace(strings.TrimPrefix(strings.Replace(msg, m[0], "", 1), ":"))
	}
	d.Message = "YAML syntax error: " + msg
	return d
}

// walker decodes one document into an Object, reporting problems as it goes.
type walker struct {
	file  string
	diags *Diagnostics
	obj   *Object
	// visited counts the nodes decoded into fields.
	visited int64
}

func (w *walker) pos(n *yaml.Node) Position {
	return Position{File: w.file, Line: n.Line, Column: n.Column}
}

func (w *walker) errorf(n *yaml.Node, field, format string, args ...any) {
	d := Diagnostic{Position: w.pos(n), Severity: SeverityError, Field: field, Message: fmt.Sprintf(format, args...)}
	if w.obj != nil {
		d.Kind, d.Name = w.obj.Kind, w.obj.Metadata.Name
		w.obj.failed = append(w.obj.failed, field)
	}
	*w.diags = append(*w.diags, d)
}

// resolve follows aliases. The walker descends only as deep as the spec
// types nest, whatever the YAML graph, and the alias budget bounds how
// often it meets each node.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// entry is one key of a mapping.
type entry struct{ key, value *yaml.Node }

// entries indexes the keys of a mapping and lists them in document order
// (so diagnostics come out in a stable order without sorting), reporting
// non-string and duplicate keys and merge keys (<<), which wirekeeper does
// not support.
func (w *walker) entries(n *yaml.Node, field string) (map[string]entry, []string) {
	out := make(map[string]entry, len(n.Content)/2)
	order := make([]string, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!merge") {
			w.errorf(k, field, "keys must be strings")
			continue
		}
		if k.ShortTag() == "!!merge" {
			w.errorf(k, field, "merge keys (<<) are not supported; write the fields out")
			continue
		}
		if prev, dup := out[k.Value]; dup {
			w.errorf(k, join(field, k.Value), "duplicate key; first set at line %d", prev.key.Line)
			continue
		}
		out[k.Value] = entry{k, v}
		order = append(order, k.Value)
	}
	return out, order
}

// lookup returns the value of key in mapping n, or nil; it reports nothing.
func lookup(n *yaml.Node, key string) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func join(parent, child string) string {
	if parent == "" {
		return child
	}
	return parent + "." + child
}

var envelopeKeys = []string{"apiVersion", "kind", "metadata", "spec"}

// document decodes the envelope, then metadata and spec by reflection.
func (w *walker) document(root *yaml.Node) *Object {
	root = resolve(root)
	w.obj = &Object{Source: w.pos(root), fields: map[string]Position{}}
	if root.Kind != yaml.MappingNode {
		w.errorf(root, "", "a document must be a mapping with apiVersion, kind, metadata and spec")
		return nil
	}
	keys, order := w.entries(root, "")
	// Read kind and name first so that every later diagnostic names the object.
	kindOK := false
	var kind KindInfo
	if e, ok := keys["kind"]; ok {
		s, ok := w.scalarString(e.value, "kind")
		if ok {
			w.obj.Kind = s
			kind, kindOK = lookupKind(s)
		}
	}
	if e, ok := keys["metadata"]; ok {
		if name := lookup(e.value, "name"); name != nil && name.Kind == yaml.ScalarNode {
			w.obj.Metadata.Name = name.Value
		}
	}
	for _, k := range order {
		if !slices.Contains(envelopeKeys, k) {
			w.errorf(keys[k].key, k, "unknown field%s; a document has %s", suggest(k, envelopeKeys), strings.Join(envelopeKeys, ", "))
		}
	}

	if e, ok := keys["apiVersion"]; !ok {
		w.errorf(root, "apiVersion", "is required; use apiVersion: %s", APIVersion)
	} else if s, ok := w.scalarString(e.value, "apiVersion"); ok && s != APIVersion {
		w.errorf(e.value, "apiVersion", "unknown apiVersion %q; valid: %s", s, APIVersion)
	} else {
		w.obj.APIVersion = s
	}

	e, ok := keys["kind"]
	switch {
	case !ok:
		w.errorf(root, "kind", "is required; valid kinds: %s", strings.Join(kindNames(), ", "))
	case w.obj.Kind != "" && !kindOK:
		w.errorf(e.value, "kind", "unknown kind %q%s; valid kinds: %s", w.obj.Kind, suggest(w.obj.Kind, kindNames()), strings.Join(kindNames(), ", "))
	}

	if e, ok := keys["metadata"]; ok {
		w.value("metadata", e.value, reflect.ValueOf(&w.obj.Metadata).Elem(), Rules{})
		w.checkAnnotations()
	} else {
		w.errorf(root, "metadata", "is required (with at least metadata.name)")
	}

	if !kindOK {
		return w.obj
	}
	specVal := reflect.New(kind.Type)
	w.obj.Spec = specVal.Interface()
	if e, ok := keys["spec"]; ok && !isNull(e.value) {
		w.value("spec", e.value, specVal.Elem(), Rules{})
	} else {
		at := root
		if ok {
			at = e.key
		}
		w.errorf(at, "spec", "is required for kind %s", kind.Name)
	}
	return w.obj
}

func (w *walker) checkAnnotations() {
	for k, v := range w.obj.Metadata.Annotations {
		field := "metadata.annotations." + k
		if !strings.HasPrefix(k, "wirekeeper.io/") {
			continue
		}
		valid, known := knownAnnotations[k]
		if !known {
			names := make([]string, 0, len(knownAnnotations))
			for n := range knownAnnotations {
				names = append(names, n)
			}
			w.errorf(w.nodeAt(field), field, "unknown wirekeeper annotation%s; known: %s", suggest(k, names), strings.Join(names, ", "))
			continue
		}
		if !slices.Contains(valid, v) {
			w.errorf(w.nodeAt(field), field, "%q is not valid; valid values: %s", v, strings.Join(quoteAll(valid), ", "))
		}
	}
}

// nodeAt fabricates a node at the recorded position of a field, for diagnostics
// issued after decoding.
func (w *walker) nodeAt(field string) *yaml.Node {
	p := w.obj.Position(field)
	return &yaml.Node{Line: p.Line, Column: p.Column}
}

// scalarString reads a string scalar, reporting any other node.
func (w *walker) scalarString(n *yaml.Node, field string) (string, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		w.errorf(n, field, "expected a string, got %s%s", describe(n), quoteHint(n))
		return "", false
	}
	return n.Value, true
}
