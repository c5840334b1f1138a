// Package mysqltest starts private MariaDB servers for tests that restart
// them (the harness's shared one must never be restarted by a test). It
// shells out to mariadb-install-db, mariadbd and mariadb-admin, always with
// --no-defaults, as scripts/test-servers/mysql.sh does.
package mysqltest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// Server is a private MariaDB on a loopback port.
type Server struct {
	// DSN is a go-sql-driver DSN for a user with every privilege, over
	// TCP, database test_db.
	DSN string
	// TLSDSN, for a server started with StartTLS, is the DSN of a user
	// who may connect over TLS only (REQUIRE SSL); no tls parameter is set.
	TLSDSN string
	tls    *TLSFiles
	Dir    string
	Port   int
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start installs a data directory and starts mariadbd on a free loopback
// port; the server is stopped and its directory removed when t ends. A
// missing MariaDB skips t, or fails it under WIREKEEPER_REQUIRE_INTEGRATION=1.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, nil)
}

// TLSFiles are the server's PEM files: the CA of its clients, its
// certificate and key.
type TLSFiles struct{ CA, Cert, Key string }

// StartTLS is Start with TLS enabled and a user who must use it
// (Server.TLSDSN).
func StartTLS(t testing.TB, files TLSFiles) *Server {
	t.Helper()
	return start(t, &files)
}

func start(t testing.TB, tlsFiles *TLSFiles) *Server {
	t.Helper()
	testenv.NeedBins(t, "mysqltest: MariaDB", "apt-get install mariadb-server mariadb-client", false,
		"mariadb-install-db", "mariadbd", "mariadb")
	dir, err := os.MkdirTemp("", "mysqltest-")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{Dir: dir, Port: port, DSN: fmt.Sprintf("wk:wk@tcp(127.0.0.1:%d)/test_db", port), tls: tlsFiles}
	t.Cleanup(func() {
		s.stop()
		os.RemoveAll(dir)
	})
	// The bootstrap's temporary tables go to the server's own directory,
	// not /tmp, which every other test and process shares: one run failed
	// there with "Could not remove temporary table '/tmp/#sql-temptable-...'".
	if out, err := exec.Command("mariadb-install-db", "--no-defaults", "--user=root", "--datadir="+s.path("data"),
		"--auth-root-authentication-method=normal", "--skip-test-db", "--tmpdir="+s.Dir).CombinedOutput(); err != nil {
		t.Fatalf("mysqltest: mariadb-install-db: %v\n%s", err, out)
	}
	s.Start(t)
	sql := "CREATE USER 'wk'@'127.0.0.1' IDENTIFIED BY 'wk'; GRANT ALL ON *.* TO 'wk'@'127.0.0.1'; CREATE DATABASE test_db;"
	if tlsFiles != nil {
		sql += " CREATE USER 'wktls'@'127.0.0.1' IDENTIFIED BY 'wktls' REQUIRE SSL; GRANT ALL ON *.* TO 'wktls'@'127.0.0.1';"
		s.TLSDSN = fmt.Sprintf("wktls:wktls@tcp(127.0.0.1:%d)/test_db", port)
	}
	if out, err := exec.Command("mariadb", "--no-defaults", "-S", s.path("mysqld.sock"), "-uroot", "-e", sql).CombinedOutput(); err != nil {
		t.Fatalf("mysqltest: setting up users: %v\n%s", err, out)
	}
	return s
}

func (s *Server) path(name string) string { return filepath.Join(s.Dir, name) }

// Start starts mariadbd on the server's data directory and port, and waits
// until it answers on both the port and the socket.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	mariadbd, err := testenv.LookBin("mariadbd")
	if err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(mariadbd, "--no-defaults", "--user=root", "--datadir="+s.path("data"),
		"--socket="+s.path("mysqld.sock"), "--port="+strconv.Itoa(s.Port), "--bind-address=127.0.0.1",
		"--pid-file="+s.path("mysqld.pid"), "--log-error="+s.path("error.log"), "--skip-name-resolve",
		"--innodb-buffer-pool-size=64M", "--skip-log-bin", "--tmpdir="+s.Dir)
	if s.tls != nil {
		s.cmd.Args = append(s.cmd.Args, "--ssl-ca="+s.tls.CA, "--ssl-cert="+s.tls.Cert, "--ssl-key="+s.tls.Key)
	}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("mysqltest: mariadbd: %v", err)
	}
	s.done = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { c.Wait(); close(done) }(s.cmd, s.done)
	// mariadbd opens its TCP port and its socket one after the other;
	// Start's callers use both (the set-up goes through the socket), so it
	// waits for both: a run under load found the port open and the socket
	// refusing.
	listening := func(network, addr string) bool {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if listening("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port)) && listening("unix", s.path("mysqld.sock")) {
			return
		}
		select {
		case <-s.done:
			t.Fatalf("mysqltest: mariadbd exited:\n%s", testenv.LogTail(s.path("error.log"), 20))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mysqltest: mariadbd not listening on %d and %s after 30 s", s.Port, s.path("mysqld.sock"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts mariadbd down (clients lose their connections) and waits for
// it to exit.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// Restart is Stop then Start.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.Start(t)
}

func (s *Server) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("mysqltest: mariadbd did not stop within 30 s; killed")
	}
}
