package ovstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// schemaPaths are where distributions install the Open_vSwitch schema.
var schemaPaths = []string{
	"/usr/share/openvswitch/vswitch.ovsschema",
	"/usr/local/share/openvswitch/vswitch.ovsschema",
}

// Options say what Start runs besides ovsdb-server.
type Options struct {
	// Vswitchd also starts ovs-vswitchd with the userspace datapath
	// (--disable-system) inside a fresh network namespace, as
	// scripts/test-servers/ovs.sh does; bridges then need
	// datapath_type=netdev (AddBridge sets it).
	Vswitchd bool
	// TLS, when set, also makes ovsdb-server listen for ssl: on loopback
	// (OVS.SSL) with this key and certificate, requiring client
	// certificates signed by the CA.
	TLS *TLSFiles
}

// TLSFiles are PEM files of ovsdb-server's SSL remote.
type TLSFiles struct{ Key, Cert, CA string }

// OVS is one Open vSwitch "host": an ovsdb-server and, with
// Options.Vswitchd, an ovs-vswitchd. Its methods are meant for the test's own
// goroutine.
type OVS struct {
	// Dir holds conf.db, the sockets, the pid files and the logs.
	Dir string
	// DB is the ovsdb-server's unix socket, "unix:" + Dir + "/db.sock".
	DB string
	// TCP is the ovsdb-server's loopback listener, "tcp:127.0.0.1:PORT",
	// on a port that was free when Start ran. It stays the same across
	// restarts.
	TCP string
	// Netns is the network namespace ovs-vswitchd runs in: bridges, internal
	// ports and the switch ends of AddHost's veths are devices there. It is
	// "" when no vswitchd was started.
	Netns string
	// SSL is "ssl:127.0.0.1:PORT" with Options.TLS, else "".
	SSL string

	shared   bool
	port     int
	sslPort  int
	tls      *TLSFiles
	env      []string
	dbPID    int
	vsPID    int
	vswitchd bool // ovs-vswitchd runs now
}

// Start starts a private Open vSwitch for t: ovsdb-tool create, ovsdb-server
// listening on DB and TCP, `ovs-vsctl --no-wait init`, and with
// opts.Vswitchd an ovs-vswitchd in the network namespace Netns. t.Cleanup
// stops vswitchd (exit --cleanup), ovsdb-server, deletes the namespace and
// Dir. A start that fails fails t with the server's log tail; missing
// binaries skip t, or fail it when WIREKEEPER_REQUIRE_INTEGRATION=1.
func Start(t testing.TB, opts Options) *OVS {
	t.Helper()
	bins := []string{"ovsdb-tool", "ovsdb-server", "ovs-vsctl", "ovs-appctl"}
	if opts.Vswitchd {
		bins = append(bins, "ovs-vswitchd", "ip")
	}
	need(t, opts.Vswitchd, bins...)
	schema := findSchema(t)

	// Not t.TempDir(): its path grows with the test's name, and a unix
	// socket path must fit in 107 bytes.
	dir, err := os.MkdirTemp("", "ovstest-")
	if err != nil {
		t.Fatalf("ovstest: %v", err)
	}
	o := &OVS{
		Dir: dir,
		DB:  "unix:" + filepath.Join(dir, "db.sock"),
		tls: opts.TLS,
		env: []string{"OVS_RUNDIR=" + dir, "OVS_DBDIR=" + dir, "OVS_LOGDIR=" + dir, "OVS_SYSCONFDIR=" + dir},
	}
	t.Cleanup(func() { o.cleanup(t) })

	if _, err := command(o.env, "ovsdb-tool", "create", o.path("conf.db"), schema); err != nil {
		t.Fatalf("%v", err)
	}
	if err := o.startDBOnFreePort(); err != nil {
		t.Fatalf("%v\n%s", err, logTail(o.path("ovsdb-server.log"), 20))
	}
	o.Vsctl(t, "init")
	if opts.Vswitchd {
		o.Netns = "ovstest-" + randomHex(t)
		if _, err := command(nil, "ip", "netns", "add", o.Netns); err != nil {
			o.Netns = ""
			t.Fatalf("%v", err)
		}
		if _, err := command(nil, "ip", "-n", o.Netns, "link", "set", "lo", "up"); err != nil {
			t.Fatalf("%v", err)
		}
		o.StartVswitchd(t)
	}
	return o
}

// Shared returns the shared harness's first Open vSwitch host (testenv.OVSDB,
// OVSDBTCP and OVSNetns: a running vswitchd with the netdev bridge br0), so
// AddHost and the other helpers work on it too. Every test of the run uses
// those servers: the Stop, Start and Restart methods fail t on it
// (PurgeFlows, which only drops a cache, is allowed).
func Shared(t testing.TB) *OVS {
	t.Helper()
	need(t, false, "ovs-vsctl", "ovs-appctl")
	return shared(testenv.OVSDB(t), testenv.OVSDBTCP(t), testenv.OVSNetns(t))
}

