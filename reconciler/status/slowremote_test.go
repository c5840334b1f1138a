package status

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// TestWriterSlowRemoteKeepsCache: a status remote that stalls, hangs up
// or cuts its answers short is a remote problem: the Writer's cache is
// never wiped for it (only for objects it cannot read), and the next Write
// once the remote answers lands. A remote that hangs up ends the Write at
// once, for the caller's slower retry.
func TestWriterSlowRemoteKeepsCache(t *testing.T) {
	url, dir := newRemote(t)
	proxy := testenv.NewProxy(t, daemonAddr(t))
	logs := newLogCounter()
	w := newTestWriter(t, "git://"+proxy.Addr()+"/"+strings.TrimPrefix(url, testenv.GitURL(t)), func(o *WriterOptions) {
		o.Logger = slog.New(logs)
		o.MaxAttempts = 3
	})
	other := newTestWriter(t, url) // writes past the proxy, so each fetch has a pack to bring
	rev := 1
	write := func(ctx context.Context, w *Writer, node string) error {
		rev++
		files, _ := nodeFiles(t, node, rev)
		_, err := w.Write(ctx, node, files, node+" update")
		return err
	}
	if err := write(ctx(t), w, "edge-1"); err != nil {
		t.Fatal(err)
	}
	cache := cacheInode(t, w.opts.CacheDir)
	kept := func(t *testing.T) {
		t.Helper()
		if n := logs.count("status cache unreadable; wiping it"); n != 0 {
			t.Errorf("the cache was wiped %d times for a remote problem", n)
		}
		if got := cacheInode(t, w.opts.CacheDir); got != cache {
			t.Errorf("the cache %s was replaced (inode %d, was %d)", w.opts.CacheDir, got, cache)
		}
	}

	t.Run("stalled past the deadline", func(t *testing.T) {
		proxy.Stall()
		defer proxy.Resume()
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := write(c, w, "edge-1"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Write through a stalled remote = %v, want the deadline", err)
		}
		kept(t)
	})

	t.Run("hanging up without a word", func(t *testing.T) {
		proxy.HangUp()
		defer proxy.Resume()
		before := proxy.Accepted()
		err := write(ctx(t), w, "edge-1")
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("Write to a remote hanging up = %v, want ErrUnreachable", err)
		}
		t.Logf("hung up: %v", err)
		// The fetch and the early push connection; no retry.
		if n := proxy.Accepted() - before; n > 2 {
			t.Errorf("%d connections for one Write to a remote hanging up, want at most 2 (no retry)", n)
		}
		kept(t)
	})

	t.Run("answers cut short", func(t *testing.T) {
		for _, n := range []int64{3, 200, 600, 1500, 4000} {
			if err := write(ctx(t), other, "edge-2"); err != nil {
				t.Fatal(err)
			}
			proxy.CutAnswers(n)
			err := write(ctx(t), w, "edge-1")
			proxy.Resume()
			t.Logf("cut after %d bytes: %v", n, err)
		}
		kept(t)
	})

	t.Run("recovers", func(t *testing.T) {
		if err := write(ctx(t), w, "edge-1"); err != nil {
			t.Fatalf("Write once the remote answers: %v", err)
		}
		files, _ := nodeFiles(t, "edge-1", rev)
		if got := refFile(t, dir, nodeRef("edge-1"), "status/edge-1.yaml"); got != strings.TrimSpace(string(files["status/edge-1.yaml"])) {
			t.Errorf("status/edge-1.yaml on the node's ref:\n%s\nwant:\n%s", got, files["status/edge-1.yaml"])
		}
		kept(t)
	})
}

func cacheInode(t *testing.T, dir string) uint64 {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
