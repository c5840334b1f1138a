package source

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/storage"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// tripwires makes PATH hold nothing but executables named git,
// git-upload-pack and git-receive-pack, which record that they ran and
// fail; the returned function lists what ran.
func tripwires(t *testing.T) (ran func() string) {
	t.Helper()
	dir, ran := testenv.GitTripwires(t)
	t.Setenv("PATH", dir)
	return ran
}

// newLocalOrigin is an origin that is a bare repository, or a repository
// with a worktree on main as a developer's checkout is.
func newLocalOrigin(t *testing.T, bare bool) *origin {
	t.Helper()
	if bare {
		return newOrigin(t)
	}
	dir := filepath.Join(t.TempDir(), "checkout")
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &origin{t: t, dir: dir, repo: repo, when: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// commitIn writes a commit of one file on parents into st.
func commitIn(t *testing.T, st storage.Storer, msg string, parents ...plumbing.Hash) plumbing.Hash {
	t.Helper()
	sig := object.Signature{Name: "wirekeeper", Email: "wirekeeper@localhost", When: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg + "\n",
		TreeHash: writeTree(t, st, map[string]entry{"status/hv1.yaml": file(msg + "\n")}), ParentHashes: parents}
	return storeObject(t, st, c.Encode)
}

func branchHead(t *testing.T, dir, branch string) plumbing.Hash {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// TestFileTransportRunsNoProgram clones, fetches and pushes (a new branch,
// then a fast-forward) through go-git's own API with every form of local
// URL, while PATH holds only tripwires: go-git's file transport would run
// git-upload-pack and git-receive-pack.
func TestFileTransportRunsNoProgram(t *testing.T) {
	for _, tc := range []struct {
		name string
		bare bool
		url  func(t *testing.T, dir string) string
	}{
		{"file URL of a bare repository", true, func(_ *testing.T, dir string) string { return "file://" + dir }},
		{"path of a bare repository", true, func(_ *testing.T, dir string) string { return dir }},
		{"path of a checkout", false, func(_ *testing.T, dir string) string { return dir }},
		{"relative path", false, func(t *testing.T, dir string) string {
			t.Chdir(filepath.Dir(dir))
			return "./" + filepath.Base(dir)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := tripwires(t)
			o := newLocalOrigin(t, tc.bare)
			first := o.commit("main", "specs", map[string]entry{"m.yaml": file(managerYAML)})
			url := tc.url(t, o.dir)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			clone, err := git.PlainCloneContext(ctx, filepath.Join(t.TempDir(), "clone"), true, &git.CloneOptions{URL: url, ReferenceName: "refs/heads/main"})
			if err != nil {
				t.Fatalf("clone %s: %v", url, err)
			}
			if h := remoteHead(t, clone, "main"); h != first {
				t.Errorf("cloned main is %s, want %s", h, first)
			}
			second := o.commit("main", "more specs", map[string]entry{"m.yaml": file(managerYAML), "b.yaml": file(bridgeYAML)})
			if err := clone.FetchContext(ctx, &git.FetchOptions{}); err != nil {
				t.Fatalf("fetch %s: %v", url, err)
			}
			if h := remoteHead(t, clone, "main"); h != second {
				t.Errorf("fetched main is %s, want %s", h, second)
			}

			const status = "wirekeeper/status"
			var parents []plumbing.Hash
			for _, msg := range []string{"new branch", "fast-forward"} {
				c := commitIn(t, clone.Storer, msg, parents...)
				parents = []plumbing.Hash{c}
				ref := plumbing.NewBranchReferenceName(status)
				if err := clone.Storer.SetReference(plumbing.NewHashReference(ref, c)); err != nil {
					t.Fatal(err)
				}
				err := clone.PushContext(ctx, &git.PushOptions{RefSpecs: []config.RefSpec{config.RefSpec(ref + ":" + ref)}})
				if err != nil {
					t.Fatalf("push %s (%s) to %s: %v", status, msg, url, err)
				}
				if h := branchHead(t, o.dir, status); h != c {
					t.Errorf("after the %s push, %s is %s on the remote, want %s", msg, status, h, c)
				}
			}
			if got := ran(); got != "" {
				t.Errorf("git programs ran:\n%s", got)
			}
		})
	}
}

func remoteHead(t *testing.T, repo *git.Repository, branch string) plumbing.Hash {
	t.Helper()
	ref, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", branch), true)
	if err != nil {
		t.Fatalf("no origin/%s: %v", branch, err)
	}
	return ref.Hash()
}

// receive sends one ref update to the repository at url, with the objects
// of commits (read from st), through the transport go-git's client picks.
func receive(t *testing.T, url string, st storage.Storer, cmd *packp.Command, objects ...plumbing.Hash) error {
	t.Helper()
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := client.NewClient(ep)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tr.NewReceivePackSession(ep, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(adv.Capabilities)
	req.Commands = []*packp.Command{cmd}
	if len(objects) > 0 {
		pr, pw := io.Pipe()
		go func() {
			_, err := packfile.NewEncoder(pw, st, false).Encode(objects, 0)
			pw.CloseWithError(err)
		}()
		req.Packfile = pr
	}
	_, err = sess.ReceivePack(ctx, req)
	return err
}

// TestLocalReceivePackRefusals checks that a push to a local repository is
// refused where git-receive-pack refuses it: the ref moved since the pusher
// read it (the compare-and-swap the status writer relies on), the
// checked-out branch of a checkout, a non-fast-forward under
// receive.denyNonFastForwards, a ref locked by another update, a deletion
// (not supported); and accepted otherwise, a non-fast-forward included.
func TestLocalReceivePackRefusals(t *testing.T) {
	const branch = "wirekeeper/status"
	ref := plumbing.NewBranchReferenceName(branch)
	for _, tc := range []struct {
		name    string
		bare    bool
		setup   func(t *testing.T, o *origin)
		target  plumbing.ReferenceName
		old     func(base, stale plumbing.Hash) plumbing.Hash
		parent  func(base, stale plumbing.Hash) []plumbing.Hash
		deleted bool
		wantErr string // "" for accepted
	}{
		{name: "fast-forward", bare: true, old: first, parent: first1},
		{name: "new branch", bare: true, target: "refs/heads/other", old: zero, parent: first1},
		{name: "stale old value", bare: true, old: second, parent: second1, wantErr: "failed to update ref: it is at"},
		{name: "create over an existing branch", bare: true, old: zero, parent: none, wantErr: "failed to update ref: it is at"},
		{name: "non-fast-forward, allowed by default as in git", bare: true, old: first, parent: none},
		{name: "non-fast-forward under receive.denyNonFastForwards", bare: true, old: first, parent: none,
			setup: func(t *testing.T, o *origin) {
				cfg, err := o.repo.Config()
				if err != nil {
					t.Fatal(err)
				}
				cfg.Raw.Section("receive").SetOption("denyNonFastForwards", "true")
				if err := o.repo.SetConfig(cfg); err != nil {
					t.Fatal(err)
				}
			}, wantErr: "non-fast-forward"},
		{name: "branch checked out in a checkout", bare: false, target: "refs/heads/main", old: first, parent: first1,
			wantErr: "refusing to update the checked-out branch main"},
		{name: "other branch of a checkout", bare: false, old: first, parent: first1},
		{name: "ref locked by another update", bare: true, old: first, parent: first1,
			setup: func(t *testing.T, o *origin) {
				lock := filepath.Join(o.dir, "refs", "heads", filepath.FromSlash(branch)+".lock")
				// git writes the new value into its lock file right away.
				if err := os.WriteFile(lock, []byte(strings.Repeat("1", 40)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}, wantErr: "another update is in progress"},
		{name: "deletion", bare: true, old: first, deleted: true, wantErr: "deleting refs is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ran := tripwires(t)
			o := newLocalOrigin(t, tc.bare)
			base := o.commit(branch, "first", map[string]entry{"a": file("1")})
			o.setBranch("main", base) // a checkout has main checked out
			stale := o.commit("scratch", "unrelated", map[string]entry{"a": file("2")}, base)
			if tc.setup != nil {
				tc.setup(t, o)
			}
			target := tc.target
			if target == "" {
				target = ref
			}
			before := branchHead(t, o.dir, target.Short())
			// The pusher's own store, holding what it pushes.
			pusher := newOrigin(t)
			var objects []plumbing.Hash
			newHash := plumbing.ZeroHash
			if !tc.deleted {
				newHash = commitIn(t, pusher.repo.Storer, "update", tc.parent(base, stale)...)
				objects = reachableObjects(t, pusher.repo.Storer, newHash)
			}
			err := receive(t, "file://"+o.dir, pusher.repo.Storer, &packp.Command{Name: target, Old: tc.old(base, stale), New: newHash}, objects...)
			after := branchHead(t, o.dir, target.Short())
			if got := ran(); got != "" {
				t.Errorf("git programs ran:\n%s", got)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("push refused: %v", err)
			case tc.wantErr == "" && after != newHash:
				t.Errorf("%s is %s after the push, want %s", target, after, newHash)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("push error = %v, want one containing %q", err, tc.wantErr)
			case tc.wantErr != "" && after != before:
				t.Errorf("%s moved from %s to %s on a refused push", target, before, after)
			case tc.wantErr != "" && !strings.Contains(err.Error(), "command error on "+target.String()):
				// reconciler/status tells a lost race by this prefix.
				t.Errorf("push error %q does not name the command's ref as git's report does", err)
			}
			gitDir := o.dir
			if !tc.bare {
				gitDir = filepath.Join(o.dir, ".git")
			}
			if _, err := os.Stat(filepath.Join(gitDir, filepath.FromSlash(target.String())+".lock")); tc.name != "ref locked by another update" && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the ref's lock file is left behind: %v", err)
			}
		})
	}
}

func zero(_, _ plumbing.Hash) plumbing.Hash          { return plumbing.ZeroHash }
func first(base, _ plumbing.Hash) plumbing.Hash      { return base }
func second(_, stale plumbing.Hash) plumbing.Hash    { return stale }
func first1(base, _ plumbing.Hash) []plumbing.Hash   { return []plumbing.Hash{base} }
func second1(_, stale plumbing.Hash) []plumbing.Hash { return []plumbing.Hash{stale} }
func none(_, _ plumbing.Hash) []plumbing.Hash        { return nil }

// reachableObjects lists commit h, its tree and everything below; parents
// are taken to be on the remote already.
func reachableObjects(t *testing.T, st storage.Storer, h plumbing.Hash) []plumbing.Hash {
	t.Helper()
	c, err := object.GetCommit(st, h)
	if err != nil {
		t.Fatal(err)
	}
	out := []plumbing.Hash{h}
	tree, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, tree.Hash)
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		_, e, err := walker.Next()
		if err != nil {
			break
		}
		out = append(out, e.Hash)
	}
	return out
}

// TestLocalReceivePackCompareAndSwap races pushers that all read the same
// head: exactly one update lands, the others are refused, none is lost
// silently.
func TestLocalReceivePackCompareAndSwap(t *testing.T) {
	const pushers = 8
	o := newOrigin(t)
	base := o.commit("wirekeeper/status", "first", map[string]entry{"a": file("1")})
	pusher := newOrigin(t)
	type push struct {
		hash    plumbing.Hash
		objects []plumbing.Hash
	}
	pushes := make([]push, pushers)
	for i := range pushes {
		h := commitIn(t, pusher.repo.Storer, "update "+string(rune('a'+i)), base)
		pushes[i] = push{h, reachableObjects(t, pusher.repo.Storer, h)}
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		landed []plumbing.Hash
	)
	for _, p := range pushes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := receive(t, "file://"+o.dir, pusher.repo.Storer,
				&packp.Command{Name: "refs/heads/wirekeeper/status", Old: base, New: p.hash}, p.objects...)
			if err == nil {
				mu.Lock()
				landed = append(landed, p.hash)
				mu.Unlock()
			} else if !strings.Contains(err.Error(), "command error on refs/heads/wirekeeper/status") {
				t.Errorf("a losing push failed with %v, want a refused update", err)
			}
		}()
	}
	wg.Wait()
	if len(landed) != 1 {
		t.Fatalf("%d pushes from the same old value landed, want exactly 1", len(landed))
	}
	if h := branchHead(t, o.dir, "wirekeeper/status"); h != landed[0] {
		t.Errorf("the branch is at %s, want the push that was accepted, %s", h, landed[0])
	}
}

