package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/examples"
	"github.com/wirekeeper/wirekeeper/internal/ovsdbserver"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/spec"
)

// The demo's host, bridge and ports, as examples/demo/ names them.
const (
	demoNode   = "demo-hv"
	demoBridge = "br-demo"
)

var demoPorts = []string{"vm1", "vm2", "vm3", "tap-ids", "tap-cap"}

// runDemo runs the whole loop on the embedded demo repository: a temporary
// git repository from examples/demo/, an OVSDB server (embedded in-process,
// or the one --ovsdb names) seeded with a bridge and ports, and the daemon
// of node demo-hv applying the mirrors, repairing what a foreign client
// breaks, applying a spec change, and committing its status.
func runDemo(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	flags.SetOutput(stderr)
	address := flags.String("ovsdb", "", "use this OVSDB server (unix:PATH or tcp:HOST:PORT) instead of an embedded one; the demo creates bridge "+demoBridge+" on it and deletes it at the end")
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "wirekeeper demo: unexpected argument %q\n", flags.Arg(0))
		return exitUsage
	}
	start := time.Now()
	if err := demo(*address, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "wirekeeper demo: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "\nThe demo took %.1f s.\n", time.Since(start).Seconds())
	return exitOK
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
}

func demo(address string, out, errOut io.Writer) error {
	dir, err := os.MkdirTemp("", "wirekeeper-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	r := &demoRun{out: out, errOut: errOut, dir: dir, address: address}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	r.say("1. An OVSDB server with bridge %s and ports %s, as a host has before wirekeeper runs.", demoBridge, strings.Join(demoPorts, ", "))
	if r.address == "" {
		srv, err := ovsdbserver.Start(dir)
		if err != nil {
			return err
		}
		defer srv.Close()
		r.address = srv.Address()
		r.note("embedded OVSDB server (libovsdb, vswitch schema 8.3.1) on %s", r.address)
	} else {
		r.note("OVSDB server %s (--ovsdb)", r.address)
	}
	if err := ovsdbserver.Seed(ctx, r.address, demoBridge, demoPorts...); err != nil {
		return err
	}
	if address != "" { // the embedded server goes away with everything on it
		defer func() {
			if err := ovsdbserver.DeleteBridge(context.Background(), r.address, demoBridge); err != nil {
				r.note("cannot delete bridge %s: %v", demoBridge, err)
			} else {
				r.note("bridge %s deleted from %s", demoBridge, r.address)
			}
		}()
	}
	if r.watch, err = watchMirrors(ctx, r.address); err != nil {
		return err
	}
	defer r.watch.close()

	r.say("2. The spec repository: examples/demo/ committed to a temporary git repository.")
	r.repo = filepath.Join(dir, "specs")
	head, err := r.commitDemo()
	if err != nil {
		return fmt.Errorf("cannot create the demo repository: %w", err)
	}
	r.note("%s at %s, OVSManager demo-ovs pointed at %s", r.repo, head[:7], r.address)

	stop, err := r.startDaemon()
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	r.say("3. The daemon of node %s applies it.", demoNode)
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
	r.note("mirrors on %s now: %s", demoBridge, strings.Join(r.watch.names(), ", "))
	statusHead, err := r.statusCommit(ctx, "")
	if err != nil {
		return err
	}
	for _, d := range r.engine.Status().Drift {
		if d.Adopted {
			r.note("Bridge %s existed: adopted (recorded in the drift report), never to be deleted", d.Name)
		}
	}

	r.say("4. A foreign client deletes mirror ids-all, then changes web-span.")
	if err := ovsdbserver.DeleteMirror(ctx, r.address, demoBridge, "ids-all"); err != nil {
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

	if statusHead, err = r.statusCommit(ctx, statusHead); err != nil {
		return err
	}

	r.say("5. A spec change is committed: web-span also selects vm3.")
	head, err = r.commitChange()
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

	stop() // SIGTERM's path: finish, push the last status, stop
	stopped = true
	return r.showStatus(ctx)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *demoRun) say(format string, args ...any) {
	fmt.Fprintf(r.out, "\n"+format+"\n", args...)
}

func (r *demoRun) note(format string, args ...any) {
	fmt.Fprintf(r.out, "   "+format+"\n", args...)
}

// startDaemon runs the daemon of demoNode on the demo repository with the
// OVSDB provider; stop ends it and waits.
func (r *demoRun) startDaemon() (stop func(), err error) {
	src, err := source.New(source.Options{URL: r.repo, CacheDir: filepath.Join(r.dir, "cache")})
	if err != nil {
		return nil, err
	}
	writer, err := status.NewWriter(status.WriterOptions{URL: r.repo, CacheDir: filepath.Join(r.dir, "status-cache")})
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	provider := ovsdb.New(ovsdb.Options{Node: demoNode, Logger: quiet})
	r.engine, err = reconciler.New(reconciler.Options{Node: demoNode, Providers: []reconciler.Provider{provider}, Logger: quiet})
	if err != nil {
		return nil, err
	}
	// The daemon's warnings are shown: a fetch or status push that keeps
	// failing is otherwise only a wait that ends in a timeout.
	warnings := slog.New(slog.NewTextHandler(r.errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The demo's one daemon aggregates its own status into the branch, as
	// a single host with default settings does.
	lease, err := status.NewLease(status.LeaseOptions{URL: r.repo, Holder: demoNode})
	if err != nil {
		return nil, err
	}
	aggregator, err := status.NewAggregator(status.AggregatorOptions{URL: r.repo, CacheDir: filepath.Join(r.dir, "aggregate-cache"), Interval: time.Hour})
	if err != nil {
		return nil, err
	}
	r.daemon, err = daemon.New(daemon.Options{Node: demoNode, Source: src, Status: writer, Engine: r.engine,
		Interval: time.Hour, StatusDelay: 50 * time.Millisecond, Lease: lease, Aggregator: aggregator,
		AggregateEvery: 50 * time.Millisecond, Logger: warnings})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.daemon.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(r.out, "   daemon: %v\n", err)
		}
		provider.Close()
	}, nil
}

// statusCommit waits until the status branch's head is a commit other than
// prev, so that each step of the demo shows in the branch's log.
func (r *demoRun) statusCommit(ctx context.Context, prev string) (string, error) {
	repo, err := git.PlainOpen(r.repo)
	if err != nil {
		return "", err
	}
	for {
		if ref, err := repo.Reference(plumbing.NewBranchReferenceName("wirekeeper/status"), true); err == nil && ref.Hash().String() != prev {
			return ref.Hash().String(), nil
		}
		select {
		case <-ctx.Done():
			return "", errors.New("timed out waiting for a status commit (the daemon's warnings above say why)")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// wait polls the engine's status until cond holds.
func (r *demoRun) wait(ctx context.Context, what string, cond func(*reconciler.NodeStatus) bool) error {
	for !cond(r.engine.Status()) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// showStatus prints the status branch's log and the node's status file.
func (r *demoRun) showStatus(ctx context.Context) error {
	r.say("6. What the daemon committed to branch wirekeeper/status:")
	repo, err := git.PlainOpen(r.repo)
	if err != nil {
		return err
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("wirekeeper/status"), true)
	if err != nil {
		return fmt.Errorf("no status branch: %w", err)
	}
	commits, err := repo.Log(&git.LogOptions{From: ref.Hash()})
	if err != nil {
		return err
	}
	err = commits.ForEach(func(c *object.Commit) error {
		// A fold's body has the subject of each node's own status commit.
		subject, body, _ := strings.Cut(c.Message, "\n")
		r.note("%s %s", c.Hash.String()[:7], subject)
		for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
			if l != "" {
				r.note("        %s", l)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	tree, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return err
	}
	file, err := tree.File("status/" + demoNode + ".md")
	if err != nil {
		return err
	}
	text, err := file.Contents()
	if err != nil {
		return err
	}
	fmt.Fprintf(r.out, "\n--- status/%s.md ---\n%s", demoNode, text)
	return nil
}

// commitDemo writes examples/demo/ into a new repository, with the manager
// pointed at the demo's OVSDB server, and commits it on main.
func (r *demoRun) commitDemo() (string, error) {
	repo, err := git.PlainInitWithOptions(r.repo, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		return "", err
	}
	err = fs.WalkDir(examples.Demo, "demo", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := fs.ReadFile(examples.Demo, p)
		if err != nil {
			return err
		}
		if p == "demo/managers.yaml" {
			data = []byte(strings.Replace(string(data), "address: unix:/var/run/openvswitch/db.sock", "address: "+r.address, 1))
		}
		return os.WriteFile(filepath.Join(r.repo, filepath.Base(p)), data, 0o644)
	})
	if err != nil {
		return "", err
	}
	if _, diags := spec.Load(r.repo); diags.HasErrors() {
		return "", fmt.Errorf("the demo repository is invalid:\n%v", diags)
	}
	return commitAll(repo, "demo: one bridge, two mirrors")
}

// commitChange adds vm3 to web-span's source ports and commits.
func (r *demoRun) commitChange() (string, error) {
	path := filepath.Join(r.repo, "mirrors.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	changed := strings.Replace(string(data), "selectSrcPorts: [vm1, vm2]", "selectSrcPorts: [vm1, vm2, vm3]", 1)
	if changed == string(data) {
		return "", fmt.Errorf("mirrors.yaml has no web-span selectSrcPorts to change")
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		return "", err
	}
	repo, err := git.PlainOpen(r.repo)
	if err != nil {
		return "", err
	}
	return commitAll(repo, "web-span: also mirror vm3")
}

func commitAll(repo *git.Repository, message string) (string, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	if err := wt.AddGlob("."); err != nil {
		return "", err
	}
	sig := &object.Signature{Name: "wirekeeper demo", Email: "demo@wirekeeper.invalid", When: time.Now()}
	h, err := wt.Commit(message, &git.CommitOptions{Author: sig})
	if err != nil {
		return "", err
	}
	return h.String(), nil
}
