package fleet

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// simChange is what one change touching every node took and cost.
type simChange struct {
	revision string
	// From the end of the push: until every node's daemon saw its new
	// status land on its ref; until `wirekeeper status` showed every
	// node's; until the status branch held every node's and the page.
	landed, reported, folded time.Duration
	load                     remoteLoad
	log                      simCounts
	aggCommits               int // commits on the status branch
	cpuSelf, cpuRemote       time.Duration
	// cpuReader is the CPU time of the readerRuns runs of `wirekeeper
	// status` meanwhile (processes of their own, on the same CPUs).
	cpuReader    time.Duration
	readerRuns   int
	maxOpenFiles int
	// overflows counts the connections the machine dropped meanwhile
	// for a full accept queue (see listenOverflows).
	overflows int64
	// applied50, applied99 and appliedMax are percentiles of the time
	// from the push to a daemon applying the revision; late describes the
	// last nodes to land, with their daemons' last warnings.
	applied50, applied99, appliedMax time.Duration
	// landed50, landed90 and landed99 are percentiles of the time from
	// the push to a node's status landing (landed is the last).
	landed50, landed90, landed99 time.Duration
	late                         []string
}

// writes is how many status writes landed a commit, and attempts how
// many attempts they took, by the writers' logs.
func (c simChange) writes() (writes, attempts int) {
	return c.log.messages["status committed"], c.log.attempts
}

// cpuFloor is the least time the machine's CPUs need for the CPU the
// change cost (the daemons, the remote, the readers): when the time to
// all-reported is near it, the machine, not the status path, set it.
func (c simChange) cpuFloor() time.Duration {
	return (c.cpuSelf + c.cpuRemote + c.cpuReader) / time.Duration(runtime.NumCPU())
}

func (c simChange) String() string {
	w, a := c.writes()
	return fmt.Sprintf("applied by the daemons p50 %.1fs, p99 %.1fs, max %.1fs; landed p50 %.1fs, p90 %.1fs, p99 %.1fs, on every node ref %.1fs; reported by wirekeeper status %.1fs, folded into the branch %.1fs after the push; "+
		"remote: %d pushes (ref updates: %d node refs, %d lease, %d branch), %d fetches, %.1f MB down, %.1f MB up; "+
		"%d status commits in %d attempts, %d failed writes; %d aggregator commits; "+
		"CPU: %.1fs in the daemons' process, %.1fs in the remote's git processes, %.1fs in %d runs of wirekeeper status (the machine's %d CPUs need %.1fs for it all); at most %d open files; %d connections dropped by full accept queues (%d connects tried again by the proxies); "+
		"%d fetches failed (%d as unreachable); last to land:%s",
		c.applied50.Seconds(), c.applied99.Seconds(), c.appliedMax.Seconds(),
		c.landed50.Seconds(), c.landed90.Seconds(), c.landed99.Seconds(), c.landed.Seconds(), c.reported.Seconds(), c.folded.Seconds(),
		c.load.pushes, c.load.nodeRefs, c.load.lease, c.load.branch, c.load.fetches, float64(c.load.down)/1e6, float64(c.load.up)/1e6,
		w, a, c.log.messages["cannot push the status; kept and retried"], c.aggCommits,
		c.cpuSelf.Seconds(), c.cpuRemote.Seconds(), c.cpuReader.Seconds(), c.readerRuns, runtime.NumCPU(), c.cpuFloor().Seconds(), c.maxOpenFiles, c.overflows, c.load.connectRetries,
		c.log.messages["cannot fetch the spec branch; the last good revision stays enforced"], c.log.messages["fetch failed: Unreachable"],
		strings.Join(c.late, ""))
}

