package review

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// LiveDiff is what `wirekeeper diff` shows: the spec folder and node it
// planned, and the plan against the live host.
type LiveDiff struct {
	// Path is the spec folder as the user named it.
	Path string              `json:"path"`
	Plan reconciler.LivePlan `json:"plan"`
}

// LiveMarkdown renders d: a table of the changes the daemon would apply
// with their field differences (live -> desired), then what it would only
// report (policy observe), what it would leave alone, and the prune guard.
func LiveMarkdown(d LiveDiff) string {
	var b strings.Builder
	p := d.Plan
	fmt.Fprintf(&b, "## wirekeeper diff: node %s\n\n", mdText(p.Node))
	fmt.Fprintf(&b, "Spec folder %s against the live host: %d to change, %d to report only, %d held, %d in sync.\n\n",
		codeSpan(d.Path), len(p.Changes), len(p.Reported), len(p.Held), p.Unchanged)
	if p.PruneGuard != "" {
		quote(&b, "⛔ The daemon would refuse this revision: it "+mdText(p.PruneGuard)+".")
	}
	writeLiveChanges(&b, "Changes", p.Changes)
	writeLiveChanges(&b, "Reported, not changed (policy observe)", p.Reported)
	if len(p.Held) > 0 {
		b.WriteString("### Held\n\n| object | why |\n|---|---|\n")
		for _, h := range p.Held {
			fmt.Fprintf(&b, "| %s | %s |\n", codeCell(h.Ref.String()), mdCell(h.Reason))
		}
		b.WriteString("\n")
	}
	if !p.HasChanges() && len(p.Reported) == 0 && len(p.Held) == 0 {
		b.WriteString("No change: the live host matches the spec.\n")
	}
	return b.String()
}

func writeLiveChanges(b *strings.Builder, title string, changes []reconciler.Change) {
	if len(changes) == 0 {
		return
	}
	fmt.Fprintf(b, "### %s\n\n| action | object | why | fields (live → desired) |\n|---|---|---|---|\n", title)
	for _, ch := range changes {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", actionText(ch.Action), codeCell(ch.Ref.String()), mdCell(ch.Reason), diffCell(ch.Diff))
	}
	b.WriteString("\n")
}

// LiveJSON renders d as one indented JSON document.
func LiveJSON(d LiveDiff) ([]byte, error) {
	d.Plan.Changes = orEmpty(d.Plan.Changes)
	return json.MarshalIndent(d, "", "  ")
}
