package daemon_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/spec"
)

// leaseHolder returns the node named by the lease on the remote, "released"
// for the released lease, "" when there is none.
func (r *rig) leaseHolder() string {
	ref := status.LeaseRef("").String()
	h, ok := r.work.try("ls-remote", "origin", ref)
	if !ok || h == "" {
		return ""
	}
	if status.IsReleasedLease(plumbing.NewHash(strings.Fields(h)[0])) {
		return "released"
	}
	bare := filepath.Join(testenv.GitBase(r.t), filepath.Base(r.remote))
	msg, _ := r.work.try("--git-dir="+bare, "log", "-1", "--format=%B", ref)
	for _, l := range strings.Split(msg, "\n") {
		if holder, ok := strings.CutPrefix(l, "holder: "); ok {
			return holder
		}
	}
	return ""
}

// A daemon with default settings takes the free lease; stopped, it folds
// the node refs a last time (its own last status included) and releases
// the lease, and the next daemon takes it at once and folds its own status
// in.
func TestDaemonAggregatesAndHandsOverOnStop(t *testing.T) {
	a := newRig(t)
	a.work.commit("add specs", map[string]string{"specs/ovs.yaml": specs})
	// Folding only at start and on stop: what the branch shows afterwards
	// is the stop's doing.
	a.configure = func(o *daemon.Options) { o.AggregateEvery = time.Hour }
	a.start()
	a.waitFor("hv1 holding the lease", func() bool { return a.leaseHolder() == "hv1" })
	a.waitRemote("hv1 Ready on its ref", func(ns *reconciler.NodeStatus) bool { return allReady(ns, 3) })
	// A drift repaired just before the stop is in the last status push,
	// which the holder folds before it lets go.
	a.provider.Mutate(reconciler.Ref{Kind: "Mirror", Name: "tap"}, func(s any) { s.(*spec.MirrorSpec).SelectAll = false })
	a.provider.Notify(reconciler.Ref{Kind: "Mirror", Name: "tap"})
	a.waitFor("the drift repaired", func() bool {
		d := a.engine.Status().Drift
		return len(d) == 1 && d[0].Repaired
	})
	a.stop()
	if got := a.leaseHolder(); got != "released" {
		t.Fatalf("after hv1 stopped the lease is %q, want released", got)
	}
	a.work.git("fetch", "-q", "origin", "wirekeeper/status")
	if drift := a.work.git("show", "FETCH_HEAD:drift/hv1.md"); !strings.Contains(drift, "spec.selectAll") {
		t.Errorf("the status branch lacks the drift of hv1's last status:\n%s", drift)
	}
	if yaml := a.work.git("show", "FETCH_HEAD:status/hv1.yaml"); !strings.Contains(yaml, "phase: Ready") {
		t.Errorf("the status branch lacks hv1's last status:\n%s", yaml)
	}

	b := &rig{t: t, remote: a.remote, work: a.work, provider: memory.New("test"), node: "hv2"}
	b.start()
	b.waitFor("hv2 taking the released lease", func() bool { return b.leaseHolder() == "hv2" })
	b.waitFor("hv2's status folded next to hv1's", func() bool {
		_, ok := b.work.try("fetch", "-q", "origin", "wirekeeper/status")
		files, _ := b.work.try("ls-tree", "-r", "--name-only", "FETCH_HEAD")
		return ok && strings.Contains(files, "status/hv2.yaml") && strings.Contains(files, "status/hv1.yaml")
	})
}

// gitProxy is a testenv.Proxy in front of the git daemon, which counts
// requests and bytes by git service: git-upload-pack (a fetch or
// ls-remote, each beginning with a ref advertisement) and git-receive-pack
// (a push).
type gitProxy struct{ *testenv.Proxy }

func startGitProxy(t testing.TB) gitProxy {
	t.Helper()
	return gitProxy{testenv.NewProxy(t, strings.TrimSuffix(strings.TrimPrefix(testenv.GitURL(t), "git://"), "/"))}
}

func (p gitProxy) url(remote string) string {
	return "git://" + p.Addr() + "/" + filepath.Base(remote)
}

// sum adds up the traffic of services so far.
func (p gitProxy) sum(services ...string) testenv.Traffic {
	var out testenv.Traffic
	all := p.Traffic()
	for _, s := range services {
		out.Requests += all[s].Requests
		out.Up += all[s].Up
		out.Down += all[s].Down
	}
	return out
}

// snapshot returns the upload-pack and receive-pack connections so far.
func (p gitProxy) snapshot() (uploads, receives int) {
	all := p.Traffic()
	return int(all["git-upload-pack"].Requests), int(all["git-receive-pack"].Requests)
}

// An idle daemon that takes part in the election but does not hold the
// lease costs the remote exactly one ref advertisement per poll (its spec
// fetch, which also tells it the lease is alive) and no push: not its
// status, which did not change, nor anything of the aggregator's. The
// counts are taken at a proxy in front of the git daemon, between
// consecutive polls, with no clock involved.
func TestIdleDaemonCostsOneAdvertisementPerPoll(t *testing.T) {
	holder := newRig(t)
	holder.work.commit("add specs", map[string]string{"specs/ovs.yaml": specs})
	holder.start()
	holder.waitFor("hv1 holding the lease", func() bool { return holder.leaseHolder() == "hv1" })

	proxy := startGitProxy(t)
	type poll struct{ uploads, receives int }
	var (
		mu    sync.Mutex
		polls []poll
	)
	idle := &rig{t: t, remote: holder.remote, work: holder.work, provider: memory.New("test"), node: "hv2", url: proxy.url(holder.remote)}
	idle.configure = func(o *daemon.Options) {
		o.Interval = 200 * time.Millisecond
		o.Observer.Fetched = func(string, time.Duration) {
			u, r := proxy.snapshot()
			mu.Lock()
			polls = append(polls, poll{u, r})
			mu.Unlock()
		}
	}
	idle.start()
	// Its status says when it was written (the fleet views' "last
	// report"), a time that moves only with the status itself.
	idle.waitRemote("hv2's status with its report time", func(ns *reconciler.NodeStatus) bool { return ns.AppliedRevision != "" && !ns.Reported.IsZero() })
	// Settled: its status is pushed; from the next poll on, it is idle.
	mu.Lock()
	from := len(polls)
	mu.Unlock()
	const window = 10
	idle.waitFor(fmt.Sprintf("%d idle polls", window+1), func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(polls) > from+window
	})
	mu.Lock()
	got := append([]poll(nil), polls[from:from+window+1]...)
	mu.Unlock()
	for i := 1; i < len(got); i++ {
		if u, r := got[i].uploads-got[i-1].uploads, got[i].receives-got[i-1].receives; u != 1 || r != 0 {
			t.Errorf("idle poll %d: %d ref advertisements and %d pushes at the remote, want 1 and 0", i, u, r)
		}
	}
	if idle.lease.Held() {
		t.Error("the idle daemon holds the lease: the test measured the wrong daemon")
	}
}
