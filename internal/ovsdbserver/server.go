// Package ovsdbserver runs an OVSDB server with the Open_vSwitch schema in
// memory, in process, for `wirekeeper demo` and for fast unit tests, and
// offers client-side helpers (Seed, DeleteMirror, SetMirrorSelectSrc) that
// act on any OVSDB server, embedded or real, as a foreign client would.
//
// The server is libovsdb v0.7.0's server package over its in-memory database.
// Compared with ovsdb-server it behaves as follows; each point is checked by
// a test in server_test.go that, where the harness provides one, runs the
// same transactions against a real ovsdb-server too.
//
// Like ovsdb-server:
//
//   - Named UUIDs: a transaction can insert a row under a uuid-name and
//     reference it from a later operation (a mutate inserting into
//     Bridge.mirrors); the insert's result carries the real UUID.
//   - Monitors: a change committed by one client reaches every other
//     client's cache after MonitorAll, and its cache event handlers see the
//     add, update and delete.
//   - Garbage collection as RFC 7047 describes: a Mirror (not a root table)
//     that no Bridge references is deleted by the same transaction, whether
//     it was inserted unreferenced or lost its last reference.
//   - Map mutations on external_ids: "insert" adds only keys not yet present;
//     "delete" removes keys (given a set) or key-value pairs (given a map).
//   - Errors come back in the same places. An operation that fails by itself
//     (a "wait" that times out, an update of an immutable column) has its
//     error at its own index, and the results after it are null. What is
//     found at commit (a second Bridge with an existing name, a reference to
//     a missing row) comes in one extra result after those of all the
//     operations, so no operation index names the culprit; only Details
//     does, and its wording differs from ovsdb-server's.
//
// Unlike ovsdb-server:
//
//   - Column constraints are not checked: a value outside an enum (Bridge
//     fail_mode "bogus") or an integer range (Port tag 5000) is committed,
//     where ovsdb-server fails the operation with "constraint violation".
//   - It is lenient where ovsdb-server is strict: a mutate without "where"
//     (libovsdb leaves out an empty Where on all but select) matches all rows
//     here and is a syntax error there. Code that passes here can fail there.
//   - A select returns every column but the empty sets and maps, whatever
//     "columns" asks for.
//   - Nothing is written to disk, and there is no ovs-vswitchd: nothing fills
//     cur_cfg, ovs_version, Interface.ofport or other status columns, and
//     next_cfg is never acknowledged, so do not wait on it.
//   - "commit", "abort", "comment" and "assert" operations answer "not
//     supported"; locks and monitor_cancel are not implemented; a
//     monitor_cond_since reply never finds the client's last transaction, so
//     a reconnecting client always receives the whole database again.
//   - The monitors of disconnected clients are never dropped: every later
//     commit logs, with the standard log package, one failed update per such
//     monitor. Every failed transaction is logged on standard error.
//   - It is slower, as every transaction builds a fresh table cache: a
//     one-operation transaction takes 0.6 to 1 ms (about 0.1 ms with
//     ovsdb-server), inserting 10,000 mirrors in one transaction 4 to 6 s,
//     after which a small transaction on that bridge takes 3 to 6 ms.
//
// libovsdb's server package raises the process-wide go-logr/stdr verbosity
// to 5 when it is imported, which makes its in-memory database log every row
// it stores; Start sets that verbosity back to 0.
package ovsdbserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cenkalti/rpc2"
	"github.com/go-logr/stdr"
	"github.com/google/uuid"
	"github.com/ovn-org/libovsdb/database"
	"github.com/ovn-org/libovsdb/database/inmemory"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"
	"github.com/ovn-org/libovsdb/server"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
)

// SocketName is the name of the unix socket Start creates in its directory.
const SocketName = "db.sock"

// maxUnixPath is the longest socket path Linux accepts (sun_path is 108 bytes
// including the terminating NUL).
const maxUnixPath = 107

// startTimeout bounds how long Start waits for the listener to come up.
const startTimeout = 5 * time.Second

