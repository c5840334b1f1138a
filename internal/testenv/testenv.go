// Package testenv tells tests where the real servers started by
// scripts/test-servers.sh listen. Each helper reads one environment variable
// that the script exports. When the variable is unset the test is skipped, or
// fails when WIREKEEPER_REQUIRE_INTEGRATION=1, so `make test` can never pass
// by skipping what it was meant to run.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// RequireEnv names the variable that turns a missing server into a failure.
const RequireEnv = "WIREKEEPER_REQUIRE_INTEGRATION"

// Environment variables exported by scripts/test-servers.sh.
const (
	OVSDBEnv           = "WIREKEEPER_TEST_OVSDB"
	OVSDBTCPEnv        = "WIREKEEPER_TEST_OVSDB_TCP"
	OVSNetnsEnv        = "WIREKEEPER_TEST_OVS_NETNS"
	OVSDB2Env          = "WIREKEEPER_TEST_OVSDB2"
	OVSDB2TCPEnv       = "WIREKEEPER_TEST_OVSDB2_TCP"
	OVS2NetnsEnv       = "WIREKEEPER_TEST_OVS2_NETNS"
	DockerHostEnv      = "WIREKEEPER_TEST_DOCKER_HOST"
	DockerImageEnv     = "WIREKEEPER_TEST_DOCKER_IMAGE"
	AMQPURLEnv         = "WIREKEEPER_TEST_AMQP_URL"
	RabbitMQMgmtURLEnv = "WIREKEEPER_TEST_RABBITMQ_MGMT_URL"
	MySQLDSNEnv        = "WIREKEEPER_TEST_MYSQL_DSN"
	GitURLEnv          = "WIREKEEPER_TEST_GIT_URL"
	GitBaseEnv         = "WIREKEEPER_TEST_GIT_BASE"
	RunDirEnv          = "WIREKEEPER_TEST_RUN_DIR"
	MermaidDirEnv      = "WIREKEEPER_TEST_MERMAID_DIR"
)

// Lookup returns the value of envVar, where the harness publishes how to reach
// server. When envVar is unset it skips t, or fails it when
// WIREKEEPER_REQUIRE_INTEGRATION=1; either way the message names both.
func Lookup(t testing.TB, server, envVar string) string {
	t.Helper()
	if v := os.Getenv(envVar); v != "" {
		return v
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("testenv: %s is required but %s is not set; run `make test` "+
			"(scripts/test-servers.sh run -- go test ./...)", server, envVar)
	} else {
		t.Skipf("testenv: skipping, no %s: %s is not set; run `make test` "+
			"(scripts/test-servers.sh run -- go test ./...) to start it", server, envVar)
	}
	return ""
}

// OVSDB returns host 1's ovsdb-server as a unix: address; its vswitchd has a
// netdev bridge br0.
func OVSDB(t testing.TB) string { t.Helper(); return Lookup(t, "ovsdb-server", OVSDBEnv) }

// OVSDBTCP returns host 1's ovsdb-server as a tcp: address.
func OVSDBTCP(t testing.TB) string { t.Helper(); return Lookup(t, "ovsdb-server", OVSDBTCPEnv) }

// OVSNetns returns the network namespace host 1's ovs-vswitchd runs in, where
// its bridges and internal ports appear as tap devices.
func OVSNetns(t testing.TB) string { t.Helper(); return Lookup(t, "ovs-vswitchd", OVSNetnsEnv) }

// OVSDB2 returns the second host's ovsdb-server as a unix: address.
func OVSDB2(t testing.TB) string { t.Helper(); return Lookup(t, "second ovsdb-server", OVSDB2Env) }

// OVSDB2TCP returns the second host's ovsdb-server as a tcp: address.
func OVSDB2TCP(t testing.TB) string {
	t.Helper()
	return Lookup(t, "second ovsdb-server", OVSDB2TCPEnv)
}

