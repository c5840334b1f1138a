package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// degradedWith waits for the target to be Degraded with a message that
// starts with prefix, and checks that no prefix of the message's parts is
// said twice in a row ("inventory: inventory: ...").
func (r *rig) degradedWith(name, prefix string) {
	r.t.Helper()
	var msg string
	r.waitFor("Degraded with "+prefix, 20*time.Second, func() bool {
		var ph reconciler.Phase
		ph, msg = r.phase(name)
		return ph == reconciler.PhaseDegraded && strings.HasPrefix(msg, prefix)
	})
	for _, doubled := range []string{"inventory: inventory:", "inventory sync: inventory:", "netbeam interfaces: netbeam:", "netbeam: netbeam:", "amqp: amqp:", "rabbitmq: rabbitmq:", "inventory.mysql.dsn: inventory.mysql.dsn:", "rabbitmq.url: rabbitmq.url:"} {
		if strings.Contains(msg, doubled) {
			r.t.Errorf("message says where it came from twice (%q): %s", doubled, msg)
		}
	}
}

// TestPassErrorsSayWhereOnce makes a pass fail in the inventory (no
// server, then a table gone) and at Netbeam: the Degraded message names
// the failing part once, as its package's own error does.
func TestPassErrorsSayWhereOnce(t *testing.T) {
	t.Parallel()
	const failed = "last pass failed, retrying from the watermarks: "
	t.Run("inventory unreachable", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil, "wk:wk@tcp(127.0.0.1:1)/wk")
		r.nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
		r.apply(r.targetDoc("ei", "metrics: [traffic]", "", ""))
		r.degradedWith("ei", failed+"inventory.mysql.dsn: cannot connect to the MySQL server it names: connection refused")
	})
	t.Run("inventory table gone", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil, "")
		r.nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
		r.apply(r.targetDoc("es", "metrics: [traffic]", "", "lag: 0s"))
		r.waitFor("the first pass", 20*time.Second, func() bool { return r.passes("es") >= 1 })
		r.exec("DROP TABLE " + r.table)
		r.nextPass("es")
		r.degradedWith("es", failed+"inventory.mysql.dsn: sync of table "+r.table+": the table does not exist (MySQL error 1146)")
	})
	t.Run("netbeam fails", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, nil, "")
		r.nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
		r.nb.FailNext(1_000_000, 503)
		r.apply(r.targetDoc("en", "metrics: [traffic]", "", ""))
		r.degradedWith("en", failed+"netbeam: GET ")
	})
}
