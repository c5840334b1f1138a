package spec

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The walker's decoding of one value by the type of its Go field: the shape
// rules of rules.go are enforced here, as each node is met.

var (
	durationType = reflect.TypeFor[Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// value decodes node n into v (addressable) according to v's type and rules r.
func (w *walker) value(field string, n *yaml.Node, v reflect.Value, r Rules) {
	n = resolve(n)
	w.obj.fields[field] = w.pos(n)
	if v.Kind() != reflect.Pointer {
		w.visited++ // once per node: a pointer passes its node on to its element
	}
	switch {
	case v.Type() == durationType:
		w.duration(field, n, v, r)
	case v.Kind() == reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		w.value(field, n, elem.Elem(), r)
		v.Set(elem)
	case v.Type() == secretType && n.Kind == yaml.ScalarNode:
		w.errorf(n, field, "a literal secret is not allowed in the repository; write %s: {env: WIREKEEPER_SECRET_NAME} to read it from the daemon's environment, or %s: {file: NAME} to read it from a file in the daemon's secrets directory, and remove the value from git history",
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

// durationRE is the duration syntax accepted, the same in the JSON Schemas:
// Go's, with a unit on every number and no sign.
var durationRE = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`)

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
	if len(r.Enum) > 0 && !slices.Contains(r.Enum, s) {
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
	if r.MaxItems != nil && len(n.Content) > *r.MaxItems {
		w.errorf(n, field, "%d items; at most %d are allowed", len(n.Content), *r.MaxItems)
	}
	// Item rules are the field's rules less those that apply to the list itself.
	item := r
	item.Required, item.Unique, item.Default, item.MaxItems = false, false, "", nil
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
	entries, order := w.entries(n, field)
	for _, k := range order {
		e := entries[k]
		f := field + "." + k
		w.obj.fields[f] = w.pos(e.value)
		w.visited++
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
	keys, order := w.entries(n, field)
	present := map[string]bool{}
	for _, k := range order {
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
		return " (a secret: {env: WIREKEEPER_SECRET_NAME} or {file: NAME in the secrets directory})"
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
