package status

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
)

func TestWriterCreatesNodeRef(t *testing.T) {
	url, dir := newRemote(t)
	// The spec branch already has a commit; the node's ref must not share it.
	work := t.TempDir()
	runGit(t, work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "bridges.yaml"), []byte("kind: Bridge\n"), 0o644)
	runGit(t, work, "add", ".")
	runGit(t, work, "commit", "-q", "-m", "specs")
	runGit(t, work, "push", "-q", dir, "main")

	w := newTestWriter(t, url)
	files, ns := nodeFiles(t, "edge-1", 1)
	msg := CommitMessage(nil, ns)
	committed, err := w.Write(ctx(t), "edge-1", files, msg)
	if err != nil || !committed {
		t.Fatalf("Write = %v, %v; want true, nil", committed, err)
	}
	ref := nodeRef("edge-1")
	if got := runGit(t, dir, "ls-tree", "-r", "--name-only", ref); got != "drift/edge-1.md\nstatus/edge-1.md\nstatus/edge-1.yaml" {
		t.Errorf("the node's ref holds:\n%s\nwant only the node's three files", got)
	}
	if n := runGit(t, dir, "rev-list", "--count", ref); n != "1" {
		t.Errorf("the node's ref has %s commits, want 1 (an orphan root)", n)
	}
	if base, ok := gitTry(dir, "merge-base", "main", ref); ok {
		t.Errorf("the node's ref shares history with main (merge-base %s)", base)
	}
	want := "wirekeeper <wirekeeper@localhost> 2024-05-01T12:00:00Z\n" + msg
	if got := runGit(t, dir, "log", "-1", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", "--format=%an <%ae> %cd%n%B", ref); got != want {
		t.Errorf("commit:\n%s\nwant:\n%s", got, want)
	}
	for _, p := range Paths("edge-1") {
		if got := refFile(t, dir, ref, p); got != strings.TrimSpace(string(files[p])) {
			t.Errorf("%s on the ref differs from what was written", p)
		}
	}
	if got := runGit(t, dir, "for-each-ref", "--format=%(refname)"); got != "refs/heads/main\n"+ref {
		t.Errorf("refs on the remote:\n%s\nwant main and the node's ref only: the writer touches nothing else", got)
	}
}

func TestWriterCommitsOnlyChanges(t *testing.T) {
	url, dir := newRemote(t)
	// Through a relay, so that the remote can be taken away.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	relay := startRelay(t, addr, daemonAddr(t), false)
	w := newTestWriter(t, "git://"+addr+"/"+strings.TrimPrefix(url, testenv.GitURL(t)))
	ref := nodeRef("edge-1")
	files, _ := nodeFiles(t, "edge-1", 1)
	if committed, err := w.Write(ctx(t), "edge-1", files, "first"); err != nil || !committed {
		t.Fatalf("first Write = %v, %v", committed, err)
	}
	head := runGit(t, dir, "rev-parse", ref)

	// With the remote gone, the same files are still "nothing to do": a
	// warm cache answers without a request.
	relay.close()
	committed, err := w.Write(ctx(t), "edge-1", files, "same again")
	if err != nil || committed {
		t.Errorf("Write of identical files with the remote away = %v, %v; want false, nil without a request", committed, err)
	}
	startRelay(t, addr, daemonAddr(t), false)
	if got := runGit(t, dir, "rev-parse", ref); got != head {
		t.Errorf("identical Write moved the ref from %s to %s", head, got)
	}
	// A fresh writer (empty cache) agrees nothing changed.
	if committed, err := newTestWriter(t, url).Write(ctx(t), "edge-1", files, "same again"); err != nil || committed {
		t.Errorf("identical Write from a fresh cache = %v, %v; want false, nil", committed, err)
	}

	changed := Files{"drift/edge-1.md": []byte("changed\n")}
	if committed, err := w.Write(ctx(t), "edge-1", changed, "second"); err != nil || !committed {
		t.Fatalf("Write of a changed file = %v, %v; want true, nil", committed, err)
	}
	if got := runGit(t, dir, "diff", "--name-only", head, ref); got != "drift/edge-1.md" {
		t.Errorf("second commit changed %q, want only drift/edge-1.md", got)
	}
	if got := runGit(t, dir, "rev-parse", ref+"^"); got != head {
		t.Errorf("second commit's parent is %s, want %s", got, head)
	}
}