// OVS2Netns returns the network namespace the second host's ovs-vswitchd runs in.
func OVS2Netns(t testing.TB) string {
	t.Helper()
	return Lookup(t, "second ovs-vswitchd", OVS2NetnsEnv)
}

// DockerHost returns the Docker engine's address (also exported as DOCKER_HOST,
// so client.FromEnv finds it).
func DockerHost(t testing.TB) string { t.Helper(); return Lookup(t, "dockerd", DockerHostEnv) }

// DockerImage returns a local busybox image that needs no registry.
func DockerImage(t testing.TB) string { t.Helper(); return Lookup(t, "dockerd", DockerImageEnv) }

// AMQPURL returns RabbitMQ's AMQP URL, with credentials.
func AMQPURL(t testing.TB) string { t.Helper(); return Lookup(t, "RabbitMQ", AMQPURLEnv) }

// RabbitMQMgmtURL returns the RabbitMQ management API's base URL, with
// credentials and without a trailing slash.
func RabbitMQMgmtURL(t testing.TB) string {
	t.Helper()
	return Lookup(t, "RabbitMQ management API", RabbitMQMgmtURLEnv)
}

// MySQLDSN returns a go-sql-driver DSN for MariaDB over TCP, database
// wirekeeper_test, with a user allowed to create tables.
func MySQLDSN(t testing.TB) string { t.Helper(); return Lookup(t, "MariaDB", MySQLDSNEnv) }

// GitURL returns the git daemon's base URL, ending in a slash; a repository
// at GitBase()/NAME is served at GitURL()+NAME.
func GitURL(t testing.TB) string { t.Helper(); return Lookup(t, "git daemon", GitURLEnv) }

// GitBase returns the directory the git daemon serves.
func GitBase(t testing.TB) string { t.Helper(); return Lookup(t, "git daemon", GitBaseEnv) }

// NewGitRemote creates an empty bare repository, default branch main, served
// by the git daemon with push enabled, and returns its URL. The repository is
// removed when t ends.
func NewGitRemote(t testing.TB) string {
	t.Helper()
	base, url := GitBase(t), GitURL(t)
	name := UniqueName(t) + ".git"
	dir := filepath.Join(base, name)
	cmd := exec.Command("git", "init", "-q", "--bare", "-b", "main", dir)
	cmd.Env = gitEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: git init --bare %s: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return url + name
}

// gitEnv is the environment of the git processes testenv runs: the
// machine's git configuration ignored, as scripts/test-servers.sh does.
func gitEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
}

// Git runs the git CLI in dir with the machine's configuration ignored and
// a test identity, as a user pushing specs would, and returns its trimmed
// output; a failure fails t.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.invalid"}, args...)...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// UniqueName returns a name derived from the test's name plus a random suffix,
// made of [a-z0-9_] only, so it is valid as a table, queue or repository name.
func UniqueName(t testing.TB) string {
	t.Helper()
	name := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("testenv: random name: %v", err)
	}
	return name + "_" + hex.EncodeToString(b[:])
}

// GitTripwires returns a directory holding only executables named git,
// git-upload-pack and git-receive-pack that record their command line and
// fail, for a PATH on which running git is caught; ran returns what ran
// ("" when nothing did). The binary runs no process: tests put this
// directory alone on PATH (t.Setenv, or a child's environment) to show it.
func GitTripwires(t testing.TB) (dir string, ran func() string) {
	t.Helper()
	dir = t.TempDir()
	record := filepath.Join(t.TempDir(), "ran")
	for _, name := range []string{"git", "git-upload-pack", "git-receive-pack"} {
		script := "#!/bin/sh\necho \"$0 $*\" >> '" + record + "'\nexit 1\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	return dir, func() string {
		b, err := os.ReadFile(record)
		if err != nil && !os.IsNotExist(err) {
			t.Fatalf("testenv: %v", err)
		}
		return string(b)
	}
}
