package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/reconciler/trust"
	"github.com/wirekeeper/wirekeeper/spec"
)

const planUsage = `usage: wirekeeper plan --repo URL --head BRANCH [flags]

Shows what merging --head into --base would do on every node (or one):
each object to create, update or delete with its field diff, the head's
validation problems with file:line:column, prune-guard warnings, and what
the status branch last recorded for each object and node. Runs in the spec
repository's CI: it reads git only, never the hosts.

The plan is the merge: objects are merged three-way (by kind and name)
from the merge base of --base and --head, so a head behind its base shows
only its own changes. An object both changed differently is a conflict.

Exit status: 0 no changes, 2 changes, 1 the head is invalid, a conflict,
an invalid merge or an error (usage errors included, as 2 means "changes").

`

// exitChanges is plan's exit status when merging would change something.
const exitChanges = 2

// runPlan is `wirekeeper plan`: fetch base and head, plan every node, read
// the status branch, render markdown or JSON on stdout.
func runPlan(args []string, stdout, stderr io.Writer) int {
	o, err := parsePlanFlags(args, stderr)
	if code, ok := flagsExit("plan", err, exitFail, stderr); !ok {
		return code
	}
	ctx, cache, done, err := startCommand(o.repo.cacheDir, "wirekeeper-plan-")
	if err != nil {
		fmt.Fprintf(stderr, "wirekeeper plan: %v\n", err)
		return exitFail
	}
	defer done()

	r, err := buildPlanReport(ctx, o, cache, warnLogger(stderr))
	if err != nil {
		fmt.Fprintf(stderr, "wirekeeper plan: %v\n", err)
		return exitFail
	}
	if err := writePlan(stdout, r, o.output); err != nil {
		fmt.Fprintf(stderr, "wirekeeper plan: %v\n", err)
		return exitFail
	}
	warnPlan(stderr, r)
	return planVerdict(stderr, r)
}

// warnPlan prints the plan's warnings: its own and each node's prune guard.
func warnPlan(stderr io.Writer, r *review.Report) {
	for _, w := range r.Warnings {
		fmt.Fprintf(stderr, "wirekeeper plan: warning: %s\n", w)
	}
	for _, p := range r.Nodes {
		if p.PruneGuard != "" {
			fmt.Fprintf(stderr, "wirekeeper plan: warning: %s: %s\n", p.Node, p.PruneGuard)
		}
	}
}

// planVerdict says on stderr what merging would do, and returns plan's
// exit status for it.
func planVerdict(stderr io.Writer, r *review.Report) int {
	switch {
	case !r.Valid():
		writeText(stderr, r.Head.Diagnostics)
		fmt.Fprintf(stderr, "wirekeeper plan: %s (%s) is invalid: %d error(s); the daemons would refuse it\n",
			r.Head.Ref, r.Head.Short(), r.Head.Diagnostics.ErrorCount())
		return exitFail
	case len(r.Untrusted()) > 0:
		for _, n := range r.Untrusted() {
			fmt.Fprintf(stderr, "wirekeeper plan: %s would refuse it: %s\n", n, r.Trust[n])
		}
		fmt.Fprintf(stderr, "wirekeeper plan: under the trust policy, %d node(s) would refuse %s (%s)\n", len(r.Untrusted()), r.Head.Ref, r.Head.Short())
		return exitFail
	case !r.Mergeable():
		for _, c := range r.Merge.Conflicts {
			fmt.Fprintf(stderr, "wirekeeper plan: conflict: %s: %s on %s, %s on %s since the merge base %s\n",
				c.Ref, c.Base, r.Base.Ref, c.Head, r.Head.Ref, reconciler.ShortHash(r.Merge.Base))
		}
		writeText(stderr, r.Merge.Diagnostics)
		fmt.Fprintf(stderr, "wirekeeper plan: merging %s (%s) into %s (%s) would not give specs the daemons apply: %d conflict(s), %d error(s)\n",
			r.Head.Ref, r.Head.Short(), r.Base.Ref, r.Base.Short(), len(r.Merge.Conflicts), r.Merge.Diagnostics.ErrorCount())
		return exitFail
	case r.HasChanges():
		changed := 0
		for i := range r.Nodes {
			if r.Nodes[i].HasChanges() {
				changed++
			}
		}
		fmt.Fprintf(stderr, "wirekeeper plan: merging %s (%s) into %s (%s) changes %d of %d node(s)\n",
			r.Head.Ref, r.Head.Short(), r.Base.Ref, r.Base.Short(), changed, len(r.Nodes))
		return exitChanges
	}
	fmt.Fprintf(stderr, "wirekeeper plan: merging %s (%s) into %s (%s): no changes\n", r.Head.Ref, r.Head.Short(), r.Base.Ref, r.Base.Short())
	return exitOK
}

