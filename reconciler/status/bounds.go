package status

import (
	"encoding/json"
	"fmt"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// A spec author decides how long many lists and texts of a status are: the
// diagnostics of a refused revision (one per invalid list item), messages
// that echo a spec value, the fields of an adoption (one per external-id
// key), the ports of a mirror in the diagram. The files are pushed to Git on
// every change of every node, so canonical bounds them all with the limits
// the plan comment uses (reconciler.MaxListed entries, MaxTextBytes per
// text), keeping a count of what it left out; only the object tables grow
// with the spec, one row per object.

func clipText(s string) string { return reconciler.Clip(s, reconciler.MaxTextBytes) }

// listedDiff bounds the fields of a drift event. One extra field is kept
// rather than replaced by the note, so that the note read back from the
// drift log does not count itself on the next render.
func listedDiff(diff []reconciler.FieldDiff) (shown []reconciler.FieldDiff, omitted int) {
	if len(diff) <= reconciler.MaxListed+1 {
		return diff, 0
	}
	return reconciler.Listed(diff)
}

// moreFields is the path of the entry that stands for the fields a drift
// event leaves out; it has no values.
func moreFields(n int) string { return reconciler.MoreText(n) + " fields" }

// boundValue keeps a diff value (in its plain form) short: a string is
// clipped, any other value whose JSON is longer than MaxTextBytes is
// replaced by a string saying how long it was.
func boundValue(v any) any {
	if s, ok := v.(string); ok {
		return clipText(s)
	}
	data, err := json.Marshal(v)
	if err != nil || len(data) <= reconciler.MaxTextBytes {
		return v // normalizeValue already checked it encodes
	}
	return fmt.Sprintf("(a value of %d bytes, too long to show)", len(data))
}
