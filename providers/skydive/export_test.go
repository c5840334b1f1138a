package skydive_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// cleanLog fails when the analyzer dropped or ignored anything the
// export sent: every message must be one the analyzer applies.
func cleanLog(t *testing.T, a *skydivetest.Analyzer) {
	t.Helper()
	for _, l := range a.Log() {
		for _, bad := range []string{"invalid schema", "not found", "ignored", "revision"} {
			if strings.Contains(l, bad) {
				t.Errorf("the analyzer dropped part of the export: %s", l)
			}
		}
	}
}

func TestExportSyncsThenSendsOnlyChanges(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
		n["p1"], n["p2"] = port("p1", 1), port("p2", 1)
		l[[3]string{"host", "p1", topology.Ownership}] = true
		l[[3]string{"p1", "p2", topology.Layer2}] = true
	})
	r := newExporter(t, "h1", skydive.Options{}, src)
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "persistence: Persistent")), "sky")
	r.waitStatus("sky", "connected", func(s skydive.Status) bool { return s.Connected })
	r.waitHeld(a, nil)
	if pubs := a.Publishers(); len(pubs) != 1 || pubs[0].HostID != "h1" || pubs[0].ClientType != "wirekeeper" || pubs[0].Persistence != "Persistent" {
		t.Errorf("publishers %+v, want h1 wirekeeper Persistent", pubs)
	}
	// An update (revision raised), a new node with its edge, a removal.
	src.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
		n["p1"] = port("p1", 2)
		n["p3"] = port("p3", 1)
		l[[3]string{"host", "p3", topology.Ownership}] = true
		delete(n, "p2")
		delete(l, [3]string{"p1", "p2", topology.Layer2})
	})
	r.waitHeld(a, nil)
	// The count is updated once the last message is written, which may be
	// just after the analyzer applied it.
	st := r.waitStatus("sky", "5 changes counted", func(s skydive.Status) bool { return s.Messages >= 5 })
	if st.Syncs != 1 || st.Messages != 5 {
		t.Errorf("syncs %d messages %d, want 1 Sync then 5 changes (add, update, edge add, edge delete, delete)", st.Syncs, st.Messages)
	}
	cleanLog(t, a)
	// Removing the export removes the node's graph, Persistent or not.
	r.remove("sky")
	waitFor(t, "h1's graph removed with the export", func() bool { n, _ := a.OriginGraph("wirekeeper.h1"); return len(n) == 0 })
}

func TestExportRandomChangesKeepTheAnalyzerEqualToTheLocalGraph(t *testing.T) {
	for _, frag := range []bool{false, true} {
		t.Run(fmt.Sprintf("fragments=%v", frag), func(t *testing.T) { randomChanges(t, frag) })
	}
}

func randomChanges(t *testing.T, fragments bool) {
	a := skydivetest.Start(t, skydivetest.Options{})
	src := newMemSource()
	src.fragments = fragments
	r := newExporter(t, "h1", skydive.Options{}, src)
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "")), "sky")
	rng := rand.New(rand.NewPCG(7, 7))
	names := []string{"host", "a", "b", "c", "d", "e", "f", "g", "obj-h"}
	rels := []string{topology.Ownership, topology.Layer2, topology.Mirroring}
	for round := 0; round < 40; round++ {
		src.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
			for range 1 + rng.IntN(6) {
				name := names[1+rng.IntN(len(names)-1)]
				switch rng.IntN(5) {
				case 0, 1:
					n[name] = port(name, rng.IntN(3)) // add, or update when the revision differs
				case 2:
					delete(n, name) // its edges become dangling and are not sent
				default:
					k := [3]string{names[rng.IntN(len(names))], name, rels[rng.IntN(len(rels))]}
					l[k] = !l[k]
					if !l[k] {
						delete(l, k)
					}
				}
			}
		})
		if round%4 == 0 {
			r.p.ObjectPhase(reconciler.Ref{Kind: "Mirror", Name: "obj-h"}, []reconciler.Phase{"Ready", "Drifted", ""}[rng.IntN(3)])
		}
		if round%5 == 4 {
			r.waitHeld(a, nil)
		}
	}
	r.waitHeld(a, nil)
	cleanLog(t, a)
	if st, _ := r.p.Status("sky"); st.Syncs != 1 {
		t.Errorf("%d Syncs; changes must go as changes", st.Syncs)
	}
}

