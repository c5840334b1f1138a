package collector_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// route binds (or, with bind false, unbinds) the rig's queue to its
// exchange for each routing key, as an operator reconfiguring consumers
// would.
func (r *rig) route(bind bool, keys ...string) {
	r.t.Helper()
	conn, err := amqp091.Dial(r.broker.URL)
	if err != nil {
		r.t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		r.t.Fatalf("channel: %v", err)
	}
	for _, k := range keys {
		if bind {
			err = ch.QueueBind(r.queue, k, r.exchange, false, nil)
		} else {
			err = ch.QueueUnbind(r.queue, k, r.exchange, nil)
		}
		if err != nil {
			r.t.Fatalf("bind=%v %s to %s with %s: %v", bind, r.queue, r.exchange, k, err)
		}
	}
}

// noRoute is the Degraded message for keys of the rig's exchange.
func (r *rig) noRoute(keys ...string) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("no queue bound to exchange %s for routing key %s", r.exchange, k)
	}
	return strings.Join(parts, "; ")
}

// TestNoQueueBoundHoldsTheWatermark publishes while no queue is bound to
// the exchange: the broker returns every message, none counts as
// delivered, the watermark stays, and the target is Degraded saying which
// route is missing, in the engine's status (which the status files and
// `wirekeeper status` show as they are). Once
// an operator binds a queue, the next pass delivers the held-back points,
// each once and in order, and the target is Ready.
func TestNoQueueBoundHoldsTheWatermark(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, "")
	r.route(false, "esnet_interfaces", "esnet_traffic")
	iface := netbeamtest.Iface("albq-asw1", "ge-0/0/1")
	res := iface["resource"].(string)
	r.nb.SetInterfaces(iface)
	r.apply(r.targetDoc("tu", "metrics: [traffic]", "", "lag: 0s, backfill: 10m, sliceMax: 3m"))

	want := r.noRoute("esnet_interfaces", "esnet_traffic")
	r.waitFor("Degraded for want of a queue", 20*time.Second, func() bool {
		ph, msg := r.phase("tu")
		return ph == reconciler.PhaseDegraded && msg == want
	})
	held := func() {
		t.Helper()
		rows := r.rows()
		if len(rows) != 1 {
			t.Fatalf("inventory = %+v, want one row", rows)
		}
		// A new interface's watermark is active_from - backfill.
		if got, start := mustInt(t, rows[0].Traffic.String), mustInt(t, rows[0].ActiveFrom)-(10*time.Minute).Milliseconds(); got != start {
			t.Fatalf("watermark %d, want it held at %d: no point was delivered", got, start)
		}
		st, _ := r.p.Status("tu")
		if st.Confirmed != 0 || st.Returned == 0 || st.Returned != st.Published {
			t.Fatalf("status counts %d published, %d confirmed, %d returned; want every message returned, none confirmed",
				st.Published, st.Confirmed, st.Returned)
		}
		if want := []string{"esnet_interfaces", "esnet_traffic"}; !slices.Equal(st.Unroutable, want) {
			t.Fatalf("Status.Unroutable = %q, want %q", st.Unroutable, want)
		}
	}
	held()
	r.nextPass("tu") // another try while nothing is bound changes nothing
	held()
	if md := collectorNode(t, r, "tu"); md["State"] != "Failing" {
		t.Errorf("collector node state %v, want Failing", md["State"])
	}

	// Bind the queue with no pass in flight: while Netbeam fails, a pass
	// ends before publishing anything, so the first pass that publishes
	// after the binding is a whole one.
	r.nb.FailNext(1_000_000, 503)
	r.nextPass("tu")
	r.waitFor("a pass failing at Netbeam", 20*time.Second, func() bool {
		st, _ := r.p.Status("tu")
		return strings.Contains(st.LastError, "503")
	})
	r.nextPass("tu")
	start := mustInt(t, r.rows()[0].Traffic.String)
	if got := r.consumer.Count(); got != 0 {
		t.Fatalf("%d messages delivered while no queue was bound", got)
	}
	r.route(true, "esnet_interfaces", "esnet_traffic")
	r.nb.FailNext(0, 0)
	r.nextPass("tu")
	r.waitFor("Ready once a queue is bound", 20*time.Second, func() bool { ph, _ := r.phase("tu"); return ph == reconciler.PhaseReady })

	end := mustInt(t, r.rows()[0].Traffic.String)
	if end <= start {
		t.Fatalf("watermark %d did not move past %d once a queue was bound", end, start)
	}
	expected := r.expect(res, []string{"traffic"}, start, end)
	if len(expected) < 20 {
		t.Fatalf("only %d points held back; the window is wrong", len(expected))
	}
	r.waitFor("the held-back points", 20*time.Second, func() bool { return len(r.stats()) >= len(expected) })
	var got []string
	for _, d := range r.consumer.Messages() {
		if d.RoutingKey == "esnet_traffic" {
			got = append(got, d.MessageID)
		}
	}
	wantIDs := slices.Sorted(func(yield func(string) bool) {
		for id := range expected {
			if !yield(id) {
				return
			}
		}
	})
	// Same resource and metric, 13-digit timestamps: the ids sort by time.
	if !slices.Equal(got, wantIDs) {
		t.Errorf("held-back points delivered:\n%s\nwant each once, in time order:\n%s", strings.Join(got, "\n"), strings.Join(wantIDs, "\n"))
	}
	if st, _ := r.p.Status("tu"); st.Unroutable != nil || st.Confirmed < uint64(len(expected)) {
		t.Errorf("status after the recovery: %d confirmed, unroutable %v", st.Confirmed, st.Unroutable)
	}
}