// Each node writes its own ref: neither its files nor its history hold
// another node's.
func TestWriterNodesAreIndependent(t *testing.T) {
	url, dir := newRemote(t)
	a, b := newTestWriter(t, url), newTestWriter(t, url)
	a1, _ := nodeFiles(t, "node-a", 1)
	b1, _ := nodeFiles(t, "node-b", 1)
	a2, _ := nodeFiles(t, "node-a", 2)
	for _, step := range []struct {
		w     *Writer
		node  string
		files Files
	}{{a, "node-a", a1}, {b, "node-b", b1}, {a, "node-a", a2}} {
		if committed, err := step.w.Write(ctx(t), step.node, step.files, "update "+step.node); err != nil || !committed {
			t.Fatalf("Write %s = %v, %v", step.node, committed, err)
		}
	}
	for node, want := range map[string]Files{"node-a": a2, "node-b": b1} {
		for _, p := range Paths(node) {
			if got := refFile(t, dir, nodeRef(node), p); got != strings.TrimSpace(string(want[p])) {
				t.Errorf("%s on %s = %q, want %q", p, nodeRef(node), got, want[p])
			}
		}
	}
	if got := runGit(t, dir, "log", "--format=%s", nodeRef("node-a")); got != "update node-a\nupdate node-a" {
		t.Errorf("history of node-a = %q, want its own two commits", got)
	}
	if got := runGit(t, dir, "ls-tree", "-r", "--name-only", nodeRef("node-b")); strings.Contains(got, "node-a") {
		t.Errorf("node-b's ref holds node-a's files:\n%s", got)
	}

	nodes, err := b.Nodes(ctx(t))
	if diff := cmp.Diff([]string{"node-a", "node-b"}, nodes); diff != "" || err != nil {
		t.Errorf("Nodes() error %v, (-want +got):\n%s", err, diff)
	}
	got, err := b.Read(ctx(t), "node-a")
	if diff := cmp.Diff(a2, got); diff != "" || err != nil {
		t.Errorf("Read(node-a) error %v, (-want +got):\n%s", err, diff)
	}
	if got, err := b.Read(ctx(t), "node-z"); err != nil || len(got) != 0 {
		t.Errorf("Read of an unknown node = %v, %v; want empty, nil", got, err)
	}
}

// A node whose daemon predates node refs has its files on the status
// branch only; readers find it there, and a node with a ref is read from
// the ref even when the branch holds older files of it.
func TestWriterReadsBranchForNodesWithoutRef(t *testing.T) {
	url, _ := newRemote(t)
	old1, _ := nodeFiles(t, "old-1", 1)
	legacyWrite(t, url, "old-1", old1, "status(old-1): legacy")
	stale, _ := nodeFiles(t, "new-1", 1)
	legacyWrite(t, url, "new-1", stale, "status(new-1): before the upgrade")
	w := newTestWriter(t, url)
	fresh, _ := nodeFiles(t, "new-1", 2)
	if _, err := w.Write(ctx(t), "new-1", fresh, "after the upgrade"); err != nil {
		t.Fatal(err)
	}

	r := newTestWriter(t, url)
	all, err := r.ReadAll(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]Files{"old-1": old1, "new-1": fresh}, all); diff != "" {
		t.Errorf("ReadAll (-want +got):\n%s", diff)
	}
	for node, want := range map[string]Files{"old-1": old1, "new-1": fresh} {
		got, err := newTestWriter(t, url).Read(ctx(t), node)
		if diff := cmp.Diff(want, got); diff != "" || err != nil {
			t.Errorf("Read(%s) error %v, (-want +got):\n%s", node, err, diff)
		}
	}
	// A node's first write after the upgrade starts its ref afresh: a root
	// commit, whatever the branch holds.
	if got, _ := gitTry(filepath.Join(testenv.GitBase(t), strings.TrimPrefix(url, testenv.GitURL(t))), "rev-list", "--count", nodeRef("new-1")); got != "1" {
		t.Errorf("new-1's ref has %s commits, want 1", got)
	}
}