func TestExportPutsEachObjectsPhaseOnItsNodes(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, _ map[[3]string]bool) { n["obj-m1"] = port("obj-m1", 1) })
	r := newExporter(t, "h1", skydive.Options{}, src)
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "")), "sky")
	phaseOf := func() string {
		nodes, _ := a.OriginGraph("wirekeeper.h1")
		for _, n := range nodes {
			if n.Metadata["Name"] == "obj-m1" {
				wk, _ := n.Metadata["WireKeeper"].(map[string]any)
				p, _ := wk["Phase"].(string)
				return p
			}
		}
		return ""
	}
	for _, want := range []reconciler.Phase{"Ready", "Drifted", "Ready"} {
		r.p.ObjectPhase(reconciler.Ref{Kind: "Mirror", Name: "obj-m1"}, want)
		waitFor(t, "phase "+string(want), func() bool { return phaseOf() == string(want) })
	}
	r.waitHeld(a, nil)
	cleanLog(t, a)
}

func TestExportReconnectsAfterACutAndResyncsAfterAnAnalyzerRestart(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, _ map[[3]string]bool) { n["p1"] = port("p1", 1) })
	r := newExporter(t, "h1", skydive.Options{}, src)
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "persistence: Persistent")), "sky")
	r.waitHeld(a, nil)

	a.Cut()
	// A change while disconnected reaches the analyzer with the reconnect's Sync.
	src.change(func(n map[string]topology.Metadata, _ map[[3]string]bool) { n["p2"] = port("p2", 1) })
	r.waitStatus("sky", "second Sync", func(s skydive.Status) bool { return s.Connected && s.Syncs >= 2 })
	r.waitHeld(a, nil)
	if obs := r.observe("sky"); obs.Degraded != "" {
		t.Errorf("reconnected export is Degraded: %s", obs.Degraded)
	}

	a.Restart() // the analyzer's graph is in memory: a restart loses it
	r.waitStatus("sky", "Sync after restart", func(s skydive.Status) bool { return s.Connected && s.Syncs >= 3 })
	r.waitHeld(a, nil)
	cleanLog(t, a)
}

func TestExportIsDegradedWhileTheAnalyzerIsDown(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	r := newExporter(t, "h1", skydive.Options{}, newMemSource())
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "")), "sky")
	r.waitStatus("sky", "connected", func(s skydive.Status) bool { return s.Connected })
	a.Stop()
	st := r.waitStatus("sky", "disconnected", func(s skydive.Status) bool { return !s.Connected && s.LastError != "" })
	obs := r.observe("sky")
	if !strings.Contains(obs.Degraded, "not connected, retrying") || !strings.Contains(obs.Degraded, a.URL()) {
		t.Errorf("Degraded = %q (last error %q), want it to say it retries and where", obs.Degraded, st.LastError)
	}
}

func TestTwoNodesPublishSideBySide(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	srcA, srcB := newMemSource(), newMemSource()
	for _, s := range []*memSource{srcA, srcB} {
		s.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
			n["p1"] = port("p1", 1)
			l[[3]string{"host", "p1", topology.Ownership}] = true
		})
	}
	ra := newExporter(t, "node-a", skydive.Options{}, srcA)
	rb := newExporter(t, "node-b", skydive.Options{}, srcB)
	set := loadSet(t, exportDoc("sky", a.URL(), "persistence: DeleteOnDisconnect"))
	ra.apply(set, "sky")
	rb.apply(set, "sky")
	ra.waitHeld(a, nil)
	rb.waitHeld(a, nil)
	// One node's changes and resyncs leave the other's view intact.
	srcA.change(func(n map[string]topology.Metadata, _ map[[3]string]bool) { delete(n, "p1"); n["p9"] = port("p9", 1) })
	ra.waitHeld(a, nil)
	a.Cut()
	ra.waitStatus("sky", "a resynced", func(s skydive.Status) bool { return s.Connected && s.Syncs >= 2 })
	rb.waitStatus("sky", "b resynced", func(s skydive.Status) bool { return s.Connected && s.Syncs >= 2 })
	ra.waitHeld(a, nil)
	rb.waitHeld(a, nil)
	// Node a stops (daemon shut down): DeleteOnDisconnect removes a's graph, b's stays.
	ra.p.Close()
	waitFor(t, "a's graph gone", func() bool { n, _ := a.OriginGraph("wirekeeper.node-a"); return len(n) == 0 })
	rb.waitHeld(a, nil)
	cleanLog(t, a)
}

