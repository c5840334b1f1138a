package rabbittest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// Where Debian's rabbitmq-server package puts the server script; the
// /usr/sbin wrapper would switch to the rabbitmq user.
const (
	serverScript = "/usr/lib/rabbitmq/bin/rabbitmq-server"
	ctlScript    = "/usr/lib/rabbitmq/bin/rabbitmqctl"
	epmdBin      = "epmd"
)

const (
	// startTimeout bounds a node's boot; it takes about 8 s alone, more on
	// a machine busy with parallel tests.
	startTimeout = 90 * time.Second
	// stopTimeout bounds a graceful stop before the node is killed.
	stopTimeout = 30 * time.Second
)

// ports of one private node; they stay the same across restarts.
type ports struct{ amqp, dist, mgmt, epmd, amqps int }

// node is a private RabbitMQ node: its files, its epmd and its server.
type node struct {
	dir   string
	ports ports
	env   []string
	epmd  *process
	// server is the rabbitmq-server script; beam is the Erlang VM it runs
	// in the background, read from the pid file.
	server *process
	beam   int
}

// process is a child process and a channel closed once it was reaped.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// spawn starts name in a session of its own (so signals meant for the test
// do not reach it), with output to logFile, and reaps it in the background.
func spawn(dir string, env []string, logFile, name string, args ...string) (*process, error) {
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("rabbittest: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("rabbittest: start %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// end gives p grace to exit, then sends SIGTERM and SIGKILL to its whole
// session (the server script's Erlang VM and port programs included).
func (p *process) end(grace time.Duration) error {
	if p == nil {
		return nil
	}
	pgid := p.cmd.Process.Pid
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{0, grace}, {syscall.SIGTERM, 10 * time.Second}, {syscall.SIGKILL, 5 * time.Second}} {
		if step.sig != 0 {
			_ = syscall.Kill(-pgid, step.sig)
		}
		select {
		case <-p.done:
			return nil
		case <-time.After(step.wait):
		}
	}
	return fmt.Errorf("rabbittest: %s (pid %d) survived SIGKILL", p.cmd.Path, pgid)
}

// newNode prepares dir for a node on freshly picked free ports.
func newNode(dir string, tlsFiles *TLSFiles) (*node, error) {
	ps, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	n := &node{dir: dir, ports: ports{amqp: ps[0], dist: ps[1], mgmt: ps[2], epmd: ps[3], amqps: ps[4]}}
	home := n.path("home")
	for _, d := range []string{home, n.path("mnesia"), n.path("log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("rabbittest: %w", err)
		}
	}
	var cookie [16]byte
	if _, err := rand.Read(cookie[:]); err != nil {
		return nil, fmt.Errorf("rabbittest: cookie: %w", err)
	}
	conf := fmt.Sprintf(`listeners.tcp.default = 127.0.0.1:%d
loopback_users = none
log.console = false
log.file.level = info
management.tcp.ip = 127.0.0.1
management.tcp.port = %d
`, n.ports.amqp, n.ports.mgmt)
	if tlsFiles != nil {
		// Client certificates are checked when presented, not required.
		conf += fmt.Sprintf(`listeners.ssl.default = 127.0.0.1:%d
ssl_options.cacertfile = %s
ssl_options.certfile = %s
ssl_options.keyfile = %s
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
`, n.ports.amqps, tlsFiles.CA, tlsFiles.Cert, tlsFiles.Key)
	}
	files := []struct {
		name, content string
		mode          os.FileMode
	}{
		{filepath.Join("home", ".erlang.cookie"), strings.ToUpper(fmt.Sprintf("%x", cookie)), 0o400},
		{"rabbitmq-env.conf", "", 0o644}, // not /etc/rabbitmq/rabbitmq-env.conf
		{"enabled_plugins", "[rabbitmq_management].\n", 0o644},
		{"rabbitmq.conf", conf, 0o644},
	}
	for _, f := range files {
		if err := os.WriteFile(n.path(f.name), []byte(f.content), f.mode); err != nil {
			return nil, fmt.Errorf("rabbittest: %w", err)
		}
	}
	n.env = append(os.Environ(),
		"HOME="+home,
		fmt.Sprintf("RABBITMQ_NODENAME=rabbit_%d@localhost", n.ports.amqp),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		fmt.Sprintf("RABBITMQ_NODE_PORT=%d", n.ports.amqp),
		fmt.Sprintf("RABBITMQ_DIST_PORT=%d", n.ports.dist),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		fmt.Sprintf("ERL_EPMD_PORT=%d", n.ports.epmd),
		"RABBITMQ_MNESIA_BASE="+n.path("mnesia"),
		"RABBITMQ_LOG_BASE="+n.path("log"),
		"RABBITMQ_CONFIG_FILE="+n.path("rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+n.path("advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+n.path("enabled_plugins"),
		"RABBITMQ_PID_FILE="+n.path("rabbitmq.pid"),
		"RABBITMQ_CONF_ENV_FILE="+n.path("rabbitmq-env.conf"),
		"ERL_CRASH_DUMP="+n.path("log/erl_crash.dump"),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
	)
	return n, nil
}

func (n *node) path(name string) string { return filepath.Join(n.dir, name) }

// logFile is the node's main log, named after the node.
func (n *node) logFile() string {
	return n.path(fmt.Sprintf("log/rabbit_%d@localhost.log", n.ports.amqp))
}

// startEpmd starts the node's own epmd, so that stopping it touches no one
// else's nodes.
func (n *node) startEpmd() error {
	p, err := spawn(n.dir, n.env, n.path("epmd.log"), epmdBin,
		"-address", "127.0.0.1", "-port", strconv.Itoa(n.ports.epmd))
	if err != nil {
		return err
	}
	n.epmd = p
	return waitFor(10*time.Second, "epmd to listen", func() (bool, error) {
		if p.exited() {
			return false, errors.New("epmd exited")
		}
		return tcpOpen(n.ports.epmd), nil
	})
}

// startServer starts the server script and waits for the node to boot: the
// AMQP listener opens at the very end of the boot, then the management API
// answers.
func (n *node) startServer() error {
	p, err := spawn(n.dir, n.env, n.path("server.out"), serverScript)
	if err != nil {
		return err
	}
	n.server = p
	_ = os.Remove(n.path("rabbitmq.pid"))
	err = waitFor(startTimeout, fmt.Sprintf("AMQP on 127.0.0.1:%d", n.ports.amqp), func() (bool, error) {
		if p.exited() {
			return false, errors.New("rabbitmq-server exited")
		}
		return tcpOpen(n.ports.amqp), nil
	})
	if err == nil {
		err = waitFor(30*time.Second, "the management API", func() (bool, error) {
			return mgmtOK(n.ports.mgmt), nil
		})
	}
	if err == nil {
		n.beam, err = readPID(n.path("rabbitmq.pid"))
	}
	return err
}

// stopServer stops the node gracefully with SIGTERM (the Erlang VM's
// handler runs the orderly shutdown; rabbitmqctl stop would cost another
// VM). RabbitMQ 3.10's management agent sleeps a fixed 5 s at the very end
// of a stop (rabbitmq-server#11070, fixed in 3.13), once queues and message
// stores are closed: as rabbitmq.sh does, the node is killed then.
func (n *node) stopServer() error {
	if n.server == nil {
		return nil
	}
	defer func() { n.server, n.beam = nil, 0 }()
	if n.beam != 0 && !n.server.exited() {
		var offset int64
		if fi, err := os.Stat(n.logFile()); err == nil {
			offset = fi.Size()
		}
		_ = syscall.Kill(n.beam, syscall.SIGTERM)
		_ = waitFor(stopTimeout, "the node to stop", func() (bool, error) {
			if n.server.exited() {
				return true, nil
			}
			if logSince(n.logFile(), offset, "to stop collect_statistics") {
				time.Sleep(200 * time.Millisecond)
				return true, nil
			}
			return false, nil
		})
		if !n.server.exited() {
			_ = syscall.Kill(n.beam, syscall.SIGKILL)
		}
	}
	// The script exits once its VM has.
	return n.server.end(5 * time.Second)
}

// stop stops the server and epmd.
func (n *node) stop() error {
	err := n.stopServer()
	err2 := n.epmd.end(0)
	n.epmd = nil
	return errors.Join(err, err2)
}

// ctl runs rabbitmqctl against the node.
func (n *node) ctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlScript, args...)
	cmd.Dir, cmd.Env = n.dir, n.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rabbittest: rabbitmqctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// waitFor polls cond every 50 ms until it holds, fails, or d has passed.
func waitFor(d time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("rabbittest: waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rabbittest: gave up waiting %s for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tcpOpen(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func mgmtOK(port int) bool {
	req, err := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/api/overview", port), nil)
	if err != nil {
		return false
	}
	req.SetBasicAuth("guest", "guest")
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// freePorts returns n distinct loopback ports that were free just now.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("rabbittest: free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func readPID(file string) (int, error) { return testenv.ReadPID(file) }

// logSince reports whether file holds s after its first offset bytes.
func logSince(file string, offset int64, s string) bool {
	b, err := os.ReadFile(file)
	if err != nil || int64(len(b)) < offset {
		return false
	}
	return bytes.Contains(b[offset:], []byte(s))
}

// logTail returns the last n lines of file, for failure messages.
func logTail(file string, n int) string { return testenv.LogTail(file, n) }