// Shared2 is Shared for the harness's second host (testenv.OVSDB2).
func Shared2(t testing.TB) *OVS {
	t.Helper()
	need(t, false, "ovs-vsctl", "ovs-appctl")
	return shared(testenv.OVSDB2(t), testenv.OVSDB2TCP(t), testenv.OVS2Netns(t))
}

func shared(db, tcp, netns string) *OVS {
	return &OVS{
		Dir: filepath.Dir(strings.TrimPrefix(db, "unix:")), DB: db, TCP: tcp, Netns: netns,
		shared: true, vswitchd: true,
	}
}

// StopDB stops ovsdb-server (SIGTERM, then SIGKILL after 10 s); clients
// lose their connections and DB and TCP refuse new ones until StartDB.
func (o *OVS) StopDB(t testing.TB) {
	t.Helper()
	o.mustBePrivate(t, "StopDB")
	if err := o.stopDB(); err != nil {
		t.Fatalf("%v", err)
	}
}

// StartDB starts ovsdb-server again on the same conf.db, unix socket and TCP
// port; it fails t if the server runs already.
func (o *OVS) StartDB(t testing.TB) {
	t.Helper()
	o.mustBePrivate(t, "StartDB")
	if o.dbPID != 0 {
		t.Fatalf("ovstest: StartDB: ovsdb-server runs already (pid %d)", o.dbPID)
	}
	if err := o.startDB(); err != nil {
		t.Fatalf("%v\n%s", err, logTail(o.path("ovsdb-server.log"), 20))
	}
}

// KillDB SIGKILLs ovsdb-server, as a crash would (no clean shutdown); StartDB
// starts it again on the same conf.db.
func (o *OVS) KillDB(t testing.TB) {
	t.Helper()
	o.mustBePrivate(t, "KillDB")
	if o.dbPID != 0 {
		_ = syscall.Kill(o.dbPID, syscall.SIGKILL)
		if err := endProcess(o.dbPID, 10*time.Second); err != nil {
			t.Fatalf("%v", err)
		}
		o.dbPID = 0
	}
}

// KillVswitchd SIGKILLs ovs-vswitchd, leaving its devices behind as a crash
// does; StartVswitchd starts it again.
func (o *OVS) KillVswitchd(t testing.TB) {
	t.Helper()
	o.mustBePrivate(t, "KillVswitchd")
	if o.vsPID != 0 && alive(o.vsPID) {
		_ = syscall.Kill(o.vsPID, syscall.SIGKILL)
		if err := endProcess(o.vsPID, 10*time.Second); err != nil {
			t.Fatalf("%v", err)
		}
	}
	o.vswitchd, o.vsPID = false, 0
}

// RestartDB stops ovsdb-server and starts it again on the same conf.db and
// sockets; every client (ovs-vswitchd included) must reconnect.
func (o *OVS) RestartDB(t testing.TB) {
	t.Helper()
	o.StopDB(t)
	o.StartDB(t)
}

// StartVswitchd starts ovs-vswitchd (userspace datapath) in Netns; it
// returns once vswitchd has read its configuration.
func (o *OVS) StartVswitchd(t testing.TB) {
	t.Helper()
	o.mustBePrivate(t, "StartVswitchd")
	if o.Netns == "" {
		t.Fatalf("ovstest: StartVswitchd: Start was called without Options.Vswitchd")
	}
	if o.vswitchd {
		t.Fatalf("ovstest: StartVswitchd: ovs-vswitchd runs already (pid %d)", o.vsPID)
	}
	bin, err := lookBin("ovs-vswitchd")
	if err != nil {
		t.Fatalf("%v", err)
	}
	// ip netns exec passes our environment (OVS_RUNDIR and friends) on.
	_, err = command(o.env, "ip", "netns", "exec", o.Netns, bin, o.DB, "--disable-system",
		"--pidfile="+o.path("ovs-vswitchd.pid"), "--unixctl="+o.path("ovs-vswitchd.ctl"),
		"--log-file="+o.path("ovs-vswitchd.log"), "-vconsole:off", "--detach", "--no-chdir")
	if err == nil {
		o.vsPID, err = readPID(o.path("ovs-vswitchd.pid"))
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, logTail(o.path("ovs-vswitchd.log"), 20))
	}
	o.vswitchd = true
}

// StopVswitchd stops ovs-vswitchd with `ovs-appctl exit --cleanup`, which
// removes its tap devices so the next StartVswitchd can create them again.
func (o *OVS) StopVswitchd(t testing.TB) {
	t.Helper()
	o.mustBePrivate(t, "StopVswitchd")
	if err := o.stopVswitchd(); err != nil {
		t.Fatalf("%v\n%s", err, logTail(o.path("ovs-vswitchd.log"), 20))
	}
}

// RestartVswitchd stops ovs-vswitchd and starts it again; ports whose
// devices still exist (AddHost's veths) come back with the bridges.
func (o *OVS) RestartVswitchd(t testing.TB) {
	t.Helper()
	o.StopVswitchd(t)
	o.StartVswitchd(t)
}

