package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sbinDirs are searched after PATH: daemons (ovsdb-server, dockerd,
// mariadbd) live in /usr/sbin, which a non-login PATH may lack.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// LookBin returns the path of the executable name, from PATH or the sbin
// directories; a name with a slash is taken as a path.
func LookBin(name string) (string, error) {
	executable := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
	}
	if strings.Contains(name, "/") {
		if executable(name) {
			return name, nil
		}
		return "", fmt.Errorf("testenv: %s is not an executable file", name)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		if p := filepath.Join(d, name); executable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("testenv: %s not found in PATH nor in %s", name, strings.Join(sbinDirs, ", "))
}

// NeedBins skips t unless every named binary is installed (and, with
// root, the test runs as root); when WIREKEEPER_REQUIRE_INTEGRATION=1 it
// fails t instead, as Lookup does for a missing server. what prefixes the
// message ("ovstest: Open vSwitch"), install says how to get the binaries
// ("apt-get install openvswitch-switch").
func NeedBins(t testing.TB, what, install string, root bool, names ...string) {
	t.Helper()
	var problems, missing []string
	for _, n := range names {
		if _, err := LookBin(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, "not installed: "+strings.Join(missing, ", ")+" ("+install+")")
	}
	if root && os.Geteuid() != 0 {
		problems = append(problems, "the test needs root (network namespaces, daemons)")
	}
	if len(problems) == 0 {
		return
	}
	msg := strings.Join(problems, "; ")
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s is required (%s=1) but %s", what, RequireEnv, msg)
		return
	}
	t.Skipf("%s: skipping, %s; %s=1 makes this a failure", what, msg, RequireEnv)
}

// ReadPID reads a daemon's pid file.
func ReadPID(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("testenv: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("testenv: pid file %s: %w", file, err)
	}
	return pid, nil
}

// LogTail returns the last n lines of file, headed by its name, for
// failure messages.
func LogTail(file string, n int) string {
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

// Mermaid returns the path of node and the directory whose node_modules
// hold the mermaid and jsdom packages that scripts/test-servers.sh installs
// (pinned in scripts/test-servers/mermaid/), for tests that parse diagrams
// with the real Mermaid. When either is missing it skips t, or fails it
// when WIREKEEPER_REQUIRE_INTEGRATION=1, naming what is missing.
func Mermaid(t testing.TB) (node, dir string) {
	t.Helper()
	var missing []string
	node, err := LookBin("node")
	if err != nil {
		missing = append(missing, "node (apt-get install nodejs)")
	}
	dir = os.Getenv(MermaidDirEnv)
	if dir == "" {
		missing = append(missing, "mermaid and jsdom: "+MermaidDirEnv+" is not set")
	} else {
		for _, pkg := range []string{"mermaid", "jsdom"} {
			if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
				missing = append(missing, pkg+" (not in "+filepath.Join(dir, "node_modules")+")")
			}
		}
	}
	if len(missing) == 0 {
		return node, dir
	}
	msg := "the real Mermaid parser needs " + strings.Join(missing, "; ") +
		"; scripts/test-servers.sh install puts them in place and start exports " + MermaidDirEnv
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("testenv: %s is required (%s=1) but %s", "Mermaid", RequireEnv, msg)
	} else {
		t.Skipf("testenv: skipping, %s", msg)
	}
	return "", ""
}
