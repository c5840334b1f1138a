package fleet

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// The status simulation runs many daemons in this process: each is the
// real daemon (reconciler/daemon with its engine, spec source, status
// writer, lease and aggregator, wired as `wirekeeper run` wires them with
// default flags) with the in-memory provider standing in for its host.
// Every daemon reaches the one spec repository, on the real git daemon
// run once per connection (testenv.GitInetd: the standalone git daemon's
// accept queue of 5 drops most of a fleet's connects), through a proxy of
// its own that adds the latency of a remote far away:
// the proxy counts what the daemon costs the remote, and severing it
// kills the daemon as SIGKILL would, mid-request, with no last push.

// simConnectTimeout is how long the proxies wait for the remote to take a
// connection before they try again. The remote stands for a forge, whose
// front end queues connections: a connect the kernel drops for a full
// accept queue is retried after 1, 3, 7, 15, 31 and 63 s, which no forge
// would make a client wait. It is long enough that a connect the loaded
// process notices late is not taken for a dropped one: the remote has
// accepted it and started a git process for it, and at 250 ms the proxies
// tried 20,437 connects again in one change of 1,000 daemons.
const simConnectTimeout = 5 * time.Second

// simOptions shape a simulated fleet.
type simOptions struct {
	nodes int
	// interval is the daemons' --interval (the default is 30s).
	interval time.Duration
	// oneWay is the latency the proxies add in each direction.
	oneWay time.Duration
	// statusRepo puts the status in a repository of its own
	// (--status-repo), with only aggregators daemons taking part in the
	// election (--aggregate auto; the others --aggregate never): the
	// setup docs/design/fleet-status.md recommends from a few hundred
	// nodes. Without it, every daemon runs with default flags.
	statusRepo  bool
	aggregators int
}

// simFleet is the fleet, the spec repository it follows and the
// operator's clone of it.
type simFleet struct {
	tb     testing.TB
	opts   simOptions
	server *testenv.GitInetd
	target string // the remote's host:port
	remote string // the spec repository's URL at the git daemon
	bare   string // the spec repository on disk
	// statusRemote and statusBare are the status repository: the spec
	// repository unless opts.statusRepo.
	statusRemote, statusBare string
	work                     string // the operator's clone, pushing specs
	nodes                    []*simNode
	log                      *simLog
	// generation counts the spec revisions pushed: every node's object
	// carries it.
	generation int
}

// simNode is one host: its live system (which survives its daemon) and
// its daemon, which can be killed and started again on the same caches.
type simNode struct {
	f     *simFleet
	name  string
	host  *memory.Provider
	proxy *testenv.Proxy
	url   string // the spec repository through the node's proxy
	// statusURL is the status repository through the node's proxy.
	statusURL string
	// aggregates says whether the node takes part in the election.
	aggregates bool
	cache      string

	mu      sync.Mutex
	lease   *status.Lease
	cancel  context.CancelFunc
	done    chan struct{}
	starts  int
	landed  map[string]time.Time // revision -> when its status was on the node's ref
	seen    map[string]time.Time // revision -> when its daemon first applied it
	render  string               // the revision of the status being pushed
	hooks   simHooks
	stopped bool
}

// simHooks let a scenario act at moments of a daemon's life; each runs on
// the daemon's own goroutine and must not block.
type simHooks struct {
	applied  func(n *simNode, revision string)
	rendered func(n *simNode, revision string)
}

func nodeName(i int) string { return fmt.Sprintf("hv-%05d.ams1.example.net", i) }

// objectName is the name of node i's one object, an OVSManager.
func objectName(i int) string { return fmt.Sprintf("ovs-%05d", i) }

// newSimFleet creates the spec repository with one object per node (the
// first revision) and the nodes, not yet started.
func newSimFleet(tb testing.TB, opts simOptions) *simFleet {
	tb.Helper()
	remote := testenv.NewGitRemote(tb)
	server := testenv.NewGitInetd(tb)
	f := &simFleet{
		tb: tb, opts: opts, remote: remote, server: server, target: server.Addr(),
		bare: filepath.Join(testenv.GitBase(tb), filepath.Base(remote)),
		work: tb.TempDir(),
		log:  newSimLog(),
	}
	f.statusRemote, f.statusBare = f.remote, f.bare
	if opts.statusRepo {
		f.statusRemote = testenv.NewGitRemote(tb)
		f.statusBare = filepath.Join(testenv.GitBase(tb), filepath.Base(f.statusRemote))
	}
	for _, bare := range []string{f.bare, f.statusBare} {
		houseKeep(tb, bare)
	}
	testenv.Git(tb, f.work, "init", "-q", "-b", "main")
	testenv.Git(tb, f.work, "remote", "add", "origin", remote)
	for i := range opts.nodes {
		p := testenv.NewProxy(tb, f.target)
		p.SetLatency(opts.oneWay)
		p.SetConnectTimeout(simConnectTimeout)
		f.nodes = append(f.nodes, &simNode{
			f: f, name: nodeName(i), host: memory.New("memory"), proxy: p,
			url:        "git://" + p.Addr() + "/" + filepath.Base(remote),
			statusURL:  "git://" + p.Addr() + "/" + filepath.Base(f.statusRemote),
			aggregates: !opts.statusRepo || i < opts.aggregators,
			cache:      tb.TempDir(), landed: map[string]time.Time{}, seen: map[string]time.Time{},
		})
	}
	tb.Cleanup(f.stopAll)
	return f
}

