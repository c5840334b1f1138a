package ovsdb_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

const node = "hv1"

// shortName returns a fresh name usable as a bridge or port (at most 15
// bytes): prefix plus 6 hex digits.
func shortName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// loadSet decodes and validates YAML documents as production does.
func loadSet(t testing.TB, docs ...string) *spec.Set {
	t.Helper()
	fsys := fstest.MapFS{}
	for i := 0; i < len(docs); i += 1000 { // files stay under the 1 MiB limit
		fsys[fmt.Sprintf("spec%05d.yaml", i)] = &fstest.MapFile{Data: []byte(strings.Join(docs[i:min(i+1000, len(docs))], "\n---\n"))}
	}
	set, diags := spec.LoadFS(fsys, "")
	if diags.HasErrors() {
		t.Fatalf("test spec invalid:\n%v", diags)
	}
	return set
}

func managerDoc(name, address string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: %s}\nspec: {node: %s, address: %q}", name, node, address)
}

func bridgeDoc(name, manager, bridge, extra string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: %s}\nspec: {manager: %s, bridge: %s, datapathType: netdev%s}", name, manager, bridge, extra)
}

// mirrorDoc is a Mirror; body is the rest of its spec in flow style, e.g.
// "selectSrcPorts: [p1], output: {port: out}".
func mirrorDoc(name, manager, bridge, body string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: %s}\nspec: {manager: %s, bridge: %s, %s}", name, manager, bridge, body)
}

// rig runs the engine with the OVSDB provider, as the daemon does.
type rig struct {
	t      testing.TB
	p      *ovsdb.Provider
	e      *reconciler.Engine
	rev    int
	cancel context.CancelFunc
	done   chan struct{}
}

func newRig(t testing.TB, tweak ...func(*ovsdb.Options)) *rig {
	t.Helper()
	events := reconciler.NewEvents()
	opts := ovsdb.Options{Node: node, Logger: testLogger(t), Events: events}
	for _, f := range tweak {
		f(&opts)
	}
	p := ovsdb.New(opts)
	e, err := reconciler.New(reconciler.Options{Node: node, Providers: []reconciler.Provider{p}, Events: events, Workers: 4,
		BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second, Resync: time.Hour, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, p: p, e: e, cancel: cancel, done: make(chan struct{})}
	go func() { e.Run(ctx); close(r.done) }()
	t.Cleanup(func() { r.cancel(); <-r.done; p.Close() })
	return r
}

// apply makes docs the enforced revision.
func (r *rig) apply(docs ...string) {
	r.t.Helper()
	r.rev++
	msg := "wirekeeper: allow-prune"
	if err := r.e.SetRevision(context.Background(), reconciler.Revision{Hash: fmt.Sprintf("rev%04d", r.rev), Message: msg}, loadSet(r.t, docs...)); err != nil {
		r.t.Fatal(err)
	}
}

// phase returns the object's phase and message.
func (r *rig) phase(kind, name string) (reconciler.Phase, string) {
	o := r.e.Status().Object(reconciler.Ref{Kind: kind, Name: name})
	if o == nil {
		return "", ""
	}
	return o.Phase, o.Message
}

// waitFor polls cond for up to 15 s.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			var phases []string
			for _, o := range r.e.Status().Objects {
				phases = append(phases, fmt.Sprintf("%s/%s=%s (%s)", o.Kind, o.Name, o.Phase, o.Message))
			}
			r.t.Fatalf("timed out waiting for %s; status:\n%s", what, strings.Join(phases, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitPhase waits until kind/name is in phase; msg, when given, must be
// part of its message.
func (r *rig) waitPhase(kind, name string, phase reconciler.Phase, msg ...string) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("%s/%s %s %v", kind, name, phase, msg), func() bool {
		ph, m := r.phase(kind, name)
		if ph != phase {
			return false
		}
		for _, s := range msg {
			if !strings.Contains(m, s) {
				return false
			}
		}
		return true
	})
}

// mirrorColumn reads one column of the Mirror named name with ovs-vsctl.
func mirrorColumn(t testing.TB, db, name, column string) string {
	t.Helper()
	return strings.TrimSpace(ovstest.Vsctl(t, db, "--if-exists", "get", "Mirror", name, column))
}

// mirrorsOn lists the names of the mirrors on bridge.
func mirrorsOn(t testing.TB, db, bridge string) []string {
	t.Helper()
	out := strings.TrimSpace(ovstest.Vsctl(t, db, "--columns=mirrors", "--bare", "list", "Bridge", bridge))
	var names []string
	for _, id := range strings.Fields(out) {
		names = append(names, strings.TrimSpace(ovstest.Vsctl(t, db, "get", "Mirror", id, "name")))
	}
	slices.Sort(names)
	return names
}
