package review

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// CommentMarker is the first line of every Markdown report, so that a CI job
// can find the comment it posted earlier and update it instead of adding one.
const CommentMarker = "<!-- wirekeeper-plan -->"

// MaxCommentLength is GitHub's limit on the length of a pull-request
// comment. A report that would exceed it is rendered without field diffs.
const MaxCommentLength = 65536

// Limits that keep the comment readable.
const (
	// maxInlineFields: an update with at most this many fields shows its
	// field diffs in the table; bigger changes, creates and deletes get
	// theirs in the diff block under the table.
	maxInlineFields = 3
	// maxOpenDiffLines: a longer diff block is folded in <details>.
	maxOpenDiffLines = 15
)

// Markdown renders r as a pull-request comment in GitHub-flavoured
// Markdown: a heading, the validation problems, one summary line per node,
// then for each node with changes or warnings its recorded status, a table
// (Action | Object | Changes | Live status) and the field diffs. Table cells
// escape '|' and newlines. To stay within MaxCommentLength it leaves out the
// field diffs, then shortens the tables, saying so each time; only the
// summary lines of thousands of nodes can make it longer.
func Markdown(r *Report) string {
	l := limits{diffs: true, rows: -1}
	s := renderMarkdown(r, l)
	if len(s) <= MaxCommentLength {
		return s
	}
	l.diffs = false
	for _, rows := range []int{-1, 500, 200, 100, 50, 20, 10, 0} {
		l.rows = rows
		if s = renderMarkdown(r, l); len(s) <= MaxCommentLength {
			break
		}
	}
	return s
}

// limits shorten a comment: diffs false leaves out the field diffs, rows >= 0
// bounds the rows of each node's table.
type limits struct {
	diffs bool
	rows  int
}

