package ovs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/spec"
)

const testNode = "hv-group"

// portsOn connects to a fresh bridge of the shared test ovsdb-server and
// returns its Ports, the Clients and the bridge's name.
func portsOn(t *testing.T) (*Ports, *Clients, string) {
	t.Helper()
	o := ovstest.Shared(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	br := "wkg" + hex.EncodeToString(b)
	o.AddBridge(t, br)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	doc := fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: m1}\nspec: {node: %s, address: %q}", testNode, o.DB)
	set, diags := spec.LoadFS(fstest.MapFS{"m.yaml": {Data: []byte(doc)}}, "")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	cs := New(Options{Node: testNode})
	t.Cleanup(cs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ps, err := cs.Ports(ctx, set, "m1")
	if err != nil {
		t.Fatal(err)
	}
	return ps, cs, br
}

// holdGroup makes the connection's group look busy, so that writes queue
// up; release lets the next write send them all. It returns a function
// that waits until n writes are queued.
func holdGroup(g *group) (queued func(t *testing.T, n int), release func()) {
	g.mu.Lock()
	g.sending = true
	g.mu.Unlock()
	queued = func(t *testing.T, n int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			g.mu.Lock()
			got := len(g.queue)
			g.mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d writes queued, want %d", got, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	release = func() {
		g.mu.Lock()
		g.sending = false
		g.mu.Unlock()
	}
	return queued, release
}

// TestConcurrentPortAddsShareOneTransaction: writes made while a
// transaction is in flight go together in the next one.
func TestConcurrentPortAddsShareOneTransaction(t *testing.T) {
	ps, cs, br := portsOn(t)
	ctx := context.Background()
	queued, release := holdGroup(&ps.c.group)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = ps.Add(ctx, PortRow{Bridge: br, Name: fmt.Sprintf("%sp%d", br, i), ExternalIDs: map[string]string{"k": "v"}})
		}()
	}
	queued(t, n-1)
	release()
	before := cs.Stats().Transactions
	errs[n-1] = ps.Add(ctx, PortRow{Bridge: br, Name: fmt.Sprintf("%sp%d", br, n-1)})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("add %d: %v", i, err)
		}
	}
	if got := cs.Stats().Transactions - before; got != 1 {
		t.Errorf("%d adds sent in %d transactions, want 1", n, got)
	}
	listed := strings.Fields(ovstest.Vsctl(t, ps.c.spec.Address, "list-ports", br))
	for i := range n {
		if name := fmt.Sprintf("%sp%d", br, i); !slices.Contains(listed, name) {
			t.Errorf("port %s is not on %s: %q", name, br, listed)
		}
	}
}

// TestFailedWriteInAGroupFailsAlone: the write whose operation OVSDB
// refuses gets the error; the others of its transaction take effect.
func TestFailedWriteInAGroupFailsAlone(t *testing.T) {
	ps, cs, br := portsOn(t)
	ctx := context.Background()
	if err := ps.Add(ctx, PortRow{Bridge: br, Name: br + "x"}); err != nil {
		t.Fatal(err)
	}
	row, ok, err := ps.Named(br + "x")
	if err != nil || !ok {
		t.Fatalf("port %sx: %v %v", br, ok, err)
	}
	queued, release := holdGroup(&ps.c.group)
	var wg sync.WaitGroup
	var errA, errBad error
	wg.Add(2)
	go func() { defer wg.Done(); errA = ps.Add(ctx, PortRow{Bridge: br, Name: br + "a"}) }()
	go func() {
		defer wg.Done()
		bad := 5000 // Port.tag is 0..4095: a constraint violation
		row.Tag = &bad
		errBad = ps.Update(ctx, row, nil)
	}()
	queued(t, 2)
	release()
	before := cs.Stats().Transactions
	errC := ps.Add(ctx, PortRow{Bridge: br, Name: br + "c"})
	wg.Wait()
	if errA != nil || errC != nil {
		t.Errorf("the good writes failed: %v; %v", errA, errC)
	}
	if errBad == nil || !strings.Contains(errBad.Error(), "constraint") {
		t.Errorf("the bad write: %v, want a constraint violation", errBad)
	}
	// One transaction for the group, then the two good writes again.
	if got := cs.Stats().Transactions - before; got != 3 {
		t.Errorf("%d transactions, want 3", got)
	}
	listed := strings.Fields(ovstest.Vsctl(t, ps.c.spec.Address, "list-ports", br))
	for _, name := range []string{br + "a", br + "c"} {
		if !slices.Contains(listed, name) {
			t.Errorf("port %s is not on %s: %q", name, br, listed)
		}
	}
}
