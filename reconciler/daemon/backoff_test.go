package daemon_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
)

// TestDaemonBacksOffFromAStalledRemote: a fetch from a remote that stalls
// ends at FetchTimeout as Unreachable, and polls then come 2x, then 4x the
// interval apart (the gaps are checked from below only, which a loaded
// machine cannot break); once the remote answers, the daemon recovers.
func TestDaemonBacksOffFromAStalledRemote(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	r := newRig(t)
	r.work.commit("add specs", map[string]string{"specs/ovs.yaml": specs})
	proxy := testenv.NewProxy(t, strings.TrimSuffix(strings.TrimPrefix(testenv.GitURL(t), "git://"), "/"))
	proxied := "git://" + proxy.Addr() + "/" + strings.TrimPrefix(r.remote, testenv.GitURL(t))

	type fetched struct {
		result     string
		start, end time.Time
	}
	var mu sync.Mutex
	var fetches []fetched
	unreachable := func() []fetched {
		mu.Lock()
		defer mu.Unlock()
		var out []fetched
		for _, f := range fetches {
			if f.result == "unreachable" {
				out = append(out, f)
			}
		}
		return out
	}
	r.configure = func(o *daemon.Options) {
		src, err := source.New(source.Options{URL: proxied, Branch: "main", Path: "specs", CacheDir: filepath.Join(t.TempDir(), "src")})
		if err != nil {
			t.Fatal(err)
		}
		o.Source, o.Interval, o.FetchTimeout = src, interval, timeout
		o.Observer.Fetched = func(result string, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			now := time.Now()
			fetches = append(fetches, fetched{result: result, start: now.Add(-d), end: now})
		}
	}
	r.start()
	r.waitFor("the first revision applied", func() bool { return r.provider.Len() == 3 })

	proxy.Stall()
	r.waitFor("4 fetches failing as Unreachable", func() bool { return len(unreachable()) >= 4 })
	if s := r.engine.Status().Source; s == nil || s.Reason != "Unreachable" {
		t.Errorf("source problem = %+v, want Unreachable", s)
	}
	failed := unreachable()
	for i, want := range []time.Duration{2 * interval, 4 * interval, 4 * interval} {
		gap := failed[i+1].start.Sub(failed[i].end)
		t.Logf("after %d failure(s): next poll %v later", i+1, gap.Round(time.Millisecond))
		if min := want * 9 / 10; gap < min {
			t.Errorf("after %d failure(s) the next poll came %v later, want at least %v (%v, jittered)", i+1, gap, min, want)
		}
	}

	proxy.Resume()
	next := r.work.commit("more specs", map[string]string{"specs/ovs.yaml": strings.Replace(specs, "port: tap0", "port: tap1", 1)})
	r.waitRemote("the recovery", func(ns *reconciler.NodeStatus) bool { return ns.Source == nil && ns.AppliedRevision == next })
}
