package dockertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// DockerCLI is the Docker client every helper runs: Debian's docker.io CLI,
// which matches the engine (20.10, API 1.41).
const DockerCLI = "/usr/bin/docker"

// cmdTimeout bounds every command, so a hung CLI fails the test that ran it
// instead of stalling the whole run until go test's -timeout.
const cmdTimeout = 60 * time.Second

// lookBin returns the path of the executable name; a name with a slash is
// taken as a path.
func lookBin(name string) (string, error) { return testenv.LookBin(name) }

// need skips t unless every named binary is installed (and, with root, the
// test runs as root); when WIREKEEPER_REQUIRE_INTEGRATION=1 it fails t
// instead.
func need(t testing.TB, root bool, names ...string) {
	t.Helper()
	testenv.NeedBins(t, "dockertest: Docker", "apt-get install docker.io busybox-static openvswitch-switch iproute2 util-linux uuid-runtime", root, names...)
}

// result is what a finished command printed.
type result struct {
	stdout, stderr, combined string
}

// run runs name with args, env added to this process's environment (a later
// entry wins), and stdin if not nil. The error names the command and carries
// its standard error.
func run(env []string, stdin io.Reader, name string, args ...string) (result, error) {
	path, err := lookBin(name)
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdin = stdin
	// A container or daemon that inherited our pipes must not keep the
	// test waiting past the command's own exit.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	var combined lockedBuffer
	cmd.Stdout = io.MultiWriter(&stdout, &combined)
	cmd.Stderr = io.MultiWriter(&stderr, &combined)
	err = cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String(), combined: combined.String()}
	if err != nil {
		return res, fmt.Errorf("dockertest: %s %s: %w: %s",
			name, shorten(strings.Join(args, " ")), err, strings.TrimSpace(res.stderr))
	}
	return res, nil
}

// lockedBuffer interleaves standard output and error as they come: exec
// copies each from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// shorten keeps error messages about bulk commands readable.
func shorten(s string) string {
	const max = 400
	if len(s) <= max {
		return s
	}
	return s[:max/2] + fmt.Sprintf(" ...(%d bytes)... ", len(s)-max) + s[len(s)-max/2:]
}

// WaitFor polls check every 50 ms until it returns nil, and fails t with
// what and check's last error once timeout has passed.
func WaitFor(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	if err := poll(timeout, check); err != nil {
		t.Fatalf("dockertest: %s not within %v: %v", what, timeout, err)
	}
}

// poll calls check until it returns nil or timeout has passed, and returns
// check's last error.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logTail returns the last n lines of file, for failure messages.
func logTail(file string, n int) string { return testenv.LogTail(file, n) }
