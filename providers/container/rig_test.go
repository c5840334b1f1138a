package container_test

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/dockertest"
	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// env is one test's servers: the harness's OVS host with a bridge of the
// test's own, and a Docker engine.
type env struct {
	// node is the test's own node name: tests running in parallel share
	// the OVS host, and a daemon owns (and prunes) what its node marked.
	node   string
	ovs    *ovstest.OVS
	docker *dockertest.Engine
	bridge string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{node: ovstest.UniquePortName(t, "hv"), ovs: ovstest.Shared(t), docker: dockertest.Shared(t), bridge: ovstest.UniquePortName(t, "cb")}
	e.ovs.AddBridge(t, e.bridge)
	t.Cleanup(func() { ovstest.Vsctl(t, e.ovs.DB, "--if-exists", "del-br", e.bridge) })
	return e
}

// rig runs the engine with the OVSDB and container providers, as the
// daemon does.
type rig struct {
	t      testing.TB
	root   testing.TB // the test whose end stops the rig
	env    *env
	ovs    *ovsdb.Provider
	p      *container.Provider
	e      *reconciler.Engine
	rev    int
	docs   []string
	cancel context.CancelFunc
	done   chan struct{}
}

func newRig(t testing.TB, env *env) *rig {
	t.Helper()
	r := &rig{t: t, root: t, env: env}
	r.start()
	return r
}

// start builds fresh providers and engine, as a daemon (re)start does.
func (r *rig) start() {
	t := r.t
	log := testLogger(t)
	clients := ovs.New(ovs.Options{Node: r.env.node, Logger: log})
	events := reconciler.NewEvents()
	r.ovs = ovsdb.New(ovsdb.Options{Node: r.env.node, Logger: log, OVS: clients, Events: events})
	r.p = container.New(container.Options{Node: r.env.node, Logger: log, OVS: clients, Events: events, OVSNetns: r.env.ovs.Netns, DockerHost: r.env.docker.Host})
	e, err := reconciler.New(reconciler.Options{Node: r.env.node, Providers: []reconciler.Provider{r.ovs, r.p}, Events: events, Workers: 4,
		BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second, Resync: time.Hour, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.e, r.cancel, r.done = e, cancel, make(chan struct{})
	go func() { e.Run(ctx); close(r.done) }()
	r.root.Cleanup(r.stop)
}

// use makes the rig report to t (a subtest) until the returned func runs.
func (r *rig) use(t testing.TB) func() {
	parent := r.t
	r.t = t
	return func() { r.t = parent }
}

// stop ends the engine and closes the providers (idempotent).
func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.p.Close()
	r.ovs.Close()
	r.cancel = nil
}

// restart stops and starts again on the same revision, as a daemon
// restart does.
func (r *rig) restart() {
	r.stop()
	r.start()
	r.rev--
	r.apply(r.docs...)
}

// apply makes the manager plus docs the enforced revision.
func (r *rig) apply(docs ...string) {
	r.t.Helper()
	r.rev++
	r.docs = docs
	all := append([]string{r.env.managerDoc("m1")}, docs...)
	if err := r.e.SetRevision(context.Background(), reconciler.Revision{Hash: fmt.Sprintf("rev%04d", r.rev), Message: "wirekeeper: allow-prune"}, loadSet(r.t, all...)); err != nil {
		r.t.Fatal(err)
	}
}

// setRevision enforces set as it is (tests that bypass validation).
func (r *rig) setRevision(set *spec.Set) {
	r.t.Helper()
	r.rev++
	if err := r.e.SetRevision(context.Background(), reconciler.Revision{Hash: fmt.Sprintf("rev%04d", r.rev), Message: "wirekeeper: allow-prune"}, set); err != nil {
		r.t.Fatal(err)
	}
}

func loadSet(t testing.TB, docs ...string) *spec.Set {
	t.Helper()
	set, diags := spec.LoadFS(fstest.MapFS{"spec.yaml": &fstest.MapFile{Data: []byte(strings.Join(docs, "\n---\n"))}}, "")
	if diags.HasErrors() {
		t.Fatalf("test spec invalid:\n%v", diags)
	}
	return set
}

func (e *env) managerDoc(name string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: %s}\nspec: {node: %s, address: %q}", name, e.node, e.ovs.DB)
}

// portDoc is a ContainerPort on node; body is the rest of its spec in flow
// style, e.g. "addresses: [10.0.0.1/24], vlan: 10".
func (e *env) portDoc(name, bridge, ctr, iface, body string) string {
	if body != "" {
		body = ", " + body
	}
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: %s}\nspec: {node: %s, bridge: %s, container: %s, interface: %s%s}",
		name, e.node, bridge, ctr, iface, body)
}

func (r *rig) phase(name string) (reconciler.Phase, string) {
	o := r.e.Status().Object(reconciler.Ref{Kind: container.Kind, Name: name})
	if o == nil {
		return "", ""
	}
	return o.Phase, o.Message
}

// waitFor polls cond for up to 20 s.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
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

// waitPhase waits until ContainerPort name is in phase, its message
// containing every msg.
func (r *rig) waitPhase(name string, phase reconciler.Phase, msg ...string) {
	r.t.Helper()
	r.waitFor(fmt.Sprintf("ContainerPort/%s %s %v", name, phase, msg), func() bool {
		ph, m := r.phase(name)
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

// drifts returns the drift events of ContainerPort name, newest first.
func (r *rig) drifts(name string) []reconciler.DriftEvent {
	var out []reconciler.DriftEvent
	for _, ev := range r.e.Status().Drift {
		if ev.Kind == container.Kind && ev.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// ports lists the ports of the env's bridge, as ovs-vsctl shows them.
func (e *env) ports(t testing.TB) []string {
	t.Helper()
	out := strings.Fields(ovstest.Vsctl(t, e.ovs.DB, "list-ports", e.bridge))
	slices.Sort(out)
	return out
}

// column reads one column of a row with ovs-vsctl.
func (e *env) column(t testing.TB, table, row, col string) string {
	t.Helper()
	return strings.TrimSpace(ovstest.Vsctl(t, e.ovs.DB, "--if-exists", "get", table, row, col))
}

// hostLinks lists the veth links in vswitchd's namespace (shared by
// the tests running in parallel: filter by the names of your own ports).
func (e *env) hostLinks(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command("ip", "-n", e.ovs.Netns, "-o", "link", "show", "type", "veth").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 {
			names = append(names, strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0])
		}
	}
	slices.Sort(names)
	return names
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
