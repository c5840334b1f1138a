package ovstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// cmdTimeout bounds every command, so a hung CLI fails the test that ran it
// instead of stalling the whole run until go test's -timeout.
const cmdTimeout = 60 * time.Second

// lookBin returns the path of the executable name.
func lookBin(name string) (string, error) { return testenv.LookBin(name) }

// need skips t unless every named binary is installed (and, with root, the
// test runs as root); when WIREKEEPER_REQUIRE_INTEGRATION=1 it fails t
// instead.
func need(t testing.TB, root bool, names ...string) {
	t.Helper()
	testenv.NeedBins(t, "ovstest: Open vSwitch", "apt-get install openvswitch-switch iproute2", root, names...)
}

// command runs name with args, env added to this process's environment, and
// returns its standard output. The error names the command and carries its
// standard error.
func command(env []string, name string, args ...string) (string, error) {
	path, err := lookBin(name)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	// A daemon started with --detach must not keep the test waiting on our
	// pipes should it hold them open.
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ovstest: %s %s: %w: %s",
			name, shorten(strings.Join(args, " ")), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// shorten keeps error messages about bulk commands readable.
func shorten(s string) string {
	const max = 400
	if len(s) <= max {
		return s
	}
	return s[:max/2] + fmt.Sprintf(" ...(%d bytes)... ", len(s)-max) + s[len(s)-max/2:]
}

// alive reports whether pid runs and is not a zombie (daemons started with
// --detach are reparented, and their new parent may not reap them at once).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// waitGone polls until pid has exited or d has passed, and reports whether
// it exited.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// endProcess gives pid grace to exit by itself, then sends SIGTERM, then
// SIGKILL, as scripts/test-servers/proc.sh's end_pid does.
func endProcess(pid int, grace time.Duration) error {
	if waitGone(pid, grace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitGone(pid, 10*time.Second) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(pid, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("ovstest: pid %d survived SIGKILL", pid)
}

// readPID reads a daemon's pid file.
func readPID(file string) (int, error) { return testenv.ReadPID(file) }

// logTail returns the last n lines of file, for failure messages.
func logTail(file string, n int) string { return testenv.LogTail(file, n) }