// TestAllowUnroutableDropsAsTheSeed sets rabbitmq.allowUnroutable: with no
// queue bound the broker drops the messages, as with the seed, and the
// watermark moves on: the target is Ready.
func TestAllowUnroutableDropsAsTheSeed(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, "")
	r.route(false, "esnet_interfaces", "esnet_traffic")
	r.nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	r.apply(r.targetDoc("ta", "metrics: [traffic]", "allowUnroutable: true", "lag: 0s, backfill: 10m, sliceMax: 3m"))
	r.waitFor("the first pass", 20*time.Second, func() bool { return r.passes("ta") >= 1 })
	if ph, msg := r.phase("ta"); ph != reconciler.PhaseReady {
		t.Errorf("phase %s (%s), want Ready", ph, msg)
	}
	rows := r.rows()
	if len(rows) != 1 {
		t.Fatalf("inventory = %+v, want one row", rows)
	}
	start := mustInt(t, rows[0].ActiveFrom) - (10 * time.Minute).Milliseconds()
	if wm := mustInt(t, rows[0].Traffic.String); wm <= start {
		t.Errorf("watermark %d, want it past %d: allowUnroutable counts dropped messages as delivered", wm, start)
	}
	st, _ := r.p.Status("ta")
	if st.Returned != 0 || st.Confirmed == 0 || st.Unroutable != nil {
		t.Errorf("status counts %d confirmed, %d returned, unroutable %v; want every message confirmed", st.Confirmed, st.Returned, st.Unroutable)
	}
	if got := r.consumer.Count(); got != 0 {
		t.Errorf("%d messages delivered although no queue is bound", got)
	}
}

// TestInterfacesUnroutableStillCollects binds a queue for the stats
// routing key only: the interface messages come back and the target says
// so, but they hold nothing back (they are sent again every pass), so the
// points are collected and the watermark moves.
func TestInterfacesUnroutableStillCollects(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, "")
	r.route(false, "esnet_interfaces")
	iface := netbeamtest.Iface("albq-asw1", "ge-0/0/1")
	r.nb.SetInterfaces(iface)
	r.apply(r.targetDoc("ti", "metrics: [traffic]", "", "lag: 0s, backfill: 10m"))
	want := r.noRoute("esnet_interfaces")
	r.waitFor("Degraded for want of a queue", 20*time.Second, func() bool {
		ph, msg := r.phase("ti")
		return ph == reconciler.PhaseDegraded && msg == want
	})
	rows := r.rows()
	from, wm := mustInt(t, rows[0].ActiveFrom)-(10*time.Minute).Milliseconds(), mustInt(t, rows[0].Traffic.String)
	if wm <= from {
		t.Fatalf("watermark %d did not move past %d", wm, from)
	}
	expected := r.expect(iface["resource"].(string), []string{"traffic"}, from, wm)
	r.waitFor("every point", 20*time.Second, func() bool { return len(r.stats()) >= len(expected) })
	for _, d := range r.consumer.Messages() {
		if d.RoutingKey != "esnet_traffic" {
			t.Errorf("message %s on %s delivered, with no queue bound for it", d.MessageID, d.RoutingKey)
		}
	}
}