func renderMarkdown(r *Report, l limits) string {
	var b strings.Builder
	b.WriteString(CommentMarker + "\n")
	fmt.Fprintf(&b, "## wirekeeper plan: merging %s into %s\n\n", codeSpan(r.Head.Ref), codeSpan(r.Base.Ref))
	fmt.Fprintf(&b, "Head %s at %s", codeSpan(r.Head.Ref), codeSpan(r.Head.Short()))
	if s := r.Head.Subject(); s != "" {
		fmt.Fprintf(&b, " (%s)", mdText(s))
	}
	fmt.Fprintf(&b, " against base %s at %s", codeSpan(r.Base.Ref), codeSpan(r.Base.Short()))
	if r.Path != "" && r.Path != "." {
		fmt.Fprintf(&b, ", spec folder %s", codeSpan(r.Path))
	}
	b.WriteString(".\n\n")

	if !r.Valid() {
		errs := r.Head.Diagnostics.ErrorCount()
		quote(&b, fmt.Sprintf("✗ **The head revision %s is invalid: the daemons would refuse it** and keep enforcing the revision they have. %d error%s:",
			codeSpan(r.Head.Short()), errs, plural(errs)))
		writeDiagnostics(&b, r.Head.Diagnostics)
		writeWarnings(&b, r.Warnings)
		return strings.TrimRight(b.String(), "\n") + "\n"
	}
	if !r.Base.Valid() {
		errs := r.Base.Diagnostics.ErrorCount()
		quote(&b, fmt.Sprintf("⚠ **The base revision %s is invalid** (%d error%s), so this plan starts from an empty base: every object of the head shows as a create.",
			codeSpan(r.Base.Short()), errs, plural(errs)))
		fmt.Fprintf(&b, "<details><summary>Problems of the base revision</summary>\n\n")
		writeDiagnostics(&b, r.Base.Diagnostics)
		b.WriteString("</details>\n\n")
	}
	if n := len(r.Head.Diagnostics); n > 0 {
		quote(&b, fmt.Sprintf("⚠ The head revision is valid, with %d warning%s:", n, plural(n)))
		writeDiagnostics(&b, r.Head.Diagnostics)
	}
	writeWarnings(&b, r.Warnings)
	writeMerge(&b, r)

	b.WriteString("### Summary\n\n")
	switch {
	case len(r.Nodes) == 0:
		b.WriteString("No node has objects in either revision.\n")
		return b.String()
	case !r.HasChanges():
		b.WriteString("**No changes**: merging would change nothing on any node.\n\n")
	}
	for i := range r.Nodes {
		fmt.Fprintf(&b, "- **%s**: %s%s\n", mdText(r.Nodes[i].Node), summary(&r.Nodes[i]), trustNote(r, r.Nodes[i].Node))
	}
	b.WriteString("\n")
	for i := range r.Nodes {
		writeNode(&b, r, &r.Nodes[i], l)
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// writeNode writes a node's section, when it has changes or warnings.
func writeNode(b *strings.Builder, r *Report, p *reconciler.NodePlan, l limits) {
	ns := r.nodeStatus(p.Node)
	warn := p.PruneGuard != "" || ns != nil && (ns.Refused != nil || ns.Source != nil)
	if !p.HasChanges() && !warn {
		return
	}
	fmt.Fprintf(b, "### %s\n\n", mdText(p.Node))
	if ns == nil {
		fmt.Fprintf(b, "No status recorded for this node on %s.\n\n", codeSpan(r.StatusBranch))
	} else {
		fmt.Fprintf(b, "Last recorded status: the node %s — %s.\n\n", revisionState(ns, r.Base.Hash), countsText(ns))
		if rr := ns.Refused; rr != nil {
			which := ""
			if rr.Revision == r.Base.Hash {
				which = " (the base head)"
			}
			quote(b, fmt.Sprintf("⚠ The node refuses revision %s%s since %s (%s): %s",
				codeSpan(reconciler.ShortHash(rr.Revision)), which, reconciler.HumanTime(rr.Since), mdText(rr.Reason), mdText(rr.Message)))
		}
		if sp := ns.Source; sp != nil {
			quote(b, fmt.Sprintf("⚠ The node cannot follow its spec branch since %s (%s): %s",
				reconciler.HumanTime(sp.Since), mdText(sp.Reason), mdText(sp.Message)))
		}
	}
	if p.PruneGuard != "" {
		quote(b, "⚠ **Prune guard**: this revision "+mdText(p.PruneGuard)+".")
	}
	if !p.HasChanges() {
		return
	}
	b.WriteString("| Action | Object | Changes | Live status |\n|---|---|---|---|\n")
	var long []reconciler.Change
	for i, ch := range p.Changes {
		if i == l.rows {
			fmt.Fprintf(b, "| … | %d more | | |\n", len(p.Changes)-i)
			break
		}
		changes, inline := changesCell(ch)
		if !inline {
			long = append(long, ch)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", actionText(ch.Action), codeCell(ch.Ref.String()), changes, liveCell(ns, ch))
	}
	b.WriteString("\n")
	if len(long) == 0 {
		return
	}
	if !l.diffs {
		b.WriteString("_Field diffs left out: with them this comment would exceed GitHub's limit; `--output json` has them all._\n\n")
		return
	}
	block, lines := diffBlock(long)
	if lines > maxOpenDiffLines {
		fmt.Fprintf(b, "<details><summary>Field diffs of %d object%s (%d lines)</summary>\n\n%s\n</details>\n\n", len(long), plural(len(long)), lines, block)
		return
	}
	b.WriteString(block + "\n")
}

// revisionState says how the node's applied revision compares with the
// base head, which the plan assumes the node enforces.
func revisionState(ns *reconciler.NodeStatus, base string) string {
	switch {
	case ns.AppliedRevision == "":
		return "has applied no revision yet"
	case ns.AppliedRevision == base:
		return fmt.Sprintf("enforces %s, the base head", codeSpan(reconciler.ShortHash(ns.AppliedRevision)))
	}
	return fmt.Sprintf("enforces %s, **not the base head** %s: it is behind or follows another branch, so merging may change more there than this plan shows",
		codeSpan(reconciler.ShortHash(ns.AppliedRevision)), codeSpan(reconciler.ShortHash(base)))
}

func actionText(a reconciler.Action) string {
	switch a {
	case reconciler.ActionCreate:
		return "➕ create"
	case reconciler.ActionUpdate:
		return "✏️ update"
	case reconciler.ActionDelete:
		return "➖ delete"
	}
	return string(a)
}

// diffCell is a table cell listing the field diffs, one per line.
func diffCell(diffs []reconciler.FieldDiff) string {
	lines := make([]string, len(diffs))
	for i, d := range diffs {
		lines[i] = codeCell(diffLine(d))
	}
	return strings.Join(lines, "<br>")
}

// changesCell is the Changes column of ch; inline reports whether it shows
// every field diff, so that the diff block can leave ch out.
func changesCell(ch reconciler.Change) (cell string, inline bool) {
	switch {
	case ch.Action == reconciler.ActionCreate:
		return mdCell(fmt.Sprintf("added (%d field%s)", len(ch.Diff), plural(len(ch.Diff)))), false
	case ch.Action == reconciler.ActionDelete:
		return mdCell(ch.Reason), false
	case len(ch.Diff) <= maxInlineFields:
		return diffCell(ch.Diff), true
	}
	paths := make([]string, 0, maxInlineFields)
	for _, d := range ch.Diff[:maxInlineFields] {
		paths = append(paths, d.Path)
	}
	return mdCell(fmt.Sprintf("%s: %s, …", ch.Reason, strings.Join(paths, ", "))), false
}

// liveCell is the Live status column: what the status branch last recorded
// for the object, with its last drift.
func liveCell(ns *reconciler.NodeStatus, ch reconciler.Change) string {
	if ns == nil {
		return noStatusText
	}
	st := ns.Object(ch.Ref)
	switch {
	case st == nil && ch.Action == reconciler.ActionCreate:
		return notOnNodeText
	case st == nil:
		return notRecordedObject
	}
	s := mdCell(liveText(st))
	if st.LastDrift != nil {
		s += "<br>" + mdCell(driftText(st.LastDrift))
	}
	return s
}

// diffLine renders a field diff as `spec.output.port: "tap0" → "tap1"`.
func diffLine(d reconciler.FieldDiff) string {
	return fmt.Sprintf("%s: %s → %s", d.Path, formatValue(d.From), formatValue(d.To))
}

// diffBlock renders changes as a ```diff block: a @@ header per object, a
// '-' line for each value before and a '+' line for each value after.
func diffBlock(changes []reconciler.Change) (block string, lines int) {
	var body strings.Builder
	for _, ch := range changes {
		fmt.Fprintf(&body, "@@ %s %s @@\n", ch.Action, ch.Ref)
		lines++
		for _, d := range ch.Diff {
			path := lineEscaper.Replace(d.Path)
			if d.From != nil {
				fmt.Fprintf(&body, "- %s: %s\n", path, formatValue(d.From))
				lines++
			}
			if d.To != nil {
				fmt.Fprintf(&body, "+ %s: %s\n", path, formatValue(d.To))
				lines++
			}
		}
	}
	fence := fenceFor(body.String())
	return fence + "diff\n" + body.String() + fence + "\n", lines
}

// writeDiagnostics lists diagnostics, file:line:column first, in a text
// block: the first reconciler.MaxListed, each clipped, as the status files
// list them (reconciler.ListDiagnostics); `wirekeeper validate` has all.
func writeDiagnostics(b *strings.Builder, ds spec.Diagnostics) {
	var body strings.Builder
	shown, omitted := reconciler.ListDiagnostics(ds)
	for _, d := range shown {
		body.WriteString(lineEscaper.Replace(d.String()) + "\n")
	}
	if omitted > 0 {
		body.WriteString(reconciler.MoreText(omitted) + ": run wirekeeper validate for all of them\n")
	}
	fence := fenceFor(body.String())
	b.WriteString(fence + "text\n" + body.String() + fence + "\n\n")
}

func writeWarnings(b *strings.Builder, warnings []string) {
	for _, w := range warnings {
		quote(b, "⚠ "+mdText(w))
	}
}

// countsText lists a node's objects by phase, e.g. "3 ready, 1 drifted".
func countsText(ns *reconciler.NodeStatus) string {
	c := ns.Counts()
	var parts []string
	for _, p := range phases {
		if c[p] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[p], strings.ToLower(string(p))))
		}
	}
	if len(parts) == 0 {
		return "no objects"
	}
	return strings.Join(parts, ", ")
}

