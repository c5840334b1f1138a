package collector_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/internal/rabbittest"
	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/collector"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// rig runs the engine with the collector provider against a Netbeam
// stand-in, a RabbitMQ broker and a MariaDB, with a consumer on a queue
// bound to both routing keys. A provider rig (newProviderRig) has no
// engine: e is nil.
type rig struct {
	t        testing.TB
	node     string
	nb       *netbeamtest.Server
	broker   *rabbittest.Broker
	dsn      string
	exchange string
	table    string
	queue    string
	consumer *rabbittest.Consumer
	p        *collector.Provider
	events   *reconciler.Events
	e        *reconciler.Engine
	rev      int
	cancel   context.CancelFunc
	done     chan struct{}
}

func randHex(t testing.TB) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newRig wires a rig; broker and dsn may be private servers (nil and ""
// pick the harness's shared ones).
func newRig(t testing.TB, broker *rabbittest.Broker, dsn string) *rig {
	t.Helper()
	return newRigWith(t, broker, dsn, nil)
}

// newRigWith is newRig with the provider's options adjusted by tweak.
func newRigWith(t testing.TB, broker *rabbittest.Broker, dsn string, tweak func(*collector.Options)) *rig {
	t.Helper()
	return newRigFull(t, broker, dsn, tweak, true)
}

// newRigFull is newRigWith; without consume nobody reads the queue (the
// broker keeps the messages), and the test process holds none of them.
func newRigFull(t testing.TB, broker *rabbittest.Broker, dsn string, tweak func(*collector.Options), consume bool) *rig {
	t.Helper()
	r := newProviderRig(t, broker, dsn, tweak, consume)
	e, err := reconciler.New(reconciler.Options{Node: r.node, Providers: []reconciler.Provider{r.p}, Events: r.events, Workers: 2,
		BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second, Resync: time.Hour, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.e, r.cancel, r.done = e, cancel, make(chan struct{})
	go func() { e.Run(ctx); close(r.done) }()
	t.Cleanup(func() { r.cancel(); <-r.done })
	return r
}

// newProviderRig is newRigFull without the engine: the peers and the
// provider, for tests that call the provider themselves.
func newProviderRig(t testing.TB, broker *rabbittest.Broker, dsn string, tweak func(*collector.Options), consume bool) *rig {
	t.Helper()
	if broker == nil {
		broker = rabbittest.Shared(t)
	}
	if dsn == "" {
		dsn = testenv.MySQLDSN(t)
	}
	id := randHex(t)
	r := &rig{t: t, node: "col-" + id, nb: netbeamtest.Start(t, "esnet/prod"), broker: broker, dsn: dsn,
		exchange: "wk.x." + id, table: "inv_" + id, queue: "wk.q." + id}
	r.nb.SetStep(30 * time.Second)
	broker.DeclareQueue(t, r.queue, r.exchange, "esnet_interfaces")
	broker.DeclareQueue(t, r.queue, r.exchange, "esnet_traffic")
	if consume {
		r.consumer = broker.Consume(t, r.queue)
	}
	t.Cleanup(func() { r.exec("DROP TABLE IF EXISTS " + r.table) })
	env := map[string]string{"WIREKEEPER_SECRET_AMQP_URL": broker.URL, "WIREKEEPER_SECRET_MYSQL_DSN": dsn}
	r.events = reconciler.NewEvents()
	opts := collector.Options{Node: r.node, Logger: testLogger(t), Events: r.events, HTTPClient: r.nb.Client(),
		Secrets: secret.New(secret.Options{Getenv: func(k string) string { return env[k] }}), PauseInterval: 200 * time.Millisecond}
	if tweak != nil {
		tweak(&opts)
	}
	r.p = collector.New(opts)
	t.Cleanup(r.p.Close)
	return r
}

// targetDoc is a CollectorTarget of the rig's node; netbeam and rabbit
// are more of those fields in flow style ("metrics: [traffic]"), extra
// more of its spec ("lag: 1m, sliceMax: 5m").
func (r *rig) targetDoc(name, netbeam, rabbit, extra string) string {
	for _, s := range []*string{&netbeam, &rabbit, &extra} {
		if *s != "" {
			*s = ", " + *s
		}
	}
	return fmt.Sprintf(`apiVersion: wirekeeper.io/v1alpha1
kind: CollectorTarget
metadata: {name: %s}
spec: {node: %s, netbeam: {url: %q%s}, rabbitmq: {url: {env: WIREKEEPER_SECRET_AMQP_URL}, exchange: %s%s},
  inventory: {mysql: {dsn: {env: WIREKEEPER_SECRET_MYSQL_DSN}, table: %s}}%s}`, name, r.node, r.nb.URL, netbeam, r.exchange, rabbit, r.table, extra)
}

func (r *rig) apply(docs ...string) {
	r.t.Helper()
	r.rev++
	set := r.load(docs...)
	if err := r.e.SetRevision(context.Background(), reconciler.Revision{Hash: fmt.Sprintf("rev%04d", r.rev), Message: "wirekeeper: allow-prune"}, set); err != nil {
		r.t.Fatal(err)
	}
}

// load decodes docs into a spec set, defaults filled, as the daemon does.
func (r *rig) load(docs ...string) *spec.Set {
	r.t.Helper()
	set, diags := spec.LoadFS(fstest.MapFS{"c.yaml": &fstest.MapFile{Data: []byte(strings.Join(docs, "\n---\n"))}}, "")
	if diags.HasErrors() {
		r.t.Fatalf("test spec invalid:\n%v", diags)
	}
	return set
}

func (r *rig) phase(name string) (reconciler.Phase, string) {
	o := r.e.Status().Object(reconciler.Ref{Kind: collector.Kind, Name: name})
	if o == nil {
		return "", ""
	}
	return o.Phase, o.Message
}

func (r *rig) waitFor(what string, timeout time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			ph, msg := "", ""
			for _, o := range r.e.Status().Objects {
				ph, msg = string(o.Phase), o.Message
			}
			r.t.Fatalf("timed out waiting for %s; last object %s: %s", what, ph, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// row is one inventory row as the test reads it back.
type row struct {
	ID                                     int64
	Name, Status, ActiveFrom               string
	ActiveUntil, Traffic, Errors, Discards sql.NullString
}

func (r *rig) db() *sql.DB {
	db, err := sql.Open("mysql", r.dsn)
	if err != nil {
		r.t.Fatal(err)
	}
	return db
}

func (r *rig) exec(q string) {
	db := r.db()
	defer db.Close()
	db.Exec(q)
}

// rows reads the inventory table, by id; none when it does not exist yet.
func (r *rig) rows() []row {
	db := r.db()
	defer db.Close()
	rs, err := db.Query("SELECT id, name, status, active_from, active_until, traffic_until, errors_until, discards_until FROM " + r.table + " ORDER BY id")
	if err != nil {
		return nil
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var x row
		if err := rs.Scan(&x.ID, &x.Name, &x.Status, &x.ActiveFrom, &x.ActiveUntil, &x.Traffic, &x.Errors, &x.Discards); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// stats decodes the stats messages received, by message id.
func (r *rig) stats() map[string]statsBody {
	out := map[string]statsBody{}
	for _, d := range r.consumer.Messages() {
		if d.RoutingKey != "esnet_traffic" {
			continue
		}
		var b statsBody
		if err := json.Unmarshal(d.Body, &b); err != nil {
			r.t.Fatalf("stats message %s: %v: %s", d.MessageID, err, d.Body)
		}
		out[d.MessageID] = b
	}
	return out
}

type statsBody struct {
	Name       string   `json:"name"`
	RecordType string   `json:"recordType"`
	Timestamp  int64    `json:"timestamp"`
	In         *float64 `json:"in"`
	Out        *float64 `json:"out"`
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
