package status

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// raceResult is what a run of concurrent writers left on the remote.
type raceResult struct {
	writes  int // Writes that reported a commit
	errs    []error
	lost    int // files whose last content is missing from the node's ref
	retries int // attempts that failed and were tried again
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
// (node-00, node-01, ...) at once, then checks on the remote that every
// node's last update is on its ref. Only the writing is timed.
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
	for i := range writers {
		node := fmt.Sprintf("node-%02d", i)
		res.lost += lostFiles(tb, dir, node, updates[i][rounds-1].files)
	}
	return res
}

// lostFiles counts the files of want missing from node's ref on the
// remote in dir.
func lostFiles(tb testing.TB, dir, node string, want Files) int {
	tb.Helper()
	lost := 0
	for _, p := range Paths(node) {
		if got, ok := gitTry(dir, "show", nodeRef(node)+":"+p); !ok || got != strings.TrimSpace(string(want[p])) {
			lost++
			tb.Logf("%s: the last content of %s is not on %s", node, p, nodeRef(node))
		}
	}
	return lost
}

// holdHook installs a pre-receive hook in the bare repository dir that
// holds every push whose commit message mentions "HOLD-ME" until the file
// it returns (release) exists, after creating entered. The git daemon runs
// the hook in the receive-pack serving that push only: other pushes are
// served meanwhile. The hook gives up after two minutes, so that a failed
// test never leaves it behind.
func holdHook(tb testing.TB, dir string) (entered, release string) {
	tb.Helper()
	flags := tb.TempDir()
	entered, release = filepath.Join(flags, "entered"), filepath.Join(flags, "release")
	script := fmt.Sprintf(`#!/bin/sh
while read old new ref; do
	if git log -1 --format=%%B "$new" 2>/dev/null | grep -q HOLD-ME; then
		touch %[1]q
		i=0
		while [ ! -e %[2]q ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
	fi
done
exit 0
`, entered, release)
	if err := os.WriteFile(filepath.Join(dir, "hooks", "pre-receive"), []byte(script), 0o755); err != nil {
		tb.Fatal(err)
	}
	return entered, release
}

// TestWriteNeverWaitsForAnotherNode holds one node's status push inside
// the remote (a pre-receive hook that waits) while 16 other nodes write 3
// statuses each. Every other write lands while the held one is still in
// flight, and no push is refused and retried: not the others', which
// would race on a shared branch, nor the held one's, which would find the
// branch moved when it is let go. Nothing is timed: a
// write blocked by the held one would never finish, and the test's
// deadline would fail it.
func TestWriteNeverWaitsForAnotherNode(t *testing.T) {
	url, dir := newRemote(t)
	entered, release := holdHook(t, dir)
	logs := newLogCounter()
	const nodes, rounds = 16, 3

	held := newTestWriter(t, url, func(o *WriterOptions) { o.Logger = slog.New(logs) })
	heldFiles, _ := nodeFiles(t, "node-held", 1)
	heldDone := make(chan error, 1)
	go func() {
		committed, err := held.Write(ctx(t), "node-held", heldFiles, "status(node-held): HOLD-ME")
		if err == nil && !committed {
			err = fmt.Errorf("the held Write reported no commit")
		}
		heldDone <- err
	}()
	waitFile(t, entered)

	res := raceWriters(t, ctx(t), dir, newRaceWriters(t, url, nodes, logs), rounds, 0, logs, nil)
	select {
	case err := <-heldDone:
		t.Fatalf("the held Write ended (%v) before it was let go: the hook did not hold it", err)
	default:
	}
	t.Logf("%d writers x %d writes landed in %v while one push was held", nodes, rounds, res.took)
	for _, err := range res.errs {
		t.Errorf("Write failed: %v", err)
	}
	if res.writes != nodes*rounds {
		t.Errorf("%d Writes reported a commit, want %d", res.writes, nodes*rounds)
	}
	if res.lost != 0 {
		t.Errorf("%d files lost", res.lost)
	}
	for i := range nodes {
		node := fmt.Sprintf("node-%02d", i)
		if n, _ := gitTry(dir, "rev-list", "--count", nodeRef(node)); n != strconv.Itoa(rounds) {
			t.Errorf("%s's ref has %s commits, want %d (one per write)", node, n, rounds)
		}
	}

	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-heldDone; err != nil {
		t.Errorf("the held Write, let go: %v", err)
	}
	res.lost += lostFiles(t, dir, "node-held", heldFiles)
	// A retry after a connection the loopback git daemon reset (it listens
	// with a backlog of 5) is no wait for another node; one after a
	// refused push is.
	for _, e := range logs.errors {
		if isRejection(errorString(e)) {
			t.Errorf("a write attempt was refused and retried: %s", e)
		}
	}
	if res.lost != 0 {
		t.Errorf("%d files lost in all", res.lost)
	}
}

// waitFile waits until path exists.
func waitFile(tb testing.TB, path string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s did not appear within a minute", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConcurrentWritersLocal has 16 writers write 3 statuses each at once
// to a file:// repository, which they fetch from and push to in-process
// (source's upload-pack and receive-pack): none retries, none is lost.
func TestConcurrentWritersLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "specs.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", dir)
	const nodes, rounds = 16, 3
	logs := newLogCounter()
	res := raceWriters(t, ctx(t), dir, newRaceWriters(t, "file://"+dir, nodes, logs), rounds, 0, logs, nil)
	for _, err := range res.errs {
		t.Errorf("Write failed: %v", err)
	}
	if res.writes != nodes*rounds || res.lost != 0 || res.retries != 0 {
		t.Errorf("%d Writes committed, %d files lost, %d retries; want %d, 0, 0", res.writes, res.lost, res.retries, nodes*rounds)
	}
	w := newTestWriter(t, "file://"+dir)
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

// errorString is an error with the text of a logged one.
type errorString string

func (e errorString) Error() string { return string(e) }
