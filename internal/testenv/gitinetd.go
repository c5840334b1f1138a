package testenv

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// GitInetd serves the git daemon's repositories (GitBase) the way
// systemd's socket activation (Accept=yes) and inetd run git daemon: a
// listener with the kernel's default accept backlog, and one real
// `git daemon --inetd` process per connection, with the flags of
// scripts/test-servers/git.sh. The standalone git daemon listens with a
// backlog of 5 (hard-coded in git), so hundreds of clients connecting at
// once overflow its accept queue: the kernel drops their handshakes, and a
// client whose last ACK was dropped believes it is connected while the
// server never sees it, until the connection times out or is reset. A
// forge queues such clients instead; the fleet simulation needs a remote
// whose load is git's work, not its accept queue's.
type GitInetd struct {
	tb   testing.TB
	ln   net.Listener
	base string

	served atomic.Int64
	failed atomic.Int64
	cpu    atomic.Int64 // user + system time of finished connections, ns
	wg     sync.WaitGroup

	mu    sync.Mutex
	procs map[*os.Process]struct{}
}

// NewGitInetd listens on a loopback port in front of GitBase(tb); it stops
// when tb ends, killing the connections still served.
func NewGitInetd(tb testing.TB) *GitInetd {
	tb.Helper()
	base := GitBase(tb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testenv: git inetd listen: %v", err)
	}
	g := &GitInetd{tb: tb, ln: ln, base: base, procs: map[*os.Process]struct{}{}}
	g.wg.Add(1)
	go g.serve()
	tb.Cleanup(g.close)
	return g
}

// Addr returns the host:port git clients connect to (git://ADDR/NAME for
// GitBase()/NAME).
func (g *GitInetd) Addr() string { return g.ln.Addr().String() }

// Served returns how many connections were handed to a git process.
func (g *GitInetd) Served() int64 { return g.served.Load() }

// Failed returns how many connections could not be handed to a git
// process (and were closed).
func (g *GitInetd) Failed() int64 { return g.failed.Load() }

// CPU returns the user and system time of every git process that served a
// connection and has exited, with the processes it waited for (upload-pack,
// pack-objects, receive-pack, index-pack): the remote's cost.
func (g *GitInetd) CPU() time.Duration { return time.Duration(g.cpu.Load()) }

func (g *GitInetd) serve() {
	defer g.wg.Done()
	for {
		c, err := g.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			g.tb.Logf("testenv: git inetd accept: %v", err)
			time.Sleep(10 * time.Millisecond) // out of descriptors: let some close
			continue
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			g.handle(c.(*net.TCPConn))
		}()
	}
}

// handle runs one git daemon on the connection, as its stdin and stdout.
func (g *GitInetd) handle(c *net.TCPConn) {
	f, err := c.File() // a duplicate; os/exec makes it blocking for the child
	c.Close()
	if err != nil {
		g.failed.Add(1)
		return
	}
	cmd := exec.Command("git", "daemon", "--inetd", "--export-all", "--enable=receive-pack",
		"--base-path="+g.base, g.base)
	cmd.Env = gitEnv()
	cmd.Stdin, cmd.Stdout = f, f
	err = cmd.Start()
	f.Close() // the child holds the connection now
	if err != nil {
		g.failed.Add(1)
		return
	}
	g.served.Add(1)
	g.mu.Lock()
	g.procs[cmd.Process] = struct{}{}
	g.mu.Unlock()
	cmd.Wait() // a failed request is the client's to see
	g.mu.Lock()
	delete(g.procs, cmd.Process)
	g.mu.Unlock()
	g.cpu.Add(int64(cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()))
}

func (g *GitInetd) close() {
	g.ln.Close()
	g.mu.Lock()
	for p := range g.procs {
		p.Kill()
	}
	g.mu.Unlock()
	g.wg.Wait()
}