func TestPersistentGraphSurvivesTheDaemonsStop(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, _ map[[3]string]bool) { n["p1"] = port("p1", 1) })
	r := newExporter(t, "h1", skydive.Options{}, src)
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "persistence: Persistent")), "sky")
	r.waitHeld(a, nil)
	r.p.Close()
	waitFor(t, "disconnected", func() bool { return len(a.Publishers()) == 0 })
	if n, _ := a.OriginGraph("wirekeeper.h1"); len(n) != 2 {
		t.Errorf("a Persistent graph left %d nodes after the daemon stopped, want 2", len(n))
	}
}

func TestSameHostIDTwiceIsReportedAs409(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	first := newExporter(t, "h1", skydive.Options{}, newMemSource())
	second := newExporter(t, "h1", skydive.Options{}, newMemSource())
	set := loadSet(t, exportDoc("sky", a.URL(), ""))
	first.apply(set, "sky")
	first.waitStatus("sky", "connected", func(s skydive.Status) bool { return s.Connected })
	second.apply(set, "sky")
	st := second.waitStatus("sky", "refused", func(s skydive.Status) bool { return s.LastError != "" })
	obs := second.observe("sky")
	if !strings.Contains(st.LastError, "409") || !strings.Contains(obs.Degraded, `host ID "h1"`) || !strings.Contains(obs.Degraded, "--node") {
		t.Errorf("Degraded = %q, want the 409 explained", obs.Degraded)
	}
	// Once the first goes away, the second takes over.
	first.p.Close()
	second.waitStatus("sky", "connected after the first left", func(s skydive.Status) bool { return s.Connected })
}

func TestAuthBasicLoginAndRefusal(t *testing.T) {
	const secret = "s3cr3t-Pa55-wk"
	a := skydivetest.Start(t, skydivetest.Options{Users: map[string]string{"wk": secret}})
	t.Setenv("WIREKEEPER_SECRET_SKYDIVE_PW", secret)
	t.Setenv("WIREKEEPER_SECRET_SKYDIVE_BAD", "wrong")
	for _, tc := range []struct{ name, auth string }{
		{"basic", "auth: {username: wk, password: {env: WIREKEEPER_SECRET_SKYDIVE_PW}}"},
		{"login", "auth: {username: wk, password: {env: WIREKEEPER_SECRET_SKYDIVE_PW}, method: login}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newMemSource()
			src.change(func(n map[string]topology.Metadata, _ map[[3]string]bool) { n["p1"] = port("p1", 1) })
			r := newExporter(t, "h-"+tc.name, skydive.Options{}, src)
			r.apply(loadSet(t, exportDoc("sky", a.URL(), tc.auth+", verifyInterval: 1s")), "sky")
			r.waitHeld(a, nil)
			// The read-back uses the same credentials.
			r.waitStatus("sky", "verified", func(s skydive.Status) bool { return s.VerifiedOK })
			if strings.Contains(r.log.String(), secret) {
				t.Error("the password appears in the log")
			}
		})
	}
	for _, tc := range []struct{ name, auth string }{
		{"wrong password", "auth: {username: wk, password: {env: WIREKEEPER_SECRET_SKYDIVE_BAD}}"},
		{"wrong password login", "auth: {username: wk, password: {env: WIREKEEPER_SECRET_SKYDIVE_BAD}, method: login}"},
		{"none", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newExporter(t, "h-refused", skydive.Options{}, newMemSource())
			r.apply(loadSet(t, exportDoc("sky", a.URL(), tc.auth)), "sky")
			r.waitStatus("sky", "refused", func(s skydive.Status) bool { return s.LastError != "" })
			obs := r.observe("sky")
			if !strings.Contains(obs.Degraded, "401") || !strings.Contains(obs.Degraded, "credentials") {
				t.Errorf("Degraded = %q, want the 401 explained", obs.Degraded)
			}
			if strings.Contains(obs.Degraded+r.log.String(), "wrong") {
				t.Error("the password appears in the status or the log")
			}
		})
	}
}