// TestLocalRepositoryMissing: a path without a repository is a prompt,
// clear error naming the path, never a hang, through every entry point.
func TestLocalRepositoryMissing(t *testing.T) {
	ran := tripwires(t)
	notRepo := t.TempDir()
	for _, dir := range []string{filepath.Join(t.TempDir(), "nope.git"), notRepo} {
		for _, url := range []string{dir, "file://" + dir} {
			ep, err := transport.NewEndpoint(url)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := client.NewClient(ep)
			if err != nil {
				t.Fatal(err)
			}
			_, upErr := tr.NewUploadPackSession(ep, nil)
			_, rpErr := tr.NewReceivePackSession(ep, nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, cloneErr := git.PlainCloneContext(ctx, filepath.Join(t.TempDir(), "c"), true, &git.CloneOptions{URL: url})
			cancel()
			for what, err := range map[string]error{"upload-pack": upErr, "receive-pack": rpErr, "clone": cloneErr} {
				if !errors.Is(err, transport.ErrRepositoryNotFound) || !strings.Contains(err.Error(), dir+" is not a git repository") {
					t.Errorf("%s of %s: error %v, want ErrRepositoryNotFound naming the path", what, url, err)
				}
			}
		}
	}
	if got := ran(); got != "" {
		t.Errorf("git programs ran:\n%s", got)
	}
}

// TestLocalFetchSendsWhatIsMissing fetches, through the in-process
// upload-pack, histories that end the walk in different ways: a
// fast-forward (the walk stops at the fetcher's head), a file back to an
// older content (an object under the fetcher's tree), a rewritten branch (no
// common commit) and a new branch forked from an old commit. After each
// fetch every object reachable from every fetched ref must be in the clone.
func TestLocalFetchSendsWhatIsMissing(t *testing.T) {
	ran := tripwires(t)
	o := newOrigin(t)
	files := func(a, b string) map[string]entry {
		return map[string]entry{"a.yaml": file(a), "dir/b.yaml": file(b), "dir/sub/c.yaml": file("c")}
	}
	c1 := o.commit("main", "one", files("1", "1"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	clone, err := git.PlainCloneContext(ctx, filepath.Join(t.TempDir(), "clone"), true, &git.CloneOptions{URL: "file://" + o.dir, ReferenceName: "refs/heads/main"})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name   string
		change func()
	}{
		{"fast-forward", func() { o.commit("main", "two", files("2", "1")); o.commit("main", "three", files("2", "2")) }},
		{"back to an older content", func() { o.commit("main", "revert", files("1", "1")) }},
		{"rewritten branch", func() { o.commit("main", "new root", files("x", "y"), []plumbing.Hash{}...) }},
		{"new branch forked from an old commit", func() { o.commit("fork", "fork", files("f", "1"), c1) }},
	} {
		step.change()
		err := clone.FetchContext(ctx, &git.FetchOptions{RefSpecs: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"}})
		if err != nil {
			t.Fatalf("%s: fetch: %v", step.name, err)
		}
		refs, err := clone.References()
		if err != nil {
			t.Fatal(err)
		}
		var heads []plumbing.Hash
		_ = refs.ForEach(func(r *plumbing.Reference) error {
			if r.Name().IsRemote() {
				if want := o.head(r.Name().Short()[len("origin/"):]); r.Hash() != want {
					t.Errorf("%s: %s is %s, want %s", step.name, r.Name(), r.Hash(), want)
				}
				heads = append(heads, r.Hash())
			}
			return nil
		})
		if _, err := revlist.Objects(clone.Storer, heads, nil); err != nil {
			t.Errorf("%s: the clone lacks objects: %v", step.name, err)
		}
	}
	if got := ran(); got != "" {
		t.Errorf("git programs ran:\n%s", got)
	}
}

// BenchmarkLocalFetchLongHistory is one fetch of a single new commit, as
// the status writer makes it (the head it knew as the have), from a local
// repository whose branch has 2,000 commits: its cost must not grow with
// the history.
func BenchmarkLocalFetchLongHistory(b *testing.B) {
	o := newOrigin(b)
	for i := range 2000 {
		o.commit("main", "status", map[string]entry{"status/hv1.yaml": file(strconv.Itoa(i)), "status/hv2.yaml": file("same")})
	}
	ep, err := transport.NewEndpoint("file://" + o.dir)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := NewTransport(ep)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		have := o.head("main")
		want := o.commit("main", "status", map[string]entry{"status/hv1.yaml": file("new " + strconv.Itoa(i)), "status/hv2.yaml": file("same")})
		b.StartTimer()
		sess, err := tr.NewUploadPackSession(ep, nil)
		if err != nil {
			b.Fatal(err)
		}
		adv, err := sess.AdvertisedReferencesContext(ctx)
		if err != nil {
			b.Fatal(err)
		}
		req := packp.NewUploadPackRequestFromCapabilities(adv.Capabilities)
		req.Wants, req.Haves = []plumbing.Hash{want}, []plumbing.Hash{have}
		resp, err := sess.UploadPack(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp)
		if err != nil || n == 0 {
			b.Fatalf("read %d bytes of the pack: %v", n, err)
		}
		resp.Close()
		sess.Close()
	}
}
