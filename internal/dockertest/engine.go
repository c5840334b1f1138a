package dockertest

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// Image is the name Start gives the busybox image it imports, the same as
// the harness's (scripts/test-servers/docker.sh).
const Image = "local/busybox:test"

// busybox is the static busybox (Debian's busybox-static) that becomes the
// image's only binary.
const busybox = "/bin/busybox"

// startTimeout bounds how long dockerd may take to answer `docker version`.
const startTimeout = 30 * time.Second

// Engine is one Docker engine that tests run containers on. Its methods may
// be called from several goroutines, except Stop, Start and Restart.
type Engine struct {
	// Host is the engine's address for docker -H, "unix:///.../docker.sock".
	Host string
	// Image is a busybox image the engine holds, which needs no registry.
	Image string
	// Dir holds a private engine's data root, exec root, socket, pid file
	// and log (dockerd.log); it is "" for the shared engine.
	Dir string

	shared bool
	shim   string // a directory holding only a docker symlink to DockerCLI

	mu     sync.Mutex
	proc   *os.Process   // the running dockerd, nil while stopped
	exited chan struct{} // closed once proc has been reaped
}

// Shared returns the harness's dockerd (testenv.DockerHost, with
// testenv.DockerImage). Every test of the run uses it: Stop, Start and
// Restart fail t on it. A missing harness or docker CLI skips t, or fails it
// when WIREKEEPER_REQUIRE_INTEGRATION=1.
func Shared(t testing.TB) *Engine {
	t.Helper()
	host, image := testenv.DockerHost(t), testenv.DockerImage(t)
	need(t, false, DockerCLI)
	e := &Engine{Host: host, Image: image, shared: true}
	e.shim = makeShim(t)
	return e
}

// Start starts a private dockerd for t in a new directory under /tmp, with
// the flags of scripts/test-servers/docker.sh (vfs storage, no bridge
// network, no iptables, its own data root, exec root, pid file and socket),
// and imports Image from /bin/busybox. t.Cleanup removes its containers,
// stops it and removes Dir. A missing dockerd, docker CLI or busybox skips t,
// or fails it when WIREKEEPER_REQUIRE_INTEGRATION=1.
func Start(t testing.TB) *Engine {
	t.Helper()
	need(t, true, "dockerd", DockerCLI, busybox)
	// Not t.TempDir(): its path grows with the test's name, and dockerd's
	// socket (and containerd's under exec/) must fit in a sockaddr_un.
	dir, err := os.MkdirTemp("/tmp", "wkd-")
	if err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	e := &Engine{Host: "unix://" + filepath.Join(dir, "docker.sock"), Image: Image, Dir: dir}
	t.Cleanup(func() { e.cleanup(t) })
	e.shim = makeShim(t)
	if err := os.WriteFile(e.path("daemon.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	if err := e.startDaemon(); err != nil {
		t.Fatalf("%v", err)
	}
	// Build the image while dockerd starts.
	rootfs, err := busyboxTar()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := e.waitReady(); err != nil {
		t.Fatalf("%v\n%s", err, logTail(e.path("dockerd.log"), 20))
	}
	if _, err := e.docker(bytes.NewReader(rootfs), "import", "-c", `CMD ["/bin/sh"]`, "-", Image); err != nil {
		t.Fatalf("%v", err)
	}
	return e
}

// Stop stops the private dockerd (SIGTERM, which stops its containers, then
// SIGKILL after 30 s) and waits for it to exit. Containers stay in the data
// root; those run with a restart policy come back with Start.
func (e *Engine) Stop(t testing.TB) {
	t.Helper()
	e.mustBePrivate(t, "Stop")
	if err := e.stopDaemon(); err != nil {
		t.Fatalf("%v\n%s", err, logTail(e.path("dockerd.log"), 20))
	}
}

// Start starts the private dockerd again on the same data root and socket,
// and returns once `docker version` answers; it fails t if dockerd runs
// already.
func (e *Engine) Start(t testing.TB) {
	t.Helper()
	e.mustBePrivate(t, "Start")
	if e.Running() {
		t.Fatalf("dockertest: Start: dockerd runs already (pid %d)", e.pid())
	}
	err := e.startDaemon()
	if err == nil {
		err = e.waitReady()
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, logTail(e.path("dockerd.log"), 20))
	}
}

// Restart stops the private dockerd and starts it again.
func (e *Engine) Restart(t testing.TB) {
	t.Helper()
	e.Stop(t)
	e.Start(t)
}

// Running reports whether this private engine's dockerd runs now; it is
// always true for the shared engine.
func (e *Engine) Running() bool {
	if e.shared {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.proc != nil
}

func (e *Engine) pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.proc == nil {
		return 0
	}
	return e.proc.Pid
}

func (e *Engine) mustBePrivate(t testing.TB, method string) {
	t.Helper()
	if e.shared {
		t.Fatalf("dockertest: %s on the shared harness's dockerd (%s): "+
			"tests must not stop shared servers; use dockertest.Start", method, e.Host)
	}
}

func (e *Engine) path(name string) string { return filepath.Join(e.Dir, name) }

