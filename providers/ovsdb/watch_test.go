package ovsdb_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// eagerWorker stands in for the engine's workers at their most unlucky: it
// observes the mirror the moment the watch enqueues it, on the monitor's
// own goroutine, while the rest of the transaction may still be on its way.
type eagerWorker struct {
	p   *ovsdb.Provider
	req reconciler.Request

	mu   sync.Mutex
	seen []reconciler.Observation // since the last take
}

func (w *eagerWorker) enqueue(ref reconciler.Ref) {
	if ref != w.req.Ref {
		return
	}
	obs, err := w.p.Observe(context.Background(), w.req)
	if err != nil {
		obs = reconciler.Observation{Pending: "observe failed: " + err.Error()}
	}
	w.mu.Lock()
	w.seen = append(w.seen, obs)
	w.mu.Unlock()
}

// take returns the observations made since the last take.
func (w *eagerWorker) take() []reconciler.Observation {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := w.seen
	w.seen = nil
	return seen
}

// TestWatchWakesMirrorOnceTheWholeTransactionArrived: the monitor applies
// a transaction to its view one row at a time, its tables in no fixed
// order, and each row's event wakes the objects it concerns at once. So a
// reconcile can see half a transaction: the Port row of an add-port before
// the Bridge row that lists the port. Whatever the order, the last wake-up
// a transaction causes must come when the view holds all of it, or a
// mirror that saw its port missing stays Pending (or Degraded) until the
// next resync. Each step below is checked as if a worker observed at every
// wake-up: the last of those observations must equal a fresh one.
func TestWatchWakesMirrorOnceTheWholeTransactionArrived(t *testing.T) {
	o := ovstest.Shared(t)
	br := shortName(t, "wkw")
	o.AddBridge(t, br)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	vm, out, bystander := br+"a", br+"o", br+"z"
	o.AddPorts(t, br, []string{vm, out, bystander})
	set := loadSet(t, managerDoc("ovs1", o.DB),
		mirrorDoc("span", "ovs1", br, "selectSrcPorts: ["+vm+"], output: {port: "+out+"}"))
	ref := reconciler.Ref{Kind: "Mirror", Name: "span"}
	req := reconciler.Request{Ref: ref, Desired: set.Get("Mirror", "span"), Set: set}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients := ovs.New(ovs.Options{Node: node, Logger: testLogger(t)})
	events := reconciler.NewEvents()
	p := ovsdb.New(ovsdb.Options{Node: node, Logger: testLogger(t), OVS: clients, Events: events})
	t.Cleanup(p.Close)
	ports, err := clients.Ports(ctx, set, "ovs1")
	if err != nil {
		t.Fatal(err)
	}
	// The provider maps row events to objects through the revision it
	// was last handed: an observe hands it this one.
	if _, err := p.Observe(ctx, req); err != nil {
		t.Fatal(err)
	}
	w := &eagerWorker{p: p, req: req}
	t.Cleanup(events.Attach(w.enqueue))

	// barrier returns once the monitor has handed over every event of the
	// transactions before it: it waits for a change of its own (to an
	// interface no object names) to reach the view, and the monitor
	// delivers events in order, one at a time.
	step := 0
	barrier := func() {
		t.Helper()
		step++
		want := strconv.Itoa(step)
		o.Vsctl(t, "set", "Interface", bystander, "external_ids:wk-step="+want)
		deadline := time.Now().Add(30 * time.Second)
		for {
			row, ok, err := ports.Named(bystander)
			if err != nil {
				t.Fatal(err)
			}
			if ok && row.ExternalIDs["wk-step"] == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the monitor did not show step %s of interface %s within 30 s", want, bystander)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The watch is running once a change to the output port wakes span.
	for i := 0; len(w.take()) == 0; i++ {
		if i == 100 {
			t.Fatal("the watch never enqueued span for a change of its output port")
		}
		o.Vsctl(t, "set", "Port", out, "external_ids:wk-hello="+strconv.Itoa(i))
		barrier()
	}
	create := reconciler.Change{Ref: ref, Action: reconciler.ActionCreate}
	if err := p.Apply(ctx, req, create); err != nil {
		t.Fatal(err)
	}
	barrier()
	w.take()

	// The rows of a transaction that adds a port: Interface, Port, Bridge.
	addPort := func(name string) []string {
		return []string{"--", "--id=@i", "create", "Interface", "name=" + name, "type=internal",
			"--", "--id=@p", "create", "Port", "name=" + name, "interfaces=@i",
			"--", "add", "Bridge", br, "ports", "@p"}
	}
	steps := []struct {
		name string
		args []string
		// halfSeen: a wake-up that saw this step half done saw the new
		// Port row before the Bridge row listing it.
		halfSeen bool
	}{
		{"output port deleted", []string{"del-port", br, out}, false},
		{"output port added back", addPort(out), true},
		{"selected port deleted", []string{"del-port", br, vm}, false},
		{"selected port added back", addPort(vm), true},
		{"selected port replaced in one transaction", append([]string{"--", "del-port", br, vm}, addPort(vm)...), false},
	}
	// Which table's rows come first is up to the monitor: libovsdb walks
	// its map of the five tables, which Go starts at a random one of
	// eight slots, so each add-port has at least a 1-in-8 chance to hand
	// over the Port row first (main missed exactly that). The steps repeat
	// until it happened twice; 100 rounds make failing to see it a chance
	// below 1e-10.
	halfDone := map[string]int{}
	addsHalfDone := 0
	for round := 0; addsHalfDone < 2; round++ {
		if round == 100 {
			t.Fatalf("in %d rounds a wake-up saw a port added half done only %d times (%v): the order this test is about did not occur", round, addsHalfDone, halfDone)
		}
		for _, s := range steps {
			o.Vsctl(t, s.args...)
			barrier()
			seen := w.take()
			fresh, err := p.Observe(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) == 0 {
				t.Fatalf("round %d, %s: the watch did not wake span", round, s.name)
			}
			if diff := cmp.Diff(fresh, seen[len(seen)-1]); diff != "" {
				t.Fatalf("round %d, %s: the last wake-up of span saw the transaction half done, and nothing woke it again (-fresh +last):\n%s\nwhat each wake-up saw:%s",
					round, s.name, diff, describeObservations(seen))
			}
			for _, obs := range seen[:len(seen)-1] {
				if !cmp.Equal(obs, fresh) {
					halfDone[s.name]++
					if s.halfSeen {
						addsHalfDone++
					}
					break
				}
			}
		}
	}
	t.Logf("steps seen half done by a wake-up: %v", halfDone)
}

func describeObservations(seen []reconciler.Observation) string {
	s := ""
	for i, o := range seen {
		s += fmt.Sprintf("\n  %d: exists=%v pending=%q degraded=%q", i, o.Exists, o.Pending, o.Degraded)
	}
	return s
}
