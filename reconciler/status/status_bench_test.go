package status

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkConcurrentWriters50 measures how long 50 writers (own caches,
// nodes node-00..node-49) take until each one's next status has landed on
// its ref, all starting at once. lost-updates and refused/op (pushes
// refused because a ref moved) must be 0; retries/op counts attempts
// retried after a broken connection (the loopback git daemon listens with
// a backlog of 5).
func BenchmarkConcurrentWriters50(b *testing.B) {
	const nodes = 50
	url, dir := newRemote(b)
	logs := newLogCounter()
	writers := newRaceWriters(b, url, nodes, logs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	lost, retries := 0, 0
	b.ResetTimer()
	for i := range b.N {
		res := raceWriters(b, ctx, dir, writers, 1, i+1, logs, b)
		for _, err := range res.errs {
			b.Errorf("Write failed: %v", err)
		}
		lost += res.lost
		retries += res.retries
	}
	b.ReportMetric(float64(lost), "lost-updates")
	b.ReportMetric(float64(retries)/float64(b.N), "retries/op")
	refused := 0
	for _, e := range logs.errors {
		if isRejection(errorString(e)) {
			refused++
		}
	}
	b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
	b.ReportMetric(float64(logs.maxAttempts), "max-attempts")
	if lost != 0 {
		b.Errorf("%d updates lost", lost)
	}
}

// importNodes writes the status of nodes node-0000.. at revision rev to
// their refs on the remote in dir, with git fast-import (a fleet's worth
// of Writes would take the benchmark's time).
func importNodes(tb testing.TB, dir string, nodes []int, rev int) {
	tb.Helper()
	var in bytes.Buffer
	for _, i := range nodes {
		node := fmt.Sprintf("node-%04d", i)
		files, ns := nodeFiles(tb, node, rev)
		msg := CommitMessage(nil, ns)
		ref := nodeRef(node)
		fmt.Fprintf(&in, "commit %s\ncommitter test <test@example.org> %d +0000\ndata %d\n%s\n", ref, 1700000000+rev, len(msg), msg)
		if _, ok := gitTry(dir, "rev-parse", "--verify", "-q", ref); ok {
			fmt.Fprintf(&in, "from %s^0\n", ref)
		}
		for _, p := range Paths(node) {
			fmt.Fprintf(&in, "M 100644 inline %s\ndata %d\n%s\n", p, len(files[p]), files[p])
		}
	}
	cmd := gitCmd(dir, "fast-import", "--quiet", "--force")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("fast-import: %v\n%s", err, out)
	}
}

// BenchmarkFold1000 measures the aggregator's work on a fleet of 1,000
// nodes: a first fold by a new aggregator (a takeover: everything fetched
// and parsed), then folds of 100 changed nodes each.
func BenchmarkFold1000(b *testing.B) {
	const fleet, changed = 1000, 100
	url, dir := newRemote(b)
	all := make([]int, fleet)
	for i := range all {
		all[i] = i
	}
	importNodes(b, dir, all, 1)
	a := newTestAggregator(b, url)
	start := time.Now()
	if res, err := a.Fold(context.Background(), SpecHead{}); err != nil || len(res.Nodes) != fleet {
		b.Fatalf("first Fold = %d nodes, %v", len(res.Nodes), err)
	}
	first := time.Since(start)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		some := make([]int, changed)
		for j := range some {
			some[j] = (i*changed + j*7) % fleet
		}
		importNodes(b, dir, some, i+2)
		b.StartTimer()
		res, err := a.Fold(context.Background(), SpecHead{})
		if err != nil || len(res.Nodes) != changed {
			b.Fatalf("Fold = %d nodes, %v; want %d", len(res.Nodes), err, changed)
		}
	}
	b.ReportMetric(float64(first.Milliseconds()), "first-fold-ms")
}
