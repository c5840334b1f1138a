package reconciler

import (
	"cmp"
	"reflect"
	"slices"
	"sync"

	"github.com/wirekeeper/wirekeeper/spec"
)

// normalizeLive returns live (an observation's Live) in the form the
// engine compares with desired (both pointers to the kind's spec type):
// the fields that say where and how wirekeeper applies the object, which
// no live system records (`wk:"placement"`: node, manager, policy), are
// copied from desired, and the lists whose order the live system does not
// keep (`wk:"unique"`: sets) are put in desired's order, the elements
// desired lacks last. Providers thus report only what they read. live is
// not changed: what needs a change is copied.
func normalizeLive(live, desired any) any {
	lv, dv := reflect.ValueOf(live), reflect.ValueOf(desired)
	if !lv.IsValid() || !dv.IsValid() || lv.Type() != dv.Type() || lv.Kind() != reflect.Pointer || lv.IsNil() || dv.IsNil() ||
		lv.Elem().Kind() != reflect.Struct {
		return live
	}
	if out, changed := normalizeStruct(lv.Elem(), dv.Elem()); changed {
		return out.Addr().Interface()
	}
	return live
}

// normalizeStruct returns a copy of live with desired's placement fields
// and desired's order of set fields, recursively, and whether that copy
// differs from live; when it does not, no copy is made.
func normalizeStruct(live, desired reflect.Value) (reflect.Value, bool) {
	var out reflect.Value // the copy, made at the first change
	set := func(i int, v reflect.Value) {
		if !out.IsValid() {
			out = reflect.New(live.Type()).Elem()
			out.Set(live)
		}
		out.Field(i).Set(v)
	}
	for _, f := range fieldsOf(live.Type()) {
		lf, df := live.Field(f.index), desired.Field(f.index)
		switch {
		case f.rules.Placement:
			if !lf.Equal(df) {
				set(f.index, df)
			}
		case f.rules.Unique && lf.Kind() == reflect.Slice:
			if sorted, ok := inDesiredOrder(lf, df); ok {
				set(f.index, sorted)
			}
		case lf.Kind() == reflect.Pointer && lf.Type().Elem().Kind() == reflect.Struct && !lf.IsNil() && !df.IsNil():
			if inner, changed := normalizeStruct(lf.Elem(), df.Elem()); changed {
				set(f.index, inner.Addr())
			}
		}
	}
	if out.IsValid() {
		return out, true
	}
	return live, false
}

// inDesiredOrder returns live's elements with those in desired first, in
// desired's order, then the others in ascending order (strings and
// integers; others as live has them); ok is false when live is already so.
func inDesiredOrder(live, desired reflect.Value) (reflect.Value, bool) {
	n := live.Len()
	rank := func(x reflect.Value) int {
		for j := range desired.Len() {
			if desired.Index(j).Equal(x) {
				return j
			}
		}
		return desired.Len()
	}
	less := func(ra int, a reflect.Value, rb int, b reflect.Value) int {
		if ra != rb {
			return ra - rb
		}
		return compareElems(a, b)
	}
	sorted := true // checked first without allocating: the steady state
	for i := 1; i < n && sorted; i++ {
		a, b := live.Index(i-1), live.Index(i)
		sorted = less(rank(a), a, rank(b), b) <= 0
	}
	if sorted {
		return live, false
	}
	idx := make([]int, n)
	ranks := make([]int, n)
	for i := range n {
		idx[i], ranks[i] = i, rank(live.Index(i))
	}
	slices.SortStableFunc(idx, func(a, b int) int { return less(ranks[a], live.Index(a), ranks[b], live.Index(b)) })
	out := reflect.MakeSlice(live.Type(), n, n)
	for i, j := range idx {
		out.Index(i).Set(live.Index(j))
	}
	return out, true
}

type normField struct {
	index int
	rules spec.Rules
}

// normFields caches, per spec struct type, the fields normalizeStruct
// looks at: placement, sets and nested structs.
var normFields sync.Map // reflect.Type -> []normField

func fieldsOf(t reflect.Type) []normField {
	if v, ok := normFields.Load(t); ok {
		return v.([]normField)
	}
	var out []normField
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		r := spec.FieldRules(sf)
		nested := sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct
		if (r.Placement && sf.Type.Comparable()) || (r.Unique && sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Comparable()) || nested {
			out = append(out, normField{index: i, rules: r})
		}
	}
	normFields.Store(t, out)
	return out
}

// compareElems orders two list elements of a basic kind; 0 for others.
func compareElems(a, b reflect.Value) int {
	switch a.Kind() {
	case reflect.String:
		return cmp.Compare(a.String(), b.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return cmp.Compare(a.Int(), b.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cmp.Compare(a.Uint(), b.Uint())
	}
	return 0
}