// startDaemon starts dockerd in the background, its output appended to
// dockerd.log, in a session of its own as docker.sh's setsid does.
func (e *Engine) startDaemon() error {
	bin, err := lookBin("dockerd")
	if err != nil {
		return err
	}
	log, err := os.OpenFile(e.path("dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("dockertest: %w", err)
	}
	cmd := exec.Command(bin, "--config-file", e.path("daemon.json"),
		"--data-root", e.path("root"), "--exec-root", e.path("exec"),
		"-H", e.Host, "--pidfile", e.path("dockerd.pid"), "--storage-driver", "vfs",
		"--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
		"--bridge=none")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("dockertest: starting dockerd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(exited)
	}()
	e.mu.Lock()
	e.proc, e.exited = cmd.Process, exited
	e.mu.Unlock()
	return nil
}

// waitReady polls `docker version` until dockerd answers, and gives up
// early should dockerd exit.
func (e *Engine) waitReady() error {
	e.mu.Lock()
	exited := e.exited
	e.mu.Unlock()
	var gone bool
	err := poll(startTimeout, func() error {
		select {
		case <-exited:
			gone = true
			return nil
		default:
		}
		_, err := e.DockerErr("version", "--format", "{{.Server.Version}}")
		return err
	})
	if gone {
		e.mu.Lock()
		e.proc = nil
		e.mu.Unlock()
		return fmt.Errorf("dockertest: dockerd on %s exited while starting", e.Host)
	}
	if err != nil {
		return fmt.Errorf("dockertest: dockerd on %s not ready within %v: %w", e.Host, startTimeout, err)
	}
	return nil
}

// stopDaemon sends SIGTERM, waits, then SIGKILLs; it also ends the
// containerd that dockerd started should it outlive dockerd.
func (e *Engine) stopDaemon() error {
	e.mu.Lock()
	proc, exited := e.proc, e.exited
	e.proc = nil
	e.mu.Unlock()
	if proc == nil {
		return nil
	}
	var errs []error
	_ = proc.Signal(syscall.SIGTERM)
	// dockerd gives its containers --shutdown-timeout (15 s) to stop.
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = proc.Kill()
		select {
		case <-exited:
			errs = append(errs, fmt.Errorf("dockertest: dockerd pid %d needed SIGKILL", proc.Pid))
		case <-time.After(5 * time.Second):
			return fmt.Errorf("dockertest: dockerd pid %d survived SIGKILL", proc.Pid)
		}
	}
	errs = append(errs, e.endContainerd())
	return errors.Join(errs...)
}

// endContainerd ends the containerd that dockerd supervises, if it is still
// alive once dockerd is gone (as after dockerd's SIGKILL).
func (e *Engine) endContainerd() error {
	b, err := os.ReadFile(e.path("exec/containerd/containerd.pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return nil
	}
	// Only a containerd of this engine: the pid may have been reused.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(e.Dir+"/")) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if poll(10*time.Second, func() error { return alive(pid) }) == nil {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if err := poll(5*time.Second, func() error { return alive(pid) }); err != nil {
		return fmt.Errorf("dockertest: containerd pid %d survived SIGKILL", pid)
	}
	return nil
}

// alive returns an error while pid runs and is not a zombie, for poll.
func alive(pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z") {
		return nil
	}
	return fmt.Errorf("pid %d still runs", pid)
}

// cleanup undoes Start: removes the containers, stops dockerd, unmounts what
// it left under Dir and removes Dir, and reports what it could not undo.
func (e *Engine) cleanup(t testing.TB) {
	if t.Failed() {
		t.Logf("dockertest: log of the failed test's dockerd:\n%s", logTail(e.path("dockerd.log"), 30))
	}
	var errs []error
	if e.Running() {
		if ids, err := e.DockerErr("ps", "-aq"); err != nil {
			errs = append(errs, err)
		} else if ids != "" {
			_, err := e.DockerErr(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
			errs = append(errs, err)
		}
	}
	errs = append(errs, e.stopDaemon(), unmountUnder(e.Dir), os.RemoveAll(e.Dir))
	if err := errors.Join(errs...); err != nil {
		t.Errorf("dockertest: cleanup of %s: %v", e.Dir, err)
	}
}

// unmountUnder detaches every mount below dir, deepest first: a dockerd that
// died uncleanly leaves its containers' network namespace bind mounts and
// rootfs mounts, which os.RemoveAll cannot remove.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("dockertest: %w", err)
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		if p := unescapeMount(f[4]); strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("dockertest: unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// busyboxTar returns a rootfs archive made as docker.sh makes it: /bin/busybox
// plus a symlink to it for each applet of `busybox --list`.
func busyboxTar() ([]byte, error) {
	res, err := run(nil, nil, busybox, "--list")
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("dockertest: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	hdrs := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755, ModTime: now},
		{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bin)), ModTime: now},
	}
	for _, name := range strings.Fields(res.stdout) {
		if name != "busybox" && !strings.Contains(name, "/") {
			hdrs = append(hdrs, &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + name,
				Linkname: "busybox", Mode: 0o777, ModTime: now})
		}
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("dockertest: rootfs tar: %w", err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(bin); err != nil {
				return nil, fmt.Errorf("dockertest: rootfs tar: %w", err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("dockertest: rootfs tar: %w", err)
	}
	return buf.Bytes(), nil
}

// makeShim returns a directory holding only a docker symlink to DockerCLI,
// to put first in the PATH of scripts that run plain `docker`.
func makeShim(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(DockerCLI, filepath.Join(dir, "docker")); err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	return dir
}
