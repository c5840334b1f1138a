package source

// Integration tests against the real git daemon of the test harness
// (scripts/test-servers.sh); they skip without it unless
// WIREKEEPER_REQUIRE_INTEGRATION=1.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

func TestDaemonFollowsBranch(t *testing.T) {
	remote := testenv.NewGitRemote(t)
	o := newOrigin(t)
	first := o.commit("main", "add manager", specFiles)
	o.push(remote, "main", false)
	s := newSource(t, remote, func(opts *Options) { opts.Path = "specs" })

	rev := mustFetch(t, s)
	if rev.Hash != first.String() || rev.Previous != "" {
		t.Fatalf("first Fetch = %s previous %q, want %s", rev.Short, rev.Previous, first)
	}
	if packs, _ := filepath.Glob(filepath.Join(s.dir, "objects", "pack", "*.pack")); len(packs) == 0 {
		t.Errorf("the clone of %s holds no pack file", remote)
	}

	second := o.commit("main", "add bridge", map[string]entry{"specs/managers.yaml": file(managerYAML), "specs/bridges.yaml": file(bridgeYAML)})
	o.push(remote, "main", false)
	rev = mustFetch(t, s)
	if rev.Hash != second.String() || rev.Previous != first.String() || rev.ForcePushed {
		t.Errorf("incremental Fetch = %s previous %s forcePushed %v, want %s after %s", rev.Short, rev.Previous, rev.ForcePushed, second, first)
	}
	set, diags, err := s.Load(context.Background(), rev)
	if err != nil || diags.HasErrors() || len(set.Objects) != 2 {
		t.Errorf("Load = %d objects, %v, %v; want 2 objects", len(set.Objects), diags, err)
	}

	// A push to the status branch is not a new spec revision.
	o.commit("status", "status", map[string]entry{"status/ams-hv01.yaml": file("node: ams-hv01\n")})
	o.push(remote, "status", false)
	if rev = mustFetch(t, s); rev.Hash != second.String() {
		t.Errorf("Fetch after a push to status = %s, want %s", rev.Short, second)
	}
	if _, err := openTestCache(t, s).Storer.Reference(trackingRef("status")); err == nil {
		t.Errorf("the status branch was fetched")
	}

	// Rewritten history.
	rewritten := o.commit("main", "amend", specFiles, first)
	o.push(remote, "main", false)
	rev = mustFetch(t, s)
	if rev.Hash != rewritten.String() || rev.Previous != second.String() || !rev.ForcePushed {
		t.Errorf("Fetch after a force-push = %s previous %s forcePushed %v, want %s after %s, force-pushed", rev.Short, rev.Previous, rev.ForcePushed, rewritten, second)
	}

	// The branch is deleted, then pushed again. The daemon refuses to delete
	// the branch its HEAD names, so HEAD moves to status first, as in a
	// repository whose default branch is not the spec branch.
	served, err := git.PlainOpen(filepath.Join(testenv.GitBase(t), strings.TrimPrefix(remote, testenv.GitURL(t))))
	if err != nil {
		t.Fatal(err)
	}
	if err := served.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName("status"))); err != nil {
		t.Fatal(err)
	}
	o.push(remote, "main", true)
	_, err = fetch(s)
	if !errors.Is(err, ErrBranchNotFound) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("Fetch of a deleted branch: error = %v, want ErrBranchNotFound", err)
	}
	t.Logf("deleted branch: %v", err)
	o.push(remote, "main", false)
	if rev = mustFetch(t, s); rev.Hash != rewritten.String() || rev.ForcePushed {
		t.Errorf("Fetch after the branch came back = %s forcePushed %v, want %s", rev.Short, rev.ForcePushed, rewritten)
	}
}

func TestDaemonEmptyRepository(t *testing.T) {
	s := newSource(t, testenv.NewGitRemote(t))
	if _, err := fetch(s); !errors.Is(err, ErrBranchNotFound) {
		t.Fatalf("Fetch of an empty repository: error = %v, want ErrBranchNotFound", err)
	}
}

