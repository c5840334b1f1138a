package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/mysqltest"
	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/internal/rabbittest"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/collector"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// passes returns how many passes the target has finished.
func (r *rig) passes(name string) int {
	st, _ := r.p.Status(name)
	return st.Passes
}

// nextPass triggers a pass and waits for it to end.
func (r *rig) nextPass(name string) {
	r.t.Helper()
	n := r.passes(name)
	r.p.Trigger(name)
	r.waitFor("the next pass", 30*time.Second, func() bool { return r.passes(name) > n })
}

// TestNetbeam5xxKeepsTheWatermark fails every Netbeam request for a pass:
// the target is Degraded with the error, the watermark stays where it was,
// and once Netbeam answers again every point is delivered.
func TestNetbeam5xxKeepsTheWatermark(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, "")
	iface := netbeamtest.Iface("albq-asw1", "ge-0/0/1")
	res := iface["resource"].(string)
	r.nb.SetInterfaces(iface)
	r.apply(r.targetDoc("t5", "metrics: [traffic]", "", "lag: 0s, backfill: 10m"))
	r.waitFor("the first pass", 20*time.Second, func() bool { return r.passes("t5") >= 1 })
	w1 := r.rows()[0].Traffic.String

	r.nb.FailNext(1_000_000, 503)
	time.Sleep(1100 * time.Millisecond) // so that the pass would have a new point to fetch... at least a new ms
	r.nextPass("t5")
	r.waitFor("Degraded with the error", 10*time.Second, func() bool {
		ph, msg := r.phase("t5")
		return ph == reconciler.PhaseDegraded && strings.Contains(msg, "503")
	})
	if got := r.rows()[0].Traffic.String; got != w1 {
		t.Fatalf("watermark moved from %s to %s although Netbeam failed", w1, got)
	}

	r.nb.FailNext(0, 0)
	r.nextPass("t5")
	r.waitFor("Ready again", 10*time.Second, func() bool { ph, _ := r.phase("t5"); return ph == reconciler.PhaseReady })
	rows := r.rows()
	from, wm := mustInt(t, rows[0].ActiveFrom)-(10*time.Minute).Milliseconds(), mustInt(t, rows[0].Traffic.String)
	if wm <= mustInt(t, w1) {
		t.Fatalf("watermark %d did not move past %s after the recovery", wm, w1)
	}
	want := r.expect(res, []string{"traffic"}, from, wm)
	r.waitFor("every point", 10*time.Second, func() bool {
		got := r.stats()
		for id := range want {
			if _, ok := got[id]; !ok {
				return false
			}
		}
		return true
	})
}

// TestRetireAndRevive takes an interface out of the API: its row is
// retired (status 0, active_until), collected up to active_until and then
// no more; when it comes back it gets a new active row.
func TestRetireAndRevive(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, "")
	a, b := netbeamtest.Iface("albq-asw1", "ge-0/0/1"), netbeamtest.Iface("albq-asw1", "ge-0/0/2")
	resB := b["resource"].(string)
	r.nb.SetInterfaces(a, b)
	r.apply(r.targetDoc("tr", "metrics: [traffic]", "", "lag: 0s, backfill: 10m"))
	r.waitFor("the first pass", 20*time.Second, func() bool { return r.passes("tr") >= 1 })

	r.nb.SetInterfaces(a)
	r.nextPass("tr")
	var retired row
	for _, x := range r.rows() {
		if x.Name == resB {
			retired = x
		}
	}
	if retired.Status != "0" || !retired.ActiveUntil.Valid {
		t.Fatalf("row of %s = %+v, want retired with active_until", resB, retired)
	}
	if retired.Traffic.String != retired.ActiveUntil.String {
		t.Errorf("retired row collected to %s, want up to its active_until %s", retired.Traffic.String, retired.ActiveUntil.String)
	}
	before := len(r.nb.Requests())
	r.nextPass("tr")
	for _, q := range r.nb.Requests()[before:] {
		if q.Resource == resB {
			t.Errorf("the retired interface was asked for again: %+v", q)
		}
	}

	r.nb.SetInterfaces(a, b)
	r.nextPass("tr")
	var active, old int
	for _, x := range r.rows() {
		if x.Name == resB {
			if x.Status == "1" {
				active++
			} else {
				old++
			}
		}
	}
	if active != 1 || old != 1 {
		t.Errorf("rows of %s: %d active, %d retired; want a new active row beside the retired one", resB, active, old)
	}
}

// TestSpecChangeRestarts changes a running target's metrics: the engine
// restarts it with the new settings and the new metric is collected.
func TestSpecChangeRestarts(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, "")
	r.nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	r.apply(r.targetDoc("ts", "metrics: [traffic]", "", "lag: 0s, backfill: 10m"))
	r.waitFor("the first pass", 20*time.Second, func() bool { return r.passes("ts") >= 1 })
	if rows := r.rows(); rows[0].Discards.String != rows[0].Traffic.String && rows[0].Discards.Valid {
		t.Logf("discards watermark %s before the change", rows[0].Discards.String)
	}
	r.apply(r.targetDoc("ts", "metrics: [traffic, discards]", "", "lag: 0s, backfill: 10m"))
	r.waitFor("discards collected", 20*time.Second, func() bool {
		for _, b := range r.stats() {
			if b.RecordType == "discards" {
				return true
			}
		}
		return false
	})
	r.waitFor("Ready", 10*time.Second, func() bool { ph, _ := r.phase("ts"); return ph == reconciler.PhaseReady })
}