// writePlan renders r on w in the output format asked for.
func writePlan(w io.Writer, r *review.Report, output string) error {
	var data []byte
	if output == "json" {
		var err error
		if data, err = review.JSON(r); err != nil {
			return err
		}
	} else {
		data = []byte(review.Markdown(r))
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("cannot write the plan: %w", err)
	}
	return nil
}

// errFlagSyntax marks an error the flag package has already reported.
var errFlagSyntax = errors.New("flag syntax")

// planOptions are the flags of `wirekeeper plan`.
type planOptions struct {
	repo             repoFlags
	base, head, path string
	node, output     string
	maxPruneFraction float64
	trustPolicy      string
}

func parsePlanFlags(args []string, stderr io.Writer) (planOptions, error) {
	var o planOptions
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.repo.register(fs)
	fs.StringVar(&o.base, "base", "main", "the branch (or commit) the pull request merges into")
	fs.StringVar(&o.head, "head", "", "the branch (or commit) under review (required)")
	fs.StringVar(&o.path, "path", "", "the directory of the spec files in the repository (default: its root)")
	fs.StringVar(&o.node, "node", "", "plan only this node")
	fs.StringVar(&o.output, "output", "markdown", "markdown (a pull-request comment) or json")
	fs.Float64Var(&o.maxPruneFraction, "max-prune-fraction", 0.5, "the daemons' prune guard: warn when a node would lose more than this fraction of its objects, 0 to 1")
	fs.StringVar(&o.trustPolicy, "trust-policy", "", "say per node whether the daemons would accept the head's commits under this trust policy (needs --verify-signatures and/or --allowed-signers)")
	fs.StringVar(&o.repo.verifyKeyring, "verify-signatures", "", "the daemons' OpenPGP keyring, for --trust-policy")
	fs.StringVar(&o.repo.allowedSigners, "allowed-signers", "", "the daemons' git allowed signers file, for --trust-policy")
	fs.Usage = func() {
		fmt.Fprint(stderr, planUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %w", errFlagSyntax, err)
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: every setting is a flag", fs.Arg(0)))
	}
	errs = append(errs, o.repo.check()...)
	if o.head == "" {
		errs = append(errs, errors.New("--head is required: the branch or commit under review"))
	}
	if o.base == "" {
		errs = append(errs, errors.New("--base must not be empty"))
	}
	if err := setPath(&runConfig{}, o.path); err != nil {
		errs = append(errs, fmt.Errorf("--path %q: %w", o.path, err))
	}
	if err := checkNodeFlag(o.node); err != nil {
		errs = append(errs, err)
	}
	if o.output != "markdown" && o.output != "json" {
		errs = append(errs, fmt.Errorf("unknown --output %q; valid: markdown, json", o.output))
	}
	if o.trustPolicy != "" && o.repo.verifyKeyring == "" && o.repo.allowedSigners == "" {
		errs = append(errs, errors.New("--trust-policy needs the daemons' keys: --verify-signatures and/or --allowed-signers"))
	}
	if f := o.maxPruneFraction; math.IsNaN(f) || f < 0 || f > 1 {
		errs = append(errs, errors.New("--max-prune-fraction must be a number from 0 to 1, for example 0.5"))
	}
	return o, errors.Join(errs...)
}

// buildPlanReport fetches base and head into cache, validates both, plans
// them and reads what the status branch recorded for the planned nodes.
// Spec problems land in the report; the error is for what stops the plan
// (the repository or a ref cannot be fetched).
func buildPlanReport(ctx context.Context, o planOptions, cache string, log *slog.Logger) (*review.Report, error) {
	src, err := o.repo.source(o.base, o.path, cache, log)
	if err != nil {
		return nil, err
	}
	r := &review.Report{Repo: src.URL(), StatusBranch: o.repo.statusBranch}
	if src.Path() != "." {
		r.Path = src.Path()
	}
	baseRev, baseSet, err := loadRevision(ctx, src, o.base, &r.Base)
	if err != nil {
		return nil, err
	}
	headRev, headSet, err := loadRevision(ctx, src, o.head, &r.Head)
	if err != nil {
		return nil, err
	}
	if !r.Valid() {
		return r, nil
	}
	merged := headSet
	if !r.Base.Valid() {
		baseSet = nil // plan from an empty base; the report says so
	} else if merged, err = mergeRevisions(ctx, src, r, baseRev, headRev, baseSet, headSet); err != nil {
		return nil, err
	}
	var nodes []string
	if o.node != "" {
		nodes = []string{o.node}
		if !slices.Contains(merged.Nodes(), o.node) && (baseSet == nil || !slices.Contains(baseSet.Nodes(), o.node)) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("node %s has no objects in either revision; check --node", o.node))
		}
	}
	r.Nodes = reconciler.PlanRevisions(baseSet, merged, nodes, r.Head.Message, o.maxPruneFraction)
	if o.trustPolicy != "" {
		p, err := trust.Load(o.trustPolicy)
		if err != nil {
			return nil, err
		}
		// The nodes are taken to enforce the base: the commits checked are
		// those the head brings over it.
		nodes := make([]string, len(r.Nodes))
		for i, n := range r.Nodes {
			nodes[i] = n.Node
		}
		refused, err := src.CheckTrustNodes(ctx, baseRev.Hash, headRev, nodes, p)
		if err != nil {
			return nil, err
		}
		r.Trust = map[string]string{}
		for _, n := range nodes {
			r.Trust[n] = ""
			if err := refused[n]; err != nil {
				r.Trust[n] = err.Error()
			}
		}
	}

	w, err := o.repo.statusReader(src, cache, log)
	if err != nil {
		return nil, err
	}
	r.Status, r.Warnings = readPlannedStatus(ctx, w, r.Nodes, r.Warnings)
	return r, nil
}

