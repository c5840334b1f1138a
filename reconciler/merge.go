package reconciler

import (
	"maps"
	"slices"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Conflict is an object both sides of a merge changed since their merge
// base, and not in the same way: the merge cannot say which one the
// network should get.
type Conflict struct {
	Ref Ref `json:"ref"`
	// Base and Head say what each side did to it since the merge base:
	// "added", "changed" or "deleted".
	Base string `json:"base"`
	Head string `json:"head"`
}

// MergeSets is the object-level three-way merge of head into base from
// their merge base ancestor (nil for histories with no common commit,
// which merge as if from an empty tree). Objects are keyed by kind and
// name: an object is taken from head where head changed it since the
// ancestor (added, edited or deleted), from base otherwise. Where both
// changed it differently it is a Conflict, and the merged set carries
// head's side so that the plan still shows what the branch wants.
// Objects keep base's order, then those only head has, in head's order.
// The merged set is not validated: a merge of two valid sides can still
// be invalid (head adds a Mirror on a manager base removed), so the
// caller validates it as the daemons would.
func MergeSets(ancestor, base, head *spec.Set) (*spec.Set, []Conflict) {
	index := func(s *spec.Set) map[Ref]*spec.Object {
		m := map[Ref]*spec.Object{}
		if s != nil {
			for _, o := range s.Objects {
				m[RefOf(o)] = o
			}
		}
		return m
	}
	anc, b, h := index(ancestor), index(base), index(head)
	var conflicts []Conflict
	pick := func(r Ref) *spec.Object {
		a, bo, ho := anc[r], b[r], h[r]
		if SameObject(a, ho) {
			return bo
		}
		if !SameObject(a, bo) && !SameObject(bo, ho) {
			conflicts = append(conflicts, Conflict{Ref: r, Base: sideChange(a, bo), Head: sideChange(a, ho)})
		}
		return ho
	}
	merged := &spec.Set{}
	done := map[Ref]bool{}
	var sides []*spec.Set
	if base != nil {
		sides = append(sides, base)
	}
	if head != nil {
		sides = append(sides, head)
	}
	for _, side := range sides {
		for _, o := range side.Objects {
			r := RefOf(o)
			if done[r] {
				continue
			}
			done[r] = true
			if m := pick(r); m != nil {
				merged.Objects = append(merged.Objects, m)
			}
		}
	}
	// An object only the ancestor had: deleted on both sides, or on one
	// side and left alone on the other; pick reports nothing to take.
	slices.SortFunc(conflicts, func(x, y Conflict) int { return CompareRefs(x.Ref, y.Ref) })
	return merged, conflicts
}

// sideChange says what a side did to an object since the ancestor.
func sideChange(ancestor, side *spec.Object) string {
	switch {
	case ancestor == nil:
		return "added"
	case side == nil:
		return "deleted"
	}
	return "changed"
}

// SameObject reports whether a and b are the same desired object: both
// absent, or the same spec, labels and annotations (where each was written
// does not matter).
func SameObject(a, b *spec.Object) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.APIVersion == b.APIVersion &&
		len(DiffSpecs(a.Spec, b.Spec)) == 0 &&
		maps.Equal(a.Metadata.Labels, b.Metadata.Labels) &&
		maps.Equal(a.Metadata.Annotations, b.Metadata.Annotations)
}
