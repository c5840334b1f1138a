package rabbittest

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// Broker is a RabbitMQ broker a test publishes to and consumes from. Its
// methods are meant for the test's own goroutine.
type Broker struct {
	// URL is the AMQP URL, with the guest credentials.
	URL string
	// MgmtURL is the management API's base URL, with credentials and
	// without a trailing slash.
	MgmtURL string
	// Dir holds a private node's config, mnesia, logs and pid files; "" for
	// the shared broker.
	Dir string
	// StartTime is how long the last start of a private node took.
	StartTime time.Duration
	// TLSURL is the amqps:// URL of a node started with StartTLS.
	TLSURL string

	shared bool
	node   *node
}

// Shared returns the shared harness's broker (testenv.AMQPURL and
// testenv.RabbitMQMgmtURL). Every test of the run uses it: Stop, Start and
// Restart fail t on it, and queues a test declares are deleted when t ends.
func Shared(t testing.TB) *Broker {
	t.Helper()
	return &Broker{URL: testenv.AMQPURL(t), MgmtURL: testenv.RabbitMQMgmtURL(t), shared: true}
}

// Start starts a private RabbitMQ node for t on free loopback ports (AMQP,
// distribution, management and its own epmd), with a private HOME, cookie,
// mnesia and log directory, as scripts/test-servers/rabbitmq.sh does, and
// returns once AMQP and the management API answer (about 8 s). t.Cleanup
// stops it and removes Dir. A start that fails fails t with the node's log
// tail; RabbitMQ not installed skips t, or fails it when
// WIREKEEPER_REQUIRE_INTEGRATION=1.
func Start(t testing.TB) *Broker {
	t.Helper()
	return start(t, nil)
}

// TLSFiles are the PEM files of a node's amqps:// listener: the CA that
// signs the clients' certificates, and the server's certificate and key.
type TLSFiles struct{ CA, Cert, Key string }

// StartTLS is Start with an amqps:// listener too (Broker.TLSURL).
func StartTLS(t testing.TB, files TLSFiles) *Broker {
	t.Helper()
	return start(t, &files)
}

func start(t testing.TB, tlsFiles *TLSFiles) *Broker {
	t.Helper()
	need(t)
	dir, err := os.MkdirTemp("", "rabbittest-")
	if err != nil {
		t.Fatalf("rabbittest: %v", err)
	}
	b := &Broker{Dir: dir}
	t.Cleanup(func() { b.cleanup(t) })
	// Ports are free when picked, but a parallel test may take one before
	// the node binds it: then try others.
	for attempt := 1; ; attempt++ {
		if b.node, err = newNode(dir, tlsFiles); err != nil {
			t.Fatalf("%v", err)
		}
		began := time.Now()
		if err = b.node.startEpmd(); err == nil {
			err = b.node.startServer()
		}
		if err == nil {
			b.StartTime = time.Since(began)
			break
		}
		tail := b.logs()
		if stopErr := b.node.stop(); stopErr != nil || attempt == 3 {
			t.Fatalf("rabbittest: start (attempt %d): %v\n%s", attempt, errors.Join(err, stopErr), tail)
		}
		t.Logf("rabbittest: start failed, trying other ports: %v", err)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatalf("rabbittest: %v", err)
		}
	}
	b.URL = fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", b.node.ports.amqp)
	b.MgmtURL = fmt.Sprintf("http://guest:guest@127.0.0.1:%d", b.node.ports.mgmt)
	if tlsFiles != nil {
		b.TLSURL = fmt.Sprintf("amqps://guest:guest@127.0.0.1:%d/", b.node.ports.amqps)
	}
	return b
}

// Stop stops a private node gracefully: clients lose their connections,
// and the ports refuse new ones until Start. Durable queues and persistent
// messages stay in Dir.
func (b *Broker) Stop(t testing.TB) {
	t.Helper()
	b.mustBePrivate(t, "Stop")
	if err := b.node.stopServer(); err != nil {
		t.Fatalf("%v\n%s", err, b.logs())
	}
}

// Start starts a stopped private node again on the same ports, node name
// and mnesia directory, so durable queues and persistent messages are back.
// It fails t if the node runs already.
func (b *Broker) Start(t testing.TB) {
	t.Helper()
	b.mustBePrivate(t, "Start")
	if b.node.server != nil {
		t.Fatalf("rabbittest: Start: the node on port %d runs already", b.node.ports.amqp)
	}
	began := time.Now()
	if err := b.node.startServer(); err != nil {
		t.Fatalf("%v\n%s", err, b.logs())
	}
	b.StartTime = time.Since(began)
}

// Restart stops a private node and starts it again (Stop, then Start).
func (b *Broker) Restart(t testing.TB) {
	t.Helper()
	b.Stop(t)
	b.Start(t)
}

// Ctl runs rabbitmqctl with args against a private node and returns its
// output, for what AMQP cannot do (set_vm_memory_high_watermark 0 raises a
// memory alarm that blocks every publishing connection).
func (b *Broker) Ctl(t testing.TB, args ...string) string {
	t.Helper()
	b.mustBePrivate(t, "Ctl")
	out, err := b.node.ctl(args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

func (b *Broker) mustBePrivate(t testing.TB, method string) {
	t.Helper()
	if b.shared {
		t.Fatalf("rabbittest: %s on the shared harness's RabbitMQ (%s): "+
			"tests must not stop shared servers; use rabbittest.Start", method, b.MgmtURL)
	}
}

// logs returns the tails of the node's logs, for failure messages.
func (b *Broker) logs() string {
	if b.node == nil {
		return ""
	}
	return logTail(b.node.path("server.out"), 20) + "\n" + logTail(b.node.logFile(), 30)
}

// cleanup stops the node and removes its directory.
func (b *Broker) cleanup(t testing.TB) {
	if b.node == nil {
		return
	}
	if t.Failed() {
		t.Logf("rabbittest: logs of the failed test's RabbitMQ:\n%s", b.logs())
	}
	if err := errors.Join(b.node.stop(), os.RemoveAll(b.Dir)); err != nil {
		t.Errorf("rabbittest: cleanup: %v", err)
	}
}

// need skips t unless rabbitmq-server and epmd are installed; when
// WIREKEEPER_REQUIRE_INTEGRATION=1 it fails t instead.
func need(t testing.TB) {
	t.Helper()
	testenv.NeedBins(t, "rabbittest: RabbitMQ", "apt-get install rabbitmq-server", false, serverScript, epmdBin)
}