// change pushes a revision changing every node's object (prepare runs
// just before, given the revision the fleet is on, and started just
// after), waits until every node reports it through `wirekeeper status`
// and the status branch holds it, and measures.
func (f *simFleet) change(r *simReader, limit time.Duration, prepare func(prev string), started func(revision string)) simChange {
	f.tb.Helper()
	load0, log0, commits0 := f.load(), f.log.snapshot(), f.branchCommits()
	self0, remote0 := f.cpuTimes()
	reader0, runs0 := r.cpu, r.runs
	overflows0 := listenOverflows()
	stopSampling := make(chan struct{})
	maxFiles := make(chan int, 1)
	go func() {
		peak := 0
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			peak = max(peak, openFiles())
			select {
			case <-stopSampling:
				maxFiles <- peak
				return
			case <-tick.C:
			}
		}
	}()
	if prepare != nil {
		prepare(f.revision())
	}
	rev := f.pushGeneration()
	pushed := time.Now()
	if started != nil {
		started(rev)
	}
	var last time.Time
	var applied []time.Duration
	type landing struct {
		n  *simNode
		at time.Time
	}
	var landings []landing
	reportedAt := f.waitReported(r, rev, limit, nil)
	for _, n := range f.nodes {
		// A node whose daemon never saw its status land is one killed
		// after its push landed but before the answer came: its daemon
		// restarted with the status on its ref. It landed before the kill.
		if t, ok := n.landedAt(rev); ok {
			last = maxTime(last, t)
			landings = append(landings, landing{n, t})
		}
		if t, ok := n.appliedAt(rev); ok {
			applied = append(applied, t.Sub(pushed))
		}
	}
	var landedAfter []time.Duration
	for _, l := range landings {
		landedAfter = append(landedAfter, l.at.Sub(pushed))
	}
	slices.SortFunc(landings, func(a, b landing) int { return b.at.Compare(a.at) })
	var late []string
	for _, l := range landings[:min(3, len(landings))] {
		a, _ := l.n.appliedAt(rev)
		late = append(late, fmt.Sprintf("\n  %s applied %.1fs, landed %.1fs after the push; its last warnings: %q",
			l.n.name, a.Sub(pushed).Seconds(), l.at.Sub(pushed).Seconds(), f.log.recentOf(l.n.name)))
	}
	foldedAt := f.waitFolded(rev, limit)
	close(stopSampling)
	self1, remote1 := f.cpuTimes()
	return simChange{
		revision: rev,
		landed:   last.Sub(pushed), reported: reportedAt.Sub(pushed), folded: foldedAt.Sub(pushed),
		load: f.load().since(load0), log: f.log.snapshot().since(log0), aggCommits: f.branchCommits() - commits0,
		cpuSelf: self1 - self0, cpuRemote: remote1 - remote0, maxOpenFiles: <-maxFiles,
		cpuReader: r.cpu - reader0, readerRuns: r.runs - runs0,
		applied50: quantile(applied, 0.5), applied99: quantile(applied, 0.99), appliedMax: quantile(applied, 1),
		landed50: quantile(landedAfter, 0.5), landed90: quantile(landedAfter, 0.9), landed99: quantile(landedAfter, 0.99), late: late, overflows: listenOverflows() - overflows0,
	}
}

// revision returns the spec branch's head: the revision the fleet is on.
func (f *simFleet) revision() string {
	out, _ := gitDir(f.bare, "rev-parse", "refs/heads/main")
	return out
}

// quantile returns the q-quantile of ds (sorting it), 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// killPlan kills a tenth of the fleet during a change, each victim once,
// at a moment chosen to lose what a dying daemon can lose, and restarts it
// on its caches:
//   - onApplied: as it applies the new revision, before its status push
//     (the status exists only in its memory);
//   - midPush: a random fraction of a push's round trips after it renders
//     the new status (the push cut off, or its answer);
//   - anytime: at a random moment of the interval after the push (the lease
//     holder is always one of these: its lease is neither renewed nor
//     released).
type killPlan struct {
	f       *simFleet
	victims map[*simNode]string // node -> mode
	mu      sync.Mutex
	killed  map[*simNode]bool
	lost    []string // victims whose ref lacked the new status when they died
	waits   []<-chan struct{}
}

func (f *simFleet) planKills(fraction float64) *killPlan {
	k := &killPlan{f: f, victims: map[*simNode]string{}, killed: map[*simNode]bool{}}
	count := max(1, int(float64(len(f.nodes))*fraction))
	for _, n := range f.nodes {
		if n.holdsLease() {
			k.victims[n] = "anytime"
		}
	}
	// The others spread over the fleet, every stride-th node.
	modes := []string{"onApplied", "midPush", "anytime"}
	stride := max(1, len(f.nodes)/count)
	for i := 0; len(k.victims) < count; i++ {
		n := f.nodes[(i*stride+i/count)%len(f.nodes)]
		if _, ok := k.victims[n]; !ok {
			k.victims[n] = modes[len(k.victims)%len(modes)]
		}
	}
	return k
}

