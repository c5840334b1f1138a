package reconciler

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Action is what a change does to one live object.
type Action string

// The actions of a plan, in the decision table the engine owns: absent ->
// create, differs -> update, removed from git and owned -> delete.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
	ActionNoop   Action = "no-op"
)

// FieldDiff is one field whose value differs, by its path in the document
// (spec.output.port). From is the value before (the live value, or the
// base revision's), To the value after; nil means absent.
type FieldDiff struct {
	Path string `json:"path" yaml:"path"`
	From any    `json:"from" yaml:"from"`
	To   any    `json:"to" yaml:"to"`
}

// String renders the diff as "path: from -> to".
func (d FieldDiff) String() string {
	return fmt.Sprintf("%s: %s -> %s", d.Path, FormatValue(d.From), FormatValue(d.To))
}

// Change is one entry of a plan: the same value feeds apply, the drift
// report and the pull-request view.
type Change struct {
	Ref    Ref         `json:"ref"`
	Action Action      `json:"action"`
	Reason string      `json:"reason,omitempty"`
	Diff   []FieldDiff `json:"diff,omitempty"`
	// Desired is the object a create or update brings about; nil for a delete.
	Desired *spec.Object `json:"-"`
}

// Decide is the engine's decision table for one object: desired is nil when
// the object left git, obs is what the provider observed.
func Decide(ref Ref, desired *spec.Object, obs Observation) Change {
	ch := Change{Ref: ref, Desired: desired, Action: ActionNoop}
	switch {
	case desired == nil && !obs.Exists:
		ch.Reason = "removed from git and absent from the live system"
	case desired == nil && !obs.Owned:
		ch.Reason = "removed from git; the live object is not owned by wirekeeper and is left alone"
	case desired == nil:
		ch.Action, ch.Reason = ActionDelete, "removed from git"
	case !obs.Exists:
		ch.Action, ch.Reason = ActionCreate, "absent from the live system"
		ch.Diff = diffSpecs(nil, desired.Spec, true)
	case !obs.Owned && obs.Adoptable:
		ch.Diff = liveDiff(obs, desired)
		ch.Action = ActionUpdate
		ch.Reason = "adopting the live object of that name, which wirekeeper did not create"
		if n := len(ch.Diff); n > 0 {
			ch.Reason += fmt.Sprintf("; %d field%s differ%s", n, plural(n), verbS(n))
		}
	default:
		ch.Diff = liveDiff(obs, desired)
		if len(ch.Diff) > 0 {
			ch.Action = ActionUpdate
			ch.Reason = fmt.Sprintf("%d field%s differ%s", len(ch.Diff), plural(len(ch.Diff)), verbS(len(ch.Diff)))
		} else {
			ch.Reason = "in sync"
		}
	}
	return ch
}

// liveDiff is the difference from the live object to the desired one:
// its spec fields, then the provider's extra differences.
func liveDiff(obs Observation, desired *spec.Object) []FieldDiff {
	diff := diffSpecs(normalizeLive(obs.Live, desired.Spec), desired.Spec, true)
	if len(obs.Extra) == 0 {
		return diff
	}
	diff = append(diff, obs.Extra...)
	slices.SortStableFunc(diff, func(a, b FieldDiff) int { return strings.Compare(a.Path, b.Path) })
	return diff
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func verbS(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}

// DiffSpecs compares two spec values of the same kind (pointers to a spec
// type, either may be nil) field by field and returns the differences, by
// JSON path under "spec.", sorted by path. Lists are compared whole; maps
// key by key.
func DiffSpecs(from, to any) []FieldDiff { return diffSpecs(from, to, false) }

// diffSpecs is DiffSpecs; live leaves out spec.policy, which says what the
// engine does and is not part of the live object.
func diffSpecs(from, to any, live bool) []FieldDiff {
	if from != nil && to != nil && reflect.DeepEqual(from, to) {
		return nil // the steady-state path: no allocation
	}
	var out []FieldDiff
	diffValues("spec", valueOf(from), valueOf(to), &out)
	if live {
		out = slices.DeleteFunc(out, func(d FieldDiff) bool { return d.Path == "spec.policy" })
	}
	slices.SortFunc(out, func(a, b FieldDiff) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func valueOf(x any) reflect.Value {
	if x == nil {
		return reflect.Value{}
	}
	return deref(reflect.ValueOf(x))
}

func deref(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// diffValues appends the differences between a and b (invalid means absent).
func diffValues(path string, a, b reflect.Value, out *[]FieldDiff) {
	pa, pb := present(a), present(b)
	if !pa && !pb {
		return
	}
	a, b = deref(a), deref(b)
	var t reflect.Type
	if a.IsValid() {
		t = a.Type()
	} else {
		t = b.Type()
	}
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			name := spec.JSONName(f)
			if name == "" || name == "-" {
				continue
			}
			diffValues(path+"."+name, field(a, i), field(b, i), out)
		}
		return
	case reflect.Map:
		keys := map[string]bool{}
		for _, m := range []reflect.Value{a, b} {
			if m.IsValid() {
				for _, k := range m.MapKeys() {
					keys[k.String()] = true
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			diffValues(path+"."+k, mapIndex(a, k), mapIndex(b, k), out)
		}
		return
	}
	if pa && pb && reflect.DeepEqual(a.Interface(), b.Interface()) {
		return
	}
	*out = append(*out, FieldDiff{Path: path, From: plain(a, pa), To: plain(b, pb)})
}

func field(v reflect.Value, i int) reflect.Value {
	if !v.IsValid() {
		return reflect.Value{}
	}
	return v.Field(i)
}

func mapIndex(m reflect.Value, k string) reflect.Value {
	if !m.IsValid() {
		return reflect.Value{}
	}
	return m.MapIndex(reflect.ValueOf(k).Convert(m.Type().Key()))
}

// present reports whether a field is set. An omitted field and its zero
// value mean the same, except behind a pointer, where zero is a value
// (VLAN 0 is not "no VLAN").
func present(v reflect.Value) bool {
	if !v.IsValid() {
		return false
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return !v.IsNil()
	case reflect.Slice, reflect.Map:
		return v.Len() > 0
	}
	return !v.IsZero()
}

// plain returns the value as a plain Go value for reports: nil when
// absent, except that an unset flag reads as false.
func plain(v reflect.Value, ok bool) any {
	if !ok {
		if v.IsValid() && v.Kind() == reflect.Bool {
			return false
		}
		return nil
	}
	if d, isDur := v.Interface().(spec.Duration); isDur {
		return d.String()
	}
	return v.Interface()
}

// FormatValue renders a diff value compactly for tables and messages:
// strings quoted, lists in brackets, absent values as (none).
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}
