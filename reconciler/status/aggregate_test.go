package status

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

func newTestAggregator(tb testing.TB, url string, mod ...func(*AggregatorOptions)) *Aggregator {
	tb.Helper()
	opts := AggregatorOptions{
		URL:      url,
		CacheDir: filepath.Join(tb.TempDir(), "aggregate"),
		Now:      func() time.Time { return at("2024-05-01T12:00:00Z") },
		Interval: time.Hour,
	}
	for _, m := range mod {
		m(&opts)
	}
	a, err := NewAggregator(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// writeNodes has one writer per node write its status at revision rev.
func writeNodes(tb testing.TB, url string, writers map[string]*Writer, nodes []string, rev int) map[string]Files {
	tb.Helper()
	out := map[string]Files{}
	for _, n := range nodes {
		if writers[n] == nil {
			writers[n] = newTestWriter(tb, url)
		}
		files, ns := nodeFiles(tb, n, rev)
		if _, err := writers[n].Write(ctx(tb), n, files, CommitMessage(nil, ns)); err != nil {
			tb.Fatal(err)
		}
		out[n] = files
	}
	return out
}

// checkBranchHolds checks that the status branch holds exactly want's
// files (and the fleet page).
func checkBranchHolds(tb testing.TB, dir string, want map[string]Files) {
	tb.Helper()
	var paths []string
	for node, files := range want {
		for _, p := range Paths(node) {
			if data, ok := files[p]; ok {
				paths = append(paths, p)
				if got, ok := gitTry(dir, "show", DefaultBranch+":"+p); !ok || got != strings.TrimSpace(string(data)) {
					tb.Errorf("%s on the status branch is not %s's last write", p, node)
				}
			}
		}
	}
	paths = append(paths, FleetPagePath)
	got := strings.Split(runGit(tb, dir, "ls-tree", "-r", "--name-only", DefaultBranch), "\n")
	if diff := cmp.Diff(sortedStrings(paths), got); diff != "" {
		tb.Errorf("files on the status branch (-want +got):\n%s", diff)
	}
}

func sortedStrings(s []string) []string { return slices.Sorted(slices.Values(s)) }

func nodeNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

// Many nodes changing make one commit per fold, the branch holds the
// union of the node refs and the fleet page, and a fold with nothing new
// makes no commit and downloads nothing.
func TestAggregatorFoldsInBatches(t *testing.T) {
	url, dir := newRemote(t)
	writers := map[string]*Writer{}
	nodes := nodeNames("edge", 20)
	want := writeNodes(t, url, writers, nodes, 1)
	var pages []map[string]*reconciler.NodeStatus
	a := newTestAggregator(t, url, func(o *AggregatorOptions) {
		o.Render = func(ns map[string]*reconciler.NodeStatus, opts FleetOptions) []byte {
			pages = append(pages, ns)
			return RenderFleet(ns, opts)
		}
	})

	res, err := a.Fold(ctx(t), SpecHead{})
	if err != nil || res.Commit.IsZero() {
		t.Fatalf("first Fold = %+v, %v; want a commit", res, err)
	}
	if diff := cmp.Diff(nodes, res.Nodes); diff != "" {
		t.Errorf("folded nodes (-want +got):\n%s", diff)
	}
	if n := runGit(t, dir, "rev-list", "--count", DefaultBranch); n != "1" {
		t.Errorf("%s commits on the status branch after folding 20 nodes, want 1", n)
	}
	subject := runGit(t, dir, "log", "-1", "--format=%s", DefaultBranch)
	if !strings.HasPrefix(subject, "status: 20 nodes: edge-00, edge-01") || !strings.HasSuffix(subject, " more") || len(subject) > 72 {
		t.Errorf("subject %q: want the count, the first nodes and how many more, at most 72 characters", subject)
	}
	if body := runGit(t, dir, "log", "-1", "--format=%b", DefaultBranch); !strings.Contains(body, "status(edge-13): all 1 ready @ 0000000") {
		t.Errorf("the body does not carry the nodes' own subjects:\n%s", body)
	}
	checkBranchHolds(t, dir, want)
	if got := branchFile(t, dir, FleetPagePath); !strings.Contains(got, "**20 nodes**: 20 Ready") || !strings.Contains(got, "[browse them](status/)") {
		t.Errorf("README.md does not count the nodes or link their pages:\n%s", got)
	}
	if len(pages) != 1 || len(pages[0]) != 20 || pages[0]["edge-03"].AppliedRevision != fmt.Sprintf("%040x", 1) {
		t.Errorf("the fleet page was rendered from %d statuses, want 20 parsed ones", len(pages[len(pages)-1]))
	}

	head := runGit(t, dir, "rev-parse", DefaultBranch)
	res, err = a.Fold(ctx(t), SpecHead{})
	if err != nil || !res.Commit.IsZero() || res.Fetched {
		t.Errorf("Fold with nothing new = %+v, %v; want no commit and nothing fetched", res, err)
	}
	// A fresh aggregator (cold cache, a takeover) agrees.
	res, err = newTestAggregator(t, url).Fold(ctx(t), SpecHead{})
	if err != nil || !res.Commit.IsZero() {
		t.Errorf("Fold by a fresh aggregator with nothing new = %+v, %v; want no commit", res, err)
	}
	if got := runGit(t, dir, "rev-parse", DefaultBranch); got != head {
		t.Errorf("folds with nothing new moved the branch")
	}

	changed := []string{"edge-02", "edge-11", "edge-17"}
	for n, f := range writeNodes(t, url, writers, changed, 2) {
		want[n] = f
	}
	res, err = a.Fold(ctx(t), SpecHead{})
	if err != nil || res.Commit.IsZero() {
		t.Fatalf("Fold after 3 changes = %+v, %v", res, err)
	}
	if diff := cmp.Diff(changed, res.Nodes); diff != "" {
		t.Errorf("folded nodes (-want +got):\n%s", diff)
	}
	if got := runGit(t, dir, "log", "-1", "--format=%s", DefaultBranch); got != "status: 3 nodes: edge-02, edge-11, edge-17" {
		t.Errorf("subject %q", got)
	}
	if got := runGit(t, dir, "diff", "--name-only", head, DefaultBranch); got != "status/edge-02.yaml\nstatus/edge-11.yaml\nstatus/edge-17.yaml" {
		t.Errorf("the fold changed:\n%s\nwant only the three nodes' status YAML (their Markdown and drift log did not change)", got)
	}
	if got := runGit(t, dir, "rev-parse", DefaultBranch+"^"); got != head {
		t.Errorf("the fold's parent is %s, want the previous head %s", got, head)
	}
	checkBranchHolds(t, dir, want)
}

// The fleet page is rendered again only when something can change it
// without a node ref moving: a new spec head, or time passing the moment
// nodes that have not answered that head turn silent. An idle fleet costs
// one advertisement per fold, however long it stays idle.
func TestAggregatorRefreshesFleetPage(t *testing.T) {
	url, dir := newRemote(t)
	writeNodes(t, url, map[string]*Writer{}, []string{"edge-1"}, 1)
	now := at("2024-05-01T12:00:00Z")
	a := newTestAggregator(t, url, func(o *AggregatorOptions) {
		o.Interval = time.Minute
		o.Now = func() time.Time { return now }
		o.Render = func(ns map[string]*reconciler.NodeStatus, opts FleetOptions) []byte {
			silent := 0
			for _, n := range ns {
				if opts.Check().Silent(n) {
					silent++
				}
			}
			return []byte(fmt.Sprintf("newest %q, %d silent\n", opts.NewestRevision, silent))
		}
	})
	fold := func(head SpecHead) FoldResult {
		t.Helper()
		res, err := a.Fold(ctx(t), head)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := fold(SpecHead{}); res.Commit.IsZero() {
		t.Fatalf("first Fold: %+v; want a commit", res)
	}
	now = now.Add(2 * time.Hour)
	if res := fold(SpecHead{}); res.Fetched {
		t.Errorf("Fold two hours later, nothing new: %+v; want nothing fetched", res)
	}
	// edge-1 enforces revision 00…01; "abc" was committed 10 s ago.
	head := SpecHead{Branch: "main", Revision: "abc", At: now.Add(-10 * time.Second)}
	if res := fold(head); res.Commit.IsZero() {
		t.Errorf("Fold with a new spec revision: %+v; want a commit of the new page", res)
	}
	if got := branchFile(t, dir, FleetPagePath); got != `newest "abc", 0 silent` {
		t.Errorf("README.md = %q", got)
	}
	now = now.Add(2 * time.Minute) // 2m10s after the commit: not silent yet
	if res := fold(head); res.Fetched {
		t.Errorf("Fold before the silence threshold: %+v; want nothing fetched", res)
	}
	now = now.Add(time.Minute) // 3m10s: past 3 intervals
	if res := fold(head); res.Commit.IsZero() {
		t.Errorf("Fold once edge-1 turned silent: %+v; want a commit", res)
	}
	if got := branchFile(t, dir, FleetPagePath); got != `newest "abc", 1 silent` {
		t.Errorf("README.md = %q", got)
	}
	if got := runGit(t, dir, "log", "-1", "--format=%s", DefaultBranch); got != "status: fleet page" {
		t.Errorf("subject %q, want status: fleet page", got)
	}
	now = now.Add(time.Hour)
	if res := fold(head); res.Fetched {
		t.Errorf("Fold an hour after, nothing new: %+v; want nothing fetched", res)
	}
}

// Rollout: daemons of an older version write the status branch directly
// while others write node refs and one aggregates. Neither loses the
// other's update: a daemon's branch write that lands while a fold is being
// built makes the fold's push fail, and the next fold builds on it.
func TestAggregatorMixedFleet(t *testing.T) {
	url, dir := newRemote(t)
	writers := map[string]*Writer{}
	want := writeNodes(t, url, writers, []string{"new-1", "new-2"}, 1)
	want["old-1"], _ = nodeFiles(t, "old-1", 1)
	legacyWrite(t, url, "old-1", want["old-1"], "status(old-1): legacy 1")

	old2, _ := nodeFiles(t, "old-1", 2)
	raced := false
	a := newTestAggregator(t, url, func(o *AggregatorOptions) {
		o.Render = func(ns map[string]*reconciler.NodeStatus, opts FleetOptions) []byte {
			if !raced { // between the fold's fetch and its push
				raced = true
				legacyWrite(t, url, "old-1", old2, "status(old-1): legacy 2")
			}
			return RenderFleet(ns, opts)
		}
	})
	if _, err := a.Fold(ctx(t), SpecHead{}); !errors.Is(err, ErrFoldRefused) {
		t.Fatalf("Fold racing a legacy write = %v, want ErrFoldRefused", err)
	}
	want["old-1"] = old2
	for n, f := range writeNodes(t, url, writers, []string{"new-2"}, 2) {
		want[n] = f
	}
	res, err := a.Fold(ctx(t), SpecHead{})
	if err != nil || res.Commit.IsZero() {
		t.Fatalf("Fold after the race = %+v, %v", res, err)
	}
	checkBranchHolds(t, dir, want)

	// The legacy daemon writes again, on top of the fold: the fold's files stay.
	old3, _ := nodeFiles(t, "old-1", 3)
	legacyWrite(t, url, "old-1", old3, "status(old-1): legacy 3")
	want["old-1"] = old3
	checkBranchHolds(t, dir, want)
	// The page lists old-1 already: the fold has nothing to change.
	if res, err := a.Fold(ctx(t), SpecHead{}); err != nil || !res.Commit.IsZero() {
		t.Errorf("Fold after a legacy write = %+v, %v; want no commit", res, err)
	}
	checkBranchHolds(t, dir, want)
	if got := runGit(t, dir, "log", "-1", "--format=%s", DefaultBranch); got != "status(old-1): legacy 3" {
		t.Errorf("head %q: want the legacy write, untouched", got)
	}
	all, err := newTestWriter(t, url).ReadAll(ctx(t))
	if diff := cmp.Diff(want, all); diff != "" || err != nil {
		t.Errorf("ReadAll error %v, (-want +got):\n%s", err, diff)
	}
}

// Two aggregators during a takeover: the one whose push is refused folds
// again on the other's commit, and no node's update is lost.
func TestAggregatorsRaceNeverLoseUpdates(t *testing.T) {
	url, dir := newRemote(t)
	writers := map[string]*Writer{}
	want := writeNodes(t, url, writers, nodeNames("edge", 6), 1)
	b := newTestAggregator(t, url)
	raced := false
	a := newTestAggregator(t, url, func(o *AggregatorOptions) {
		o.Render = func(ns map[string]*reconciler.NodeStatus, opts FleetOptions) []byte {
			if !raced {
				raced = true
				for n, f := range writeNodes(t, url, writers, []string{"edge-04"}, 2) {
					want[n] = f
				}
				if res, err := b.Fold(ctx(t), SpecHead{}); err != nil || res.Commit.IsZero() {
					t.Errorf("B's Fold = %+v, %v", res, err)
				}
			}
			return RenderFleet(ns, opts)
		}
	})
	if _, err := a.Fold(ctx(t), SpecHead{}); !errors.Is(err, ErrFoldRefused) {
		t.Fatalf("A's Fold racing B = %v, want ErrFoldRefused", err)
	}
	if res, err := a.Fold(ctx(t), SpecHead{}); err != nil || !res.Commit.IsZero() {
		t.Errorf("A's next Fold = %+v, %v; want no commit: B folded everything", res, err)
	}
	checkBranchHolds(t, dir, want)

	// Both fold in loops while every node writes: whatever interleaving,
	// a last fold leaves every node's last write on the branch.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, agg := range []*Aggregator{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := agg.Fold(ctx(t), SpecHead{}); err != nil && !errors.Is(err, ErrFoldRefused) {
					t.Errorf("Fold: %v", err)
					return
				}
			}
		}()
	}
	for rev := 3; rev <= 5; rev++ {
		for n, f := range writeNodes(t, url, writers, nodeNames("edge", 6), rev) {
			want[n] = f
		}
	}
	close(stop)
	wg.Wait()
	if _, err := a.Fold(ctx(t), SpecHead{}); err != nil {
		t.Fatal(err)
	}
	checkBranchHolds(t, dir, want)
	if merges := runGit(t, dir, "rev-list", "--min-parents=2", "--count", DefaultBranch); merges != "0" {
		t.Errorf("%s merge commits on the status branch, want 0", merges)
	}
}

