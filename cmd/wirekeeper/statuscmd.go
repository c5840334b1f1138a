package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

var statusUsage = `usage: wirekeeper status --repo URL [--node NAME] [flags]

Prints what the daemons last pushed, read in one fetch of every node's
status ref (and of the status branch, for daemons of versions without
node refs). Without --node, a summary of the fleet that fits a terminal at
any size: nodes and objects by phase, how many nodes enforce the newest
revision of --branch and how many are silent (behind it for more than 3
times --interval), then only the problem nodes (not Ready, silent or
behind), most severe first, at most ` + strconv.Itoa(review.SummaryMaxNodes) + ` of them.
With --node, that node's applied revision, any refused revision or source
problem, its objects by phase, and a table KIND NAME PHASE REVISION
MESSAGE. --output json writes every node's full status (or --node's).

Exit status: 0 status printed (whatever the phases), 1 no status at all,
no status for --node, or an error, 2 usage error.

`

// statusOptions are the flags of `wirekeeper status`.
type statusOptions struct {
	repo                 repoFlags
	node, output, branch string
	interval             time.Duration
}

// runStatus is `wirekeeper status`: read the daemons' status, print it.
func runStatus(args []string, stdout, stderr io.Writer) int {
	o, err := parseStatusFlags(args, stderr)
	if code, ok := flagsExit("status", err, exitUsage, stderr); !ok {
		return code
	}
	ctx, cache, done, err := startCommand(o.repo.cacheDir, "wirekeeper-status-")
	if err != nil {
		fmt.Fprintf(stderr, "wirekeeper status: %v\n", err)
		return exitFail
	}
	defer done()
	if err := printStatus(ctx, o, cache, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "wirekeeper status: %v\n", err)
		return exitFail
	}
	return exitOK
}

// parseStatusFlags parses and checks the flags of `wirekeeper status`: the
// error wraps flag.ErrHelp for -h, errFlagSyntax for what the flag package
// has reported, and otherwise joins every problem.
func parseStatusFlags(args []string, stderr io.Writer) (statusOptions, error) {
	var o statusOptions
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.repo.register(fs)
	fs.StringVar(&o.node, "node", "", "print only this node")
	fs.StringVar(&o.output, "output", "text", "text or json")
	fs.StringVar(&o.branch, "branch", source.DefaultBranch, "the spec branch the daemons follow: the summary compares the nodes with its head")
	fs.DurationVar(&o.interval, "interval", 30*time.Second, "the daemons' --interval: the summary calls a node silent after "+strconv.Itoa(status.SilentIntervals)+" of them without a report")
	fs.Usage = func() {
		fmt.Fprint(stderr, statusUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %w", errFlagSyntax, err)
	}
	errs := o.repo.check()
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: every setting is a flag", fs.Arg(0)))
	}
	if err := checkNodeFlag(o.node); err != nil {
		errs = append(errs, err)
	}
	if err := checkBranchName(o.branch); err != nil {
		errs = append(errs, fmt.Errorf("--branch: %w", err))
	}
	if o.interval <= 0 {
		errs = append(errs, fmt.Errorf("--interval %s: want a positive duration, e.g. 30s", o.interval))
	}
	if o.output != "text" && o.output != "json" {
		errs = append(errs, fmt.Errorf("unknown --output %q; valid: text, json", o.output))
	}
	return o, errors.Join(errs...)
}

// printStatus reads the daemons' status as o asks and prints it on stdout,
// warnings on stderr.
func printStatus(ctx context.Context, o statusOptions, cache string, stdout, stderr io.Writer) error {
	log := warnLogger(stderr)
	src, err := o.repo.source(o.branch, "", cache, log)
	if err != nil {
		return err
	}
	nodes, err := readStatusBranch(ctx, o.repo, src, o.node, cache, log)
	if err != nil {
		return err
	}
	switch {
	case o.output == "json":
		return review.StatusJSON(stdout, o.repo.statusBranch, nodes)
	case o.node != "":
		return review.StatusText(stdout, nodes)
	}
	check := reconciler.FleetCheck{Now: time.Now(), SilentAfter: status.SilentIntervals * o.interval, Branch: o.branch}
	// The newest revision is the branch head; without it the summary still
	// shows phases and silence.
	if rev, err := src.Fetch(ctx); err != nil {
		fmt.Fprintf(stderr, "wirekeeper status: warning: cannot read the head of branch %s, nodes are not compared with it: %v\n", o.branch, err)
	} else {
		check.NewestRevision, check.NewestAt = rev.Hash, rev.Time
	}
	return review.StatusSummary(stdout, nodes, check)
}

// readStatusBranch reads the status of node, or of every node that has one
// when node is "", from the status branch of src's repository. No status at
// all is an error that says where it looked.
func readStatusBranch(ctx context.Context, repo repoFlags, src *source.Source, node, cache string, log *slog.Logger) ([]*reconciler.NodeStatus, error) {
	w, err := repo.statusReader(src, cache, log)
	if err != nil {
		return nil, err
	}
	where := repo.statusWhere(src)
	if node != "" {
		ns, err := readNodeStatus(ctx, w, node)
		switch {
		case err != nil:
			return nil, err
		case ns == nil:
			return nil, fmt.Errorf("no status recorded for node %s in %s: neither exists, or the node's daemon has not pushed yet (check --node, --status-branch and --status-ref-prefix)", node, where)
		}
		return []*reconciler.NodeStatus{ns}, nil
	}
	all, err := w.ReadAll(ctx)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no status in %s: neither exists, or no daemon has pushed yet (check --status-branch and --status-ref-prefix)", where)
	}
	out := make([]*reconciler.NodeStatus, 0, len(all))
	for _, n := range slices.Sorted(maps.Keys(all)) {
		ns, err := status.Parse(n, all[n])
		if err != nil {
			return nil, err
		}
		out = append(out, ns)
	}
	return out, nil
}
