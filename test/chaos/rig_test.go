package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// full reports whether the full suite runs (make chaos).
func full() bool { return os.Getenv("WIREKEEPER_CHAOS") == "full" }

// binary is the wirekeeper binary, built once for the package.
func binary(t *testing.T) string { return testenv.Binary(t) }

// repo is a spec repository on the harness's git daemon, with a working copy.
type repo struct {
	t      *testing.T
	remote string
	work   string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	r := &repo{t: t, remote: testenv.NewGitRemote(t), work: t.TempDir()}
	testenv.Git(t, r.work, "init", "-q", "-b", "main")
	testenv.Git(t, r.work, "remote", "add", "origin", r.remote)
	return r
}

// push commits files (path -> content; "" removes it) and pushes; it
// returns the commit.
func (r *repo) push(msg string, files map[string]string) string {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.work, p)
		if content == "" {
			os.Remove(full)
			continue
		}
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	testenv.Git(r.t, r.work, "add", "-A")
	testenv.Git(r.t, r.work, "commit", "-q", "--allow-empty", "-m", msg+"\n\nwirekeeper: allow-prune")
	testenv.Git(r.t, r.work, "push", "-q", "origin", "HEAD:main")
	return testenv.Git(r.t, r.work, "rev-parse", "HEAD")
}

// daemon is one `wirekeeper run` process of node on repo, restartable.
type daemon struct {
	t     *testing.T
	node  string
	repo  *repo
	cache string
	args  []string
	cmd   *exec.Cmd
	log   *os.File
}

func newDaemon(t *testing.T, node string, r *repo, args ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, node: node, repo: r, cache: t.TempDir(), args: args}
	var err error
	if d.log, err = os.Create(filepath.Join(t.TempDir(), node+".log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			b, _ := os.ReadFile(d.log.Name())
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			t.Logf("daemon log of %s (tail):\n%s", node, strings.Join(lines[max(0, len(lines)-25):], "\n"))
		}
	})
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	args := append([]string{"run", "--repo", d.repo.remote, "--node", d.node, "--cache-dir", d.cache, "--log-format", "json"}, d.args...)
	d.cmd = exec.Command(binary(d.t), args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
}

// kill SIGKILLs the daemon, as the kernel's OOM killer or a power cut would.
func (d *daemon) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGKILL)
		d.cmd.Wait()
		d.cmd = nil
	}
}

// status reads the node's status from the status branch.
func (d *daemon) status() *reconciler.NodeStatus {
	w, err := status.NewWriter(status.WriterOptions{URL: d.repo.remote, CacheDir: d.t.TempDir()})
	if err != nil {
		d.t.Fatal(err)
	}
	files, err := w.Read(context.Background(), d.node)
	if err != nil || len(files) == 0 {
		return nil
	}
	ns, err := status.Parse(d.node, files)
	if err != nil {
		d.t.Fatalf("status of %s: %v", d.node, err)
	}
	return ns
}

// waitReady waits until the status shows rev applied with n objects, all Ready.
func (d *daemon) waitReady(rev string, n int, timeout time.Duration) {
	d.t.Helper()
	waitFor(d.t, fmt.Sprintf("%s Ready on %s", d.node, reconciler.ShortHash(rev)), timeout, func() bool {
		ns := d.status()
		return ns != nil && ns.AppliedRevision == rev && len(ns.Objects) == n && ns.Counts()[reconciler.PhaseReady] == n
	})
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
