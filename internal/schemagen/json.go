package schemagen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// object is a JSON object that keeps its keys in the order they were set, so
// the generated files read top-down ($schema, title, type, properties...) and
// never change between runs.
type object struct {
	keys []string
	vals map[string]any
}

func newObject() *object { return &object{vals: map[string]any{}} }

// set adds or replaces key; a replaced key keeps its place.
func (o *object) set(key string, val any) *object {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = val
	return o
}

// get returns the value of key, or nil.
func (o *object) get(key string) any { return o.vals[key] }

// encode renders v as pretty JSON: two-space indent, no HTML escaping,
// trailing newline. v is built from *object, []any, []string, string, int and bool.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := write(&b, v, ""); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func write(b *bytes.Buffer, v any, indent string) error {
	inner := indent + "  "
	switch v := v.(type) {
	case *object:
		if len(v.keys) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteString("{\n")
		for i, k := range v.keys {
			b.WriteString(inner)
			writeString(b, k)
			b.WriteString(": ")
			if err := write(b, v.vals[k], inner); err != nil {
				return err
			}
			if i < len(v.keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case []string:
		items := make([]any, len(v))
		for i, s := range v {
			items[i] = s
		}
		return write(b, items, indent)
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteString("[\n")
		for i, item := range v {
			b.WriteString(inner)
			if err := write(b, item, inner); err != nil {
				return err
			}
			if i < len(v)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case string:
		writeString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	default:
		return fmt.Errorf("schemagen: cannot encode %T", v)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode ends with a newline
}
