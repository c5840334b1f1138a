package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// BenchmarkIdleSpecFetch measures what one idle poll costs when the spec
// repository also holds the fleet's node refs (the default: no
// --status-repo): the spec fetch of a daemon whose cache is up to date,
// at 0, 1,000 and 10,000 node refs. The remote advertises every ref on
// every fetch (git protocol v0/v1, which go-git speaks), so the bytes grow
// with the fleet; requests stay at one per poll.
func BenchmarkIdleSpecFetch(b *testing.B) {
	for _, nodes := range []int{0, 1000, 10000} {
		b.Run(fmt.Sprintf("noderefs=%d", nodes), func(b *testing.B) {
			remote := fleetRemote(b, nodes)
			proxy := startGitProxy(b)
			src, err := source.New(source.Options{URL: proxy.url(remote), Branch: "main", Path: "specs", CacheDir: b.TempDir(),
				WatchRefs: path.Dir(status.LeaseRef("").String()) + "/"})
			if err != nil {
				b.Fatal(err)
			}
			for range 2 { // the clone, then a first incremental fetch
				if _, err := src.Fetch(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			before := proxy.sum("git-upload-pack")
			b.ResetTimer()
			for range b.N {
				if _, err := src.Fetch(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := proxy.sum("git-upload-pack")
			b.ReportMetric(float64(after.Down-before.Down)/float64(b.N), "bytes-down/poll")
			b.ReportMetric(float64(after.Up-before.Up)/float64(b.N), "bytes-up/poll")
			b.ReportMetric(float64(after.Requests-before.Requests)/float64(b.N), "requests/poll")
		})
	}
}

// fleetRemote returns a remote holding the spec branch and node refs of
// nodes nodes, named as a fleet names them (a realistic length), all at
// the spec commit: the target changes nothing in the refs' advertisement.
func fleetRemote(b *testing.B, nodes int) string {
	b.Helper()
	remote := testenv.NewGitRemote(b)
	dir := filepath.Join(testenv.GitBase(b), filepath.Base(remote))
	work := newWorkTreeTB(b, remote)
	work.commit("specs", map[string]string{"specs/ovs.yaml": specs})
	head := work.git("rev-parse", "HEAD")
	var in strings.Builder
	for i := range nodes {
		fmt.Fprintf(&in, "create %shv-%05d.ams1.example.net %s\n", status.DefaultRefPrefix, i, head)
	}
	cmd := exec.Command("git", "--git-dir", dir, "update-ref", "--stdin")
	cmd.Stdin = strings.NewReader(in.String())
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("update-ref: %v\n%s", err, out)
	}
	return remote
}

// BenchmarkStatusPush measures one node's status write with a warm cache
// (a changed status: one push) next to 0 and 1,000 other node refs: the
// push's cost is its ref advertisement, which lists every ref, plus the
// node's new objects.
func BenchmarkStatusPush(b *testing.B) {
	for _, nodes := range []int{0, 1000} {
		b.Run(fmt.Sprintf("noderefs=%d", nodes), func(b *testing.B) {
			remote := fleetRemote(b, nodes)
			proxy := startGitProxy(b)
			w, err := status.NewWriter(status.WriterOptions{URL: proxy.url(remote), CacheDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			write := func(i int) {
				ns := &reconciler.NodeStatus{Node: "hv-bench", Branch: "main", AppliedRevision: fmt.Sprintf("%040x", i),
					Objects: []reconciler.ObjectStatus{{Kind: "Bridge", Name: "br0", Phase: reconciler.PhaseReady}}}
				files, err := status.Render(ns, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(context.Background(), "hv-bench", files, status.CommitMessage(nil, ns)); err != nil {
					b.Fatal(err)
				}
			}
			write(0)
			before := proxy.sum("git-receive-pack", "git-upload-pack")
			b.ResetTimer()
			for i := range b.N {
				write(i + 1)
			}
			b.StopTimer()
			after := proxy.sum("git-receive-pack", "git-upload-pack")
			b.ReportMetric(float64(after.Down-before.Down)/float64(b.N), "bytes-down/write")
			b.ReportMetric(float64(after.Up-before.Up)/float64(b.N), "bytes-up/write")
			b.ReportMetric(float64(after.Requests-before.Requests)/float64(b.N), "requests/write")
		})
	}
}

// BenchmarkIdleFold measures the aggregator's tick when nothing moved, at
// 1,000 node refs: one ref advertisement, nothing downloaded, no commit.
func BenchmarkIdleFold(b *testing.B) {
	remote := fleetRemote(b, 1000)
	proxy := startGitProxy(b)
	a, err := status.NewAggregator(status.AggregatorOptions{URL: proxy.url(remote), CacheDir: b.TempDir(), Interval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.Fold(context.Background(), status.SpecHead{}); err != nil {
		b.Fatal(err)
	}
	before := proxy.sum("git-upload-pack")
	b.ResetTimer()
	for range b.N {
		res, err := a.Fold(context.Background(), status.SpecHead{})
		if err != nil || res.Fetched {
			b.Fatalf("idle Fold = %+v, %v", res, err)
		}
	}
	b.StopTimer()
	after := proxy.sum("git-upload-pack")
	b.ReportMetric(float64(after.Down-before.Down)/float64(b.N), "bytes-down/tick")
	b.ReportMetric(float64(after.Requests-before.Requests)/float64(b.N), "requests/tick")
}
