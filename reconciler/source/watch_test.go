package source

import (
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// A Source with WatchRefs reports, after each Fetch, the hashes the remote
// has under that prefix: none yet, a new one, a moved one, a deleted one;
// the spec branch is fetched as before.
func TestWatchedRefs(t *testing.T) {
	const lease = "refs/wirekeeper/lease/status-aggregator"
	for _, tc := range []struct {
		name string
		// remote returns the URL to fetch and the repository the test
		// moves refs in.
		remote func(t *testing.T, o *origin) (string, *git.Repository)
	}{
		{"git daemon", func(t *testing.T, o *origin) (string, *git.Repository) {
			url := testenv.NewGitRemote(t)
			o.push(url, "main", false)
			o.push(url, "other", false)
			served, err := git.PlainOpen(filepath.Join(testenv.GitBase(t), strings.TrimPrefix(url, testenv.GitURL(t))))
			if err != nil {
				t.Fatal(err)
			}
			return url, served
		}},
		{"local repository", func(t *testing.T, o *origin) (string, *git.Repository) {
			return "file://" + o.dir, o.repo
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrigin(t)
			head := o.commit("main", "specs", specFiles)
			c1 := o.commit("other", "lease 1", map[string]entry{"a": file("1")})
			c2 := o.commit("other", "lease 2", map[string]entry{"a": file("2")})
			url, served := tc.remote(t, o)
			setRef := func(h plumbing.Hash) {
				t.Helper()
				var err error
				if h.IsZero() {
					err = served.Storer.RemoveReference(lease)
				} else {
					err = served.Storer.SetReference(plumbing.NewHashReference(lease, h))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			s := newSource(t, url, func(opts *Options) { opts.WatchRefs = "refs/wirekeeper/lease/" })
			check := func(when string, want plumbing.Hash) {
				t.Helper()
				if rev := mustFetch(t, s); rev.Hash != head.String() {
					t.Errorf("%s: Fetch = %s, want the spec head %s", when, rev.Short, head)
				}
				if got, ok := s.Watched(lease); !ok || got != want {
					t.Errorf("%s: Watched = %s, %v; want %s, true", when, got, ok, want)
				}
			}
			mustFetch(t, s) // the clone fetches the branch alone
			if got, ok := s.Watched(lease); ok {
				t.Errorf("after the clone: Watched = %s, true; want not looked yet", got)
			}
			check("no lease yet", plumbing.ZeroHash)
			setRef(c1)
			check("lease taken", c1)
			setRef(c2)
			check("lease renewed", c2)
			setRef(plumbing.ZeroHash)
			check("lease deleted", plumbing.ZeroHash)

			plain := newSource(t, url)
			mustFetch(t, plain)
			mustFetch(t, plain)
			if _, ok := plain.Watched(lease); ok {
				t.Error("a Source without WatchRefs reports a watched ref")
			}
		})
	}
}

func TestWatchRefsChecked(t *testing.T) {
	for _, bad := range []string{"wirekeeper/lease/", "refs/wirekeeper/lease", "refs/watched/x/", "refs/a..b/"} {
		if _, err := New(Options{URL: "git://127.0.0.1:1/x.git", CacheDir: t.TempDir(), WatchRefs: bad}); err == nil || !strings.Contains(err.Error(), "WatchRefs") {
			t.Errorf("New with WatchRefs %q: %v, want a refusal", bad, err)
		}
	}
}