func TestWriterReadsMissingBranch(t *testing.T) {
	url, _ := newRemote(t)
	w := newTestWriter(t, url)
	if got, err := w.Read(ctx(t), "edge-1"); err != nil || len(got) != 0 || got == nil {
		t.Errorf("Read without branch = %#v, %v; want empty Files, nil", got, err)
	}
	if got, err := w.Nodes(ctx(t)); err != nil || len(got) != 0 {
		t.Errorf("Nodes without branch = %v, %v; want none, nil", got, err)
	}
}

// Two daemons misconfigured with the same node name: the one with the
// stale cache is refused, fetches the ref, rebuilds on it and lands, and
// the other's commit stays in the history.
func TestWriterRebuildsOnSameNode(t *testing.T) {
	url, dir := newRemote(t)
	calls := 0
	a := newTestWriter(t, url, func(o *WriterOptions) {
		o.Now = func() time.Time { calls++; return at("2024-05-01T12:00:00Z") }
	})
	b := newTestWriter(t, url)
	f1, _ := nodeFiles(t, "edge-1", 1)
	f2, _ := nodeFiles(t, "edge-1", 2)
	f3, _ := nodeFiles(t, "edge-1", 3)
	if _, err := a.Write(ctx(t), "edge-1", f1, "a1"); err != nil {
		t.Fatal(err)
	}
	if committed, err := b.Write(ctx(t), "edge-1", f2, "b2"); err != nil || !committed {
		t.Fatalf("B's Write = %v, %v", committed, err)
	}
	calls = 0
	committed, err := a.Write(ctx(t), "edge-1", f3, "a3")
	if err != nil || !committed {
		t.Fatalf("A's Write on a stale cache = %v, %v; want true, nil", committed, err)
	}
	if calls != 2 {
		t.Errorf("A built %d commits, want 2 (one refused, one rebuilt on the new head)", calls)
	}
	if got := runGit(t, dir, "log", "--format=%s", nodeRef("edge-1")); got != "a3\nb2\na1" {
		t.Errorf("history:\n%s\nwant a3, b2, a1", got)
	}
}

func TestWriterUnreachable(t *testing.T) {
	url, dir := newRemote(t)
	name := strings.TrimPrefix(url, testenv.GitURL(t))
	// Reserve a free port, then leave it closed: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	w := newTestWriter(t, "git://"+addr+"/"+name)
	files, _ := nodeFiles(t, "edge-1", 1)
	start := time.Now()
	_, err = w.Write(ctx(t), "edge-1", files, "while down")
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Write to a closed port = %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refused connection took %v to report; it should not be retried", d)
	}
	if _, err := w.Read(ctx(t), "edge-1"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Read from a closed port = %v, want ErrUnreachable", err)
	}

	// Connections that break are retried, then reported the same way.
	// Which error the client sees depends on timing: a write into the
	// closed connection fails (retried, MaxAttempts times), or the read
	// of the advertisement finds it closed before a byte came, which is
	// go-git's hang-up (source.RemoteHungUp): a remote too busy to serve,
	// not asked again within this Write; the daemon retries with backoff.
	broken := startRelay(t, addr, daemonAddr(t), true)
	w.opts.MaxAttempts = 3
	if _, err := w.Write(ctx(t), "edge-1", files, "while broken"); !errors.Is(err, ErrUnreachable) ||
		!strings.Contains(err.Error(), "after 3 attempts") && !source.RemoteHungUp(err) {
		t.Errorf("Write through a breaking relay = %v, want ErrUnreachable after 3 attempts, or a hang-up", err)
	}
	broken.close()

	// Back up: the same Writer, called again, lands the files.
	startRelay(t, addr, daemonAddr(t), false)
	committed, err := w.Write(ctx(t), "edge-1", files, "after recovery")
	if err != nil || !committed {
		t.Fatalf("Write after recovery = %v, %v; want true, nil", committed, err)
	}
	if got := runGit(t, dir, "log", "--format=%s", nodeRef("edge-1")); got != "after recovery" {
		t.Errorf("history = %q, want exactly the recovered write", got)
	}
}

