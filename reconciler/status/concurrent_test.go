package status

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// raceResult is what a run of concurrent writers left on the branch.
type raceResult struct {
	writes  int // Writes that reported a commit
	errs    []error
	commits int // commits on the status branch
	lost    int // files whose last content is missing, plus missing commits
	retries int // attempts that lost a race or met a broken connection
	took    time.Duration
}

// newRaceWriters makes one Writer per node, each with its own cache as
// separate daemons would have, all counting their retries into logs.
func newRaceWriters(tb testing.TB, url string, nodes int, logs *logCounter) []*Writer {
	tb.Helper()
	writers := make([]*Writer, nodes)
	for i := range writers {
		writers[i] = newTestWriter(tb, url, func(o *WriterOptions) { o.Logger = slog.New(logs) })
	}
	return writers
}

// benchTimer is the part of *testing.B that keeps setup and checks out of
// the measured time; nil in tests.
type benchTimer interface {
	StopTimer()
	StartTimer()
}

// raceWriters has every writer write rounds successive statuses of its node
// (node-00, node-01, ...) to the same branch at once, then checks on the
// remote that every update landed. Only the writing is timed.
func raceWriters(tb testing.TB, ctx context.Context, dir string, writers []*Writer, rounds, base int, logs *logCounter, timer benchTimer) raceResult {
	tb.Helper()
	if timer != nil {
		timer.StopTimer()
	}
	type update struct {
		files   Files
		message string
	}
	updates := make([][]update, len(writers))
	for i := range writers {
		node := fmt.Sprintf("node-%02d", i)
		for r := 1; r <= rounds; r++ {
			files, ns := nodeFiles(tb, node, base+r)
			updates[i] = append(updates[i], update{files, CommitMessage(nil, ns)})
		}
	}
	before := 0
	if n, ok := gitTry(dir, "rev-list", "--count", DefaultBranch); ok {
		before, _ = strconv.Atoi(n)
	}
	retriesBefore := logs.count("status write attempt failed; retrying")

	var (
		mu  sync.Mutex
		res raceResult
		wg  sync.WaitGroup
	)
	if timer != nil {
		timer.StartTimer()
	}
	start := time.Now()
	for i, w := range writers {
		node := fmt.Sprintf("node-%02d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r, u := range updates[i] {
				committed, err := w.Write(ctx, node, u.files, u.message)
				mu.Lock()
				if err != nil {
					res.errs = append(res.errs, fmt.Errorf("%s round %d: %w", node, r+1, err))
				} else if committed {
					res.writes++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.took = time.Since(start)
	if timer != nil {
		timer.StopTimer()
		defer timer.StartTimer()
	}
	res.retries = logs.count("status write attempt failed; retrying") - retriesBefore

	after, err := strconv.Atoi(runGit(tb, dir, "rev-list", "--count", DefaultBranch))
	if err != nil {
		tb.Fatal(err)
	}
	res.commits = after - before
	for i := range writers {
		node := fmt.Sprintf("node-%02d", i)
		last := updates[i][rounds-1].files
		for _, p := range Paths(node) {
			if got, ok := gitTry(dir, "show", DefaultBranch+":"+p); !ok || got != strings.TrimSpace(string(last[p])) {
				res.lost++
				tb.Logf("%s: the last content of %s is not on the branch", node, p)
			}
		}
	}
	if missing := len(writers)*rounds - res.commits; missing > 0 {
		res.lost += missing
	}
	return res
}

func TestConcurrentWriters50(t *testing.T) {
	url, dir := newRemote(t)
	testConcurrentWriters(t, url, dir, 50)
}

// TestConcurrentWritersLocal races writers on a file:// repository, which
// they fetch from and push to in-process (source's upload-pack and
// receive-pack): its compare-and-swap must lose no update either. Fewer
// writers than above: here the serving side runs in the test binary too,
// under -race.
func TestConcurrentWritersLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "specs.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", dir)
	testConcurrentWriters(t, "file://"+dir, dir, 16)
}

// testConcurrentWriters has nodes writers write 3 statuses each at once to
// the status branch of the repository at url (dir on disk), and checks
// that every update landed, in a linear history.
func testConcurrentWriters(t *testing.T, url, dir string, nodes int) {
	const rounds = 3
	logs := newLogCounter()
	res := raceWriters(t, ctx(t), dir, newRaceWriters(t, url, nodes, logs), rounds, 0, logs, nil)
	t.Logf("%d writers x %d writes landed in %v with %d retries, at most %d attempts per Write",
		nodes, rounds, res.took, res.retries, logs.maxAttempts)
	for _, err := range res.errs {
		t.Errorf("Write failed: %v", err)
	}
	if res.writes != nodes*rounds {
		t.Errorf("%d Writes reported a commit, want %d", res.writes, nodes*rounds)
	}
	if res.commits != nodes*rounds {
		t.Errorf("branch has %d commits, want exactly %d (one per content-changing write)", res.commits, nodes*rounds)
	}
	if res.lost != 0 {
		t.Errorf("%d updates lost", res.lost)
	}
	if res.retries == 0 {
		t.Errorf("no Write had to retry: the test did not exercise the race")
	}
	// History is linear: every commit has one parent but the root.
	if merges := runGit(t, dir, "rev-list", "--min-parents=2", "--count", DefaultBranch); merges != "0" {
		t.Errorf("%s merge commits on the status branch, want 0", merges)
	}
	// Everything is still readable as status.
	w := newTestWriter(t, url)
	got, err := w.Nodes(ctx(t))
	if err != nil || len(got) != nodes {
		t.Fatalf("Nodes() = %d nodes, %v; want %d", len(got), err, nodes)
	}
	files, err := w.Read(ctx(t), "node-07")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := Parse("node-07", files)
	if err != nil || ns.AppliedRevision != fmt.Sprintf("%040x", rounds) {
		t.Errorf("node-07 parsed back as %+v, %v", ns, err)
	}
}
