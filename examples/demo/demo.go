// Package demo is `wirekeeper demo`: the whole loop on the embedded demo
// repository, narrated. It commits examples/demo/ to a temporary git
// repository, seeds an OVSDB server (embedded in-process, or a real one)
// with a bridge and ports, runs the daemon of node demo-hv on it, breaks
// what the daemon applied as a foreign client would, commits a spec change,
// and prints what the daemon committed to the status branch.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovsdbserver"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
)

// The demo's host, bridge and ports, as examples/demo/ names them.
const (
	// Node is the node the demo's daemon runs as.
	Node = "demo-hv"
	// Bridge is the bridge the demo seeds, on an OVSDB server of the
	// caller's (Options.OVSDB) too.
	Bridge = "br-demo"
)

var ports = []string{"vm1", "vm2", "vm3", "tap-ids", "tap-cap"}

// timeout bounds one run of the demo.
const timeout = 30 * time.Second

// Options are what one run of the demo needs.
type Options struct {
	// OVSDB is the OVSDB server to use (unix:PATH or tcp:HOST:PORT): the
	// demo creates Bridge on it and deletes it at the end. Empty for a
	// server embedded in the process for the run.
	OVSDB string
	// Out receives the narration.
	Out io.Writer
	// Warnings receives the daemon's warnings and errors.
	Warnings io.Writer
}

// Run runs the demo once, narrating each step to o.Out, and returns the
// error of the step that failed. It gives up after 30 s, or when ctx ends.
func Run(ctx context.Context, o Options) error {
	start := time.Now()
	dir, err := os.MkdirTemp("", "wirekeeper-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := &demoRun{out: o.Out, errOut: o.Warnings, dir: dir, address: o.OVSDB}
	if err := r.run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "\nThe demo took %.1f s.\n", time.Since(start).Seconds())
	return nil
}

// demoRun is one run of the demo: its directory, servers and daemon.
type demoRun struct {
	out     io.Writer
	errOut  io.Writer // the daemon's warnings and errors
	dir     string
	address string
	repo    string
	engine  *reconciler.Engine
	daemon  *daemon.Daemon
	watch   *liveMirrors
	// lastStatus is the head of the status branch the demo last saw.
	lastStatus string
}

// run is the demo's steps, in order; it returns once everything the demo
// started has stopped.
func (r *demoRun) run(ctx context.Context) error {
	cleanup, err := r.startOVSDB(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	if err := r.createRepo(); err != nil {
		return err
	}
	stopDaemon, err := r.startDaemon()
	if err != nil {
		return err
	}
	stop := sync.OnceFunc(stopDaemon)
	defer stop()
	for _, step := range []func(context.Context) error{r.apply, r.repair, r.change} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	stop() // SIGTERM's path: finish, push the last status, stop
	return r.showStatus()
}

// startOVSDB is step 1: the OVSDB server (embedded unless r.address names
// one), seeded with the demo's bridge and ports, and the demo's own client
// of it. cleanup undoes it all.
func (r *demoRun) startOVSDB(ctx context.Context) (cleanup func(), err error) {
	r.say("1. An OVSDB server with bridge %s and ports %s, as a host has before wirekeeper runs.", Bridge, strings.Join(ports, ", "))
	var undo []func()
	undoAll := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			undoAll()
		}
	}()
	external := r.address != ""
	if external {
		r.note("OVSDB server %s (--ovsdb)", r.address)
	} else {
		srv, err := ovsdbserver.Start(r.dir)
		if err != nil {
			return nil, err
		}
		undo = append(undo, func() { srv.Close() })
		r.address = srv.Address()
		r.note("embedded OVSDB server (libovsdb, vswitch schema 8.3.1) on %s", r.address)
	}
	if err := ovsdbserver.Seed(ctx, r.address, Bridge, ports...); err != nil {
		return nil, err
	}
	if external { // the embedded server goes away with everything on it
		undo = append(undo, r.deleteBridge)
	}
	if r.watch, err = watchMirrors(ctx, r.address); err != nil {
		return nil, err
	}
	undo = append(undo, r.watch.close)
	return undoAll, nil
}

// deleteBridge removes the demo's bridge from a server the demo did not
// start.
func (r *demoRun) deleteBridge() {
	if err := ovsdbserver.DeleteBridge(context.Background(), r.address, Bridge); err != nil {
		r.note("cannot delete bridge %s: %v", Bridge, err)
	} else {
		r.note("bridge %s deleted from %s", Bridge, r.address)
	}
}