// arm sets the victims' hooks before the push; prev is the revision before.
func (k *killPlan) arm(prev string) {
	rtt := 2 * k.f.opts.oneWay
	for n, mode := range k.victims {
		switch mode {
		case "onApplied":
			n.setHooks(simHooks{applied: func(n *simNode, rev string) {
				if rev != prev {
					k.kill(n, rev)
				}
			}})
		case "midPush":
			n.setHooks(simHooks{rendered: func(n *simNode, rev string) {
				if rev != prev && rev != "" {
					after := time.Duration(rand.Int64N(int64(3*rtt + 1)))
					time.AfterFunc(after, func() { k.kill(n, rev) })
				}
			}})
		}
	}
}

// start schedules the anytime kills once rev is pushed.
func (k *killPlan) start(rev string) {
	for n, mode := range k.victims {
		if mode == "anytime" {
			time.AfterFunc(time.Duration(rand.Int64N(int64(k.f.opts.interval))), func() { k.kill(n, rev) })
		}
	}
}

func (k *killPlan) kill(n *simNode, rev string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.killed[n] {
		return
	}
	k.killed[n] = true
	k.waits = append(k.waits, n.kill(func() {
		if !k.f.nodeRefHolds(n, rev) {
			k.mu.Lock()
			k.lost = append(k.lost, n.name)
			k.mu.Unlock()
		}
	}))
}

// wait waits until every victim was killed and runs again, and disarms.
func (k *killPlan) wait(limit time.Duration) {
	k.f.tb.Helper()
	deadline := time.After(limit)
	for {
		k.mu.Lock()
		all := len(k.killed) == len(k.victims)
		waits := k.waits
		k.mu.Unlock()
		if all {
			for _, w := range waits {
				select {
				case <-w:
				case <-deadline:
					k.f.tb.Fatal("a killed daemon did not restart")
				}
			}
			break
		}
		select {
		case <-deadline:
			k.f.tb.Fatalf("only %d of %d victims were killed", len(k.killed), len(k.victims))
		case <-time.After(50 * time.Millisecond):
		}
	}
	for n := range k.victims {
		n.setHooks(simHooks{})
	}
}

// lostAtKill returns how many victims died before their new status was on
// their ref: the statuses a restart must recover.
func (k *killPlan) lostAtKill() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.lost)
}

func (k *killPlan) modes() map[string]int {
	out := map[string]int{}
	for _, m := range k.victims {
		out[m]++
	}
	return out
}

// TestFleetStatusSimulation runs 50 daemons in this process (the real
// daemon with its default flags, the memory provider as their hosts), each
// reaching the spec repository through a 150 ms round trip, and pushes
// two revisions that change every node's object: after each, every node's
// status must be read through `wirekeeper status --output json` with its
// applied revision and its object at the new revision, Ready, and the
// status branch must hold it too. During the second, a tenth of the
// daemons (the aggregator among them) are killed without a chance to push
// their status and restarted on their caches: nothing may be lost. The
// deadlines are generous: this checks correctness, not speed (the
// benchmarks measure it).
func TestFleetStatusSimulation(t *testing.T) {
	f := newSimFleet(t, simOptions{nodes: 50, interval: 2 * time.Second, oneWay: 75 * time.Millisecond})
	first := f.pushGeneration()
	f.startAll(f.opts.interval)
	r := f.newReader()
	f.waitReported(r, first, 5*time.Minute, nil)
	f.waitFolded(first, 5*time.Minute)

	c := f.change(r, 5*time.Minute, nil, nil)
	t.Logf("FIGURES: %d daemons, %s interval, %s RTT: %s", len(f.nodes), f.opts.interval, 2*f.opts.oneWay, c)

	k := f.planKills(0.1)
	c = f.change(r, 5*time.Minute, k.arm, k.start)
	k.wait(time.Minute)
	t.Logf("FIGURES: with %d daemons killed and restarted %v (%d died before their new status was on their ref): %s",
		len(k.victims), k.modes(), k.lostAtKill(), c)
	for n := range k.victims {
		if got := n.startCount(); got != 2 {
			t.Errorf("%s was started %d times, want 2", n.name, got)
		}
	}
	// The scenario must have killed daemons holding a status nobody else
	// has: otherwise a restart that lost it would go unnoticed.
	if k.lostAtKill() == 0 {
		t.Errorf("no victim died before its new status reached its ref: the kills did not test a lost status")
	}
}

