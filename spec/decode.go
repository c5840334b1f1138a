package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Decode parses the YAML documents of one file (file names the file in
// diagnostics). It returns every document it could recognise, even those
// with errors, and all the diagnostics it found; it never panics.
func Decode(file string, data []byte) (objs []*Object, diags Diagnostics) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := parseNext(dec, &doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			diags = append(diags, syntaxDiagnostic(file, err))
			break
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // an empty document, e.g. after a trailing ---
		}
		w := &walker{file: file, diags: &diags}
		if obj := w.document(doc.Content[0]); obj != nil {
			objs = append(objs, obj)
		}
	}
	return objs, diags
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

// durationRE is the duration syntax accepted, the same in the JSON Schemas:
// Go's, with a unit on every number and no sign.
var durationRE = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`)

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

// resolve follows aliases. Aliases cannot make decoding explode: the walker
// descends only as deep as the spec types nest, whatever the YAML graph.
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

// entries lists the keys of a mapping in order, reporting non-string and
// duplicate keys and merge keys (<<), which wirekeeper does not support.
func (w *walker) entries(n *yaml.Node, field string) map[string]entry {
	out := make(map[string]entry, len(n.Content)/2)
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
	}
	return out
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
	keys := w.entries(root, "")
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
	for _, k := range sortedKeys(keys) {
		if !contains(envelopeKeys, k) {
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
		if !contains(valid, v) {
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

var (
	durationType = reflect.TypeFor[Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// value decodes node n into v (addressable) according to v's type and rules r.
func (w *walker) value(field string, n *yaml.Node, v reflect.Value, r Rules) {
	n = resolve(n)
	w.obj.fields[field] = w.pos(n)
	switch {
	case v.Type() == durationType:
		w.duration(field, n, v, r)
	case v.Kind() == reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		w.value(field, n, elem.Elem(), r)
		v.Set(elem)
	case v.Type() == secretType && n.Kind == yaml.ScalarNode:
		w.errorf(n, field, "a literal secret is not allowed in the repository; write %s: {env: NAME} to read it from the daemon's environment, or %s: {file: /path/on/node} to read it from a file, and remove the value from git history",
			lastSegment(field), lastSegment(field))
	case v.Kind() == reflect.Struct:
		w.structure(field, n, v)
	case v.Kind() == reflect.Slice:
		w.list(field, n, v, r)
	case v.Kind() == reflect.Map:
		w.stringMap(field, n, v, r)
	case v.Kind() == reflect.String:
		if s, ok := w.scalarString(n, field); ok {
			v.SetString(s)
			w.checkString(field, n, s, r)
		}
	case v.Kind() == reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			w.errorf(n, field, "expected true or false, got %s", describe(n))
			return
		}
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		v.SetBool(b)
	case v.Kind() == reflect.Int:
		w.integer(field, n, v, r)
	default:
		panic(fmt.Sprintf("spec: unsupported field type %s at %s", v.Type(), field))
	}
}

func (w *walker) duration(field string, n *yaml.Node, v reflect.Value, r Rules) {
	if n.Kind != yaml.ScalarNode {
		w.errorf(n, field, "expected a duration such as 90s, 15m or 48h, got %s", describe(n))
		return
	}
	d, err := time.ParseDuration(n.Value)
	if err == nil && !durationRE.MatchString(n.Value) {
		err = errors.New("not in the canonical form") // e.g. 0, .5s, +5s
	}
	if err != nil {
		hint := "a Go duration such as 90s, 15m or 48h"
		if n.ShortTag() == "!!int" {
			hint = fmt.Sprintf("a duration needs a unit, e.g. %ss", n.Value)
		}
		w.errorf(n, field, "%q is not a duration: %s", n.Value, hint)
		return
	}
	if r.MinDur != nil && d < *r.MinDur {
		w.errorf(n, field, "%s is too short; at least %s", d, *r.MinDur)
	}
	v.SetInt(int64(d))
}

func (w *walker) integer(field string, n *yaml.Node, v reflect.Value, r Rules) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		w.errorf(n, field, "expected an integer, got %s", describe(n))
		return
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil || int64(int(i)) != i {
		w.errorf(n, field, "integer %s is out of range", n.Value)
		return
	}
	if (r.Min != nil && int(i) < *r.Min) || (r.Max != nil && int(i) > *r.Max) {
		w.errorf(n, field, "%d is out of range; valid: %s", i, describeRange(r))
		return
	}
	v.SetInt(i)
}

// formatMessage says why what (a quoted value) fails the named format and what is valid.
func formatMessage(what, format, why string) string {
	valid := Formats[format].Valid
	if why == "not "+valid {
		return fmt.Sprintf("%s is not valid; expected %s", what, valid)
	}
	return fmt.Sprintf("%s is not valid: %s; expected %s", what, why, valid)
}

func describeRange(r Rules) string {
	switch {
	case r.Min != nil && r.Max != nil:
		return fmt.Sprintf("%d..%d", *r.Min, *r.Max)
	case r.Min != nil:
		return fmt.Sprintf("at least %d", *r.Min)
	case r.Max != nil:
		return fmt.Sprintf("at most %d", *r.Max)
	}
	return "any integer"
}

func (w *walker) checkString(field string, n *yaml.Node, s string, r Rules) {
	if s == "" && (r.Required || r.Format != "") {
		w.errorf(n, field, "must not be empty")
		return
	}
	if len(r.Enum) > 0 && !contains(r.Enum, s) {
		w.errorf(n, field, "%q is not valid%s; valid values: %s", s, suggest(s, r.Enum), strings.Join(r.Enum, ", "))
		return
	}
	if r.Format != "" && s != "" {
		if why := checkFormat(r.Format, s); why != "" {
			w.errorf(n, field, "%s", formatMessage(fmt.Sprintf("%q", s), r.Format, why))
		}
	}
}

func (w *walker) list(field string, n *yaml.Node, v reflect.Value, r Rules) {
	if n.Kind != yaml.SequenceNode {
		w.errorf(n, field, "expected a list, got %s", describe(n))
		return
	}
	// Item rules are the field's rules less those that apply to the list itself.
	item := r
	item.Required, item.Unique, item.Default = false, false, ""
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	seen := map[string]int{}
	for i, c := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		elem := reflect.New(v.Type().Elem()).Elem()
		w.value(f, c, elem, item)
		if c := resolve(c); r.Unique && c.Kind == yaml.ScalarNode {
			if j, dup := seen[c.Value]; dup {
				w.errorf(c, f, "%q is listed twice (also at index %d)", c.Value, j)
			}
			seen[c.Value] = i
		}
		out = reflect.Append(out, elem)
	}
	v.Set(out)
}

func (w *walker) stringMap(field string, n *yaml.Node, v reflect.Value, r Rules) {
	if n.Kind != yaml.MappingNode {
		w.errorf(n, field, "expected a mapping of strings, got %s", describe(n))
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	entries := w.entries(n, field)
	for _, k := range sortedKeys(entries) {
		e := entries[k]
		f := field + "." + k
		w.obj.fields[f] = w.pos(e.value)
		if r.KeyFormat != "" {
			if why := checkFormat(r.KeyFormat, k); why != "" {
				w.errorf(e.key, f, "%s", formatMessage(fmt.Sprintf("key %q", k), r.KeyFormat, why))
			}
		}
		if k == "" {
			w.errorf(e.key, f, "keys must not be empty")
		}
		val := resolve(e.value)
		if val.Kind != yaml.ScalarNode || val.ShortTag() != "!!str" {
			w.errorf(val, f, "expected a string value, got %s%s", describe(val), quoteHint(val))
			continue
		}
		out.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(val.Value))
	}
	v.Set(out)
}

// structure decodes a mapping into a struct: known keys by their json name,
// unknown keys reported with a suggestion, then required, exactlyone and defaults.
func (w *walker) structure(field string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		w.errorf(n, field, "expected a mapping, got %s", describe(n))
		return
	}
	ti := infoOf(v.Type())
	keys := w.entries(n, field)
	present := map[string]bool{}
	for _, k := range sortedKeys(keys) {
		e := keys[k]
		i, ok := ti.byName[k]
		if !ok {
			w.errorf(e.key, join(field, k), "unknown field%s; valid fields: %s", suggest(k, ti.names), strings.Join(ti.names, ", "))
			continue
		}
		if isNull(e.value) {
			continue // an explicit null is the same as an absent field
		}
		present[k] = true
		f := ti.fields[i]
		w.value(join(field, k), e.value, v.Field(f.index), f.rules)
	}
	for _, f := range ti.fields {
		if !present[f.name] {
			if f.rules.Required {
				w.errorf(n, join(field, f.name), "is required%s", requiredHint(f))
			}
			if f.rules.Default != "" {
				setDefault(v.Field(f.index), f.rules.Default)
			}
			continue
		}
		if len(f.rules.ExactlyOne) > 0 {
			w.exactlyOne(join(field, f.name), keys[f.name].value, f.rules.ExactlyOne)
		}
	}
	if v.Type() == secretType {
		w.exactlyOne(field, n, []string{"env", "file"})
	}
}

// exactlyOne checks that exactly one of the named keys is set (non-null) in
// mapping n; an empty value still counts as set and is reported on its own.
func (w *walker) exactlyOne(field string, n *yaml.Node, group []string) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return
	}
	var set []string
	for _, name := range group {
		if v := lookup(n, name); v != nil && !isNull(v) {
			set = append(set, name)
		}
	}
	switch len(set) {
	case 1:
	case 0:
		w.errorf(n, field, "set exactly one of %s", strings.Join(group, " or "))
	default:
		w.errorf(n, field, "%s are mutually exclusive; set exactly one of %s", strings.Join(set, " and "), strings.Join(group, " or "))
	}
}

func requiredHint(f fieldInfo) string {
	if f.field.Type == reflect.TypeFor[*Secret]() {
		return " (a secret: {env: NAME} or {file: /path/on/node})"
	}
	r := f.rules
	if len(r.Enum) > 0 {
		return "; valid values: " + strings.Join(r.Enum, ", ")
	}
	if r.Format != "" {
		return "; expected " + Formats[r.Format].Valid
	}
	return ""
}

func setDefault(v reflect.Value, def string) {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(def)
		if err != nil {
			panic("spec: bad default duration " + def)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(def)
	case v.Kind() == reflect.Int:
		i, err := strconv.Atoi(def)
		if err != nil {
			panic("spec: bad default int " + def)
		}
		v.SetInt(int64(i))
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		v.Set(reflect.ValueOf(strings.Split(def, "|")))
	default:
		panic(fmt.Sprintf("spec: no default for %s", v.Type()))
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("string %q", n.Value)
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
	return "an unexpected node"
}

func quoteHint(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!str" && n.ShortTag() != "!!null" {
		return fmt.Sprintf(" (quote it: \"%s\")", n.Value)
	}
	return ""
}

func lastSegment(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[i+1:]
	}
	return field
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
