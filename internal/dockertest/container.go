package dockertest

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// RunParallel is how many `docker run` RunN keeps in flight.
const RunParallel = 8

// Docker runs `/usr/bin/docker -H Host args...` and returns its standard
// output without surrounding white space; a failure fails t with docker's
// standard error.
func (e *Engine) Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := e.DockerErr(args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// DockerErr is Docker without a test: it returns the error, which names the
// command and carries docker's standard error, instead of failing.
func (e *Engine) DockerErr(args ...string) (string, error) {
	return e.docker(nil, args...)
}

func (e *Engine) docker(stdin io.Reader, args ...string) (string, error) {
	res, err := e.dockerResult(stdin, args...)
	return strings.TrimSpace(res.stdout), err
}

func (e *Engine) dockerResult(stdin io.Reader, args ...string) (result, error) {
	return run(nil, stdin, DockerCLI, append([]string{"-H", e.Host}, args...)...)
}

// Run starts a container named name from Image, with no network but its
// loopback, running `sleep 100000` under docker-init (--init, so that
// `docker stop` and a stopping dockerd end it at once rather than after the
// 10 s that a PID 1 ignoring SIGTERM costs), with extra passed to docker run
// before the image (labels, --restart, ...). It returns the container's full
// ID; t.Cleanup removes the container.
func (e *Engine) Run(t testing.TB, name string, extra ...string) string {
	t.Helper()
	e.removeAtCleanup(t, name)
	id, err := e.run(name, extra)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return id
}

func (e *Engine) run(name string, extra []string) (string, error) {
	args := append([]string{"run", "-d", "--network", "none", "--init", "--name", name}, extra...)
	return e.DockerErr(append(args, e.Image, "sleep", "100000")...)
}

// RunN runs n containers as Run does, named prefix-0 to prefix-(n-1),
// RunParallel at a time, and returns their IDs in that order; t.Cleanup
// removes them all. It is meant for benchmarks.
func (e *Engine) RunN(t testing.TB, prefix string, n int) []string {
	t.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	e.removeAtCleanup(t, names...)
	ids, errs := make([]string, n), make([]error, n)
	sem := make(chan struct{}, RunParallel)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ids[i], errs[i] = e.run(name, nil)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("dockertest: RunN %s 0..%d: %v", prefix, n-1, err)
	}
	return ids
}

// removeAtCleanup removes the named containers, if they still exist, when t
// ends. Nothing is left to remove on a private engine stopped by then: its
// own cleanup deletes the data root.
func (e *Engine) removeAtCleanup(t testing.TB, names ...string) {
	t.Cleanup(func() {
		if !e.Running() {
			return
		}
		const chunk = 100
		for start := 0; start < len(names); start += chunk {
			batch := names[start:min(start+chunk, len(names))]
			res, err := e.dockerResult(nil, append([]string{"rm", "-f"}, batch...)...)
			if err != nil && !onlyNoSuchContainer(res.stderr) {
				t.Errorf("dockertest: cleanup: %v", err)
			}
		}
	})
}

// onlyNoSuchContainer reports whether every line docker rm wrote to standard
// error says the container was already gone.
func onlyNoSuchContainer(stderr string) bool {
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if !strings.Contains(line, "No such container") {
			return false
		}
	}
	return true
}

// Inspect returns `docker inspect -f format name`, trimmed.
func (e *Engine) Inspect(t testing.TB, name, format string) string {
	t.Helper()
	return e.Docker(t, "inspect", "-f", format, name)
}

// PID returns the host PID of the container's first process (State.Pid),
// whose /proc/PID/ns/net is the container's network namespace; it is 0 while
// the container is not running.
func (e *Engine) PID(t testing.TB, name string) int {
	t.Helper()
	s := e.Inspect(t, name, "{{.State.Pid}}")
	pid, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("dockertest: State.Pid of %s: %q: %v", name, s, err)
	}
	return pid
}

// StopContainer runs `docker stop name`; the container's network namespace,
// and every veth end in it, goes with it.
func (e *Engine) StopContainer(t testing.TB, name string) {
	t.Helper()
	e.Docker(t, "stop", name)
}

// StartContainer runs `docker start name`: a new first process, in a new
// network namespace holding only its loopback.
func (e *Engine) StartContainer(t testing.TB, name string) {
	t.Helper()
	e.Docker(t, "start", name)
}

// RestartContainer runs `docker restart name` (stop, then start: a new PID
// and network namespace).
func (e *Engine) RestartContainer(t testing.TB, name string) {
	t.Helper()
	e.Docker(t, "restart", name)
}

// Remove runs `docker rm -f name`, which stops the container first.
func (e *Engine) Remove(t testing.TB, name string) {
	t.Helper()
	e.Docker(t, "rm", "-f", name)
}

// Exec runs cmd in the container with `docker exec` and returns its standard
// output; the error carries its standard error.
func (e *Engine) Exec(t testing.TB, name string, cmd ...string) (string, error) {
	t.Helper()
	return e.DockerErr(append([]string{"exec", name}, cmd...)...)
}

// Ping sends two pings (one second's wait each) from container from to addr
// with the image's ping, and returns nil if a reply came; otherwise an error
// with ping's output.
func (e *Engine) Ping(t testing.TB, from, addr string) error {
	t.Helper()
	res, err := e.dockerResult(nil, "exec", from, "ping", "-c", "2", "-W", "1", addr)
	if err != nil {
		return fmt.Errorf("dockertest: ping %s from %s: %w\n%s", addr, from, err, strings.TrimSpace(res.combined))
	}
	return nil
}
