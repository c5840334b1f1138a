package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A push and a fetch through GitInetd are served by real git processes,
// whose CPU time is counted; and 200 clients connecting at once are all
// served, where git daemon's own accept queue holds 5.
func TestGitInetdServesConcurrentClients(t *testing.T) {
	remote := NewGitRemote(t)
	g := NewGitInetd(t)
	url := "git://" + g.Addr() + "/" + filepath.Base(remote)
	work := oneCommit(t)
	Git(t, work, "push", "-q", url, "HEAD:main")
	head := Git(t, work, "rev-parse", "HEAD")
	if got := Git(t, t.TempDir(), "ls-remote", url, "main"); !strings.HasPrefix(got, head) {
		t.Fatalf("ls-remote through git inetd: %q, want %s", got, head)
	}
	if g.Served() != 2 || g.Failed() != 0 {
		t.Errorf("served %d, failed %d; want 2 and 0", g.Served(), g.Failed())
	}
	if g.CPU() <= 0 {
		t.Errorf("CPU of the git processes = %v", g.CPU())
	}

	const clients = 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("git", "ls-remote", url, "main")
			cmd.Env = gitEnv()
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), head) {
				errs <- fmt.Errorf("client %d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if g.Served() != 2+clients {
		t.Errorf("served %d connections, want %d", g.Served(), 2+clients)
	}
}

// oneCommit returns a new clone holding one commit, on branch main, of
// one file.
func oneCommit(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	Git(t, work, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(work, "f"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	Git(t, work, "add", "f")
	Git(t, work, "commit", "-q", "-m", "one")
	return work
}