// simHousekeeping is the remote's gc.auto: git's own housekeeping after a
// push (pack the loose objects, pack the refs) runs once about this many
// loose objects have piled up, instead of git's default 6,700. A status
// push leaves a handful of loose objects and a loose ref; left loose, 1,000
// node refs and their commits cost the remote's receive-pack about 80 ms
// of CPU per push (advertising every ref and checking connectivity
// against every tip), packed about 45 ms (2-vCPU VM, git 2.39). Forges
// keep repositories packed the same way (GitLab's housekeeping after
// pushes, GitHub's maintenance); with git's default the simulation
// measured a remote nobody maintains. It runs in the foreground of the
// push that triggers it, so its CPU counts in the remote's figures.
const simHousekeeping = "256"

// houseKeep configures the bare repository at dir for simHousekeeping.
func houseKeep(tb testing.TB, dir string) {
	tb.Helper()
	testenv.Git(tb, dir, "config", "gc.auto", simHousekeeping)
	testenv.Git(tb, dir, "config", "gc.autoDetach", "false")
}

// pushGeneration commits and pushes a revision that changes every node's
// object (its address names the generation) and returns the commit.
func (f *simFleet) pushGeneration() string {
	f.tb.Helper()
	f.generation++
	dir := filepath.Join(f.work, "specs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.tb.Fatal(err)
	}
	for i, n := range f.nodes {
		doc := fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: %s}\nspec: {node: %s, address: \"unix:/run/wk/gen%d/db.sock\"}\n",
			objectName(i), n.name, f.generation)
		if err := os.WriteFile(filepath.Join(dir, objectName(i)+".yaml"), []byte(doc), 0o644); err != nil {
			f.tb.Fatal(err)
		}
	}
	testenv.Git(f.tb, f.work, "add", "-A")
	testenv.Git(f.tb, f.work, "commit", "-q", "-m", fmt.Sprintf("generation %d of every node's manager", f.generation))
	testenv.Git(f.tb, f.work, "push", "-q", "origin", "HEAD:main")
	return testenv.Git(f.tb, f.work, "rev-parse", "HEAD")
}

// startAll starts every daemon, spread over spread, as a fleet's hosts
// come up: not all in the same second.
func (f *simFleet) startAll(spread time.Duration) {
	f.tb.Helper()
	step := spread / time.Duration(max(len(f.nodes), 1))
	next := time.Now()
	for _, n := range f.nodes {
		time.Sleep(time.Until(next))
		next = next.Add(step)
		if err := n.start(); err != nil {
			f.tb.Fatal(err)
		}
	}
}

func (f *simFleet) stopAll() {
	var wg sync.WaitGroup
	for _, n := range f.nodes {
		wg.Go(n.stop)
	}
	wg.Wait()
}

