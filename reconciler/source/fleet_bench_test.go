package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// BenchmarkFetchLoad1000 measures what a daemon does with a new revision
// of a fleet's spec repository on a git daemon, one object per node at
// 1,000 nodes, every object changed: the fetch (which checks every object
// of the new spec tree) and the load. A fleet-wide change costs it on
// every host.
func BenchmarkFetchLoad1000(b *testing.B) {
	remote := testenv.NewGitRemote(b)
	work := b.TempDir()
	testenv.Git(b, work, "init", "-q", "-b", "main")
	push := func(g int) { pushGeneration(b, work, remote, g) }
	push(0)
	s := newSource(b, remote, func(opts *Options) { opts.Path = "specs" })
	mustFetch(b, s)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		push(i + 1)
		b.StartTimer()
		rev := mustFetch(b, s)
		set, diags, err := s.Load(context.Background(), rev)
		if err != nil || diags.HasErrors() || len(set.Objects) != 1000 {
			b.Fatal(err, diags)
		}
	}
}

// BenchmarkIdlePoll1000 measures a daemon's poll of a fleet's spec
// repository when nothing changed, after three revisions of 1,000 objects
// (three packs in the cache): what every daemon of a fleet at rest pays
// every interval.
func BenchmarkIdlePoll1000(b *testing.B) {
	remote := testenv.NewGitRemote(b)
	work := b.TempDir()
	testenv.Git(b, work, "init", "-q", "-b", "main")
	s := newSource(b, remote, func(opts *Options) { opts.Path = "specs" })
	for g := range 3 {
		pushGeneration(b, work, remote, g)
		mustFetch(b, s)
	}
	want := mustFetch(b, s).Hash
	b.ResetTimer()
	for range b.N {
		if rev := mustFetch(b, s); rev.Hash != want {
			b.Fatalf("idle poll moved to %s", rev.Hash)
		}
	}
}

// pushGeneration writes generation g of a fleet's spec folder in the clone
// work, one OVSManager per node at 1,000 nodes, every object naming g, and
// pushes it to remote's main.
func pushGeneration(b *testing.B, work, remote string, g int) {
	b.Helper()
	if err := os.MkdirAll(filepath.Join(work, "specs"), 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		doc := fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs-%05d}\nspec: {node: hv-%05d.ams1.example.net, address: \"unix:/run/wk/gen%d/db.sock\"}\n", i, i, g)
		if err := os.WriteFile(filepath.Join(work, "specs", fmt.Sprintf("ovs-%05d.yaml", i)), []byte(doc), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	testenv.Git(b, work, "add", "-A")
	testenv.Git(b, work, "commit", "-q", "-m", fmt.Sprintf("generation %d", g))
	testenv.Git(b, work, "push", "-q", remote, "HEAD:main")
}

// BenchmarkIdlePollHistory measures an idle poll of a 1,000-object spec
// repository after a history of small revisions, each fetched as it came
// (one file changed, so one small pack each in the cache), at two lengths
// of history: a poll must not cost more as the history grows.
func BenchmarkIdlePollHistory(b *testing.B) {
	for _, revisions := range []int{3, 300} {
		b.Run(fmt.Sprintf("revisions=%d", revisions), func(b *testing.B) {
			remote := testenv.NewGitRemote(b)
			work := b.TempDir()
			testenv.Git(b, work, "init", "-q", "-b", "main")
			s := newSource(b, remote, func(opts *Options) { opts.Path = "specs" })
			pushGeneration(b, work, remote, 0)
			mustFetch(b, s)
			for r := 1; r < revisions; r++ {
				p := filepath.Join(work, "specs", fmt.Sprintf("ovs-%05d.yaml", r%1000))
				doc := fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs-%05d}\nspec: {node: hv-%05d.ams1.example.net, address: \"unix:/run/wk/rev%d/db.sock\"}\n", r%1000, r%1000, r)
				if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
					b.Fatal(err)
				}
				testenv.Git(b, work, "commit", "-q", "-am", fmt.Sprintf("revision %d", r))
				testenv.Git(b, work, "push", "-q", remote, "HEAD:main")
				mustFetch(b, s)
			}
			packs, _ := filepath.Glob(filepath.Join(s.dir, "objects", "pack", "*.pack"))
			want := mustFetch(b, s).Hash
			b.ResetTimer()
			for range b.N {
				if rev := mustFetch(b, s); rev.Hash != want {
					b.Fatalf("idle poll moved to %s", rev.Hash)
				}
			}
			b.ReportMetric(float64(len(packs)), "packs")
		})
	}
}
