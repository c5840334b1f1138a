package source

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

var specFiles = map[string]entry{"specs/managers.yaml": file(managerYAML)}

func TestFetchFollowsBranch(t *testing.T) {
	o := newOrigin(t)
	first := o.commit("main", "add manager", specFiles)
	s := newSource(t, o.dir)

	got := mustFetch(t, s)
	want := &Revision{
		Hash:    first.String(),
		Short:   first.String()[:7],
		Message: "add manager",
		Author:  "Ada Operator <ada@example.net>",
		Time:    o.when,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first Fetch (-want +got):\n%s", diff)
	}

	second := o.commit("main", "add bridge", map[string]entry{
		"specs/managers.yaml": file(managerYAML), "specs/bridges.yaml": file(bridgeYAML),
	})
	got = mustFetch(t, s)
	if got.Hash != second.String() || got.Previous != first.String() || got.ForcePushed {
		t.Errorf("second Fetch = %s previous %s forcePushed %v, want %s previous %s, not force-pushed",
			got.Short, got.Previous, got.ForcePushed, second, first)
	}

	got = mustFetch(t, s)
	if got.Hash != second.String() || got.Previous != second.String() || got.ForcePushed {
		t.Errorf("unchanged Fetch = %s previous %s forcePushed %v, want %s twice", got.Short, got.Previous, got.ForcePushed, second)
	}

	// History rewritten: a new commit on top of the first one only.
	rewritten := o.commit("main", "amend", specFiles, first)
	got = mustFetch(t, s)
	if got.Hash != rewritten.String() || got.Previous != second.String() || !got.ForcePushed {
		t.Errorf("after force-push Fetch = %s previous %s forcePushed %v, want %s previous %s, force-pushed",
			got.Short, got.Previous, got.ForcePushed, rewritten, second)
	}
}

func TestFetchOnlyTrackedBranch(t *testing.T) {
	o := newOrigin(t)
	head := o.commit("main", "specs", specFiles)
	s := newSource(t, o.dir)
	mustFetch(t, s)

	o.commit("status", "status of ams-hv01", map[string]entry{"status/ams-hv01.yaml": file("node: ams-hv01\n")})
	got := mustFetch(t, s)
	if got.Hash != head.String() {
		t.Errorf("Fetch after a push to another branch = %s, want %s", got.Short, head)
	}
	repo := openTestCache(t, s)
	if _, err := repo.Storer.Reference(trackingRef("status")); !errors.Is(err, plumbing.ErrReferenceNotFound) {
		t.Errorf("the cache holds the status branch (err %v); only main must be fetched", err)
	}
	if err := repo.Storer.HasEncodedObject(o.head("status")); err == nil {
		t.Errorf("the cache holds the status commit; only main must be fetched")
	}
}

func TestFetchBranchNotFound(t *testing.T) {
	tests := []struct {
		name   string
		branch string
		setup  func(o *origin, s *Source)
	}{
		{name: "empty repository", setup: func(*origin, *Source) {}},
		{name: "branch never pushed", branch: "production", setup: func(o *origin, _ *Source) {
			o.commit("main", "specs", specFiles)
		}},
		{name: "branch deleted after the first fetch", setup: func(o *origin, s *Source) {
			o.commit("main", "specs", specFiles)
			mustFetch(t, s)
			o.commit("other", "keep the repository non-empty", specFiles)
			o.deleteBranch("main")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t)
			s := newSource(t, o.dir, func(opts *Options) { opts.Branch = tt.branch })
			tt.setup(o, s)
			_, err := s.Fetch(context.Background())
			if !errors.Is(err, ErrBranchNotFound) || errors.Is(err, ErrUnreachable) {
				t.Fatalf("Fetch error = %v, want ErrBranchNotFound", err)
			}
			if !strings.Contains(err.Error(), s.Branch()) {
				t.Errorf("error %q does not name branch %q", err, s.Branch())
			}
		})
	}
}

func TestFetchLocalRepositoryAppears(t *testing.T) {
	o := newOrigin(t)
	head := o.commit("main", "specs", specFiles)
	missing := filepath.Join(t.TempDir(), "later.git")
	s := newSource(t, missing)

	_, err := s.Fetch(context.Background())
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Fetch of a missing repository: error = %v, want ErrUnreachable", err)
	}
	if err := os.Rename(o.dir, missing); err != nil {
		t.Fatal(err)
	}
	if got := mustFetch(t, s); got.Hash != head.String() {
		t.Errorf("Fetch once the repository exists = %s, want %s", got.Short, head)
	}
}

