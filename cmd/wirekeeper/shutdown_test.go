package main

import (
	"bytes"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestRunBinarySIGTERMWithStalledRemote runs the real binary against the
// git daemon through a proxy, makes the remote first hang up (so the
// daemon has a status to push: its source is Unreachable) and then stall,
// with a fetch in flight and the status push retrying, and sends SIGTERM:
// the process exits 0 within the bound `wirekeeper run` promises
// (shutdownBound, asserted with a 2x margin for a loaded machine; the time
// taken is logged). Issue 17 saw 15 of 100 daemons take more than 10 s.
func TestRunBinarySIGTERMWithStalledRemote(t *testing.T) {
	daemon, err := url.Parse(testenv.GitURL(t))
	if err != nil {
		t.Fatal(err)
	}
	remote, work := newSpecRepo(t)
	first := pushSpecs(t, work, runSpecs, "add specs")
	proxy := testenv.NewProxy(t, daemon.Host)
	proxied := "git://" + proxy.Addr() + "/" + strings.TrimPrefix(remote, testenv.GitURL(t))

	logs := &lockedBuffer{}
	cmd := exec.Command(testenv.Binary(t), "run", "--interval", "1h", "--log-format", "json")
	cmd.Env = append(os.Environ(), "WIREKEEPER_REPO="+proxied, "WIREKEEPER_NODE=hv1", "WIREKEEPER_CACHE_DIR="+t.TempDir())
	cmd.Stdout, cmd.Stderr = logs, logs
	must(t, cmd.Start())
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitUntil(t, "the first status", func() bool {
		ns := readStatus(t, remote, "hv1")
		return ns != nil && ns.AppliedRevision == first
	})

	// The remote hangs up: the fetch fails, the source is Unreachable, and
	// the status that says so cannot be pushed.
	proxy.HangUp()
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntilFor(t, "the fetch to fail", time.Minute, func() bool {
		return strings.Contains(logs.String(), `"msg":"cannot fetch the spec branch`)
	}, logs.String)
	if l := logs.String(); !strings.Contains(l, `"reason":"Unreachable"`) || strings.Contains(l, "cloning again") {
		t.Errorf("a remote hanging up is not reported Unreachable, or the cache was cloned again:\n%s", l)
	}

	// Then it stalls, with a fetch in flight.
	proxy.Resume()
	proxy.Stall()
	before := proxy.Accepted()
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "a fetch connected to the stalled remote", func() bool { return proxy.Accepted() > before })

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		took := time.Since(start)
		t.Logf("exited %v after SIGTERM (bound %v)", took.Round(time.Millisecond), shutdownBound)
		if waitErr != nil {
			t.Errorf("exit after SIGTERM: %v\nlogs:\n%s", waitErr, logs.String())
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "deadline") || strings.Contains(line, `"msg":"stopped"`) {
				t.Logf("log: %s", line)
			}
		}
		if !strings.Contains(logs.String(), `"msg":"stopped"`) {
			t.Errorf("the log lacks the stop:\n%s", logs.String())
		}
	case <-time.After(2 * shutdownBound):
		t.Fatalf("no exit within %v of SIGTERM (the promised bound is %v)\nlogs:\n%s", 2*shutdownBound, shutdownBound, logs.String())
	}
}

// lockedBuffer is a log sink a test may read while the process writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hangingProvider is a provider whose Close never returns while held.
type hangingProvider struct {
	*memory.Provider
	held chan struct{}
}

func (p hangingProvider) Close() { <-p.held }

// TestCloseProvidersIsBounded: a provider whose Close hangs (a peer that no
// longer answers) holds the exit for providersCloseTimeout at most, and the
// log says so.
func TestCloseProvidersIsBounded(t *testing.T) {
	p := hangingProvider{Provider: memory.New("test"), held: make(chan struct{})}
	defer close(p.held)
	logs := &lockedBuffer{}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		closeProviders([]reconciler.Provider{p}, slog.New(slog.NewTextHandler(logs, nil)))
		close(done)
	}()
	select {
	case <-done:
		t.Logf("closeProviders returned after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(2 * providersCloseTimeout):
		t.Fatalf("closeProviders still waiting after %v (bound %v)", 2*providersCloseTimeout, providersCloseTimeout)
	}
	if !strings.Contains(logs.String(), "the providers did not close within the shutdown deadline") {
		t.Errorf("log = %q, want the warning", logs.String())
	}
}