// The fold's message stays bounded however many nodes changed.
func TestAggregatorBoundedMessage(t *testing.T) {
	url, dir := newRemote(t)
	nodes := nodeNames("a-rather-long-node-name-in-a-big-fleet", 60)
	writeNodes(t, url, map[string]*Writer{}, nodes, 1)
	if _, err := newTestAggregator(t, url).Fold(ctx(t), SpecHead{}); err != nil {
		t.Fatal(err)
	}
	msg := runGit(t, dir, "log", "-1", "--format=%B", DefaultBranch)
	lines := strings.Split(msg, "\n")
	if len(lines[0]) > 72 || !strings.HasPrefix(lines[0], "status: 60 nodes: ") {
		t.Errorf("subject %q: want at most 72 characters starting with the count", lines[0])
	}
	if len(lines) != 2+reconciler.MaxListed+1 || lines[len(lines)-1] != "... and 10 more nodes" {
		t.Errorf("message has %d lines ending %q; want the subject, a blank line, %d nodes and a count of the rest",
			len(lines), lines[len(lines)-1], reconciler.MaxListed)
	}
}

// Before any node has written, a fold makes no branch (a blank fleet page
// would only hide that nothing reported).
func TestAggregatorMakesNoBranchWithoutNodes(t *testing.T) {
	url, dir := newRemote(t)
	res, err := newTestAggregator(t, url).Fold(ctx(t), SpecHead{})
	if err != nil || !res.Commit.IsZero() {
		t.Errorf("Fold on an empty repository = %+v, %v; want no commit", res, err)
	}
	if got, ok := gitTry(dir, "rev-parse", "--verify", "-q", DefaultBranch); ok {
		t.Errorf("the status branch exists (%s) though no node wrote", got)
	}
}