// createRepo is step 2: the spec repository.
func (r *demoRun) createRepo() error {
	r.say("2. The spec repository: examples/demo/ committed to a temporary git repository.")
	r.repo = filepath.Join(r.dir, "specs")
	head, err := r.commitDemo()
	if err != nil {
		return fmt.Errorf("cannot create the demo repository: %w", err)
	}
	r.note("%s at %s, OVSManager demo-ovs pointed at %s", r.repo, head[:7], r.address)
	return nil
}

// apply is step 3: the daemon applies the repository.
func (r *demoRun) apply(ctx context.Context) error {
	r.say("3. The daemon of node %s applies it.", Node)
	if err := r.wait(ctx, "every object Ready", func(ns *reconciler.NodeStatus) bool {
		return len(ns.Objects) == 4 && ns.Counts()[reconciler.PhaseReady] == 4
	}); err != nil {
		return err
	}
	for _, o := range r.engine.Status().Objects {
		r.note("%-10s %-9s %s", o.Kind, o.Name, o.Phase)
	}
	for _, m := range []string{"ids-all", "web-span"} { // as the demo's own client sees them
		if err := r.watch.waitFor(ctx, m, func(st *mirrorState) bool { return st != nil }); err != nil {
			return err
		}
	}
	r.note("mirrors on %s now: %s", Bridge, strings.Join(r.watch.names(), ", "))
	if err := r.waitStatusCommit(ctx); err != nil {
		return err
	}
	for _, d := range r.engine.Status().Drift {
		if d.Adopted {
			r.note("Bridge %s existed: adopted (recorded in the drift report), never to be deleted", d.Name)
		}
	}
	return nil
}

// repair is step 4: a foreign client breaks two mirrors and the daemon
// repairs them; the demo's own client measures how soon.
func (r *demoRun) repair(ctx context.Context) error {
	r.say("4. A foreign client deletes mirror ids-all, then changes web-span.")
	if err := ovsdbserver.DeleteMirror(ctx, r.address, Bridge, "ids-all"); err != nil {
		return err
	}
	took, err := r.watch.repairTime(ctx, "ids-all", func(m *mirrorState) bool { return m == nil }, func(m *mirrorState) bool { return m != nil })
	if err != nil {
		return err
	}
	r.note("ids-all deleted; recreated %.2f ms later (OVSMirrorWatch polls every 5 s)", ms(took))
	if err := ovsdbserver.SetMirrorSelectSrc(ctx, r.address, "web-span", "vm3"); err != nil {
		return err
	}
	took, err = r.watch.repairTime(ctx, "web-span", func(m *mirrorState) bool { return m != nil && m.srcPorts == 1 },
		func(m *mirrorState) bool { return m != nil && m.srcPorts == 2 })
	if err != nil {
		return err
	}
	r.note("web-span's select_src_port set to vm3; back to vm1, vm2 %.2f ms later", ms(took))
	if err := r.wait(ctx, "both drifts recorded as repaired", func(ns *reconciler.NodeStatus) bool {
		n := 0
		for _, d := range ns.Drift {
			if d.Repaired && !d.Adopted {
				n++
			}
		}
		return n >= 2
	}); err != nil {
		return err
	}
	return r.waitStatusCommit(ctx)
}

// change is step 5: a spec change is committed and applied.
func (r *demoRun) change(ctx context.Context) error {
	r.say("5. A spec change is committed: web-span also selects vm3.")
	head, err := r.commitChange()
	if err != nil {
		return err
	}
	r.daemon.Trigger("demo commit")
	if err := r.watch.waitFor(ctx, "web-span", func(m *mirrorState) bool { return m != nil && m.srcPorts == 3 }); err != nil {
		return err
	}
	if err := r.wait(ctx, "the change applied", func(ns *reconciler.NodeStatus) bool {
		return ns.AppliedRevision == head && ns.Counts()[reconciler.PhaseReady] == 4
	}); err != nil {
		return err
	}
	r.note("revision %s applied: web-span selects vm1, vm2, vm3", head[:7])
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *demoRun) say(format string, args ...any) {
	fmt.Fprintf(r.out, "\n"+format+"\n", args...)
}

func (r *demoRun) note(format string, args ...any) {
	fmt.Fprintf(r.out, "   "+format+"\n", args...)
}