// phases lists the phases in the order reports show them.
var phases = []reconciler.Phase{
	reconciler.PhaseReady, reconciler.PhaseDrifted, reconciler.PhasePending,
	reconciler.PhaseDegraded, reconciler.PhaseFailed, reconciler.PhaseSuspended,
}

// quote writes one blockquote paragraph.
func quote(b *strings.Builder, text string) { b.WriteString("> " + text + "\n\n") }

// formatValue renders a diff value as reconciler.FormatValue does, also
// quoting named string types (spec.Policy) and listing any slice.
func formatValue(v any) string {
	if v == nil {
		return reconciler.FormatValue(nil)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return reconciler.FormatValue(rv.String())
	case reflect.Slice, reflect.Array:
		items := make([]string, rv.Len())
		for i := range items {
			items[i] = formatValue(rv.Index(i).Interface())
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return lineEscaper.Replace(reconciler.FormatValue(v))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Escaping. Text outside tables goes through mdText, text in a table cell
// through mdCell, code through codeSpan or codeCell, lines of a fenced
// block through lineEscaper.
var (
	mdTextEscaper = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "~", `\~`,
		"|", `\|`, "&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", " ", "\n", " ", "\r", " ")
	mdCellEscaper = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "~", `\~`,
		"|", `\|`, "&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", "<br>", "\n", "<br>", "\r", "<br>")
	// Backticks cannot be escaped in a code span: a look-alike replaces them.
	codeSpanEscaper = strings.NewReplacer("`", "ˋ", "\r\n", " ", "\n", " ", "\r", " ")
	codeCellEscaper = strings.NewReplacer("`", "ˋ", "|", `\|`, "\r\n", " ", "\n", " ", "\r", " ")
	lineEscaper     = strings.NewReplacer("\r", `\r`, "\n", `\n`)
)

func mdText(s string) string { return mdTextEscaper.Replace(s) }
func mdCell(s string) string { return mdCellEscaper.Replace(s) }

func codeSpan(s string) string {
	if s == "" {
		return "—" // an empty code span is not one
	}
	return "`" + codeSpanEscaper.Replace(s) + "`"
}
func codeCell(s string) string { return "`" + codeCellEscaper.Replace(s) + "`" }

// fenceFor returns a code fence longer than any run of backticks in body.
func fenceFor(body string) string {
	longest, run := 0, 0
	for _, c := range body {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// writeMerge says how the head merges into the base: how far behind it
// is, the merge base used, the conflicts and the merged specs' errors.
func writeMerge(b *strings.Builder, r *Report) {
	m := r.Merge
	if m == nil {
		return
	}
	switch {
	case m.Base == "":
		quote(b, fmt.Sprintf("⚠ %s and %s share no commit: this plan merges them as if from an empty tree.", codeSpan(r.Head.Ref), codeSpan(r.Base.Ref)))
	case m.Behind > 0:
		quote(b, fmt.Sprintf("ℹ %s is %d commit%s behind %s. This plan shows what merging it would change, object by object from their merge base %s, not the difference of the two tips: what %s gained since is neither reverted nor shown.",
			codeSpan(r.Head.Ref), m.Behind, plural(m.Behind), codeSpan(r.Base.Ref), codeSpan(reconciler.ShortHash(m.Base)), codeSpan(r.Base.Ref)))
	}
	if n := len(m.Others); n > 0 {
		quote(b, fmt.Sprintf("ℹ The history has %d other merge base%s (criss-cross merges); this plan used the newest, %s.", n, plural(n), codeSpan(reconciler.ShortHash(m.Base))))
	}
	if n := len(m.Conflicts); n > 0 {
		what, pronoun := "these objects", "them"
		if n == 1 {
			what, pronoun = "this object", "it"
		}
		quote(b, fmt.Sprintf("✗ **%d conflict%s**: both branches changed %s differently since the merge base. The plan below shows the head's side; merge or rebase %s on %s to resolve %s.",
			n, plural(n), what, codeSpan(r.Head.Ref), codeSpan(r.Base.Ref), pronoun))
		b.WriteString("| Object | on the base | on the head |\n|---|---|---|\n")
		for _, c := range m.Conflicts {
			fmt.Fprintf(b, "| %s | %s | %s |\n", codeSpan(c.Ref.String()), c.Base, c.Head)
		}
		b.WriteString("\n")
	}
	if m.Diagnostics.HasErrors() {
		errs := m.Diagnostics.ErrorCount()
		quote(b, fmt.Sprintf("✗ **The merge would be invalid: the daemons would refuse it.** Both sides are valid, but merged they have %d error%s:", errs, plural(errs)))
		writeDiagnostics(b, m.Diagnostics)
	}
}

// trustNote is a node's verdict under the trust policy, for its summary
// line; "" when plan was given no policy.
func trustNote(r *Report, node string) string {
	if r.Trust == nil {
		return ""
	}
	if why := r.Trust[node]; why != "" {
		return " — ✗ **refused under the trust policy**: " + mdText(why)
	}
	return " — ✓ accepted under the trust policy"
}
