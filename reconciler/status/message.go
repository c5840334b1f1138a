package status

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// CommitMessage summarises what changed from prev (the status on the branch,
// nil when there is none) to cur, as the status commit's message:
//
//	status(<node>): <summary> @ <short applied revision>
//
// The summary lists the non-zero counts of non-Ready phases ("2 drifted,
// 1 failed"), "N repaired" for drift events repaired since prev, "N new drift"
// for unrepaired events prev did not have (events match by time, kind and
// name), and "refused <short>" when cur refuses a revision prev did not; it
// is "all N ready" when there is nothing else to say. A body after a blank
// line lists phase transitions, the new and repaired drift and the refusal,
// in a deterministic order: at most reconciler.MaxListed lines of at most
// reconciler.MaxTextBytes, then a line counting the rest. The result depends
// only on its input.
func CommitMessage(prev, cur *reconciler.NodeStatus) string {
	if cur == nil {
		return "status: no status"
	}
	var parts []string
	counts := cur.Counts()
	for _, p := range phases[1:] {
		if n := counts[p]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ToLower(string(p))))
		}
	}
	var unknown []string // phases this build does not know, sorted so map order cannot leak
	for p, n := range counts {
		if n > 0 && !slices.Contains(phases, p) {
			unknown = append(unknown, fmt.Sprintf("%d %s", n, strings.ToLower(cmp.Or(string(p), "unknown"))))
		}
	}
	slices.Sort(unknown)
	parts = append(parts, unknown...)

	repaired, fresh := driftNews(prev, cur)
	if len(repaired) > 0 {
		parts = append(parts, fmt.Sprintf("%d repaired", len(repaired)))
	}
	if len(fresh) > 0 {
		parts = append(parts, fmt.Sprintf("%d new drift", len(fresh)))
	}
	newRefusal := cur.Refused != nil && (prev == nil || prev.Refused == nil || prev.Refused.Revision != cur.Refused.Revision)
	if newRefusal {
		parts = append(parts, "refused "+reconciler.ShortHash(cur.Refused.Revision))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("all %d ready", counts[reconciler.PhaseReady]))
	}
	rev := "none"
	if cur.AppliedRevision != "" {
		rev = reconciler.ShortHash(cur.AppliedRevision)
	}
	subject := fmt.Sprintf("status(%s): %s @ %s", cur.Node, strings.Join(parts, ", "), rev)

	body := transitions(prev, cur)
	for _, e := range fresh {
		for _, d := range e.Diff {
			body = append(body, fmt.Sprintf("drift %s/%s at %s: %s", e.Kind, e.Name, reconciler.HumanTime(e.Time), oneLine(d.String())))
		}
		if len(e.Diff) == 0 {
			body = append(body, fmt.Sprintf("drift %s/%s at %s", e.Kind, e.Name, reconciler.HumanTime(e.Time)))
		}
	}
	for _, e := range repaired {
		body = append(body, fmt.Sprintf("repaired %s/%s (drift at %s)", e.Kind, e.Name, reconciler.HumanTime(e.Time)))
	}
	if newRefusal {
		r := cur.Refused
		body = append(body, oneLine(fmt.Sprintf("refused %s (%s): %s", reconciler.ShortHash(r.Revision), r.Reason, r.Message)))
	}
	if len(body) == 0 {
		return subject
	}
	return subject + "\n\n" + strings.Join(reconciler.ListLines(body), "\n") + "\n"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// driftKey identifies a drift event across renders.
type driftKey struct {
	time       time.Time
	kind, name string
}

func keyOf(e *reconciler.DriftEvent) driftKey {
	return driftKey{time: e.Time.UTC(), kind: e.Kind, name: e.Name}
}

// driftEvents gathers a status's drift log and the objects' last drift,
// which may be newer than a truncated log.
func driftEvents(ns *reconciler.NodeStatus) ([]*reconciler.DriftEvent, map[driftKey]*reconciler.DriftEvent) {
	var list []*reconciler.DriftEvent
	byKey := map[driftKey]*reconciler.DriftEvent{}
	add := func(e *reconciler.DriftEvent) {
		if _, dup := byKey[keyOf(e)]; !dup {
			byKey[keyOf(e)] = e
			list = append(list, e)
		}
	}
	if ns == nil {
		return nil, byKey
	}
	for i := range ns.Drift {
		add(&ns.Drift[i])
	}
	for i := range ns.Objects {
		if ns.Objects[i].LastDrift != nil {
			add(ns.Objects[i].LastDrift)
		}
	}
	return list, byKey
}

// driftNews returns the events of cur repaired since prev, and those new in
// cur and not repaired.
func driftNews(prev, cur *reconciler.NodeStatus) (repaired, fresh []*reconciler.DriftEvent) {
	_, before := driftEvents(prev)
	now, _ := driftEvents(cur)
	for _, e := range now {
		old, seen := before[keyOf(e)]
		switch {
		case e.Repaired && (!seen || !old.Repaired):
			repaired = append(repaired, e)
		case !e.Repaired && !seen:
			fresh = append(fresh, e)
		}
	}
	return repaired, fresh
}

// transitions lists objects whose phase changed, in registry order. Without
// prev only the objects that are not Ready are listed.
func transitions(prev, cur *reconciler.NodeStatus) []string {
	type change struct{ kind, name, from, to string }
	var changes []change
	for _, o := range cur.Objects {
		from := "(new)"
		if prev != nil {
			if p := prev.Object(o.Ref()); p != nil {
				from = phaseName(p.Phase)
			}
		}
		if from == phaseName(o.Phase) || (prev == nil && o.Phase == reconciler.PhaseReady) {
			continue
		}
		changes = append(changes, change{o.Kind, o.Name, from, phaseName(o.Phase)})
	}
	if prev != nil {
		for _, p := range prev.Objects {
			if cur.Object(p.Ref()) == nil {
				changes = append(changes, change{p.Kind, p.Name, phaseName(p.Phase), "(removed)"})
			}
		}
	}
	slices.SortStableFunc(changes, func(a, b change) int { return compareRefs(a.kind, a.name, b.kind, b.name) })
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = fmt.Sprintf("%s/%s: %s -> %s", c.kind, c.name, c.from, c.to)
	}
	return out
}

func phaseName(p reconciler.Phase) string { return cmp.Or(string(p), "Unknown") }