func TestWriterRecoversCorruptCache(t *testing.T) {
	url, dir := newRemote(t)
	w := newTestWriter(t, url)
	f1, _ := nodeFiles(t, "edge-1", 1)
	if _, err := w.Write(ctx(t), "edge-1", f1, "one"); err != nil {
		t.Fatal(err)
	}
	// Lose every object but keep the refs: the cache now names a head it
	// cannot read.
	if err := os.RemoveAll(filepath.Join(w.opts.CacheDir, "objects")); err != nil {
		t.Fatal(err)
	}
	f2, _ := nodeFiles(t, "edge-1", 2)
	committed, err := w.Write(ctx(t), "edge-1", f2, "two")
	if err != nil || !committed {
		t.Fatalf("Write with a corrupt cache = %v, %v; want true, nil", committed, err)
	}
	if got := runGit(t, dir, "log", "--format=%s", nodeRef("edge-1")); got != "two\none" {
		t.Errorf("history = %q, want two, one", got)
	}

	// A cache that no longer opens is wiped and rebuilt by a new Writer.
	if err := os.WriteFile(filepath.Join(w.opts.CacheDir, "config"), []byte("[core\n\x00garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := NewWriter(w.opts)
	if err != nil {
		t.Fatalf("NewWriter on a broken cache: %v", err)
	}
	if cfg, _ := os.ReadFile(filepath.Join(w.opts.CacheDir, "config")); strings.Contains(string(cfg), "garbage") {
		t.Errorf("the broken cache was not recreated")
	}
	f3, _ := nodeFiles(t, "edge-1", 3)
	if committed, err := again.Write(ctx(t), "edge-1", f3, "three"); err != nil || !committed {
		t.Fatalf("Write from a rebuilt cache = %v, %v; want true, nil", committed, err)
	}
	if got := runGit(t, dir, "log", "--format=%s", nodeRef("edge-1")); got != "three\ntwo\none" {
		t.Errorf("history = %q, want three, two, one", got)
	}
}

func TestWriterCompactsCache(t *testing.T) {
	url, _ := newRemote(t)
	other := newTestWriter(t, url)
	w := newTestWriter(t, url)
	w.compactEvery = 4
	for i := range 4 {
		// Another node writes in between, so every fetch brings a pack.
		of, _ := nodeFiles(t, "other", i)
		if _, err := other.Write(ctx(t), "other", of, "other"); err != nil {
			t.Fatal(err)
		}
		f, _ := nodeFiles(t, "edge-1", i)
		if _, err := w.Write(ctx(t), "edge-1", f, "edge"); err != nil {
			t.Fatal(err)
		}
	}
	packs, _ := filepath.Glob(filepath.Join(w.opts.CacheDir, "objects", "pack", "*.pack"))
	loose, _ := filepath.Glob(filepath.Join(w.opts.CacheDir, "objects", "[0-9a-f][0-9a-f]", "*"))
	if len(packs) != 1 || len(loose) != 0 {
		t.Errorf("after compaction the cache has %d packs and %d loose objects, want 1 and 0", len(packs), len(loose))
	}
	f, _ := nodeFiles(t, "edge-1", 3)
	if got, err := w.Read(ctx(t), "edge-1"); err != nil || !cmp.Equal(got, f) {
		t.Errorf("Read after compaction = %v; want the last files", err)
	}
	f, _ = nodeFiles(t, "edge-1", 9)
	if committed, err := w.Write(ctx(t), "edge-1", f, "after"); err != nil || !committed {
		t.Errorf("Write after compaction = %v, %v", committed, err)
	}
}

func TestNewWriterChecks(t *testing.T) {
	notEmpty := t.TempDir()
	os.WriteFile(filepath.Join(notEmpty, "notes.txt"), []byte("mine"), 0o644)
	foreignRepo := t.TempDir()
	if _, err := gogit.PlainInit(foreignRepo, true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts WriterOptions
		want string
	}{
		{"no URL", WriterOptions{CacheDir: t.TempDir()}, "URL is required"},
		{"no cache", WriterOptions{URL: "git://127.0.0.1:1/x.git"}, "CacheDir is required"},
		{"bad branch", WriterOptions{URL: "git://127.0.0.1:1/x.git", CacheDir: t.TempDir(), Branch: "a..b"}, "invalid branch"},
		{"prefix without slash", WriterOptions{URL: "git://127.0.0.1:1/x.git", CacheDir: t.TempDir(), RefPrefix: "refs/wirekeeper/status"}, "invalid status ref prefix"},
		{"prefix outside refs", WriterOptions{URL: "git://127.0.0.1:1/x.git", CacheDir: t.TempDir(), RefPrefix: "wirekeeper/status/"}, "invalid status ref prefix"},
		{"prefix too shallow", WriterOptions{URL: "git://127.0.0.1:1/x.git", CacheDir: t.TempDir(), RefPrefix: "refs/heads/"}, "invalid status ref prefix"},
		{"prefix under the branch", WriterOptions{URL: "git://127.0.0.1:1/x.git", CacheDir: t.TempDir(), RefPrefix: "refs/heads/wirekeeper/status/"}, "clashes with the status branch"},
		{"branch under the prefix", WriterOptions{URL: "git://127.0.0.1:1/x.git", CacheDir: t.TempDir(), RefPrefix: "refs/heads/wirekeeper/"}, "clashes with the status branch"},
		{"someone else's files", WriterOptions{URL: "git://127.0.0.1:1/x.git", CacheDir: notEmpty}, "neither empty nor a status cache"},
		{"someone else's repository", WriterOptions{URL: "git://127.0.0.1:1/x.git", CacheDir: foreignRepo}, "not made by the status writer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewWriter(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewWriter error = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if entries, _ := os.ReadDir(notEmpty); len(entries) != 1 {
		t.Errorf("a refused cache dir was changed: %d entries", len(entries))
	}

	w, err := NewWriter(WriterOptions{URL: "git://127.0.0.1:1/x.git", CacheDir: filepath.Join(t.TempDir(), "c")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(ctx(t), "a", Files{"status/b.yaml": nil}, "m"); err == nil || !strings.Contains(err.Error(), "not one of the node's files") {
		t.Errorf("Write of another node's file = %v, want a refusal", err)
	}
	if _, err := w.Write(ctx(t), "a..b", Files{"status/a..b.yaml": nil}, "m"); err == nil || !strings.Contains(err.Error(), "cannot be a git ref name") {
		t.Errorf("Write of node a..b = %v, want a refusal naming the ref", err)
	}
	if committed, err := w.Write(ctx(t), "a", Files{}, "m"); err != nil || committed {
		t.Errorf("Write of nothing = %v, %v; want false, nil without contacting the remote", committed, err)
	}
	if !slices.Equal(Paths("a"), []string{"status/a.yaml", "status/a.md", "drift/a.md"}) {
		t.Errorf("Paths changed")
	}
}