func TestDaemonUnreachable(t *testing.T) {
	daemon, err := url.Parse(testenv.GitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	remote := testenv.NewGitRemote(t)
	o := newOrigin(t)
	head := o.commit("main", "specs", specFiles)
	o.push(remote, "main", false)
	repoName := strings.TrimPrefix(remote, testenv.GitURL(t))

	t.Run("connection refused until the server listens", func(t *testing.T) {
		addr := closedPort(t)
		s := newSource(t, fmt.Sprintf("git://%s/%s", addr, repoName))
		_, err := fetch(s)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("Fetch from a closed port: error = %v, want ErrUnreachable (connection refused)", err)
		}
		t.Logf("closed port: %v", err)
		forward(t, addr, daemon.Host)
		if rev := mustFetch(t, s); rev.Hash != head.String() {
			t.Errorf("Fetch once reachable = %s, want %s", rev.Short, head)
		}
	})

	t.Run("repository created later", func(t *testing.T) {
		name := testenv.UniqueName(t) + ".git"
		s := newSource(t, testenv.GitURL(t)+name)
		_, err := fetch(s)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Fetch of a missing repository: error = %v, want ErrUnreachable", err)
		}
		t.Logf("missing repository: %v", err)
		dir := filepath.Join(testenv.GitBase(t), name)
		if _, err := git.PlainInit(dir, true); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		o.push(testenv.GitURL(t)+name, "main", false)
		if rev := mustFetch(t, s); rev.Hash != head.String() {
			t.Errorf("Fetch once the repository exists = %s, want %s", rev.Short, head)
		}
	})

	t.Run("server silent past the deadline", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close() // hold it open, say nothing
			}
		}()
		s := newSource(t, fmt.Sprintf("git://%s/%s", l.Addr(), repoName))
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = s.Fetch(ctx)
		if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Fetch from a silent server: error = %v, want ErrUnreachable and DeadlineExceeded", err)
		}
		t.Logf("silent server: %v", err)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Fetch took %v past a 500ms deadline", took)
		}
	})
}

func TestDaemonReclonesDamagedCache(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{name: "truncated pack", damage: func(t *testing.T, dir string) {
			for _, p := range packFiles(t, dir, "*.pack") {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(p, fi.Size()/2); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "garbage pack", damage: func(t *testing.T, dir string) {
			for _, p := range packFiles(t, dir, "*.pack") {
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, p, strings.Repeat("garbage!", int(fi.Size()/8)+1))
			}
		}},
		{name: "garbage pack index", damage: func(t *testing.T, dir string) {
			for _, p := range packFiles(t, dir, "*.idx") {
				writeFile(t, p, "not an index")
			}
		}},
		{name: "packs removed", damage: func(t *testing.T, dir string) {
			for _, p := range packFiles(t, dir, "*") {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{name: "garbage HEAD", damage: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "HEAD"), "ref: \x00garbage\n")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := testenv.NewGitRemote(t)
			o := newOrigin(t)
			first := o.commit("main", "specs", specFiles)
			o.push(remote, "main", false)
			s := newSource(t, remote)
			mustFetch(t, s)
			tt.damage(t, s.dir)
			second := o.commit("main", "more", map[string]entry{"specs/managers.yaml": file(managerYAML), "specs/bridges.yaml": file(bridgeYAML)})
			o.push(remote, "main", false)

			rev := mustFetch(t, s)
			t.Logf("re-clone reason: %s", rev.RecloneReason)
			if !rev.Recloned || rev.RecloneReason == "" {
				t.Errorf("Recloned = %v (%q), want a re-clone with its reason", rev.Recloned, rev.RecloneReason)
			}
			if rev.Hash != second.String() || rev.Previous != first.String() || rev.ForcePushed {
				t.Errorf("Fetch = %s previous %s forcePushed %v, want %s after %s", rev.Short, rev.Previous, rev.ForcePushed, second, first)
			}
			if _, diags, err := s.Load(context.Background(), rev); err != nil || diags.HasErrors() {
				t.Errorf("Load after the re-clone: %v, %v", diags, err)
			}
		})
	}
}

func packFiles(t *testing.T, dir, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "objects", "pack", pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s in the cache %s (%v)", pattern, dir, err)
	}
	return files
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// forward listens on addr and relays every connection to target, the real
// git daemon: the remote "comes back" on the address the Source was given.
func forward(t *testing.T, addr, target string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer d.Close()
				go io.Copy(d, c)
				io.Copy(c, d)
			}()
		}
	}()
}

// BenchmarkLoad measures reading and validating a two-file spec tree from
// the object store.
func BenchmarkLoad(b *testing.B) {
	o := newOrigin(b)
	o.commit("main", "specs", map[string]entry{"specs/managers.yaml": file(managerYAML), "specs/bridges.yaml": file(bridgeYAML)})
	s := newSource(b, o.dir, func(opts *Options) { opts.Path = "specs" })
	rev := mustFetch(b, s)
	for b.Loop() {
		if _, diags, err := s.Load(context.Background(), rev); err != nil || diags.HasErrors() {
			b.Fatal(err, diags)
		}
	}
}