// loadRevision resolves name (fetching it) and loads its specs into rev.
func loadRevision(ctx context.Context, src *source.Source, name string, rev *review.Revision) (*source.Revision, *spec.Set, error) {
	got, err := src.Resolve(ctx, name)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot fetch %q: %w", name, err)
	}
	set, diags, err := src.Load(ctx, got)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read the specs of %q (%s): %w", name, got.Short, err)
	}
	*rev = review.Revision{Ref: name, Hash: got.Hash, Message: got.Message, Author: got.Author, Time: got.Time, Diagnostics: diags}
	return got, set, nil
}

// mergeRevisions returns the specs merging head into base makes, object by
// object from their merge base (reconciler.MergeSets), and records in r
// how: the merge base, how far head is behind, the conflicts, the merged
// specs' errors. A head that base has not moved past merges into itself.
// When the merge base's specs are invalid the objects cannot be matched
// against it: the plan then compares the two tips, and says so.
func mergeRevisions(ctx context.Context, src *source.Source, r *review.Report, base, head *source.Revision, baseSet, headSet *spec.Set) (*spec.Set, error) {
	mb, others, behind, err := src.MergeBase(ctx, base, head)
	if err != nil {
		return nil, err
	}
	m := &review.Merge{Others: others, Behind: behind}
	var ancestor *spec.Set
	if mb != nil {
		m.Base = mb.Hash
		if behind == 0 {
			r.Merge = m
			return headSet, nil
		}
		set, diags, err := src.Load(ctx, mb)
		if err != nil {
			return nil, fmt.Errorf("cannot read the specs of the merge base %s: %w", mb.Short, err)
		}
		if diags.HasErrors() {
			r.Warnings = append(r.Warnings, fmt.Sprintf("the merge base %s has invalid specs (%d error(s)), so this plan compares the two tips: what %s gained since %s forked may show as reverts",
				mb.Short, diags.ErrorCount(), r.Base.Ref, r.Head.Ref))
			return headSet, nil
		}
		ancestor = set
	}
	merged, conflicts := reconciler.MergeSets(ancestor, baseSet, headSet)
	m.Conflicts = conflicts
	for _, d := range spec.Validate(merged.Objects) {
		if d.Severity == spec.SeverityError {
			m.Diagnostics = append(m.Diagnostics, d)
		}
	}
	r.Merge = m
	return merged, nil
}

// readPlannedStatus reads the recorded status of each planned node. The
// plan stands without it: problems become warnings.
func readPlannedStatus(ctx context.Context, w *status.Writer, plans []reconciler.NodePlan, warnings []string) (map[string]*reconciler.NodeStatus, []string) {
	recorded, err := w.ReadAll(ctx)
	if err != nil {
		return nil, append(warnings, fmt.Sprintf("the live status is unknown: %v", err))
	}
	out := map[string]*reconciler.NodeStatus{}
	for _, p := range plans {
		files, ok := recorded[p.Node]
		if !ok {
			continue
		}
		ns, err := status.Parse(p.Node, files)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("the live status of %s is unknown: %v", p.Node, err))
			continue
		}
		out[p.Node] = ns
	}
	return out, warnings
}

// readNodeStatus reads and parses node's status; nil, nil when none is
// recorded.
func readNodeStatus(ctx context.Context, w *status.Writer, node string) (*reconciler.NodeStatus, error) {
	files, err := w.Read(ctx, node)
	if err != nil {
		return nil, err
	}
	if _, ok := files[status.Paths(node)[0]]; !ok {
		return nil, nil
	}
	return status.Parse(node, files)
}