func TestExportOverTLS(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{TLS: true})
	if !strings.HasPrefix(a.URL(), "wss://") {
		t.Fatalf("analyzer URL %s", a.URL())
	}
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, _ map[[3]string]bool) { n["p1"] = port("p1", 1) })
	r := newExporter(t, "h1", skydive.Options{Secrets: secret.New(secret.Options{Dir: filepath.Dir(a.CAFile())})}, src)
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "tls: {caFile: "+filepath.Base(a.CAFile())+"}, verifyInterval: 1s")), "sky")
	r.waitHeld(a, nil)
	r.waitStatus("sky", "verified over https", func(s skydive.Status) bool { return s.VerifiedOK })
	// Without the CA the certificate is refused.
	other := newExporter(t, "h2", skydive.Options{}, newMemSource())
	other.apply(loadSet(t, exportDoc("sky", a.URL(), "")), "sky")
	st := other.waitStatus("sky", "refused", func(s skydive.Status) bool { return s.LastError != "" })
	if !strings.Contains(st.LastError, "certificate") {
		t.Errorf("without the CA: %q, want a certificate error", st.LastError)
	}
}

// The analyzer drops a publisher that has not answered a ping for
// PongTimeout. The timeout is long enough that a loaded machine does not
// starve the export's reader that long (100ms did, under -race); the
// pings come often, so that twenty or more are answered before the test
// has waited two timeouts, or seen the connection end.
func TestExportAnswersPingsAndSurvivesThePongTimeout(t *testing.T) {
	const pongTimeout = time.Second
	a := skydivetest.Start(t, skydivetest.Options{PingInterval: 50 * time.Millisecond, PongTimeout: pongTimeout})
	r := newExporter(t, "h1", skydive.Options{}, newMemSource())
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "")), "sky")
	r.waitStatus("sky", "connected", func(s skydive.Status) bool { return s.Connected })
	pubs := a.Publishers()
	if len(pubs) != 1 {
		t.Fatalf("publishers %+v, want the export's connection", pubs)
	}
	first := pubs[0]
	waitFor(t, "two pong timeouts, or the connection ended", func() bool {
		pubs := a.Publishers()
		return len(pubs) != 1 || pubs[0].RemoteAddr != first.RemoteAddr || time.Since(first.ConnectedAt) > 2*pongTimeout
	})
	if st, _ := r.p.Status("sky"); !st.Connected || st.Syncs != 1 {
		t.Errorf("status %+v, want the first connection still up", st)
	}
	for _, l := range a.Log() {
		if strings.Contains(l, "ping timeout") {
			t.Errorf("analyzer: %s", l)
		}
	}
}

func TestReadBackFindsWhatTheAnalyzerLostAndAnUpdateResyncs(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
		n["p1"], n["p2"] = port("p1", 1), port("p2", 1)
		l[[3]string{"host", "p1", topology.Ownership}] = true
	})
	r := newExporter(t, "h1", skydive.Options{}, src)
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "verifyInterval: 1h")), "sky")
	r.waitHeld(a, nil)
	r.p.Verify("sky")
	r.waitStatus("sky", "verified", func(s skydive.Status) bool { return s.VerifiedOK })
	if obs := r.observe("sky"); len(obs.Extra) != 0 {
		t.Fatalf("in sync, yet Extra %v", obs.Extra)
	}
	// Somebody deletes a node in the analyzer (REST), behind the export's back.
	nodes, _ := a.OriginGraph("wirekeeper.h1")
	var victim string
	for _, n := range nodes {
		if n.Metadata["Name"] == "p1" {
			victim = n.ID
		}
	}
	deleteNode(t, a, victim)
	r.p.Verify("sky")
	r.waitStatus("sky", "mismatch", func(s skydive.Status) bool { return s.Verified != "" && !s.VerifiedOK })
	obs := r.observe("sky")
	if len(obs.Extra) != 1 || obs.Extra[0].Path != "analyzer.graph" || !strings.Contains(obs.Extra[0].From.(string), "1 missing") {
		t.Fatalf("Extra = %+v, want analyzer.graph with the missing node", obs.Extra)
	}
	// Policy enforce: the engine applies an update, which sends the graph again.
	r.apply(r.set, "sky")
	r.waitHeld(a, nil)
	if obs := r.observe("sky"); len(obs.Extra) != 0 {
		t.Errorf("after the resync, Extra %v", obs.Extra)
	}
	if st, _ := r.p.Status("sky"); st.Syncs != 2 {
		t.Errorf("%d Syncs, want 2", st.Syncs)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