func TestFetchReclonesDamagedCache(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string, head plumbing.Hash)
		reason string
	}{
		{name: "garbage HEAD", reason: "HEAD", damage: func(t *testing.T, dir string, _ plumbing.Hash) {
			writeFile(t, filepath.Join(dir, "HEAD"), "\x00\x01garbage")
		}},
		{name: "garbage config", reason: "open", damage: func(t *testing.T, dir string, _ plumbing.Hash) {
			writeFile(t, filepath.Join(dir, "config"), "[[[ not a config")
		}},
		{name: "garbage tracking ref", reason: "commit", damage: func(t *testing.T, dir string, _ plumbing.Hash) {
			writeFile(t, filepath.Join(dir, "refs", "remotes", "origin", "main"), "0123456789012345678901234567890123456789\n")
		}},
		{name: "objects removed", reason: "commit", damage: func(t *testing.T, dir string, _ plumbing.Hash) {
			if err := os.RemoveAll(filepath.Join(dir, "objects")); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(dir, "objects"), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "garbage head commit object", reason: "commit", damage: func(t *testing.T, dir string, head plumbing.Hash) {
			h := head.String()
			writeFile(t, filepath.Join(dir, "objects", h[:2], h[2:]), "not zlib at all")
		}},
		{name: "cache folder is a file", reason: "open", damage: func(t *testing.T, dir string, _ plumbing.Hash) {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "not a repository")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t)
			first := o.commit("main", "specs", specFiles)
			s := newSource(t, o.dir)
			mustFetch(t, s)
			tt.damage(t, s.dir, first)
			second := o.commit("main", "more specs", map[string]entry{"specs/bridges.yaml": file(bridgeYAML), "specs/managers.yaml": file(managerYAML)})

			got := mustFetch(t, s)
			if !got.Recloned || !strings.Contains(got.RecloneReason, tt.reason) {
				t.Errorf("Recloned = %v, reason %q; want a re-clone mentioning %q", got.Recloned, got.RecloneReason, tt.reason)
			}
			if got.Hash != second.String() || got.ForcePushed || got.Previous != first.String() {
				t.Errorf("Fetch = %s previous %s forcePushed %v, want %s previous %s", got.Short, got.Previous, got.ForcePushed, second, first)
			}
			if _, diags, err := s.Load(context.Background(), got); err != nil || diags.HasErrors() {
				t.Errorf("Load after the re-clone: err %v, diagnostics %v", err, diags)
			}
			if again := mustFetch(t, s); again.Recloned {
				t.Errorf("the next Fetch re-cloned again: %s", again.RecloneReason)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	o := newOrigin(t)
	first := o.commit("main", "specs", specFiles)
	second := o.commit("main", "more", map[string]entry{"specs/managers.yaml": file(managerYAML + "# changed\n")})
	feature := o.commit("feature", "try a bridge", map[string]entry{"specs/bridges.yaml": file(bridgeYAML)}, second)
	s := newSource(t, o.dir)

	tests := []struct {
		name    string
		in      string
		want    plumbing.Hash
		wantErr error
	}{
		{name: "short hash, before any Fetch", in: first.String()[:7], want: first},
		{name: "full hash", in: second.String(), want: second},
		{name: "other branch", in: "feature", want: feature},
		{name: "refs/heads form", in: "refs/heads/feature", want: feature},
		{name: "tracked branch", in: "main", want: second},
		{name: "unknown branch", in: "nope", wantErr: ErrBranchNotFound},
		{name: "unknown hash", in: "deadbeef", wantErr: ErrBranchNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Resolve(context.Background(), tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Resolve(%q) error = %v, want %v", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.in, err)
			}
			if got.Hash != tt.want.String() {
				t.Errorf("Resolve(%q) = %s, want %s", tt.in, got.Short, tt.want)
			}
		})
	}
	// Resolve must not move what Fetch reports as the previous head.
	if rev := mustFetch(t, s); rev.Previous != "" {
		t.Errorf("first Fetch after Resolve: Previous = %q, want none", rev.Previous)
	}
}

// TestConcurrentUse runs Fetch, Resolve and Load from several goroutines on
// one Source and on a second Source sharing its cache folder (run with -race).
func TestConcurrentUse(t *testing.T) {
	o := newOrigin(t)
	o.commit("main", "specs", specFiles)
	o.commit("feature", "bridge", map[string]entry{"specs/bridges.yaml": file(bridgeYAML), "specs/managers.yaml": file(managerYAML)})
	cache := t.TempDir()
	mk := func() *Source {
		return newSource(t, o.dir, func(opts *Options) { opts.CacheDir, opts.Path = cache, "specs" })
	}
	a, b := mk(), mk()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*Source{a, b}[i%2]
			for range 5 {
				rev, err := s.Fetch(ctx)
				if err != nil {
					errs <- err
					return
				}
				if _, diags, err := s.Load(ctx, rev); err != nil || diags.HasErrors() {
					errs <- errors.Join(err, diags.Err())
					return
				}
				if _, err := s.Resolve(ctx, "feature"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func openTestCache(t *testing.T, s *Source) *git.Repository {
	t.Helper()
	repo, err := git.PlainOpen(s.dir)
	if err != nil {
		t.Fatalf("open the cache: %v", err)
	}
	return repo
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// An idle poll checks the cached head down to its root tree, not every
// blob of its spec tree again (that was most of an idle fleet's CPU); a
// blob lost under an unchanged head is found by the whole-tree read of the
// next revision, which clones the cache again.
func TestIdleFetchReadsNoBlobButTheNextRevisionDoes(t *testing.T) {
	o := newOrigin(t)
	first := o.commit("main", "specs", specFiles)
	s := newSource(t, o.dir)
	mustFetch(t, s)
	blob := plumbing.ComputeHash(plumbing.BlobObject, []byte(managerYAML)).String()
	writeFile(t, filepath.Join(s.dir, "objects", blob[:2], blob[2:]), "not zlib at all")

	if got := mustFetch(t, s); got.Recloned || got.Hash != first.String() {
		t.Fatalf("idle Fetch = %s, recloned %v (%s); want %s as it was: an idle poll must not read the spec tree's blobs",
			got.Short, got.Recloned, got.RecloneReason, first)
	}
	second := o.commit("main", "more specs", map[string]entry{"specs/bridges.yaml": file(bridgeYAML), "specs/managers.yaml": file(managerYAML)})
	got := mustFetch(t, s)
	if !got.Recloned || !strings.Contains(got.RecloneReason, "managers.yaml") || got.Hash != second.String() {
		t.Fatalf("Fetch of the next revision = %s, recloned %v (%q); want %s, the cache cloned again for the lost blob of managers.yaml",
			got.Short, got.Recloned, got.RecloneReason, second)
	}
	if _, diags, err := s.Load(context.Background(), got); err != nil || diags.HasErrors() {
		t.Errorf("Load after the re-clone: err %v, diagnostics %v", err, diags)
	}
}

// The Load of a revision a Fetch just checked uses the objects the check
// decoded, once: a blob lost after the check is not read again by that
// Load, and is read (and found lost) by the next.
func TestLoadTakesTheObjectsTheFetchRead(t *testing.T) {
	o := newOrigin(t)
	o.commit("main", "specs", specFiles)
	s := newSource(t, o.dir)
	mustFetch(t, s)
	changed := managerYAML + "# changed\n"
	o.commit("main", "change", map[string]entry{"specs/bridges.yaml": file(bridgeYAML), "specs/managers.yaml": file(changed)})
	rev := mustFetch(t, s)
	blob := plumbing.ComputeHash(plumbing.BlobObject, []byte(changed)).String()
	writeFile(t, filepath.Join(s.dir, "objects", blob[:2], blob[2:]), "not zlib at all")

	set, diags, err := s.Load(context.Background(), rev)
	if err != nil || diags.HasErrors() || len(set.Objects) == 0 {
		t.Fatalf("Load right after the Fetch: err %v, diagnostics %v; want the objects the Fetch read", err, diags)
	}
	if _, _, err := s.Load(context.Background(), rev); err == nil || !strings.Contains(err.Error(), "cannot read the spec tree") {
		t.Errorf("a second Load = %v; want the lost blob read from the disk and reported", err)
	}
}