// start runs the node's daemon, wired as `wirekeeper run` wires it
// (cmd/wirekeeper/run.go, newDaemon) with default flags but the interval
// (and --status-repo and --aggregate, see simOptions), on the node's
// caches: those of its previous run, if any.
func (n *simNode) start() error {
	tb, interval := n.f.tb, n.f.opts.interval
	log := n.f.log.logger(n.name)
	leaseRef := status.LeaseRef("")
	watch := "" // the lease rides along with the spec fetch when it can
	if n.aggregates && !n.f.opts.statusRepo {
		watch = path.Dir(leaseRef.String()) + "/"
	}
	src, err := source.New(source.Options{
		URL: n.url, Branch: "main", Path: "specs", CacheDir: filepath.Join(n.cache, "source"),
		WatchRefs: watch, Logger: log.With("component", "source"),
	})
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	statusCache := filepath.Join(n.cache, "status")
	writer, err := status.NewWriter(status.WriterOptions{URL: n.statusURL, CacheDir: statusCache, Logger: log.With("component", "status")})
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	var lease *status.Lease
	var agg *status.Aggregator
	if n.aggregates {
		lease, err = status.NewLease(status.LeaseOptions{URL: n.statusURL, Ref: leaseRef, Holder: n.name,
			TTL: max(3*interval, 30*time.Second), Logger: log.With("component", "status")})
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
		agg, err = status.NewAggregator(status.AggregatorOptions{URL: n.statusURL, CacheDir: statusCache + "-aggregate",
			Interval: interval, Logger: log.With("component", "status")})
		if err != nil {
			return fmt.Errorf("%s: %w", n.name, err)
		}
	}
	engine, err := reconciler.New(reconciler.Options{Node: n.name, Providers: []reconciler.Provider{n.host},
		Resync: interval, Logger: log.With("component", "engine")})
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	d, err := daemon.New(daemon.Options{
		Node: n.name, Source: src, Status: writer, Engine: engine, Interval: interval,
		Lease: lease, Aggregator: agg, ShutdownTimeout: 8 * time.Second,
		Observer: daemon.Observer{Applied: n.applied, Status: n.rendered, StatusPush: n.pushed},
		Logger:   log.With("component", "daemon"),
	})
	if err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	n.mu.Lock()
	n.lease, n.cancel, n.done, n.stopped = lease, cancel, done, false
	n.starts++
	n.mu.Unlock()
	go func() {
		defer close(done)
		if err := d.Run(ctx); err != nil {
			tb.Errorf("%s: Run: %v", n.name, err)
		}
	}()
	return nil
}

// stop ends the daemon gracefully (it pushes its last status), as SIGTERM.
func (n *simNode) stop() {
	n.mu.Lock()
	cancel, done, stopped := n.cancel, n.done, n.stopped
	n.stopped = true
	n.mu.Unlock()
	if cancel == nil || stopped {
		return
	}
	cancel()
	<-done
}

// kill ends the daemon as SIGKILL would: its connections are cut first,
// mid-request if it is in one, so nothing it does from then on reaches the
// remote, no last status push nor lease release. Once its goroutines are
// done with its caches, dead runs, and the daemon is restarted on them, as
// a supervisor restarts a killed process. kill returns at once; restarted
// is closed when the new daemon runs.
func (n *simNode) kill(dead func()) (restarted <-chan struct{}) {
	n.proxy.Sever()
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		n.stop()
		dead()
		n.proxy.Resume()
		if err := n.start(); err != nil {
			n.f.tb.Errorf("restart: %v", err)
		}
	}()
	return ch
}

func (n *simNode) setHooks(h simHooks) {
	n.mu.Lock()
	n.hooks = h
	n.mu.Unlock()
}

func (n *simNode) startCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.starts
}

func (n *simNode) applied(revision string) {
	n.mu.Lock()
	if _, ok := n.seen[revision]; !ok {
		n.seen[revision] = time.Now()
	}
	h := n.hooks.applied
	n.mu.Unlock()
	if h != nil {
		h(n, revision)
	}
}

// rendered and pushed follow the daemon's status writes: a status pushed
// (or found already on the ref) has landed.
func (n *simNode) rendered(ns *reconciler.NodeStatus) {
	n.mu.Lock()
	n.render = ""
	if o := objectOf(ns); o != nil && o.Phase == reconciler.PhaseReady && o.Revision == ns.AppliedRevision {
		n.render = ns.AppliedRevision
	}
	h := n.hooks.rendered
	n.mu.Unlock()
	if h != nil {
		h(n, ns.AppliedRevision)
	}
}

func (n *simNode) pushed(result string, _ time.Duration) {
	if result == "error" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.landed[n.render]; !ok && n.render != "" {
		n.landed[n.render] = time.Now()
	}
}

// landedAt says when the node's status at revision landed on its ref, as
// its daemon saw it.
func (n *simNode) landedAt(revision string) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.landed[revision]
	return t, ok
}

// appliedAt says when the node's daemon first applied revision.
func (n *simNode) appliedAt(revision string) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.seen[revision]
	return t, ok
}

func (n *simNode) holdsLease() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lease != nil && !n.stopped && n.lease.Held()
}

// objectOf returns the node's one object in ns, an OVSManager.
func objectOf(ns *reconciler.NodeStatus) *reconciler.ObjectStatus {
	for i := range ns.Objects {
		if ns.Objects[i].Kind == "OVSManager" {
			return &ns.Objects[i]
		}
	}
	return nil
}
