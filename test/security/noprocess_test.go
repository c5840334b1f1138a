package security

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// TestBinaryStartsNoGit runs the real binary, `wirekeeper demo` and
// `wirekeeper run` on a file:// repository (fetching specs and pushing its
// status branch), with nothing on PATH but tripwires named git,
// git-upload-pack and git-receive-pack. Both must succeed and no tripwire
// may run: go-git's own file transport would run git-upload-pack and
// git-receive-pack, which TestNoShellOutsInTheBinary cannot see, since it
// reads only this module's packages.
func TestBinaryStartsNoGit(t *testing.T) {
	bin := testenv.Binary(t)
	// noGit returns the child's environment, whose PATH holds only
	// tripwires, and fails t at its end if one ran.
	noGit := func(t *testing.T, what string) []string {
		tripwires, ran := testenv.GitTripwires(t)
		t.Cleanup(func() {
			if got := ran(); got != "" {
				t.Errorf("%s ran git programs:\n%s", what, got)
			}
		})
		return []string{"PATH=" + tripwires, "HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir()}
	}

	t.Run("demo", func(t *testing.T) {
		env := noGit(t, "wirekeeper demo")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "demo")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("wirekeeper demo: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "What the daemon committed to branch wirekeeper/status") {
			t.Errorf("the demo did not show its status commits:\n%s", out)
		}
	})

	t.Run("run on a file:// repository", func(t *testing.T) {
		env := noGit(t, "wirekeeper run")
		repo := specRepository(t)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		var logs syncBuffer
		cmd := exec.CommandContext(ctx, bin, "run", "--repo", "file://"+repo, "--node", "hv1",
			"--cache-dir", t.TempDir(), "--interval", "1h")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		commit := waitForStatusCommit(t, ctx, repo, exited, &logs)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := <-exited; err != nil {
			t.Errorf("wirekeeper run after SIGTERM: %v\n%s", err, logs.String())
		}
		if _, err := commit.File("status/hv1.yaml"); err != nil {
			t.Errorf("the status commit %s lacks status/hv1.yaml: %v", commit.Hash, err)
		}
	})
}

// specRepository makes a bare repository whose main branch holds a spec for
// node hv1 (an OVS manager that does not answer: its status is pushed all
// the same), with the git CLI, as a user would.
func specRepository(t *testing.T) string {
	t.Helper()
	work, repo := t.TempDir(), filepath.Join(t.TempDir(), "specs.git")
	spec := `apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs1}
spec: {node: hv1, address: "unix:` + filepath.Join(work, "no-ovsdb.sock") + `"}
`
	if err := os.WriteFile(filepath.Join(work, "ovs.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, work, "init", "-q", "-b", "main")
	testenv.Git(t, work, "add", "ovs.yaml")
	testenv.Git(t, work, "commit", "-q", "-m", "specs")
	testenv.Git(t, "", "clone", "-q", "--bare", work, repo)
	return repo
}

// waitForStatusCommit waits until branch wirekeeper/status of repo holds a
// commit, and returns it; the daemon exiting first, or ctx ending, fails t.
func waitForStatusCommit(t *testing.T, ctx context.Context, repo string, exited <-chan error, logs *syncBuffer) *object.Commit {
	t.Helper()
	for {
		if r, err := git.PlainOpen(repo); err == nil {
			if ref, err := r.Reference(plumbing.NewBranchReferenceName("wirekeeper/status"), true); err == nil {
				c, err := r.CommitObject(ref.Hash())
				if err != nil {
					t.Fatalf("status commit %s: %v", ref.Hash(), err)
				}
				return c
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("wirekeeper run exited before its first status commit: %v\n%s", err, logs.String())
		case <-ctx.Done():
			t.Fatalf("no status commit before the deadline: %v\nlogs:\n%s", ctx.Err(), logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// syncBuffer is a bytes.Buffer that the child's output goroutine and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
