package ovstest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// cmdTimeout bounds every command, so a hung CLI fails the test that ran it
// instead of stalling the whole run until go test's -timeout.
const cmdTimeout = 60 * time.Second

// sbinDirs are searched after PATH: ovsdb-server and ovs-vswitchd live in
// /usr/sbin, which a non-login PATH may lack.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// lookBin returns the path of the executable name.
func lookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("ovstest: %s not found in PATH nor in %s", name, strings.Join(sbinDirs, ", "))
}

// need skips t unless every named binary is installed (and, with root, the
// test runs as root); when WIREKEEPER_REQUIRE_INTEGRATION=1 it fails t
// instead, as testenv.Lookup does for a missing server.
func need(t testing.TB, root bool, names ...string) {
	t.Helper()
	var problems, missing []string
	for _, n := range names {
		if _, err := lookBin(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, "not installed: "+strings.Join(missing, ", ")+
			" (apt-get install openvswitch-switch iproute2)")
	}
	if root && os.Geteuid() != 0 {
		problems = append(problems, "network namespaces need root")
	}
	if len(problems) == 0 {
		return
	}
	msg := strings.Join(problems, "; ")
	if os.Getenv(testenv.RequireEnv) == "1" {
		t.Fatalf("ovstest: Open vSwitch is required (%s=1) but %s", testenv.RequireEnv, msg)
		return
	}
	t.Skipf("ovstest: skipping, %s; %s=1 makes this a failure", msg, testenv.RequireEnv)
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
func readPID(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("ovstest: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("ovstest: pid file %s: %w", file, err)
	}
	return pid, nil
}

// logTail returns the last n lines of file, for failure messages.
func logTail(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "--- " + file + " (tail)\n" + strings.Join(lines, "\n")
}