// VswitchdRunning reports whether this OVS's ovs-vswitchd runs now, that is
// whether modifying ovs-vsctl commands can wait for it.
func (o *OVS) VswitchdRunning() bool { return o.vswitchd }

func (o *OVS) mustBePrivate(t testing.TB, method string) {
	t.Helper()
	if o.shared {
		t.Fatalf("ovstest: %s on the shared harness's Open vSwitch (%s): "+
			"tests must not stop shared servers; use ovstest.Start", method, o.DB)
	}
}

func (o *OVS) path(name string) string { return filepath.Join(o.Dir, name) }

var errListen = errors.New("ovsdb-server could not listen")

// startDBOnFreePort picks a free loopback port for TCP and starts
// ovsdb-server, trying another port if someone took it in between.
func (o *OVS) startDBOnFreePort() error {
	var err error
	for range 5 {
		if o.port, err = freePort(); err != nil {
			return err
		}
		o.TCP = fmt.Sprintf("tcp:127.0.0.1:%d", o.port)
		if o.tls != nil {
			if o.sslPort, err = freePort(); err != nil {
				return err
			}
			o.SSL = fmt.Sprintf("ssl:127.0.0.1:%d", o.sslPort)
		}
		if err = o.startDB(); !errors.Is(err, errListen) {
			return err
		}
		if stopErr := o.stopDB(); stopErr != nil {
			return stopErr
		}
	}
	return err
}

// startDB starts ovsdb-server on o.port. A server that cannot bind keeps
// running and only logs it, so the log decides.
func (o *OVS) startDB() error {
	logFile := o.path("ovsdb-server.log")
	var offset int64
	if fi, err := os.Stat(logFile); err == nil {
		offset = fi.Size()
	}
	args := []string{o.path("conf.db"),
		"--remote=punix:" + o.path("db.sock"), fmt.Sprintf("--remote=ptcp:%d:127.0.0.1", o.port),
		"--pidfile=" + o.path("ovsdb-server.pid"), "--unixctl=" + o.path("ovsdb-server.ctl"),
		"--log-file=" + logFile, "-vconsole:off", "--detach", "--no-chdir"}
	if o.tls != nil {
		args = append(args, fmt.Sprintf("--remote=pssl:%d:127.0.0.1", o.sslPort),
			"--private-key="+o.tls.Key, "--certificate="+o.tls.Cert, "--ca-cert="+o.tls.CA)
	}
	_, err := command(o.env, "ovsdb-server", args...)
	if err != nil {
		return err
	}
	if o.dbPID, err = readPID(o.path("ovsdb-server.pid")); err != nil {
		return err
	}
	if b, err := os.ReadFile(logFile); err == nil && int64(len(b)) >= offset {
		if news := string(b[offset:]); strings.Contains(news, "listen failed") {
			return fmt.Errorf("ovstest: %w on %s: %s", errListen, o.TCP, strings.TrimSpace(news))
		}
	}
	return nil
}

func (o *OVS) stopDB() error {
	if o.dbPID == 0 {
		return nil
	}
	_ = syscall.Kill(o.dbPID, syscall.SIGTERM)
	err := endProcess(o.dbPID, 10*time.Second)
	o.dbPID = 0
	return err
}

func (o *OVS) stopVswitchd() error {
	if o.vsPID == 0 || !alive(o.vsPID) {
		o.vswitchd, o.vsPID = false, 0
		return nil
	}
	_, appErr := command(o.env, "ovs-appctl", "--timeout=10", "-t", o.path("ovs-vswitchd.ctl"), "exit", "--cleanup")
	grace := 10 * time.Second
	if appErr != nil {
		grace = 0
	}
	err := endProcess(o.vsPID, grace)
	o.vswitchd, o.vsPID = false, 0
	return errors.Join(appErr, err)
}

// cleanup undoes Start, in reverse, and reports what it could not undo.
func (o *OVS) cleanup(t testing.TB) {
	if t.Failed() {
		t.Logf("ovstest: logs of the failed test's Open vSwitch:\n%s\n%s",
			logTail(o.path("ovsdb-server.log"), 30), logTail(o.path("ovs-vswitchd.log"), 30))
	}
	errs := []error{o.stopVswitchd(), o.stopDB()}
	if o.Netns != "" {
		_, err := command(nil, "ip", "netns", "delete", o.Netns)
		errs = append(errs, err)
	}
	errs = append(errs, os.RemoveAll(o.Dir))
	if err := errors.Join(errs...); err != nil {
		t.Errorf("ovstest: cleanup: %v", err)
	}
}

func findSchema(t testing.TB) string {
	t.Helper()
	for _, p := range schemaPaths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "no vswitch.ovsschema in " + strings.Join(schemaPaths, ", ")
	if os.Getenv(testenv.RequireEnv) == "1" {
		t.Fatalf("ovstest: Open vSwitch is required (%s=1) but %s", testenv.RequireEnv, msg)
		return ""
	}
	t.Skipf("ovstest: skipping, %s", msg)
	return ""
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("ovstest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(t testing.TB) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("ovstest: random name: %v", err)
	}
	return hex.EncodeToString(b[:])
}
