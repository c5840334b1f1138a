package source

// A remote that is slow, stalled or hanging up is a remote problem: the
// cache it would take minutes to clone again stays, the error says the
// remote is unreachable, and the next fetch once the remote answers again
// is incremental. Issue 17 saw "the cache is damaged; cloning again",
// reason "fetch failed: timeout exceeded", 173 times on a loaded remote.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

func TestDaemonSlowRemoteKeepsCache(t *testing.T) {
	daemon, err := url.Parse(testenv.GitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	remote := testenv.NewGitRemote(t)
	o := newOrigin(t)
	first := o.commit("main", "specs", specFiles)
	o.push(remote, "main", false)
	proxy := testenv.NewProxy(t, daemon.Host)
	clones := &cloneCounter{}
	s := newSource(t, "git://"+proxy.Addr()+"/"+strings.TrimPrefix(remote, testenv.GitURL(t)), func(opts *Options) {
		opts.Logger = slog.New(clones)
	})
	mustFetch(t, s)
	cache := inode(t, s.dir)
	packs := packFiles(t, s.dir, "*.pack")

	// kept checks that the cache is the one first cloned, objects and all.
	kept := func(t *testing.T) {
		t.Helper()
		if n := clones.n.Load(); n != 1 {
			t.Errorf("%d clones, want 1: the cache was cloned again for a remote problem", n)
		}
		if got := inode(t, s.dir); got != cache {
			t.Errorf("the cache %s was replaced (inode %d, was %d)", s.dir, got, cache)
		}
		for _, p := range packs {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("pack of the first clone: %v", err)
			}
		}
	}

	t.Run("stalled past the deadline", func(t *testing.T) {
		proxy.Stall()
		defer proxy.Resume()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rev, err := s.Fetch(ctx)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Fetch through a stalled remote = %v, %v; want ErrUnreachable", rev, err)
		}
		t.Logf("stalled: %v", err)
		kept(t)
	})

	t.Run("hanging up without a word", func(t *testing.T) {
		// What git daemon does past --max-connections, and what a loaded
		// proxy or load balancer does: accept, then close.
		proxy.HangUp()
		defer proxy.Resume()
		before := proxy.Accepted()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rev, err := s.Fetch(ctx)
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("Fetch from a remote hanging up = %v, %v; want ErrUnreachable", rev, err)
		}
		t.Logf("hung up: %v", err)
		if n := proxy.Accepted() - before; n != 1 {
			t.Errorf("%d connections for one Fetch, want 1 (no clone attempt after the fetch)", n)
		}
		kept(t)
	})

	t.Run("answer cut short", func(t *testing.T) {
		for _, n := range []int64{3, 200} { // inside the first pkt-line; inside the refs
			proxy.CutAnswers(n)
			rev, err := s.Fetch(context.Background())
			proxy.Resume()
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("Fetch of an answer cut after %d bytes = %v, %v; want ErrUnreachable", n, rev, err)
			}
			t.Logf("cut after %d bytes: %v", n, err)
		}
		kept(t)
	})

	t.Run("stalled fetch cancelled", func(t *testing.T) {
		proxy.Stall()
		defer proxy.Resume()
		before := proxy.Accepted()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := s.Fetch(ctx); done <- err }()
		waitFor(t, "the fetch to connect", func() bool { return proxy.Accepted() > before })
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Fetch = %v, want context.Canceled", err)
		}
		kept(t)
	})

	t.Run("recovers incrementally", func(t *testing.T) {
		second := o.commit("main", "more", map[string]entry{"specs/managers.yaml": file(managerYAML), "specs/bridges.yaml": file(bridgeYAML)})
		o.push(remote, "main", false)
		rev := mustFetch(t, s)
		if rev.Hash != second.String() || rev.Previous != first.String() || rev.Recloned {
			t.Errorf("Fetch once the remote answers = %s previous %s recloned %v (%s), want %s after %s, not recloned",
				rev.Short, rev.Previous, rev.Recloned, rev.RecloneReason, second, first)
		}
		kept(t)
	})

	t.Run("a damaged cache is still cloned again", func(t *testing.T) {
		for _, p := range packFiles(t, s.dir, "*.pack") {
			if err := os.Truncate(p, 20); err != nil {
				t.Fatal(err)
			}
		}
		third := o.commit("main", "third", map[string]entry{"specs/managers.yaml": file(managerYAML + "# third\n")})
		o.push(remote, "main", false)
		rev := mustFetch(t, s)
		if !rev.Recloned || rev.Hash != third.String() {
			t.Errorf("Fetch of a damaged cache = %s recloned %v, want %s, recloned", rev.Short, rev.Recloned, third)
		}
		t.Logf("re-clone reason: %s", rev.RecloneReason)
		if n := clones.n.Load(); n != 2 {
			t.Errorf("%d clones, want 2", n)
		}
	})
}

// cloneCounter is a slog handler counting the source's "cloned" events.
type cloneCounter struct{ n atomic.Int64 }

func (c *cloneCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *cloneCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "source: cloned" {
		c.n.Add(1)
	}
	return nil
}
func (c *cloneCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *cloneCounter) WithGroup(string) slog.Handler      { return c }

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// waitFor polls cond until it holds, failing t after a generous minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRemoteHungUp: go-git's report of a remote that closed the connection
// without answering is recognised however it is wrapped.
func TestRemoteHungUp(t *testing.T) {
	hangUp := errors.New(goGitHangUp)
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{hangUp, true},
		{fmt.Errorf("fetch main: %w", hangUp), true},
		{fmt.Errorf("source: fetch: %w: %w", ErrUnreachable, hangUp), true},
		{errors.New("status: " + goGitHangUp), false},
		{context.DeadlineExceeded, false},
	} {
		if got := RemoteHungUp(tt.err); got != tt.want {
			t.Errorf("RemoteHungUp(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
