package schemagen

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/wirekeeper/wirekeeper/spec"
)

// DurationPattern is what a spec.Duration looks like in a schema: one or more
// decimal numbers, each with a unit, as Go's time.ParseDuration reads them
// (without the sign, which no duration field accepts).
const DurationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// secretNote is appended to the description of every spec.Secret field, since
// the most likely mistake there is pasting the value itself.
const secretNote = "A literal value is refused so that no secret is committed to the repository: write {env: WIREKEEPER_SECRET_NAME} (an environment variable of the daemon) or {file: NAME} (a file in the daemon's secrets directory)."

var (
	durationType = reflect.TypeFor[spec.Duration]()
	secretType   = reflect.TypeFor[spec.Secret]()
)

// generator turns spec types into schema objects.
type generator struct{ docs *docs }

// field returns the schema of one struct field: its description (doc comment,
// then what its format accepts), then the schema of its type under its rules.
func (g *generator) field(owner reflect.Type, f reflect.StructField, r spec.Rules) (*object, error) {
	doc, err := g.docs.field(owner.Name(), f.Name)
	if err != nil {
		return nil, err
	}
	t := deref(f.Type)
	if r.Format != "" && !mentions(doc, spec.Formats[r.Format].Valid) {
		if t.Kind() == reflect.Slice {
			doc += fmt.Sprintf(" Each item must be %s.", spec.Formats[r.Format].Valid)
		} else {
			doc += fmt.Sprintf(" Must be %s.", spec.Formats[r.Format].Valid)
		}
	}
	if r.KeyFormat != "" {
		doc += fmt.Sprintf(" Each key must be %s.", spec.Formats[r.KeyFormat].Valid)
	}
	if t == secretType {
		doc += " " + secretNote
	}
	o := newObject().set("description", doc)
	if err := g.value(o, t, r); err != nil {
		return nil, fmt.Errorf("%w (field %s.%s)", err, owner.Name(), f.Name)
	}
	return o, nil
}

// mentions reports whether a doc comment already names what a format
// accepts (the part of valid before any ':' or '('), so the description does
// not say it twice.
func mentions(doc, valid string) bool {
	head, _, _ := strings.Cut(valid, ":")
	head, _, _ = strings.Cut(head, " (")
	return strings.Contains(strings.ToLower(doc), strings.ToLower(strings.TrimSpace(head)))
}

// value fills o with the schema of a value of type t under rules r.
func (g *generator) value(o *object, t reflect.Type, r spec.Rules) error {
	t = deref(t)
	switch {
	case t == durationType:
		o.set("type", "string").set("pattern", DurationPattern)
	case t.Kind() == reflect.Struct:
		if err := g.structure(o, t); err != nil {
			return err
		}
		if len(r.ExactlyOne) > 0 {
			o.set("oneOf", exactlyOne(r.ExactlyOne))
		}
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String:
		names := newObject()
		if r.KeyFormat != "" {
			format(names, r.KeyFormat)
		} else {
			names.set("minLength", 1) // the decoder refuses empty keys
		}
		o.set("type", "object").
			set("propertyNames", names).
			set("additionalProperties", newObject().set("type", "string"))
	case t.Kind() == reflect.Slice:
		// Item rules are the field's rules less those of the list itself, as in the decoder.
		item := r
		item.Required, item.Unique, item.Default, item.MaxItems = false, false, "", nil
		items := newObject()
		if err := g.value(items, t.Elem(), item); err != nil {
			return err
		}
		o.set("type", "array").set("items", items)
		if r.Unique {
			o.set("uniqueItems", true)
		}
		if r.MaxItems != nil {
			o.set("maxItems", *r.MaxItems)
		}
	case t.Kind() == reflect.String:
		o.set("type", "string")
		if len(r.Enum) > 0 {
			o.set("enum", r.Enum)
		} else if r.Required {
			o.set("minLength", 1)
		}
		if r.Format != "" {
			format(o, r.Format)
		}
	case t.Kind() == reflect.Int:
		o.set("type", "integer")
		if r.Min != nil {
			o.set("minimum", *r.Min)
		}
		if r.Max != nil {
			o.set("maximum", *r.Max)
		}
	case t.Kind() == reflect.Bool:
		o.set("type", "boolean")
	default:
		return fmt.Errorf("schemagen: no schema for type %s", t)
	}
	if r.Default != "" {
		def, err := defaultValue(t, r.Default)
		if err != nil {
			return err
		}
		o.set("default", def)
	}
	return nil
}

// structure fills o with a closed object: the struct's fields by their JSON
// names, in declaration order, and those that are required.
func (g *generator) structure(o *object, t reflect.Type) error {
	props := newObject()
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := spec.JSONName(f)
		if name == "" || name == "-" || !f.IsExported() {
			continue // the decoder skips these too
		}
		r := spec.FieldRules(f)
		s, err := g.field(t, f, r)
		if err != nil {
			return err
		}
		props.set(name, s)
		if r.Required {
			required = append(required, name)
		}
	}
	o.set("type", "object")
	if len(required) > 0 {
		o.set("required", required)
	}
	o.set("properties", props).set("additionalProperties", false)
	if t == secretType {
		// The decoder applies exactlyone=env|file to every Secret.
		o.set("oneOf", exactlyOne([]string{"env", "file"}))
	}
	return nil
}

// exactlyOne is the oneOf that admits an object with exactly one of the fields.
func exactlyOne(names []string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = newObject().set("required", []string{n})
	}
	return out
}

// format adds the schema side of a named format: its pattern and maximum
// length. Check functions go further; the validator applies them.
func format(o *object, name string) {
	f := spec.Formats[name]
	if f.Pattern != "" {
		o.set("pattern", f.Pattern)
	}
	if f.MaxLength > 0 {
		o.set("maxLength", f.MaxLength)
	}
}

// defaultValue types a `default=` rule as JSON: a number for an integer, an
// array for a list (a|b|c), a string otherwise.
func defaultValue(t reflect.Type, def string) (any, error) {
	switch {
	case t == durationType, t.Kind() == reflect.String:
		return def, nil
	case t.Kind() == reflect.Int:
		n, err := strconv.Atoi(def)
		if err != nil {
			return nil, fmt.Errorf("schemagen: integer default %q: %w", def, err)
		}
		return n, nil
	case t.Kind() == reflect.Slice:
		var items []any
		for _, s := range strings.Split(def, "|") {
			item, err := defaultValue(t.Elem(), s)
			if err != nil {
				return nil, err
			}
			items = append(items, item)
		}
		return items, nil
	}
	return nil, fmt.Errorf("schemagen: no default for type %s", t)
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
