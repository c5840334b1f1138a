package status

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// normalizeValue turns a diff value of any type into the plain form that
// both the YAML and the JSON of the drift log give back when read: nil,
// bool, int, float64 (non-integral only), string, []string, map[string]string,
// []any or map[string]any, with empty lists and maps as nil (absent, as in
// reconciler.DiffSpecs). Named types, pointers and structs go through
// their JSON encoding, as the spec types are written in JSON paths; so a
// spec.Policy becomes a string and a spec.Duration its "90s" form.
//
// Render writes normalised values and Parse returns them, which is what makes
// Parse(Render(x)) equal x whenever x already holds plain values.
func normalizeValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, int:
		return v, nil
	case []string:
		if len(x) == 0 {
			return nil, nil
		}
		return x, nil
	case map[string]string:
		if len(x) == 0 {
			return nil, nil
		}
		return x, nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value %T cannot be written: %w", v, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("value %T cannot be written: %w", v, err)
	}
	return plainValue(out), nil
}

// plainValue canonicalises a value decoded from JSON (with UseNumber) or
// YAML: integral numbers become int, lists and maps of strings only become
// []string and map[string]string.
func plainValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(x.String(), 10, 0); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return plainValue(f)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= 1<<53 {
			return int(x)
		}
		return x
	case int64:
		return int(x)
	case uint64:
		if x <= math.MaxInt {
			return int(x)
		}
		return float64(x)
	case []any:
		if len(x) == 0 {
			return nil
		}
		allStrings := true
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainValue(e)
			if _, ok := out[i].(string); !ok {
				allStrings = false
			}
		}
		if !allStrings {
			return out
		}
		s := make([]string, len(out))
		for i, e := range out {
			s[i] = e.(string)
		}
		return s
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
		allStrings := true
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plainValue(e)
			if _, ok := out[k].(string); !ok {
				allStrings = false
			}
		}
		if !allStrings {
			return out
		}
		s := make(map[string]string, len(out))
		for k, e := range out {
			s[k] = e.(string)
		}
		return s
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = e
		}
		return plainValue(out)
	}
	return v
}
