package status

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// renderMarkdown writes status/<node>.md from a canonical status: a summary
// line, the refused revision and source problem if any, a table per kind and
// the topology diagram.
func renderMarkdown(ns *reconciler.NodeStatus, set *spec.Set) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n", generatedNote)
	fmt.Fprintf(&b, "# Status of %s\n\n", mdText(ns.Node))
	b.WriteString(summaryLine(ns) + "\n\n")
	fmt.Fprintf(&b, "Spec branch `%s`", codeText(ns.Branch))
	if ns.Path != "" {
		fmt.Fprintf(&b, ", path `%s`", codeText(ns.Path))
	}
	b.WriteString(".\n\n")

	if r := ns.Refused; r != nil {
		fmt.Fprintf(&b, "> **Refused revision `%s`** (%s) since %s: %s\n",
			codeText(reconciler.ShortHash(r.Revision)), mdText(r.Reason), reconciler.HumanTime(r.Since), mdText(r.Message))
		if len(r.Diagnostics) > 0 {
			b.WriteString(">\n")
			for _, d := range r.Diagnostics {
				fmt.Fprintf(&b, "> - `%s`\n", codeText(d.String()))
			}
			if r.DiagnosticsOmitted > 0 {
				fmt.Fprintf(&b, "> - %s: run `wirekeeper validate` on this revision for all of them\n", reconciler.MoreText(r.DiagnosticsOmitted))
			}
		}
		b.WriteString("\n")
	}
	if s := ns.Source; s != nil {
		fmt.Fprintf(&b, "> **Source problem** (%s) since %s: %s\n\n", mdText(s.Reason), reconciler.HumanTime(s.Since), mdText(s.Message))
	}

	var kinds []string
	for _, o := range ns.Objects {
		if !slices.Contains(kinds, o.Kind) {
			kinds = append(kinds, o.Kind) // objects are sorted, so kinds come in registry order
		}
	}
	if len(kinds) == 0 {
		b.WriteString("No objects on this node.\n\n")
	}
	for _, kind := range kinds {
		fmt.Fprintf(&b, "## %s\n\n", mdText(kind))
		b.WriteString("| Name | Phase | Message | Last transition | Last drift |\n")
		b.WriteString("|---|---|---|---|---|\n")
		for _, o := range ns.Objects {
			if o.Kind != kind {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n",
				cell(o.Name), cell(string(o.Phase)), cell(o.Message),
				reconciler.HumanTime(lastTransition(o)), cell(lastDriftText(o.LastDrift)))
		}
		b.WriteString("\n")
	}
	var unmanaged []string
	for _, o := range ns.Objects {
		for _, u := range o.Unmanaged {
			unmanaged = append(unmanaged, fmt.Sprintf("- %s on %s/%s\n", mdText(u), mdText(o.Kind), mdText(o.Name)))
		}
	}
	if len(unmanaged) > 0 {
		b.WriteString("## Unmanaged (not in git, not owned: left alone)\n\n")
		b.WriteString(strings.Join(unmanaged, "") + "\n")
	}

	var details []string
	for _, o := range ns.Objects {
		if len(o.Details) > 0 {
			details = append(details, fmt.Sprintf("- %s/%s: %s\n", mdText(o.Kind), mdText(o.Name), mdText(strings.Join(o.Details, "; "))))
		}
	}
	if len(details) > 0 {
		b.WriteString("## Details\n\n")
		b.WriteString(strings.Join(details, "") + "\n")
	}

	b.WriteString("## Topology\n\n")
	b.WriteString(renderMermaid(ns, set))
	return []byte(b.String())
}

// summaryLine is e.g. "**ams-hv01** enforces `3f2a9c1` — 12 ready, 1 drifted, 0 failed".
func summaryLine(ns *reconciler.NodeStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** ", mdText(ns.Node))
	if ns.AppliedRevision == "" {
		b.WriteString("enforces no revision yet")
	} else {
		fmt.Fprintf(&b, "enforces `%s`", codeText(reconciler.ShortHash(ns.AppliedRevision)))
	}
	b.WriteString(" — " + countsText(ns.Counts(), true))
	return b.String()
}

// countsText lists the objects by phase: ready and failed always (when
// always is set), the other phases when non-zero.
func countsText(counts map[reconciler.Phase]int, always bool) string {
	var parts []string
	for _, p := range phases {
		n := counts[p]
		if n > 0 || (always && (p == reconciler.PhaseReady || p == reconciler.PhaseFailed)) {
			parts = append(parts, fmt.Sprintf("%d %s", n, strings.ToLower(string(p))))
		}
	}
	return strings.Join(parts, ", ")
}

// lastTransition is the newest transition among the object's conditions.
func lastTransition(o reconciler.ObjectStatus) time.Time {
	var t time.Time
	for _, c := range o.Conditions {
		if c.LastTransitionTime.After(t) {
			t = c.LastTransitionTime
		}
	}
	return t
}

func lastDriftText(d *reconciler.DriftEvent) string {
	if d == nil {
		return "—"
	}
	var fields []string
	for _, fd := range d.Diff {
		fields = append(fields, fd.Path)
	}
	return fmt.Sprintf("%s: %s — %s", reconciler.HumanTime(d.Time), strings.Join(fields, ", "), d.Outcome())
}

// mdText escapes text written outside tables: HTML is neutralised and
// newlines become spaces so one value cannot break the layout.
var mdTextEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", " ", "\n", " ", "\r", " ")

func mdText(s string) string { return mdTextEscaper.Replace(s) }

// cell escapes text for a table cell: '|' would end the cell and a newline
// the row.
var cellEscaper = strings.NewReplacer("|", `\|`, "&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", "<br>", "\n", "<br>", "\r", "<br>")

func cell(s string) string {
	if s == "" {
		return ""
	}
	return cellEscaper.Replace(s)
}

// codeText makes s safe inside a `code span` on one line. Backticks cannot be
// escaped in a code span, so they are replaced by a look-alike.
var codeEscaper = strings.NewReplacer("`", "ˋ", "\r\n", " ", "\n", " ", "\r", " ")

func codeText(s string) string { return codeEscaper.Replace(s) }