// BenchmarkFleetStatus measures, at 100, 300 and 1,000 daemons with the
// default interval (30s) and a 150 ms round trip to the remote, what a
// revision changing every node's object takes: the time until every
// node's new status is read through `wirekeeper status` (and until it
// lands, and until the status branch holds it), the pushes the remote
// takes, the attempts per status write, the aggregator's commits; then the
// remote's load at rest; then the same change with a tenth of the daemons
// killed and restarted. Every daemon runs with default flags; the
// status-repo cases run the fleet as docs/design/fleet-status.md
// recommends from a few hundred nodes: status in a repository of its own,
// two daemons taking part in the election, the others --aggregate never.
// Run it with -benchtime 1x: each case starts its fleet first (spread over
// an interval, not timed).
func BenchmarkFleetStatus(b *testing.B) {
	for _, nodes := range []int{100, 300, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			benchFleet(b, simOptions{nodes: nodes})
		})
	}
	b.Run("status-repo/nodes=1000", func(b *testing.B) {
		benchFleet(b, simOptions{nodes: 1000, statusRepo: true, aggregators: 2})
	})
}

func benchFleet(b *testing.B, opts simOptions) {
	const limit = 15 * time.Minute
	nodes := opts.nodes
	opts.interval, opts.oneWay = 30*time.Second, 75*time.Millisecond
	f := newSimFleet(b, opts)
	first := f.pushGeneration()
	started := time.Now()
	f.startAll(f.opts.interval)
	r := f.newReader()
	f.waitReported(r, first, limit, nil)
	f.waitFolded(first, limit)
	b.Logf("%d daemons started and reported the first revision in %s", nodes, time.Since(started).Round(time.Second))

	var reported, landed, landed90, folded, cpuSelf, cpuRemote, floor time.Duration
	var pushes, nodeRefs, aggCommits, writes, attempts int
	b.ResetTimer()
	for range b.N {
		c := f.change(r, limit, nil, nil)
		b.Logf("FIGURES: %d daemons, %s interval, %s RTT: %s", nodes, f.opts.interval, 2*f.opts.oneWay, c)
		w, a := c.writes()
		reported, landed, landed90, folded = reported+c.reported, landed+c.landed, landed90+c.landed90, folded+c.folded
		cpuSelf, cpuRemote, floor = cpuSelf+c.cpuSelf, cpuRemote+c.cpuRemote, floor+c.cpuFloor()
		pushes, nodeRefs, aggCommits = pushes+int(c.load.pushes), nodeRefs+int(c.load.nodeRefs), aggCommits+c.aggCommits
		writes, attempts = writes+w, attempts+a
	}
	b.StopTimer()
	seconds := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	each := func(n int) float64 { return float64(n) / float64(b.N) }
	b.ReportMetric(seconds(reported), "s-to-all-reported")
	b.ReportMetric(seconds(landed), "s-to-all-landed")
	b.ReportMetric(seconds(landed90), "s-to-90%-landed")
	b.ReportMetric(seconds(folded), "s-to-branch")
	b.ReportMetric(each(pushes), "pushes")
	b.ReportMetric(each(nodeRefs), "node-ref-pushes")
	b.ReportMetric(float64(attempts)/float64(max(writes, 1)), "attempts/write")
	b.ReportMetric(each(aggCommits), "agg-commits")
	b.ReportMetric(seconds(cpuSelf), "cpu-s-daemons")
	b.ReportMetric(seconds(cpuRemote), "cpu-s-remote")
	b.ReportMetric(seconds(floor), "s-cpu-floor")

	idle := f.idle(2 * f.opts.interval)
	b.Logf("FIGURES: at rest, %d daemons: %s", nodes, idle)
	b.ReportMetric(idle.requestsPerMinute(), "idle-req/min")
	b.ReportMetric(idle.bytesPerPoll(), "idle-B/poll/daemon")

	k := f.planKills(0.1)
	c := f.change(r, limit, k.arm, k.start)
	k.wait(limit)
	b.Logf("FIGURES: with %d daemons killed and restarted %v (%d died before their new status was on their ref): %s",
		len(k.victims), k.modes(), k.lostAtKill(), c)
	b.ReportMetric(c.reported.Seconds(), "kill-s-to-all-reported")
	b.ReportMetric(c.folded.Seconds(), "kill-s-to-branch")
}
