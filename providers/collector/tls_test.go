package collector_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/mysqltest"
	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/internal/rabbittest"
	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/testcerts"
	"github.com/wirekeeper/wirekeeper/providers/collector"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestTLSToRabbitMQAndMariaDB runs a collector over amqps:// to a private
// RabbitMQ and over TLS to a private MariaDB whose user may only connect
// with TLS (REQUIRE SSL), both with certificates made in the test and a
// client certificate presented; a target without the CA is refused the
// broker's certificate.
func TestTLSToRabbitMQAndMariaDB(t *testing.T) {
	t.Parallel()
	ca := testcerts.New(t)
	cert, key := ca.Server(t)
	broker := rabbittest.StartTLS(t, rabbittest.TLSFiles{CA: ca.File, Cert: cert, Key: key})
	db := mysqltest.StartTLS(t, mysqltest.TLSFiles{CA: ca.File, Cert: cert, Key: key})
	env := map[string]string{"WIREKEEPER_SECRET_AMQP_URL": broker.TLSURL, "WIREKEEPER_SECRET_MYSQL_DSN": db.TLSDSN}
	r := newRigWith(t, broker, db.DSN, func(o *collector.Options) {
		o.Secrets = secret.New(secret.Options{Dir: ca.Dir(), Getenv: func(k string) string { return env[k] }})
	})
	r.nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	clientCert, clientKey := ca.Client(t, "wirekeeper")
	tlsBlock := fmt.Sprintf("{caFile: %s, certFile: %s, keyFile: %s}", filepath.Base(ca.File), filepath.Base(clientCert), filepath.Base(clientKey))
	doc := func(name, mqTLS, dbTLS string) string {
		return fmt.Sprintf(`apiVersion: wirekeeper.io/v1alpha1
kind: CollectorTarget
metadata: {name: %s}
spec: {node: %s, netbeam: {url: %q, metrics: [traffic]}, lag: 0s, backfill: 10m, sliceMax: 5m,
  rabbitmq: {url: {env: WIREKEEPER_SECRET_AMQP_URL}, exchange: %s%s},
  inventory: {mysql: {dsn: {env: WIREKEEPER_SECRET_MYSQL_DSN}, table: %s%s}}}`, name, r.node, r.nb.URL, r.exchange, mqTLS, r.table, dbTLS)
	}
	r.apply(doc("tls", ", tls: "+tlsBlock, ", tls: "+tlsBlock), doc("noca", "", ", tls: "+tlsBlock))
	r.waitFor("a clean pass over TLS", 60*time.Second, func() bool {
		st, ok := r.p.Status("tls")
		return ok && st.Passes >= 1 && st.LastError == "" && st.Confirmed > 0
	})
	if ph, msg := r.phase("tls"); ph != reconciler.PhaseReady {
		t.Errorf("tls: %s (%s), want Ready", ph, msg)
	}
	if rows := r.rows(); len(rows) != 1 || rows[0].Status != "1" {
		t.Errorf("inventory over TLS: %+v, want one active row", rows)
	}
	r.waitFor("points delivered", 30*time.Second, func() bool { return len(r.stats()) > 0 })
	r.waitFor("the target without the CA refused", 30*time.Second, func() bool {
		ph, msg := r.phase("noca")
		return ph == reconciler.PhaseDegraded && strings.Contains(msg, "certificate")
	})
}
