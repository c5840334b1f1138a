package status

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// runGit runs the git CLI against a repository, isolated from the user's config.
func runGit(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	out, err := gitCmd(dir, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitTry runs git and reports whether it succeeded.
func gitTry(dir string, args ...string) (string, bool) {
	out, err := gitCmd(dir, args...).Output()
	return strings.TrimSpace(string(out)), err == nil
}

func gitCmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command("git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.org"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1", "TZ=UTC")
	return cmd
}

// newRemote returns a fresh repository served by the git daemon: its URL
// and its directory on disk, for checking what landed.
func newRemote(tb testing.TB) (url, dir string) {
	tb.Helper()
	url = testenv.NewGitRemote(tb)
	return url, filepath.Join(testenv.GitBase(tb), strings.TrimPrefix(url, testenv.GitURL(tb)))
}

// newTestWriter makes a Writer with its own cache and a fixed clock.
func newTestWriter(tb testing.TB, url string, mod ...func(*WriterOptions)) *Writer {
	tb.Helper()
	opts := WriterOptions{
		URL:      url,
		CacheDir: filepath.Join(tb.TempDir(), "cache"),
		Now:      func() time.Time { return at("2024-05-01T12:00:00Z") },
		Logger:   slog.New(slog.DiscardHandler),
	}
	for _, m := range mod {
		m(&opts)
	}
	w, err := NewWriter(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// nodeFiles renders a small status of node whose applied revision is rev.
func nodeFiles(tb testing.TB, node string, rev int) (Files, *reconciler.NodeStatus) {
	tb.Helper()
	ns := &reconciler.NodeStatus{
		Node: node, Branch: "main", AppliedRevision: fmt.Sprintf("%040x", rev),
		Objects: []reconciler.ObjectStatus{{Kind: "Bridge", Name: node + "-br", Phase: reconciler.PhaseReady}},
	}
	files, err := Render(ns, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return files, ns
}

// branchFile is a file's content on the status branch of the remote.
func branchFile(tb testing.TB, dir, path string) string {
	tb.Helper()
	return runGit(tb, dir, "show", DefaultBranch+":"+path)
}

// nodeRef is the ref a node's status is written to with the default prefix.
func nodeRef(node string) string { return DefaultRefPrefix + node }

// refFile is a file's content at a ref of the remote.
func refFile(tb testing.TB, dir, ref, path string) string {
	tb.Helper()
	return runGit(tb, dir, "show", ref+":"+path)
}

// legacyWrite writes node's files to the status branch the way daemons of
// the versions before node refs did: a commit on the branch head with
// exactly these files replaced, pushed without force, rebuilt on the new
// head when the push is refused. It runs the git CLI in a scratch
// repository and returns the commit that landed.
func legacyWrite(tb testing.TB, url, node string, files Files, message string) string {
	tb.Helper()
	work := tb.TempDir()
	runGit(tb, work, "init", "-q", "--bare")
	for attempt := 1; attempt <= 50; attempt++ {
		_, ok := gitTry(work, "fetch", "-q", url, "+refs/heads/"+DefaultBranch+":refs/heads/base")
		args := []string{"commit-tree", "-m", message}
		env := append(os.Environ(), "GIT_INDEX_FILE="+filepath.Join(work, "legacy-index"))
		os.Remove(filepath.Join(work, "legacy-index"))
		if ok {
			runGitEnv(tb, work, env, "read-tree", "base")
			args = append(args, "-p", "base")
		} else {
			runGitEnv(tb, work, env, "read-tree", "--empty")
		}
		for _, p := range Paths(node) {
			data, ok := files[p]
			if !ok {
				continue
			}
			blob := runGitInput(tb, work, data, "hash-object", "-w", "--stdin")
			runGitEnv(tb, work, env, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+p)
		}
		tree := runGitEnv(tb, work, env, "write-tree")
		commit := runGit(tb, work, append(args, tree)...)
		if _, ok := gitTry(work, "push", "-q", url, commit+":refs/heads/"+DefaultBranch); ok {
			return commit
		}
	}
	tb.Fatalf("legacy write of %s never landed", node)
	return ""
}

func runGitEnv(tb testing.TB, dir string, env []string, args ...string) string {
	tb.Helper()
	cmd := gitCmd(dir, args...)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func runGitInput(tb testing.TB, dir string, in []byte, args ...string) string {
	tb.Helper()
	cmd := gitCmd(dir, args...)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return c
}

// logCounter is a slog handler that counts records by message, and keeps
// the highest "attempts" a Write reported.
type logCounter struct {
	mu          sync.Mutex
	counts      map[string]int
	maxAttempts int
	errors      []string // the errors of retried attempts
}

func newLogCounter() *logCounter { return &logCounter{counts: map[string]int{}} }

func (c *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCounter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCounter) WithGroup(string) slog.Handler            { return c }
func (c *logCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[r.Message]++
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "attempts":
			c.maxAttempts = max(c.maxAttempts, int(a.Value.Int64()))
		case "error":
			c.errors = append(c.errors, a.Value.String())
		}
		return true
	})
	return nil
}

func (c *logCounter) count(msg string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[msg]
}

// relay forwards TCP connections to the git daemon, so a test can make the
// remote unreachable and reachable again on the same address. With broken
// set it accepts connections and drops them at once.
type relay struct {
	ln     net.Listener
	target string
	broken bool
	wg     sync.WaitGroup
}

func startRelay(tb testing.TB, addr, target string, broken bool) *relay {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("relay: %v", err)
	}
	r := &relay{ln: ln, target: target, broken: broken}
	r.wg.Add(1)
	go r.serve()
	tb.Cleanup(r.close)
	return r
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		if r.broken {
			c.Close()
			continue
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer c.Close()
			up, err := net.Dial("tcp", r.target)
			if err != nil {
				return
			}
			defer up.Close()
			done := make(chan struct{}, 2)
			go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

func (r *relay) close() {
	r.ln.Close()
	r.wg.Wait()
}

// daemonAddr is the git daemon's host:port.
func daemonAddr(tb testing.TB) string {
	tb.Helper()
	u := strings.TrimSuffix(strings.TrimPrefix(testenv.GitURL(tb), "git://"), "/")
	return u
}