// TestBackpressure pauses while a watched queue is over maxQueueDepth
// (nobody consumes it), reports it, and resumes once a consumer drains it.
func TestBackpressure(t *testing.T) {
	t.Parallel()
	r := newRigWith(t, nil, "", func(o *collector.Options) { o.DepthCheckEvery = 1 })
	full := "wk.full." + randHex(t)
	r.broker.DeclareQueue(t, full, r.exchange, "esnet_traffic") // nobody consumes it
	r.nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	r.apply(r.targetDoc("tb", "metrics: [traffic]", "watchQueues: ["+full+"], maxQueueDepth: 10", "lag: 0s, backfill: 30m, sliceMax: 1m"))
	r.waitFor("paused", 20*time.Second, func() bool {
		ph, msg := r.phase("tb")
		return ph == reconciler.PhaseDegraded && strings.Contains(msg, "paused for backpressure: queue "+full)
	})
	// The topology shows the collector paused, then collecting again.
	if md := collectorNode(t, r, "tb"); md["State"] != "Paused" || md["Type"] != "collector" {
		t.Errorf("collector node while paused: %v", md)
	}
	r.broker.Consume(t, full) // the slow consumer catches up
	r.waitFor("resumed and Ready", 20*time.Second, func() bool {
		ph, _ := r.phase("tb")
		st, _ := r.p.Status("tb")
		return ph == reconciler.PhaseReady && !st.Paused && st.Passes >= 1
	})
	md := collectorNode(t, r, "tb")
	if md["State"] != "Collecting" || md["Interfaces"] != 1 {
		t.Errorf("collector node after the pause: %v", md)
	}
}

// collectorNode returns the metadata of the collector's node in the
// provider's part of the topology.
func collectorNode(t *testing.T, r *rig, name string) topology.Metadata {
	t.Helper()
	g := topology.New(r.node, nil)
	r.p.Topology(g)
	g.Finish()
	for _, n := range g.Nodes {
		if n.Metadata["Type"] == "collector" && n.Metadata["Name"] == name {
			if n.Object != "CollectorTarget/"+name {
				t.Errorf("collector node's object %q", n.Object)
			}
			return n.Metadata
		}
	}
	t.Fatalf("no collector node %s in the topology", name)
	return nil
}

// TestBrokerAndDatabaseRestarts restarts a private RabbitMQ and a private
// MariaDB while a 12-hour backfill of several interfaces is being
// published: every point arrives at least once and the watermarks end
// where the points do.
func TestBrokerAndDatabaseRestarts(t *testing.T) {
	t.Parallel()
	broker := rabbittest.Start(t)
	db := mysqltest.Start(t)
	r := newRig(t, broker, db.DSN)
	var ifaces []map[string]any
	for _, n := range []string{"ge-0/0/1", "ge-0/0/2", "ge-0/0/3", "xe-1/0/0"} {
		ifaces = append(ifaces, netbeamtest.Iface("albq-asw1", n))
	}
	r.nb.SetInterfaces(ifaces...)
	r.apply(r.targetDoc("tf", "metrics: [traffic, errors]", "", "lag: 0s, backfill: 12h, sliceMax: 1h"))
	r.waitFor("publishing under way", 30*time.Second, func() bool { return r.consumer.Count() > 2000 })
	broker.Restart(t)
	r.waitFor("more published after the broker restart", 60*time.Second, func() bool { return r.consumer.Count() > 8000 })
	db.Restart(t)
	r.waitFor("a clean pass after both restarts", 90*time.Second, func() bool {
		st, _ := r.p.Status("tf")
		return st.Passes >= 1 && st.LastError == "" && len(r.rows()) == len(ifaces)
	})
	r.nextPass("tf") // one more, so that everything owed is collected
	got := r.stats()
	for _, x := range r.rows() {
		from := mustInt(t, x.ActiveFrom) - (12 * time.Hour).Milliseconds()
		for id := range r.expect(x.Name, []string{"traffic", "errors"}, from, mustInt(t, x.Errors.String)) {
			if _, ok := got[id]; !ok && strings.Contains(id, "|errors|") {
				t.Errorf("point %s lost", id)
			}
		}
		for id := range r.expect(x.Name, []string{"traffic"}, from, mustInt(t, x.Traffic.String)) {
			if _, ok := got[id]; !ok {
				t.Errorf("point %s lost", id)
			}
		}
	}
	dups := 0
	seen := map[string]bool{}
	for _, d := range r.consumer.Messages() {
		if seen[d.MessageID] {
			dups++
		}
		seen[d.MessageID] = true
	}
	t.Logf("%d messages received, %d distinct, %d duplicates (at least once)", len(r.consumer.Messages()), len(seen), dups)
}