// Server is an OVSDB server with the Open_vSwitch schema held in memory,
// serving on a unix socket and, when asked, on a loopback TCP port. It starts
// with one Open_vSwitch row and nothing else. Close releases it.
type Server struct {
	ovs      *server.OvsdbServer
	sockPath string
	served   chan error // the result of ovs.Serve, once it returns

	tcp      net.Listener // nil without WithLoopbackTCP
	tcpAddr  string
	proxying sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	clients map[*rpc2.Client]struct{} // open rpc connections, closed by Close
	conns   map[net.Conn]struct{}     // open proxied TCP connections
}

// Option changes how Start runs the server.
type Option func(*options)

type options struct {
	loopbackTCP bool
}

// WithLoopbackTCP also serves on a free TCP port of 127.0.0.1, reported by
// TCPAddress. TCP connections are relayed to the unix socket.
func WithLoopbackTCP() Option {
	return func(o *options) { o.loopbackTCP = true }
}

// Start serves a new in-memory Open_vSwitch database on unix:<dir>/db.sock
// and creates its Open_vSwitch root row, as `ovs-vsctl init` does. dir must
// exist; a stale socket left there by a dead server is replaced, a live one
// is an error.
func Start(dir string, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// libovsdb/server's init sets stdr's global verbosity to 5, which makes
	// the in-memory database log every row it caches.
	stdr.SetVerbosity(0)

	sockPath, err := filepath.Abs(filepath.Join(dir, SocketName))
	if err != nil {
		return nil, fmt.Errorf("ovsdbserver: %w", err)
	}
	if len(sockPath) > maxUnixPath {
		return nil, fmt.Errorf("ovsdbserver: socket path %s is %d bytes, longer than the %d a unix socket allows",
			sockPath, len(sockPath), maxUnixPath)
	}
	if err := removeStaleSocket(sockPath); err != nil {
		return nil, err
	}

	ovs, err := newOvsdbServer()
	if err != nil {
		return nil, err
	}
	s := &Server{
		ovs:      ovs,
		sockPath: sockPath,
		served:   make(chan error, 1),
		clients:  map[*rpc2.Client]struct{}{},
		conns:    map[net.Conn]struct{}{},
	}
	ovs.OnConnect(s.trackClient)
	ovs.OnDisConnect(func(c *rpc2.Client) {
		s.mu.Lock()
		delete(s.clients, c)
		s.mu.Unlock()
	})
	go func() { s.served <- ovs.Serve("unix", sockPath) }()
	if err := s.awaitReady(); err != nil {
		return nil, err
	}
	if o.loopbackTCP {
		if err := s.listenTCP(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// newOvsdbServer builds the libovsdb server over an in-memory database that
// already holds the Open_vSwitch root row.
func newOvsdbServer() (*server.OvsdbServer, error) {
	clientModel, err := vswitch.FullDatabaseModel()
	if err != nil {
		return nil, fmt.Errorf("ovsdbserver: database model: %w", err)
	}
	schema := vswitch.Schema()
	dbModel, errs := model.NewDatabaseModel(schema, clientModel)
	if len(errs) > 0 {
		return nil, fmt.Errorf("ovsdbserver: database model: %w", errors.Join(errs...))
	}
	db := inmemory.NewDatabase(map[string]model.ClientDBModel{schema.Name: clientModel})
	ovs, err := server.NewOvsdbServer(db, dbModel)
	if err != nil {
		return nil, fmt.Errorf("ovsdbserver: %w", err)
	}
	if err := insertRoot(db, schema.Name); err != nil {
		return nil, err
	}
	return ovs, nil
}

// insertRoot commits the Open_vSwitch row straight into db, before any client
// can connect, so no monitor needs to hear of it.
func insertRoot(db database.Database, dbName string) error {
	results, update := db.NewTransaction(dbName).Transact(ovsdb.Operation{
		Op:    ovsdb.OperationInsert,
		Table: vswitch.OpenvSwitchTable,
		Row:   ovsdb.Row{},
	})
	for _, r := range results {
		if r != nil && r.Error != "" {
			return fmt.Errorf("ovsdbserver: cannot create the Open_vSwitch row: %s: %s", r.Error, r.Details)
		}
	}
	if err := db.Commit(dbName, uuid.New(), update); err != nil {
		return fmt.Errorf("ovsdbserver: cannot create the Open_vSwitch row: %w", err)
	}
	return nil
}

// removeStaleSocket removes path if it is a socket nobody listens on.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ovsdbserver: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("ovsdbserver: %s exists and is not a socket", path)
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("ovsdbserver: a server already listens on %s", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("ovsdbserver: cannot remove stale socket: %w", err)
	}
	return nil
}

// awaitReady waits until Serve listens, or returns why it could not.
func (s *Server) awaitReady() error {
	deadline := time.Now().Add(startTimeout)
	for !s.ovs.Ready() {
		select {
		case err := <-s.served:
			if err == nil {
				err = errors.New("server stopped")
			}
			return fmt.Errorf("ovsdbserver: cannot serve on unix:%s: %w", s.sockPath, err)
		case <-time.After(time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.ovs.Close()
			return fmt.Errorf("ovsdbserver: unix:%s not listening after %s", s.sockPath, startTimeout)
		}
	}
	return nil
}

// trackClient records an rpc connection so Close can end it; libovsdb's
// server only closes its listener. The hook runs on its own goroutine, so a
// connection that shows up after Close is ended here.
func (s *Server) trackClient(c *rpc2.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return
	}
	s.clients[c] = struct{}{}
}

// Address returns the unix endpoint, "unix:<dir>/db.sock", in the form
// libovsdb's client.WithEndpoint and ovs-vsctl --db accept.
func (s *Server) Address() string { return "unix:" + s.sockPath }

// TCPAddress returns the loopback endpoint, "tcp:127.0.0.1:<port>", or ""
// unless the server was started WithLoopbackTCP.
func (s *Server) TCPAddress() string { return s.tcpAddr }

// Close stops listening, ends every client connection and waits for the
// server to stop. The data is lost. Calling Close again does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	clients, conns := s.clients, s.conns
	s.clients, s.conns = nil, nil
	s.mu.Unlock()

	s.ovs.Close()
	var errs []error
	if s.tcp != nil {
		if err := s.tcp.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for c := range conns {
		c.Close()
	}
	for c := range clients {
		c.Close()
	}
	s.proxying.Wait()
	if err := <-s.served; err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ovsdbserver: close: %w", err)
	}
	return nil
}

// listenTCP relays connections on a loopback port to the unix socket, as
// libovsdb's server serves only one listener.
func (s *Server) listenTCP() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("ovsdbserver: cannot listen on loopback tcp: %w", err)
	}
	s.tcp = l
	s.tcpAddr = "tcp:" + l.Addr().String()
	s.proxying.Add(1)
	go func() {
		defer s.proxying.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return // closed by Close
			}
			s.proxying.Add(1)
			go func() {
				defer s.proxying.Done()
				s.relay(conn)
			}()
		}
	}()
	return nil
}

// relay copies bytes between a TCP client and a fresh unix connection until
// either side hangs up.
func (s *Server) relay(tcpConn net.Conn) {
	unixConn, err := net.Dial("unix", s.sockPath)
	if err != nil {
		tcpConn.Close()
		return
	}
	if !s.trackConns(tcpConn, unixConn) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(unixConn, tcpConn)
	go pipe(tcpConn, unixConn)
	<-done
	tcpConn.Close()
	unixConn.Close()
	<-done
	s.mu.Lock()
	delete(s.conns, tcpConn)
	delete(s.conns, unixConn)
	s.mu.Unlock()
}

// trackConns records relayed connections for Close, or closes them and
// reports false when the server is already closed.
func (s *Server) trackConns(conns ...net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		s.conns[c] = struct{}{}
	}
	return true
}
